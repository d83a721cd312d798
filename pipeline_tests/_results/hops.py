"""Where along the path lines went missing: per trial and per cell, the lines lost at each hop
(emitted -> router in -> router out -> sink), as a waterfall.

A hop whose count is unknown (None) is skipped: its loss is charged to the next hop that counted,
and the step says from where (`since`). A router hop that counted fewer lines than the sink
received missed some (a restarted router starts its counters again), so it is skipped as well,
the same rule `where_lost` applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline_tests._results.trial_result import HOPS, TrialResult


@dataclass(frozen=True)
class HopStep:
    hop: str  # router_in | router_out | sink
    count: int | None  # lines counted at this hop, summed over the cell's trials (None: unknown)
    since: str  # the hop the loss is measured from (the previous hop that counted)
    lost: int  # lines missing between `since` and this hop, summed over trials (0 if unknown)
    lost_pct: float  # 100 * lost / emitted (all the cell's trials)


@dataclass(frozen=True)
class Waterfall:
    label: str
    trials: int
    emitted: int  # summed over trials
    steps: tuple[HopStep, ...]
    unknown: Mapping[str, int]  # hop -> in how many trials it did not count (only those > 0)


def comparable(hops: Mapping[str, int | None]) -> dict[str, int]:
    """The hops that counted and can be compared along the path, in path order."""
    sink = hops.get("sink")
    return {name: count for name in HOPS if (count := hops.get(name)) is not None
            and (name in ("app", "sink") or sink is None or count >= sink)}


def trial_gaps(result: TrialResult) -> dict[str, int]:
    """'a->b' -> lines missing between consecutive counting hops a and b (only gaps > 0)."""
    known = list(comparable(result.hops).items())
    gaps = {f"{a}->{b}": count_a - count_b
            for (a, count_a), (b, count_b) in zip(known, known[1:], strict=False)}
    return {pair: gap for pair, gap in gaps.items() if gap > 0}


def waterfall(label: str, results: Sequence[TrialResult]) -> Waterfall:
    """One cell's waterfall. A hop counts for the cell only if it counted in every trial."""
    emitted = sum(r.emitted for r in results)
    per_trial = [comparable(r.hops) for r in results]
    # The hops of this topology (the aggregator's only where there is one), in path order.
    path = [hop for hop in HOPS[1:] if any(hop in r.hops for r in results)]
    unknown = {hop: missing for hop in path
               if (missing := sum(1 for known in per_trial if hop not in known))}
    steps, since = [], "app"
    for hop in path:
        if hop in unknown:
            steps.append(HopStep(hop, None, since, 0, 0.0))
            continue
        lost = sum(known[since] - known[hop] for known in per_trial)
        steps.append(HopStep(hop, sum(known[hop] for known in per_trial), since, lost,
                             100.0 * lost / emitted if emitted else 0.0))
        since = hop
    return Waterfall(label, len(results), emitted, tuple(steps), unknown)


def waterfalls(results: Sequence[TrialResult]) -> list[Waterfall]:
    """One waterfall per cell (TrialResult.label), in the run's order."""
    groups: dict[str, list[TrialResult]] = {}
    for result in results:
        groups.setdefault(result.label, []).append(result)
    return [waterfall(label, group) for label, group in groups.items()]


def waterfall_hops(falls: Sequence[Waterfall]) -> list[str]:
    """The hops any of the cells counts (a table's columns), in path order."""
    present = {step.hop for fall in falls for step in fall.steps}
    return [hop for hop in HOPS[1:] if hop in present]


def waterfall_cells(fall: Waterfall, hops: Sequence[str]) -> list[str]:
    """A cell's step texts under the columns `hops` ("" where its topology has no such hop)."""
    steps = {step.hop: step for step in fall.steps}
    return [step_text(steps[hop], fall) if hop in steps else "" for hop in hops]


def step_text(step: HopStep, fall: Waterfall) -> str:
    """A hop's count with the share of emitted lines lost on the way to it."""
    if step.count is None:
        return f"unknown ({fall.unknown[step.hop]}/{fall.trials} trials)"
    hops = ["app", *(s.hop for s in fall.steps)]
    before = hops[hops.index(step.hop) - 1]
    since = "" if step.since == before else f" since {step.since}"
    return f"{step.count:,} (-{step.lost_pct:.2f}%{since})"
