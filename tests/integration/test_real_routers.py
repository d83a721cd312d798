"""One real trial per real router kind x topology, on the official image, with exact ledger
identities. An absent image is pulled first; where that fails too (no registry reachable), the test
skips with the pull's error and the `docker pull` to run."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from conftest import TrialRunner

from pipeline_tests import _routers as routers
from pipeline_tests._errors import ImageMissing
from pipeline_tests._results.trial_result import TrialResult
from pipeline_tests._results.verdict import verdict
from pipeline_tests._scenario.model import Router, Stop, Workload
from pipeline_tests._scenario.scenario import Scenario

pytestmark = [pytest.mark.docker, pytest.mark.real_router]

# A few hundred lines/s: far below what Fluent Bit and Fluentd take even on a busy machine, so
# a "loses nothing" here cannot be a timing result.
RATE, AFTER = 400, 2.0


def need_image(client: docker.DockerClient, router: Router) -> None:
    try:
        routers.ensure_image(client, router, pull=True)
    except ImageMissing as exc:
        pytest.skip(f"image {routers.image_for(router)} absent and not pullable: {exc}")


def scenario(topology: str, router: Router) -> Scenario:
    return Scenario(topologies=(topology,), workload=Workload(rate=RATE), router=router,
                    stop=Stop(sequence="ecs", after=AFTER, stop_timeout=10.0, drain=5.0),
                    trials=1)


def assert_delivered_all(result: TrialResult, users_filter: bool = False) -> None:
    # A steady 1,000 lines/s is far below what any of these routers ingests.
    assert (result.lost, result.app_exit_code, result.router_killed) == (0, 0, False)
    # Exact at every hop: the router's own count once its inputs paused, or, where it provably
    # delivered all it accepted, the sink's (fluent_bit_counts.py, fluentd_counts.py).
    n = result.emitted
    hops = dict(result.hops)
    if users_filter and hops["router_in"] is None:
        # A filter of the user's could have dropped records, so the sink's count proves
        # nothing, and Fluent Bit exited before rebuilding its metrics after the pause.
        assert "other than pipeline-tests' (" in result.hop_unknown["router_in"]
        hops["router_in"] = n
    assert hops == {"app": n, "router_in": n, "router_out": n, "sink": n}
    assert result.lost_at == "none"


@pytest.mark.parametrize("topology", ["firelens", "direct-tcp", "direct-unix", "file", "tail"])
@pytest.mark.parametrize("kind", ["fluent-bit", "aws-for-fluent-bit", "fluentd"])
def test_real_router_delivers_every_line(client: docker.DockerClient, run_one: TrialRunner,
                                         kind: str, topology: str) -> None:
    router = Router(kind=kind)
    need_image(client, router)
    result = run_one(topology, scenario(topology, router))
    assert_delivered_all(result)
    assert (result.router, result.topology) == (kind, topology)


def test_fluent_bit_with_a_users_file_and_filesystem_storage(
        client: docker.DockerClient, run_one: TrialRunner, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "fluent-bit.conf").write_text("[SERVICE]\n    Grace 3\n@INCLUDE extra.conf\n")
    (mine / "extra.conf").write_text("[FILTER]\n    Name modify\n    Match *\n"
                                     "    Add user_file included\n")
    router = Router(kind="fluent-bit", config=str(mine / "fluent-bit.conf"),
                    storage_type="filesystem")
    need_image(client, router)
    result = run_one("direct-tcp", scenario("direct-tcp", router))
    assert_delivered_all(result, users_filter=True)
    # The trial kept the copy of the user's directory the router read.
    assert (tmp_path / "trial" / "router" / "user" / "extra.conf").read_text() == (
        mine / "extra.conf").read_text()
    assert (mine / "fluent-bit.conf").read_text().startswith("[SERVICE]\n    Grace 3\n")


@pytest.mark.parametrize("kind", ["fluent-bit", "fluentd"])
def test_firelens_at_rate_max_names_the_hop(client: docker.DockerClient, run_one: TrialRunner,
                                            kind: str) -> None:
    router = Router(kind=kind)
    need_image(client, router)
    flood = Scenario(topologies=("firelens",), workload=Workload(rate=None), router=router,
                     stop=Stop(sequence="ecs", after=AFTER, stop_timeout=10.0, drain=5.0),
                     trials=1)
    result = run_one("firelens", flood)
    sink = result.received_distinct
    # What the driver did not hand over was lost before the router: the router delivered all
    # it accepted (counted exactly, not null), and the sink got that.
    assert dict(result.hops) == {"app": result.emitted, "router_in": sink, "router_out": sink,
                                 "sink": sink}
    assert result.lost_at == ("app->router_in" if result.lost else "none")
    assert result.lost == result.emitted - sink


def two_tiers(sidecar: str, aggregator: str, **overrides: object) -> Scenario:
    return Scenario().with_overrides({
        "topologies": ["aggregator"], "trials": 1, "workload.rate": RATE, "stop.after": AFTER,
        "stop.stop_timeout": 10.0, "stop.drain": 5.0, "router.kind": sidecar,
        "aggregator.kind": aggregator, **overrides})


def need_images(client: docker.DockerClient, scenario: Scenario) -> None:
    for router in (scenario.router, scenario.aggregator):
        if router.kind != "builtin":
            need_image(client, router)


def assert_every_tier_delivered(result: TrialResult) -> None:
    n = result.emitted
    assert (result.lost, result.hop_unknown, result.log_errors) == (0, {}, ())
    assert result.hops == {"app": n, "router_in": n, "router_out": n, "aggregator_in": n,
                           "aggregator_out": n, "sink": n}


@pytest.mark.parametrize(("sidecar", "aggregator"), [
    ("fluent-bit", "fluent-bit"), ("fluentd", "fluentd"), ("fluentd", "fluent-bit"),
    ("builtin", "fluentd"), ("fluent-bit", "builtin")])
def test_two_real_tiers_each_counted_from_its_own_state(
        client: docker.DockerClient, run_one: TrialRunner, sidecar: str, aggregator: str) -> None:
    scenario = two_tiers(sidecar, aggregator)
    need_images(client, scenario)
    assert_every_tier_delivered(run_one("aggregator", scenario))


def test_fluent_bit_into_fluentd_defaults_show_the_aggregators_rejection(
        client: docker.DockerClient, run_one: TrialRunner) -> None:
    # Fluent Bit >= 5.0.5 forwards each event's metadata; Fluentd 1.19's forward input skips
    # such an event with a warning (1.16 raised NoMethodError `to_i` instead), so nothing
    # arrives: the cause is the aggregator's own warning, in the verdict.
    scenario = two_tiers("fluent-bit", "fluentd")
    need_images(client, scenario)
    result = run_one("aggregator", scenario)
    assert result.lost == result.emitted and result.hops["sink"] == 0
    assert result.hop_unknown["aggregator_in"].startswith(
        "monitor_agent counts no input records, and it logged: [warn]: #0 [pt_tcp] "
        "skip invalid event: host=\"127.0.0.1\"")
    rejected = [e for e in result.log_errors if e.tier == "aggregator"]
    assert rejected[0].kind == ("[warn]: #N [pt_tcp] skip invalid event: host=… tag=… time=… "
                                "record=…")
    assert rejected[0].count == result.emitted
    text = verdict([result])
    assert ("lost 100% (" in text and ", likely cause: the aggregator delivered nothing and "
            "logged \"[warn]: #0 [pt_tcp] skip invalid event: ") in text


def test_fluent_bit_into_fluentd_delivers_with_the_forward_key_set(
        client: docker.DockerClient, run_one: TrialRunner, tmp_path: Path) -> None:
    scenario = two_tiers("fluent-bit", "fluentd",
                         **{"router.output": {"Retain_metadata_in_forward_mode": False}})
    need_images(client, scenario)
    result = run_one("aggregator", scenario)
    assert_every_tier_delivered(result)
    conf = (tmp_path / "trial" / "router" / "conf" / "pipeline-tests.conf").read_text()
    assert "    Retain_metadata_in_forward_mode false\n" in conf
