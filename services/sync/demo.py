"""A deterministic demo world, produced as OCS-API-shaped JSON.

With no OCS key configured the dashboard serves this world. It goes through exactly the same
normalisation code as a real sync (:mod:`services.sync.records`), so everything the dashboard does
with real data it does with the demo.

The world: 3 teams, 7 chatbots with published versions released over the year, sessions over
~12 months ending on ``anchor`` with weekly seasonality and growth, annotation tags on a
minority of sessions (good more common than bad, improving with later versions), statuses,
platforms, transcripts with version tags and 👍/👎, summary system messages and costs.
Same ``seed`` + ``anchor`` + ``n_sessions`` → the same JSON, byte for byte.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.store.tables import Tables, build_tables
from services.sync.records import (
    parse_experiment,
    parse_session,
    parse_timestamp,
    summarise_transcript,
)

DEMO_HOST = "https://demo.openchatstudio.invalid"

TEAMS = [
    ("connect-experiments", "Connect Experiments"),
    ("ecd-nigeria", "ECD Nigeria Programme"),
    ("maternal-helpline", "Maternal Health Helpline"),
]
# name, team, weight, platforms (weights), versions: list of (release day offset, description)
CHATBOTS = [
    (
        "ECD Coach - Nigeria",
        "connect-experiments",
        0.28,
        {"commcare_connect": 0.86, "web": 0.1, "evaluations": 0.04},
        [
            (0, "Launch"),
            (70, "Shorter replies"),
            (150, "Refrigerator example added"),
            (250, "Follow-up questions"),
            (320, "Local language greetings"),
        ],
    ),
    (
        "ECD Control Bot",
        "connect-experiments",
        0.09,
        {"commcare_connect": 0.95, "evaluations": 0.05},
        [(0, "Control arm"), (180, "Fix greeting")],
    ),
    (
        "Home Visit Planner",
        "connect-experiments",
        0.08,
        {"commcare_connect": 0.7, "web": 0.3},
        [(40, "First release"), (200, "Checklist format")],
    ),
    (
        "FLW Coaching Assistant",
        "ecd-nigeria",
        0.22,
        {"whatsapp": 0.8, "telegram": 0.15, "evaluations": 0.05},
        [(0, "Pilot"), (120, "Coaching tips v2"), (260, "Safety prompt update")],
    ),
    (
        "Caregiver Q&A",
        "ecd-nigeria",
        0.12,
        {"whatsapp": 0.7, "web": 0.3},
        [(30, "Launch"), (210, "Nutrition knowledge base")],
    ),
    (
        "Pregnancy Helpline",
        "maternal-helpline",
        0.15,
        {"whatsapp": 0.6, "web": 0.25, "api": 0.1, "evaluations": 0.05},
        [(0, "Launch"), (90, "Danger-sign triage"), (240, "Clinic referral flow")],
    ),
    (
        "Postnatal Check-in",
        "maternal-helpline",
        0.06,
        {"whatsapp": 0.8, "slack": 0.2},
        [(100, "Launch"), (290, "Shorter check-ins")],
    ),
]
CATEGORY_RATES = {  # P(annotated in category | session annotated), base P(good)
    "bot_performance": (0.95, 0.74),
    "coaching": (0.85, 0.66),
    "engagement": (0.7, 0.7),
    "user_knowledge": (0.5, 0.6),
}
OTHER_TAGS = [("needs_follow_up", 0.03), ("escalated", 0.01), ("refrigerator_example", 0.04)]
USER_PHRASES = [
    "It went well, the mother asked about storing food",
    "The child is not eating well, what should I tell the caregiver?",
    "ok",
    "How often should I visit?",
    "I am confused about the schedule",
    "The baby has a fever since yesterday, is that a danger sign?",
    "yes",
    "Can you explain again in simpler words",
    "We practised the counting game together and she enjoyed it a lot",
    "What is wrong with the baby if she cries at night?",
]
"""Everyday participant messages: no word of the services.sync.lexicon lists."""
APPRECIATION_PHRASES = [
    "thanks",
    "That is helpful, thank you so much",
    "Great, I will try that",
    "Thank you, this was really useful",
]
DISSATISFACTION_PHRASES = [
    "This doesn't work for me",
    "That was not helpful",
    "I am frustrated, you keep giving the same answer",
    "This is confusing",
]
APPRECIATION_RATE = 0.06
"""Share of participant messages with thanks or praise (≈ 1 session in 5 has one)."""
DISSATISFACTION_RATE = 0.025
"""Share of participant messages with a complaint (≈ 1 session in 10 has one)."""

log = logging.getLogger(__name__)


def _user_phrase(rng: random.Random) -> str:
    roll = rng.random()
    if roll < APPRECIATION_RATE:
        return rng.choice(APPRECIATION_PHRASES)
    if roll < APPRECIATION_RATE + DISSATISFACTION_RATE:
        return rng.choice(DISSATISFACTION_PHRASES)
    return rng.choice(USER_PHRASES)


BOT_PHRASES = [
    "Hello! How did the home visit go this week?",
    "Great! You could use the refrigerator example to explain food storage.",
    "Thank you for sharing. Let us think about what the caregiver can try next.",
    "That sounds like a danger sign. Please refer the mother to the clinic today.",
    "Well done. Remember to praise the caregiver for what went well.",
    "Here are three short tips for your next visit.",
]
MODELS = [("gpt-4o", 0.0000045), ("gpt-4o-mini", 0.0000004)]


@dataclass
class DemoWorld:
    anchor: date
    experiments: dict[str, list[dict]]  # team slug → experiment records (docs/ocs-api.md §6.3)
    sessions: list[dict]  # session details (docs/ocs-api.md §6.2), newest first


def _ts(moment: datetime) -> str:
    """OCS renders UTC with ``Z`` and drops zero microseconds (docs/ocs-api.md §3)."""
    return moment.isoformat().replace("+00:00", "Z")


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def generate(n_sessions: int = 20_000, seed: int = 7, anchor: date | None = None) -> DemoWorld:
    """Build the demo world as API-shaped JSON records (see module docstring)."""
    anchor = anchor or datetime.now(UTC).date()
    experiments, stream = _stream(n_sessions, seed, anchor)
    sessions = list(stream)
    # by instant, not by text: "…:11Z" sorts after "…:11.496150Z" as a string
    sessions.sort(key=lambda s: (parse_timestamp(s["created_at"]), s["id"]), reverse=True)
    return DemoWorld(anchor=anchor, experiments=experiments, sessions=sessions)


def _stream(n_sessions: int, seed: int, anchor: date) -> tuple[dict[str, list[dict]], Iterator]:
    """(experiment records per team, an iterator of session details in generation order).

    The iterator draws from the same random stream as always, so :func:`generate` and
    :func:`demo_tables` give the same world; it must be consumed fully and only once.
    """
    rng = random.Random(f"{seed}-{n_sessions}-{anchor.isoformat()}")
    start = datetime.combine(anchor - timedelta(days=364), datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(anchor, datetime.min.time(), tzinfo=UTC) + timedelta(hours=20)

    teams = dict(TEAMS)
    bots = []
    experiments: dict[str, list[dict]] = {slug: [] for slug, _ in TEAMS}
    for name, team, weight, platforms, versions in CHATBOTS:
        bot_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        releases = [
            start + timedelta(days=offset, hours=rng.randint(8, 17)) if offset else start
            for offset, _ in versions
        ]
        record = {
            "id": bot_id,
            "name": name,
            "url": f"{DEMO_HOST}/api/experiments/{bot_id}/",
            "version_number": len(versions) + 1,
            "versions": [
                {
                    "name": name,
                    "version_number": i + 1,
                    "is_default_version": i == len(versions) - 1,
                    "version_description": description,
                }
                for i, (_, description) in enumerate(versions)
            ],
        }
        experiments[team].append(record)
        bots.append(
            {
                "record": record,
                "stub": {
                    "id": bot_id,
                    "name": name,
                    "description": f"{name} for {teams[team]}",
                    "url": record["url"],
                    "version_number": record["version_number"],
                },
                "team": team,
                "weight": weight,
                "platforms": platforms,
                "releases": releases,
                "first": releases[0],
            }
        )

    # participant pools per team: heavy users come back, most appear a few times
    pools = {
        slug: [
            (
                f"{slug[:3]}{rng.randrange(16**6):06x}",
                f"flw-{rng.randrange(10000)}" if rng.random() < 0.4 else "",
            )
            for _ in range(max(20, n_sessions // 9))
        ]
        for slug, _ in TEAMS
    }

    total_days = (end - start).days + 1
    # daily intensity: growth ×2.5 over the year, weekends quieter, a mid-year campaign bump
    intensity = []
    for d in range(total_days):
        day = start + timedelta(days=d)
        growth = 1 + 1.5 * d / total_days
        weekly = 0.45 if day.weekday() >= 5 else 1.0 + 0.08 * (day.weekday() == 1)
        campaign = 1.6 if 180 <= d < 195 else 1.0
        intensity.append(growth * weekly * campaign * (0.85 + 0.3 * rng.random()))
    cumulative = []
    total = 0.0
    for value in intensity:
        total += value
        cumulative.append(total)

    def sessions():
        for _ in range(n_sessions):
            yield _next_session(rng, bots, teams, pools, cumulative, total, start, end, anchor)

    return experiments, sessions()


def _next_session(rng, bots, teams, pools, cumulative, total, start, end, anchor) -> dict:
    """One session detail: its start drawn from the daily intensity, then its bot."""
    day_index = _bisect(cumulative, rng.random() * total)
    hour = min(23, max(0, int(rng.gauss(13, 3.5))))
    created = start + timedelta(
        days=day_index,
        hours=hour,
        minutes=rng.randrange(60),
        seconds=rng.randrange(60),
        microseconds=rng.randrange(1_000_000) if rng.random() < 0.8 else 0,
    )
    if created > end:
        created = end - timedelta(minutes=rng.randrange(600))
    live = [b for b in bots if b["first"] <= created]
    bot = rng.choices(live, weights=[b["weight"] for b in live])[0]
    return _session(rng, bot, teams, pools, created, anchor)


def _bisect(cumulative: list[float], value: float) -> int:
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _session(rng, bot, teams, pools, created: datetime, anchor: date) -> dict:
    team = bot["team"]
    platform = _pick(rng, bot["platforms"])
    identifier, remote = pools[team][
        min(int(rng.paretovariate(1.2)) - 1, len(pools[team]) - 1)
        if rng.random() < 0.5
        else rng.randrange(len(pools[team]))
    ]
    if platform == "web" and rng.random() < 0.5:
        identifier, remote = f"anon:{uuid.UUID(int=rng.getrandbits(128), version=4)}", ""
    if platform == "slack":
        session_id = f"{int(created.timestamp())}.{rng.randrange(10**6):06d}"
    else:
        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    releases = bot["releases"]
    version_index = max(i for i, r in enumerate(releases) if r <= created)
    age_days = (anchor - created.date()).days

    # status: setup sessions never started, old sessions mostly ended
    roll = rng.random()
    if roll < 0.02:
        status = "setup"
    elif (age_days < 2 and roll < 0.7) or roll < 0.3:
        status = "active"
    elif roll < 0.85:
        status = "pending-review"
    else:
        status = "complete"

    turns = 0 if status == "setup" else max(1, min(40, int(rng.expovariate(1 / 5.5)) + 1))
    messages = []
    moment = created + timedelta(seconds=rng.uniform(0.2, 2))
    label = f"v{version_index + 1}"
    unreleased = platform == "evaluations" and rng.random() < 0.5
    up = down = 0
    for turn in range(turns):
        if unreleased:
            tag = f"v{len(releases) + 1}-unreleased"
        elif (
            turn > 0 and version_index + 1 < len(releases) and moment >= releases[version_index + 1]
        ):
            tag = f"v{version_index + 2}"
        else:
            tag = label
        bot_tags = [tag]
        if platform == "web" and rng.random() < 0.12:
            is_up = rng.random() < 0.78
            bot_tags.append("👍" if is_up else "👎")
            up += is_up
            down += not is_up
        messages.append(
            {
                "created_at": _ts(moment),
                "role": "assistant",
                "content": rng.choice(BOT_PHRASES),
                "metadata": {},
                "tags": bot_tags,
                "attachments": [],
            }
        )
        moment += timedelta(seconds=rng.expovariate(1 / 90) + 5)
        if turn == turns - 1 and rng.random() < 0.25:
            break  # the participant never answered the last bot message
        messages.append(
            {
                "created_at": _ts(moment),
                "role": "user",
                "content": _user_phrase(rng),
                "metadata": {},
                "tags": [],
                "attachments": [],
            }
        )
        moment += timedelta(seconds=rng.uniform(2, 15))
        if turn == 12:
            messages.append(
                {
                    "created_at": _ts(moment),
                    "role": "system",
                    "content": "Summary of the conversation so far.",
                    "metadata": {"compression_marker": "summarize"},
                    "tags": [],
                    "attachments": [],
                }
            )

    # annotations: a minority of ended sessions is reviewed; later versions do better
    tags: list[str] = []
    quality_boost = 0.04 * version_index
    if (
        status in ("pending-review", "complete")
        and turns >= 2
        and rng.random() < 0.16 + 0.02 * (turns > 6)
    ):
        for category, (p_annotated, p_good) in CATEGORY_RATES.items():
            if rng.random() < p_annotated:
                if category == "coaching" and rng.random() < 0.08:
                    tags.append("coaching_undetermined")
                    continue
                good = rng.random() < min(0.95, p_good + quality_boost)
                tags.append(f"{category}_{'good' if good else 'bad'}")
        if rng.random() < 0.9:
            tags.append("safe")
        if rng.random() < 0.82 + quality_boost / 2:
            tags.append("accurate")
    for tag, rate in OTHER_TAGS:
        if rng.random() < rate:
            tags.append(tag)

    ai = sum(1 for m in messages if m["role"] == "assistant")
    by_model = []
    for model, price in MODELS:
        if ai and (model == "gpt-4o" or rng.random() < 0.6):
            tokens = ai * rng.randint(300, 1400)
            by_model.append(
                {"model_name": model, "cost": f"{tokens * price:.8f}", "tokens": tokens}
            )
    by_model.sort(key=lambda row: float(row["cost"]), reverse=True)
    total_cost = sum(float(row["cost"]) for row in by_model)
    updated = created + timedelta(minutes=rng.randrange(1, 240)) if status != "setup" else created
    return {
        "url": f"{DEMO_HOST}/api/sessions/{session_id}/",
        "id": session_id,
        "team": {"name": teams[team], "slug": team},
        "experiment": bot["stub"],
        "participant": {"identifier": identifier, "remote_id": remote},
        "created_at": _ts(created),
        "updated_at": _ts(updated),
        "status": status,
        "platform": platform,
        "messages": messages,
        "usage": {"total_cost": f"{total_cost:.8f}", "by_model": by_model},
        "tags": tags,
        "state": {},
    }


def list_item(detail: dict) -> dict:
    """The session list representation of a detail record (no messages, no usage)."""
    return {k: v for k, v in detail.items() if k not in ("messages", "usage")}


def _normalise(details, experiments: dict[str, list[dict]], meta: dict | None = None) -> Tables:
    """Session details → store tables through :mod:`services.sync.records` (as the sync does)."""
    rows, transcripts, costs = [], {}, {}
    for detail in details:
        row = parse_session(list_item(detail))
        rows.append(row)
        summary, cost_rows = summarise_transcript(detail)
        transcripts[row["session_id"]] = summary
        costs[row["session_id"]] = cost_rows
    experiment_rows, versions = [], []
    for team, records in experiments.items():
        for record in records:
            experiment, version_rows = parse_experiment(record, team)
            experiment_rows.append(experiment)
            versions.extend(version_rows)
    return build_tables(rows, transcripts, costs, experiment_rows, versions, meta)


def _meta(anchor: date, n_sessions: int) -> dict:
    return {
        "source": "demo",
        "demo_anchor": anchor.isoformat(),
        "demo_sessions": n_sessions,
        "teams": [{"slug": s, "name": n} for s, n in TEAMS],
        "synced_at": datetime.combine(anchor, datetime.min.time(), tzinfo=UTC).timestamp(),
    }


def world_tables(world: DemoWorld) -> Tables:
    """Normalise the demo JSON through the same code as the sync and build store tables."""
    return _normalise(world.sessions, world.experiments, _meta(world.anchor, len(world.sessions)))


def demo_tables(
    n_sessions: int = 20_000, seed: int = 7, anchor: date | None = None, chunk: int = 50_000
) -> Tables:
    """``world_tables(generate(n_sessions, seed, anchor))`` without holding the whole JSON world.

    Sessions are normalised ``chunk`` at a time as they are generated, so a million sessions
    need a few hundred MB instead of tens of GB of JSON dicts. Same tables, same row order.
    """
    anchor = anchor or datetime.now(UTC).date()
    experiments, stream = _stream(n_sessions, seed, anchor)
    parts: list[Tables] = []
    batch: list[dict] = []
    for detail in stream:
        batch.append(detail)
        if len(batch) >= chunk:
            parts.append(_normalise(batch, {}))
            batch = []
    parts.append(_normalise(batch, experiments, _meta(anchor, n_sessions)))
    sessions = pa.concat_tables([p.sessions for p in parts])
    costs = pa.concat_tables([p.session_costs for p in parts])
    # newest first, as generate() orders the JSON (by instant, then id)
    order = pc.sort_indices(
        sessions, sort_keys=[("created_at", "descending"), ("session_id", "descending")]
    )
    rank = pa.array(np.argsort(np.asarray(order), kind="stable"))
    cost_order = pc.sort_indices(
        pa.table({"rank": pc.take(rank, pc.index_in(costs["session_id"], sessions["session_id"]))}),
        sort_keys=[("rank", "ascending")],
    )
    last = parts[-1]
    return Tables(
        sessions=sessions.take(order),
        experiments=last.experiments,
        experiment_versions=last.experiment_versions,
        session_costs=costs.take(cost_order),
        meta=last.meta,
    )


DEMO_FORMAT = 2
"""Bumped when the generator or the columns it fills change (2: lexicon counts), so a demo
store written by an older version is generated again instead of showing gaps."""


def ensure_demo_store(store, n_sessions: int, seed: int = 7, anchor: date | None = None) -> int:
    """Write the demo world into ``store`` unless today's demo generation is already current."""
    anchor = anchor or datetime.now(UTC).date()
    meta = store.read_meta()
    if (
        meta.get("source") == "demo"
        and meta.get("demo_anchor") == anchor.isoformat()
        and meta.get("demo_sessions") == n_sessions
        and meta.get("demo_seed", seed) == seed
        and meta.get("demo_format", 1) == DEMO_FORMAT
    ):
        return int(meta["generation"])
    log.info("generating the demo world: %s sessions…", f"{n_sessions:,}")
    tables = demo_tables(n_sessions, seed, anchor)
    tables.meta["demo_seed"] = seed
    tables.meta["demo_format"] = DEMO_FORMAT
    return store.write(tables)
