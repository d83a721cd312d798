"""A trial's result: the ledger's exact counts, the per-hop counts and the cost to the app.

`TrialResult.as_json()` is the schema of `results.json` (documented in README)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline_tests.ledger import LedgerReport
from pipeline_tests.routers import RouterCounters
from pipeline_tests.stop import Timeline
from pipeline_tests.tally import Tally

# The hops a line crosses, in order; the result says between which two a line was lost.
HOPS = ("app", "router_in", "router_out", "sink")


@dataclass(frozen=True)
class TrialResult:
    topology: str
    router: str
    stop: str
    trial: int
    line_run_id: str
    emitted: int
    received_distinct: int
    received_total: int
    lost: int
    duplicates: int
    reordered: int
    lost_ranges: tuple[tuple[int, int, int], ...]  # (stream, first seq, last seq), inclusive
    lost_before_stop: int
    lost_after_stop: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    requested_rate: int | None
    achieved_rate: float
    blocked_s: float
    hops: Mapping[str, int | None]  # count seen at each hop (None = hop does not count)
    lost_at: str  # "none", or the hop pair with the most loss, e.g. "app->router_in"
    foreign: int
    unparsable: int
    malformed_frames: int
    app_exit_code: int
    app_killed: bool
    router_killed: bool
    seconds: float
    cell: str = ""  # the matrix cell's label, e.g. "topology=firelens,stop.sequence=kill"
    emitted_by_stream: tuple[int, ...] = ()  # per stream: lines emitted (they add up to emitted)
    stop_seq: tuple[int, ...] = ()  # per stream: lines emitted when the stop came (-1: never)

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["lost_ranges"] = [list(r) for r in self.lost_ranges]
        data["latency_ms"] = {"p50": data.pop("latency_p50_ms"), "p99": data.pop("latency_p99_ms")}
        data["hops"] = dict(self.hops)
        data["emitted_by_stream"] = list(self.emitted_by_stream)
        data["stop_seq"] = list(self.stop_seq)
        return data


def where_lost(hops: Mapping[str, int | None]) -> str:
    """The hop pair that lost the most lines, skipping hops that do not count.

    A router hop that counted fewer lines than the sink received missed some (a restarted or
    killed router starts its counters again), so it cannot say where lines went and is skipped.
    """
    sink = hops.get("sink")
    known = [(name, count) for name in HOPS if (count := hops.get(name)) is not None
             and (name in ("app", "sink") or sink is None or count >= sink)]
    worst, label = 0, "none"
    for (a, count_a), (b, count_b) in zip(known, known[1:], strict=False):
        gap = (count_a or 0) - (count_b or 0)
        if gap > worst:
            worst, label = gap, f"{a}->{b}"
    return label


def _round(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


def build_result(*, topology: str, router: str, stop: str, trial: int, line_run_id: str,
                 report: LedgerReport, tally: Tally, timeline: Timeline,
                 router_counts: RouterCounters, malformed: int, seconds: float) -> TrialResult:
    hops: dict[str, int | None] = {
        "app": report.emitted,
        "router_in": router_counts.received,
        "router_out": router_counts.sent,
        "sink": report.received_distinct,
    }
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
