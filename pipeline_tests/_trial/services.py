"""The services of a trial's Compose project on its engine: the sink first (and the routers'
config files put into their volumes through it), then the aggregator and the router, each up
and ready; the paths only the engine knows; the logs kept with the trial."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker

from pipeline_tests import _routers as routers
from pipeline_tests._container.tally import FILENAME as TALLY_FILE
from pipeline_tests._container.tally import read_tally
from pipeline_tests._docker import compose
from pipeline_tests._docker.volumes import TrialVolumes, mountpoint
from pipeline_tests._errors import TrialFailed
from pipeline_tests._routers.kind import RouterPorts
from pipeline_tests._scenario.model import Router
from pipeline_tests._trial import aggregator
from pipeline_tests._trial.aggregator import AggregatorTier
from pipeline_tests._trial.sink_container import COPY_EVERY, SinkContainer
from pipeline_tests._trial.spec import TrialSpec


def wait_ready(settings: Router, volumes: TrialVolumes, volume: str, ports: RouterPorts,
               container: Any, tier: str = "router", cpu: str = "") -> None:
    """Until the router listens, at most its `ready_timeout`; `cpu` names the CPU it has
    (compose_env.cpu_of), for the message when it does not."""
    deadline = time.monotonic() + settings.ready_timeout
    while time.monotonic() < deadline:
        if routers.is_ready(settings, volumes.pull(volume, fresh=True), ports):
            return
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.1)
    logs = container.logs(tail=10).decode(errors="replace").strip()
    running = container.status != "exited"
    starved = (f" It runs with {cpu}: a router starved of CPU starts slowly, so raise "
               f"'{tier}.ready_timeout' or give it more CPU." if cpu and running else "")
    raise TrialFailed(f"The {settings.kind} {tier} did not become ready within "
                      f"{settings.ready_timeout:g} s (container status: {container.status})."
                      f"{starved} Its last log lines:\n{logs}\nCheck the {tier} settings in the "
                      "scenario.")


DRAIN_READ = 0.25  # seconds between the drain's reads of the sink's count
ALL_IN_STILL = 0.25  # with every line received, the count need stay only this long


def wait_drained(sink: SinkContainer, drain: float, tick: Callable[[], None],
                 still: float = 1.0, all_in: Callable[[], bool] | None = None) -> None:
    """Until the sink's count stops moving for `still` seconds, at most `drain` seconds; once
    `all_in()` says the sink has every line the app emitted, ALL_IN_STILL is enough (nothing
    can be lost any more; the wait is only for late duplicates)."""
    deadline, last, still_since = time.monotonic() + drain, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = sink.live_records(fresh=True)
        if count != last:
            last, still_since = count, time.monotonic()
        else:
            quiet = time.monotonic() - still_since
            if quiet >= still or (quiet >= ALL_IN_STILL and all_in is not None and all_in()):
                return
        tick()
        time.sleep(DRAIN_READ)


def sink_has_all(sink: SinkContainer, volumes: TrialVolumes) -> bool:
    """Whether the sink has seen every seq the app emitted, in every stream (after the app's
    exit its tally is final)."""
    tally = read_tally(volumes.pull("app", TALLY_FILE, fresh=True))
    if tally is None:
        return False
    seen = sink.live_seen(fresh=True)
    return all(int.from_bytes(seen.get(stream, b""), "little").bit_count() >= emitted
               for stream, emitted in enumerate(tally.emitted))


def start_aggregator(client: docker.DockerClient, project: compose.Project,
                     tier: AggregatorTier | None, volumes: TrialVolumes) -> Any:
    """Topology `aggregator`: the second tier up and ready before the task starts."""
    if tier is None:
        return None
    compose.up(project, aggregator.SERVICE)
    container = compose.container(client, project, aggregator.SERVICE)
    wait_ready(tier.settings, volumes, aggregator.SERVICE, tier.ports, container, "aggregator")
    return container


def start_sink(client: docker.DockerClient, project: compose.Project, spec: TrialSpec,
               line_run_id: str) -> SinkContainer:
    """The sink up, and the files the routers read put into their volumes through it."""
    compose.up(project, "sink")
    volumes = TrialVolumes(compose.container(client, project, "sink"), spec.directory,
                           every=COPY_EVERY)
    sink = SinkContainer(volumes.container, volumes, line_run_id)
    sink.wait_ready()
    for tier in ("router", aggregator.SERVICE):
        for part in ("conf", "user"):
            if (spec.directory / tier / part).is_dir():
                volumes.put(f"{tier}-{part}", spec.directory / tier / part)
    if spec.topology == "file":
        # There before the router starts, as a running app's log file is: a tail input follows
        # it from the first line instead of waiting for its next directory scan.
        volumes.put_bytes("logs", Path(routers.TAIL_PATH).name, b"")
    return sink


def with_app_log_dir(client: docker.DockerClient, project: compose.Project) -> compose.Project:
    """The `tail` topology: the app container is created first, so the router can mount the
    directory Docker keeps its json-file log in, as a node agent sees /var/lib/docker."""
    compose.create(project, "app")
    app = compose.container(client, project, "app")
    log_dir = f"{client.info()['DockerRootDir']}/containers/{app.id}"
    return replace(project, env={**project.env, "PT_APP_LOG_DIR": log_dir})


def with_sock_dir(client: docker.DockerClient, project: compose.Project) -> compose.Project:
    """FireLens: the log driver runs in the engine and connects to the router's socket by its
    path on the engine host, which is where the engine keeps the `sock` volume."""
    if not any(path.name == "firelens.yaml" for path in project.files):
        return project
    where = mountpoint(client, project.name, "sock")
    return replace(project, env={**project.env, "PT_SOCK_DIR": where})


def up(client: docker.DockerClient, project: compose.Project, service: str) -> Any:
    compose.up(project, service)
    return compose.container(client, project, service)


@dataclass(frozen=True)
class RouterLogs:
    """What the routers logged over the trial (kept in the trial's directory): the sidecar's,
    and the aggregator tier's when there is one."""

    router: str
    aggregator: str | None = None


def save_logs(client: docker.DockerClient, project: compose.Project, trial_dir: Path,
              tier: AggregatorTier | None) -> RouterLogs:
    """Every service's log kept with the trial; the routers' texts for their counts."""
    logs = RouterLogs(
        compose.save_logs(client, project, "router", trial_dir / "router.log"),
        None if tier is None else
        compose.save_logs(client, project, aggregator.SERVICE, trial_dir / "aggregator.log"))
    compose.save_logs(client, project, "app", trial_dir / "app.log", tail=200)
    compose.save_logs(client, project, "sink", trial_dir / "sink.log")
    return logs
