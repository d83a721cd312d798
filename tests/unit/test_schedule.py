"""The schedule: which trial runs next from the results so far; fixed trials are the same loop
with a fixed rule; `trials: auto` stops a cell once the rule decides it (and on resume, from the
trials that finished)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from test_resume import RESULT

from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import TrialFailure, TrialResult
from pipeline_tests._results.verdict import verdict
from pipeline_tests._run.schedule import PlannedTrial, Schedule
from pipeline_tests._scenario import matrix
from pipeline_tests._scenario.scenario import Scenario, to_dict


def outcome(planned: PlannedTrial, lost: int) -> TrialResult:
    return dataclasses.replace(RESULT, topology=planned.spec.topology, router="builtin",
                               stop="ecs", trial=planned.spec.trial, lost=lost)


def drive(schedule: Schedule, losses: dict[str, list[int]]) -> list[tuple[str, int]]:
    """Run the schedule to its end on one engine; each cell's trials lose as listed."""
    ran = []
    while (planned := schedule.take("local")) is not None:
        lost = losses[planned.spec.topology][planned.spec.trial - 1]
        schedule.record(planned, outcome(planned, lost))
        ran.append((planned.spec.topology, planned.spec.trial))
    assert schedule.idle()
    return ran


def test_fixed_trials_run_every_cell_n_times(tmp_path: Path) -> None:
    scenario = Scenario(trials=2)
    schedule = Schedule(matrix.cells_of(scenario), "r1", tmp_path, {}, scenario)
    assert drive(schedule, {"firelens": [5, 5], "direct-tcp": [0, 0]}) == [
        ("firelens", 1), ("firelens", 2), ("direct-tcp", 1), ("direct-tcp", 2)]
    progress = schedule.progress()
    assert [(c.label, c.trials, c.left_at_most, c.answer, c.stopped) for c in progress.cells] == [
        ("firelens/builtin/ecs", 2, 0, "", "2 trials"),
        ("direct-tcp/builtin/ecs", 2, 0, "", "2 trials")]
    assert (progress.left_at_most, progress.confidence) == (0, None)


def test_auto_stops_each_cell_once_decided(tmp_path: Path) -> None:
    scenario = Scenario(trials="auto", max_trials=6)
    schedule = Schedule(matrix.cells_of(scenario), "r1", tmp_path, {}, scenario)
    first = schedule.progress()
    assert (first.left_at_most, first.decided, first.confidence) == (12, (), 0.95)
    ran = drive(schedule, {"firelens": [9, 9, 9], "direct-tcp": [0, 3, 3, 0, 3, 0]})
    assert ran == [("firelens", 1), ("firelens", 2), ("direct-tcp", 1), ("direct-tcp", 2),
                   ("direct-tcp", 3), ("direct-tcp", 4), ("direct-tcp", 5), ("direct-tcp", 6)]
    cells = schedule.progress().cells
    assert [(c.trials, c.answer, c.stopped) for c in cells] == [
        (2, "loses", "decided at 95%"), (6, "undecided", "reached max_trials (6)")]


def test_auto_looks_at_each_outcome_before_the_next_trial(tmp_path: Path) -> None:
    scenario = Scenario(trials="auto", topologies=("firelens",))
    schedule = Schedule(matrix.cells_of(scenario), "r1", tmp_path, {}, scenario)
    first = schedule.take("local")
    assert first is not None and schedule.take("local") is None  # waits for its outcome
    assert not schedule.idle()
    assert schedule.take("docker26") is None  # a cell runs only on its own engines
    schedule.record(first, TrialFailure("firelens", "builtin", "ecs", 1, "broken"))
    second = schedule.take("local")
    assert second is not None and second.spec.trial == 2  # a failure is an attempt
    assert second.spec.project == "pt-r1-2"
    assert second.spec.directory == tmp_path / "firelens__2"


def test_auto_resumes_from_the_trials_that_finished(tmp_path: Path) -> None:
    scenario = Scenario(trials="auto")
    cells = matrix.cells_of(scenario)
    done = {"firelens__1": dataclasses.replace(RESULT, topology="firelens", router="builtin",
                                               stop="ecs", trial=1, lost=10)}
    schedule = Schedule(cells, "r1", tmp_path, done, scenario)
    assert schedule.finished() == [dataclasses.replace(
        done["firelens__1"], cell="firelens/builtin/ecs", axes=cells[0].axes)]
    assert "direct-tcp__10" in schedule.directories() and len(schedule.directories()) == 20
    assert drive(schedule, {"firelens": [10, 10], "direct-tcp": [0, 0]}) == [
        ("firelens", 2), ("direct-tcp", 1), ("direct-tcp", 2)]


def test_results_json_and_the_verdict_say_why_each_cell_stopped(tmp_path: Path) -> None:
    scenario = Scenario(trials="auto")
    lost = [dataclasses.replace(RESULT, topology="firelens", router="builtin", stop="ecs",
                                trial=n, lost=100, lost_before_stop=100, lost_after_stop=0)
            for n in (1, 2)]
    clean = [dataclasses.replace(RESULT, topology="direct-tcp", router="builtin", stop="ecs",
                                 trial=n, lost=0, lost_ranges=(), received_distinct=1000,
                                 requested_rate=None)
             for n in (1, 2)]
    results = RunResults("r1", tmp_path, {"run_id": "r1", "scenario": to_dict(scenario)},
                         (*lost, *clean))
    data = results.as_json()
    assert [(c["label"], c["stopped"], c["decision"]["answer"]) for c in data["cells"]] == [
        ("firelens/builtin/ecs", "decided at 95%", "loses"),
        ("direct-tcp/builtin/ecs", "decided at 95%", "does not lose")]
    assert data["stopping_rule"] == {
        "rule": "Wald's sequential probability ratio test (1945)", "h0_loss_share": 0.1,
        "h1_loss_share": 0.9, "alpha": 0.05, "beta": 0.05, "max_trials": 10}
    text = results.verdict
    assert "(loses: decided at 95% confidence after 2 trials)" in text
    assert "(does not lose: decided at 95% confidence after 2 trials)" in text
    assert text.endswith(
        "At 95% confidence (Wald's sequential probability ratio test (1945), each cell stopped "
        "once decided): the cells differ: firelens/builtin/ecs loses; direct-tcp/builtin/ecs "
        "does not.")
    assert "decided" not in verdict((*lost, *clean))  # fixed trials: as before
