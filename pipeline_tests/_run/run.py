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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import docker
import requests

from pipeline_tests import _routers as routers
from pipeline_tests._docker import compose, engine, images
from pipeline_tests._errors import InputError, PipelineTestsError
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
from pipeline_tests._results import frontier, stored
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import TrialFailure, TrialResult, hops_for
from pipeline_tests._run import workers as run_engines
from pipeline_tests._run.schedule import PlannedTrial, Schedule, in_cell, schedule_for
from pipeline_tests._run.workers import RunEngine
from pipeline_tests._scenario import matrix
from pipeline_tests._scenario.scenario import Scenario, to_dict
from pipeline_tests._trial import run_trial, save_result


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
    search_ends(scenario, cells)
    out = Path(out).expanduser().resolve()
    if resume:
        stored.open_run(out, resume)  # a wrong id fails before anything is built
    with engine.api_errors():
        seats = _engines(cells, client, pull, emit)
        run_id, run_dir, header = _header(scenario, seats, out, resume)
    return _execute(cells, scenario, run_dir, header, seats, emit)


def search_ends(scenario: Scenario, cells: list[matrix.Cell]) -> None:
    """Both ends of a search's range must be valid values of every cell (before Docker)."""
    search = scenario.search
    if search.axis is None:
        return
    for value in frontier.ends(search):
        for cell in cells:
            try:
                matrix.expand(scenario, {**{a: [v] for a, v in cell.values},
                                         search.axis: [value]}, [], "search")
            except InputError as err:
                raise InputError(f"{err} (an end of 'search.range'/'search.values').") from err


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


def _execute(cells: list[matrix.Cell], scenario: Scenario, run_dir: Path,
             header: dict[str, Any], seats: list[RunEngine], on_event: OnEvent) -> RunResults:
    run_id = str(header["run_id"])
    done = {name: stored.load_result(data)
            for name, data in stored.finished_trials(run_dir).items()}
    schedule = schedule_for(cells, run_id, run_dir, done, scenario)
    stored.discard_unfinished(run_dir, schedule.directories())
    finished = schedule.finished()
    emit = run_engines.SerialEmit(on_event)
    state = _Progress(RunResults(run_id, run_dir, header, tuple(finished)), schedule)
    emit(RunStarted(run_id, run_dir, schedule.at_most(), schedule.at_most() - len(finished),
                    tuple(dict.fromkeys(c.label for c in schedule.progress().cells)),
                    hops_for(c.scenario.topologies[0] for c in cells)))
    emit(schedule.progress())
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
    """The schedule and the results so far, shared by the engines' workers."""

    WAIT = 0.2  # seconds an engine waits while another runs the trial a cell waits for

    def __init__(self, results: RunResults, schedule: Schedule) -> None:
        self.results, self.schedule, self.started = results, schedule, 0
        self._lock = threading.Lock()

    def next_trial(self, seat: RunEngine, emit: OnEvent) -> bool:
        """Run the next trial that may run on this engine; False when the run is over."""
        planned = self.schedule.take(seat.engine.name)
        if planned is None:
            if self.schedule.idle():
                return False
            time.sleep(self.WAIT)  # a cell waits for an outcome on another engine
            return True
        with self._lock:
            self.started += 1
            index = self.started
        progress = self.schedule.progress()
        total = self.started + progress.left_at_most - 1
        outcome = _one_trial(planned, seat, index, max(total, index), emit)
        self.schedule.record(planned, outcome)
        with self._lock:
            results = self.results
            if isinstance(outcome, TrialResult):
                results = dataclasses.replace(results, trials=(*results.trials, outcome))
            else:
                results = dataclasses.replace(results, failures=(*results.failures, outcome))
            self.results = results
            results.write_json()
        emit(self.schedule.progress())
        return True


def _one_trial(planned: PlannedTrial, seat: RunEngine, index: int, total: int,
               emit: OnEvent) -> TrialResult | TrialFailure:
    spec = dataclasses.replace(planned.spec, engine=seat.engine, image=seat.image)
    label = planned.label
    emit(TrialStarted(label, spec.trial, index, total, spec.scenario.stop.after))
    try:
        result = run_trial(spec, seat.client, label, emit)
    except (PipelineTestsError, docker.errors.DockerException,
            requests.exceptions.RequestException) as err:
        failure = TrialFailure(spec.topology, spec.scenario.router.kind,
                               spec.scenario.stop.sequence, spec.trial, _reason(err),
                               cell=label, engine=seat.engine.name)
        save_result(failure, spec.directory)
        emit(TrialErrored(failure))
        return failure
    result = dataclasses.replace(in_cell(result, planned.cell), engine=seat.facts)
    save_result(result, spec.directory)
    emit(TrialFinished(result))
    return result


def _reason(err: Exception) -> str:
    if isinstance(err, PipelineTestsError):
        return str(err)
    return (f"the Docker engine failed a request ({err}); check `docker info` and the "
            "daemon's log")
