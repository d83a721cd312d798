"""The scenario: what to run (workload, topologies, router, stop sequence, trials, thresholds).

Loaded from YAML (errors name file:line and the allowed values) or built from the embedded
default; CLI flags override it through `with_overrides`, which returns a new Scenario.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline_tests import matrix
from pipeline_tests.errors import UserError
from pipeline_tests.line import MAX_LINE_SIZE, MIN_LINE_SIZE

TOPOLOGIES = ("firelens", "direct-tcp", "direct-unix", "file", "tail")
DEFAULT_TOPOLOGIES = ("firelens", "direct-tcp")  # the incident's comparison
ROUTERS = ("builtin", "fluent-bit", "aws-for-fluent-bit", "fluentd")
STOP_SEQUENCES = ("ecs", "all-at-once", "kill", "router-first", "none", "pod-delete")
FAULTS = ("none", "router-restart", "router-pause", "router-kill")
LOG_MODES = ("blocking", "non-blocking")
SENDERS = ("sync", "async")


@dataclass(frozen=True)
class Workload:
    rate: int | None = None  # lines/s across streams; None = as fast as the app can write
    line_size: int = 400
    streams: int = 1


@dataclass(frozen=True)
class Stop:
    sequence: str = "ecs"
    after: float = 10.0  # seconds after the app starts
    after_lines: int | None = None  # or: once the app emitted this many lines (whichever first)
    stop_timeout: float = 30.0  # SIGKILL this long after SIGTERM (ECS stopTimeout, k8s grace)
    drain: float = 10.0  # how long the sink may keep receiving after the last container exited


@dataclass(frozen=True)
class Router:
    """The sidecar under test and the settings that decide delivery (sweepable in a matrix)."""

    kind: str = "builtin"
    image: str | None = None  # None: the kind's default image
    config: str | None = None  # the user's own config file, included unchanged
    preset: str | None = None  # a shipped config when `config` is not given (see routers.py)
    flush_interval: float = 1.0  # builtin, Fluent Bit `Flush`, Fluentd `flush_interval`
    flush_at_shutdown: bool = True  # builtin, Fluentd buffer `flush_at_shutdown`
    grace: float = 5.0  # builtin, Fluent Bit `Grace`
    require_ack: bool = True  # builtin, out_forward `require_ack_response` / `Require_ack_response`
    buffer_limit: int = 1_000_000  # builtin: records held in memory
    # builtin: stop reading inputs at SIGTERM (Fluent Bit), or read on during grace (Fluentd)
    pause_on_stop: bool = True
    storage_type: str = "memory"  # Fluent Bit `storage.type`: memory or filesystem
    buffer_type: str = "memory"  # Fluentd `<buffer>` @type: memory or file


@dataclass(frozen=True)
class Driver:
    """Docker `fluentd` log-driver options for the firelens topology (as ECS sets them)."""

    fluentd_async: bool = True
    buffer_limit: int = 1_048_576  # events, `fluentd-buffer-limit`
    request_ack: bool = False
    mode: str = "blocking"  # `non-blocking` drops new lines once max_buffer_size is full
    max_buffer_size: str = "1m"  # bytes, only with mode non-blocking


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


@dataclass(frozen=True)
class Sink:
    """A slow destination: the sink acks late or reads slowly."""

    ack_delay: float = 0.0
    read_delay: float = 0.0


@dataclass(frozen=True)
class Limits:
    """Container limits (None = Docker's default)."""

    app_nofile: int | None = None
    app_memory: str | None = None  # e.g. "64m"
    router_nofile: int | None = None
    router_memory: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    topologies: tuple[str, ...] = DEFAULT_TOPOLOGIES
    workload: Workload = field(default_factory=Workload)
    stop: Stop = field(default_factory=Stop)
    router: Router = field(default_factory=Router)
    driver: Driver = field(default_factory=Driver)
    client: Client = field(default_factory=Client)
    fault: Fault = field(default_factory=Fault)
    sink: Sink = field(default_factory=Sink)
    limits: Limits = field(default_factory=Limits)
    trials: int = 3
    max_loss: int | None = None  # exit 1 when any cell loses more lines than this
    # The fault matrix (see matrix.py): axis -> values, and the combinations to leave out.
    matrix: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    exclude: tuple[tuple[tuple[str, Any], ...], ...] = ()

    def with_overrides(self, **flags: Any) -> Scenario:
        """A copy with the CLI flags that were given (None = not given) applied and checked."""
        data = to_dict(self)
        for key, value in flags.items():
            if value is None or (isinstance(value, (list, tuple)) and not value):
                continue
            section, _, name = key.rpartition(".")
            (data[section] if section else data)[name] = value
        return _build(data, _Where("command line"))


def to_dict(scenario: Scenario) -> dict[str, Any]:
    data = dataclasses.asdict(scenario)
    data["topologies"] = list(scenario.topologies)
    data["matrix"] = {axis: list(values) for axis, values in scenario.matrix}
    data["exclude"] = [dict(entry) for entry in scenario.exclude]
    return data


def load(path: Path) -> Scenario:
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"Cannot read scenario file {path}: {err.strerror}. Check the path, "
                        "or run without a file to use the default scenario.") from err
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', err)}). "
                        "Fix the syntax; see scenarios/ for examples.") from err
    if node is None:
        return Scenario()
    loaded = _build(_plain(node), _Where(str(path), node))
    config = loaded.router.config
    if config and not Path(config).is_absolute():  # relative to the scenario file, not the cwd
        router = dataclasses.replace(loaded.router, config=str(path.parent / config))
        loaded = dataclasses.replace(loaded, router=router)
    return loaded


class _Where:
    """Turns a key path into 'file:line' for error messages."""

    def __init__(self, source: str, node: yaml.Node | None = None) -> None:
        self.source, self.node = source, node

    def of(self, *keys: str) -> str:
        node, line = self.node, None
        for key in keys:
            if not isinstance(node, yaml.MappingNode):
                break
            match = [(k, v) for k, v in node.value if k.value == key]
            if not match:
                break
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        return f"{self.source}:{line}" if line else self.source


def _plain(node: yaml.Node) -> Any:
    return yaml.SafeLoader("").construct_document(node)


_SECTIONS = {"workload": Workload, "stop": Stop, "router": Router, "driver": Driver,
             "client": Client, "fault": Fault, "sink": Sink, "limits": Limits}
_TOP = {"name", "topologies", "trials", "max_loss", "matrix", "exclude", *_SECTIONS}


def _build(data: Any, where: _Where) -> Scenario:
    if not isinstance(data, Mapping):
        raise UserError(f"{where.of()}: a scenario must be a mapping with keys "
                        f"{', '.join(sorted(_TOP))}.")
    _check_keys(data, _TOP, where)
    axes, exclude = matrix.parse_matrix(data, where.of)
    sections = {name: _section(cls, data.get(name), where, name)
                for name, cls in _SECTIONS.items()}
    topologies = data.get("topologies", list(DEFAULT_TOPOLOGIES))
    if isinstance(topologies, str):
        topologies = [topologies]
    scenario = Scenario(
        name=str(data.get("name", "default")),
        topologies=tuple(topologies) if isinstance(topologies, list) else topologies,
        trials=data.get("trials", 3),
        max_loss=data.get("max_loss"),
        matrix=tuple(axes.items()),
        exclude=tuple(tuple(entry.items()) for entry in exclude),
        **sections,
    )
    _validate(scenario, where)
    if scenario.matrix or scenario.exclude:  # cells are built without a matrix: no recursion
        matrix.expand(scenario, axes, exclude, where.of)
    return scenario


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: _Where, *path: str) -> None:
    for key in data:
        if key not in allowed:
            dotted = ".".join((*path, str(key)))
            raise UserError(f"{where.of(*path, str(key))}: unknown key '{dotted}'. "
                            f"Allowed here: {', '.join(sorted(allowed))}.")


def _section(cls: type, data: Any, where: _Where, name: str) -> Any:
    if data is None:
        return cls()
    if dataclasses.is_dataclass(data):
        return data
    if not isinstance(data, Mapping):
        raise UserError(f"{where.of(name)}: '{name}' must be a mapping.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    _check_keys(data, set(fields), where, name)
    if name == "workload" and data.get("rate") == "max":
        data["rate"] = None
    values = {}
    for key, value in data.items():
        values[key] = _coerce(value, fields[key].type, where.of(name, key), f"{name}.{key}")
    return cls(**values)


def _coerce(value: Any, type_name: str, where: str, key: str) -> Any:
    kinds = {"int": int, "int | None": int, "float": float, "bool": bool, "str": str,
             "str | None": str}
    kind = kinds[str(type_name)]
    if value is None and "None" in str(type_name):
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UserError(f"{where}: '{key}' must be {_article(kind)}, got {value!r}.")
    return value


def _article(kind: type) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}[kind]


def _validate(s: Scenario, where: _Where) -> None:
    def need(ok: bool, keys: tuple[str, ...], message: str) -> None:
        if not ok:
            raise UserError(f"{where.of(*keys)}: {message}")

    _validate_run(s, need)
    _validate_parts(s, need)


Need = Callable[[bool, tuple[str, ...], str], None]


def _validate_run(s: Scenario, need: Need) -> None:
    """What runs and for how long: topologies, trials, workload, stop."""
    need(isinstance(s.topologies, tuple) and len(s.topologies) > 0, ("topologies",),
         f"'topologies' must be a non-empty list of: {', '.join(TOPOLOGIES)}.")
    for topology in s.topologies:
        need(topology in TOPOLOGIES, ("topologies",),
             f"unknown topology '{topology}'. Allowed: {', '.join(TOPOLOGIES)}.")
    need(isinstance(s.trials, int) and s.trials >= 1, ("trials",),
         f"'trials' must be a whole number >= 1, got {s.trials!r}.")
    need(s.max_loss is None or (isinstance(s.max_loss, int) and s.max_loss >= 0), ("max_loss",),
         f"'max_loss' must be a whole number >= 0, got {s.max_loss!r}.")
    w = s.workload
    need(w.rate is None or w.rate >= 1, ("workload", "rate"),
         f"'workload.rate' must be 'max' or a number of lines/s >= 1, got {w.rate!r}.")
    need(MIN_LINE_SIZE <= w.line_size <= MAX_LINE_SIZE, ("workload", "line_size"),
         f"'workload.line_size' must be between {MIN_LINE_SIZE} and {MAX_LINE_SIZE} bytes "
         f"(the id prefix takes {MIN_LINE_SIZE - 1}), got {w.line_size}.")
    need(1 <= w.streams <= 64, ("workload", "streams"),
         f"'workload.streams' must be between 1 and 64, got {w.streams}.")
    need(s.stop.sequence in STOP_SEQUENCES, ("stop", "sequence"),
         f"unknown stop sequence '{s.stop.sequence}'. Allowed: {', '.join(STOP_SEQUENCES)}.")
    for key in ("after", "stop_timeout", "drain"):
        need(getattr(s.stop, key) > 0, ("stop", key), f"'stop.{key}' must be > 0 seconds.")
    need(s.stop.after_lines is None or s.stop.after_lines >= 1, ("stop", "after_lines"),
         f"'stop.after_lines' must be a whole number >= 1, got {s.stop.after_lines!r}.")


def _validate_parts(s: Scenario, need: Need) -> None:
    """The pipeline's parts: router, fault, sink, driver, client."""
    need(s.router.kind in ROUTERS, ("router", "kind"),
         f"unknown router '{s.router.kind}'. Allowed: {', '.join(ROUTERS)}.")
    need(s.router.flush_interval > 0 and s.router.grace >= 0, ("router",),
         "'router.flush_interval' must be > 0 and 'router.grace' >= 0 seconds.")
    need(s.router.storage_type in ("memory", "filesystem"), ("router", "storage_type"),
         f"'router.storage_type' must be memory or filesystem, got '{s.router.storage_type}'.")
    need(s.router.buffer_type in ("memory", "file"), ("router", "buffer_type"),
         f"'router.buffer_type' must be memory or file, got '{s.router.buffer_type}'.")
    need(s.fault.kind in FAULTS, ("fault", "kind"),
         f"unknown fault '{s.fault.kind}'. Allowed: {', '.join(FAULTS)}.")
    need(s.fault.at >= 0 and s.fault.duration > 0, ("fault",),
         "'fault.at' must be >= 0 and 'fault.duration' > 0 seconds.")
    need(s.sink.ack_delay >= 0 and s.sink.read_delay >= 0, ("sink",),
         "'sink.ack_delay' and 'sink.read_delay' must be >= 0 seconds.")
    need(s.driver.mode in LOG_MODES, ("driver", "mode"),
         f"unknown log mode '{s.driver.mode}'. Allowed: {', '.join(LOG_MODES)}.")
    need(s.client.queue_circular is False or s.client.sender == "async", ("client",),
         "'client.queue_circular' only works with 'client.sender: async'.")
    need(s.client.sender in SENDERS, ("client", "sender"),
         f"unknown sender '{s.client.sender}'. Allowed: {', '.join(SENDERS)}.")
