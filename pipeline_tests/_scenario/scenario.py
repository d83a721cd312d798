"""The scenario: what to run (workload, topologies, router, stop sequence, trials, thresholds).

Loaded from YAML (errors name file:line and the allowed values) or built from the embedded
default; CLI flags override it through `with_overrides`, which returns a new Scenario.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_tests._container import busy
from pipeline_tests._container.line import MAX_LINE_SIZE, MIN_LINE_SIZE
from pipeline_tests._errors import InputError
from pipeline_tests._routers import KINDS
from pipeline_tests._scenario import cpu_units
from pipeline_tests._scenario.axes import Locate, parse_matrix
from pipeline_tests._scenario.model import (
    AGGREGATOR_INPUTS,
    APP_STARTS,
    COST_PRESETS,
    DEFAULT_TOPOLOGIES,
    DRIVER_PRESETS,
    FAULT_TARGETS,
    FAULTS,
    LOG_MODES,
    SENDERS,
    STOP_SEQUENCES,
    TOPOLOGIES,
    Aggregator,
    Client,
    Driver,
    Fault,
    Keys,
    Limits,
    Rotation,
    Router,
    SinkDelays,
    Stop,
    Task,
    Workload,
    cost_us,
    size_bytes,
)
from pipeline_tests._scenario.search import Search, parse_search
from pipeline_tests._scenario.task_size import task_limits


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    topologies: tuple[str, ...] = DEFAULT_TOPOLOGIES
    workload: Workload = field(default_factory=Workload)
    stop: Stop = field(default_factory=Stop)
    router: Router = field(default_factory=Router)
    aggregator: Aggregator = field(default_factory=Aggregator)
    driver: Driver = field(default_factory=Driver)
    client: Client = field(default_factory=Client)
    fault: Fault = field(default_factory=Fault)
    sink: SinkDelays = field(default_factory=SinkDelays)
    rotation: Rotation = field(default_factory=Rotation)
    limits: Limits = field(default_factory=Limits)
    task: Task = field(default_factory=Task)
    # A number of trials per cell, or "auto": each cell runs until the stopping rule
    # (_results/sequential.py: Wald's SPRT) decides "does it lose?" at `confidence`, between
    # the loss shares `loss_shares` (H0, H1), or until `max_trials`.
    trials: int | str = "auto"  # the same verdict as 3 fixed trials, sooner (README)
    max_trials: int = 10
    confidence: float = 0.95
    loss_shares: tuple[float, float] = (0.1, 0.9)
    max_loss: int | None = None  # exit 1 when any cell loses more lines than this
    # Where trials run: `local`, Docker contexts or engine URLs (pipeline_tests._docker.engine).
    # With several, trials run in parallel, one per engine at a time.
    engines: tuple[str, ...] = ("local",)
    # The fault matrix (see matrix.py): axis -> values, and the combinations to leave out.
    matrix: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    exclude: tuple[tuple[tuple[str, Any], ...], ...] = ()
    # Where loss starts along one axis, by bisection (search.py); none by default.
    search: Search = field(default_factory=Search)

    def with_overrides(self, overrides: Mapping[str, Any] | None = None, /,
                       **flags: Any) -> Scenario:
        """A checked copy with dotted keys set, e.g. with_overrides({"workload.rate": 300,
        "trials": 1}) or with_overrides(trials=1). None (or an empty list) leaves a key as it
        is, so CLI flags that were not given change nothing."""
        data = to_dict(self)
        for key, value in {**(overrides or {}), **flags}.items():
            if value is None or (isinstance(value, (list, tuple)) and not value):
                continue
            section, _, name = key.rpartition(".")
            if section and not isinstance(data.get(section), dict):
                raise InputError(f"command line: unknown setting '{key}'. Sections: "
                                 f"{', '.join(sorted(_SECTIONS))}, e.g. 'workload.rate'.")
            (data[section] if section else data)[name] = value
        return build(data, lambda *keys: "command line")


def to_dict(scenario: Scenario) -> dict[str, Any]:
    data = dataclasses.asdict(scenario)
    data["topologies"] = list(scenario.topologies)
    data["engines"] = list(scenario.engines)
    data["loss_shares"] = list(scenario.loss_shares)
    data["search"] = scenario.search.as_dict()
    data["matrix"] = {axis: list(values) for axis, values in scenario.matrix}
    data["exclude"] = [dict(entry) for entry in scenario.exclude]
    for tier in ("router", "aggregator"):
        for name in ("output", "forward_input"):
            data[tier][name] = keys_as_dict(getattr(getattr(scenario, tier), name))
    return data


_SECTIONS = {"workload": Workload, "stop": Stop, "router": Router, "aggregator": Aggregator,
             "driver": Driver, "client": Client, "fault": Fault, "sink": SinkDelays,
             "rotation": Rotation, "limits": Limits, "task": Task}
_TOP = {"name", "topologies", "engines", "trials", "max_trials", "confidence", "loss_shares",
        "max_loss", "matrix", "exclude", "search", *_SECTIONS}


def build(data: Any, where: Locate) -> Scenario:
    """A checked Scenario from plain data (a YAML document, or a scenario's to_dict()).

    The matrix's shape is checked here; its cells are checked by matrix.expand."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where()}: a scenario must be a mapping with keys "
                         f"{', '.join(sorted(_TOP))}.")
    _check_keys(data, _TOP, where)
    axes, exclude = parse_matrix(data, where)
    sections = {name: _section(cls, data.get(name), where, name)
                for name, cls in _SECTIONS.items()}
    sections["driver"] = _with_preset(sections["driver"], where)
    topologies = data.get("topologies", list(DEFAULT_TOPOLOGIES))
    if isinstance(topologies, str):
        topologies = [topologies]
    engines = data.get("engines", ["local"])
    if isinstance(engines, str):
        engines = [engines]
    scenario = Scenario(
        name=str(data.get("name", "default")),
        topologies=tuple(topologies) if isinstance(topologies, list) else topologies,
        engines=tuple(engines) if isinstance(engines, list) else engines,
        trials=data.get("trials", "auto"),
        max_trials=data.get("max_trials", 10),
        confidence=data.get("confidence", 0.95),
        loss_shares=_pair(data.get("loss_shares", (0.1, 0.9))),
        max_loss=data.get("max_loss"),
        matrix=tuple(axes.items()),
        exclude=tuple(tuple(entry.items()) for entry in exclude),
        search=parse_search(data.get("search"), where),
        **sections,
    )
    _validate(scenario, where)
    return scenario


def _with_preset(driver: Driver, where: Locate) -> Driver:
    """The driver with its preset's options. A field the preset sets may stay at its default
    (or already hold the preset's value); any other value contradicts the preset."""
    if driver.preset is None:
        return driver
    options = DRIVER_PRESETS.get(driver.preset)
    if options is None:
        raise InputError(f"{where('driver', 'preset')}: unknown driver preset "
                         f"'{driver.preset}'. Presets: {', '.join(DRIVER_PRESETS)}.")
    default = Driver()
    for key, value in options.items():
        given = getattr(driver, key)
        if given not in (value, getattr(default, key)):
            raise InputError(f"{where('driver', key)}: 'driver.{key}: {given}' contradicts "
                             f"'driver.preset: {driver.preset}', which sets it to {value}. "
                             "Drop one of the two.")
    return dataclasses.replace(driver, **options)  # type: ignore[arg-type]


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: Locate, *path: str) -> None:
    for key in data:
        if key not in allowed:
            dotted = ".".join((*path, str(key)))
            raise InputError(f"{where(*path, str(key))}: unknown key '{dotted}'. "
                             f"Allowed here: {', '.join(sorted(allowed))}.")


def _section(cls: type, data: Any, where: Locate, name: str) -> Any:
    if data is None:
        return cls()
    if dataclasses.is_dataclass(data):
        return data
    if not isinstance(data, Mapping):
        raise InputError(f"{where(name)}: '{name}' must be a mapping.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    _check_keys(data, set(fields), where, name)
    if name == "workload" and data.get("rate") == "max":
        data["rate"] = None
    if name == "rotation" and type(data.get("size")) is int:
        data["size"] = str(data["size"])  # bytes
    if name == "task" and "cpu_units" in data:
        data["cpu_units"] = cpu_units.as_text(data["cpu_units"])
    values = {}
    for key, value in data.items():
        values[key] = _coerce(value, str(fields[key].type), where(name, key), f"{name}.{key}")
    return cls(**values)


def _coerce(value: Any, type_name: str, where: str, key: str) -> Any:
    if type_name == "Keys":
        return _keys(value, where, key)
    kinds: dict[str, Any] = {"int": int, "int | None": int, "float": float,
                             "float | None": float, "bool": bool, "str": str, "str | None": str,
                             "int | str": (int, str), "float | str": (float, int, str)}
    kind = kinds[str(type_name)]
    if value is None and "None" in str(type_name):
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        also = " of lines/s, or 'max' (as fast as the app can write)" \
            if key == "workload.rate" else ""
        raise InputError(f"{where}: '{key}' must be {_article(kind)}{also}, got {value!r}.")
    return value


def _keys(value: Any, where: str, key: str, depth: int = 0) -> Keys:
    """A mapping of config keys to values (text, numbers, true/false; one level of mappings for
    a Fluentd subsection) as (key, text) pairs; a scenario's to_dict() gives the pairs back."""
    if isinstance(value, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: '{key}' must be a mapping of config keys to values, e.g. "
                         f"{{Retain_metadata_in_forward_mode: false}}, got {value!r}.")
    pairs: list[tuple[str, Any]] = []
    for name, item in value.items():
        if isinstance(item, bool):
            pairs.append((str(name), "true" if item else "false"))
        elif isinstance(item, (str, int, float)):
            pairs.append((str(name), str(item)))
        elif isinstance(item, (Mapping, list, tuple)) and depth == 0:
            pairs.append((str(name), _keys(item, where, f"{key}.{name}", 1)))
        else:
            raise InputError(f"{where}: '{key}.{name}' must be text, a number or true/false"
                             f"{'' if depth else ' (or a mapping: a Fluentd subsection)'}, "
                             f"got {item!r}.")
    return tuple(pairs)


def keys_as_dict(keys: Keys) -> dict[str, Any]:
    """The pairs as the mapping a scenario file gives (subsections as mappings)."""
    return {name: value if isinstance(value, str) else keys_as_dict(value)
            for name, value in keys}


def _article(kind: Any) -> str:
    if isinstance(kind, tuple):
        return " or ".join(map(_article, kind))
    return {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}[kind]


def _validate(s: Scenario, where: Locate) -> None:
    def need(ok: bool, keys: tuple[str, ...], message: str) -> None:
        if not ok:
            raise InputError(f"{where(*keys)}: {message}")

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
    need(isinstance(s.engines, tuple) and len(s.engines) > 0
         and all(isinstance(e, str) and e.strip() for e in s.engines)
         and len(set(s.engines)) == len(s.engines), ("engines",),
         f"'engines' must be a non-empty list of distinct engine names (`local`, a Docker "
         f"context, or unix://, tcp://, ssh:// URLs), got {list(s.engines)!r}.")
    _validate_trials(s, need)
    need(s.search.axis is None or s.search.axis not in dict(s.matrix), ("search", "axis"),
         f"'search.axis' {s.search.axis} is also a matrix axis; the search chooses its values. "
         "Drop it from the matrix.")
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
    need(busy.parse(str(w.busy_workers)) is not None and not isinstance(w.busy_workers, bool),
         ("workload", "busy_workers"),
         f"'workload.busy_workers' must be a whole number of CPU-burning processes from 0 to "
         f"{busy.MAX_WORKERS}, or 'all' (one per core), got {w.busy_workers!r}.")
    need(s.stop.sequence in STOP_SEQUENCES, ("stop", "sequence"),
         f"unknown stop sequence '{s.stop.sequence}'. Allowed: {', '.join(STOP_SEQUENCES)}.")
    for key in ("after", "stop_timeout", "drain"):
        need(getattr(s.stop, key) > 0, ("stop", key), f"'stop.{key}' must be > 0 seconds.")
    need(s.stop.after_lines is None or s.stop.after_lines >= 1, ("stop", "after_lines"),
         f"'stop.after_lines' must be a whole number >= 1, got {s.stop.after_lines!r}.")


def _validate_trials(s: Scenario, need: Need) -> None:
    """A fixed number of trials, or `auto` with its stopping rule's settings."""
    need(s.trials == "auto" or (isinstance(s.trials, int) and not isinstance(s.trials, bool)
                                and s.trials >= 1), ("trials",),
         f"'trials' must be a whole number >= 1 or 'auto' (each cell runs until the answer "
         f"is known, up to 'max_trials'), got {s.trials!r}.")
    need(isinstance(s.max_trials, int) and not isinstance(s.max_trials, bool)
         and 1 <= s.max_trials <= 1000, ("max_trials",),
         f"'max_trials' must be a whole number between 1 and 1000, got {s.max_trials!r}.")
    need(isinstance(s.confidence, (int, float)) and not isinstance(s.confidence, bool)
         and 0.5 < s.confidence < 1, ("confidence",),
         f"'confidence' must be a number between 0.5 and 1 (e.g. 0.95), got {s.confidence!r}.")
    low, high = s.loss_shares if len(s.loss_shares) == 2 else (None, None)
    need(all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
         and 0 < low < high < 1, ("loss_shares",),
         f"'loss_shares' must be two shares of trials [p0, p1] with 0 < p0 < p1 < 1 (a cell "
         f"that loses in at most p0 of its trials does not lose, one that loses in at least "
         f"p1 does), got {list(s.loss_shares)!r}.")


def _pair(value: Any) -> Any:
    """loss_shares as a tuple (a YAML list, or a scenario's to_dict())."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _validate_parts(s: Scenario, need: Need) -> None:
    """The pipeline's parts: router, fault, sink, driver, client."""
    need(s.router.kind in KINDS, ("router", "kind"),
         f"unknown router '{s.router.kind}'. Allowed: {', '.join(KINDS)}.")
    need(s.router.flush_interval > 0 and s.router.grace >= 0, ("router",),
         "'router.flush_interval' must be > 0 and 'router.grace' >= 0 seconds.")
    for tier in ("router", "aggregator"):
        router = getattr(s, tier)
        need(cost_us(router) is not None and not isinstance(router.cost_per_record, bool),
             (tier, "cost_per_record"),
             f"'{tier}.cost_per_record' must be microseconds of CPU per record (a number >= 0) "
             f"or a preset ({', '.join(COST_PRESETS)}), got {router.cost_per_record!r}.")
    need(s.router.storage_type in ("memory", "filesystem"), ("router", "storage_type"),
         f"'router.storage_type' must be memory or filesystem, got '{s.router.storage_type}'.")
    need(s.router.buffer_type in ("memory", "file"), ("router", "buffer_type"),
         f"'router.buffer_type' must be memory or file, got '{s.router.buffer_type}'.")
    need(s.fault.kind in FAULTS, ("fault", "kind"),
         f"unknown fault '{s.fault.kind}'. Allowed: {', '.join(FAULTS)}.")
    need(s.fault.at >= 0 and s.fault.duration > 0, ("fault",),
         "'fault.at' must be >= 0 and 'fault.duration' > 0 seconds.")
    need(s.fault.kind == "none" or s.stop.after_lines is not None or s.fault.at < s.stop.after,
         ("fault", "at"), f"'fault.at' ({s.fault.at:g} s) is at or after the stop "
         f"('stop.after': {s.stop.after:g} s): the {s.fault.kind} would never happen. Set "
         "'fault.at' below 'stop.after', or 'fault.kind: none'.")
    _validate_sink(s, need)
    _validate_rotation(s, need)
    need(s.driver.mode in LOG_MODES, ("driver", "mode"),
         f"unknown log mode '{s.driver.mode}'. Allowed: {', '.join(LOG_MODES)}.")
    need(s.client.queue_circular is False or s.client.sender == "async", ("client",),
         "'client.queue_circular' only works with 'client.sender: async'.")
    need(s.client.sender in SENDERS, ("client", "sender"),
         f"unknown sender '{s.client.sender}'. Allowed: {', '.join(SENDERS)}.")
    _validate_resources(s, need)
    need(s.aggregator.kind in KINDS, ("aggregator", "kind"),
         f"unknown aggregator '{s.aggregator.kind}'. Allowed: {', '.join(KINDS)}.")
    need(s.aggregator.input in AGGREGATOR_INPUTS, ("aggregator", "input"),
         f"'aggregator.input' must be one of {', '.join(AGGREGATOR_INPUTS)}.")
    need(s.fault.target in FAULT_TARGETS, ("fault", "target"),
         f"'fault.target' must be one of {', '.join(FAULT_TARGETS)}.")
    need(s.fault.target == "router" or "aggregator" in s.topologies, ("fault", "target"),
         "'fault.target: aggregator' needs the aggregator topology.")
    _validate_config_files(s, need)


def _validate_config_files(s: Scenario, need: Need) -> None:
    """A tier's own config file is readable, and not given with a preset (checked before
    anything starts; the kind checks its presets, _routers/files.py)."""
    for tier, router in (("router", s.router), ("aggregator", s.aggregator)):
        if router.config is None:
            continue
        need(router.preset is None, (tier, "preset"),
             f"the scenario gives both {tier}.config ({router.config}) and {tier}.preset "
             f"({router.preset}). Give one: your own file, or a shipped preset.")
        path = Path(router.config).expanduser().resolve()
        why = ("does not exist" if not path.exists() else
               "is not a readable file" if not path.is_file() or not os.access(path, os.R_OK)
               else "")
        need(not why, (tier, "config"),
             f"the {router.kind} config file {path} ({tier}.config) {why}. Fix the path in "
             "the scenario (relative to the scenario file; on the command line, to the current "
             f"directory), or drop {tier}.config to use a shipped preset.")


def _validate_sink(s: Scenario, need: Need) -> None:
    sink = s.sink
    need(sink.ack_delay >= 0 and sink.read_delay >= 0 and sink.latency >= 0, ("sink",),
         "'sink.ack_delay', 'sink.read_delay' and 'sink.latency' must be >= 0 seconds.")
    for key in ("max_records_per_s", "max_bytes_per_s"):
        cap = getattr(sink, key)
        need(cap is None or cap >= 1, ("sink", key),
             f"'sink.{key}' must be a whole number >= 1 (or null: no cap), got {cap!r}.")
    need(sink.refuse_every is None or sink.refuse_every >= 2, ("sink", "refuse_every"),
         f"'sink.refuse_every' must be a whole number >= 2 (every Nth frame is refused; 1 would "
         f"refuse them all), or null: never, got {sink.refuse_every!r}.")


def _validate_rotation(s: Scenario, need: Need) -> None:
    rotation = s.rotation
    size = None if rotation.size is None else size_bytes(rotation.size)
    need(rotation.size is None or (size is not None and size >= 1024), ("rotation", "size"),
         f"'rotation.size' must be a size of at least 1k such as 10m or 512k (binary units, as "
         f"Docker's max-size), or null: no rotation, got {rotation.size!r}.")
    need(rotation.max_files >= 2, ("rotation", "max_files"),
         f"'rotation.max_files' must be a whole number >= 2 (the file being written and at "
         f"least one rotated file, as kubelet's containerLogMaxFiles), got {rotation.max_files}.")
    for router in (s.router, s.aggregator):
        need(router.rotate_wait >= 0, ("router", "rotate_wait"),
             f"'rotate_wait' must be >= 0 seconds, got {router.rotate_wait}.")


def _validate_resources(s: Scenario, need: Need) -> None:
    """CPU: per container and for the whole task; the stop's router timing."""
    for service in ("app", "router"):
        cpus = getattr(s.limits, f"{service}_cpus")
        need(cpus is None or 0.01 <= cpus <= 192, ("limits", f"{service}_cpus"),
             f"'limits.{service}_cpus' must be between 0.01 and 192 CPUs, got {cpus!r}.")
    task = task_limits(s.task.size, s.task.cpus, s.task.memory)
    need(not isinstance(task, str), ("task",), f"{task}.")
    need(s.task.app_start in APP_STARTS, ("task", "app_start"),
         f"'task.app_start' must be one of {', '.join(APP_STARTS)}, got {s.task.app_start!r}.")
    for tier in ("router", "aggregator"):
        timeout = getattr(s, tier).ready_timeout
        need(timeout > 0, (tier, "ready_timeout"),
             f"'{tier}.ready_timeout' must be > 0 seconds, got {timeout:g}.")
    if s.task.cpu_units is not None and not isinstance(task, str):
        units = cpu_units.container_units(s.task.cpu_units, task[0])
        need(not isinstance(units, str), ("task", "cpu_units"), f"{units}.")
    need(s.stop.router_gap >= 0, ("stop", "router_gap"), "'stop.router_gap' must be >= 0 s.")
    need(s.stop.router_stop_timeout is None or s.stop.router_stop_timeout > 0,
         ("stop", "router_stop_timeout"), "'stop.router_stop_timeout' must be > 0 seconds.")
