"""One trial from start to end (the package's __init__ says what a trial is): the Compose
project and its variables, the flood with its fault, the stop sequence, the drain; services.py
starts the containers, measure.py turns what they counted into the result."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker

from pipeline_tests import _routers as routers
from pipeline_tests._container import line
from pipeline_tests._container.tally import FILENAME as TALLY_FILE
from pipeline_tests._container.tally import read_tally
from pipeline_tests._docker import compose
from pipeline_tests._events import OnEvent, StopStep
from pipeline_tests._results.trial_result import TrialResult
from pipeline_tests._routers.kind import RouterPorts, free_port
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._scenario.task_size import task_limits
from pipeline_tests._trial import (
    aggregator,
    compose_env,
    cpu_use,
    daemon_log,
    fault,
    measure,
    services,
    task_cgroup,
)
from pipeline_tests._trial.aggregator import AggregatorTier
from pipeline_tests._trial.probe import TrialProbe
from pipeline_tests._trial.spec import TrialSpec
from pipeline_tests._trial.stop import run_stop

# Seconds between progress samples (the CPU readings, the probe's events), however often the
# flood, stop and drain loops call tick(): every sample costs the tester CPU that the app and
# the router need on a small machine.
TICK_EVERY = 0.25


def _polls(scenario: Scenario, ports: RouterPorts, tier: AggregatorTier | None) -> str:
    """PT_SINK_POLL: the real routers' metrics endpoints the sink container polls."""
    tiers = [("router", scenario.router, ports)]
    if tier is not None:
        tiers.append((aggregator.SERVICE, tier.settings, tier.ports))
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
        line_run_id, sink_port = line.new_run_id(), free_port()
        tier = (aggregator.prepare(spec.scenario, spec.directory, sink_port)
                if spec.topology == "aggregator" else None)
        ports = RouterPorts.free(sink=tier.ports.router if tier else sink_port)
        env = compose_env.variables(spec.scenario, image=spec.image, line_run_id=line_run_id,
                                ports=ports, polls=_polls(spec.scenario, ports, tier))
        env["PT_SINK_LISTEN_PORT"] = str(sink_port)
        env.update(routers.prepare(spec.scenario.router, spec.directory / "router" / "conf",
                                   ports, spec.topology))
        if compose_env.has_task_limits(spec.scenario):
            env["PT_TASK_CGROUP"] = _task_cgroup(spec, client, cleanup)
        env.update(tier.env if tier else {})
        env.update(spec.engine.cli_env())
        project = compose_env.project_for(spec.project, spec.topology, spec.scenario, env)
        cleanup.callback(compose.down, project)
        return _run(spec, client, project, ports, line_run_id, label, emit, tier)
    finally:
        with _shielded():
            cleanup.close()


def _task_cgroup(spec: TrialSpec, client: docker.DockerClient, cleanup: ExitStack) -> str:
    """The task's cgroup (task.size, task.cpus, task.memory, task.cpu_units), removed after
    `compose down`."""
    driver = client.info().get("CgroupDriver", "")
    task_cgroup.check_engine(spec.engine, driver)
    task = spec.scenario.task
    limits = task_limits(task.size, task.cpus, task.memory)
    assert not isinstance(limits, str)  # the scenario was checked
    cgroup = task_cgroup.create(spec.project, *limits, driver)
    cleanup.callback(task_cgroup.remove, cgroup)
    return cgroup.parent


@contextmanager
def _shielded() -> Iterator[None]:
    """A Ctrl-C must not cut the cleanup short and leak containers: one that comes during it
    is held and raised once the cleanup is done, so the run still stops. (Only the main thread
    receives signals: a run in a worker thread, e.g. run_async, has nothing to shield.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and previous is not signal.SIG_IGN:
        raise KeyboardInterrupt


def _flood(spec: TrialSpec, router: Any, flood_started: float, tick: Callable[[], None],
           mirror: Callable[..., Path]) -> str:
    """Until the stop is due (time or line count; `none`: the app's own end, `stop.after`),
    carrying out the router fault on the way; how the fault differed from the one asked."""
    stop, plan = spec.scenario.stop, fault.FaultPlan(spec.scenario.fault)
    while True:
        elapsed = time.monotonic() - flood_started
        if elapsed >= stop.after:
            break
        if stop.after_lines:
            tally = read_tally(mirror("app", TALLY_FILE))
            if tally and tally.emitted_total >= stop.after_lines:
                break
        plan = fault.step(plan, elapsed, router)
        tick()
        time.sleep(0.05)
    fault.undo(plan, router)
    return fault.as_asked(plan, elapsed)


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
    sink = services.start_sink(client, project, spec, line_run_id)
    volumes = sink.volumes
    if spec.topology == "tail":
        project = services.with_app_log_dir(client, project)
    clock = _Clock()
    probe = TrialProbe(spec.directory, sink, spec.scenario.router, ports, label, spec.trial, emit,
                       pull=sink.mirror,
                       aggregator=(tier.settings, tier.ports) if tier is not None else None)

    cpu = cpu_use.CpuWatch({})  # the task's cgroups, once its containers run
    last_tick = -TICK_EVERY

    def tick() -> None:
        nonlocal last_tick
        if time.monotonic() - last_tick >= TICK_EVERY:
            last_tick = time.monotonic()
            cpu.sample()
            probe.tick(clock.phase, clock.elapsed())

    def on_step(container: str, action: str) -> None:
        emit(StopStep(label, spec.trial, container, action, clock.elapsed()))

    second_tier = services.start_aggregator(client, project, tier, volumes)
    router = services.up(client, project, "router")
    if spec.scenario.task.app_start == "router-ready":  # else as ECS: once it has started
        services.wait_ready(spec.scenario.router, volumes, "router", ports, router,
                            cpu=compose_env.cpu_of(spec.scenario, "router"))
    project = services.with_sock_dir(client, project)
    (spec.directory / "compose.yaml").write_text(compose.render(project))
    driver_log = daemon_log.mark(time.time(), engine=None if spec.engine.is_local
                                 else spec.engine.name)
    app = services.up(client, project, "app")
    cpu = cpu_use.watch({"app": app, "router": router}, project.env.get("PT_TASK_CGROUP"),
                        spec.engine.is_local, spec.engine.name)
    clock.enter("flooding")
    fault_cut = _flood(spec, second_tier if spec.scenario.fault.target == "aggregator"
                       else router, clock.flood_started, tick, sink.mirror)
    cpu.mark_stop()
    clock.enter("stopping")
    timeline = run_stop(spec.scenario.stop, app, router, tick, on_step)
    clock.enter("draining")
    # A second tier flushes on its own interval: the sink may rest that long between flushes.
    services.wait_drained(sink, spec.scenario.stop.drain, tick,
                          1.0 + (tier.settings.flush_interval if tier is not None else 0.0),
                          all_in=lambda: services.sink_has_all(sink, volumes))
    if second_tier is not None:  # the aggregator ends after the task and the drain
        aggregator.end(second_tier, spec.scenario.stop, tick, on_step)
        services.wait_drained(sink, spec.scenario.stop.drain, tick)
    evidence = daemon_log.collect(driver_log, time.time(), app.id, spec.directory,
                                  spec.topology == "firelens")
    logs = services.save_logs(client, project, spec.directory, tier)
    result = measure.measure(spec, sink, ports, tier, line_run_id, timeline, logs)
    return replace(result, seconds=round(time.monotonic() - started, 1),
                   driver_evidence=evidence, fault_cut=fault_cut, cpu=cpu.figures())
