"""The report: terminal tables (per trial, per cell) and runs/<run-id>/results.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline_tests.result import TrialResult

SHOWN_RANGES = 3


@dataclass(frozen=True)
class CellSummary:
    cell: str  # topology/router/stop
    trials: int
    trials_with_loss: int
    lost_mean: float
    lost_min: int
    lost_max: int
    lost_pct_mean: float
    duplicates: int
    achieved_rate_mean: float
    lost_at: str  # the most common hop of loss among trials that lost lines


def _cell(result: TrialResult) -> str:
    return f"{result.topology}/{result.router}/{result.stop}"


def lost_pct(result: TrialResult) -> float:
    return 100.0 * result.lost / result.emitted if result.emitted else 0.0


def summarize(results: Sequence[TrialResult]) -> list[CellSummary]:
    cells: dict[str, list[TrialResult]] = {}
    for result in results:
        cells.setdefault(_cell(result), []).append(result)
    summaries = []
    for cell, trials in cells.items():
        lost = [t.lost for t in trials]
        hops = [t.lost_at for t in trials if t.lost]
        summaries.append(CellSummary(
            cell=cell, trials=len(trials), trials_with_loss=sum(1 for n in lost if n),
            lost_mean=sum(lost) / len(lost), lost_min=min(lost), lost_max=max(lost),
            lost_pct_mean=sum(lost_pct(t) for t in trials) / len(trials),
            duplicates=sum(t.duplicates for t in trials),
            achieved_rate_mean=sum(t.achieved_rate for t in trials) / len(trials),
            lost_at=max(set(hops), key=hops.count) if hops else "none"))
    return summaries


def _ranges(result: TrialResult) -> str:
    shown = [f"{first}-{last}" if first != last else str(first)
             for _, first, last in result.lost_ranges[:SHOWN_RANGES]]
    more = len(result.lost_ranges) - SHOWN_RANGES
    return ", ".join(shown) + (f" (+{more})" if more > 0 else "")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def trial_table(results: Sequence[TrialResult]) -> Table:
    table = Table(title="Trials", title_justify="left")
    for name in ("cell", "#", "emitted", "received", "lost", "lost %", "dup", "reord",
                 "lost ranges", "lost after stop", "p50/p99 ms", "lines/s", "lost at"):
        table.add_column(name, justify="left" if name in ("cell", "lost ranges", "lost at")
                         else "right", no_wrap=name != "lost ranges")
    for r in results:
        table.add_row(_cell(r), str(r.trial), f"{r.emitted:,}", f"{r.received_distinct:,}",
                      f"[red]{r.lost:,}[/]" if r.lost else "0", f"{lost_pct(r):.2f}",
                      str(r.duplicates), str(r.reordered), _ranges(r),
                      f"{r.lost_after_stop:,}",
                      f"{_ms(r.latency_p50_ms)}/{_ms(r.latency_p99_ms)}",
                      f"{r.achieved_rate:,.0f}", r.lost_at)
    return table


def cell_table(summaries: Sequence[CellSummary]) -> Table:
    table = Table(title="Per topology", title_justify="left")
    for name in ("cell", "trials", "trials that lost", "lost mean", "lost min-max",
                 "lost % mean", "dup", "lines/s mean", "lost at"):
        table.add_column(name, justify="left" if name in ("cell", "lost at") else "right",
                         no_wrap=True)
    for s in summaries:
        table.add_row(s.cell, str(s.trials), f"{s.trials_with_loss}/{s.trials}",
                      f"{s.lost_mean:,.1f}", f"{s.lost_min:,}-{s.lost_max:,}",
                      f"{s.lost_pct_mean:.2f}", str(s.duplicates),
                      f"{s.achieved_rate_mean:,.0f}", s.lost_at)
    return table


def print_report(console: Console, results: Sequence[TrialResult]) -> None:
    console.print(trial_table(results))
    console.print(cell_table(summarize(results)))


def write_results(path: Path, header: dict[str, Any], results: Sequence[TrialResult]) -> None:
    """results.json: written after every trial, so an interrupted run keeps what it measured."""
    data = {**header, "trials": [r.as_json() for r in results],
            "cells": [s.__dict__ for s in summarize(results)]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def over_max_loss(results: Sequence[TrialResult], max_loss: int | None) -> list[str]:
    """Cells where some trial lost more than `max_loss` lines (the regression verdict)."""
    if max_loss is None:
        return []
    return sorted({_cell(r) for r in results if r.lost > max_loss})
