"""Topology `aggregator` on the real engine: app -> sidecar -> aggregator -> sink, with a count
at each tier; the task stops, the aggregator outlives it and ends on its own, each tier counted
from its own state; a fault on the aggregator."""

import json
import re
from pathlib import Path
from typing import Any

import docker
import pytest

import pipeline_tests as pt

pytestmark = pytest.mark.docker


def aggregator(**overrides: Any) -> pt.Scenario:
    return pt.Scenario().with_overrides({"topologies": ["aggregator"], "trials": 1,
                                         "stop.after": 2, "workload.rate": 1000, **overrides})


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
    assert trial.log_errors == () and trial.hop_unknown == {}


def test_the_stop_ends_the_task_not_the_aggregator(image: str, tmp_path: Path,
                                                   client: docker.DockerClient) -> None:
    steps: list[tuple[str, str]] = []

    def record(event: pt.Event) -> None:
        if isinstance(event, pt.StopStep):
            steps.append((event.container, event.action))

    results = pt.run(aggregator(), tmp_path, on_event=record)
    trial = only_trial(results)
    # ECS order for the task; the aggregator is no part of it, delivers after it stopped and
    # ends on its own once the sink drained.
    assert steps == [("app", "SIGTERM"), ("app", "exited"), ("router", "SIGTERM"),
                     ("router", "exited"), ("aggregator", "SIGTERM"), ("aggregator", "exited")]
    second = json.loads((tmp_path / results.run_id / "aggregator__1" / "aggregator"
                         / "router.json").read_text())
    assert second["state"] == "exited"  # its counters as it wrote them at its own exit
    assert second["received"] == second["forwarded"] == trial.received_distinct == trial.emitted
    assert client.containers.list(all=True, filters={"name": results.run_id}) == []


def test_a_dead_aggregator_is_a_finding_with_the_sidecars_own_words(image: str,
                                                                   tmp_path: Path) -> None:
    trial = only_trial(pt.run(aggregator(**{"fault.kind": "router-kill",
                                            "fault.target": "aggregator", "fault.at": 0.5}),
                              tmp_path))
    assert trial.lost > 0 and trial.hops["aggregator_in"] < trial.hops["router_in"]
    # The sidecar's own words, once per outage.
    (error,) = trial.log_errors
    assert (error.tier, error.count) == ("router", 1)
    assert error.first.startswith("router: sink 127.0.0.1:") and (
        "unavailable (ConnectionRefusedError(111, " in error.first)
    # On a busy machine the kill at 0.5 s may come before the sidecar delivered anything.
    assert re.search(r'the sidecar (delivered nothing and )?logged "router: sink 127\.0\.0\.1:',
                     results_verdict(tmp_path))


def results_verdict(out: Path) -> str:
    (run,) = [p for p in out.iterdir() if (p / "results.json").is_file()]
    return str(json.loads((run / "results.json").read_text())["verdict"])


@pytest.mark.parametrize("tier", ["router", "aggregator"])
def test_each_tier_counted_exactly_at_its_own_end(image: str, tmp_path: Path,
                                                  tier: str) -> None:
    # One tier drops what it holds when it ends (no flush at shutdown, a flush interval
    # longer than the trial): the sidecar at the task's stop, the aggregator at its own end,
    # after the drain. The other tiers' counts stay exact, and the loss is inside that tier.
    trial = only_trial(pt.run(aggregator(**{
        "stop.after": 3, "stop.drain": 3, f"{tier}.flush_interval": 60,
        f"{tier}.flush_at_shutdown": False}), tmp_path))
    n, m = trial.emitted, trial.received_distinct
    assert n >= 1_500 and 0 <= m < n and trial.lost == n - m
    held = {"router_out": m, "aggregator_in": m} if tier == "router" else {
        "router_out": n, "aggregator_in": n}
    assert trial.hops == {"app": n, "router_in": n, **held, "aggregator_out": m, "sink": m}
    assert trial.lost_at == f"{tier}_in->{tier}_out"
    name = "sidecar" if tier == "router" else "aggregator"
    assert (f"all inside the {name} (accepted by its input, not delivered), all emitted "
            "before SIGTERM") in results_verdict(tmp_path)


def test_fault_target_aggregator_needs_the_topology() -> None:
    with pytest.raises(pt.InputError) as err:
        pt.Scenario().with_overrides({"topologies": ["firelens"], "fault.target": "aggregator"})
    assert str(err.value) == ("command line: 'fault.target: aggregator' needs the aggregator "
                              "topology.")
