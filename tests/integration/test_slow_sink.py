"""A destination as slow as real ones: a throughput-capped sink and one that hangs up before its
acks, behind the builtin router, with exact counts. The cap is checked on the sink's own counts
and clock (TrialResult.sink), not on the test's."""

import json
from pathlib import Path

import pytest
from conftest import TrialRunner

from pipeline_tests._scenario.model import Stop, Workload
from pipeline_tests._scenario.scenario import Scenario

pytestmark = pytest.mark.docker

CAP = 1000  # records/s: the app offers 2,000 lines/s for 2 s, so the sink sets the pace


def _scenario(topology: str, **sink: object) -> Scenario:
    # The router has time to deliver its whole backlog: a grace far beyond the ~4 s the sink
    # needs at the cap, and a drain window that waits for it.
    return Scenario(topologies=(topology,), workload=Workload(rate=2000),
                    stop=Stop(sequence="ecs", after=2.0, stop_timeout=40.0, drain=20.0),
                    trials=1).with_overrides(
        {"router.grace": 30.0, **{f"sink.{key}": value for key, value in sink.items()}})


@pytest.mark.parametrize("topology", ["firelens", "direct-tcp"])
def test_a_throughput_capped_sink_keeps_exact_counts_and_the_cap_holds(
        run_one: TrialRunner, topology: str) -> None:
    result = run_one(topology, _scenario(topology, max_records_per_s=CAP))
    assert (result.lost, result.duplicates, result.lost_ranges) == (0, 0, ())
    assert result.received_distinct == result.emitted == result.hops["router_in"]
    pace = result.sink
    assert pace["max_records_per_s"] == CAP and pace["records"] == result.received_total
    # The bucket's bound, on the sink's own timestamps of its first and last record:
    assert pace["records"] <= pace["burst_records"] + CAP * pace["active_s"] + 1e-6
    assert pace["records_per_s"] <= CAP * 1.1
    # It was the cap that set the pace: records waited for it (the router's buffer filled).
    assert pace["throttled_s"] > 0


def test_refusals_make_an_at_least_once_router_resend_and_each_resend_is_a_duplicate(
        run_one: TrialRunner, tmp_path: Path) -> None:
    result = run_one("direct-tcp", _scenario("direct-tcp", refuse_every=3))
    router = json.loads((tmp_path / "trial" / "router" / "router.json").read_text())
    assert result.lost == 0 and result.received_distinct == result.emitted
    assert result.sink["refusals"] > 0 and router["resent"] > 0
    # Every refused chunk was counted, then sent again: its lines arrived twice, no more.
    assert result.duplicates == router["resent"]
