"""Per-cell statistics over trials: loss figures, and how sure we are about "how often it loses".

Three trials that all lost nothing do not prove a topology never loses: the Wilson interval on the
share of trials that lost says how often it could still lose (0/3 -> up to 56%)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline_tests._results.trial_result import TrialResult

Z95 = 1.959963984540054  # two-sided 95% normal quantile
SLOWER = 0.95  # an app below 95% of a rate (the one asked, or another cell's) was slowed


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion; 0 trials -> (0.0, 1.0).

    Chosen over the normal approximation because it stays inside [0, 1] and is not zero-width
    at 0/n or n/n, which is exactly where reliability results sit."""
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # At 0/n and n/n the bound is exactly 0 or 1; floating point would give 1e-17 off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class CellStats:
    label: str
    trials: int
    trials_with_loss: int
    loss_share: float  # trials_with_loss / trials
    loss_share_low: float  # 95% Wilson interval of loss_share
    loss_share_high: float
    lost_mean: float
    lost_min: int
    lost_max: int
    lost_pct_mean: float  # mean over trials of 100 * lost / emitted
    lost_pct_min: float
    lost_pct_max: float
    duplicates: int  # total over trials
    blocked_s_mean: float
    achieved_rate_mean: float
    lost_at: str  # most common hop pair among trials that lost ("none" if none did)
    requested_rate: int | None = None  # lines/s asked (None: as fast as the app could)

    @property
    def rate_asked(self) -> str:
        return "max" if self.requested_rate is None else f"{self.requested_rate:,}"

    @property
    def unreached(self) -> bool:
        """The app did not reach the rate asked (mean over the cell's trials)."""
        asked = self.requested_rate
        return asked is not None and self.achieved_rate_mean < SLOWER * asked


def lost_pct(result: TrialResult) -> float:
    return 100.0 * result.lost / result.emitted if result.emitted else 0.0


def summarize_cell(label: str, results: Sequence[TrialResult]) -> CellStats:
    if not results:
        raise ValueError(f"cell {label} has no results to summarise")
    n = len(results)
    lost = [r.lost for r in results]
    pct = [lost_pct(r) for r in results]
    with_loss = sum(1 for count in lost if count)
    low, high = wilson_interval(with_loss, n)
    return CellStats(
        label=label, trials=n, trials_with_loss=with_loss, loss_share=with_loss / n,
        loss_share_low=low, loss_share_high=high,
        lost_mean=sum(lost) / n, lost_min=min(lost), lost_max=max(lost),
        lost_pct_mean=sum(pct) / n, lost_pct_min=min(pct), lost_pct_max=max(pct),
        duplicates=sum(r.duplicates for r in results),
        blocked_s_mean=sum(r.blocked_s for r in results) / n,
        achieved_rate_mean=sum(r.achieved_rate for r in results) / n,
        lost_at=_commonest([r.lost_at for r in results if r.lost]),
        requested_rate=results[0].requested_rate,
    )


def summarize_cells(results: Sequence[TrialResult],
                    label_of: Callable[[TrialResult], str]) -> list[CellStats]:
    """One CellStats per label, in the order the labels first appear (the run's order)."""
    groups: dict[str, list[TrialResult]] = {}
    for result in results:
        groups.setdefault(label_of(result), []).append(result)
    return [summarize_cell(label, group) for label, group in groups.items()]


def summarize(results: Sequence[TrialResult]) -> list[CellStats]:
    """One CellStats per cell (TrialResult.label), in the run's order."""
    return summarize_cells(results, lambda result: result.label)


def over_max_loss(results: Sequence[TrialResult], max_loss: int | None) -> list[str]:
    """Cells where some trial lost more than `max_loss` lines (the regression verdict)."""
    if max_loss is None:
        return []
    return sorted({r.label for r in results if r.lost > max_loss})


def _commonest(hops: Sequence[str]) -> str:
    # Ties go to the hop seen first, so the answer does not depend on set ordering.
    return max(hops, key=hops.count) if hops else "none"
