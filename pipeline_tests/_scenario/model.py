"""The parts of a scenario: workload, stop, router, driver, client, fault, sink delays, limits.

Plain frozen values; scenario.py builds and checks a whole Scenario from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

# Extra keys for a config section pipeline-tests renders (router.output, router.forward_input):
# (key, value) pairs in the order given; a value is text, or (Fluentd) the pairs of a
# subsection such as <server> or <buffer>.
Keys = tuple[tuple[str, Union[str, "Keys"]], ...]

# The one list of topologies (compose/<name>.yaml each) and of stop sequences: the scenario's
# checks and the command's help are made from them. Router kinds: _routers.KINDS.
TOPOLOGIES = ("firelens", "direct-tcp", "direct-unix", "file", "tail", "aggregator")
DEFAULT_TOPOLOGIES = ("firelens", "direct-tcp")  # the incident's comparison
STOP_SEQUENCES = ("ecs", "all-at-once", "kill", "router-first", "none", "pod-delete")
FAULTS = ("none", "router-restart", "router-pause", "router-kill")
FAULT_TARGETS = ("router", "aggregator")
AGGREGATOR_INPUTS = ("firelens", "direct-tcp")  # how the app reaches the sidecar
LOG_MODES = ("blocking", "non-blocking")
SENDERS = ("sync", "async")
APP_STARTS = ("router-ready", "router-started")


@dataclass(frozen=True)
class Workload:
    rate: int | None = None  # lines/s across streams; None = as fast as the app can write
    line_size: int = 400
    streams: int = 1
    # CPU-burning processes the app runs besides its logging, as a batch job's workers: a
    # number, or `all` for one per core of the engine's machine (pipeline_tests/_container/busy.py)
    busy_workers: int | str = 0


@dataclass(frozen=True)
class Stop:
    sequence: str = "ecs"
    # seconds after the app starts; 3 gives the verdict 10 gave (benchmarks/bench_flood_length.py)
    after: float = 3.0
    after_lines: int | None = None  # or: once the app emitted this many lines (whichever first)
    stop_timeout: float = 30.0  # SIGKILL this long after SIGTERM (ECS stopTimeout, k8s grace)
    drain: float = 10.0  # how long the sink may keep receiving after the last container exited
    # ecs, kill, none: seconds between the app's exit and the router's SIGTERM (ECS stops the
    # FireLens container once the agent has seen every container that logs through it stop).
    router_gap: float = 0.0
    router_stop_timeout: float | None = None  # the router's own stopTimeout; None: stop_timeout


@dataclass(frozen=True)
class Router:
    """The sidecar under test and the settings that decide delivery (sweepable in a matrix)."""

    kind: str = "builtin"
    image: str | None = None  # None: the kind's default image
    config: str | None = None  # the user's own config file, included unchanged
    preset: str | None = None  # a shipped config when `config` is not given (see _routers/files.py)
    flush_interval: float = 1.0  # builtin, Fluent Bit `Flush`, Fluentd `flush_interval`
    flush_at_shutdown: bool = True  # builtin, Fluentd buffer `flush_at_shutdown`
    grace: float = 5.0  # builtin, Fluent Bit `Grace`
    require_ack: bool = True  # builtin, out_forward `require_ack_response` / `Require_ack_response`
    buffer_limit: int = 1_000_000  # builtin: records held in memory
    # builtin: stop reading inputs at SIGTERM (Fluent Bit), or read on during grace (Fluentd)
    pause_on_stop: bool = True
    storage_type: str = "memory"  # Fluent Bit `storage.type`: memory or filesystem
    buffer_type: str = "memory"  # Fluentd `<buffer>` @type: memory or file
    # Real routers: extra keys on what pipeline-tests renders for this tier (see
    # _routers/rendered_keys.py): its Forward output to the next tier (Fluent Bit [OUTPUT],
    # Fluentd <match> with <server>/<buffer> subsections) and its Forward inputs.
    output: Keys = ()
    forward_input: Keys = ()
    # Tail inputs: seconds a rotated file is read on (Fluent Bit `Rotate_Wait`, whole seconds;
    # Fluentd `rotate_wait`; the builtin router's tail). Both default to 5.
    rotate_wait: float = 5.0
    # Seconds the router may take to listen once its container started (a router starved of
    # CPU starts slowly: Fluentd under 0.05 CPU took longer than 30 s)
    ready_timeout: float = 60.0
    # builtin: µs of CPU spent on each record taken in, to stand in for a real router under
    # starvation (the builtin relay spends far less per line than Fluentd), or a preset of
    # COST_PRESETS. Real routers spend their own and ignore it (so one scenario runs both).
    cost_per_record: float | str = 0.0


# What a real router costs per record, (unix socket and tail inputs, TCP input) in µs,
# calibrated here against Fluentd 1.19 at the incident's 300 lines/s beside a busy app (README,
# "The incident, reproduced", scenarios/router-cost.yaml). Through FireLens (its unix socket)
# with 2 CPU shares Fluentd lost 60-94%, the builtin router 70% at 300 µs; over TCP Fluentd
# lost nothing and spent 34-52 µs of CPU per line, what the relay spends itself. (Keeping up,
# at 1024 shares, Fluentd spent only 65 µs per FireLens line more than the relay: starved, it
# gets far less of the CPU its shares allow than the single-threaded relay does, so the preset
# is what makes the relay lose as Fluentd does, not Fluentd's CPU time per line.)
COST_PRESETS: dict[str, tuple[float, float]] = {"fluentd-like": (300.0, 0.0)}


def cost_us(router: Router) -> tuple[float, float] | None:
    """The builtin router's CPU cost per record in µs, (unix socket and tail, TCP); None when
    the setting is not one."""
    cost = router.cost_per_record
    if isinstance(cost, str):
        return COST_PRESETS.get(cost)
    return (float(cost), float(cost)) if cost >= 0 else None


@dataclass(frozen=True)
class Aggregator(Router):
    """Topology `aggregator`: a second router tier outside the task (a separate service that
    outlives it). The sidecar (`router`) sends to it; it sends to the sink. Same settings as a
    router, plus how the app reaches the sidecar."""

    input: str = "firelens"  # or direct-tcp (fluent-logger)


@dataclass(frozen=True)
class Driver:
    """Docker `fluentd` log-driver options for the firelens topology (as ECS sets them)."""

    fluentd_async: bool = True
    buffer_limit: int = 1_048_576  # events, `fluentd-buffer-limit`
    request_ack: bool = False
    mode: str = "blocking"  # `non-blocking` drops new lines once max_buffer_size is full
    max_buffer_size: str = "1m"  # bytes, only with mode non-blocking
    # A named configuration (DRIVER_PRESETS): the options the ECS agent sets, see docs/ecs.md.
    preset: str | None = None


# The log-driver options the ECS agent gives a FireLens container (getFirelensLogConfig in
# amazon-ecs-agent's agent/engine/docker_task_engine.go): fluentd-async from its
# ECS_ENABLE_FIRELENS_ASYNC switch (default true), no request-ack, the default blocking mode,
# fluentd-buffer-limit only from the task's log-driver-buffer-limit (Docker's default otherwise).
DRIVER_PRESETS: dict[str, dict[str, object]] = {
    "ecs": {"fluentd_async": True, "request_ack": False, "mode": "blocking"},
    "ecs-async-off": {"fluentd_async": False, "request_ack": False, "mode": "blocking"},
}


@dataclass(frozen=True)
class Client:
    """fluent-logger options for the direct-tcp topology."""

    sender: str = "sync"
    bufmax: int = 1_048_576  # bytes kept in `pendings` while the router is unreachable
    queue_circular: bool = False  # async sender: drop the oldest instead of blocking


@dataclass(frozen=True)
class Fault:
    """Something that happens to the router in the middle of the flood."""

    kind: str = "none"  # router-restart, router-pause (for `duration` s), router-kill
    at: float = 2.0  # seconds after the flood started
    duration: float = 2.0
    target: str = "router"  # or `aggregator` (topology aggregator): the tier the fault hits


@dataclass(frozen=True)
class SinkDelays:
    """A slow destination, as CloudWatch Logs, S3 or an aggregator are: the sink acks late,
    reads slowly, takes a while per request, caps its throughput, or hangs up before an ack
    (pipeline_tests/_sink/: connection.py, throttle.py)."""

    ack_delay: float = 0.0  # seconds before each ack (reading goes on)
    read_delay: float = 0.0  # seconds of pause after each read
    latency: float = 0.0  # seconds per frame (request): nothing read, no ack meanwhile
    max_records_per_s: int | None = None  # a throughput cap (token bucket); None: none
    max_bytes_per_s: int | None = None  # of the records' log lines
    refuse_every: int | None = None  # every Nth frame: counted, connection closed before its ack


@dataclass(frozen=True)
class Rotation:
    """Log rotation by size, as the kubelet (`containerLogMaxSize` 10Mi, `containerLogMaxFiles`
    5) and logrotate rotate a log: topology `tail` through Docker's json-file (`max-size`,
    `max-file`), topology `file` by the app itself (renamed to app.log.1, .2, ...). Other
    topologies write no file and ignore it."""

    size: str | None = None  # e.g. "10m", "512k" (binary units, as Docker's); None: never
    max_files: int = 5  # files kept, the one being written included (the oldest is deleted)


# Docker's units.RAMInBytes, which json-file's max-size goes through: binary multiples.
_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgt])?i?b?$", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size_bytes(text: str) -> int | None:
    """Bytes of a size such as "10m" or "512k" (binary, as Docker reads them); None if not one."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    unit = match.group(2).lower() if match.group(2) else None
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class Limits:
    """Container limits (None = Docker's default)."""

    app_nofile: int | None = None
    app_memory: str | None = None  # e.g. "64m"
    app_cpus: float | None = None  # Docker's --cpus: a CFS quota of that many CPUs
    router_nofile: int | None = None
    router_memory: str | None = None
    router_cpus: float | None = None


@dataclass(frozen=True)
class Task:
    """The task's own size, shared by every container in it (app and router), as an ECS task
    size is: a cgroup holding the CPU quota and memory limit, the container limits inside it."""

    size: str | None = None  # a Fargate size, e.g. "0.25vcpu-0.5gb" (sets cpus and memory)
    cpus: float | None = None  # or any size: CPUs (CFS quota)
    memory: str | None = None  # and bytes, e.g. "512m"
    # ECS container CPU units as CPU shares inside the task (cpu_units.py): "app=256,router=0"
    # (a YAML mapping {app: 256, router: 0} becomes this) or "firelens-default"
    cpu_units: str | None = None
    # When the app starts: once the router listens (`router-ready`), or once its container has
    # started (`router-started`: ECS's START dependency on the FireLens container, so the app
    # may log before the router listens; see docs/ecs.md)
    app_start: str = "router-ready"
