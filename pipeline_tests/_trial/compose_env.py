"""A trial's Compose project from its scenario: which files of compose/ (topology, router tiers,
the sink, variants for driver modes and limits) and the `${PT_*}` variables they read."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline_tests._docker.compose import Project
from pipeline_tests._errors import InstallError
from pipeline_tests._resources import data_dir
from pipeline_tests._routers import RouterPorts
from pipeline_tests._scenario import cpu_units
from pipeline_tests._scenario.model import Aggregator, Router, cost_us, size_bytes
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._scenario.task_size import task_limits


def project_for(name: str, topology: str, scenario: Scenario, env: Mapping[str, str]) -> Project:
    router = scenario.router.kind
    compose_dir = data_dir("compose")
    tiers = [f"router-{router}.yaml"]
    if topology == "aggregator":  # the app's own way in, the sidecar, then the second tier
        tiers.append(f"aggregator-{scenario.aggregator.kind}.yaml")
    files = (compose_dir / f"{app_topology(scenario, topology)}.yaml",
             *(compose_dir / name for name in tiers), compose_dir / "sink.yaml",
             *variant_files(scenario, topology))
    for path in files:
        if not path.exists():
            raise InstallError(f"Compose file {path} is missing. Topology '{topology}' with "
                               f"router '{router}' needs it; reinstall pipeline-tests "
                               "(`pip install --force-reinstall pipeline-tests`).")
    return Project(name, files, dict(env))


_LIMITS = ("nofile", "memory", "cpus")


def app_topology(scenario: Scenario, topology: str) -> str:
    """How the app's lines leave it: the topology itself, or for `aggregator` its input."""
    return scenario.aggregator.input if topology == "aggregator" else topology


def variant_files(scenario: Scenario, topology: str) -> tuple[Path, ...]:
    """The extra `-f` files a scenario needs beyond its topology and router."""
    variants = data_dir("compose") / "variants"
    names = []
    if app_topology(scenario, topology) == "firelens" and scenario.driver.mode == "non-blocking":
        names.append("driver-non-blocking")
    if topology == "tail" and scenario.rotation.size is not None:
        names.append("json-file-rotation")
    limits = scenario.limits
    for service in ("app", "router"):
        names += [f"{service}-{knob}" for knob in _LIMITS
                  if getattr(limits, f"{service}_{knob}") is not None]
    if has_task_limits(scenario):
        names.append("task-cgroup")
    if scenario.task.cpu_units is not None:
        names += [f"{service}-cpu-shares" for service in cpu_units.CONTAINERS]
    return tuple(variants / f"{name}.yaml" for name in names)


def has_task_limits(scenario: Scenario) -> bool:
    """Whether the task has a cgroup of its own: a size, or CPU units shared inside it."""
    task = scenario.task
    return (task.size, task.cpus, task.memory, task.cpu_units) != (None, None, None, None)


def task_shares(scenario: Scenario) -> dict[str, int]:
    """The CPU shares of the task's containers (task.cpu_units; empty: Docker's 1024)."""
    task = scenario.task
    if task.cpu_units is None:
        return {}
    limits = task_limits(task.size, task.cpus, task.memory)
    assert not isinstance(limits, str)  # the scenario was checked
    return cpu_units.cpu_shares(task.cpu_units, limits[0])


def cpu_of(scenario: Scenario, service: str) -> str:
    """The CPU a task container has beyond Docker's default, in words ("" when none): its own
    limit, the task's quota it shares, its CPU shares among the task's containers."""
    parts = []
    own = getattr(scenario.limits, f"{service}_cpus")
    if own is not None:
        parts.append(f"a CPU limit of {own:g} CPUs (limits.{service}_cpus)")
    task = scenario.task
    limits = task_limits(task.size, task.cpus, task.memory)
    if not isinstance(limits, str) and limits[0] is not None:
        parts.append(f"the task's {limits[0]:g} CPUs shared with the "
                     f"{'router' if service == 'app' else 'app'}")
    shares = task_shares(scenario)
    if shares:
        parts.append(f"{shares[service]} CPU shares of the task's {sum(shares.values())} "
                     "(task.cpu_units)")
    return ", ".join(parts)


def _flag(value: bool) -> str:
    return str(value).lower()


def variables(s: Scenario, *, image: str, line_run_id: str, ports: RouterPorts,
              polls: str = "") -> dict[str, str]:
    """The `${PT_*}` variables the Compose files read, from the scenario (strings only)."""
    streams, rate = s.workload.streams, s.workload.rate
    # `none` runs to completion: a line count when one is known, so the count is exact.
    count = -(-s.stop.after_lines // streams) if s.stop.after_lines else (
        round(rate * s.stop.after / streams) if rate else 0)
    duration = 0 if count else s.stop.after
    env = {
        "PT_IMAGE": image, "PT_RUN_ID": line_run_id, "PT_RATE": str(s.workload.rate or "max"),
        "PT_LINE_SIZE": str(s.workload.line_size), "PT_STREAMS": str(s.workload.streams),
        "PT_BUSY_WORKERS": str(s.workload.busy_workers),
        # Only `none` lets the app finish by itself; every other sequence stops it.
        "PT_DURATION": str(duration if s.stop.sequence == "none" else 0),
        "PT_COUNT": str(count if s.stop.sequence == "none" else 0),
        "PT_ROUTER_PORT": str(ports.router), "PT_SINK_POLL": polls,
        **_sink_knobs(s),
        "PT_SINK_PORT": str(ports.sink), "PT_METRICS_PORT": str(ports.metrics),
        "PT_FLUENTD_ASYNC": _flag(s.driver.fluentd_async),
        "PT_FLUENTD_BUFFER_LIMIT": str(s.driver.buffer_limit),
        "PT_FLUENTD_REQUEST_ACK": _flag(s.driver.request_ack),
        "PT_MAX_BUFFER_SIZE": s.driver.max_buffer_size, "PT_SENDER": s.client.sender,
        "PT_BUFMAX": str(s.client.bufmax), "PT_QUEUE_CIRCULAR": _flag(s.client.queue_circular),
        # Rotation (topologies file and tail): bytes, 0 = never; files kept; the tails' wait.
        "PT_ROTATE_SIZE": str(size_bytes(s.rotation.size) if s.rotation.size else 0),
        "PT_ROTATE_FILES": str(s.rotation.max_files),
        "PT_ROTATE_WAIT": str(s.router.rotate_wait),
    }
    env.update(_router_knobs("PT", s.router))
    env.update({f"PT_{service.upper()}_CPU_SHARES": str(shares)
                for service, shares in task_shares(s).items()})
    for service in ("app", "router"):
        for knob in _LIMITS:
            value = getattr(s.limits, f"{service}_{knob}")
            if value is not None:
                env[f"PT_{service.upper()}_{knob.upper()}"] = str(value)
    return env


def _sink_knobs(s: Scenario) -> dict[str, str]:
    """The slow destination's settings, as compose/sink.yaml passes them on ("": none)."""
    sink = s.sink

    def optional(value: int | None) -> str:
        return "" if value is None else str(value)

    return {"PT_SINK_ACK_DELAY": str(sink.ack_delay), "PT_SINK_READ_DELAY": str(sink.read_delay),
            "PT_SINK_LATENCY": str(sink.latency),
            "PT_SINK_MAX_RECORDS_PER_S": optional(sink.max_records_per_s),
            "PT_SINK_MAX_BYTES_PER_S": optional(sink.max_bytes_per_s),
            "PT_SINK_REFUSE_EVERY": optional(sink.refuse_every)}


def aggregator_variables(agg: Aggregator, *, prepared: Mapping[str, str],
                         ports: RouterPorts) -> dict[str, str]:
    """The `${PT_AGGREGATOR_*}` variables compose/aggregator-<kind>.yaml reads; `prepared` is
    what the kind's prepare() returned for it (named PT_ROUTER_*: renamed here)."""
    env = {key.replace("PT_ROUTER_", "PT_AGGREGATOR_"): value for key, value in prepared.items()}
    env.update({"PT_AGGREGATOR_PORT": str(ports.router), "PT_AGGREGATOR_SINK_PORT": str(ports.sink),
                "PT_AGGREGATOR_METRICS_PORT": str(ports.metrics)})
    env.update(_router_knobs("PT_AGGREGATOR", agg))
    return env


def _router_knobs(prefix: str, router: Router) -> dict[str, str]:
    """The builtin router's settings, as compose/router-builtin.yaml passes them on."""
    return {f"{prefix}_FLUSH_INTERVAL": str(router.flush_interval),
            f"{prefix}_FLUSH_AT_SHUTDOWN": _flag(router.flush_at_shutdown),
            f"{prefix}_GRACE": str(router.grace),
            f"{prefix}_REQUIRE_ACK": _flag(router.require_ack),
            f"{prefix}_BUFFER_LIMIT": str(router.buffer_limit),
            f"{prefix}_PAUSE_ON_STOP": _flag(router.pause_on_stop),
            **_cost_knobs(prefix, router)}


def _cost_knobs(prefix: str, router: Router) -> dict[str, str]:
    unix, tcp = cost_us(router) or (0.0, 0.0)
    return {f"{prefix}_COST_PER_RECORD": f"{unix:g}", f"{prefix}_COST_PER_RECORD_TCP": f"{tcp:g}"}


def driver_opts(s: Scenario) -> dict[str, str]:
    """The log-driver options compose/firelens.yaml (and its variants) will set."""
    opts = {"fluentd-address": "unix:///", "fluentd-async": _flag(s.driver.fluentd_async),
            "fluentd-buffer-limit": str(s.driver.buffer_limit),
            "fluentd-request-ack": _flag(s.driver.request_ack),
            "fluentd-sub-second-precision": "true", "tag": "app"}
    if s.driver.mode == "non-blocking":
        opts.update({"mode": "non-blocking", "max-buffer-size": s.driver.max_buffer_size})
    return opts
