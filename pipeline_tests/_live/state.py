"""The live view's model: the run's typed events folded into one JSON-ready snapshot.

`apply` is called in the run's thread with each event (the same events the CLI's bars get) and
only updates a few dicts under a lock; `snapshot` copies them out for the server's thread, which
serialises once per push however many viewers there are."""

from __future__ import annotations

import threading
from typing import Any

from pipeline_tests._events import (
    CellsProgress,
    Event,
    RunFinished,
    RunStarted,
    SinkSeen,
    StopStep,
    TrialErrored,
    TrialFinished,
    TrialProgress,
    TrialStarted,
)
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import TrialResult, hops_for

SAMPLE_EVERY = 0.2  # seconds between the chart's points
MAX_SAMPLES = 1500  # per trial; older points are thinned out beyond it
TRIAL_FIELDS = ("emitted", "received_distinct", "lost", "duplicates", "achieved_rate",
                "lost_at")
CELL_FIELDS = ("trials", "trials_with_loss", "lost_max", "lost_pct_max", "achieved_rate_mean",
               "lost_at")


def _trial_row(result: TrialResult) -> dict[str, Any]:
    return {"cell": result.label, "trial": result.trial,
            **{name: getattr(result, name) for name in TRIAL_FIELDS}, "hops": dict(result.hops),
            "lost_ranges": [list(r) for r in result.lost_ranges[:50]]}


def verdict(results: RunResults) -> tuple[bool, str]:
    """(passed, one sentence): the run's outcome, as the CLI's exit status decides it."""
    decided = results.outcome()
    return decided.passed, decided.reason


class LiveState:
    """Fold events; `snapshot()` is the page's whole state (a late viewer needs no history)."""

    def __init__(self, title: str = "pipeline-tests run",
                 hops: tuple[str, ...] = hops_for(())) -> None:
        self._lock = threading.Lock()
        self.version = 0
        self._run: dict[str, Any] = {"title": title, "status": "waiting", "hops": list(hops),
                                     "cells": [], "trials": 0, "done": 0, "run_id": "",
                                     "left": None, "confidence": None, "stopped": {}}
        self._views: dict[str, dict[str, Any]] = {}  # cell label -> its current trial
        self._rows: list[dict[str, Any]] = []  # finished trials, in order
        self._summary: dict[str, Any] | None = None
        self.run_dir: Any = None

    def apply(self, event: Event) -> None:
        with self._lock:
            if self._apply(event):
                self.version += 1

    def _apply(self, event: Event) -> bool:
        if isinstance(event, TrialProgress):
            return self._progress(event)
        if isinstance(event, (StopStep, SinkSeen)):
            view = self._views.get(event.label)
            if view is None or view["trial"] != event.trial:
                return False
            if isinstance(event, StopStep):
                view["steps"].append({"container": event.container, "action": event.action,
                                      "t": round(event.elapsed, 3)})
            else:
                view["map"] = {"emitted": list(event.emitted), "resolution": event.resolution,
                               "received": [list(r) for r in event.received]}
            return True
        return self._lifecycle(event)

    def _lifecycle(self, event: Event) -> bool:
        if isinstance(event, RunStarted):
            self.run_dir = event.run_dir
            self._run.update(status="running", run_id=event.run_id, cells=list(event.cells),
                             trials=event.to_run, hops=list(event.hops))
        elif isinstance(event, CellsProgress):
            self._run.update(left=event.left_at_most, confidence=event.confidence, stopped={
                c.label: {"trials": c.trials, "left": c.left_at_most, "answer": c.answer,
                          "stopped": c.stopped} for c in event.cells})
        elif isinstance(event, TrialStarted):
            self._views[event.label] = {
                "cell": event.label, "trial": event.trial, "index": event.index,
                "of": event.of, "flood": event.flood_seconds, "phase": "starting",
                "elapsed": 0.0, "counts": dict.fromkeys(self._run["hops"]), "samples": [],
                "steps": [], "map": None, "result": None, "error": None}
        elif isinstance(event, TrialFinished):
            self._ended(event.result.label, event.result.trial, result=_trial_row(event.result))
        elif isinstance(event, TrialErrored):
            self._ended(event.failure.label, event.failure.trial, error=event.failure.reason)
        elif isinstance(event, RunFinished):
            self._finished(event.results)
        else:
            return False
        return True

    def _progress(self, event: TrialProgress) -> bool:
        view = self._views.get(event.label)
        if view is None or view["trial"] != event.trial:
            return False
        counts = {hop: event.hops[hop] for hop in self._run["hops"]}
        view.update(phase=event.phase, elapsed=round(event.elapsed, 3), counts=counts)
        samples = view["samples"]
        if event.phase != "starting" and (
                not samples or event.elapsed - samples[-1][0] >= SAMPLE_EVERY):
            # [t, count per hop of the run's list, in its order]
            samples.append([round(event.elapsed, 3), *(counts[h] for h in self._run["hops"])])
            if len(samples) > MAX_SAMPLES:
                del samples[1::2]
        return True

    def _ended(self, label: str, trial: int, **outcome: Any) -> None:
        self._run["done"] += 1
        view = self._views.get(label)
        if view is not None and view["trial"] == trial:
            view.update(phase="finished" if outcome.get("result") else "failed", **outcome)
            if outcome.get("result"):  # the trial's exact hop counts replace the live ones
                view["counts"] = {hop: outcome["result"]["hops"].get(hop)
                                  for hop in self._run["hops"]}
        if outcome.get("result"):
            self._rows.append(outcome["result"])

    def _finished(self, results: RunResults) -> None:
        passed, text = verdict(results)
        self._run["status"] = "interrupted" if results.interrupted else "finished"
        self._summary = {
            "passed": passed, "verdict": text, "report": "report.html",
            "cells": [{"cell": c.label, **{f: getattr(c, f) for f in CELL_FIELDS}}
                      for c in results.cells],
            "failures": [{"cell": f.label, "trial": f.trial, "reason": f.reason}
                         for f in results.failures]}
        # The finished trials as results.json has them (a resumed run's too).
        self._rows = [_trial_row(t) for t in results.trials]

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        """(version, state): copies, safe to serialise outside the lock."""
        with self._lock:
            views = [{**v, "samples": list(v["samples"]), "steps": list(v["steps"])}
                     for v in self._views.values()]
            return self.version, {"run": dict(self._run), "views": views,
                                  "trials": list(self._rows), "summary": self._summary}
