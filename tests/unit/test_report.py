import dataclasses
import json
from pathlib import Path

from rich.console import Console

from pipeline_tests._report.terminal import print_report
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.side_by_side import compared, engine_rows
from pipeline_tests._results.stats import over_max_loss, summarize
from pipeline_tests._results.trial_result import TrialResult, where_lost
from pipeline_tests._values import EngineFacts

BASE = TrialResult(
    topology="firelens", router="builtin", stop="ecs", trial=1, line_run_id="0badcafe",
    emitted=1000, received_distinct=1000, received_total=1000, lost=0, duplicates=0, reordered=0,
    lost_ranges=(), lost_before_stop=0, lost_after_stop=0, latency_p50_ms=1.5,
    latency_p99_ms=9.0, requested_rate=None, achieved_rate=5000.0, blocked_s=0.0,
    hops={"app": 1000, "router_in": 1000, "router_out": 1000, "sink": 1000}, lost_at="none",
    foreign=0, unparsable=0, malformed_frames=0, app_exit_code=0, app_killed=False,
    router_killed=False, seconds=12.0)
LOSSY = dataclasses.replace(
    BASE, trial=2, received_distinct=900, received_total=905, lost=100, duplicates=5,
    lost_ranges=((0, 900, 999),), lost_after_stop=100,
    hops={"app": 1000, "router_in": 900, "router_out": 900, "sink": 900}, lost_at="app->router_in")


def test_where_lost_picks_the_hop_pair_with_the_biggest_gap() -> None:
    assert where_lost({"app": 1000, "router_in": 900, "router_out": 880, "sink": 880}) == \
        "app->router_in"
    assert where_lost({"app": 1000, "router_in": 1000, "router_out": 700, "sink": 700}) == \
        "router_in->router_out"
    assert where_lost({"app": 1000, "router_in": None, "router_out": None, "sink": 990}) == \
        "app->sink"
    assert where_lost({"app": 10, "router_in": 10, "router_out": 10, "sink": 10}) == "none"


def test_where_lost_skips_a_router_hop_that_counted_less_than_the_sink() -> None:
    # A restarted router's counters cover only its last process.
    assert where_lost({"app": 1000, "router_in": 400, "router_out": 400, "sink": 1000}) == "none"
    assert where_lost({"app": 1000, "router_in": 400, "router_out": 400, "sink": 990}) == \
        "app->sink"
    assert where_lost({"app": 1000, "router_in": 995, "router_out": 400, "sink": 990}) == \
        "app->router_in"


def test_summary_counts_trials_that_lost() -> None:
    direct = dataclasses.replace(BASE, topology="direct-tcp", achieved_rate=3000.0)
    cells = summarize([BASE, LOSSY, direct])
    assert [c.label for c in cells] == ["firelens/builtin/ecs", "direct-tcp/builtin/ecs"]
    fire = cells[0]
    assert (fire.trials, fire.trials_with_loss, fire.lost_mean, fire.lost_min, fire.lost_max) == (
        2, 1, 50.0, 0, 100)
    assert (fire.lost_pct_mean, fire.duplicates, fire.lost_at) == (5.0, 5, "app->router_in")
    assert cells[1].achieved_rate_mean == 3000.0


def test_max_loss_verdict() -> None:
    assert over_max_loss([BASE, LOSSY], None) == []
    assert over_max_loss([BASE, LOSSY], 100) == []
    assert over_max_loss([BASE, LOSSY], 99) == ["firelens/builtin/ecs"]


def test_results_json_schema(tmp_path: Path) -> None:
    path = RunResults("r1", tmp_path, {"run_id": "r1"}, (BASE, LOSSY)).write_json()
    assert path == tmp_path / "results.json"
    data = json.loads(path.read_text())
    trial = data["trials"][1]
    assert data["run_id"] == "r1" and len(data["trials"]) == 2 and len(data["cells"]) == 1
    assert trial["lost_ranges"] == [[0, 900, 999]]
    assert trial["latency_ms"] == {"p50": 1.5, "p99": 9.0}
    assert {k: trial[k] for k in ("emitted", "received_distinct", "lost", "lost_before_stop",
                                  "lost_after_stop", "duplicates")} == {
        "emitted": 1000, "received_distinct": 900, "lost": 100, "lost_before_stop": 0,
        "lost_after_stop": 100, "duplicates": 5}


def test_terminal_report_shows_lost_ranges() -> None:
    console = Console(record=True, width=250)
    print_report(console, RunResults("r1", Path("runs/r1"), {}, (BASE, LOSSY)))
    text = console.export_text()
    assert "900-999" in text and "app->router_in" in text and "1/2 (9%-91%)" in text


def test_engines_side_by_side_only_when_they_differ_from_local() -> None:
    local = {"name": "local", "version": "20.10.24", "kernel": "6.1", "cpus": 2}
    other = {"name": "docker26", "version": "26.1.5", "kernel": "6.1", "cpus": 2}
    trials = (dataclasses.replace(BASE, engine=EngineFacts(**local)),
              dataclasses.replace(LOSSY, engine=EngineFacts(**other), achieved_rate=3000.0))
    rows = engine_rows([local, other], (*trials, dataclasses.replace(
        BASE, topology="direct-tcp", engine=EngineFacts(**other), achieved_rate=2000.0)))
    # Per engine and topology: one lost % over FireLens and direct TCP would mix them.
    assert [(r.name, r.topology, r.trials, r.emitted, r.lost, r.lost_pct, r.rate_mean)
            for r in rows] == [
        ("local", "firelens", 1, 1000, 0, 0.0, 5000.0),
        ("docker26", "firelens", 1, 1000, 100, 10.0, 3000.0),
        ("docker26", "direct-tcp", 1, 1000, 0, 0.0, 2000.0)]
    assert engine_rows([{"name": "idle"}], trials)[0].rate_mean is None
    assert (compared([local]), compared([other]), compared([local, other])) == (
        False, True, True)
    console = Console(record=True, width=250)
    print_report(console, RunResults("r1", Path("runs/r1"), {"engines": [local, other]},
                                     trials))
    assert ("│ docker26 │ 26.1.5   │ 6.1    │    2 │ firelens │      1 │   1,000 │  100 │  "
            "10.00 │") in console.export_text()
