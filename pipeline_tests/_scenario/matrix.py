"""The fault matrix: a scenario's axes (topology x stop sequence x rate x ...) expanded into cells.

A cell is one point of the matrix: a plain scenario with exactly one topology, a label for tables
and a short, filesystem-safe name for directories. Without a matrix the cells are one per topology
of the scenario, so a run can always iterate cells.

A label has one shape whatever the axes (trial_result.cell_label): `topology/router/stop`,
where router is the sidecar's kind, or `sidecar>aggregator` for topology aggregator, followed by
every other axis value in parentheses: `firelens/builtin/ecs`,
`aggregator/fluent-bit>fluentd/ecs`, `firelens/builtin/ecs (workload.rate=300, engine=docker26)`.
Adding an axis adds to the parentheses; the first part never changes shape.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline_tests._errors import InputError
from pipeline_tests._results.trial_result import cell_label, value_text
from pipeline_tests._scenario.axes import Locate, canonical_axis, same_value
from pipeline_tests._scenario.scenario import Scenario

TOPOLOGY = "topology"
ENGINE = "engine"  # a cell per engine: its trials run there (compare Docker versions)
_LISTS = {TOPOLOGY: "topologies", ENGINE: "engines"}  # axes that set a one-item list
MAX_DIRNAME = 100  # well under NAME_MAX (255), leaving room for the trial suffix

Where = str | Locate


@dataclass(frozen=True)
class Cell:
    label: str  # "firelens/builtin/kill (workload.rate=max)" (see the module's docstring)
    values: tuple[tuple[str, Any], ...]  # (axis, value) in axis order
    scenario: Scenario  # exactly one topology, no matrix of its own
    dirname: str = ""  # "firelens__sequence-kill__rate-max": unique within one expansion

    @property
    def axes(self) -> dict[str, Any]:
        """Its coordinates (TrialResult.axes): topology, router, stop, then the other axes."""
        return coordinates(self.scenario, self.values)


def trial_dirname(cell: Cell, trial: int) -> str:
    """A trial's directory under runs/<run-id>/: shared by run (writes) and resume (reads)."""
    return f"{cell.dirname}__{trial}"


def cells_of(scenario: Scenario, where: Where = "scenario") -> list[Cell]:
    """The cells of a scenario that carries its matrix in `matrix` / `exclude` fields (if any)."""
    axes = dict(getattr(scenario, "matrix", ()))
    exclude = [dict(entry) for entry in getattr(scenario, "exclude", ())]
    return expand(scenario, axes, exclude, where)


def expand(base: Scenario, matrix: Mapping[str, Sequence[Any]],
           exclude: Sequence[Mapping[str, Any]], where: Where = "scenario") -> list[Cell]:
    """Every combination of the axes, in declaration order (the first axis varies slowest),
    without the excluded ones. Without a `topology` axis, the base's topologies come first."""
    locate = _locator(where)
    base = _without_matrix(base)
    axes = {canonical_axis(k): tuple(v) for k, v in matrix.items()}
    if TOPOLOGY not in axes:
        axes = {TOPOLOGY: base.topologies, **axes}
    for axis, values in axes.items():
        _check_axis(base, axis, values, locate)
    rules = [_check_exclude(axes, entry, locate) for entry in exclude]
    combos = [tuple(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    kept = [c for c in combos if not any(_excluded(c, rule) for rule in rules)]
    if not kept:
        raise InputError(f"{locate('exclude')}: 'exclude' removes every cell of the matrix; "
                         "remove an entry or add values to an axis.")
    names = _dirnames(kept)
    scenarios = [_cell_scenario(base, values, locate) for values in kept]
    return [Cell(cell_label(coordinates(scenario, values)), values, scenario, name)
            for values, scenario, name in zip(kept, scenarios, names, strict=True)]


def coordinates(scenario: Scenario, values: Sequence[tuple[str, Any]] = ()) -> dict[str, Any]:
    """A one-topology scenario's place in the matrix: topology, router.kind, stop.sequence
    (and aggregator.kind for topology aggregator), then the other axes' values in axis order."""
    named: dict[str, Any] = {TOPOLOGY: scenario.topologies[0], "router.kind": scenario.router.kind,
                             "stop.sequence": scenario.stop.sequence}
    if scenario.topologies[0] == "aggregator":
        named["aggregator.kind"] = scenario.aggregator.kind
    return {**named, **dict(values)}


def _values_text(values: Sequence[tuple[str, Any]]) -> str:
    return ",".join(f"{axis}={value_text(value)}" for axis, value in values)


def _locator(where: Where) -> Locate:
    return where if callable(where) else lambda *keys: where


def _without_matrix(scenario: Scenario) -> Scenario:
    # A cell is a plain scenario: it must not expand again (and must not recurse when built).
    return dataclasses.replace(scenario, matrix=(), exclude=())


def axis_names(base: Scenario) -> list[str]:
    """What a matrix may vary: `topology` and every `section.field` of the scenario."""
    sections = {name: value for name, value in dataclasses.asdict(base).items()
                if isinstance(value, dict)}
    return [TOPOLOGY, ENGINE,
            *(f"{name}.{key}" for name, fields in sections.items() for key in fields)]


def _overrides(axis: str, value: Any) -> dict[str, Any]:
    return {_LISTS[axis]: [value]} if axis in _LISTS else {axis: value}


def _check_axis(base: Scenario, axis: str, values: Sequence[Any], locate: Locate) -> None:
    allowed = axis_names(base)
    if axis not in allowed:
        raise InputError(f"{locate('matrix', axis)}: unknown matrix axis '{axis}'. "
                         f"Allowed: {', '.join(allowed)}.")
    for value in values:
        try:
            base.with_overrides(**_overrides(axis, value))
        except InputError as err:
            raise InputError(f"{locate('matrix', axis)}: matrix axis '{axis}', value "
                             f"{value_text(value)!r}: {_reason(err)}") from err


def _check_exclude(axes: Mapping[str, Sequence[Any]], entry: Mapping[str, Any],
                   locate: Locate) -> tuple[tuple[str, Any], ...]:
    rule = tuple((canonical_axis(k), v) for k, v in entry.items())
    if not rule:
        raise InputError(f"{locate('exclude')}: an empty 'exclude' entry would remove every cell.")
    for axis, value in rule:
        if axis not in axes:
            raise InputError(f"{locate('exclude')}: 'exclude' names '{axis}', which is not an "
                             f"axis of the matrix. Axes: {', '.join(axes)}.")
        if not any(same_value(value, v) for v in axes[axis]):
            raise InputError(f"{locate('exclude')}: 'exclude' has {axis}={value_text(value)}, "
                             "which is not on that axis. Values: "
                             f"{', '.join(value_text(v) for v in axes[axis])}.")
    return rule


def _excluded(values: Sequence[tuple[str, Any]], rule: Sequence[tuple[str, Any]]) -> bool:
    cell = dict(values)
    return all(same_value(cell[axis], value) for axis, value in rule)


def _cell_scenario(base: Scenario, values: Sequence[tuple[str, Any]], locate: Locate
                   ) -> Scenario:
    flags: dict[str, Any] = {}
    for axis, value in values:
        flags.update(_overrides(axis, value))
    try:
        return base.with_overrides(**flags)
    except InputError as err:  # each value was fine alone; this combination is not
        raise InputError(f"{locate('matrix')}: matrix cell {_values_text(values)}: {_reason(err)} "
                         "Exclude this combination with an 'exclude' entry.") from err


def _reason(err: InputError) -> str:
    # with_overrides names "command line"; here the place is the matrix, named by the caller.
    return str(err).removeprefix("command line: ")


def _dirnames(cells: Sequence[Sequence[tuple[str, Any]]]) -> list[str]:
    """Short, safe directory names: topology bare, other axes as last-key-segment-value."""
    axes = [axis for axis, _ in cells[0]]
    short = {axis: axis.rpartition(".")[2] for axis in axes}
    clashing = {s for s in short.values() if list(short.values()).count(s) > 1}
    short = {axis: (axis if s in clashing else s).replace(".", "-") for axis, s in short.items()}
    names: list[str] = []
    for values in cells:
        parts = [_safe(value_text(v)) if axis == TOPOLOGY
                 else f"{short[axis]}-{_safe(value_text(v))}" for axis, v in values]
        name = "__".join(parts)
        if len(name) > MAX_DIRNAME or name in names:
            digest = hashlib.sha1(_values_text(values).encode()).hexdigest()[:8]
            name = f"{name[:MAX_DIRNAME - 9]}-{digest}"
        names.append(name)
    return names


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", text).strip(".") or "_"
