"""A scenario's `search:`: the section's checks, the bisection's points from the answers so
far, the brackets per cell, and the schedule that runs it (outcomes made up, no Docker)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_resume import RESULT

from pipeline_tests._errors import InputError
from pipeline_tests._results import frontier
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.sequential import CLEAN, LOSES, UNDECIDED
from pipeline_tests._run.schedule import SearchSchedule, in_cell, schedule_for
from pipeline_tests._scenario import matrix
from pipeline_tests._scenario.scenario import Scenario, to_dict
from pipeline_tests._scenario.search import Search

RATES = Search(axis="workload.rate", range=(1000.0, 100000.0))


def walk(search: Search, loses: object) -> list[object]:
    """The points tried when each point's answer is loses(value)."""
    answers: dict[object, str] = {}
    while (value := frontier.next_value(search, answers)) is not None:
        answers[value] = loses(value)  # type: ignore[operator]
    return list(answers)


def test_bisection_of_a_rate_finds_the_boundary_within_the_resolution() -> None:
    tried = walk(RATES, lambda v: LOSES if v > 17000 else CLEAN)
    assert tried == [100000, 1000, 10000, 32000, 18000, 13000, 15000]  # 18,000 / 15,000 <= 1.25
    answers = {v: LOSES if v > 17000 else CLEAN for v in tried}
    assert frontier._nearest(RATES, answers) == (15000, 18000)


def test_no_loss_at_the_high_end_ends_the_search_at_once() -> None:
    assert walk(RATES, lambda v: CLEAN) == [100000]
    assert walk(RATES, lambda v: LOSES) == [100000, 1000]


def test_an_undecided_point_is_where_loss_starts() -> None:
    assert walk(RATES, lambda v: UNDECIDED if v == 10000 else LOSES if v > 10000 else CLEAN
                ) == [100000, 1000, 10000]


def test_task_sizes_bisect_on_the_list_and_the_small_end_first() -> None:
    sizes = Search(axis="task.size", values=("0.25vcpu-0.5gb", "0.5vcpu-1gb", "1vcpu-2gb",
                                             "2vcpu-4gb", "4vcpu-8gb"))
    tried = walk(sizes, lambda v: LOSES if v in ("0.25vcpu-0.5gb", "0.5vcpu-1gb") else CLEAN)
    assert tried == ["0.25vcpu-0.5gb", "4vcpu-8gb", "1vcpu-2gb", "0.5vcpu-1gb"]
    cpus = Search(axis="limits.router_cpus", range=(0.05, 1.0), resolution=1.5)
    assert walk(cpus, lambda v: LOSES if v < 0.3 else CLEAN) == [0.05, 1.0, 0.22, 0.47, 0.32]


def test_points_left_is_an_upper_bound() -> None:
    assert frontier.points_left(RATES, {}) == 2 + 5
    assert frontier.points_left(RATES, {100000: CLEAN}) == 0
    tried = walk(RATES, lambda v: LOSES if v > 17000 else CLEAN)
    assert len(tried) <= frontier.points_left(RATES, {})
    assert frontier.points_left(RATES, {100000: LOSES, 1000: CLEAN, 10000: CLEAN}) == 4


@pytest.mark.parametrize(("search", "message"), [
    ({"axis": "workload.line_size", "range": [1, 2]}, "'search.axis' must be one of "
     "workload.rate, task.cpus, limits.router_cpus, task.size, got 'workload.line_size'."),
    ({"axis": "workload.rate"}, "'search.range' must give [low, high] for workload.rate (and "
     "no 'values')."),
    ({"axis": "workload.rate", "range": [100, 10]}, "'search.range' must be two numbers [low, "
     "high] with 0 < low < high, e.g. [1000, 100000], got [100, 10]."),
    ({"axis": "workload.rate", "range": [1, 10], "question": "lowest rate"}, "'search.question' "
     "for workload.rate is 'highest rate without loss', got 'lowest rate'."),
    ({"axis": "task.size", "values": ["0.25vcpu-0.5gb", "3vcpu-1gb"]}, "'search.values': "
     "Fargate has no 3 vCPU task size; vCPU values: 0.25, 0.5, 1, 2, 4, 8, 16."),
    ({"axis": "workload.rate", "range": [1, 10], "resolution": 1}, "'search.resolution' must "
     "be a ratio > 1 (the search stops once high / low is at most this), got 1."),
])
def test_bad_search_sections(search: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as err:
        Scenario().with_overrides({"search": search})
    assert str(err.value) == f"command line: {message}"


def test_a_search_axis_in_the_matrix_is_refused() -> None:
    with pytest.raises(InputError, match="'search.axis' workload.rate is also a matrix axis"):
        Scenario().with_overrides({"search": {"axis": "workload.rate", "range": [1, 10]},
                                   "matrix": {"workload.rate": [1, 2]}})


def outcome(planned: object, lost: int) -> object:
    spec = planned.spec  # type: ignore[attr-defined]
    return in_cell(dataclasses.replace(
        RESULT, topology=spec.topology, router="builtin", stop="ecs", trial=spec.trial,
        lost=lost, lost_before_stop=lost, lost_after_stop=0,
        requested_rate=spec.scenario.workload.rate), planned.cell)  # type: ignore[attr-defined]


def test_the_search_schedule_runs_two_trials_per_point_and_brackets(tmp_path: Path) -> None:
    scenario = Scenario(stop=Scenario().stop).with_overrides(
        {"search": {"axis": "workload.rate", "range": [1000, 100000], "resolution": 2}})
    schedule = schedule_for(matrix.cells_of(scenario), "r1", tmp_path, {}, scenario)
    assert isinstance(schedule, SearchSchedule)
    assert schedule.progress().left_at_most == 2 * 10 * (2 + 3)
    ran, trials = [], []
    while (planned := schedule.take("local")) is not None:
        rate = planned.spec.scenario.workload.rate
        loses = planned.spec.topology == "firelens" and rate > 17000
        trials.append(outcome(planned, 50 if loses else 0))
        schedule.record(planned, trials[-1])  # type: ignore[arg-type]
        ran.append((planned.spec.topology, rate, planned.spec.trial))
    assert schedule.idle()
    assert ran == [("firelens", r, n) for r in (100000, 1000, 10000, 32000, 18000)
                   for n in (1, 2)] + [("direct-tcp", 100000, 1), ("direct-tcp", 100000, 2)]
    results = RunResults("r1", tmp_path, {"run_id": "r1", "scenario": to_dict(scenario)},
                         tuple(trials))  # type: ignore[arg-type]
    found = results.brackets
    assert [(b.cell, b.safe, b.lossy, b.confidence, b.trials) for b in found] == [
        ("firelens/builtin/ecs", 10000, 18000, 0.95, 10),
        ("direct-tcp/builtin/ecs", 100000, None, 0.95, 2)]
    assert found[0].text == (
        "firelens/builtin/ecs: highest rate without loss between 10,000 and 18,000 lines/s (no "
        "loss at 10,000, loss at 18,000; 95% confidence, 10 trials)")
    assert found[1].text == ("direct-tcp/builtin/ecs: no loss anywhere in the range (at 100,000 "
                             "lines/s)")
    assert results.as_json()["search"][0]["points"][0] == {
        "value": 100000, "reached": 299.5, "answer": "loses", "decided_after": 2, "losses": 2,
        "confidence": 0.975, "stopped": "decided at 97.5%"}
    cells = schedule.progress().cells
    assert [(c.stopped, c.left_at_most) for c in cells] == [("bracketed at 95%", 0)] * 2


def test_a_resumed_search_replays_its_points(tmp_path: Path) -> None:
    scenario = Scenario(topologies=("firelens",)).with_overrides(
        {"search": {"axis": "workload.rate", "range": [1000, 100000]}})
    first = schedule_for(matrix.cells_of(scenario), "r1", tmp_path, {}, scenario)
    done = {}
    for _ in range(3):
        planned = first.take("local")
        assert planned is not None
        result = outcome(planned, 50)
        first.record(planned, result)  # type: ignore[arg-type]
        done[planned.spec.directory.name] = result
    again = schedule_for(matrix.cells_of(scenario), "r1", tmp_path, done, scenario)
    assert len(again.finished()) == 3
    planned = again.take("local")
    assert planned is not None
    assert (planned.spec.scenario.workload.rate, planned.spec.trial) == (1000, 2)
