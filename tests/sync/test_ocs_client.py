"""OCS API client against the fake OCS server (real sockets on 127.0.0.1, no real waiting)."""

from __future__ import annotations

import base64

import pytest
import requests

from services.sync.client import (
    AuthError,
    BadAnswer,
    ClientPolicy,
    ConnectionFailed,
    OCSClient,
    RateBudget,
    RateLimited,
    ServerError,
    key_fingerprint,
)
from tests.support.fake_ocs import FakeOCS

FAST = ClientPolicy(
    connect_timeout=2,
    read_timeout=5,
    retries=2,
    backoff_factor=0.001,
    backoff_max=0.01,
    backoff_jitter=0.0,
    max_429_retries=3,
    max_429_wait=60,
    rate_reserve=5,
    max_budget_wait=300,
)
TEAM = "connect-experiments"


class Sleeps(list):
    """An injectable sleep that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def shared_fake():
    """A read-only fake for tests that do not change options or data."""
    with FakeOCS.from_demo(n_sessions=900, seed=3) as fake:
        yield fake


@pytest.fixture
def fake():
    with FakeOCS.from_demo(n_sessions=300, seed=5) as fake:
        yield fake


def client_for(fake: FakeOCS, index: int = 0, **kw) -> OCSClient:
    kw.setdefault("policy", FAST)
    kw.setdefault("sleep", Sleeps())
    return OCSClient(fake.keys[index], fake.base_url, **kw)


def test_many_pages_follow_next_verbatim_and_count_from_first_page(shared_fake):
    client = client_for(shared_fake)
    shared_fake.reset_log()
    pages = []
    ids = [s["id"] for s in client.sessions(on_page=pages.append, page_size=40)]
    assert ids == shared_fake.session_ids(TEAM)  # all of them, newest first, once
    assert len(pages) == -(-len(ids) // 40) > 5
    assert pages[0].count == len(ids)
    assert all(page.count is None for page in pages[1:])
    queries = [entry["query"] for entry in shared_fake.log]
    assert "cursor=" not in queries[0] and all("cursor=" in q for q in queries[1:])
    assert all("page_size=40" in q and "ordering=-created_at" in q for q in queries)
    assert client.requests_made == len(pages)
    assert all(entry["status"] == 200 for entry in shared_fake.log)  # no 301s: trailing slashes


def test_default_page_size_is_1500_and_clamped(shared_fake):
    client = client_for(shared_fake)
    page = next(client.iter_pages("/sessions/"))
    assert len(page.results) == min(1500, page.count)
    raw = requests.get(
        f"{shared_fake.base_url}/sessions/?page_size=99999",
        headers={"X-Api-Key": shared_fake.keys[0]},
        timeout=5,
    ).json()
    assert len(raw["results"]) == min(1500, raw["count"])
    bad = requests.get(
        f"{shared_fake.base_url}/sessions/?page_size=abc",
        headers={"X-Api-Key": shared_fake.keys[0]},
        timeout=5,
    ).json()
    assert len(bad["results"]) == 100


def test_cursor_is_opaque_base64_and_bad_cursor_is_404(shared_fake):
    key = {"X-Api-Key": shared_fake.keys[0]}
    first = requests.get(f"{shared_fake.base_url}/sessions/?page_size=5", headers=key, timeout=5)
    cursor = first.json()["next"].split("cursor=")[1].split("&")[0]
    assert base64.b64decode(requests.utils.unquote(cursor)).decode().startswith("p=")
    bad = requests.get(f"{shared_fake.base_url}/sessions/?cursor=zzz", headers=key, timeout=5)
    assert bad.status_code == 404 and bad.json() == {"detail": "Invalid cursor"}


def test_duplicates_from_multi_tag_filter_are_removed(shared_fake):
    session_tags = {sid: shared_fake.session(sid)["tags"] for sid in shared_fake.session_ids(TEAM)}
    both = [sid for sid, tags in session_tags.items() if {"safe", "accurate"} <= set(tags)]
    either = [sid for sid, tags in session_tags.items() if {"safe", "accurate"} & set(tags)]
    assert both, "demo world should have sessions tagged safe and accurate"
    raw = requests.get(
        f"{shared_fake.base_url}/sessions/?tags=safe,accurate&page_size=1500",
        headers={"X-Api-Key": shared_fake.keys[0]},
        timeout=5,
    ).json()
    assert raw["count"] == len(either) + len(both)  # the server repeats two-tag sessions
    client = client_for(shared_fake)
    ids = [s["id"] for s in client.sessions(tags="safe,accurate", page_size=7)]
    assert sorted(ids) == sorted(either)


def test_slashless_path_gets_301_with_query_kept_and_client_follows(shared_fake):
    key = {"X-Api-Key": shared_fake.keys[0]}
    response = requests.get(
        f"{shared_fake.base_url}/sessions?page_size=2",
        headers=key,
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 301
    assert response.headers["Location"] == "/api/sessions/?page_size=2"
    client = client_for(shared_fake)
    body = client.get_json(f"{shared_fake.origin}/api/sessions?page_size=2")
    assert len(body["results"]) == 2
    # the client's own paths always end in a slash
    assert client._url("/sessions").endswith("/api/sessions/")


def test_experiment_filter_must_be_uuid(shared_fake):
    client = client_for(shared_fake)
    with pytest.raises(ServerError, match="not a valid UUID"):
        list(client.sessions(experiment="abc"))
    experiment = shared_fake.experiments[TEAM][0]["id"]
    ids = [s["experiment"]["id"] for s in client.sessions(experiment=experiment)]
    assert ids and set(ids) == {experiment}


def test_probe_finds_team_and_session_ids_with_dots(shared_fake):
    client = client_for(shared_fake, index=2)
    assert client.probe() == {"slug": "maternal-helpline", "name": "Maternal Health Helpline"}
    slack = [sid for sid in shared_fake.session_ids("maternal-helpline") if "." in sid]
    assert slack, "demo world should have Slack-style session ids"
    detail = client.session_detail(slack[0])
    assert detail["id"] == slack[0] and isinstance(detail["messages"], list)


@pytest.mark.parametrize("legacy", [False, True])
def test_rejected_key_gives_clear_auth_error_without_the_key(shared_fake, legacy):
    shared_fake.legacy_403 = legacy
    try:
        bad_key = "abcdefgh.thisisasecretvalue9z9z"
        client = OCSClient(bad_key, shared_fake.base_url, policy=FAST, sleep=Sleeps())
        with pytest.raises(AuthError) as info:
            client.probe()
    finally:
        shared_fake.legacy_403 = False
    message = str(info.value)
    assert message.startswith("API key rejected for key …9z9z")
    assert f"HTTP {403 if legacy else 401}" in message and "Invalid token." in message
    assert bad_key not in message and "thisisasecret" not in message
    assert bad_key not in repr(client)
    assert key_fingerprint(bad_key) == "key …9z9z"


def test_auth_error_after_probe_names_the_team(fake):
    client = client_for(fake)
    client.probe()
    fake.key_team.pop(fake.keys[0])  # key revoked mid-sync
    with pytest.raises(AuthError, match=f"API key rejected for team {TEAM}"):
        client.session_detail(fake.session_ids(TEAM)[0])


def test_429_waits_retry_after_then_succeeds(fake):
    sleeps = Sleeps()
    client = client_for(fake, sleep=sleeps)
    fake.force_429 = {1, 2}
    fake.retry_after = 7
    assert client.probe()["slug"] == TEAM
    # the whole team's budget is blocked for Retry-After (+0.5 s margin)
    assert sleeps == [pytest.approx(7.5, abs=0.1)] * 2
    assert client.requests_made == 3


def test_429_uses_available_in_and_caps_the_wait(fake):
    sleeps = Sleeps()
    client = client_for(fake, sleep=sleeps)
    fake.send_retry_after_header = False
    fake.force_429 = {1}
    fake.retry_after = 240
    client.probe()
    assert sleeps == [pytest.approx(60.5, abs=0.1)]  # body said 240 s; capped by max_429_wait


def test_429_gives_up_after_limited_retries(fake):
    sleeps = Sleeps()
    client = client_for(fake, sleep=sleeps)
    fake.force_429 = set(range(1, 100))
    with pytest.raises(RateLimited, match="rate limit still exceeded"):
        client.probe()
    assert len(sleeps) == FAST.max_429_retries
    assert client.requests_made == FAST.max_429_retries + 1


def test_intermittent_500s_and_dropped_connections_are_retried(fake):
    client = client_for(fake)
    fake.fail_requests = {2, 4}
    fake.drop_requests = {5}
    ids = [s["id"] for s in client.sessions(page_size=30)]
    assert ids == fake.session_ids(TEAM)
    statuses = [entry["status"] for entry in fake.log]
    assert statuses.count(500) == 2 and statuses.count("dropped") == 1
    assert client.retries_made == 3
    assert client.requests_made == len(fake.log)


def test_permanent_500s_end_in_a_clear_error(fake):
    client = client_for(fake)
    fake.fail_from = 1
    with pytest.raises(ServerError, match=r"OCS server error 500 on /api/v2/me/ .*after 2 retries"):
        client.probe()
    assert len(fake.log) == FAST.retries + 1


def test_permanently_dropped_connections_end_in_a_clear_error(fake):
    client = client_for(fake)
    fake.drop_every = 1
    with pytest.raises(ConnectionFailed, match=r"could not reach OCS at 127\.0\.0\.1"):
        client.probe()
    assert len(fake.log) == FAST.retries + 1


def test_read_timeout_is_retried_then_reported(fake):
    policy = ClientPolicy(read_timeout=0.2, retries=1, backoff_factor=0.001, backoff_jitter=0)
    client = client_for(fake, policy=policy)
    fake.delay = 0.6
    with pytest.raises(ConnectionFailed):
        client.probe()
    assert client.requests_made == 2


AT_WINDOW_START = lambda: 0.0  # noqa: E731
"""A wall clock at the start of the documented 300 s window: the client's own estimate of the
window's end is then 300 s away, never within 5 s of the server's fixed ``X-RateLimit-Reset``
(with the real clock it was, about 1 run in 30, and the client kept its own end: 93 s, not 90)."""


def test_pauses_before_the_team_budget_runs_out(fake):
    sleeps = Sleeps()
    client = client_for(fake, sleep=sleeps, wall=AT_WINDOW_START)
    fake.rate_limit = 8  # reserve is 5: pause once remaining <= 5
    fake.rate_reset = 200
    for sid in fake.session_ids(TEAM)[:4]:
        client.session_detail(sid)
    assert sleeps == [pytest.approx(200.5, abs=0.1)]  # until the window resets (+0.5 s margin)
    assert fake.log[-1]["status"] == 200


def test_a_server_that_keeps_saying_zero_is_paced_not_ignored(fake):
    """Log-only mode answers 200 with Remaining 0: the client still keeps to the budget."""
    sleeps = Sleeps()
    policy = ClientPolicy(retries=0, rate_reserve=5, max_budget_wait=100)
    client = client_for(fake, sleep=sleeps, policy=policy, wall=AT_WINDOW_START)
    fake.rate_limit = 1
    fake.rate_reset = 120
    for sid in fake.session_ids(TEAM)[:20]:
        client.session_detail(sid)  # all answered 200
    assert sleeps == [100] * 19  # one pause per request, each capped by max_budget_wait
    assert all(entry["status"] == 200 for entry in fake.log)


def test_enforced_rate_limit_429_is_honoured(fake):
    sleeps = Sleeps()
    client = client_for(
        fake, sleep=sleeps, policy=ClientPolicy(rate_reserve=0, retries=0), wall=AT_WINDOW_START
    )
    fake.rate_limit = 3
    fake.rate_enforce = True
    fake.rate_reset = 90
    with pytest.raises(RateLimited):
        for sid in fake.session_ids(TEAM)[:10]:
            client.session_detail(sid)
    assert 429 in [entry["status"] for entry in fake.log]
    # 429 waits are capped at 60 s; budget pauses (Remaining 0) wait for the window
    assert {round(s) for s in sleeps} == {60, 90}


def test_threads_share_one_budget_and_an_enforcing_server_never_says_429(fake):
    """Real waiting over a 2-second window: 4 threads, 90 requests, 25 allowed per window."""
    from concurrent.futures import ThreadPoolExecutor

    fake.rate_limit, fake.rate_window, fake.rate_enforce = 25, 2, True
    policy = ClientPolicy(retries=0, rate_reserve=2, rate_limit=25, rate_window=2)
    client = client_for(fake, policy=policy, sleep=__import__("time").sleep)
    ids = fake.session_ids(TEAM)[:90]
    with ThreadPoolExecutor(4) as pool:
        details = list(pool.map(client.session_detail, ids))
    assert [d["id"] for d in details] == ids
    assert fake.received_429 == 0 and client.rate_limited == 0
    assert client.budget.pauses >= 3  # it did have to wait for windows to reset
    assert fake.statuses() == {200: 90}


def test_budget_without_headers_uses_the_documented_epoch_aligned_window():
    now = {"t": 1000.0}
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now["t"] += seconds

    budget = RateBudget(
        limit=10, window=300, reserve=2, sleep=sleep, clock=lambda: now["t"], wall=lambda: now["t"]
    )
    for _ in range(8):  # 10 - reserve 2
        budget.acquire()
        budget.release()
    assert sleeps == []
    budget.acquire()  # the 9th waits for the window aligned to the epoch: 1200 - 1000 (+0.5)
    assert sleeps == [pytest.approx(200.5)]
    assert now["t"] // 300 == 4  # now inside the next fixed window


def test_body_dropped_mid_way_is_retried(fake):
    client = client_for(fake)
    fake.mid_body_requests = {2, 3, 5}
    ids = [s["id"] for s in client.sessions(page_size=30)]
    assert ids == fake.session_ids(TEAM)
    assert fake.statuses()["mid-body"] == 3
    assert client.retries_made == 3 and client.requests_made == len(fake.log)


def test_body_dropped_every_time_ends_in_a_clear_error(fake):
    client = client_for(fake)
    fake.mid_body_every = 1
    with pytest.raises(ConnectionFailed, match="kept breaking while reading /api/sessions/"):
        list(client.sessions())
    assert len(fake.log) == FAST.retries + 1


def test_an_answer_that_is_not_json_is_a_clear_error(fake):
    client = client_for(fake)
    fake.non_json_prefix = "/api/sessions/"
    with pytest.raises(BadAnswer, match=r"not JSON \(text/html: '<html>"):
        list(client.sessions())


def test_a_page_without_results_is_a_clear_error(fake):
    client = client_for(fake)
    fake.wrong_shape_prefix = "/api/sessions/"
    with pytest.raises(BadAnswer, match="expected a page with a results list"):
        list(client.sessions())


def test_a_repeating_next_link_stops_instead_of_looping(fake):
    client = client_for(fake)
    fake.repeat_next = True
    with pytest.raises(BadAnswer, match="same next-page link twice"):
        list(client.sessions(page_size=20))
    assert len(fake.log) == 2  # the second page links to itself: stopped before asking again


def test_2025_shape(fake):
    fake.shape = "2025"
    fake.has_me = False
    client = client_for(fake)
    assert client.probe() is None  # /api/v2/me/ is 404; /api/experiments/ answered
    assert [e["status"] for e in fake.log] == [404, 200]
    pages = []
    items = list(client.sessions(on_page=pages.append, page_size=50))
    assert pages[0].count is None
    assert "status" not in items[0] and "versions" in items[0]["experiment"]
    detail = client.session_detail(items[0]["id"])
    assert "usage" not in detail and "messages" in detail
