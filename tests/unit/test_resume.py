import dataclasses
import json
from pathlib import Path

import pytest

from pipeline_tests._errors import InputError
from pipeline_tests._results.stored import (
    check_same_scenario,
    discard_unfinished,
    finished_trials,
    load_result,
    open_run,
    run_ids,
    scenario_differences,
    stored_header,
)
from pipeline_tests._results.trial_result import TrialResult
from pipeline_tests._scenario.scenario import Scenario, to_dict

RESULT = TrialResult(
    topology="firelens", router="builtin", stop="kill", trial=2, line_run_id="0badcafe",
    emitted=1000, received_distinct=900, received_total=905, lost=100, duplicates=5, reordered=3,
    lost_ranges=((0, 900, 949), (1, 10, 59)), lost_before_stop=0, lost_after_stop=100,
    latency_p50_ms=1.5, latency_p99_ms=None, requested_rate=300, achieved_rate=299.5,
    blocked_s=0.25, hops={"app": 1000, "router_in": None, "router_out": None, "sink": 900},
    lost_at="app->sink", foreign=1, unparsable=2, malformed_frames=0, app_exit_code=137,
    app_killed=True, router_killed=False, seconds=12.5)


def save(directory: Path, data: object) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "result.json").write_text(json.dumps(data, indent=2))


def test_load_result_is_the_inverse_of_as_json() -> None:
    assert load_result(json.loads(json.dumps(RESULT.as_json()))) == RESULT
    no_latency = dataclasses.replace(RESULT, latency_p50_ms=None, hops={"app": 5}, lost_ranges=())
    assert load_result(json.loads(json.dumps(no_latency.as_json()))) == no_latency


def test_load_result_names_a_missing_field() -> None:
    data = RESULT.as_json()
    del data["emitted"]
    with pytest.raises(ValueError, match="result has no 'emitted'"):
        load_result(data)


def test_finished_trials_only_complete_results(tmp_path: Path) -> None:
    save(tmp_path / "firelens__1", RESULT.as_json())
    save(tmp_path / "firelens__2", dataclasses.replace(RESULT, trial=3).as_json())
    (tmp_path / "firelens__3" / "app").mkdir(parents=True)  # interrupted: no result.json
    (tmp_path / "direct-tcp__1").mkdir()
    (tmp_path / "direct-tcp__1" / "result.json").write_text('{"topology": "dir')  # cut short
    save(tmp_path / "direct-tcp__2", {"topology": "direct-tcp"})  # an older, smaller schema
    (tmp_path / "results.json").write_text("{}")
    finished = finished_trials(tmp_path)
    assert sorted(finished) == ["firelens__1", "firelens__2"]
    assert finished["firelens__1"] == RESULT.as_json()
    assert load_result(finished["firelens__2"]).trial == 3


def test_discard_unfinished_removes_only_planned_unfinished_dirs(tmp_path: Path) -> None:
    save(tmp_path / "firelens__1", RESULT.as_json())
    (tmp_path / "firelens__2" / "app").mkdir(parents=True)
    (tmp_path / "firelens__2" / "app" / "tally").write_bytes(b"stale")
    (tmp_path / "direct-tcp__1").mkdir()
    (tmp_path / "notes").mkdir()
    removed = discard_unfinished(tmp_path, ["firelens__1", "firelens__2", "direct-tcp__1",
                                            "direct-tcp__2"])
    assert removed == ["firelens__2", "direct-tcp__1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["firelens__1", "notes"]


def test_open_run(tmp_path: Path) -> None:
    for run_id in ("20240102-100000-aaaa", "20240101-090000-bbbb"):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "results.json").write_text("{}")
    (tmp_path / "scratch").mkdir()  # not a run: no results.json
    assert open_run(tmp_path, "20240101-090000-bbbb") == tmp_path / "20240101-090000-bbbb"
    assert run_ids(tmp_path) == ["20240101-090000-bbbb", "20240102-100000-aaaa"]
    with pytest.raises(InputError) as caught:
        open_run(tmp_path, "20240103-nope")
    assert str(caught.value) == (
        f"Cannot resume run '20240103-nope': no directory {tmp_path / '20240103-nope'}. "
        f"Runs in {tmp_path}: 20240101-090000-bbbb, 20240102-100000-aaaa. Pass one of these to "
        "--resume (and the same --out), or start a new run.")


def test_open_run_without_runs_and_with_a_path_as_id(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        open_run(tmp_path / "runs", "x")
    assert str(caught.value) == (
        f"Cannot resume run 'x': no directory {tmp_path / 'runs' / 'x'}. There are no runs in "
        f"{tmp_path / 'runs'}. Pass one of these to --resume (and the same --out), or start a "
        "new run.")
    (tmp_path / "a" / "b").mkdir(parents=True)
    with pytest.raises(InputError):
        open_run(tmp_path, "a/b")
    with pytest.raises(InputError):
        open_run(tmp_path, "..")


def test_open_run_lists_only_the_newest_runs(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"run{i:02d}").mkdir()
        (tmp_path / f"run{i:02d}" / "results.json").write_text("{}")
    with pytest.raises(InputError) as caught:
        open_run(tmp_path, "x")
    assert (f"Runs in {tmp_path}: run02, run03, run04, run05, run06, run07, run08, run09, "
            "run10, run11 (and 2 older).") in str(caught.value)


def test_stored_header(tmp_path: Path) -> None:
    header = {"run_id": "r1", "scenario": to_dict(Scenario()), "trials": []}
    (tmp_path / "results.json").write_text(json.dumps(header))
    assert stored_header(tmp_path) == json.loads(json.dumps(header))
    (tmp_path / "results.json").write_text('{"run_id": "r1"}')
    with pytest.raises(InputError) as caught:
        stored_header(tmp_path)
    assert str(caught.value) == (f"Cannot use the run in {tmp_path}: {tmp_path / 'results.json'} "
                                 "has no 'scenario'. Start a new run.")
    (tmp_path / "results.json").unlink()
    with pytest.raises(InputError) as caught:
        stored_header(tmp_path)
    assert str(caught.value).startswith(
        f"Cannot use the run in {tmp_path}: {tmp_path / 'results.json'} is missing or "
        "unreadable (")


def test_same_scenario_after_a_json_round_trip_has_no_differences(tmp_path: Path) -> None:
    stored = json.loads(json.dumps(to_dict(Scenario())))
    assert scenario_differences(stored, to_dict(Scenario())) == []
    check_same_scenario(stored, to_dict(Scenario()), tmp_path)


def test_scenario_differences_name_each_key() -> None:
    stored = json.loads(json.dumps(to_dict(Scenario())))
    current = to_dict(Scenario().with_overrides(
        **{"workload.rate": 300, "topologies": ["firelens"], "stop.sequence": "kill"}))
    assert scenario_differences(stored, current) == [
        'stop.sequence: was "ecs", now "kill"',
        'topologies: was ["firelens", "direct-tcp"], now ["firelens"]',
        "workload.rate: was null, now 300",
    ]
    assert scenario_differences({"a": {"b": 1}}, {"a": {"c": 1}}) == [
        "a.b: was 1, now (absent)", "a.c: was (absent), now 1"]


def test_check_same_scenario_says_to_start_a_new_run(tmp_path: Path) -> None:
    stored = json.loads(json.dumps(to_dict(Scenario())))
    current = to_dict(Scenario().with_overrides(trials=5))
    with pytest.raises(InputError) as caught:
        check_same_scenario(stored, current, tmp_path)
    assert str(caught.value) == (
        f"Cannot resume {tmp_path}: the scenario differs from the one it started with "
        "(trials: was \"auto\", now 5). Resume with the same scenario file and flags, or start a "
        "new run (without --resume).")
