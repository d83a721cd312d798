"""Topology `aggregator` on the real engine: app -> sidecar -> aggregator -> sink, with a count
at each tier; the task stops, the aggregator outlives it; a fault on the aggregator."""

import json
from pathlib import Path
from typing import Any

import docker
import pytest

import pipeline_tests as pt

pytestmark = pytest.mark.docker


def aggregator(**overrides: Any) -> pt.Scenario:
    return pt.Scenario().with_overrides({"topologies": ["aggregator"], "trials": 1,
                                         "stop.after": 2, "workload.rate": 2000, **overrides})


def only_trial(results: pt.RunResults) -> pt.TrialResult:
    assert results.failures == ()
    (trial,) = results.trials
    assert trial.lost == trial.emitted - trial.received_distinct
    return trial


@pytest.mark.parametrize("way_in", ["firelens", "direct-tcp"])
def test_every_tier_counts_every_line(image: str, tmp_path: Path, way_in: str) -> None:
    trial = only_trial(pt.run(aggregator(**{"aggregator.input": way_in}), tmp_path))
    n = trial.emitted
    assert n >= 1_000 and trial.lost == 0 and trial.lost_at == "none"
    assert trial.hops == {"app": n, "router_in": n, "router_out": n, "aggregator_in": n,
                          "aggregator_out": n, "sink": n}
    assert trial.tier_errors == ()


def test_the_stop_ends_the_task_not_the_aggregator(image: str, tmp_path: Path,
                                                   client: docker.DockerClient) -> None:
    steps: list[tuple[str, str]] = []

    def record(event: pt.Event) -> None:
        if isinstance(event, pt.StopStep):
            steps.append((event.container, event.action))

    results = pt.run(aggregator(), tmp_path, on_event=record)
    trial = only_trial(results)
    # ECS order for the task; the aggregator is no part of it and delivers after it stopped.
    assert steps == [("app", "SIGTERM"), ("app", "exited"), ("router", "SIGTERM"),
                     ("router", "exited")]
    second = json.loads((tmp_path / results.run_id / "aggregator__1" / "aggregator"
                         / "router.json").read_text())
    assert second["received"] == second["forwarded"] == trial.received_distinct == trial.emitted
    assert client.containers.list(all=True, filters={"name": results.run_id}) == []


def test_a_dead_aggregator_is_a_finding_with_the_sidecars_own_words(image: str,
                                                                   tmp_path: Path) -> None:
    trial = only_trial(pt.run(aggregator(**{"fault.kind": "router-kill",
                                            "fault.target": "aggregator", "fault.at": 0.5}),
                              tmp_path))
    assert trial.lost > 0 and trial.hops["aggregator_in"] < trial.hops["router_in"]
    assert trial.tier_errors != ()
    assert all("unavailable (ConnectionRefusedError" in line for line in trial.tier_errors)


def test_fault_target_aggregator_needs_the_topology() -> None:
    with pytest.raises(pt.InputError) as err:
        pt.Scenario().with_overrides({"topologies": ["firelens"], "fault.target": "aggregator"})
    assert str(err.value) == ("command line: 'fault.target: aggregator' needs the aggregator "
                              "topology.")
