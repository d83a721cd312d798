"""Where loss starts along a search axis (a scenario's `search:`): the next point to try, and
per cell the bracket found, with its confidence.

The bisection: the end of the range where loss would be (a rate's high end, a task's small
end) first, then the other end, then the geometric middle of the bracket (rounded to two
significant figures), until the bracket's ends are within `resolution` of each other (a ratio),
adjacent task sizes, or a point stays undecided after max_trials (it loses in some trials and not
in others: that is where loss starts). Each point is repeated under the stopping rule of
`trials: auto` (sequential.py) at 1 - (1 - confidence) / 2, so that both ends of the bracket
hold together at `confidence` (Bonferroni): the bracket says "no loss at `safe`, loss at
`lossy`", each a decision of Wald's test.

Pure: trials in, brackets out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline_tests._errors import InputError
from pipeline_tests._results.sequential import CLEAN, LOSES, Decision, Rule, lost_trial, rule_of
from pipeline_tests._results.trial_result import TrialResult, cell_label
from pipeline_tests._scenario.search import Search, parse_search

Value = Any  # a number on a numeric axis, a task size (text) on task.size


def point_rule(rule: Rule) -> Rule:
    """Each point's rule: half the error, so that both ends of a bracket hold at `confidence`."""
    return Rule(rule.p0, rule.p1, 1.0 - (1.0 - rule.confidence) / 2, rule.max_trials)


@dataclass(frozen=True)
class Point:
    value: Value
    decision: Decision
    reached: float  # lines/s the app reached, mean over the point's trials


@dataclass(frozen=True)
class Bracket:
    cell: str  # the cell without the search axis, e.g. "firelens/builtin/ecs"
    axis: str
    question: str
    safe: Value | None  # the point decided "does not lose" nearest the boundary
    lossy: Value | None  # the point decided "loses" nearest it
    confidence: float  # both ends together
    points: tuple[Point, ...]  # in the order tried

    @property
    def trials(self) -> int:
        return sum(p.decision.trials for p in self.points)

    @property
    def text(self) -> str:
        unit = " lines/s" if self.axis == "workload.rate" else ""
        undecided = [p for p in self.points if not p.decision.decided]
        odd = (f"; {', '.join(_shown(p.value) for p in undecided)} undecided after "
               f"{undecided[0].decision.trials} trials (it lost in some)" if undecided else "")
        if self.lossy is None and self.safe is not None:
            return f"{self.cell}: no loss anywhere in the range (at {_shown(self.safe)}{unit}){odd}"
        if self.safe is None and self.lossy is not None:
            return f"{self.cell}: loses across the range (at {_shown(self.lossy)}{unit}){odd}"
        if self.safe is None or self.lossy is None:
            return f"{self.cell}: not bracketed yet{odd}"
        low, high = sorted((self.safe, self.lossy), key=_order)
        return (f"{self.cell}: {self.question} between {_shown(low)} and {_shown(high)}{unit} "
                f"(no loss at {_shown(self.safe)}, loss at {_shown(self.lossy)}; "
                f"{self.confidence:.0%} confidence, {self.trials} trials){odd}")

    def as_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "axis": self.axis, "question": self.question,
                "safe": self.safe, "lossy": self.lossy, "confidence": self.confidence,
                "trials": self.trials, "text": self.text,
                "points": [{"value": p.value, "reached": round(p.reached, 1),
                            **p.decision.as_json()} for p in self.points]}


def next_value(search: Search, answers: Mapping[Value, str]) -> Value | None:
    """The next point of a cell's search from the answers so far (value -> loses / does not
    lose / undecided), or None when the search is over."""
    low, high = ends(search)
    lossy_end, safe_end = (high, low) if search.loses_high else (low, high)
    if lossy_end not in answers:
        return lossy_end
    if answers[lossy_end] == CLEAN or any(a not in (LOSES, CLEAN) for a in answers.values()):
        return None
    if safe_end not in answers:
        return safe_end
    safe, lossy = _nearest(search, answers)
    if safe is None or lossy is None or _close(search, safe, lossy):
        return None
    middle = _middle(search, safe, lossy)
    return None if middle in answers else middle


def ends(search: Search) -> tuple[Value, Value]:
    if search.axis == "task.size":
        return search.values[0], search.values[-1]
    assert search.range is not None
    low, high = search.range
    return _number(search, low), _number(search, high)


def _number(search: Search, value: float) -> Value:
    return int(round(value)) if search.axis == "workload.rate" else round(value, 3)


def _order(value: Value) -> Any:
    return value if isinstance(value, (int, float)) else _size_cpus(value)


def _size_cpus(size: str) -> float:
    return float(size.lower().split("vcpu")[0])


def _nearest(search: Search, answers: Mapping[Value, str]) -> tuple[Value | None, Value | None]:
    """(safe, lossy): the clean point and the losing point nearest the boundary."""
    order = (lambda v: search.values.index(v)) if search.axis == "task.size" else _order
    clean = sorted((v for v, a in answers.items() if a == CLEAN), key=order)
    lossy = sorted((v for v, a in answers.items() if a == LOSES), key=order)
    if not clean or not lossy:
        return (clean[-1 if search.loses_high else 0] if clean else None,
                lossy[0 if search.loses_high else -1] if lossy else None)
    if search.loses_high:
        return clean[-1], min((v for v in lossy if order(v) > order(clean[-1])), key=order,
                              default=lossy[0])
    return clean[0], max((v for v in lossy if order(v) < order(clean[0])), key=order,
                         default=lossy[-1])


def _close(search: Search, a: Value, b: Value) -> bool:
    if search.axis == "task.size":
        return abs(search.values.index(a) - search.values.index(b)) <= 1
    low, high = sorted((float(a), float(b)))
    return high / low <= search.resolution


def _middle(search: Search, a: Value, b: Value) -> Value:
    if search.axis == "task.size":
        i, j = sorted((search.values.index(a), search.values.index(b)))
        return search.values[(i + j) // 2]
    middle = math.sqrt(float(a) * float(b))
    rounded = float(f"{middle:.2g}")
    low, high = sorted((float(a), float(b)))
    return _number(search, rounded if low < rounded < high else middle)


def brackets(search: Search, rule: Rule, trials: Sequence[TrialResult],
             max_loss: int | None) -> list[Bracket]:
    """Per cell (in the run's order), its bracket from the trials of its points."""
    if search.axis is None:
        return []
    per_point = point_rule(rule)
    cells: dict[str, dict[Value, list[TrialResult]]] = {}
    for trial in trials:
        value = point_value(trial, search.axis)
        if value is not None:
            cell = base_label(trial, search.axis)
            cells.setdefault(cell, {}).setdefault(value, []).append(trial)
    found = []
    for cell, points in cells.items():
        tried = tuple(_point(value, group, per_point, max_loss) for value, group in points.items())
        answers = {p.value: p.decision.answer for p in tried}
        safe, lossy = _nearest(search, answers)
        found.append(Bracket(cell, search.axis, search.asked, safe, lossy, rule.confidence,
                             tried))
    return found


def _point(value: Value, group: Sequence[TrialResult], rule: Rule, max_loss: int | None
           ) -> Point:
    ordered = sorted(group, key=lambda t: t.trial)
    decision = rule.decide([lost_trial(t.lost, max_loss) for t in ordered])
    return Point(value, decision, sum(t.achieved_rate for t in ordered) / len(ordered))


def point_value(trial: TrialResult, axis: str) -> Value | None:
    """A trial's value on the search axis (None: not a point of the search)."""
    if axis in trial.axes:
        return trial.axes[axis]
    return trial.requested_rate if axis == "workload.rate" else None


def base_label(trial: TrialResult, axis: str) -> str:
    """A point's cell without the search axis: "firelens/builtin/ecs (workload.rate=300)" ->
    "firelens/builtin/ecs"."""
    return cell_label({k: v for k, v in trial.coordinates.items() if k != axis})


def _shown(value: Value) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def points_left(search: Search, answers: Mapping[Value, str]) -> int:
    """At most how many more points the search of a cell tries after these answers."""
    if next_value(search, answers) is None:
        return 0
    untried = [end for end in ends(search) if end not in answers]
    if untried:
        return len(untried) + _halvings(search, *ends(search))
    safe, lossy = _nearest(search, answers)
    return _halvings(search, safe, lossy)


def _halvings(search: Search, a: Value, b: Value) -> int:
    if search.axis == "task.size":
        span = abs(search.values.index(a) - search.values.index(b))
        return max(0, math.ceil(math.log2(span))) if span > 1 else 0
    low, high = sorted((float(a), float(b)))
    steps = math.log(high / low) / math.log(search.resolution)
    return max(0, math.ceil(math.log2(steps))) if steps > 1 else 0


def run_brackets(scenario: Mapping[str, Any], trials: Sequence[TrialResult]) -> list[Bracket]:
    """The brackets of a run (its scenario as results.json keeps it); empty without a search."""
    try:
        search = parse_search(scenario.get("search"), lambda *keys: "results.json")
    except InputError:
        return []
    if search.axis is None:
        return []
    rule = rule_of({**scenario, "trials": "auto"}) or Rule()
    max_loss = scenario.get("max_loss")
    return brackets(search, rule, trials, max_loss if isinstance(max_loss, int) else None)
