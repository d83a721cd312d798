import dataclasses
import math

import pytest
from test_report import BASE as REPORT_BASE

from pipeline_tests._results.stats import (
    CellStats,
    summarize_cell,
    summarize_cells,
    wilson_interval,
)

# The shared example trial, as blocked as these tests need it.
BASE = dataclasses.replace(REPORT_BASE, blocked_s=0.5)


def reference(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's closed form, written out independently: (p + z²/2n ± z√(p(1-p)/n + z²/4n²))
    / (1 + z²/n)."""
    p = successes / n
    root = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return ((p + z**2 / (2 * n) - root) / (1 + z**2 / n),
            (p + z**2 / (2 * n) + root) / (1 + z**2 / n))


@pytest.mark.parametrize(("successes", "n", "expected"), [
    (0, 5, (0.0, 0.4345)),
    (5, 5, (0.5655, 1.0)),
    (3, 10, (0.1078, 0.6032)),
    (1, 3, (0.0615, 0.7923)),
    (0, 3, (0.0, 0.5615)),
    (2, 3, (0.2077, 0.9385)),
    (50, 100, (0.4038, 0.5962)),
])
def test_wilson_known_values(successes: int, n: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(successes, n)
    assert (round(low, 4), round(high, 4)) == expected
    ref_low, ref_high = reference(successes, n)
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


def test_wilson_bounds_are_exact_at_the_edges() -> None:
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_other_z() -> None:
    low, high = wilson_interval(3, 10, z=1.0)
    assert (low, high) == pytest.approx(reference(3, 10, z=1.0), abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.1788, 0.4575)


@pytest.mark.parametrize(("successes", "n"), [(-1, 3), (4, 3), (0, -1)])
def test_wilson_rejects_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


def test_summarize_cell() -> None:
    lossy = dataclasses.replace(BASE, trial=2, lost=100, received_distinct=900, duplicates=5,
                                lost_at="app->router_in", blocked_s=1.5, achieved_rate=3000.0)
    worse = dataclasses.replace(BASE, trial=3, lost=250, emitted=500, duplicates=1,
                                lost_at="app->router_in", blocked_s=1.0, achieved_rate=1000.0)
    stats = summarize_cell("topology=firelens", [BASE, lossy, worse])
    low, high = wilson_interval(2, 3)
    assert stats == CellStats(
        label="topology=firelens", trials=3, trials_with_loss=2, loss_share=2 / 3,
        loss_share_low=low, loss_share_high=high, lost_mean=350 / 3, lost_min=0, lost_max=250,
        lost_pct_mean=20.0, lost_pct_min=0.0, lost_pct_max=50.0, duplicates=6,
        blocked_s_mean=1.0, achieved_rate_mean=3000.0, lost_at="app->router_in")


def test_summarize_cell_without_loss_keeps_an_honest_upper_bound() -> None:
    stats = summarize_cell("c", [BASE, dataclasses.replace(BASE, trial=2, emitted=0)])
    assert (stats.trials_with_loss, stats.loss_share, stats.loss_share_low) == (0, 0.0, 0.0)
    assert round(stats.loss_share_high, 4) == 0.6576
    assert (stats.lost_pct_max, stats.lost_at) == (0.0, "none")


def test_summarize_cell_needs_results() -> None:
    with pytest.raises(ValueError):
        summarize_cell("empty", [])


def test_lost_at_tie_goes_to_first_seen() -> None:
    a = dataclasses.replace(BASE, lost=1, lost_at="router_out->sink")
    b = dataclasses.replace(BASE, trial=2, lost=1, lost_at="app->router_in")
    assert summarize_cell("c", [a, b]).lost_at == "router_out->sink"


def test_summarize_cells_groups_in_first_seen_order() -> None:
    direct = dataclasses.replace(BASE, topology="direct-tcp", lost=3)
    cells = summarize_cells([direct, BASE, direct], lambda r: r.topology)
    assert [(c.label, c.trials, c.trials_with_loss) for c in cells] == [
        ("direct-tcp", 2, 2), ("firelens", 1, 0)]
