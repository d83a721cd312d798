"""A run's results: every trial (and every trial that failed), per-cell statistics, the verdict,
and the files they are kept in (runs/<run-id>/results.json, report.html, junit.xml)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_tests._results.frontier import Bracket, run_brackets
from pipeline_tests._results.hops import waterfalls
from pipeline_tests._results.log_errors import merged
from pipeline_tests._results.outcome import Outcome, outcome
from pipeline_tests._results.sequential import Decision, Rule, rule_of, run_decisions, stopped
from pipeline_tests._results.stats import CellStats, lost_pct, over_max_loss, summarize
from pipeline_tests._results.trial_result import TrialFailure, TrialResult, value_text
from pipeline_tests._results.verdict import verdict
from pipeline_tests._scenario.axes import same_value

RESULTS_FILE = "results.json"
SHOWN_RANGES = 5


@dataclass(frozen=True)
class RunResults:
    run_id: str
    run_dir: Path
    header: Mapping[str, Any]  # results.json's run_id, started, machine and scenario
    trials: tuple[TrialResult, ...]
    failures: tuple[TrialFailure, ...] = ()
    interrupted: bool = False

    @property
    def cells(self) -> list[CellStats]:
        return summarize(self.trials)

    def cell(self, label: str | None = None, /, **values: Any) -> CellStats:
        """One cell's statistics, by its label, `cell("direct-tcp/builtin/ecs")`, or by its axis
        values, `cell(topology="firelens", router="fluent-bit", workload_rate=300)`: `router`,
        `stop` and `aggregator` name those kinds, `section_key` (or `**{"section.key": v}`) any
        matrix axis. KeyError listing the cells unless exactly one matches."""
        if (label is None) == (not values):
            raise TypeError("cell() takes a label or axis values (keywords), not both or none")
        wanted = {"label": label} if label is not None else {
            _AXIS_ALIASES.get(key, key if "." in key else key.replace("_", ".", 1)): value
            for key, value in values.items()}
        found = [stats for stats in self.cells if _matches(self._coordinates(stats), wanted)]
        if len(found) == 1:
            return found[0]
        asked = f"'{label}'" if label is not None else ", ".join(
            f"{axis}={value_text(value)}" for axis, value in wanted.items())
        known = "; ".join(s.label for s in self.cells) or "none (no trial finished)"
        raise KeyError(f"{len(found) or 'no'} cells match {asked} in run {self.run_id}; "
                       f"its cells: {known}")

    def _coordinates(self, stats: CellStats) -> dict[str, Any]:
        first = next(t for t in self.trials if t.label == stats.label)
        return {"label": stats.label, **first.coordinates}

    @property
    def rule(self) -> Rule | None:
        """The stopping rule of `trials: auto` (None: a fixed number of trials)."""
        return rule_of(self.header.get("scenario", {}))

    @property
    def decisions(self) -> dict[str, Decision]:
        """Each cell's answer to "does it lose?" under the rule (empty: fixed trials)."""
        return run_decisions(self.header.get("scenario", {}), self.trials)

    @property
    def brackets(self) -> list[Bracket]:
        """A search's answer per cell (results.json `search`): empty without `search:`."""
        return run_brackets(self.header.get("scenario", {}), self.trials)

    @property
    def verdict(self) -> str:
        """The run's verdict in words (results.json `verdict`): which cells lost, how much, in
        how many trials, at which hop, before or after the stop signal, and what not losing
        cost."""
        return verdict(self.trials, self.failures, self.interrupted, self.decisions,
                       self.brackets)

    @property
    def max_loss(self) -> int | None:
        value = self.header.get("scenario", {}).get("max_loss")
        return value if isinstance(value, int) else None

    @property
    def lost(self) -> int:
        return sum(t.lost for t in self.trials)

    @property
    def report_html(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def results_json(self) -> Path:
        return self.run_dir / RESULTS_FILE

    def over_max_loss(self, max_loss: int | None = None) -> list[str]:
        """Cells where a trial lost more than max_loss lines (default: the scenario's)."""
        return over_max_loss(self.trials, self.max_loss if max_loss is None else max_loss)

    def outcome(self, max_loss: int | None = None) -> Outcome:
        """Pass or fail (outcome.py), with `max_loss` (default: the scenario's; None: loss
        does not fail the run): the CLI's exit status, the live view's and the report's."""
        return outcome(self.trials, self.failures, self.interrupted,
                       self.max_loss if max_loss is None else max_loss)

    def assert_no_loss(self, max_loss: int | None = None) -> None:
        """AssertionError unless the run passed (`outcome`) with `max_loss` (default: the
        scenario's max_loss, else 0), naming each trial that lost more or failed: lines lost,
        lost ranges, hop, report.html."""
        limit = max_loss if max_loss is not None else (self.max_loss or 0)
        if not self.outcome(limit).passed:
            raise AssertionError(self.loss_message(
                [t for t in self.trials if t.lost > limit], limit))

    def loss_message(self, lossy: list[TrialResult], max_loss: int) -> str:
        lines = [f"pipeline-tests run {self.run_id}: "
                 f"{len(lossy)} of {len(self.trials)} trials lost more than {max_loss} lines"]
        lines += [f"  {_trial_line(t)}" for t in lossy]
        lines += [f"  {f.label} #{f.trial}: FAILED: {f.reason}" for f in self.failures]
        if self.interrupted:
            lines.append("  the run was interrupted before every trial finished")
        if not self.trials and not self.failures:
            lines.append("  no trial finished")
        lines.append(f"  report: {self.report_html}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        decisions = self.decisions
        return {**self.header, "trials": [t.as_json() for t in self.trials],
                "failed_trials": [f.as_json() for f in self.failures],
                "cells": [self._cell_json(s, decisions) for s in self.cells],
                "stopping_rule": None if self.rule is None else self.rule.as_json(),
                "search": [b.as_json() for b in self.brackets],
                "waterfalls": [dataclasses.asdict(w) for w in waterfalls(self.trials)],
                "interrupted": self.interrupted, "verdict": self.verdict}

    def _cell_json(self, stats: CellStats, decisions: Mapping[str, Decision]
                   ) -> dict[str, Any]:
        decision = decisions.get(stats.label)
        return {**dataclasses.asdict(stats),
                "stopped": stopped(decisions, stats.label, stats.trials),
                "decision": None if decision is None else decision.as_json()}

    def write_json(self) -> Path:
        """results.json, replaced whole (a reader never sees half a file)."""
        tmp = self.results_json.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.as_json(), indent=2))
        tmp.replace(self.results_json)
        return self.results_json


# results.cell()'s short keywords for the kinds every label names
_AXIS_ALIASES = {"router": "router.kind", "stop": "stop.sequence", "aggregator": "aggregator.kind"}


def _matches(coordinates: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    missing = object()
    return all(same_value(coordinates.get(axis, missing), value) for axis, value in wanted.items())


def _trial_line(t: TrialResult) -> str:
    ranges = [f"stream {s} seq {a}-{b}" if a != b else f"stream {s} seq {a}"
              for s, a, b in t.lost_ranges[:SHOWN_RANGES]]
    more = len(t.lost_ranges) - SHOWN_RANGES
    shown = ", ".join(ranges) + (f" (+{more} more ranges)" if more > 0 else "")
    logged = merged([t.log_errors])[:1]  # the downstream tier's commonest: the likelier cause
    said = "".join(f"; {e.tier} logged {e.count:,} times: {e.first}" for e in logged)
    return (f"{t.label} #{t.trial}: lost {t.lost:,} of {t.emitted:,} lines "
            f"({lost_pct(t):.2f}%) at {t.lost_at}, {t.lost_before_stop:,} of them emitted "
            f"before the stop signal; lost ranges: {shown}{said}")
