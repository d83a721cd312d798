"""A trial's result from what was measured: the sink's ledger report, the app's tally, the stop
sequence's timeline and the routers' own counts. Pure: values in, a TrialResult out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_tests._container.tally import Tally
from pipeline_tests._ledger.ledger import LedgerReport
from pipeline_tests._results.trial_result import TrialResult, where_lost
from pipeline_tests._scenario.model import SinkDelays
from pipeline_tests._sink.sink import SinkStats
from pipeline_tests._sink.throttle import burst

if TYPE_CHECKING:  # the Docker-side modules that define them are not needed to build one
    from pipeline_tests._results.timeline import Timeline
    from pipeline_tests._routers.kind import RouterCounters


def _round(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


def build_result(*, topology: str, router: str, stop: str, trial: int, line_run_id: str,
                 report: LedgerReport, tally: Tally, timeline: Timeline,
                 router_counts: RouterCounters, malformed: int,
                 seconds: float,
                 aggregator_counts: RouterCounters | None = None) -> TrialResult:
    hops: dict[str, int | None] = {
        "app": report.emitted,
        "router_in": router_counts.received,
        "router_out": router_counts.sent,
    }
    if aggregator_counts is not None:
        hops.update(aggregator_in=aggregator_counts.received,
                    aggregator_out=aggregator_counts.sent)
    hops["sink"] = report.received_distinct
    return TrialResult(
        topology=topology, router=router, stop=stop, trial=trial, line_run_id=line_run_id,
        emitted=report.emitted, received_distinct=report.received_distinct,
        received_total=report.received_total, lost=report.lost, duplicates=report.duplicates,
        reordered=report.reordered,
        lost_ranges=tuple((r.stream, r.first, r.last) for r in report.lost_ranges),
        lost_before_stop=report.lost_before_stop, lost_after_stop=report.lost_after_stop,
        latency_p50_ms=_round(report.latency_p50_ms), latency_p99_ms=_round(report.latency_p99_ms),
        requested_rate=tally.requested_rate or None,
        achieved_rate=round(tally.achieved_rate(timeline.app_exit_ns), 1),
        blocked_s=round(tally.blocked_ns / 1e9, 3), hops=hops, lost_at=where_lost(hops),
        foreign=report.foreign, unparsable=report.unparsable, malformed_frames=malformed,
        app_exit_code=timeline.app_exit_code, app_killed=timeline.app_killed,
        router_killed=timeline.router_killed, seconds=round(seconds, 1),
        emitted_by_stream=tuple(tally.emitted), stop_seq=tuple(tally.stop_seq),
    )


def sink_pace(stats: SinkStats, delays: SinkDelays) -> dict[str, Any]:
    """What the sink measured of its own pace (TrialResult.sink): its caps and their bursts,
    records (and, under a bytes cap, bytes) counted over the interval between its first and
    last record on its own clock, the time records waited for the cap, its refusals. A cap held
    when records <= burst_records + max_records_per_s * active_s (throttle.py)."""
    active = (stats.last_ns - stats.first_ns) / 1e9 if stats.records > 1 else None
    caps = {"records": delays.max_records_per_s, "bytes": delays.max_bytes_per_s}
    counted = {"records": stats.records,
               "bytes": stats.record_bytes if caps["bytes"] else None}
    pace: dict[str, Any] = {
        "max_records_per_s": caps["records"], "max_bytes_per_s": caps["bytes"],
        "burst_records": burst(caps["records"]) if caps["records"] else None,
        "burst_bytes": burst(caps["bytes"]) if caps["bytes"] else None,
        **counted, "active_s": None if active is None else round(active, 6),
        "throttled_s": round(stats.throttled_ns / 1e9, 3), "refusals": stats.refusals,
    }
    unknown = {}
    for unit, count in counted.items():
        rate = count / active if count is not None and active else None
        pace[f"{unit}_per_s"] = None if rate is None else round(rate, 1)
        if count is None:
            unknown[unit] = "counted only under sink.max_bytes_per_s"
        elif rate is None:
            unknown[f"{unit}_per_s"] = "fewer than two records, or all at one instant"
    pace["unknown"] = unknown
    return pace
