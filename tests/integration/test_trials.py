"""One real trial per topology x stop sequence, with exact ledger identities."""

from pathlib import Path

import pytest
from conftest import TrialRunner

from pipeline_tests._scenario.model import Stop, Workload
from pipeline_tests._scenario.scenario import Scenario

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("topology", ["firelens", "direct-tcp", "direct-unix", "file", "tail"])
@pytest.mark.parametrize("sequence", ["ecs", "all-at-once", "kill", "none"])
def test_trial_ledger_identities(run_one: TrialRunner, topology: str, sequence: str,
                                 tmp_path: Path) -> None:
    scenario = Scenario(topologies=(topology,), workload=Workload(rate=1000),
                        stop=Stop(sequence=sequence, after=2.0, stop_timeout=10.0, drain=5.0),
                        trials=1)
    result = run_one(topology, scenario)
    assert (result.topology, result.stop, result.app_killed) == (
        topology, sequence, sequence == "kill")
    if sequence in ("ecs", "none"):
        # A steady 1,000 lines/s is far below what either path ingests, even on a busy
        # machine: nothing may be lost.
        assert (result.lost, result.app_exit_code) == (0, 0)
        assert result.hops["router_in"] == result.emitted
    if sequence == "none":
        assert result.emitted == 2000
    # The `file` topology's log volume goes with the trial, as a task's volume does.
    assert not (tmp_path / "trial" / "logs").exists()


def test_router_without_flush_at_shutdown_loses_its_buffer(run_one: TrialRunner) -> None:
    # A long flush interval keeps every line in the router's buffer when SIGTERM arrives.
    scenario = Scenario(topologies=("direct-tcp",), workload=Workload(rate=500),
                        stop=Stop(sequence="ecs", after=2.0, stop_timeout=10.0, drain=3.0),
                        trials=1)
    scenario = scenario.with_overrides(**{"router.flush_interval": 60.0,
                                          "router.flush_at_shutdown": False})
    result = run_one("direct-tcp", scenario)
    assert result.received_distinct == 0
    assert result.lost == result.emitted == result.hops["router_in"]
    assert result.lost_at == "router_in->router_out"
