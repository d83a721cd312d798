"""A scenario's `search:` section: where along one axis loss starts, found by bisection.

    search:
      axis: workload.rate              # or task.cpus, limits.router_cpus, task.size
      range: [1000, 100000]            # numeric axes: the lowest and highest value tried
      values: [0.25vcpu-0.5gb, ...]    # task.size: the sizes in order, smallest first
      question: highest rate without loss   # or: smallest task without loss (CPU axes)
      resolution: 1.25                 # stop once the bracket's ends are this close (ratio)

Each cell of the scenario (its topologies x matrix) gets its own search: the far end first,
then the near end, then the geometric middle of the bracket, each point repeated until the
stopping rule of `trials: auto` decides it (_results/frontier.py). Plain values here; the
search itself is in _results/frontier.py and _run/schedule.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline_tests._errors import InputError
from pipeline_tests._scenario.task_size import parse_size

RATE_QUESTION = "highest rate without loss"
SIZE_QUESTION = "smallest task without loss"
# axis -> the question it answers (loss grows with a rate, shrinks with CPU)
AXES = {"workload.rate": RATE_QUESTION, "task.cpus": SIZE_QUESTION,
        "limits.router_cpus": SIZE_QUESTION, "task.size": SIZE_QUESTION}
KEYS = ("axis", "range", "values", "question", "resolution")


@dataclass(frozen=True)
class Search:
    axis: str | None = None  # None: no search
    range: tuple[float, float] | None = None
    values: tuple[str, ...] = ()
    question: str | None = None  # None: the axis's own (AXES)
    resolution: float = 1.25

    @property
    def asked(self) -> str:
        return self.question or AXES.get(self.axis or "", RATE_QUESTION)

    @property
    def loses_high(self) -> bool:
        """Loss at the axis's high end (a rate), not its low end (a task's CPU)."""
        return self.asked == RATE_QUESTION

    def as_dict(self) -> dict[str, Any]:
        return {"axis": self.axis, "range": None if self.range is None else list(self.range),
                "values": list(self.values), "question": self.question,
                "resolution": self.resolution}


def parse_search(data: Any, where: Callable[..., str]) -> Search:
    """A checked Search from the scenario's `search:` mapping (or a Search's as_dict())."""
    if data is None or isinstance(data, Search):
        return data or Search()
    if not isinstance(data, Mapping):
        raise InputError(f"{where('search')}: 'search' must be a mapping with keys "
                         f"{', '.join(KEYS)}.")
    for key in data:
        if key not in KEYS:
            raise InputError(f"{where('search', str(key))}: unknown key 'search.{key}'. "
                             f"Allowed here: {', '.join(KEYS)}.")
    if data.get("axis") is None:
        return Search()
    search = Search(axis=str(data["axis"]), range=_range(data.get("range"), where),
                    values=tuple(str(v) for v in data.get("values") or ()),
                    question=data.get("question"),
                    resolution=_number(data.get("resolution", 1.25), where, "resolution"))
    _check(search, where)
    return search


def _range(value: Any, where: Callable[..., str]) -> tuple[float, float] | None:
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 < value[0] < value[1]):
        raise InputError(f"{where('search', 'range')}: 'search.range' must be two numbers "
                         f"[low, high] with 0 < low < high, e.g. [1000, 100000], got {value!r}.")
    return float(value[0]), float(value[1])


def _number(value: Any, where: Callable[..., str], key: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 1:
        raise InputError(f"{where('search', key)}: 'search.{key}' must be a ratio > 1 (the "
                         f"search stops once high / low is at most this), got {value!r}.")
    return float(value)


def _check(search: Search, where: Callable[..., str]) -> None:
    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise InputError(f"{where('search', key)}: {message}")

    need(search.axis in AXES, "axis", f"'search.axis' must be one of {', '.join(AXES)}, got "
         f"{search.axis!r}.")
    need(search.question in (None, AXES[search.axis or ""]), "question",
         f"'search.question' for {search.axis} is '{AXES.get(search.axis or '')}', got "
         f"{search.question!r}.")
    if search.axis == "task.size":
        need(len(search.values) >= 2 and search.range is None, "values",
             "'search.values' must list at least two task sizes, smallest first (task.size "
             "has no numeric range), e.g. [0.25vcpu-0.5gb, 0.5vcpu-1gb, 1vcpu-2gb].")
        for size in search.values:
            parsed = parse_size(size)
            need(not isinstance(parsed, str), "values", f"'search.values': {parsed}.")
    else:
        need(search.range is not None and not search.values, "range",
             f"'search.range' must give [low, high] for {search.axis} (and no 'values').")
