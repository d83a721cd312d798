"""A run: every trial of a scenario, one after another, with live progress, into runs/<run-id>/.

results.json is rewritten after each trial, so Ctrl-C or a failure keeps every finished trial.
"""

from __future__ import annotations

import datetime
import platform
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pipeline_tests import engine, report
from pipeline_tests.result import TrialResult
from pipeline_tests.scenario import Scenario, to_dict
from pipeline_tests.trial import Progress as TrialProgress
from pipeline_tests.trial import TrialSpec, run_trial, save_result


def new_run_id() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def plan(scenario: Scenario, run_id: str, run_dir: Path, image: str) -> list[TrialSpec]:
    specs = []
    for topology in scenario.topologies:
        for trial in range(1, scenario.trials + 1):
            name = f"{topology}-{scenario.router.kind}-{scenario.stop.sequence}-{trial}"
            specs.append(TrialSpec(scenario, topology, trial, f"pt-{run_id}-{len(specs) + 1}",
                                   run_dir / name, image))
    return specs


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


def _bar_text(p: TrialProgress) -> str:
    return (f"{p.phase:<9} emitted {p.emitted:>10,}  received {p.received:>10,}  "
            f"lost so far {max(p.emitted - p.received, 0):>9,}")


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    results: tuple[TrialResult, ...]
    interrupted: bool


def execute(scenario: Scenario, out: Path, client: docker.DockerClient, image: str,
            console: Console) -> RunOutcome:
    run_id = new_run_id()
    run_dir = out / run_id
    run_dir.mkdir(parents=True)
    header = {"run_id": run_id, "scenario": to_dict(scenario),
              "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": {"host": platform.node(), "kernel": platform.release(),
                          "docker": engine.engine_info(client).version}}
    results: list[TrialResult] = []
    specs = plan(scenario, run_id, run_dir, image)
    console.print(f"run [bold]{run_id}[/]: {len(specs)} trials -> {run_dir}")
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=24),
               TimeElapsedColumn(), TextColumn("{task.fields[detail]}"))
    try:
        with sigterm_as_interrupt(), Progress(*columns, console=console) as bars:
            _trials(specs, client, bars, run_dir / "results.json", header, results)
    except KeyboardInterrupt:
        return RunOutcome(run_dir, tuple(results), interrupted=True)
    return RunOutcome(run_dir, tuple(results), interrupted=False)


def _trials(specs: list[TrialSpec], client: docker.DockerClient, bars: Progress,
            results_path: Path, header: dict[str, Any], results: list[TrialResult]) -> None:
    for spec in specs:
        scenario = spec.scenario
        total = scenario.stop.after
        label = f"{spec.topology}/{scenario.router.kind}/{scenario.stop.sequence} #{spec.trial}"
        task = bars.add_task(label, total=total, detail="starting")

        def show(p: TrialProgress, task: TaskID = task, total: float = total) -> None:
            done = min(p.elapsed, total) if p.phase != "starting" else 0
            bars.update(task, completed=done, detail=_bar_text(p))

        result = run_trial(spec, client, show)
        bars.update(task, completed=total,
                    detail=f"done: lost {result.lost:,} of {result.emitted:,}")
        save_result(result, spec.directory)
        results.append(result)
        report.write_results(results_path, header, results)
