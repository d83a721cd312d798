"""The terminal report: a table per trial, per cell, per hop and (when they differ) per engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline_tests._results.frontier import Bracket
from pipeline_tests._results.hops import (
    Waterfall,
    waterfall_cells,
    waterfall_hops,
    waterfalls,
)
from pipeline_tests._results.log_errors import log_error_rows, shown
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.sequential import Decision, stopped
from pipeline_tests._results.side_by_side import EngineRow, compared, engine_rows
from pipeline_tests._results.stats import CellStats, lost_pct, summarize
from pipeline_tests._results.trial_result import TrialResult
from pipeline_tests._results.verdict import verdict_parts

SHOWN_RANGES = 3


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
        table.add_row(r.label, str(r.trial), f"{r.emitted:,}", f"{r.received_distinct:,}",
                      f"[red]{r.lost:,}[/]" if r.lost else "0", f"{lost_pct(r):.2f}",
                      str(r.duplicates), str(r.reordered), _ranges(r),
                      f"{r.lost_after_stop:,}",
                      f"{_ms(r.latency_p50_ms)}/{_ms(r.latency_p99_ms)}",
                      f"{r.achieved_rate:,.0f}", r.lost_at)
    return table


def cell_table(summaries: Sequence[CellStats],
               decisions: Mapping[str, Decision] | None = None) -> Table:
    table = Table(title="Per cell", title_justify="left")
    for name in ("cell", "trials that lost (95% CI)", "lost mean", "lost min-max",
                 "lost % mean", "dup", "blocked s", "lines/s asked", "lines/s reached",
                 "lost at", "stopped"):
        table.add_column(name, justify="left" if name in ("cell", "lost at", "stopped")
                         else "right", no_wrap=name != "cell")
    for s in summaries:
        table.add_row(s.label,
                      f"{s.trials_with_loss}/{s.trials} "
                      f"({s.loss_share_low:.0%}-{s.loss_share_high:.0%})",
                      f"{s.lost_mean:,.1f}", f"{s.lost_min:,}-{s.lost_max:,}",
                      f"{s.lost_pct_mean:.2f}", str(s.duplicates), f"{s.blocked_s_mean:.2f}",
                      s.rate_asked, _reached(s), s.lost_at,
                      _stopped(decisions or {}, s))
    return table


def _stopped(decisions: Mapping[str, Decision], cell: CellStats) -> str:
    decision = decisions.get(cell.label)
    text = stopped(decisions, cell.label, cell.trials)
    return text if decision is None else f"{decision.answer}: {text}"


def _reached(cell: CellStats) -> str:
    text = f"{cell.achieved_rate_mean:,.0f}"
    return f"[yellow]{text}[/]" if cell.unreached else text


def search_table(found: Sequence[Bracket]) -> Table:
    table = Table(title="Where loss starts (search)", title_justify="left")
    for name in ("cell", "question", "no loss at", "loss at", "confidence", "trials",
                 "points tried (value: answer, trials)"):
        table.add_column(name, justify="right" if name in ("no loss at", "loss at",
                                                           "confidence", "trials") else "left",
                         no_wrap=name not in ("points tried (value: answer, trials)",))
    for b in found:
        points = "; ".join(f"{p.value}: {p.decision.answer} ({p.decision.trials})"
                           for p in b.points)
        table.add_row(b.cell, b.question, "-" if b.safe is None else str(b.safe),
                      "-" if b.lossy is None else str(b.lossy), f"{b.confidence:.0%}",
                      str(b.trials), points)
    return table


def waterfall_table(falls: Sequence[Waterfall]) -> Table:
    hops = waterfall_hops(falls)
    names = [hop.replace("_", " ") for hop in hops]
    table = Table(title=f"Where lines were lost: emitted -> {' -> '.join(names)} "
                  "(summed over trials; share of emitted lost at each hop)",
                  title_justify="left")
    for name in ("cell", "emitted", *names):
        table.add_column(name, justify="left" if name == "cell" else "right", no_wrap=True)
    for fall in falls:
        table.add_row(fall.label, f"{fall.emitted:,}", *waterfall_cells(fall, hops))
    return table


def log_error_table(results: Sequence[TrialResult]) -> Table | None:
    """What each tier logged as going wrong, by kind, per cell (None: nothing)."""
    rows = log_error_rows(results)
    if not rows:
        return None
    table = Table(title="What the routers logged (warnings and errors, by kind)",
                  title_justify="left")
    for name in ("cell", "tier", "times", "trials", "first example"):
        table.add_column(name, justify="right" if name in ("times", "trials") else "left",
                         no_wrap=name in ("tier", "times", "trials"))
    for label, trials, error in rows:
        table.add_row(label, error.tier, f"{error.count:,}", f"{error.trials}/{trials}",
                      escape(shown(error)))
    return table


def engine_table(rows: Sequence[EngineRow]) -> Table:
    table = Table(title="Engines (each engine's trials of a topology summed)",
                  title_justify="left")
    for name in ("engine", "docker", "kernel", "cpus", "topology", "trials", "emitted", "lost",
                 "lost %", "lines/s mean"):
        table.add_column(name, justify="left" if name in ("engine", "docker", "kernel",
                                                          "topology") else "right",
                         no_wrap=True)
    for row in rows:
        pct, rate = row.lost_pct, row.rate_mean
        table.add_row(row.name, row.version, row.kernel, str(row.cpus or "?"), row.topology,
                      str(row.trials),
                      f"{row.emitted:,}", f"{row.lost:,}", "-" if pct is None else f"{pct:.2f}",
                      "-" if rate is None else f"{rate:,.0f}")
    return table


def print_report(console: Console, results: RunResults) -> None:
    if results.trials:
        console.print(trial_table(results.trials))
        console.print(cell_table(summarize(results.trials), results.decisions))
        console.print(waterfall_table(waterfalls(results.trials)))
        if results.brackets:
            console.print(search_table(results.brackets))
        logged = log_error_table(results.trials)
        if logged is not None:
            console.print(logged)
    engines = results.header.get("engines", [])
    if compared(engines):
        console.print(engine_table(engine_rows(engines, results.trials)))
    for f in results.failures:
        console.print(f"[red]FAILED[/] {f.label} #{f.trial}: {f.reason}", highlight=False)


def print_verdict(console: Console, results: RunResults) -> None:
    """The verdict (results.json `verdict`), one cell per line."""
    cells, notes = verdict_parts(results.trials, results.failures, results.interrupted,
                                 results.decisions, results.brackets)
    console.print("[bold]Verdict[/]:" + ("" if cells else " No trial finished."))
    for n, clause in enumerate(cells, 1):
        console.print(f"  {escape(clause)}{'.' if n == len(cells) else ';'}", highlight=False)
    for note in notes:
        console.print(f"  {escape(note)}", highlight=False)
