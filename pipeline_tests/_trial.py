"""One trial: one run of one (topology, router, stop sequence), from `compose up` to the result.

    sink up -> configs into the volumes -> router up and ready -> app floods -> stop sequence at
    `stop.after` -> drain window -> sink stops -> ledger(emitted by app, received by sink)
    -> TrialResult

A trial is self-contained on its engine: every container (the sink included) is a service of
the trial's Compose project, and its state lives in the project's volumes (_docker/volumes.py).
The tester drives the engine only through its API and copies what it measures into the trial's
directory under runs/<run-id>/, so a trial runs the same on this machine and on any other engine.
Everything the trial creates is removed in a `finally` (`compose down --volumes`), so Ctrl-C or
a failure in the middle leaks nothing.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker

from pipeline_tests import _aggregator
from pipeline_tests import _routers as routers
from pipeline_tests._aggregator import AggregatorTier
from pipeline_tests._container import line
from pipeline_tests._container.tally import FILENAME as TALLY_FILE
from pipeline_tests._container.tally import read_tally
from pipeline_tests._docker import compose, daemon_log, fault, task_cgroup
from pipeline_tests._docker.engines import Engine
from pipeline_tests._docker.sink_container import SinkContainer
from pipeline_tests._docker.stop import Timeline, run_stop
from pipeline_tests._docker.volumes import TrialVolumes, mountpoint
from pipeline_tests._errors import SetupError, TrialFailed
from pipeline_tests._events import OnEvent, StopStep
from pipeline_tests._ledger.ledger import reconcile
from pipeline_tests._live.probe import TrialProbe
from pipeline_tests._results.build import build_result
from pipeline_tests._results.trial_result import TrialFailure, TrialResult
from pipeline_tests._routers.kind import RouterPorts
from pipeline_tests._scenario.model import Router
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._scenario.task_size import task_limits

READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class TrialSpec:
    scenario: Scenario
    topology: str
    trial: int  # 1-based
    project: str  # Compose project name, unique per trial
    directory: Path  # runs/<run-id>/<cell>-<trial>/
    image: str
    engine: Engine = Engine("local")


def _wait_ready(settings: Router, volumes: TrialVolumes, volume: str, ports: RouterPorts,
                container: Any, tier: str = "router") -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if routers.is_ready(settings, volumes.pull(volume, fresh=True), ports):
            return
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.1)
    logs = container.logs(tail=10).decode(errors="replace").strip()
    raise TrialFailed(f"The {settings.kind} {tier} did not become ready within "
                      f"{READY_TIMEOUT:.0f} s (container status: {container.status}). Its last "
                      f"log lines:\n{logs}\nCheck the {tier} settings in the scenario.")


def _wait_drained(sink: SinkContainer, drain: float, tick: Callable[[], None],
                  still: float = 1.0) -> None:
    """Until the sink's count stops moving for `still` seconds, at most `drain` seconds."""
    deadline, last, still_since = time.monotonic() + drain, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = sink.live_records()
        if count != last:
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since >= still:
            return
        tick()
        time.sleep(0.1)


def _free_port() -> int:
    return RouterPorts.free(sink=0).router


def _polls(scenario: Scenario, ports: RouterPorts, tier: AggregatorTier | None) -> str:
    """PT_SINK_POLL: the real routers' metrics endpoints the sink container polls."""
    tiers = [("router", scenario.router, ports)]
    if tier is not None:
        tiers.append((_aggregator.SERVICE, tier.settings, tier.ports))
    polls = [(volume, routers.poll(settings, p), p) for volume, settings, p in tiers]
    return ";".join(f"{volume}|{poll.url}|{p.router}|{poll.every}"
                    for volume, poll, p in polls if poll is not None)


def run_trial(spec: TrialSpec, client: docker.DockerClient, label: str,
              emit: OnEvent) -> TrialResult:
    """Carry out one trial; TrialFailed (or a Docker error) when it cannot be."""
    for sub in ("app", "router"):
        (spec.directory / sub).mkdir(parents=True, exist_ok=True)
    cleanup = ExitStack()  # undone in reverse: the task cgroup after the project's containers
    try:
        line_run_id, sink_port = line.new_run_id(), _free_port()
        tier = (_aggregator.prepare(spec.scenario, spec.directory, sink_port)
                if spec.topology == "aggregator" else None)
        ports = RouterPorts.free(sink=tier.ports.router if tier else sink_port)
        env = compose.variables(spec.scenario, image=spec.image, line_run_id=line_run_id,
                                ports=ports, polls=_polls(spec.scenario, ports, tier))
        env["PT_SINK_LISTEN_PORT"] = str(sink_port)
        env.update(routers.prepare(spec.scenario.router, spec.directory / "router" / "conf",
                                   ports, spec.topology))
        if compose.has_task_limits(spec.scenario):
            env["PT_TASK_CGROUP"] = _task_cgroup(spec, client, cleanup)
        env.update(tier.env if tier else {})
        env.update(spec.engine.cli_env())
        project = compose.project_for(spec.project, spec.topology, spec.scenario, env)
        cleanup.callback(compose.down, project)
        return _run(spec, client, project, ports, line_run_id, label, emit, tier)
    finally:
        with _shielded():
            cleanup.close()


def _task_cgroup(spec: TrialSpec, client: docker.DockerClient, cleanup: ExitStack) -> str:
    """The task's cgroup (task.size, task.cpus, task.memory), removed after `compose down`."""
    if not spec.engine.is_local:
        raise SetupError(f"Task limits (task.size, task.cpus, task.memory) are set up as a "
                         f"cgroup on this machine, so they need the local engine; engine "
                         f"{spec.engine.name} is another. Run this scenario on `local`, or drop "
                         "the task limits (limits.app_cpus and limits.router_cpus work "
                         "anywhere).")
    task = spec.scenario.task
    limits = task_limits(task.size, task.cpus, task.memory)
    assert not isinstance(limits, str)  # the scenario was checked
    cgroup = task_cgroup.create(spec.project, *limits, client.info().get("CgroupDriver", ""))
    cleanup.callback(task_cgroup.remove, cgroup)
    return cgroup.parent


def _start_aggregator(client: docker.DockerClient, project: compose.Project,
                      tier: AggregatorTier | None, volumes: TrialVolumes) -> Any:
    """Topology `aggregator`: the second tier up and ready before the task starts."""
    if tier is None:
        return None
    compose.up(project, _aggregator.SERVICE)
    container = compose.container(client, project, _aggregator.SERVICE)
    _wait_ready(tier.settings, volumes, _aggregator.SERVICE, tier.ports, container, "aggregator")
    return container


def _start_sink(client: docker.DockerClient, project: compose.Project, spec: TrialSpec,
                line_run_id: str) -> SinkContainer:
    """The sink up, and the files the routers read put into their volumes through it."""
    compose.up(project, "sink")
    volumes = TrialVolumes(compose.container(client, project, "sink"), spec.directory)
    sink = SinkContainer(volumes.container, volumes, line_run_id)
    sink.wait_ready()
    for tier in ("router", _aggregator.SERVICE):
        for part in ("conf", "user"):
            if (spec.directory / tier / part).is_dir():
                volumes.put(f"{tier}-{part}", spec.directory / tier / part)
    if spec.topology == "file":
        # There before the router starts, as a running app's log file is: a tail input follows
        # it from the first line instead of waiting for its next directory scan.
        volumes.put_bytes("logs", Path(routers.TAIL_PATH).name, b"")
    return sink


def _with_app_log_dir(client: docker.DockerClient, project: compose.Project) -> compose.Project:
    """The `tail` topology: the app container is created first, so the router can mount the
    directory Docker keeps its json-file log in, as a node agent sees /var/lib/docker."""
    compose.create(project, "app")
    app = compose.container(client, project, "app")
    log_dir = f"{client.info()['DockerRootDir']}/containers/{app.id}"
    return replace(project, env={**project.env, "PT_APP_LOG_DIR": log_dir})


@contextmanager
def _shielded() -> Iterator[None]:
    """A second Ctrl-C must not cut the cleanup short and leak containers. (Only the main
    thread receives signals: a run in a worker thread, e.g. run_async, has nothing to shield.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _flood(spec: TrialSpec, router: Any, flood_started: float, tick: Callable[[], None],
           volumes: TrialVolumes) -> None:
    """Until the stop is due (time or line count), carrying out the router fault on the way."""
    stop, plan = spec.scenario.stop, fault.FaultPlan(spec.scenario.fault)
    while stop.sequence != "none":
        elapsed = time.monotonic() - flood_started
        if elapsed >= stop.after:
            break
        if stop.after_lines:
            tally = read_tally(volumes.pull("app", TALLY_FILE))
            if tally and tally.emitted_total >= stop.after_lines:
                break
        plan = fault.step(plan, elapsed, router)
        tick()
        time.sleep(0.05)
    fault.undo(plan, router)


class _Clock:
    """The trial's phase, and when its flood started: what every progress event reports."""

    def __init__(self) -> None:
        self.phase, self.flood_started = "starting", time.monotonic()

    def enter(self, phase: str) -> None:
        self.phase = phase
        if phase == "flooding":
            self.flood_started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.flood_started


def _run(spec: TrialSpec, client: docker.DockerClient, project: compose.Project,
         ports: RouterPorts, line_run_id: str, label: str,
         emit: OnEvent, tier: AggregatorTier | None) -> TrialResult:
    started = time.monotonic()
    sink = _start_sink(client, project, spec, line_run_id)
    volumes = sink.volumes
    if spec.topology == "tail":
        project = _with_app_log_dir(client, project)
    clock = _Clock()
    probe = TrialProbe(spec.directory, sink, spec.scenario.router, ports, label, spec.trial, emit,
                       pull=volumes.pull)

    def tick() -> None:
        probe.tick(clock.phase, clock.elapsed())

    def on_step(container: str, action: str) -> None:
        emit(StopStep(label, spec.trial, container, action, clock.elapsed()))

    aggregator = _start_aggregator(client, project, tier, volumes)
    router = _up(client, project, "router")
    _wait_ready(spec.scenario.router, volumes, "router", ports, router)
    project = _with_sock_dir(client, project)
    (spec.directory / "compose.yaml").write_text(compose.render(project))
    driver_log = daemon_log.mark(time.time(), engine=None if spec.engine.is_local
                                 else spec.engine.name)
    app = _up(client, project, "app")
    clock.enter("flooding")
    _flood(spec, aggregator if spec.scenario.fault.target == "aggregator" else router,
           clock.flood_started, tick, volumes)
    clock.enter("stopping")
    timeline = run_stop(spec.scenario.stop, app, router, tick, on_step)
    clock.enter("draining")
    # A second tier flushes on its own interval: the sink may rest that long between flushes.
    _wait_drained(sink, spec.scenario.stop.drain, tick,
                  1.0 + (tier.settings.flush_interval if tier is not None else 0.0))
    evidence = daemon_log.collect(driver_log, time.time(), app.id, spec.directory,
                                  spec.topology == "firelens")
    _save_logs(project, spec.directory, tier)
    result = _measure(spec, sink, ports, tier, line_run_id, timeline)
    return replace(result, seconds=round(time.monotonic() - started, 1),
                   driver_evidence=evidence)


def _with_sock_dir(client: docker.DockerClient, project: compose.Project) -> compose.Project:
    """FireLens: the log driver runs in the engine and connects to the router's socket by its
    path on the engine host, which is where the engine keeps the `sock` volume."""
    if not any(path.name == "firelens.yaml" for path in project.files):
        return project
    where = mountpoint(client, project.name, "sock")
    return replace(project, env={**project.env, "PT_SOCK_DIR": where})


def _up(client: docker.DockerClient, project: compose.Project, service: str) -> Any:
    compose.up(project, service)
    return compose.container(client, project, service)


def _save_logs(project: compose.Project, trial_dir: Path, tier: AggregatorTier | None) -> None:
    compose.save_logs(project, "router", trial_dir / "router.log")
    if tier is not None:
        compose.save_logs(project, _aggregator.SERVICE, trial_dir / "aggregator.log")
    compose.save_logs(project, "app", trial_dir / "app.log", tail=200)
    compose.save_logs(project, "sink", trial_dir / "sink.log")


def _measure(spec: TrialSpec, sink: SinkContainer, ports: RouterPorts,
             tier: AggregatorTier | None, line_run_id: str, timeline: Timeline) -> TrialResult:
    """The sink's ledger against the app's tally, and the routers' own counts."""
    ledger, stats = sink.stop()
    for volume in ("app", "router", *((_aggregator.SERVICE,) if tier else ())):
        sink.volumes.pull(volume, fresh=True)
    tally = read_tally(spec.directory / "app")
    if tally is None:
        raise TrialFailed(f"The app never started counting (no tally in {spec.directory / 'app'}); "
                          f"see {spec.directory / 'app.log'} for why it failed.")
    if not stats.ledger_complete:
        # What the sink counted cannot say which lines were lost: no loss figure at all.
        raise TrialFailed(f"The sink's ledger is incomplete ({stats.ledger_note}), so this "
                          f"trial has no loss figure: the app emitted {tally.emitted_total:,} "
                          f"lines and the complete part of the ledger holds "
                          f"{ledger.distinct:,}. Run the trial again.")
    report = reconcile(ledger, tally.emitted, tally.stop_seq)
    # A router's output delivers to the sink, or to the aggregator tier when there is one.
    router_counts = routers.counters(spec.scenario.router, spec.directory / "router",
                                     ports).resolve(None if tier else report.received_distinct)
    tier_counts = (routers.counters(tier.settings, tier.state_dir, tier.ports)
                   .resolve(report.received_distinct) if tier is not None else None)
    result = build_result(
        topology=spec.topology, router=spec.scenario.router.kind, stop=spec.scenario.stop.sequence,
        trial=spec.trial, line_run_id=line_run_id, report=report, tally=tally, timeline=timeline,
        router_counts=router_counts, aggregator_counts=tier_counts,
        malformed=stats.malformed, seconds=0.0)
    errors = (() if tier_counts is None else _aggregator.sender_errors(
        router_counts, tier_counts.received, spec.directory / "router.log"))
    return replace(result, hop_unknown=router_counts.unknown, tier_errors=errors)


def save_result(outcome: TrialResult | TrialFailure, directory: Path) -> None:
    """result.json marks a finished trial (resume keeps it); failure.json one that failed."""
    name = "result.json" if isinstance(outcome, TrialResult) else "failure.json"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(outcome.as_json(), indent=2))


