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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker
import requests

from pipeline_tests import _routers as routers
from pipeline_tests._docker import compose, engine, images, task_cgroup
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

    on_event: called with each progress event (see pipeline_tests.events).
    pull: `docker pull` a router image that is not present.
    resume: the id of an interrupted run in OUT to continue (same scenario).
    Raises InputError or SetupError before anything starts; KeyboardInterrupt after the
    results so far were written (and sent as RunFinished).
    """
    emit = on_event or _ignore
    scenario = scenario.with_overrides()  # checks a Scenario built in Python, as YAML is
    cells = matrix.cells_of(scenario)
    out = Path(out).expanduser().resolve()  # Compose reads a relative bind source as a volume
    if resume:
        stored.open_run(out, resume)  # a wrong id fails before anything is built
    with engine.api_errors():
        client = client or engine.connect()
        image = _check_and_build(client, cells, pull, emit)
        run_id, run_dir, header = _header(scenario, client, out, resume)
    return _execute(plan(cells, run_id, run_dir, image), run_dir, header, client, emit)


def _check_and_build(client: docker.DockerClient, cells: list[matrix.Cell], pull: bool,
                     emit: OnEvent) -> str:
    """Refuse what cannot run before anything starts; the fixture image's tag."""
    engine.check_compose()
    version = engine.engine_info(client).version
    if any(compose.has_task_limits(cell.scenario) for cell in cells):
        task_cgroup.check_driver(client.info().get("CgroupDriver", ""))
    for cell in cells:
        if compose.app_topology(cell.scenario, cell.scenario.topologies[0]) == "firelens":
            engine.check_log_opts(compose.driver_opts(cell.scenario), version)
        routers.ensure_image(client, cell.scenario.router, pull=pull)
    return images.fixture_image(client, build=True,
                                progress=lambda text: emit(ImageProgress(text)))


def new_run_id() -> str:
    """A run's directory name: when it started, and 4 hex digits apart from any other."""
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def plan(cells: list[matrix.Cell], run_id: str, run_dir: Path, image: str) -> list[PlannedTrial]:
    planned: list[PlannedTrial] = []
    for cell in cells:
        for trial in range(1, cell.scenario.trials + 1):
            spec = TrialSpec(cell.scenario, cell.scenario.topologies[0], trial,
                             f"pt-{run_id}-{len(planned) + 1}",
                             run_dir / matrix.trial_dirname(cell, trial), image)
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


def _header(scenario: Scenario, client: docker.DockerClient, out: Path,
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
                          "docker": engine.engine_info(client).version}}
    # Written before the first trial, so even a run interrupted at once can be resumed.
    RunResults(run_id, run_dir, header, ()).write_json()
    return run_id, run_dir, header


def _execute(planned: list[PlannedTrial], run_dir: Path, header: dict[str, Any],
             client: docker.DockerClient, emit: OnEvent) -> RunResults:
    done = stored.finished_trials(run_dir)
    stored.discard_unfinished(run_dir, [p.spec.directory.name for p in planned])
    trials = [stored.load_result(done[p.spec.directory.name]) for p in planned
              if p.spec.directory.name in done]
    todo = [p for p in planned if p.spec.directory.name not in done]
    failures: list[TrialFailure] = []
    results = RunResults(str(header["run_id"]), run_dir, header, tuple(trials))
    emit(RunStarted(results.run_id, run_dir, len(planned), len(todo),
                    tuple(dict.fromkeys(p.label for p in planned))))
    try:
        with sigterm_as_interrupt():
            for index, planned_trial in enumerate(todo, start=1):
                outcome = _one_trial(planned_trial, index, len(todo), client, emit)
                if isinstance(outcome, TrialResult):
                    trials.append(outcome)
                else:
                    failures.append(outcome)
                results = dataclasses.replace(results, trials=tuple(trials),
                                              failures=tuple(failures))
                results.write_json()
    except KeyboardInterrupt:
        results = dataclasses.replace(results, interrupted=True)
        results.write_json()
        emit(RunFinished(results))
        raise
    emit(RunFinished(results))
    return results


def _one_trial(planned: PlannedTrial, index: int, total: int, client: docker.DockerClient,
               emit: OnEvent) -> TrialResult | TrialFailure:
    spec, label = planned.spec, planned.label
    emit(TrialStarted(label, spec.trial, index, total, spec.scenario.stop.after))
    try:
        result = run_trial(spec, client, label, emit)
    except (TrialFailed, SetupError, docker.errors.DockerException,
            requests.exceptions.RequestException) as err:
        failure = TrialFailure(spec.topology, spec.scenario.router.kind,
                               spec.scenario.stop.sequence, spec.trial, _reason(err),
                               cell=label)
        save_result(failure, spec.directory)
        emit(TrialErrored(failure))
        return failure
    result = dataclasses.replace(result, cell=label)
    save_result(result, spec.directory)
    emit(TrialFinished(result))
    return result


def _reason(err: Exception) -> str:
    if isinstance(err, (TrialFailed, SetupError)):
        return str(err)
    return (f"the Docker engine failed a request ({err}); check `docker info` and the "
            "daemon's log")
