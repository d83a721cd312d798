"""What the task's cgroups say about CPU (TrialResult.cpu, from _trial/cpu_use.py): the
router's share of the task's CPU while the app flooded, the shares each container held, how
often the quota throttled; in words for the verdict and as rows for report.html. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline_tests._results.trial_result import TrialResult


def _flood(trial: TrialResult, name: str) -> Mapping[str, Any] | None:
    entry = trial.cpu.get(name)
    return entry.get("flood") if isinstance(entry, Mapping) else None


def router_share(trial: TrialResult) -> float | None:
    """The router's % of the CPU the app and the router used until the stop; None unknown."""
    app, router = _flood(trial, "app"), _flood(trial, "router")
    if app is None or router is None or app["usage_s"] + router["usage_s"] <= 0:
        return None
    return 100.0 * router["usage_s"] / (app["usage_s"] + router["usage_s"])


def _throttled(trial: TrialResult) -> tuple[str, int] | None:
    """Who was throttled until the stop, and how often: the router by its own limit, else the
    task by its quota; None when neither was."""
    for name, who in (("router", "the router"), ("task", "the task")):
        stat = _flood(trial, name)
        if stat is not None and stat["nr_throttled"] > 0:
            return who, stat["nr_throttled"]
    return None


def _span(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def cpu_clause(group: Sequence[TrialResult]) -> str:
    """'the router got 0.8% of the task's CPU while the app ran (2 of 258 CPU shares), the task
    was throttled 1,234 times'; empty where no trial of the cell has the figures."""
    measured = [(t, share) for t in group if (share := router_share(t)) is not None]
    if not measured:
        return ""
    mean = sum(share for _, share in measured) / len(measured)
    pct = f"{mean:.{0 if mean >= 9.95 else 1 if mean >= 0.095 else 2}f}%"
    text = f"the router got {pct} of the task's CPU while the app ran"
    first = measured[0][0]
    router, app = (_flood(first, name) or {} for name in ("router", "app"))
    mine, theirs = router.get("shares"), app.get("shares")
    if mine is not None and theirs is not None and (mine, theirs) != (1024, 1024):
        text += f" ({mine:,} of {mine + theirs:,} CPU shares)"
    throttled = [found for t, _ in measured if (found := _throttled(t)) is not None]
    if throttled:
        who = throttled[0][0]
        times = _span([n for w, n in throttled if w == who])
        text += f", {who} was throttled {times} times"
    return text


@dataclass(frozen=True)
class CpuRow:
    """One trial's CPU for report.html (None: not measured)."""

    label: str
    trial: int
    app_s: float | None
    router_s: float | None
    router_pct: float | None
    shares: str  # "256 / 2", or "" when not read
    throttled: str  # "task 1,234 (20.1 s)", or ""
    note: str


def cpu_rows(trials: Sequence[TrialResult]) -> list[CpuRow]:
    """The trials that carry CPU figures (measured or not, with why)."""
    rows = []
    for t in trials:
        if not t.cpu:
            continue
        app, router = _flood(t, "app"), _flood(t, "router")
        shares = ("" if app is None or router is None or None in (app["shares"],
                                                                  router["shares"])
                  else f"{app['shares']:,} / {router['shares']:,}")
        throttled = [f"{name} {stat['nr_throttled']:,} ({stat['throttled_s']:.1f} s)"
                     for name in ("app", "router", "task")
                     if (stat := _flood(t, name)) is not None and stat["nr_throttled"]]
        rows.append(CpuRow(t.label, t.trial, None if app is None else app["usage_s"],
                           None if router is None else router["usage_s"], router_share(t),
                           shares, ", ".join(throttled), str(t.cpu.get("note", ""))))
    return rows
