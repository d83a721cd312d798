"""A run: every trial of every cell of a scenario, one after another, into runs/<run-id>/.

`run()` is the library's entry point; the CLI and the pytest plugin call it. It checks what it
can before anything starts (scenario, engine, Compose, log-driver options, images), then runs
the trials. A trial that fails is recorded with its reason and the run goes on. results.json is
rewritten after each trial, so Ctrl-C or a crash keeps every finished trial, and
`resume=RUN_ID` runs only the trials that did not finish.
"""

from __future__ import annotations

import dataclasses
import datetime
import platform
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker
import requests

from pipeline_tests import _routers as routers
from pipeline_tests._docker import compose, engine, images
from pipeline_tests._errors import SetupError, TrialFailed
from pipeline_tests._events import (
    Event,
    ImageProgress,
    OnEvent,
    RunFinished,
    RunStarted,
    TrialErrored,
    TrialFinished,
    TrialStarted,
)
from pipeline_tests._results import stored
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import TrialFailure, TrialResult
from pipeline_tests._run import workers as run_engines
from pipeline_tests._run.workers import RunEngine
from pipeline_tests._scenario import matrix
from pipeline_tests._scenario.scenario import Scenario, to_dict
from pipeline_tests._trial import TrialSpec, run_trial, save_result


@dataclass(frozen=True)
class PlannedTrial:
    cell: matrix.Cell
    spec: TrialSpec

    @property
    def label(self) -> str:
        scenario = self.spec.scenario
        return self.cell.label if self.cell.values[1:] else (
            f"{self.spec.topology}/{scenario.router.kind}/{scenario.stop.sequence}")


def _ignore(event: Event) -> None:
    pass


def run(scenario: Scenario, out: str | Path = "runs", *, on_event: OnEvent | None = None,
        pull: bool = False, resume: str | None = None,
        client: docker.DockerClient | None = None) -> RunResults:
    """Run every trial of `scenario` into OUT/<run-id>/ and return the results.

    on_event: called with each progress event (see pipeline_tests._events).
    pull: `docker pull` a router image that is not present.
    resume: the id of an interrupted run in OUT to continue (same scenario).
    client: the local engine's client (default: docker's own environment).
    The scenario's `engines` (default: local) say where trials run; with several, in parallel.
    Raises InputError or SetupError before anything starts; KeyboardInterrupt after the
    results so far were written (and sent as RunFinished).
    """
    emit = on_event or _ignore
    scenario = scenario.with_overrides()  # checks a Scenario built in Python, as YAML is
    cells = matrix.cells_of(scenario)
    for cell in cells:
        _check_routers(cell.scenario)
    out = Path(out).expanduser().resolve()
    if resume:
        stored.open_run(out, resume)  # a wrong id fails before anything is built
    with engine.api_errors():
        seats = _engines(cells, client, pull, emit)
        run_id, run_dir, header = _header(scenario, seats, out, resume)
    return _execute(plan(cells, run_id, run_dir), run_dir, header, seats, emit)


def _check_routers(scenario: Scenario) -> None:
    """What each router tier's kind cannot carry out, refused before anything starts."""
    routers.check(scenario.router)
    if "aggregator" in scenario.topologies:
        routers.check(scenario.aggregator)


def _engines(cells: list[matrix.Cell], client: docker.DockerClient | None, pull: bool,
             emit: OnEvent) -> list[RunEngine]:
    """Every engine the cells name, checked, with the fixture image (built on the local one)."""
    compose.check_compose()
    local_client, local_image = client, ""

    def local() -> docker.DockerClient:
        nonlocal local_client
        local_client = local_client or engine.connect()
        return local_client

    def image() -> str:
        nonlocal local_image
        local_image = local_image or images.fixture_image(
            local(), build=True, progress=lambda text: emit(ImageProgress(text)))
        return local_image

    return [run_engines.prepare(name, local, image, cells, pull, emit)
            for name in run_engines.engine_names(cells)]


def new_run_id() -> str:
    """A run's directory name: when it started, and 4 hex digits apart from any other."""
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def plan(cells: list[matrix.Cell], run_id: str, run_dir: Path) -> list[PlannedTrial]:
    """Every trial; its engine and image are set when an engine takes it."""
    planned: list[PlannedTrial] = []
    for cell in cells:
        for trial in range(1, cell.scenario.trials + 1):
            spec = TrialSpec(cell.scenario, cell.scenario.topologies[0], trial,
                             f"pt-{run_id}-{len(planned) + 1}",
                             run_dir / matrix.trial_dirname(cell, trial), image="")
            planned.append(PlannedTrial(cell, spec))
    return planned


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI timeout, `kill`) cleans up exactly like Ctrl-C does (main thread only)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals to the caller
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _header(scenario: Scenario, seats: list[RunEngine], out: Path,
            resume: str | None) -> tuple[str, Path, dict[str, Any]]:
    if resume:
        run_dir = stored.open_run(out, resume)
        header = dict(stored.stored_run(run_dir).header)
        stored.check_same_scenario(header["scenario"], to_dict(scenario), run_dir)
        return resume, run_dir, header
    run_id = new_run_id()
    run_dir = out / run_id
    run_dir.mkdir(parents=True)
    header = {"run_id": run_id, "scenario": to_dict(scenario),
              "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": {"host": platform.node(), "kernel": platform.release(),
                          "docker": seats[0].facts.version},
              "engines": [seat.facts.as_json() for seat in seats]}
    # Written before the first trial, so even a run interrupted at once can be resumed.
    RunResults(run_id, run_dir, header, ()).write_json()
    return run_id, run_dir, header


def _execute(planned: list[PlannedTrial], run_dir: Path, header: dict[str, Any],
             seats: list[RunEngine], on_event: OnEvent) -> RunResults:
    done = stored.finished_trials(run_dir)
    stored.discard_unfinished(run_dir, [p.spec.directory.name for p in planned])
    trials = [stored.load_result(done[p.spec.directory.name]) for p in planned
              if p.spec.directory.name in done]
    todo = [p for p in planned if p.spec.directory.name not in done]
    emit = run_engines.SerialEmit(on_event)
    state = _Progress(RunResults(str(header["run_id"]), run_dir, header, tuple(trials)),
                      todo, len(todo))
    emit(RunStarted(state.results.run_id, run_dir, len(planned), len(todo),
                    tuple(dict.fromkeys(p.label for p in planned))))
    try:
        with sigterm_as_interrupt():
            run_engines.run_workers(seats, lambda seat: state.next_trial(seat, emit), emit)
    except KeyboardInterrupt:
        results = dataclasses.replace(state.results, interrupted=True)
        results.write_json()
        emit(RunFinished(results))
        raise
    emit(RunFinished(state.results))
    return state.results


class _Progress:
    """The trials left and the results so far, shared by the engines' workers."""

    def __init__(self, results: RunResults, todo: list[PlannedTrial], total: int) -> None:
        self.results, self.todo, self.total, self.started = results, list(todo), total, 0
        self._lock = threading.Lock()

    def next_trial(self, seat: RunEngine, emit: OnEvent) -> bool:
        """Run the next trial that may run on this engine; False when there is none."""
        with self._lock:
            mine = next((p for p in self.todo if seat.engine.name in p.spec.scenario.engines),
                        None)
            if mine is None:
                return False
            self.todo.remove(mine)
            self.started += 1
            index = self.started
        outcome = _one_trial(mine, seat, index, self.total, emit)
        with self._lock:
            results = self.results
            if isinstance(outcome, TrialResult):
                results = dataclasses.replace(results, trials=(*results.trials, outcome))
            else:
                results = dataclasses.replace(results, failures=(*results.failures, outcome))
            self.results = results
            results.write_json()
        return True


def _one_trial(planned: PlannedTrial, seat: RunEngine, index: int, total: int,
               emit: OnEvent) -> TrialResult | TrialFailure:
    spec = dataclasses.replace(planned.spec, engine=seat.engine, image=seat.image)
    label = planned.label
    emit(TrialStarted(label, spec.trial, index, total, spec.scenario.stop.after))
    try:
        result = run_trial(spec, seat.client, label, emit)
    except (TrialFailed, SetupError, docker.errors.DockerException,
            requests.exceptions.RequestException) as err:
        failure = TrialFailure(spec.topology, spec.scenario.router.kind,
                               spec.scenario.stop.sequence, spec.trial, _reason(err),
                               cell=label, engine=seat.engine.name)
        save_result(failure, spec.directory)
        emit(TrialErrored(failure))
        return failure
    result = dataclasses.replace(result, cell=label, engine=seat.facts.as_json())
    save_result(result, spec.directory)
    emit(TrialFinished(result))
    return result


def _reason(err: Exception) -> str:
    if isinstance(err, (TrialFailed, SetupError)):
        return str(err)
    return (f"the Docker engine failed a request ({err}); check `docker info` and the "
            "daemon's log")
