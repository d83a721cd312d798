"""Resuming an interrupted run: which trials finished, their results, is it the same run.

A trial is finished when its directory holds a complete result.json (written only after the
trial's ledger was reconciled). A trial directory without one was interrupted: its counters and
logs are partial, so it is removed and the trial runs again from scratch.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline_tests._errors import InputError
from pipeline_tests._results.log_errors import LogError
from pipeline_tests._results.run_results import RESULTS_FILE as RESULTS
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import TrialFailure, TrialResult, cell_label
from pipeline_tests._values import DriverEvidence, EngineFacts

RESULT = "result.json"
SHOWN_RUNS = 10


def open_run(out: Path, run_id: str) -> Path:
    """runs/<run-id>/ of an earlier run, or a InputError listing the runs that exist."""
    run_dir = out / run_id
    if run_id and "/" not in run_id and run_id not in (".", "..") and run_dir.is_dir():
        return run_dir
    runs = run_ids(out)
    known = (f"Runs in {out}: {', '.join(runs[-SHOWN_RUNS:])}"
             + (f" (and {len(runs) - SHOWN_RUNS} older)" if len(runs) > SHOWN_RUNS else "")
             if runs else f"There are no runs in {out}")
    raise InputError(f"Cannot resume run '{run_id}': no directory {run_dir}. {known}. "
                     "Pass one of these to --resume (and the same --out), or start a new run.")


def run_ids(out: Path) -> list[str]:
    """Runs under `out` (directories with a results.json), oldest first (ids start with time)."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if (p / RESULTS).is_file())


def stored_header(run_dir: Path) -> dict[str, Any]:
    """The run's results.json (run_id, started, machine, scenario, trials)."""
    path = run_dir / RESULTS
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"Cannot use the run in {run_dir}: {path} is missing or unreadable "
                         f"({err}). Pass a run directory (runs/<run-id>/ under --out) that "
                         "holds results.json, or start a new run.") from err
    if not isinstance(data, dict) or not isinstance(data.get("scenario"), dict):
        raise InputError(f"Cannot use the run in {run_dir}: {path} has no 'scenario'. "
                         "Start a new run.")
    return data


def stored_run(run_dir: Path) -> RunResults:
    """A finished (or interrupted) run, read back from its results.json."""
    header = stored_header(run_dir)
    try:
        trials = tuple(load_result(trial) for trial in header.get("trials", []))
        failures = tuple(_load_failure(f) for f in header.get("failed_trials", []))
    except (ValueError, TypeError, AttributeError) as err:
        raise InputError(f"Cannot use the run in {run_dir}: a trial in {run_dir / RESULTS} "
                          f"is not readable ({err}). Start a new run.") from err
    kept = {k: v for k, v in header.items()
            if k not in ("trials", "failed_trials", "cells", "interrupted", "verdict",
                         "waterfalls", "stopping_rule", "search")}  # recomputed from the trials
    return RunResults(str(header.get("run_id", run_dir.name)), run_dir, kept, trials, failures,
                      bool(header.get("interrupted", False)))


def scenario_differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """'key: was X, now Y' for each dotted key that differs (after a JSON round trip)."""
    was, now = _flat(_jsonable(stored)), _flat(_jsonable(current))
    missing = object()
    return [f"{key}: was {_show(was.get(key, missing))}, now {_show(now.get(key, missing))}"
            for key in sorted(was.keys() | now.keys())
            if was.get(key, missing) != now.get(key, missing)]


def check_same_scenario(stored: Mapping[str, Any], current: Mapping[str, Any],
                         run_dir: Path) -> None:
    """A resumed run must measure the same thing, or its cells would mix two scenarios."""
    differences = scenario_differences(stored, current)
    if differences:
        raise InputError(f"Cannot resume {run_dir}: the scenario differs from the one it started "
                         f"with ({'; '.join(differences)}). Resume with the same scenario file "
                         "and flags, or start a new run (without --resume).")


def finished_trials(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Trial directory name -> its result.json, for trials that finished."""
    finished = {}
    for path in sorted(run_dir.glob(f"*/{RESULT}")):
        data = _read_result(path)
        if data is not None:
            finished[path.parent.name] = data
    return finished


def discard_unfinished(run_dir: Path, planned: Iterable[str]) -> list[str]:
    """Removes the directories of planned trials that started but did not finish, so the retry
    does not read their stale counters. Only planned names are touched; returns them."""
    finished = finished_trials(run_dir)
    removed = []
    for name in planned:
        path = run_dir / name
        if name not in finished and path.is_dir():
            shutil.rmtree(path)
            removed.append(name)
    return removed


def load_result(data: Mapping[str, Any]) -> TrialResult:
    """The inverse of TrialResult.as_json(). Raises ValueError when a field is missing."""
    flat = dict(data)
    latency = flat.pop("latency_ms", None) or {}
    flat["latency_p50_ms"], flat["latency_p99_ms"] = latency.get("p50"), latency.get("p99")
    flat["lost_ranges"] = tuple(tuple(r) for r in flat.get("lost_ranges", ()))
    flat["hops"] = dict(flat.get("hops", {}))
    flat["engine"] = EngineFacts.from_json(flat.get("engine"))
    flat["driver_evidence"] = DriverEvidence.from_json(flat.get("driver_evidence"))
    for name in ("emitted_by_stream", "stop_seq"):
        flat[name] = tuple(flat.get(name, ()))
    flat["log_errors"] = tuple(LogError.from_json(e) for e in flat.get("log_errors", ()))
    if "axes" not in flat:  # written by an older version: labels had another shape
        flat["axes"] = _old_axes(flat)
        flat["cell"] = cell_label(flat["axes"])
    values = {}
    for field in dataclasses.fields(TrialResult):
        if field.name in flat:
            values[field.name] = flat[field.name]
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ValueError(f"result has no '{field.name}'")
    return TrialResult(**values)


def _load_failure(data: Mapping[str, Any]) -> TrialFailure:
    flat = {k: v for k, v in data.items() if k != "status"}
    if "=" in str(flat.get("cell", "")):  # an older version's label
        flat["cell"] = cell_label(_old_axes(flat))
    return TrialFailure(**flat)


def _old_axes(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A result written before results.json had `axes`: its coordinates from topology, router,
    stop and the old matrix label ("topology=firelens,workload.rate=300"); numbers as numbers."""
    axes: dict[str, Any] = {"topology": flat.get("topology"), "router.kind": flat.get("router"),
                            "stop.sequence": flat.get("stop")}
    cell = str(flat.get("cell", ""))
    pairs = [part.partition("=") for part in cell.split(",")] if "=" in cell else []
    axes.update({key: _number(value) for key, _, value in pairs})
    return axes


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return {"true": True, "false": False}.get(text, text)


def _read_result(path: Path) -> dict[str, Any] | None:
    # A result.json cut short by a crash, or written by an older schema, counts as unfinished.
    try:
        data = json.loads(path.read_text())
        load_result(data)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return data if isinstance(data, dict) else None


def _jsonable(data: Mapping[str, Any]) -> Any:
    # The stored scenario went through JSON: tuples became lists. Compare like with like.
    return json.loads(json.dumps(data, default=str))


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _show(value: Any) -> str:
    return "(absent)" if not isinstance(value, (str, int, float, bool, list, type(None))) \
        else json.dumps(value)
