"""Real PostgreSQL, Redis, Celery worker and gunicorn processes for the hosted tests.

Connection URLs come from the environment (defaults: the servers of the development machines):

* ``TEST_DATABASE_URL`` — an admin connection; each test module creates its own database
  ``ocs_test_<random>`` on that server and drops it afterwards.
* ``TEST_REDIS_URL`` — each test uses its own key prefix (``REDIS_KEY_PREFIX``), so runs and
  tests never see each other's locks, status or queues.

When a server does not answer, the tests are skipped with the reason (a fresh machine's test
script starts them first).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.hosted_support import (
    ROOT,
    SECRET,
    Server,
    clean_env,
    free_port,
    procfile_command,
)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
VENV_BIN = Path(sys.executable).parent


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (same server, user and options)."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def database_url():
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(TEST_DATABASE_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at TEST_DATABASE_URL is not reachable: {exc}")
    name = f"ocs_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(TEST_DATABASE_URL, name)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(scope="module")
def redis_url():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at TEST_REDIS_URL is not reachable: {exc}")
    return TEST_REDIS_URL


@pytest.fixture
def key_prefix(redis_url):
    prefix = f"ocs-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def hosted_env(data_dir: Path, database_url: str, redis_url: str, prefix: str, **extra) -> dict:
    return clean_env(
        DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=prefix,
        SECRET_KEY=SECRET,
        AUTH_DISABLED="true",
        APP_ENV="development",
        LOG_LEVEL="INFO",
        **extra,
    )


class Worker:
    """The Procfile's ``worker`` command under ``bash -c``, in its own process group."""

    def __init__(self, env: dict):
        self.server = Server(["bash", "-c", procfile_command("worker")], env, base="")

    def wait_ready(self, timeout: float = 60) -> None:
        if not self.server.wait_for_output("ready.", timeout=timeout):
            raise TimeoutError(f"worker not ready:\n{self.server.output[-3000:]}")

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.process.pid, signal.SIGKILL)
        self.server.process.wait(timeout=10)

    def stop(self) -> None:
        self.server.stop()


def start_gunicorn(env: dict) -> Server:
    port = free_port()
    env = dict(env, PORT=str(port), WEB_CONCURRENCY="1")
    server = Server(
        [str(VENV_BIN / "gunicorn"), "wsgi:server", "--threads", "4", "--no-control-socket"],
        env,
        f"http://127.0.0.1:{port}",
    )
    server.wait_healthy(timeout=90)
    return server


def health(server: Server) -> dict:
    return requests.get(server.base + "/health", timeout=10).json()


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class DashClient:
    """Fire a Dash callback over HTTP as the browser does (signed ``endId`` of a page load)."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()
        page = self.session.get(base + "/", timeout=30)
        page.raise_for_status()
        config = re.search(
            r'<script id="_dash-config" type="application/json">(.*?)</script>', page.text, re.S
        )
        assert config, "no Dash config in the page"
        self.end_id = json.loads(config.group(1))["end_id"]

    def post(self, body: dict, **params) -> requests.Response:
        return self.session.post(
            self.base + "/_dash-update-component",
            params={"endId": self.end_id, **params},
            json=body,
            timeout=30,
        )

    def refresh(self, timeout: float = 60) -> dict:
        """Click Refresh; poll the background job to its result (the ``sync-result`` data)."""
        stamp = int(time.time() * 1000)
        body = {
            "output": "sync-result.data",
            "outputs": {"id": "sync-result", "property": "data"},
            "inputs": [{"id": "refresh-button", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["refresh-button.n_clicks"],
            "state": [{"id": "refresh-button", "property": "n_clicks_timestamp", "value": stamp}],
        }
        first = self.post(body)
        assert first.status_code == 200, first.text[:500]
        handles = first.json()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            poll = self.post(
                dict(body, inputs=[dict(body["inputs"][0], value=None)]),
                cacheKey=handles["cacheKey"],
                job=handles["job"],
            )
            if poll.status_code == 200 and poll.content:
                data = poll.json()
                if "response" in data:
                    return data["response"]["sync-result"]["data"]
            time.sleep(0.3)
        raise TimeoutError("refresh callback did not finish")


def run_cli_sync(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.sync"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
