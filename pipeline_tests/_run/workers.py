"""The engines of a run: each connected, checked and given the fixture image before any trial
starts, then one worker per engine taking the next trial that may run there (a cell's
`engines`: all of the scenario's, or the one its `engine` matrix value names).

With one engine the trials run in the calling thread, as they always did. With several, each
engine's worker is a thread; a trial's progress events are serialised through one lock, and
Ctrl-C stops every worker at its next event (each trial then cleans up after itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import docker
import docker.errors

from pipeline_tests import _routers as routers
from pipeline_tests._docker import engine, image_copy, log_opts
from pipeline_tests._docker.engine import Engine
from pipeline_tests._docker.images import find_image
from pipeline_tests._events import Event, ImageProgress, OnEvent
from pipeline_tests._scenario import matrix
from pipeline_tests._trial import compose_env, task_cgroup
from pipeline_tests._values import EngineFacts


@dataclass(frozen=True)
class RunEngine:
    """An engine as a run uses it: connected, checked, holding the fixture image."""

    engine: Engine
    client: docker.DockerClient
    facts: EngineFacts
    image: str


def engine_names(cells: Sequence[matrix.Cell]) -> list[str]:
    return list(dict.fromkeys(name for cell in cells for name in cell.scenario.engines))


def prepare(name: str, local: Callable[[], docker.DockerClient], local_image: Callable[[], str],
            cells: Sequence[matrix.Cell], pull: bool, emit: OnEvent) -> RunEngine:
    """Refuse what cannot run on this engine before anything starts; then its fixture image."""
    found = engine.resolve(name)
    client = local() if found.is_local else found.connect()
    facts = engine.facts(found, client)
    mine = [cell for cell in cells if name in cell.scenario.engines]
    if any(compose_env.has_task_limits(cell.scenario) for cell in mine):
        task_cgroup.check_engine(found, client.info().get("CgroupDriver", ""))
    def progress(text: str) -> None:
        emit(ImageProgress(f"{name}: {text}"))

    for cell in mine:
        if compose_env.app_topology(cell.scenario, cell.scenario.topologies[0]) == "firelens":
            log_opts.check_log_opts(compose_env.driver_opts(cell.scenario), facts.version)
        if not found.is_local:
            _copy_router_images(cell, client, local, progress)
        routers.ensure_image(client, cell.scenario.router, pull=pull)
    image = local_image() if found.is_local else image_copy.ensure_fixture_image(
        client, local(), progress)
    return RunEngine(found, client, facts, image)


def _copy_router_images(cell: matrix.Cell, client: docker.DockerClient,
                        local: Callable[[], docker.DockerClient],
                        progress: Callable[[str], None]) -> None:
    """A router image the engine lacks but this machine has goes over with save/load (an
    engine need not reach a registry)."""
    tiers = [cell.scenario.router]
    if cell.scenario.topologies[0] == "aggregator":
        tiers.append(cell.scenario.aggregator)
    for router in tiers:
        image = routers.image_for(router)
        if router.kind == "builtin" or find_image(client, image) is not None \
                or find_image(local(), image) is None:
            continue
        image_copy.copy_image(local(), client, image, progress)


class SerialEmit:
    """Events from several workers, one at a time; after cancel(), the next event a worker
    sends raises KeyboardInterrupt in that worker, so its trial cleans up and it stops."""

    def __init__(self, emit: OnEvent) -> None:
        self._emit, self._lock, self._cancel = emit, threading.Lock(), threading.Event()

    def __call__(self, event: Event) -> None:
        if self._cancel.is_set() and threading.current_thread() is not threading.main_thread():
            raise KeyboardInterrupt
        with self._lock:
            self._emit(event)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


Work = Callable[[RunEngine], bool]  # runs the next trial for this engine; False: none left


def run_workers(seats: Sequence[RunEngine], work: Work, emit: SerialEmit) -> None:
    """One worker per engine until none has work left. Ctrl-C (in the calling thread) cancels
    them all and waits for their trials to clean up, then raises KeyboardInterrupt."""
    if len(seats) == 1:
        while work(seats[0]):
            pass
        return
    errors: list[BaseException] = []
    finished = [threading.Event() for _ in seats]

    def loop(seat: RunEngine, done: threading.Event) -> None:
        try:
            while not emit.cancelled and work(seat):
                pass
        except KeyboardInterrupt:
            pass
        except BaseException as exc:  # noqa: BLE001 (re-raised in the calling thread)
            errors.append(exc)
            emit.cancel()
        finally:
            done.set()

    threads = [threading.Thread(target=loop, args=(seat, done),
                                name=f"pt-engine-{seat.engine.name}")
               for seat, done in zip(seats, finished, strict=True)]
    for thread in threads:
        thread.start()
    try:
        _wait(finished)
    except KeyboardInterrupt:
        emit.cancel()
        _wait(finished)  # each worker's trial cleans up at its next event
        raise
    if errors:
        raise errors[0]


def _wait(finished: Sequence[threading.Event]) -> None:
    """Until every worker is done. Not Thread.join(): a Ctrl-C that interrupts a join marks
    that thread as stopped although it runs on (CPython bpo-45274's fix), and the run would
    return while its trial still holds containers."""
    while not all(done.is_set() for done in finished):
        time.sleep(0.1)
