"""services.auth: password hashes, the constant-work check for unknown users, bounded checks, the
state shared between workers (limit counters, used form tokens, sessions), the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.auth import users as auth
from services.auth.shared import (
    DiskcacheLimitStorage,
    DiskSessionCache,
    OnceTokens,
    limits_storage_uri,
    redis_client,
)
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


def test_bounded_checker_runs_one_check_at_a_time(monkeypatch):
    checker = auth.BoundedChecker(slots=1, wait=0.01)
    inside, release = threading.Event(), threading.Event()

    def blocking(users, name, password):
        inside.set()
        release.wait(10)
        return True

    monkeypatch.setattr(auth, "verify_user", blocking)
    results = []
    holder = threading.Thread(target=lambda: results.append(checker.verify({}, "a", "b")))
    holder.start()
    assert inside.wait(10)
    assert checker.verify({}, "a", "b") is None  # the slot is taken: "busy", at once
    release.set()
    holder.join(10)
    assert results == [True]
    assert checker.verify({}, "a", "b") is True  # the slot is free again


_INCREMENT = """
import sys
from limits.storage import storage_from_string
import services.auth.shared  # registers diskcache://
storage = storage_from_string("diskcache://" + sys.argv[1])
for _ in range(int(sys.argv[2])):
    storage.incr("k", 60)
"""


def test_limit_counter_is_atomic_across_processes(tmp_path):
    """Four processes increment one counter 60 times each: no increment is lost."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _INCREMENT, str(tmp_path), "60"], cwd=ROOT, env=clean_env()
        )
        for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    storage = DiskcacheLimitStorage("diskcache://" + str(tmp_path))
    assert storage.get("k") == 240
    assert 0 < storage.get_expiry("k") - time.time() <= 60


def test_limit_counter_window_expires(tmp_path):
    storage = DiskcacheLimitStorage("diskcache://" + str(tmp_path))
    now = [1_000_000.0]
    storage.clock = lambda: now[0]
    assert storage.incr("k", 10) == 1 and storage.incr("k", 10) == 2
    assert storage.get_expiry("k") == now[0] + 10
    now[0] += 10.5
    assert storage.get("k") == 0 and storage.incr("k", 10) == 1
    storage.clear("k")
    assert storage.get("k") == 0 and storage.check()


def test_flask_limiter_uses_the_diskcache_storage(tmp_path):
    from flask import Flask
    from flask_limiter import Limiter

    app = Flask("limits")
    limiter = Limiter(key_func=lambda: "k", app=app, storage_uri=limits_storage_uri("", tmp_path))
    app.add_url_rule("/", "x", limiter.limit("2 per minute")(lambda: "ok"))
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 429]
    other = Limiter(
        key_func=lambda: "k", app=Flask("b"), storage_uri=limits_storage_uri("", tmp_path)
    )
    # another worker sees all three hits (a refused hit counts too)
    assert other.storage.get(next(iter(other.storage.cache.iterkeys()))) == 3


def test_limits_storage_uri_prefers_redis():
    assert limits_storage_uri("redis://h:6379/0", Path("/x")) == "redis://h:6379/0"
    assert (
        limits_storage_uri("unix:///run/redis.sock", Path("/x")) == "redis+unix:///run/redis.sock"
    )
    assert limits_storage_uri("", Path("/x")) == "diskcache:///x"


def test_form_token_ids_are_used_once_across_processes(tmp_path):
    tokens = OnceTokens(tmp_path)
    assert tokens.use("abc", 60) is True
    assert tokens.use("abc", 60) is False
    script = (
        "import sys; from services.auth.shared import OnceTokens as T;"
        "print(T(sys.argv[1]).use('abc', 60), T(sys.argv[1]).use('xyz', 60))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["False", "True"]


def test_session_cache_keeps_entries_for_their_timeout(tmp_path):
    cache = DiskSessionCache(tmp_path)
    assert cache.set("s", {"user": "alice"}, timeout=60)
    assert DiskSessionCache(tmp_path).get("s") == {"user": "alice"}  # another worker
    assert cache.has("s") and cache.delete("s") and cache.get("s") is None
    cache.set("t", {"x": 1}, timeout=0)  # cachelib: 0 = no expiry
    assert cache.get("t") == {"x": 1}


def _redis_available() -> bool:
    try:
        return bool(redis_client(Settings(redis_url=REDIS_TEST_URL)).ping())
    except Exception:
        return False


REDIS_TEST_URL = "redis://127.0.0.1:6379/13"


def test_sign_in_redis_client_honours_the_shared_tls_settings(tmp_path):
    """Sessions and form tokens use the same TLS settings as every other Redis user (Heroku's
    Key-Value Store has a self-signed certificate: REDIS_TLS_VERIFY=false or REDIS_CA_CERT)."""
    unchecked = redis_client(
        Settings(data_dir=tmp_path, redis_url="rediss://127.0.0.1:1/0", redis_tls_verify=False)
    )
    assert unchecked.connection_pool.connection_kwargs["ssl_cert_reqs"] == "none"
    checked = redis_client(Settings(data_dir=tmp_path, redis_url="rediss://127.0.0.1:1/1"))
    assert checked.connection_pool.connection_kwargs["ssl_cert_reqs"] == "required"


@pytest.mark.skipif(not _redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_form_tokens_and_limits_in_redis():
    token = f"t-{time.time_ns()}"
    assert (
        OnceTokens(Path("/nonexistent"), Settings(redis_url=REDIS_TEST_URL)).use(token, 60) is True
    )
    assert (
        OnceTokens(Path("/nonexistent"), Settings(redis_url=REDIS_TEST_URL)).use(token, 60) is False
    )
    from limits.storage import storage_from_string

    storage = storage_from_string(limits_storage_uri(REDIS_TEST_URL, Path("/x")))
    key = f"k-{time.time_ns()}"
    assert storage.incr(key, 60) == 1 and storage.incr(key, 60) == 2
    storage.clear(key)


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
