"""The shape of a scenario's `matrix` and `exclude` keys: axis names and their values, checked
before any cell is built (matrix.py builds and checks the cells)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipeline_tests._errors import InputError

Locate = Callable[..., str]  # key path -> "file:line" (or the source, where lines are unknown)


def parse_matrix(data: Mapping[str, Any], locate: Locate
                 ) -> tuple[dict[str, tuple[Any, ...]], list[dict[str, Any]]]:
    """Checks the shapes of the scenario's `matrix` and `exclude` keys and canonicalises axis names.

    Axis names and values are checked against the scenario by `expand`."""
    raw_matrix = data.get("matrix") or {}
    if not isinstance(raw_matrix, Mapping):
        raise InputError(f"{locate('matrix')}: 'matrix' must be a mapping of axis -> list of "
                         "values, e.g. {stop.sequence: [ecs, kill], workload.rate: [300, max]}.")
    axes: dict[str, tuple[Any, ...]] = {}
    for key, values in raw_matrix.items():
        axis = canonical_axis(key)
        if axis in axes:
            raise InputError(f"{locate('matrix', str(key))}: axis '{axis}' is declared twice.")
        axes[axis] = _axis_values(values, axis, locate('matrix', str(key)))
    raw_exclude = data.get("exclude") or []
    if not isinstance(raw_exclude, list):
        raise InputError(f"{locate('exclude')}: 'exclude' must be a list of mappings, e.g. "
                         "[{topology: direct-tcp, driver.fluentd_async: false}].")
    exclude = []
    for entry in raw_exclude:
        if not isinstance(entry, Mapping) or not entry:
            raise InputError(f"{locate('exclude')}: each 'exclude' entry must be a non-empty "
                             f"mapping of axis -> value, got {entry!r}.")
        exclude.append({canonical_axis(k): v for k, v in entry.items()})
    return axes, exclude


def canonical_axis(key: Any) -> str:
    """'driver.fluentd-async' -> 'driver.fluentd_async' (YAML keys accept either spelling)."""
    section, dot, name = str(key).rpartition(".")
    return f"{section}{dot}{name.replace('-', '_')}"


def _axis_values(values: Any, axis: str, where: str) -> tuple[Any, ...]:
    if not isinstance(values, list) or not values:
        raise InputError(f"{where}: matrix axis '{axis}' must be a non-empty list of values, "
                         f"got {values!r}.")
    for value in values:
        if value is None or not isinstance(value, (str, int, float, bool)):
            raise InputError(f"{where}: matrix axis '{axis}' has {value!r}; values must be "
                             "strings, numbers or true/false (write 'max' for an unlimited rate).")
    for i, value in enumerate(values):
        if any(same_value(value, other) for other in values[:i]):
            raise InputError(f"{where}: matrix axis '{axis}' lists {value!r} twice.")
    return tuple(values)


def same_value(a: Any, b: Any) -> bool:
    # YAML `true` must not match an axis value 1 (Python says True == 1).
    return a == b and isinstance(a, bool) == isinstance(b, bool)
