"""The appreciation / dissatisfaction lexicon: matching rules (explicit cases and properties),
the per-session counts made while summarising a transcript, the store columns (and stores
written before them), the demo, and the Engagement numbers built on them."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from callbacks.engagement import render_engagement
from layouts.engagement import lexicon_words
from services.analytics import engagement
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.outputs import exports
from services.store.dataset import Dataset
from services.store.parquet import Store
from services.store.schema import TRANSCRIPT_COLUMNS
from services.store.tables import build_tables
from services.sync import lexicon
from services.sync.records import parse_session, summarise_transcript
from services.views.charts.engagement import NO_LEXICON, engagement_figures
from services.views.engagement import engagement_view
from tests.conftest import DEMO_ANCHOR, build_dataset, session_record

TODAY = date(2026, 11, 22)
ALL = FilterState(range="all")

# ---- matching -------------------------------------------------------------------------------

APPRECIATED = [
    "thanks",
    "Thank you so much!",
    "THANKS A LOT",
    "thankful for the tips",
    "thx",
    "That is helpful",
    "very useful, I appreciate it",
    "Great, I will try that",
    "I love it",
    "perfect.",
    "Awesome!!",
    "this helped me a lot",
    "well done",
    "I can't thank you enough",  # thanks are not negated
    "No problem, thanks",  # punctuation ends the negation's scope
    "Thank you’s all round",
]
DISSATISFIED = [
    "I am frustrated",  # the prototype's `frustrat\b` never matched this
    "so frustrating",
    "Frustration everywhere",
    "useless",
    "not helpful",
    "That was not very helpful",
    "it wasn't useful",
    "It’s not that great",  # curly apostrophe, two words between
    "unhelpful answer",
    "This doesn't work for me",
    "doesnt work",
    "it is not working",
    "that didn't help",
    "that's wrong",
    "You are wrong",
    "wrong answer",
    "This is confusing",
    "so annoying",
    "what a waste of my time",
    "makes no sense",
    "you don't understand",
    "terrible",
]
NEITHER = [
    "",
    "ok",
    "no thanks",
    "No, thank you",
    "no thx",
    "What is wrong with the baby?",  # "wrong" alone is not a complaint
    "I am confused about the schedule",
    "greatest",  # whole words only
    "helpfulness",
    "unfrustrated",  # a term never matches inside a longer word
    "uselessness",
]


@pytest.mark.parametrize("text", APPRECIATED)
def test_appreciation(text):
    assert lexicon.classify(text) == (True, False)


@pytest.mark.parametrize("text", DISSATISFIED)
def test_dissatisfaction(text):
    assert lexicon.classify(text) == (False, True)


@pytest.mark.parametrize("text", NEITHER)
def test_neither(text):
    assert lexicon.classify(text) == (False, False)


def test_both_sides_in_one_message():
    assert lexicon.classify("thanks, but that's wrong") == (True, True)


def test_negated_praise_is_dissatisfaction_not_appreciation():
    for word in ("helpful", "useful", "great", "perfect", "awesome"):
        assert lexicon.classify(word) == (True, False)
        assert lexicon.classify(f"not {word}") == (False, True)
        assert lexicon.classify(f"It isn't really {word}") == (False, True)
        # three words between: out of scope
        assert lexicon.classify(f"not sure this is {word}") == (True, False)


def test_unicode_and_case():
    assert lexicon.classify("ＴＨＡＮＫＳ") == (False, False)  # fullwidth letters are other words
    assert lexicon.classify("Merci, THANKS") == (True, False)
    assert lexicon.classify("Très frustrée") == (False, False)  # English lists only
    assert lexicon.classify("ßthanks") == (False, False)  # ß is a word character
    assert lexicon.classify("«thanks»") == (True, False)


def test_lists_are_documented():
    for terms in (lexicon.APPRECIATION, lexicon.DISSATISFACTION):
        labels = lexicon.labels(terms)
        assert len(labels) == len(set(labels)) >= 10
    assert any("frustrat" in label for label in lexicon.labels(lexicon.DISSATISFACTION))


filler = st.text(alphabet=st.sampled_from("abcdefxyz "), max_size=20)
praise = st.sampled_from(["helpful", "useful", "great", "awesome", "perfect", "excellent"])


@given(filler, filler)
@example("", "")
def test_any_text_classifies(before, after):
    """Never raises; the result is two booleans."""
    result = lexicon.classify(before + after)
    assert isinstance(result, tuple) and all(isinstance(x, bool) for x in result)


@given(st.text(max_size=60))
def test_any_unicode_classifies_case_insensitively(text):
    assert lexicon.classify(text) == lexicon.classify(text.casefold())
    assert lexicon.classify(text) == lexicon.classify(text.swapcase()) or (
        text.swapcase().casefold() != text.casefold()
    )


@given(praise, st.sampled_from(["", "Well, ", "ok. "]), st.sampled_from(["", "!", " indeed"]))
def test_praise_alone_is_appreciation_and_negated_is_not(word, head, tail):
    assert lexicon.classify(f"{head}{word}{tail}") == (True, False)
    assert lexicon.classify(f"{head}not {word}{tail}") == (False, True)


@given(praise | st.just("frustrated"), st.text(alphabet="abcdefghij", min_size=1, max_size=4))
def test_terms_never_match_inside_longer_words(word, glue):
    """A letter glued before a word makes it another word (no match)."""
    assert lexicon.classify(glue + word) == (False, False)


@given(st.lists(st.sampled_from(APPRECIATED + DISSATISFIED + NEITHER), max_size=8))
def test_count_hits_counts_messages(messages):
    liked, disliked = lexicon.count_hits(messages)
    assert liked == sum(lexicon.classify(m)[0] for m in messages)
    assert disliked == sum(lexicon.classify(m)[1] for m in messages)
    assert 0 <= liked <= len(messages) and 0 <= disliked <= len(messages)


# ---- transcripts and the store --------------------------------------------------------------


def _message(role, content, second=0):
    return {"role": role, "content": content, "created_at": f"2026-11-10T12:00:{second:02d}Z"}


def test_summarise_transcript_counts_participant_messages_only():
    summary, _ = summarise_transcript(
        {
            "messages": [
                _message("assistant", "Great! Thank you for sharing.", 0),
                _message("user", "thanks, that is helpful", 1),
                _message("user", "Thanks thanks thanks", 2),  # one message, one hit
                _message("system", "This is useless summary text", 3),
                _message("user", "I'm frustrated, it doesn't work", 4),
                _message("user", None, 5),
                _message("user", "not helpful", 6),
            ]
        }
    )
    assert summary["appreciation_hits"] == 2
    assert summary["dissatisfaction_hits"] == 2
    assert set(TRANSCRIPT_COLUMNS) <= set(summary)


def test_store_round_trip_and_unsynced_sessions(tmp_path):
    rows = [parse_session(session_record(sid)) for sid in ("s1", "s2")]
    summary, _ = summarise_transcript({"messages": [_message("user", "Thanks, not helpful")]})
    store = Store(tmp_path / "store")
    store.write(build_tables(rows, {"s1": summary}))
    sessions = store.read().sessions.to_pylist()
    by_id = {r["session_id"]: r for r in sessions}
    assert (by_id["s1"]["appreciation_hits"], by_id["s1"]["dissatisfaction_hits"]) == (1, 1)
    assert by_id["s2"]["appreciation_hits"] is None  # no transcript: no counts


def test_store_written_before_the_lexicon_still_loads(tmp_path):
    """A generation without the two columns reads them as null; the Engagement numbers then
    say how many sessions have no counts instead of calling them 0."""
    rows = [parse_session(session_record(sid)) for sid in ("s1", "s2")]
    summary, _ = summarise_transcript({"messages": [_message("user", "thanks")]})
    tables = build_tables(rows, {"s1": summary, "s2": summary})
    old = tables.sessions.drop_columns(["appreciation_hits", "dissatisfaction_hits"])
    store = Store(tmp_path / "store")
    generation = store.write(tables)
    folder = tmp_path / "store" / f"g{generation:06d}"
    import pyarrow.parquet as pq

    pq.write_table(old, folder / "sessions.parquet")  # as an older version wrote it
    assert "appreciation_hits" not in pq.read_schema(folder / "sessions.parquet").names
    loaded = store.read()
    assert loaded.sessions.column("appreciation_hits").null_count == 2
    assert loaded.sessions.schema.field("appreciation_hits").type == pa.int32()
    ds = Dataset.from_tables(loaded, generation)
    assert all(math.isnan(v) for v in ds.appreciation_hits)
    lex = engagement.lexicon(select(ds, ALL, today=TODAY))
    assert (lex.base, lex.uncounted, lex.appreciation) == (0, 2, 0)
    assert math.isnan(lex.appreciation_share)


def test_summaries_without_the_columns_build_null_columns():
    """Transcript summaries carried over from an older generation lack the keys."""
    rows = [parse_session(session_record("s1"))]
    summary, _ = summarise_transcript({"messages": [_message("user", "thanks")]})
    del summary["appreciation_hits"], summary["dissatisfaction_hits"]
    tables = build_tables(rows, {"s1": summary})
    assert tables.sessions.column("appreciation_hits").to_pylist() == [None]


# ---- demo -----------------------------------------------------------------------------------


def test_demo_has_realistic_rates(demo_dataset, demo_world):
    lex = engagement.lexicon(select(demo_dataset, ALL, today=DEMO_ANCHOR))
    assert lex.uncounted == 0 and lex.base > 1000
    assert 0.1 < lex.appreciation_share < 0.45
    assert 0.03 < lex.dissatisfaction_share < lex.appreciation_share
    # the counts are what the lexicon says about the demo's own messages
    texts = [
        m["content"] for s in demo_world.sessions for m in s["messages"] if m["role"] == "user"
    ]
    stored = (
        np.nansum(demo_dataset.appreciation_hits),
        np.nansum(demo_dataset.dissatisfaction_hits),
    )
    assert lexicon.count_hits(texts) == stored


# ---- engagement metrics and the tab ----------------------------------------------------------


@pytest.fixture
def lex_ds():
    return build_dataset(
        [
            {"id": "s1", "created": "2026-11-02T10:00:00Z", "human": 3, "ai": 3, "liked": 2},
            {"id": "s2", "created": "2026-11-02T11:00:00Z", "human": 2, "ai": 2, "disliked": 1},
            {
                "id": "s3",
                "created": "2026-11-10T10:00:00Z",
                "human": 4,
                "ai": 4,
                "liked": 1,
                "disliked": 1,
            },
            {"id": "s4", "created": "2026-11-10T11:00:00Z", "human": 1, "ai": 1},
            {"id": "s5", "created": "2026-11-10T12:00:00Z", "human": 0, "ai": 1},  # no words
            {"id": "s6", "created": "2026-11-10T13:00:00Z", "human": 2, "ai": 2, "liked": None},
            {"id": "s7", "created": "2026-11-10T14:00:00Z"},  # transcript not synced
        ]
    )


def test_lexicon_shares(lex_ds):
    lex = engagement.lexicon(select(lex_ds, ALL, today=TODAY))
    # base: s1-s4 (s5 has no participant message, s6 no counts, s7 no transcript)
    assert lex.base == 4
    assert (lex.appreciation, lex.dissatisfaction) == (2, 2)
    assert lex.appreciation_share == pytest.approx(0.5)
    assert (lex.appreciation_messages, lex.dissatisfaction_messages) == (3, 2)
    assert lex.uncounted == 1


def test_lexicon_over_time(lex_ds):
    state = FilterState(range="custom", start=date(2026, 11, 1), end=date(2026, 11, 30))
    frame = engagement.lexicon_over_time(select(lex_ds, state.with_changes(granularity="week")))
    frame = frame.set_index(frame["bucket"].dt.strftime("%Y-%m-%d"))
    assert frame.loc["2026-11-02", "sessions"] == 2
    assert frame.loc["2026-11-02", "appreciation"] == pytest.approx(0.5)
    assert frame.loc["2026-11-09", "sessions"] == 2
    assert frame.loc["2026-11-09", "dissatisfaction"] == pytest.approx(0.5)
    assert frame.loc["2026-11-16", "sessions"] == 0
    assert math.isnan(frame.loc["2026-11-16", "appreciation"])


def test_empty_selection():
    ds = build_dataset([{"id": "s1", "human": 1, "ai": 1}])
    sel = select(ds, FilterState(range="all", experiments=("nope",)), today=TODAY)
    lex = engagement.lexicon(sel)
    assert lex.base == 0 and math.isnan(lex.appreciation_share)
    assert engagement.lexicon_over_time(sel)["sessions"].sum() == 0


def test_view_and_render(lex_ds, monkeypatch):
    view = engagement_view(lex_ds, ALL, today=TODAY)
    assert view.lexicon.base == 4
    traces = engagement_figures(view, "light")["lexicon"]["data"]
    assert len([t for t in traces if not t["name"].endswith("(partial)")]) == 2
    monkeypatch.setattr("services.views.scope.today_in", lambda tz="UTC": TODAY)
    out = render_engagement(ALL.to_dict(), False, dataset=lex_ds)
    cards = str(out[0])
    assert "50.0%" in cards and "2 of 4 sessions" in cards
    assert "1 sessions synced before word counts existed" in out[17]


def test_old_store_render_says_a_full_sync_fills_in(monkeypatch):
    ds = build_dataset([{"id": "s1", "human": 2, "ai": 2, "liked": None, "disliked": None}])
    monkeypatch.setattr("services.views.scope.today_in", lambda tz="UTC": TODAY)
    out = render_engagement(ALL.to_dict(), False, dataset=ds)
    assert "no word counts yet" in str(out[0])
    assert out[9]["layout"]["annotations"][0]["text"] == NO_LEXICON


def test_word_lists_in_the_layout():
    text = str(lexicon_words())
    assert "Which words count?" in text
    for label in lexicon.labels(lexicon.APPRECIATION) + lexicon.labels(lexicon.DISSATISFACTION):
        assert label in text
    assert "not helpful" in text
    assert engagement.LEXICON_NOTE.startswith("Appreciation and dissatisfaction")


def test_lexicon_chart_csv(lex_ds):
    from tests.outputs.test_chart_exports import csv_of

    state = FilterState(range="custom", start=date(2026, 11, 1), end=date(2026, 11, 30))
    state = state.with_changes(granularity="week")
    _, _, frame = csv_of(lex_ds, state, "lexicon", exports.ChartOptions(today=TODAY))
    assert list(frame.columns) == [
        "bucket",
        "sessions",
        "share_appreciation",
        "share_dissatisfaction",
        "days",
        "bucket_days",
        "complete",
    ]
    assert frame["sessions"].sum() == 4
    buckets = frame["bucket"].astype(str).str[:10]
    shares = dict(zip(buckets, frame["share_appreciation"], strict=True))
    assert shares["2026-11-02"] == pytest.approx(0.5)


def test_sync_on_a_pre_lexicon_store_counts_after_a_full_sync(tmp_path):
    """An incremental sync keeps the transcripts it does not fetch again (no counts); the next
    full sync counts every session, as the README says."""
    import pyarrow.parquet as pq

    from services.sync import demo
    from tests.support.fake_ocs import FakeOCS
    from tests.sync.test_sync import PAST, settings_for, sync

    with FakeOCS.from_demo(n_sessions=60, seed=11, anchor=PAST) as fake:
        settings = settings_for(fake, tmp_path)
        first = sync(settings)
        store = Store(settings.store_dir)
        path = settings.store_dir / f"g{first.generation:06d}" / "sessions.parquet"
        old = store.read().sessions.drop_columns(["appreciation_hits", "dissatisfaction_hits"])
        pq.write_table(old, path)  # the generation as a pre-lexicon version wrote it
        second = sync(settings)
        # only the re-check slice (one open session per team) is fetched again
        assert not second.full and second.transcripts_fetched == second.recheck_transcripts <= 3
        hits = store.read().sessions.column("appreciation_hits")
        assert hits.null_count == 60 - second.transcripts_fetched
        third = sync(settings, full=True)
        assert third.full
        synced = {r["session_id"]: r for r in store.read().sessions.to_pylist()}
    expected = demo.world_tables(demo.generate(60, 11, PAST)).sessions.to_pylist()
    for row in expected:
        got = synced[row["session_id"]]
        assert got["appreciation_hits"] == row["appreciation_hits"] is not None
        assert got["dissatisfaction_hits"] == row["dissatisfaction_hits"]
    assert sum(r["appreciation_hits"] for r in expected) > 0
