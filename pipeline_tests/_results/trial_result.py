"""A trial's result: the ledger's exact counts, the per-hop counts and the cost to the app;
or, for a trial that could not be carried out, its failure.

`TrialResult.as_json()` is the schema of `results.json` (documented in README)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline_tests._results.log_errors import LogError
from pipeline_tests._values import DriverEvidence, EngineFacts

# The hops a line crosses, in order; the result says between which two a line was lost.
# aggregator_in/_out only in topology `aggregator` (the second router tier).
HOPS = ("app", "router_in", "router_out", "aggregator_in", "aggregator_out", "sink")


def hops_for(topologies: Iterable[str]) -> tuple[str, ...]:
    """The hops cells of these topologies count: aggregator_* only with topology aggregator."""
    two_tiers = "aggregator" in topologies
    return tuple(hop for hop in HOPS if two_tiers or not hop.startswith("aggregator_"))

# What every cell label names first, in this order; any other axis follows in parentheses.
NAMED_AXES = ("topology", "router.kind", "stop.sequence")


def cell_label(axes: Mapping[str, Any]) -> str:
    """A cell's label, one shape whatever the axes: `topology/router/stop (other axes)`, where
    router is `sidecar>aggregator` for topology aggregator: `firelens/builtin/ecs`,
    `aggregator/fluent-bit>fluentd/ecs`, `firelens/builtin/ecs (workload.rate=300)`."""
    topology, router, stop = (value_text(axes.get(axis, "?")) for axis in NAMED_AXES)
    named = set(NAMED_AXES)
    if topology == "aggregator" and "aggregator.kind" in axes:
        router = f"{router}>{value_text(axes['aggregator.kind'])}"
        named.add("aggregator.kind")
    others = ", ".join(f"{axis}={value_text(value)}" for axis, value in axes.items()
                       if axis not in named)
    return f"{topology}/{router}/{stop}" + (f" ({others})" if others else "")


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
    cell: str = ""  # its label (cell_label), e.g. "firelens/builtin/kill (workload.rate=300)"
    emitted_by_stream: tuple[int, ...] = ()  # per stream: lines emitted (they add up to emitted)
    stop_seq: tuple[int, ...] = ()  # per stream: lines emitted when the stop came (-1: never)
    # hop -> why its count is None (e.g. "router_in": "Fluent Bit's metrics ...")
    hop_unknown: Mapping[str, str] = field(default_factory=dict)
    # dockerd's evidence of a driver-side drop (None: not collected)
    driver_evidence: DriverEvidence | None = None
    # The engine that ran it (None: not recorded)
    engine: EngineFacts | None = None
    # What each router tier logged as going wrong (log_errors.py): per tier, by kind, with
    # counts and a first example (e.g. the aggregator rejecting what the sidecar sends)
    log_errors: tuple[LogError, ...] = ()
    # The fault as it happened, where that is not as asked (e.g. cut short by the stop)
    fault_cut: str = ""
    # The sink's own pace (build.sink_pace): caps, records over its active interval, throttled
    # time, refusals.
    sink: Mapping[str, Any] = field(default_factory=dict)
    # topologies file and tail with rotation.size: where each new log file began (rotation.py):
    # source, within (lines of precision), files, seqs (per stream), note (why unknown)
    rotations: Mapping[str, Any] = field(default_factory=dict)
    # Each task container's CPU from its cgroup (cpu_use.py), and the task cgroup's: per name
    # (app, router, task) "flood" (from the app's start to the stop) and "total" (the last
    # reading), each {usage_s, nr_periods, nr_throttled, throttled_s, shares} or null; "note":
    # why one is null
    cpu: Mapping[str, Any] = field(default_factory=dict)
    # The cell's coordinates: topology, router.kind, stop.sequence (aggregator.kind in topology
    # aggregator), then each matrix axis's value, e.g. {"workload.rate": 300}
    axes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def coordinates(self) -> Mapping[str, Any]:
        """The cell's axis values (results.json `axes`; topology/router/stop where absent)."""
        return self.axes or dict(zip(NAMED_AXES, (self.topology, self.router, self.stop),
                                     strict=True))

    @property
    def label(self) -> str:
        """The cell this trial belongs to (cell_label)."""
        return self.cell or cell_label(self.coordinates)

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["lost_ranges"] = [list(r) for r in self.lost_ranges]
        data["latency_ms"] = {"p50": data.pop("latency_p50_ms"), "p99": data.pop("latency_p99_ms")}
        data["hops"] = dict(self.hops)
        data["hop_unknown"] = dict(self.hop_unknown)
        data["driver_evidence"] = self.driver_evidence.as_json() if self.driver_evidence else {}
        data["engine"] = self.engine.as_json() if self.engine else {}
        data["emitted_by_stream"] = list(self.emitted_by_stream)
        data["stop_seq"] = list(self.stop_seq)
        data["log_errors"] = [error.as_json() for error in self.log_errors]
        data["sink"] = dict(self.sink)
        data["rotations"] = dict(self.rotations)
        data["axes"] = dict(self.axes)
        data["cpu"] = dict(self.cpu)
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


@dataclass(frozen=True)
class TrialFailure:
    """A trial that could not be carried out: no counts (they were not measured), the reason."""

    topology: str
    router: str
    stop: str
    trial: int
    reason: str
    cell: str = ""
    engine: str = ""  # the name of the engine it ran on

    @property
    def label(self) -> str:
        return self.cell or cell_label(dict(zip(NAMED_AXES, (self.topology, self.router,
                                                             self.stop), strict=True)))

    def as_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "status": "failed"}
