"""Sign-in primitives for the hosted dashboard: password hashes, user checks, failure limiter.

Pure Python plus werkzeug; the web side (login page, sessions, route guard, sign-in limits)
is :mod:`services.web.security`, the state shared between workers :mod:`services.auth.shared`.

* Users come from ``DASHBOARD_USERS`` (``name:hash`` pairs, see :func:`services.settings.parse_users`).
  Hashes are werkzeug's ``scrypt:…$salt$hex`` (or ``pbkdf2:…``) strings made by
  ``python -m services.auth hash``; plain passwords are never stored or configured.
* :func:`verify_user` does the same amount of work for an unknown user as for a wrong password
  (it checks against a dummy hash), so response times do not reveal which names exist.
* :class:`BoundedChecker` runs at most :data:`HASH_SLOTS` password checks at a time per
  process, so a flood of sign-in attempts cannot take every thread and core.

CLI::

    python -m services.auth hash            # asks twice for the password (hidden input)
    python -m services.auth hash alice      # prints alice:<hash>, ready for DASHBOARD_USERS
    printf '%s\\n' "$PW" | python -m services.auth hash alice   # reads one line from stdin
"""

from __future__ import annotations

import argparse
import functools
import getpass
import hmac
import secrets
import sys
import threading

from werkzeug.security import check_password_hash, generate_password_hash

from services.settings import Settings, looks_like_password_hash

MIN_PASSWORD_LENGTH = 10
MIN_SECRET_LENGTH = 16
HASH_SLOTS = 1
"""Password checks running at once per worker process (see :class:`BoundedChecker`)."""
HASH_WAIT = 2.0
"""Seconds a sign-in waits for a free password-check slot before answering 503."""


def hash_password(password: str) -> str:
    """A werkzeug password hash (scrypt, random salt) suitable for ``DASHBOARD_USERS``."""
    if not password:
        raise ValueError("the password must not be empty")
    return generate_password_hash(password)


def looks_like_hash(value: str) -> bool:
    """Whether ``value`` has werkzeug's ``method$salt$hash`` shape with a supported method."""
    return looks_like_password_hash(value)


@functools.lru_cache(maxsize=8)
def _dummy_hash(method: str) -> str:
    """A hash of a random password made with ``method``, checked for unknown users."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def _method_of(stored_hash: str) -> str:
    method = stored_hash.partition("$")[0]
    return method if looks_like_hash(stored_hash) else "scrypt"


def check_password(stored_hash: str, password: str) -> bool:
    """``password`` matches ``stored_hash``; a malformed hash never matches (and never raises)."""
    try:
        return check_password_hash(stored_hash, password)
    except (ValueError, TypeError):
        return False


def verify_user(users: dict[str, str], name: str, password: str) -> bool:
    """Whether ``name``/``password`` is a valid sign-in; as slow for unknown names as known ones."""
    stored = users.get(name)
    if stored is None:
        # same work as a real check: the dummy uses the method (cost) of a configured hash
        model = next(iter(users.values()), "")
        check_password(_dummy_hash(_method_of(model)), password)
        return False
    return check_password(stored, password)


def password_fingerprint(stored_hash: str, secret: str) -> str:
    """A short keyed digest of a user's hash, kept in the session cookie.

    When the user's hash changes (new password) or the user is removed, existing sessions stop
    matching and are signed out.
    """
    return hmac.new(secret.encode(), stored_hash.encode(), "sha256").hexdigest()[:16]


def hosted_problems(settings: Settings) -> list[str]:
    """Reasons the hosted app must not start with ``settings`` (empty when it may)."""
    problems = []
    if settings.production and not settings.secret_key:
        problems.append(
            "SECRET_KEY is required in production (a long random string shared by all "
            'workers), e.g. python -c "import secrets; print(secrets.token_hex(32))"'
        )
    elif settings.production and len(settings.secret_key) < MIN_SECRET_LENGTH:
        problems.append(f"SECRET_KEY is too short (use at least {MIN_SECRET_LENGTH} characters)")
    if not settings.auth_disabled and not settings.dashboard_users:
        problems.append(
            "sign-in is on but DASHBOARD_USERS is empty: add name:hash entries "
            "(python -m services.auth hash NAME), or set AUTH_DISABLED=true to run without sign-in"
        )
    return problems


class BoundedChecker:
    """Runs password checks at most ``slots`` at a time in this process.

    A scrypt check costs about 0.2 s of CPU. Without a bound, a flood of sign-in posts takes
    every gunicorn thread and CPU core, and signed-in users' dashboard requests wait behind
    it. With one slot per worker, at most one thread per worker hashes; a request that finds
    the slot taken for longer than ``wait`` seconds is told to try again (503) instead of
    queueing and holding a thread.
    """

    def __init__(self, slots: int = HASH_SLOTS, wait: float = HASH_WAIT):
        self.slots = threading.BoundedSemaphore(slots)
        self.wait = wait

    def verify(self, users: dict[str, str], name: str, password: str) -> bool | None:
        """:func:`verify_user` within a slot; None when no slot became free in time."""
        if not self.slots.acquire(timeout=self.wait):
            return None
        try:
            return verify_user(users, name, password)
        finally:
            self.slots.release()


# -- CLI ------------------------------------------------------------------------------------------


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Repeat password: ")
        if first != second:
            raise ValueError("the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m services.auth hash [NAME]``: print a hash (or ``NAME:hash``) for DASHBOARD_USERS."""
    parser = argparse.ArgumentParser(
        prog="python -m services.auth",
        description="Make password hashes for DASHBOARD_USERS.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("hash", help="read a password (hidden prompt or stdin), print its hash")
    cmd.add_argument("name", nargs="?", help="print NAME:hash instead of only the hash")
    args = parser.parse_args(argv)
    if args.name is not None and (
        not args.name or any(c in args.name for c in ":, \t\n") or len(args.name) > 64
    ):
        print("the user name must be 1-64 characters without ':', ',' or spaces", file=sys.stderr)
        return 2
    try:
        password = _read_password()
    except (ValueError, EOFError, KeyboardInterrupt) as exc:
        print(f"no hash made: {exc or 'cancelled'}", file=sys.stderr)
        return 2
    if len(password) < MIN_PASSWORD_LENGTH:
        print(f"no hash made: use at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
        return 2
    hashed = hash_password(password)
    print(f"{args.name}:{hashed}" if args.name else hashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
