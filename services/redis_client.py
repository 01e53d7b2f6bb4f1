"""One Redis connection set-up for everything that uses ``REDIS_URL`` (sync lock/status, Celery).

``rediss://`` (TLS) URLs verify the server certificate by default. Heroku Key-Value Store uses a
self-signed certificate, so verification fails there unless one of two documented settings says
what to trust:

* ``REDIS_CA_CERT`` — the CA (PEM text or a file path) the certificate must chain to; or
* ``REDIS_TLS_VERIFY=false`` — accept the certificate unchecked (encrypted, but not
  authenticated). This is logged as a warning at every start; it is never switched on silently.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from pathlib import Path

log = logging.getLogger(__name__)
SOCKET_TIMEOUT = 5.0

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached or refused us; ``str(err)`` is one line for the user."""


def describe(exc: BaseException) -> str:
    """One line about a Redis error, without the URL (it may hold a password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "certificate verify failed" in text or isinstance(exc, ssl.SSLCertVerificationError):
        return (
            "the Redis server's TLS certificate is not trusted — set REDIS_CA_CERT to its CA "
            "certificate, or REDIS_TLS_VERIFY=false to accept it unchecked (Heroku Key-Value "
            "Store uses a self-signed certificate)"
        )
    for word in text.split():
        if "://" in word:
            text = text.replace(word, "<url>")
    return text[:300]


def ca_file(settings) -> str | None:
    """A file path holding ``REDIS_CA_CERT`` (written under DATA_DIR when given as PEM text)."""
    value = settings.redis_ca_cert
    if not value:
        return None
    if "-----BEGIN" not in value:
        return value
    path = Path(settings.data_dir) / "redis-ca.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != value:
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(value)
        os.replace(tmp, path)
    return str(path)


def tls_options(settings) -> dict:
    """redis-py / Celery (``broker_use_ssl``) keyword arguments for a ``rediss://`` URL."""
    if not settings.redis_url.startswith("rediss://"):
        return {}
    if not settings.redis_tls_verify:
        # once per client set-up (a few per process): never silent
        log.warning(
            "REDIS_TLS_VERIFY=false: the Redis server certificate is NOT checked "
            "(traffic is encrypted but the server is not authenticated)"
        )
        return {"ssl_cert_reqs": ssl.CERT_NONE}
    options: dict = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    ca = ca_file(settings)
    if ca:
        options["ssl_ca_certs"] = ca
    return options


def redis_py_options(settings) -> dict:
    """:func:`tls_options` spelled the way redis-py's URL clients (and ``limits``) take them."""
    options = tls_options(settings)
    if "ssl_cert_reqs" in options:
        reqs = options["ssl_cert_reqs"]
        options["ssl_cert_reqs"] = "none" if reqs == ssl.CERT_NONE else "required"
        # a self-signed cert has no hostname the client could check against
        options["ssl_check_hostname"] = reqs != ssl.CERT_NONE
    return options


def client(settings, decode: bool = True):
    """A redis-py client for ``settings.redis_url`` (one per process; redis-py pools inside).

    Every user of Redis (sync lock and status, Celery, sessions, sign-in limits, form tokens)
    goes through here, so ``REDIS_TLS_VERIFY`` / ``REDIS_CA_CERT`` apply to all of them.
    ``decode=False`` returns bytes (Flask-Session stores serialised sessions).
    """
    import redis

    key = (
        os.getpid(),
        settings.redis_url,
        settings.redis_tls_verify,
        settings.redis_ca_cert,
        decode,
    )
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                health_check_interval=30,
                decode_responses=decode,
                **redis_py_options(settings),
            )
            _clients[key] = found
        return found


def ping(settings) -> None:
    """Raise :class:`RedisUnavailable` unless Redis answers."""
    import redis

    try:
        client(settings).ping()
    except (redis.RedisError, OSError) as exc:
        raise RedisUnavailable(f"Redis is unreachable ({describe(exc)})") from exc
