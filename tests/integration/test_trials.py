"""One real trial per topology x stop sequence, with exact ledger identities."""

from pathlib import Path

import docker
import pytest

from pipeline_tests import compose
from pipeline_tests.result import TrialResult
from pipeline_tests.scenario import Scenario, Stop, Workload
from pipeline_tests.trial import TrialSpec, run_trial

pytestmark = pytest.mark.docker


def trial(client: docker.DockerClient, image: str, tmp_path: Path, topology: str,
          scenario: Scenario) -> TrialResult:
    spec = TrialSpec(scenario, topology, 1, f"pt-test-{tmp_path.name[-20:]}".lower(),
                     tmp_path / "trial", image)
    result = run_trial(spec, client, lambda progress: None)
    assert compose.leftovers(client, spec.project) == []
    return result


def assert_identities(result: TrialResult) -> None:
    assert result.emitted > 0
    # Received ids are a subset of emitted ids, counted by id, not by total.
    assert result.hops["sink"] == result.received_distinct <= result.emitted
    assert result.lost == result.emitted - result.received_distinct
    assert sum(last - first + 1 for _, first, last in result.lost_ranges) == result.lost
    assert result.lost_before_stop + result.lost_after_stop == result.lost
    assert result.duplicates == result.received_total - result.received_distinct
    assert (result.foreign, result.unparsable, result.malformed_frames) == (0, 0, 0)


@pytest.mark.parametrize("topology", ["firelens", "direct-tcp"])
@pytest.mark.parametrize("sequence", ["ecs", "all-at-once", "kill", "none"])
def test_trial_ledger_identities(client: docker.DockerClient, image: str, tmp_path: Path,
                                 topology: str, sequence: str) -> None:
    scenario = Scenario(topologies=(topology,), workload=Workload(rate=2000),
                        stop=Stop(sequence=sequence, after=2.0, stop_timeout=10.0, drain=5.0),
                        trials=1)
    result = trial(client, image, tmp_path, topology, scenario)
    assert_identities(result)
    assert (result.topology, result.stop, result.app_killed) == (
        topology, sequence, sequence == "kill")
    if sequence in ("ecs", "none"):
        # A steady 2,000 lines/s is far below what either path ingests: nothing may be lost.
        assert (result.lost, result.app_exit_code) == (0, 0)
        assert result.hops["router_in"] == result.emitted
    if sequence == "none":
        assert result.emitted == 4000


def test_router_without_flush_at_shutdown_loses_its_buffer(
        client: docker.DockerClient, image: str, tmp_path: Path) -> None:
    # A long flush interval keeps every line in the router's buffer when SIGTERM arrives.
    scenario = Scenario(topologies=("direct-tcp",), workload=Workload(rate=500),
                        stop=Stop(sequence="ecs", after=2.0, stop_timeout=10.0, drain=3.0),
                        trials=1)
    scenario = scenario.with_overrides(**{"router.flush_interval": 60.0,
                                          "router.flush_at_shutdown": False})
    result = trial(client, image, tmp_path, "direct-tcp", scenario)
    assert_identities(result)
    assert result.received_distinct == 0
    assert result.lost == result.emitted == result.hops["router_in"]
    assert result.lost_at == "router_in->router_out"
