"""Cell labels keep one shape whatever the axes; results.cell() selects by label or by values;
a run written before labels had that shape reads back with the new labels."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from test_report import BASE

import pipeline_tests as pt
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import cell_label


def _in(axes: dict[str, Any], lost: int = 0) -> pt.TrialResult:
    full = {"router.kind": "builtin", "stop.sequence": "ecs", **axes}
    return dataclasses.replace(BASE, topology=full["topology"], router=full["router.kind"],
                               cell=cell_label(full), axes=full, lost=lost)


RESULTS = RunResults("r1", Path("/tmp/r1"), {}, (
    _in({"topology": "firelens", "workload.rate": 300}),
    _in({"topology": "firelens", "workload.rate": 30000}, lost=7),
    _in({"topology": "aggregator", "router.kind": "fluent-bit", "aggregator.kind": "fluentd",
         "workload.rate": 300})))


def test_a_label_names_topology_router_stop_then_the_other_axes() -> None:
    assert [c.label for c in RESULTS.cells] == [
        "firelens/builtin/ecs (workload.rate=300)", "firelens/builtin/ecs (workload.rate=30000)",
        "aggregator/fluent-bit>fluentd/ecs (workload.rate=300)"]
    assert cell_label({"topology": "direct-tcp", "router.kind": "fluentd",
                       "stop.sequence": "kill", "driver.fluentd_async": False}) == \
        "direct-tcp/fluentd/kill (driver.fluentd_async=false)"


def test_cell_selects_by_label_or_by_values() -> None:
    assert RESULTS.cell("firelens/builtin/ecs (workload.rate=30000)").lost_max == 7
    assert RESULTS.cell(topology="firelens", workload_rate=30000).lost_max == 7
    assert RESULTS.cell(**{"workload.rate": 30000}).lost_max == 7
    assert RESULTS.cell(router="fluent-bit", aggregator="fluentd").label == \
        "aggregator/fluent-bit>fluentd/ecs (workload.rate=300)"
    assert RESULTS.cell(topology="aggregator", stop="ecs").trials == 1


def test_cell_names_every_cell_unless_exactly_one_matches() -> None:
    known = ("its cells: firelens/builtin/ecs (workload.rate=300); firelens/builtin/ecs "
             "(workload.rate=30000); aggregator/fluent-bit>fluentd/ecs (workload.rate=300)")
    with pytest.raises(KeyError) as several:
        RESULTS.cell(topology="firelens")
    assert several.value.args[0] == f"2 cells match topology=firelens in run r1; {known}"
    with pytest.raises(KeyError) as none:
        RESULTS.cell(topology="firelens", workload_rate=301)
    assert none.value.args[0] == \
        f"no cells match topology=firelens, workload.rate=301 in run r1; {known}"
    with pytest.raises(KeyError) as unknown:
        RESULTS.cell("firelens/builtin/ecs")
    assert unknown.value.args[0] == f"no cells match 'firelens/builtin/ecs' in run r1; {known}"
    with pytest.raises(TypeError):
        RESULTS.cell("firelens/builtin/ecs (workload.rate=300)", topology="firelens")


def test_a_run_written_with_the_old_labels_reads_back_with_the_new(tmp_path: Path) -> None:
    old = {k: v for k, v in BASE.as_json().items() if k != "axes"}
    trials = [{**old, "cell": "topology=firelens,workload.rate=300,driver.fluentd_async=false"},
              {**old, "topology": "direct-tcp", "cell": ""}]
    failed = {"topology": "firelens", "router": "builtin", "stop": "ecs", "trial": 2,
              "reason": "r", "cell": "topology=firelens,workload.rate=300,"
              "driver.fluentd_async=false", "engine": "local", "status": "failed"}
    (tmp_path / "results.json").write_text(json.dumps(
        {"run_id": "old", "scenario": {}, "trials": trials, "failed_trials": [failed]}))
    results = pt.load_results(tmp_path)
    label = "firelens/builtin/ecs (workload.rate=300, driver.fluentd_async=false)"
    assert [t.label for t in results.trials] == [label, "direct-tcp/builtin/ecs"]
    assert [f.label for f in results.failures] == [label]
    assert results.cell(workload_rate=300, driver_fluentd_async=False).label == label


def test_engine_facts_and_driver_evidence_are_typed_and_keep_their_json(tmp_path: Path) -> None:
    engine = {"name": "local", "version": "20.10.24", "api_version": "1.41", "kernel": "6.1",
              "os": "Debian", "cpus": 2, "cgroup": "v1 cgroupfs"}
    evidence = {"source": "/var/log/dockerd.log", "lines": 3, "discarding": 1,
                "events_discarded": None, "reason": "dockerd does not say how many"}
    old = {**BASE.as_json(), "engine": engine, "driver_evidence": evidence}
    (tmp_path / "results.json").write_text(json.dumps(
        {"run_id": "old", "scenario": {}, "trials": [old]}))
    (trial,) = pt.load_results(tmp_path).trials
    assert trial.engine == pt.EngineFacts("local", "20.10.24", "1.41", "6.1", "Debian", 2,
                                          "v1 cgroupfs")
    assert trial.driver_evidence == pt.DriverEvidence("/var/log/dockerd.log", 3, 1, None,
                                                      "dockerd does not say how many")
    assert (trial.as_json()["engine"], trial.as_json()["driver_evidence"]) == (engine, evidence)
    assert (BASE.engine, BASE.as_json()["engine"], BASE.as_json()["driver_evidence"]) == \
        (None, {}, {})
