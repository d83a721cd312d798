"""Which trial runs next, decided from the results so far.

One loop for both ways a scenario says how many trials a cell gets: a fixed number (`trials: 3`:
each cell runs trials 1..3) or `trials: auto` (a cell runs one trial at a time until the
stopping rule of _results/sequential.py decides it, or `max_trials`). Cells run in the run's
order; an engine takes the first cell that may run there and wants another trial. A trial that
could not be carried out counts as an attempt (so a broken cell ends), not as an outcome.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipeline_tests._events import CellProgress, CellsProgress
from pipeline_tests._results import frontier
from pipeline_tests._results.sequential import Rule, lost_trial, rule_of
from pipeline_tests._results.trial_result import TrialFailure, TrialResult
from pipeline_tests._scenario import matrix
from pipeline_tests._scenario.scenario import Scenario, to_dict
from pipeline_tests._trial import TrialSpec


@dataclass(frozen=True)
class PlannedTrial:
    cell: matrix.Cell
    spec: TrialSpec

    @property
    def label(self) -> str:
        return self.cell.label


def in_cell(result: TrialResult, cell: matrix.Cell) -> TrialResult:
    """The trial with its cell's label and coordinates (also one an older version ran)."""
    return dataclasses.replace(result, cell=cell.label, axes=cell.axes)


class StopRule(Protocol):
    @property
    def max_trials(self) -> int: ...

    def wants_more(self, outcomes: Sequence[bool], attempts: int) -> bool: ...


@dataclass(frozen=True)
class Fixed:
    """`trials: N`: every cell runs exactly N trials."""

    max_trials: int

    def wants_more(self, outcomes: Sequence[bool], attempts: int) -> bool:
        return attempts < self.max_trials


def stop_rule(scenario: Scenario) -> StopRule:
    rule = rule_of(to_dict(scenario))
    return rule if rule is not None else Fixed(int(scenario.trials))


@dataclass
class _Cell:
    cell: matrix.Cell
    position: int
    results: dict[int, TrialResult] = field(default_factory=dict)  # trial number -> result
    failed: set[int] = field(default_factory=set)
    running: set[int] = field(default_factory=set)

    @property
    def attempts(self) -> int:
        return len(self.results) + len(self.failed) + len(self.running)

    def outcomes(self, max_loss: int | None) -> list[bool]:
        return [lost_trial(self.results[n].lost, max_loss) for n in sorted(self.results)]

    def next_number(self) -> int:
        used = self.results.keys() | self.failed | self.running
        return next(n for n in range(1, len(used) + 2) if n not in used)


class Schedule:
    """The cells and their trials so far; `take` hands an engine its next trial, `record`
    takes its outcome. Thread-safe: the engines' workers share one."""

    def __init__(self, cells: Sequence[matrix.Cell], run_id: str, run_dir: Path,
                 done: Mapping[str, TrialResult], scenario: Scenario) -> None:
        self.rule, self.run_id, self.run_dir = stop_rule(scenario), run_id, run_dir
        self.max_loss = scenario.max_loss
        self.sequential = isinstance(self.rule, Rule)
        self._cells = [_Cell(cell, position) for position, cell in enumerate(cells)]
        self._lock = threading.Lock()
        for state in self._cells:
            for n in range(1, self.rule.max_trials + 1):
                result = done.get(matrix.trial_dirname(state.cell, n))
                if result is not None:
                    state.results[n] = in_cell(result, cell=state.cell)

    def directories(self) -> list[str]:
        """Every trial directory a cell may use (for discarding unfinished ones)."""
        return [matrix.trial_dirname(state.cell, n) for state in self._cells
                for n in range(1, self.rule.max_trials + 1)]

    def finished(self) -> list[TrialResult]:
        return [state.results[n] for state in self._cells for n in sorted(state.results)]

    def take(self, engine_name: str) -> PlannedTrial | None:
        """The next trial to run on this engine (None: none is wanted there now)."""
        with self._lock:
            for state in self._cells:
                if engine_name in state.cell.scenario.engines and self._wants(state):
                    number = state.next_number()
                    state.running.add(number)
                    return self._planned(state, number)
        return None

    def record(self, planned: PlannedTrial, outcome: TrialResult | TrialFailure) -> None:
        with self._lock:
            state = next(s for s in self._states() if s.cell is planned.cell)
            state.running.discard(planned.spec.trial)
            if isinstance(outcome, TrialResult):
                state.results[planned.spec.trial] = outcome
            else:
                state.failed.add(planned.spec.trial)

    def _states(self) -> list[_Cell]:
        return self._cells

    def idle(self) -> bool:
        """No trial runs and none is wanted: the run is over."""
        with self._lock:
            return not any(s.running or self._wants(s) for s in self._cells)

    def _wants(self, state: _Cell) -> bool:
        if self.sequential and state.running:  # look at each outcome before the next trial
            return False
        done = len(state.results) + len(state.failed)
        return self.rule.wants_more(state.outcomes(self.max_loss), done + len(state.running))

    def _planned(self, state: _Cell, number: int) -> PlannedTrial:
        scenario = state.cell.scenario
        spec = TrialSpec(scenario, scenario.topologies[0], number,
                         f"pt-{self.run_id}-{state.position * self.rule.max_trials + number}",
                         self.run_dir / matrix.trial_dirname(state.cell, number), image="")
        return PlannedTrial(state.cell, spec)

    def at_most(self) -> int:
        """Trials planned in all, at most (the finished ones included)."""
        return self.rule.max_trials * len(self._cells)

    def progress(self) -> CellsProgress:
        with self._lock:
            cells = tuple(self._progress(state) for state in self._cells)
        confidence = self.rule.confidence if isinstance(self.rule, Rule) else None
        return CellsProgress(cells, sum(c.left_at_most for c in cells), confidence)

    def _progress(self, state: _Cell) -> CellProgress:
        label = state.cell.label
        attempts = state.attempts
        wants = self._wants(state) or bool(state.running)
        left = self.rule.max_trials - attempts + len(state.running) if wants else 0
        if not isinstance(self.rule, Rule):
            stopped = "" if wants else f"{len(state.results)} trials"
            return CellProgress(label, len(state.results), left, "", stopped)
        decision = self.rule.decide(state.outcomes(self.max_loss))
        stopped = "" if wants else decision.stopped
        return CellProgress(label, len(state.results), left, decision.answer, stopped)


class SearchSchedule(Schedule):
    """A scenario's `search:`: per cell, the points of the bisection one after another, each
    repeated under the point rule (_results/frontier.py) until decided; the next point
    follows from the answers so far."""

    def __init__(self, cells: Sequence[matrix.Cell], run_id: str, run_dir: Path,
                 done: Mapping[str, TrialResult], scenario: Scenario) -> None:
        super().__init__([], run_id, run_dir, done, scenario)
        self.search, self.scenario, self._done = scenario.search, scenario, done
        self.run_rule = rule_of({**to_dict(scenario), "trials": "auto"}) or Rule()
        self.point = frontier.point_rule(self.run_rule)
        self.rule, self.sequential = self.point, True
        self._bases = list(cells)
        self._points: list[list[_Cell]] = [[] for _ in cells]
        self._over = [False for _ in cells]

    def directories(self) -> list[str]:
        """Every trial directory there is: a point's directories are known only once it is
        chosen, so any that did not finish is discarded."""
        return sorted(p.name for p in self.run_dir.iterdir() if p.is_dir()) \
            if self.run_dir.is_dir() else []

    def finished(self) -> list[TrialResult]:
        """A resumed run's trials: each cell's bisection replayed from them."""
        with self._lock:
            for b in range(len(self._bases)):
                if not self._over[b]:
                    self._current(b)
            return [s.results[n] for points in self._points for s in points
                    for n in sorted(s.results)]

    def take(self, engine_name: str) -> PlannedTrial | None:
        with self._lock:
            for b, base in enumerate(self._bases):
                if engine_name not in base.scenario.engines or self._over[b]:
                    continue
                state = self._current(b)
                if state is not None and not state.running and self._wants(state):
                    number = state.next_number()
                    state.running.add(number)
                    return self._planned(state, number)
        return None

    def idle(self) -> bool:
        with self._lock:
            for b in range(len(self._bases)):
                state = self._current(b) if not self._over[b] else None
                if state is not None and (state.running or self._wants(state)):
                    return False
            return True

    def _states(self) -> list[_Cell]:
        return [state for points in self._points for state in points]

    def _current(self, b: int) -> _Cell | None:
        """The point of cell b that runs next: the last one while it wants trials, else the
        next point of the bisection (its finished trials loaded); None once the search ends."""
        points = self._points[b]
        while not points or not (points[-1].running or self._wants(points[-1])):
            value = frontier.next_value(self.search, self._answers(points))
            if value is None:
                self._over[b] = True
                return None
            points.append(self._point(b, len(points), value))
        return points[-1]

    def _point(self, b: int, index: int, value: frontier.Value) -> _Cell:
        base = self._bases[b]
        axes = {axis: [v] for axis, v in base.values}
        cell = matrix.expand(self.scenario, {**axes, str(self.search.axis): [value]}, [])[0]
        state = _Cell(cell, b * 1000 + index)
        for n in range(1, self.rule.max_trials + 1):
            result = self._done.get(matrix.trial_dirname(cell, n))
            if result is not None:
                state.results[n] = in_cell(result, cell)
        return state

    def _value(self, state: _Cell) -> frontier.Value:
        return dict(state.cell.values)[str(self.search.axis)]

    def _answers(self, points: Sequence[_Cell]) -> dict[frontier.Value, str]:
        return {self._value(s): self.point.decide(s.outcomes(self.max_loss)).answer
                for s in points}

    def at_most(self) -> int:
        return sum(self._left(b) for b in range(len(self._bases)))

    def _left(self, b: int) -> int:
        """Trials cell b may still run: the current point's rest, then the points left."""
        if self._over[b]:
            return 0
        points = self._points[b]
        current = points[-1] if points and (points[-1].running or self._wants(points[-1])) \
            else None
        decided = [s for s in points if s is not current]
        rest = self.point.max_trials - current.attempts + len(current.running) \
            if current is not None else 0
        left = frontier.points_left(self.search, self._answers(decided))
        return rest + self.point.max_trials * max(0, left - (current is not None))

    def progress(self) -> CellsProgress:
        with self._lock:
            cells = tuple(self._base_progress(b) for b in range(len(self._bases)))
        return CellsProgress(cells, sum(c.left_at_most for c in cells), self.run_rule.confidence)

    def _base_progress(self, b: int) -> CellProgress:
        label = self._bases[b].label
        points = self._points[b]
        trials = sum(len(s.results) for s in points)
        found = frontier.brackets(self.search, self.run_rule,
                                  [s.results[n] for s in points for n in sorted(s.results)],
                                  self.max_loss)
        text = found[0].text.partition(": ")[2] if found else ""
        return CellProgress(label, trials, self._left(b), text,
                            f"bracketed at {self.run_rule.shown}" if self._over[b] else "")


def schedule_for(cells: Sequence[matrix.Cell], run_id: str, run_dir: Path,
                 done: Mapping[str, TrialResult], scenario: Scenario) -> Schedule:
    kind = SearchSchedule if scenario.search.axis else Schedule
    return kind(cells, run_id, run_dir, done, scenario)
