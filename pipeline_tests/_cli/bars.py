"""The CLI's progress display: rich progress bars on a terminal, a line per trial in a CI log.
One consumer of the run's typed events (pipeline_tests._events)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pipeline_tests._events import (
    CellsProgress,
    Event,
    ImageProgress,
    RunFinished,
    RunStarted,
    TrialErrored,
    TrialFinished,
    TrialProgress,
    TrialStarted,
)
from pipeline_tests._results.run_results import RunResults


class ProgressBars:
    """Call with each event; `results` holds the RunFinished results once the run ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.results: RunResults | None = None
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20),
                              TimeElapsedColumn(), TextColumn("{task.fields[detail]}"),
                              console=console)
        self._overall: TaskID | None = None
        self._task: TaskID | None = None
        self._flood = 1.0
        self._started = time.monotonic()
        self._done = 0
        self._total = 0
        self._said: dict[str, str] = {}  # cell -> why it stopped, once said

    def __call__(self, event: Event) -> None:
        if isinstance(event, ImageProgress):
            self.console.print(f"image: {event.text}", highlight=False)
        elif isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, CellsProgress):
            self._cells(event)
        elif isinstance(event, TrialStarted):
            self._flood = event.flood_seconds
            self._task = self._bars.add_task(f"{event.label} #{event.trial}",
                                             total=event.flood_seconds, detail="starting")
        elif isinstance(event, TrialProgress) and self._task is not None:
            done = min(event.elapsed, self._flood) if event.phase != "starting" else 0
            self._bars.update(self._task, completed=done, detail=_progress_text(event))
        elif isinstance(event, (TrialFinished, TrialErrored)):
            self._trial_ended(event)
        elif isinstance(event, RunFinished):
            self._bars.stop()
            self.results = event.results

    def _run_started(self, event: RunStarted) -> None:
        self.console.print(f"run [bold]{event.run_id}[/]: {event.trials} trials in "
                           f"{len(event.cells)} cells, {event.to_run} to run -> {event.run_dir}")
        self._total, self._started = event.to_run, time.monotonic()
        self._bars.start()
        self._overall = self._bars.add_task("all trials", total=event.to_run, detail="")

    def _cells(self, event: CellsProgress) -> None:
        """A line when a cell stops (decided, or its trials run); the overall bar's total
        becomes the trials that remain at most."""
        for cell in event.cells:
            if cell.answer and cell.stopped and self._said.get(cell.label) != cell.stopped:
                if cell.label in self._said or self._done:  # not the finished ones of a resume
                    answer = f"{cell.answer}: " if cell.answer else ""
                    self.console.print(f"{cell.label}: {answer}{cell.stopped} after "
                                       f"{cell.trials} trial{'s' if cell.trials != 1 else ''}",
                                       highlight=False)
                self._said[cell.label] = cell.stopped
        self._total = self._done + event.left_at_most
        if self._overall is not None:
            decided = (f"{len(event.decided)}/{len(event.cells)} cells decided at "
                       f"{event.confidence:.0%}, " if event.confidence else "")
            self._bars.update(self._overall, total=max(self._total, 1),
                              detail=f"{decided}{event.left_at_most} trials left at most")

    def _trial_ended(self, event: TrialFinished | TrialErrored) -> None:
        if isinstance(event, TrialFinished):
            r = event.result
            label, summary = f"{r.label} #{r.trial}", f"done: lost {r.lost:,} of {r.emitted:,}"
        else:
            f = event.failure
            label, summary = f"{f.label} #{f.trial}", "[red]FAILED[/]: see the report"
        self._done += 1
        if self._task is not None:
            self._bars.update(self._task, completed=self._flood, detail=summary)
        if not self.console.is_terminal:  # a CI log gets a line per trial instead of live bars
            self.console.print(f"{label} {summary} ({self._eta() or 'last trial'})")
        if self._overall is not None:
            self._bars.update(self._overall, completed=self._done)

    def _eta(self) -> str:
        if self._done >= self._total:
            return ""
        left = (time.monotonic() - self._started) / self._done * (self._total - self._done)
        return f"{self._done}/{self._total} trials at most, about {left / 60:.0f} min left"


def _progress_text(p: TrialProgress) -> str:
    return (f"{p.phase:<9} emitted {p.emitted:>10,}  received {p.received:>10,}  "
            f"lost so far {max(p.emitted - p.received, 0):>9,}")
