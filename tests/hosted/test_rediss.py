"""``rediss://`` against a real TLS Redis with a self-signed CA (as Heroku Key-Value Store).

A ``redis-server`` with TLS only, its certificate issued by a throw-away CA (trustme). Every
Redis user goes through one client factory (``services.redis_client``): the sync lock and
status, server-side sessions, the sign-in limiter (``limits``), the alert state and the Celery
worker. With ``REDIS_CA_CERT`` they all connect; without it the failure is one line naming both
settings; ``REDIS_TLS_VERIFY=false`` connects and says so in the log.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest

from services import redis_client as rc
from services.alerts.state import RedisAlertState
from services.settings import load_settings
from tests.hosted.conftest import Worker, hosted_env, wait_until
from tests.support.hosted_support import free_port

pytestmark = pytest.mark.hosted


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    redis = pytest.importorskip("redis")
    server_bin = shutil.which("redis-server")
    if server_bin is None:
        pytest.skip("redis-server is not installed (the test command installs it)")
    folder = tmp_path_factory.mktemp("tls-redis")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    port = free_port()
    proc = subprocess.Popen(
        [
            server_bin,
            "--port", "0",
            "--tls-port", str(port),
            "--tls-cert-file", str(folder / "cert.pem"),
            "--tls-key-file", str(folder / "key.pem"),
            "--tls-ca-cert-file", str(folder / "ca.pem"),
            "--tls-auth-clients", "no",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0"

    def answers():
        try:
            client = redis.Redis.from_url(url, ssl_ca_certs=str(folder / "ca.pem"))
            return client.ping()
        except redis.RedisError:
            return False

    try:
        wait_until(answers, 20, "the TLS redis-server")
        yield {"url": url, "ca_pem": (folder / "ca.pem").read_text(), "ca_path": folder / "ca.pem"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def settings_for(tmp_path, url, **env):
    return load_settings(
        env={"DATA_DIR": str(tmp_path), "REDIS_URL": url, "REDIS_KEY_PREFIX": "tls:", **env},
        dotenv=False,
    )


def test_every_redis_user_connects_with_the_ca_given_as_pem_text(tmp_path, tls_redis):
    from limits.storage import storage_from_string

    from services.auth.shared import limits_storage_uri, redis_client
    from services.sync.shared import RedisCoordination

    settings = settings_for(tmp_path, tls_redis["url"], REDIS_CA_CERT=tls_redis["ca_pem"])
    rc.ping(settings)
    coordination = RedisCoordination(settings)
    handle = coordination.acquire(already_running=RuntimeError)
    assert coordination.is_running()
    handle.release()
    assert not coordination.is_running()
    sessions = redis_client(settings)  # Flask-Session's client (bytes)
    sessions.set("tls:session:x", b"1", ex=60)
    assert sessions.get("tls:session:x") == b"1"
    limiter = storage_from_string(
        limits_storage_uri(settings.redis_url, tmp_path), **rc.redis_py_options(settings)
    )
    assert limiter.check()
    with RedisAlertState(settings) as state:
        state.record([{"rule": "tls"}])
        assert state.history(1) == [{"rule": "tls"}]


def test_without_the_ca_the_failure_is_one_line_naming_both_settings(tmp_path, tls_redis):
    settings = settings_for(tmp_path, tls_redis["url"])
    with pytest.raises(rc.RedisUnavailable) as err:
        rc.ping(settings)
    text = str(err.value)
    assert "REDIS_CA_CERT" in text and "REDIS_TLS_VERIFY=false" in text
    assert "\n" not in text and "rediss://" not in text


def test_turning_verification_off_connects_and_is_logged(tmp_path, tls_redis, caplog):
    with caplog.at_level(logging.WARNING):
        settings = settings_for(tmp_path, tls_redis["url"], REDIS_TLS_VERIFY="false")
        rc.ping(settings)
    assert any("NOT checked" in r.getMessage() for r in caplog.records)


def test_the_celery_worker_runs_tasks_over_rediss(tmp_path, tls_redis, database_url):
    """The Procfile's worker (broker and result backend on rediss://) runs an enqueued task."""
    from services.worker.app import ALERTS_TASK, make_celery

    env = hosted_env(
        tmp_path / "worker",
        database_url,
        tls_redis["url"],
        "tls-worker:",
        REDIS_CA_CERT=str(tls_redis["ca_path"]),
    )
    worker = Worker(env)
    try:
        worker.wait_ready(timeout=90)
        settings = settings_for(
            tmp_path / "web",
            tls_redis["url"],
            REDIS_KEY_PREFIX="tls-worker:",
            REDIS_CA_CERT=str(tls_redis["ca_path"]),
            DATABASE_URL=database_url,
        )
        result = make_celery(settings).send_task(ALERTS_TASK).get(timeout=60)
        assert result["state"] == "ok", result
    finally:
        worker.stop()
