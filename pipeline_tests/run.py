"""A run: every trial of every cell of a scenario, one after another, with live progress, into
runs/<run-id>/. results.json is rewritten after each trial, so Ctrl-C or a failure keeps every
finished trial, and `--resume RUN_ID` runs only the trials that did not finish.
"""

from __future__ import annotations

import dataclasses
import datetime
import platform
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pipeline_tests import engine, matrix, report
from pipeline_tests import resume as resuming
from pipeline_tests.result import TrialResult
from pipeline_tests.scenario import Scenario, to_dict
from pipeline_tests.trial import Progress as TrialProgress
from pipeline_tests.trial import TrialSpec, run_trial, save_result


@dataclass(frozen=True)
class PlannedTrial:
    cell: matrix.Cell
    spec: TrialSpec


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    header: dict[str, Any]  # results.json's run_id, started, machine and scenario
    results: tuple[TrialResult, ...]
    interrupted: bool


def new_run_id() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def plan(scenario: Scenario, run_id: str, run_dir: Path, image: str) -> list[PlannedTrial]:
    planned: list[PlannedTrial] = []
    for cell in matrix.cells_of(scenario):
        for trial in range(1, cell.scenario.trials + 1):
            spec = TrialSpec(cell.scenario, cell.scenario.topologies[0], trial,
                             f"pt-{run_id}-{len(planned) + 1}",
                             run_dir / matrix.trial_dirname(cell, trial), image)
            planned.append(PlannedTrial(cell, spec))
    return planned


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI timeout, `kill`) cleans up exactly like Ctrl-C does."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _header(scenario: Scenario, client: docker.DockerClient, out: Path,
            resume: str | None) -> tuple[str, Path, dict[str, Any]]:
    if resume:
        run_dir = resuming.open_run(out, resume)
        header = {k: v for k, v in resuming.stored_header(run_dir).items()
                  if k not in ("trials", "cells")}
        resuming.check_same_scenario(header["scenario"], to_dict(scenario), run_dir)
        return resume, run_dir, header
    run_id = new_run_id()
    run_dir = out / run_id
    run_dir.mkdir(parents=True)
    header = {"run_id": run_id, "scenario": to_dict(scenario),
              "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": {"host": platform.node(), "kernel": platform.release(),
                          "docker": engine.engine_info(client).version}}
    # Written before the first trial, so even a run interrupted at once can be resumed.
    report.write_results(run_dir / "results.json", header, [])
    return run_id, run_dir, header


def execute(scenario: Scenario, out: Path, client: docker.DockerClient, image: str,
            console: Console, resume: str | None = None) -> RunOutcome:
    run_id, run_dir, header = _header(scenario, client, out, resume)
    planned = plan(scenario, run_id, run_dir, image)
    done = resuming.finished_trials(run_dir)
    resuming.discard_unfinished(run_dir, [p.spec.directory.name for p in planned])
    results = [resuming.load_result(done[p.spec.directory.name]) for p in planned
               if p.spec.directory.name in done]
    todo = [p for p in planned if p.spec.directory.name not in done]
    console.print(f"run [bold]{run_id}[/]: {len(planned)} trials in "
                  f"{len({p.cell.label for p in planned})} cells, {len(todo)} to run -> {run_dir}")
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=20),
               TimeElapsedColumn(), TextColumn("{task.fields[detail]}"))
    try:
        with sigterm_as_interrupt(), Progress(*columns, console=console) as bars:
            _trials(todo, client, bars, run_dir / "results.json", header, results)
    except KeyboardInterrupt:
        return RunOutcome(run_dir, header, tuple(results), interrupted=True)
    return RunOutcome(run_dir, header, tuple(results), interrupted=False)


def _trials(todo: list[PlannedTrial], client: docker.DockerClient, bars: Progress,
            results_path: Path, header: dict[str, Any], results: list[TrialResult]) -> None:
    overall = bars.add_task("all trials", total=len(todo), detail="")
    started = time.monotonic()
    for done, planned in enumerate(todo):
        spec = planned.spec
        label = (planned.cell.label if header["scenario"].get("matrix")
                 else f"{spec.topology}/{spec.scenario.router.kind}/{spec.scenario.stop.sequence}")
        task = bars.add_task(f"{label} #{spec.trial}", total=spec.scenario.stop.after,
                             detail="starting")

        def show(p: TrialProgress, task: TaskID = task, total: float = spec.scenario.stop.after
                 ) -> None:
            completed = min(p.elapsed, total) if p.phase != "starting" else 0
            bars.update(task, completed=completed, detail=_bar_text(p))

        result = run_trial(spec, client, show)
        if header["scenario"].get("matrix"):
            result = dataclasses.replace(result, cell=planned.cell.label)
        summary = f"done: lost {result.lost:,} of {result.emitted:,}"
        bars.update(task, completed=spec.scenario.stop.after, detail=summary)
        if not bars.console.is_terminal:  # a CI log gets a line per trial instead of live bars
            bars.console.print(f"{label} #{spec.trial} {summary} "
                               f"({_eta(started, done + 1, len(todo)) or 'last trial'})")
        save_result(result, spec.directory)
        results.append(result)
        report.write_results(results_path, header, results)
        bars.update(overall, completed=done + 1, detail=_eta(started, done + 1, len(todo)))


def _bar_text(p: TrialProgress) -> str:
    return (f"{p.phase:<9} emitted {p.emitted:>10,}  received {p.received:>10,}  "
            f"lost so far {max(p.emitted - p.received, 0):>9,}")


def _eta(started: float, done: int, total: int) -> str:
    left = (time.monotonic() - started) / done * (total - done)
    return f"{done}/{total} trials, about {left / 60:.0f} min left" if done < total else ""
