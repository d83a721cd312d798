"""The run's verdict in words: which cells lost, how much, in how many trials, at which hop,
before or after the stop signal, and what not losing cost the app (the rate it reached against
the cell that lost). Only what was measured: no advice, no guess.

Pure: trials in, one paragraph out (or its parts, one per cell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline_tests._container.tally import NO_STOP
from pipeline_tests._results.hops import trial_gaps
from pipeline_tests._results.rotation import at_rotation
from pipeline_tests._results.stats import lost_pct
from pipeline_tests._results.trial_result import HOPS, TrialFailure, TrialResult

SLOWER = 0.95  # the app counts as slowed below 95% of the rate the cell that lost reached
# Where an app->router_in loss happens, by topology.
_APP_SIDE = {
    "firelens": "inside the log driver",
    "direct-tcp": "inside the client library or on its socket",
    "direct-unix": "inside the client library or on its socket",
    "file": "written to the file, not read by the router",
    "tail": "in Docker's json-file log, not read by the router",
}
_PAIRS = {
    "router_in->router_out": "inside the router (accepted by its input, not delivered)",
    "router_out->sink": "between the router's output and the sink",
    "app->router_out": "between the app and the router's output (its input count is unknown)",
    "router_in->sink": "between the router's input and the sink (its output count is unknown)",
    "app->sink": "between the app and the sink (the router's own counts are unknown)",
    # topology aggregator: the second tier
    "router_out->aggregator_in": "between the sidecar and the aggregator",
    "aggregator_in->aggregator_out": "inside the aggregator (accepted by its input, not "
                                     "delivered)",
    "aggregator_out->sink": "between the aggregator's output and the sink",
}


def _pair_order(pair: str) -> tuple[int, int]:
    first, _, second = pair.partition("->")
    return HOPS.index(first), HOPS.index(second)


def verdict(trials: Sequence[TrialResult], failures: Sequence[TrialFailure] = (),
            interrupted: bool = False) -> str:
    """One paragraph: the cells' clauses joined by "; ", then any failures."""
    cells, notes = verdict_parts(trials, failures, interrupted)
    text = f"{'; '.join(cells)}." if cells else "No trial finished."
    return " ".join([text, *notes])


def verdict_parts(trials: Sequence[TrialResult], failures: Sequence[TrialFailure] = (),
                  interrupted: bool = False) -> tuple[list[str], list[str]]:
    """(one clause per cell, in the run's order; sentences about failures and interruption),
    for a report that lists them one per line."""
    cells: dict[str, list[TrialResult]] = {}
    for trial in trials:
        cells.setdefault(trial.label, []).append(trial)
    lossy = {label: group for label, group in cells.items() if any(t.lost for t in group)}
    clauses = [_lossy(label, group) if label in lossy else _lossless(label, group, lossy)
               for label, group in cells.items()]
    failed: dict[str, int] = {}
    for failure in failures:
        failed[failure.label] = failed.get(failure.label, 0) + 1
    notes = [f"{n} trial{'s' if n > 1 else ''} of {label} could not be carried out."
             for label, n in failed.items()]
    if interrupted:
        notes.append("The run was interrupted: this covers only the trials that finished.")
    return clauses, notes


def _lossless(label: str, group: Sequence[TrialResult],
              lossy: Mapping[str, Sequence[TrialResult]]) -> str:
    n = len(group)
    text = f"{label} lost 0 lines in {n}/{n} trials"
    if not lossy:
        return text
    other = max(lossy, key=lambda name: _shared(label, name))  # the closest cell that lost
    rate, other_rate = _rate(group), _rate(lossy[other])
    asked = group[0].requested_rate  # None: as fast as it could
    slowed = asked is None or rate < SLOWER * asked  # a rate that was set and reached: no cost
    if slowed and rate < SLOWER * other_rate:
        text += f", but the app reached only {rate:,.0f} lines/s ({other}: {other_rate:,.0f})"
    return text


def _lossy(label: str, group: Sequence[TrialResult]) -> str:
    lost = [t for t in group if t.lost]
    pct = sum(map(lost_pct, lost)) / len(lost)
    low, high = min(t.lost for t in lost), max(t.lost for t in lost)
    lines = (f"{low:,} line{'s' if low > 1 else ''}" if low == high
             else f"{low:,}-{high:,} lines")
    return (f"{label} lost {_pct(pct)} ({lines}) in {len(lost)}/{len(group)} trials, "
            f"{_where(lost)}, {_when(lost)}{_at_rotation(lost)}")


def _at_rotation(lost: Sequence[TrialResult]) -> str:
    """', lost at rotation: ...' when lost ranges begin or end where a new log file began."""
    rotated = [t for t in lost if t.rotations.get("seqs")]
    found = [pair for t in rotated for pair in at_rotation(t.lost_ranges, t.rotations)]
    if not found:
        return ""
    ranges = sum(len(t.lost_ranges) for t in rotated)
    several = any(stream for stream, _ in found)
    touched = sorted({(seq, stream) for stream, seqs in found for seq in seqs})
    names = [f"{stream}:{seq:,}" if several else f"{seq:,}" for seq, stream in touched]
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    near = "about " if any(t.rotations.get("within") for t in rotated) else ""
    return (f", lost at rotation: {len(found)} of {ranges} lost ranges begin or end "
            f"{near}where a new log file began (the files beginning at "
            f"{'stream:' if several else ''}seq {shown})")


def _where(lost: Sequence[TrialResult]) -> str:
    gaps: dict[str, int] = {}
    for trial in lost:
        for pair, gap in trial_gaps(trial).items():
            gaps[pair] = gaps.get(pair, 0) + gap
    topology = lost[0].topology
    if len(gaps) == 1:
        return f"all {_phrase(next(iter(gaps)), topology)}"
    total = sum(gaps.values())
    return ", ".join(f"{_pct(100.0 * gaps[pair] / total)} {_phrase(pair, topology)}"
                     for pair in sorted(gaps, key=_pair_order))


def _phrase(pair: str, topology: str) -> str:
    if pair == "app->router_in":
        side = _APP_SIDE.get(topology)
        return "between the app and the router" + (f" ({side})" if side else "")
    first, _, second = pair.partition("->")
    return _PAIRS.get(pair, f"between {first} and {second} (the hops between count nothing)")


def _when(lost: Sequence[TrialResult]) -> str:
    if lost[0].stop == "kill":  # nothing is emitted after a SIGKILL, and it cannot be marked
        return "all emitted before SIGKILL"
    if any(all(seq == NO_STOP for seq in t.stop_seq) for t in lost):
        return "in trials where no stop signal reached the app"
    signal = "SIGTERM"
    before = sum(t.lost_before_stop for t in lost)
    after = sum(t.lost_after_stop for t in lost)
    if after == 0:
        return f"all emitted before {signal}"
    if before == 0:
        return f"all emitted after {signal}"
    return f"{before:,} emitted before {signal} and {after:,} after"


def _pct(value: float) -> str:
    if value >= 9.95:
        return f"{value:.0f}%"
    if value >= 0.995:
        return f"{value:.1f}%"
    return f"{value:.2f}%" if value >= 0.005 else "<0.01%"


def _rate(group: Sequence[TrialResult]) -> float:
    return sum(t.achieved_rate for t in group) / len(group)


def _shared(label: str, other: str) -> int:
    """How many parts (topology, router, stop, or matrix values) two cell labels share."""
    def parts(text: str) -> list[str]:
        return text.replace(",", "/").split("/")
    return sum(1 for a, b in zip(parts(label), parts(other), strict=False) if a == b)
