"""runs/<run-id>/report.html: one self-contained page (inline SVG plots, no scripts) to show
where lines were lost: lost % per cell, a loss map per trial, and the tables of the terminal report.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import mean
from typing import Any

import jinja2
from matplotlib.figure import Figure

from pipeline_tests._container.tally import NO_STOP
from pipeline_tests._results.cpu import cpu_rows
from pipeline_tests._results.frontier import Bracket, run_brackets
from pipeline_tests._results.hops import Waterfall, waterfall_cells, waterfall_hops, waterfalls
from pipeline_tests._results.log_errors import log_error_rows
from pipeline_tests._results.outcome import outcome
from pipeline_tests._results.sequential import run_decisions, stopped
from pipeline_tests._results.side_by_side import compared, engine_rows
from pipeline_tests._results.stats import CellStats, lost_pct, summarize
from pipeline_tests._results.trial_result import TrialFailure, TrialResult, cell_label
from pipeline_tests._results.verdict import verdict_parts

RATE_AXIS = "workload.rate"
MAX_MAP_ROWS = 60  # beyond this a loss map is unreadable; the tables still list every trial
LOST, KEPT, STOP = "#d62728", "#c7e9c0", "#222222"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pipeline_tests._report", "."), autoescape=True,
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: drop the XML prologue and DOCTYPE


def cells_svg(cells: Sequence[CellStats]) -> str:
    """Mean lost % per cell, with min-max whiskers and how many trials lost."""
    figure = Figure(figsize=(8, 0.5 + 0.45 * len(cells)))
    axes = figure.subplots()
    rows = range(len(cells))
    means = [c.lost_pct_mean for c in cells]
    whiskers = [[c.lost_pct_mean - c.lost_pct_min for c in cells],
                [c.lost_pct_max - c.lost_pct_mean for c in cells]]
    axes.barh(rows, means, xerr=whiskers, color=LOST, capsize=3)
    for row, cell in zip(rows, cells, strict=True):
        axes.annotate(f" {cell.trials_with_loss}/{cell.trials} trials lost",
                      (cell.lost_pct_max, row), va="center", fontsize=8)
    axes.set_yticks(list(rows), [c.label for c in cells], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, max([*means, *(c.lost_pct_max for c in cells), 1.0]) * 1.3)
    axes.set_xlabel("lines lost, % of emitted (bar: mean, whiskers: min-max)")
    return _svg(figure)


def frontier_svg(found: Sequence[Bracket]) -> str:
    """Per cell (topology/router/task size...), the points a search tried (green: no loss,
    red: loss, grey: undecided) and the bracket between the nearest two."""
    figure = Figure(figsize=(8, 0.6 + 0.5 * len(found)))
    axes = figure.subplots()
    numeric = all(isinstance(p.value, (int, float)) for b in found for p in b.points)
    for row, bracket in enumerate(found):
        if bracket.safe is not None and bracket.lossy is not None and numeric:
            axes.plot([bracket.safe, bracket.lossy], [row, row], color=STOP, linewidth=6,
                      alpha=0.25, solid_capstyle="butt")
        for point in bracket.points:
            colour = {"loses": LOST, "does not lose": "#2ca02c"}.get(point.decision.answer,
                                                                     "#999999")
            x = point.value if numeric else str(point.value)
            axes.plot([x], [row], "o", color=colour)
            axes.annotate(f"{point.decision.trials}", (x, row), textcoords="offset points",
                          xytext=(0, 6), ha="center", fontsize=7)
    if numeric:
        axes.set_xscale("log")
    axes.set_yticks(range(len(found)), [b.cell for b in found], fontsize=8)
    axes.set_ylim(len(found) - 0.5, -0.5)
    axis = found[0].axis
    axes.set_xlabel(f"{axis} (points tried, trials above each; green: no loss, red: loss, "
                    "grey: undecided; band: the bracket)")
    return _svg(figure)


def rate_curves(results: Sequence[TrialResult]) -> dict[str, list[tuple[float, float]]]:
    """Where loss starts: for a matrix with a `workload.rate` axis, one curve per combination
    of the other axes, of (mean lines/s the app reached, mean lost %) per cell, by rate."""
    cells: dict[str, dict[str, list[TrialResult]]] = {}
    for result in results:
        axes = dict(result.coordinates)
        if axes.pop(RATE_AXIS, None) is None:
            return {}  # no rate axis: nothing to draw
        cells.setdefault(cell_label(axes), {}).setdefault(result.label, []).append(result)
    return {group: sorted((mean(t.achieved_rate for t in trials), mean(map(lost_pct, trials)))
                          for trials in by_cell.values())
            for group, by_cell in cells.items()}


def rate_svg(curves: Mapping[str, list[tuple[float, float]]]) -> str:
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    for group, points in curves.items():
        axes.plot([x for x, _ in points], [y for _, y in points], marker="o", label=group)
    axes.set_xscale("log")
    axes.set_xlabel("lines/s the app reached (mean per cell)")
    axes.set_ylabel("lines lost, % (mean)")
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=7)
    return _svg(figure)


def loss_map_svg(results: Sequence[TrialResult]) -> str:
    """One row per trial and stream: lost seq ranges in red along the stream, the stop as a tick."""
    rows = _map_rows(results)[:MAX_MAP_ROWS]
    figure = Figure(figsize=(8, 0.6 + 0.25 * len(rows)))
    axes = figure.subplots()
    for y, (_, emitted, stop, lost) in enumerate(rows):
        axes.broken_barh([(0, 100)], (y - 0.4, 0.8), color=KEPT)
        axes.broken_barh([(100 * first / emitted, 100 * (last + 1 - first) / emitted)
                          for first, last in lost], (y - 0.4, 0.8), color=LOST)
        if stop != NO_STOP:
            axes.plot([100 * stop / emitted] * 2, [y - 0.45, y + 0.45], color=STOP, lw=1.5)
    axes.set_yticks(range(len(rows)), [label for label, *_ in rows], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("position in the stream, % of lines emitted "
                    "(red: lost, green: delivered, black tick: stop signal)")
    return _svg(figure)


def _map_rows(results: Sequence[TrialResult]
              ) -> list[tuple[str, int, int, list[tuple[int, int]]]]:
    rows = []
    for result in results:
        for stream, emitted in enumerate(result.emitted_by_stream):
            if emitted == 0:
                continue
            label = f"{result.label} #{result.trial}"
            if len(result.emitted_by_stream) > 1:
                label += f" s{stream}"
            stop = result.stop_seq[stream] if stream < len(result.stop_seq) else NO_STOP
            lost = [(first, last) for s, first, last in result.lost_ranges if s == stream]
            rows.append((label, emitted, stop, lost))
    return rows


def _hop_cells(fall: Waterfall, hops: Sequence[str]) -> list[tuple[str, bool]]:
    """A cell's waterfall texts under the columns `hops`, and whether lines were lost there."""
    lost = {step.hop: step.lost > 0 for step in fall.steps}
    return [(text, lost.get(hop, False))
            for hop, text in zip(hops, waterfall_cells(fall, hops), strict=True)]


def render_html(header: Mapping[str, Any], results: Sequence[TrialResult],
                max_loss: int | None, failures: Sequence[TrialFailure] = (),
                interrupted: bool = False) -> str:
    cells = summarize(results)
    decisions = run_decisions(header.get("scenario", {}), results)
    found = run_brackets(header.get("scenario", {}), results)
    curves = rate_curves(results)
    falls = waterfalls(results)
    return _TEMPLATES.get_template("report.html.j2").render(
        run_id=header.get("run_id", "?"), started=header.get("started", "?"),
        machine=header.get("machine", {}), scenario=header.get("scenario", {}),
        results=results, cells=cells, max_loss=max_loss,
        verdict=verdict_parts(results, failures, interrupted, decisions, found),
        waterfalls=falls,
        stopped=lambda cell: stopped(decisions, cell.label, cell.trials),
        hops=waterfall_hops(falls), hop_cells=_hop_cells, logged=log_error_rows(results),
        cpu=cpu_rows(results),
        decided=outcome(results, failures, interrupted, max_loss), lost_pct=lost_pct,
        cells_svg=cells_svg(cells) if cells else "",
        rate_svg=rate_svg(curves) if curves and not found else "",
        brackets=found, frontier_svg=frontier_svg(found) if found else "",
        loss_map_svg=loss_map_svg(results) if results else "",
        map_rows=len(_map_rows(results)), max_map_rows=MAX_MAP_ROWS,
        engines=engine_rows(header.get("engines", []), results)
        if compared(header.get("engines", [])) else [])


def write_html(path: Path, header: Mapping[str, Any], results: Sequence[TrialResult],
               max_loss: int | None, failures: Sequence[TrialFailure] = (),
               interrupted: bool = False) -> None:
    path.write_text(render_html(header, results, max_loss, failures, interrupted))
