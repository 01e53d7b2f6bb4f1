"""``python -m bench``'s command line: its name, a help line per option, cheap ``--first-page``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from bench import __main__ as bench_cli
from tests.support.hosted_support import ROOT


def test_help_names_the_command_and_explains_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m bench ")
    options = [a for a in bench_cli.parser()._actions if a.option_strings]
    assert len(options) >= 8
    for action in options:
        assert action.help, action.option_strings


class Stop(Exception):
    pass


def test_first_page_alone_builds_only_the_default_demo_size(monkeypatch):
    built = []

    def ensure_store(n):
        built.append(n)
        raise Stop

    monkeypatch.setattr(bench_cli, "ensure_store", ensure_store)
    with pytest.raises(Stop):
        bench_cli.main(["--first-page"])
    assert built == [20_000]


def test_without_playwright_it_says_what_to_install(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "playwright" else real(name)
    )
    with pytest.raises(SystemExit) as stop:
        bench_cli.main(["--first-page"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "playwright is missing" in err and "requirements-dev.txt" in err


@pytest.mark.parametrize("args", [["--sizes", "0"], ["--rounds", "0"], ["--sizes", "many"]])
def test_bad_values_get_a_usage_message(args, capsys):
    with pytest.raises(SystemExit) as stop:
        bench_cli.main(args)
    assert stop.value.code == 2
    assert "python -m bench: error:" in capsys.readouterr().err


def test_soak_windows_are_distinct_and_end_near_the_anchor():
    from datetime import date, timedelta

    from bench.tabs import data_window

    anchor = date(2026, 9, 30)
    windows = [data_window(anchor, i) for i in range(776)]
    assert len(set(windows)) == len(windows)  # every one defeats the response cache
    assert all(anchor - timedelta(days=96) <= end <= anchor for _, end in windows)
    assert all(7 <= (end - start).days + 1 <= 365 for start, end in windows)


@pytest.mark.timeout(180)
def test_cold_soak_replaces_a_worker_and_reports_the_growth(monkeypatch, tmp_path, capsys):
    """``--tab-parts cold-soak`` on a small store: the Procfile's gunicorn, one worker killed
    and replaced, two soak halves, PSS after each (the real thing at 1M is in
    docs/performance.md)."""
    import json

    from bench import data

    monkeypatch.setattr(data, "OUT", tmp_path)
    monkeypatch.setattr(bench_cli, "OUT", tmp_path)
    bench_cli.main(
        ["--sizes", "1500", "--tab-parts", "cold-soak", "--soak", "10", "--no-sync", "--no-browser"]
    )
    out = capsys.readouterr().out
    assert "soak with one worker cold at its start" in out
    assert "soak growth" in out
    (written,) = tmp_path.glob("results-*.json")
    res = json.loads(written.read_text())["sizes"]["1500"]["cold_soak"]
    assert res["soak1"]["interactions"] == 10 and res["soak2"]["interactions"] == 10
    assert len(res["pss_soak2"]["processes"]) == 3  # the master and two workers
    cold = res["pss_cold"]["processes"]
    assert len(cold) == 3 and not any(str(res["killed_pid"]) in name for name in cold)
