"""The run's verdict in words: which cells lost, how much, in how many trials, at which hop,
before or after the stop signal, what the routers logged about it (the likely cause, where a
tier delivered nothing), and what changed from what was asked (a rate not reached, a fault cut
short by the stop); what not losing cost the app (the rate it reached against the cell that
lost). Only what was measured: no advice, no guess.

Pure: trials in, one paragraph out (or its parts, one per cell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline_tests._container.tally import NO_STOP
from pipeline_tests._results.cpu import cpu_clause
from pipeline_tests._results.frontier import Bracket
from pipeline_tests._results.hops import trial_gaps
from pipeline_tests._results.log_errors import LogError, merged, shown, tier_name
from pipeline_tests._results.rotation import at_rotation
from pipeline_tests._results.sequential import REFERENCE, Decision, differ
from pipeline_tests._results.stats import SLOWER, lost_pct
from pipeline_tests._results.trial_result import HOPS, TrialFailure, TrialResult

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
            interrupted: bool = False, decisions: Mapping[str, Decision] | None = None,
            brackets: Sequence[Bracket] = ()) -> str:
    """One paragraph: the cells' clauses joined by "; ", then any failures."""
    cells, notes = verdict_parts(trials, failures, interrupted, decisions, brackets)
    text = f"{'; '.join(cells)}." if cells else "No trial finished."
    return " ".join([text, *notes])


def verdict_parts(trials: Sequence[TrialResult], failures: Sequence[TrialFailure] = (),
                  interrupted: bool = False, decisions: Mapping[str, Decision] | None = None,
                  brackets: Sequence[Bracket] = ()) -> tuple[list[str], list[str]]:
    """(one clause per cell, in the run's order; sentences about failures and interruption),
    for a report that lists them one per line. With `decisions` (trials: auto) each clause
    names its answer and confidence, and a sentence says whether the cells differ. With
    `brackets` (a search) the clauses are the brackets, one per cell."""
    if brackets:
        return [b.text for b in brackets], verdict_parts(trials, failures, interrupted)[1]
    cells: dict[str, list[TrialResult]] = {}
    for trial in trials:
        cells.setdefault(trial.label, []).append(trial)
    lossy = {label: group for label, group in cells.items() if any(t.lost for t in group)}
    clauses = [_lossy(label, group) if label in lossy else _lossless(label, group, lossy)
               for label, group in cells.items()]
    decided = decisions or {}
    clauses = [clause + _decided(decided[label]) if label in decided else clause
               for clause, label in zip(clauses, cells, strict=True)]
    failed: dict[str, int] = {}
    for failure in failures:
        failed[failure.label] = failed.get(failure.label, 0) + 1
    notes = [f"{n} trial{'s' if n > 1 else ''} of {label} could not be carried out."
             for label, n in failed.items()]
    if decided and len(decided) > 1:
        notes.append(_compared(decided))
    if interrupted:
        notes.append("The run was interrupted: this covers only the trials that finished.")
    return clauses, notes


def _decided(decision: Decision) -> str:
    """', decided at 95% confidence: loses' or ', undecided: reached max_trials (10)'."""
    if decision.decided:
        return (f" ({decision.answer}: {decision.stopped} confidence after "
                f"{decision.trials} trial{'s' if decision.trials > 1 else ''})")
    return f" ({decision.stopped}: undecided at {decision.confidence:.0%} confidence)"


def _compared(decisions: Mapping[str, Decision]) -> str:
    """"Do these cells differ?" in one sentence, naming the rule."""
    losing = [label for label, d in decisions.items() if d.answer == "loses"]
    clean = [label for label, d in decisions.items() if d.answer == "does not lose"]
    open_ = [label for label, d in decisions.items() if not d.decided]
    confidence = next(iter(decisions.values())).confidence
    some = [(a, b) for a in losing for b in clean if differ(decisions[a], decisions[b])]
    text = (f"At {confidence:.0%} confidence ({REFERENCE}, each cell stopped once decided): "
            + ("the cells differ: " if some else "")
            + "; ".join(part for part in (
                f"{', '.join(losing)} lose{'s' if len(losing) == 1 else ''}" if losing else "",
                f"{', '.join(clean)} {'does' if len(clean) == 1 else 'do'} not" if clean
                else "",
                f"{', '.join(open_)} undecided" if open_ else "") if part))
    return text + "."


def _lossless(label: str, group: Sequence[TrialResult],
              lossy: Mapping[str, Sequence[TrialResult]]) -> str:
    n = len(group)
    text = f"{label} lost 0 lines in {n}/{n} trials"
    unreached = _unreached(group)
    if unreached:
        return ", ".join([text, f"but {unreached}", *_fault_cut(group), *_cpu(group)])
    if lossy and group[0].requested_rate is None:  # as fast as it could: against the others
        other = max(lossy, key=lambda name: _shared(group[0], lossy[name][0]))  # closest lossy
        rate, other_rate = _rate(group), _rate(lossy[other])
        if rate < SLOWER * other_rate:
            text += f", but the app reached only {rate:,.0f} lines/s ({other}: {other_rate:,.0f})"
    return ", ".join([text, *_fault_cut(group), *_cpu(group)])


def _lossy(label: str, group: Sequence[TrialResult]) -> str:
    lost = [t for t in group if t.lost]
    pct = sum(map(lost_pct, lost)) / len(lost)
    low, high = min(t.lost for t in lost), max(t.lost for t in lost)
    lines = (f"{low:,} line{'s' if low > 1 else ''}" if low == high
             else f"{low:,}-{high:,} lines")
    unreached = _unreached(group)
    return ", ".join([
        f"{label} lost {_pct(pct)} ({lines}) in {len(lost)}/{len(group)} trials", _where(lost),
        _when(lost) + _at_rotation(lost), *([unreached] if unreached else []), *_fault_cut(group),
        *_cpu(group), *_cause(lost)])


def _cpu(group: Sequence[TrialResult]) -> list[str]:
    """The router's share of the task's CPU and the throttling, where it was measured."""
    clause = cpu_clause(group)
    return [clause] if clause else []


def _unreached(group: Sequence[TrialResult]) -> str:
    """What the app reached where that is short of the rate asked (empty: reached, or none
    was asked)."""
    asked = group[0].requested_rate
    if asked is None or _rate(group) >= SLOWER * asked:
        return ""
    low, high = min(t.achieved_rate for t in group), max(t.achieved_rate for t in group)
    reached = f"{low:,.0f}" if round(low) == round(high) else f"{low:,.0f}-{high:,.0f}"
    return f"the app reached only {reached} of the {asked:,} lines/s asked"


def _fault_cut(group: Sequence[TrialResult]) -> list[str]:
    """The fault where it did not happen as asked, in how many trials."""
    cut = [t.fault_cut for t in group if t.fault_cut]
    if not cut:
        return []
    return [f"{cut[0]}" + ("" if len(group) == 1 else f" ({len(cut)}/{len(group)} trials)")]


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
    """One place (or a split over places) where lines were lost; trials whose hop counts
    cannot tell it apart from a coarser span are "unknown", not a second place."""
    gaps: dict[str, int] = {}
    trials_of: dict[str, set[int]] = {}
    for index, trial in enumerate(lost):
        for pair, gap in trial_gaps(trial).items():
            gaps[pair] = gaps.get(pair, 0) + gap
            trials_of.setdefault(pair, set()).add(index)
    coarse = {pair for pair in gaps if any(other != pair and _within(other, pair)
                                           for other in gaps)}
    places = {pair: gap for pair, gap in gaps.items() if pair not in coarse}
    topology = lost[0].topology
    if len(places) == 1:
        text = f"all {_phrase(next(iter(places)), lost[0])}"
    else:
        total = sum(places.values())
        text = ", ".join(f"{_pct(100.0 * places[pair] / total)} {_phrase(pair, lost[0])}"
                         for pair in sorted(places, key=_pair_order))
    if not coarse:
        return text
    unknown = set().union(*(trials_of[pair] for pair in coarse))
    hops = sorted({hop for pair in coarse for hop in _inside(pair, lost[0])}, key=HOPS.index)
    return (f"{text} where counted, unknown in {len(unknown)} trial"
            f"{'s' if len(unknown) > 1 else ''} ({_hops_named(hops, topology)} not counted)")


def _within(inner: str, outer: str) -> bool:
    """Whether hop pair `inner` lies inside `outer` (e.g. app->router_in inside app->sink)."""
    (a, b), (c, d) = _pair_order(inner), _pair_order(outer)
    return c <= a and b <= d


def _inside(pair: str, trial: TrialResult) -> tuple[str, ...]:
    """The trial's hops strictly between a pair's two (those that did not count)."""
    first, last = _pair_order(pair)
    return tuple(hop for hop in HOPS[first + 1:last] if hop in trial.hops)


def _hops_named(hops: Sequence[str], topology: str) -> str:
    """'the router's input and output', 'the sidecar's output and the aggregator's input'."""
    sides: dict[str, list[str]] = {}
    for hop in hops:
        tier, _, side = hop.partition("_")
        sides.setdefault(tier, []).append("input" if side == "in" else "output")
    return " and ".join(f"{tier_name(tier, topology)}'s {' and '.join(names)}"
                        for tier, names in sides.items())


def _hop_name(hop: str, topology: str) -> str:
    tier, _, side = hop.partition("_")
    if not side:
        return f"the {hop}"
    owner = tier_name(tier, topology).removeprefix("the ")
    return f"the {owner}'s {'input' if side == 'in' else 'output'}"


def _phrase(pair: str, trial: TrialResult) -> str:
    topology = trial.topology
    if pair == "app->router_in":
        side = _APP_SIDE.get(topology)
        router = tier_name("router", topology).removeprefix("the ")
        return f"between the app and the {router}" + (f" ({side})" if side else "")
    if topology != "aggregator" and pair in _PAIRS:
        return _PAIRS[pair]
    first, _, second = pair.partition("->")
    if first.endswith("_in") and second == first.replace("_in", "_out"):
        return (f"inside {tier_name(first.partition('_')[0], topology)} (accepted by its "
                "input, not delivered)")
    if pair == "router_out->aggregator_in":
        return "between the sidecar and the aggregator"
    between = _inside(pair, trial)
    counts = f" ({_hops_named(between, topology)} not counted)" if between else ""
    return f"between {_hop_name(first, topology)} and {_hop_name(second, topology)}{counts}"


def _cause(lost: Sequence[TrialResult]) -> list[str]:
    """What the tiers logged in the trials that lost, downstream first: the first is the likely
    cause ("delivered nothing" where the tier passed on no line in any of them)."""
    errors = merged(t.log_errors for t in lost)
    tiers = list(dict.fromkeys(error.tier for error in errors))
    topology = lost[0].topology
    parts = []
    for n, tier in enumerate(tiers):
        mine = [error for error in errors if error.tier == tier]
        said = _said(mine[0], len(lost)) + (
            f" and {len(mine) - 1} other kind{'s' if len(mine) > 2 else ''} of warning or "
            "error" if len(mine) > 1 else "")
        name = tier_name(tier, topology)
        if n == 0:
            nothing = all(_delivered(t, tier) == 0 for t in lost)
            parts.append(f"likely cause: {name} delivered nothing and logged {said}" if nothing
                         else f"{name} logged {said}")
        else:
            parts.append(f"{name} logged {said}")
    return parts


def _said(error: LogError, trials: int) -> str:
    times = f"{error.count:,} time{'s' if error.count > 1 else ''}"
    where = "" if error.trials == trials else f" in {error.trials}/{trials} trials"
    return f'"{shown(error, 200)}" ({times}{where})'


def _delivered(trial: TrialResult, tier: str) -> int | None:
    """The lines a tier passed on: the last tier's are the sink's."""
    if tier == "router" and "aggregator_in" in trial.hops:
        return trial.hops.get("router_out")
    return trial.hops.get("sink")


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


def _shared(trial: TrialResult, other: TrialResult) -> int:
    """How many coordinates (topology, router, stop, matrix values) two trials' cells share."""
    theirs = other.coordinates
    return sum(1 for axis, value in trial.coordinates.items() if theirs.get(axis) == value)
