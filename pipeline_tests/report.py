"""The report: terminal tables (per trial, per cell) and runs/<run-id>/results.json."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline_tests.result import TrialResult
from pipeline_tests.stats import CellStats, lost_pct, summarize_cells

SHOWN_RANGES = 3


def cell_of(result: TrialResult) -> str:
    return result.cell or f"{result.topology}/{result.router}/{result.stop}"


def summarize(results: Sequence[TrialResult]) -> list[CellStats]:
    return summarize_cells(results, cell_of)


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
        table.add_row(cell_of(r), str(r.trial), f"{r.emitted:,}", f"{r.received_distinct:,}",
                      f"[red]{r.lost:,}[/]" if r.lost else "0", f"{lost_pct(r):.2f}",
                      str(r.duplicates), str(r.reordered), _ranges(r),
                      f"{r.lost_after_stop:,}",
                      f"{_ms(r.latency_p50_ms)}/{_ms(r.latency_p99_ms)}",
                      f"{r.achieved_rate:,.0f}", r.lost_at)
    return table


def cell_table(summaries: Sequence[CellStats]) -> Table:
    table = Table(title="Per cell", title_justify="left")
    for name in ("cell", "trials that lost (95% CI)", "lost mean", "lost min-max",
                 "lost % mean", "dup", "blocked s", "lines/s mean", "lost at"):
        table.add_column(name, justify="left" if name in ("cell", "lost at") else "right",
                         no_wrap=name != "cell")
    for s in summaries:
        table.add_row(s.label,
                      f"{s.trials_with_loss}/{s.trials} "
                      f"({s.loss_share_low:.0%}-{s.loss_share_high:.0%})",
                      f"{s.lost_mean:,.1f}", f"{s.lost_min:,}-{s.lost_max:,}",
                      f"{s.lost_pct_mean:.2f}", str(s.duplicates), f"{s.blocked_s_mean:.2f}",
                      f"{s.achieved_rate_mean:,.0f}", s.lost_at)
    return table


def print_report(console: Console, results: Sequence[TrialResult]) -> None:
    console.print(trial_table(results))
    console.print(cell_table(summarize(results)))


def write_results(path: Path, header: dict[str, Any], results: Sequence[TrialResult]) -> None:
    """results.json: written after every trial, so an interrupted run keeps what it measured."""
    data = {**header, "trials": [r.as_json() for r in results],
            "cells": [dataclasses.asdict(s) for s in summarize(results)]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def over_max_loss(results: Sequence[TrialResult], max_loss: int | None) -> list[str]:
    """Cells where some trial lost more than `max_loss` lines (the regression verdict)."""
    if max_loss is None:
        return []
    return sorted({cell_of(r) for r in results if r.lost > max_loss})
