"""What a run tells its caller while it goes: typed progress events, in this order:

    RunStarted, CellsProgress, then per trial: TrialStarted, TrialProgress... (with StopStep
    and SinkSeen in between), TrialFinished | TrialErrored, CellsProgress; then RunFinished
    (also after Ctrl-C, with the trials that finished)

`run(..., on_event=callback)` calls the callback in the run's own thread, a few times a second
while a trial runs. The CLI's progress bars and the live view are consumers of these; so can a
caller's own code be (`on_event=print` shows them all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_tests._results.trial_result import TrialFailure, TrialResult, hops_for

if TYPE_CHECKING:  # RunResults imports nothing from here; only the annotation needs it
    from pipeline_tests._results.run_results import RunResults


@dataclass(frozen=True)
class ImageProgress:
    """The fixture image is being built (first run on a machine: about a minute)."""

    text: str


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    run_dir: Path
    trials: int  # planned in all (trials: auto: at most)
    to_run: int  # not already finished (a resumed run keeps the finished ones); at most
    cells: tuple[str, ...]
    hops: tuple[str, ...] = hops_for(())  # the hops its cells count (aggregator_*: two tiers)


@dataclass(frozen=True)
class CellProgress:
    """Where one cell stands: trials finished, how many more it may run, its answer so far."""

    label: str
    trials: int  # finished (a resumed run's included)
    left_at_most: int  # trials it may still run (0: it stopped)
    answer: str  # "loses", "does not lose", "undecided"; "" with a fixed number of trials
    stopped: str  # why it stopped ("decided at 95%", "reached max_trials (10)", "3 trials");
    # "" while it runs


@dataclass(frozen=True)
class CellsProgress:
    """Every cell's state, after the run starts and after each trial: which cells are decided
    and how many trials remain at most (trials: auto stops a cell once it is decided)."""

    cells: tuple[CellProgress, ...]
    left_at_most: int  # over all cells
    confidence: float | None  # trials: auto; None with a fixed number of trials

    @property
    def decided(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.cells
                     if c.stopped.startswith(("decided", "bracketed")))


@dataclass(frozen=True)
class TrialStarted:
    label: str  # the cell, e.g. "firelens/builtin/ecs"
    trial: int  # 1-based, within the cell
    index: int  # 1-based, among the trials this run carries out
    of: int  # trials this run carries out (trials: auto: at most, as known when it started)
    flood_seconds: float  # how long the app floods before the stop sequence


@dataclass(frozen=True)
class TrialProgress:
    label: str
    trial: int
    phase: str  # "starting", "flooding", "stopping", "draining"
    elapsed: float  # seconds since the flood started
    emitted: int  # lines the app has emitted so far
    received: int  # lines the sink has received so far
    router_in: int | None = None  # lines the router accepted so far (None: it does not say)
    router_out: int | None = None  # lines the router sent on so far
    aggregator_in: int | None = None  # the same for the aggregator tier (topology aggregator)
    aggregator_out: int | None = None

    @property
    def hops(self) -> dict[str, int | None]:
        """The counts so far by hop (trial_result.HOPS)."""
        return {"app": self.emitted, "router_in": self.router_in,
                "router_out": self.router_out, "aggregator_in": self.aggregator_in,
                "aggregator_out": self.aggregator_out, "sink": self.received}


@dataclass(frozen=True)
class StopStep:
    """One step of the stop sequence as it happens: a signal sent, or a container gone."""

    label: str
    trial: int
    container: str  # "app", "router", or "aggregator" (its own end, after the drain)
    action: str  # "SIGTERM", "SIGKILL" or "exited"
    elapsed: float  # seconds since the flood started (TrialProgress.elapsed's clock)


@dataclass(frozen=True)
class SinkSeen:
    """The sink's loss map so far (a few times a second): which seqs of each stream arrived.
    Exact at `resolution`: gaps narrower than it are folded into the ranges around them."""

    label: str
    trial: int
    elapsed: float
    emitted: tuple[int, ...]  # per stream: lines the app emitted so far (seqs 0..n-1)
    received: tuple[tuple[int, int, int], ...]  # (stream, first, last) inclusive, by stream
    resolution: int = 1


@dataclass(frozen=True)
class TrialFinished:
    result: TrialResult


@dataclass(frozen=True)
class TrialErrored:
    """A trial that could not be carried out; the run records it and goes on."""

    failure: TrialFailure


@dataclass(frozen=True)
class RunFinished:
    results: RunResults


Event = (ImageProgress | RunStarted | CellsProgress | TrialStarted | TrialProgress | StopStep
         | SinkSeen | TrialFinished | TrialErrored | RunFinished)
OnEvent = Callable[[Event], None]
