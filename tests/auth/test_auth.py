"""services.auth.users: password hashes, the constant-work check for unknown users, the limiter, the CLI."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from services.auth import users as auth
from services.settings import Settings
from tests.support.hosted_support import ROOT, clean_env


def test_hash_and_check_round_trip():
    hashed = auth.hash_password("a long enough password")
    assert hashed.startswith("scrypt:") and auth.looks_like_hash(hashed)
    assert auth.check_password(hashed, "a long enough password")
    assert not auth.check_password(hashed, "a long enough passwor")
    assert auth.hash_password("same") != auth.hash_password("same")  # salted


@pytest.mark.parametrize("bad", ["", "plain", "md5$x$abc", "scrypt$$abc", "scrypt:1$salt$XYZ"])
def test_malformed_hashes_never_match_and_never_raise(bad):
    assert not auth.looks_like_hash(bad)
    assert auth.check_password(bad, "plain") is False


def test_empty_password_cannot_be_hashed():
    with pytest.raises(ValueError):
        auth.hash_password("")


def test_unknown_user_is_checked_against_a_dummy_hash(monkeypatch):
    users = {"alice": auth.hash_password("secret password")}
    checked = []
    real = auth.check_password
    monkeypatch.setattr(auth, "check_password", lambda h, p: checked.append(h) or real(h, p))
    assert auth.verify_user(users, "alice", "secret password")
    assert not auth.verify_user(users, "alice", "wrong")
    assert not auth.verify_user(users, "mallory", "secret password")
    assert len(checked) == 3  # one full hash check per attempt, known or not
    dummy = checked[2]
    assert dummy != users["alice"]
    assert dummy.partition("$")[0] == users["alice"].partition("$")[0]  # same method and cost


def test_unknown_user_takes_about_as_long_as_a_wrong_password():
    users = {"alice": auth.hash_password("secret password")}
    auth.verify_user(users, "nobody", "warm-up")  # builds the dummy hash once

    def timed(name: str) -> float:
        start = time.perf_counter()
        for _ in range(3):
            auth.verify_user(users, name, "wrong password")
        return time.perf_counter() - start

    known, unknown = timed("alice"), timed("nobody")
    assert 0.5 < unknown / known < 2.0


def test_password_fingerprint_changes_with_hash_and_secret():
    a = auth.password_fingerprint("hash-1", "secret")
    assert a == auth.password_fingerprint("hash-1", "secret")
    assert a != auth.password_fingerprint("hash-2", "secret")
    assert a != auth.password_fingerprint("hash-1", "other secret")


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_slows_down_after_free_attempts(tmp_path):
    clock = Clock()
    limiter = auth.FailureLimiter(tmp_path, clock=clock)
    for _ in range(auth.FREE_ATTEMPTS - 1):
        limiter.record_failure("alice", "1.2.3.4")
        assert limiter.retry_after("alice", "1.2.3.4") == 0
    limiter.record_failure("alice", "1.2.3.4")
    assert limiter.retry_after("alice", "1.2.3.4") == auth.BASE_DELAY
    limiter.record_failure("alice", "1.2.3.4")
    assert limiter.retry_after("alice", "1.2.3.4") == 2 * auth.BASE_DELAY
    # other IPs and other users are not slowed down
    assert limiter.retry_after("alice", "5.6.7.8") == 0
    assert limiter.retry_after("bob", "1.2.3.4") == 0
    # the wait runs out
    clock.now += 2 * auth.BASE_DELAY
    assert limiter.retry_after("alice", "1.2.3.4") == 0
    # success clears the record
    limiter.reset("alice", "1.2.3.4")
    limiter.record_failure("alice", "1.2.3.4")
    assert limiter.retry_after("alice", "1.2.3.4") == 0


def test_limiter_delay_is_capped():
    assert auth.FailureLimiter.delay_for(auth.FREE_ATTEMPTS + 50) == auth.MAX_DELAY


def test_limiter_is_shared_between_processes_on_the_same_directory(tmp_path):
    """Two limiter objects on one directory (as in two gunicorn workers) see the same counts."""
    first, second = auth.FailureLimiter(tmp_path), auth.FailureLimiter(tmp_path)
    for _ in range(auth.FREE_ATTEMPTS):
        first.record_failure("Alice ", "9.9.9.9")
    assert second.retry_after("alice", "9.9.9.9") > 0  # names compared case-insensitively
    script = (
        "import sys; from services.auth.users import FailureLimiter as F;"
        "print(F(sys.argv[1]).retry_after('alice', '9.9.9.9') > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_hosted_problems():
    users = {"alice": auth.hash_password("secret password")}
    assert auth.hosted_problems(Settings(dashboard_users=users)) == []
    assert auth.hosted_problems(Settings(auth_disabled=True)) == []
    prod = Settings(production=True, dashboard_users=users)
    assert "SECRET_KEY is required" in auth.hosted_problems(prod)[0]
    short = Settings(production=True, secret_key="abc", dashboard_users=users)
    assert "too short" in auth.hosted_problems(short)[0]
    nobody = Settings(production=True, secret_key="x" * 32)
    assert "DASHBOARD_USERS is empty" in auth.hosted_problems(nobody)[0]


def _cli(*args: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.auth.users", *args],
        cwd=ROOT,
        env=clean_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_hash_reads_stdin_and_prints_an_entry():
    result = _cli("hash", "alice", stdin="a long enough password\n")
    assert result.returncode == 0, result.stderr
    name, _, hashed = result.stdout.strip().partition(":")
    assert name == "alice" and auth.check_password(hashed, "a long enough password")
    from services.settings import load_settings

    settings = load_settings({"DASHBOARD_USERS": result.stdout.strip()}, dotenv=False)
    assert auth.verify_user(settings.dashboard_users, "alice", "a long enough password")


def test_cli_hash_without_name_prints_only_the_hash():
    result = _cli("hash", stdin="a long enough password\n")
    assert result.returncode == 0 and auth.looks_like_hash(result.stdout.strip())


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("hash",), "short\n", "at least"),
        (("hash", "a:b"), "a long enough password\n", "user name"),
    ],
)
def test_cli_refuses_bad_input(args, stdin, message):
    result = _cli(*args, stdin=stdin)
    assert result.returncode == 2 and message in result.stderr and result.stdout == ""
