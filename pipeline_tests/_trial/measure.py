"""The end of a trial: the sink's ledger against the app's tally, and the routers' own counts,
into a TrialResult; and the file that marks a trial done (or failed) for resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline_tests import _routers as routers
from pipeline_tests._container.rotations import read_rotations
from pipeline_tests._container.tally import Tally, read_tally
from pipeline_tests._errors import TrialFailed
from pipeline_tests._ledger.ledger import reconcile
from pipeline_tests._results import rotation
from pipeline_tests._results.build import build_result, sink_pace
from pipeline_tests._results.log_errors import LogError, summarise
from pipeline_tests._results.timeline import Timeline
from pipeline_tests._results.trial_result import TrialFailure, TrialResult
from pipeline_tests._routers.kind import RouterCounters, RouterPorts
from pipeline_tests._scenario.model import size_bytes
from pipeline_tests._trial import aggregator
from pipeline_tests._trial.aggregator import AggregatorTier
from pipeline_tests._trial.services import RouterLogs
from pipeline_tests._trial.sink_container import SinkContainer
from pipeline_tests._trial.spec import TrialSpec


def measure(spec: TrialSpec, sink: SinkContainer, ports: RouterPorts,
            tier: AggregatorTier | None, line_run_id: str, timeline: Timeline,
            logs: RouterLogs) -> TrialResult:
    """The sink's ledger against the app's tally, and the routers' own counts (from their
    state and their `logs`)."""
    ledger, stats = sink.stop()
    for volume in ("app", "router", *((aggregator.SERVICE,) if tier else ())):
        sink.volumes.pull(volume, fresh=True)
    tally = read_tally(spec.directory / "app")
    if tally is None:
        raise TrialFailed(f"The app never started counting (no tally in {spec.directory / 'app'}); "
                          f"see {spec.directory / 'app.log'} for why it failed.")
    if not stats.ledger_complete:
        # What the sink counted cannot say which lines were lost: no loss figure at all.
        raise TrialFailed(f"The sink's ledger is incomplete ({stats.ledger_note}), so this "
                          f"trial has no loss figure: the app emitted {tally.emitted_total:,} "
                          f"lines and the complete part of the ledger holds "
                          f"{ledger.distinct:,}. Run the trial again.")
    report = reconcile(ledger, tally.emitted, tally.stop_seq)
    router_counts, tier_counts = tier_counters(spec, ports, tier, logs, report.received_distinct)
    result = build_result(
        topology=spec.topology, router=spec.scenario.router.kind, stop=spec.scenario.stop.sequence,
        trial=spec.trial, line_run_id=line_run_id, report=report, tally=tally, timeline=timeline,
        router_counts=router_counts, aggregator_counts=tier_counts,
        malformed=stats.malformed, seconds=0.0)
    unknown = {**router_counts.unknown(),
               **(tier_counts.unknown(aggregator.SERVICE) if tier_counts else {})}
    return replace(result, hop_unknown=unknown, log_errors=tier_log_errors(spec, tier, logs),
                   sink=sink_pace(stats, spec.scenario.sink), rotations=_rotations(spec, tally))


def tier_counters(spec: TrialSpec, ports: RouterPorts, tier: AggregatorTier | None,
                  logs: RouterLogs, sink: int) -> tuple[RouterCounters, RouterCounters | None]:
    """Each tier counted from its own state and log, and where it delivers: the sidecar by
    what the aggregator tier took in (when there is one), the last tier by the sink."""
    sidecar = routers.counters(spec.scenario.router, spec.directory / "router", ports,
                               logs.router)
    if tier is None:
        return sidecar.resolve(sink), None
    second = routers.counters(tier.settings, tier.state_dir, tier.ports,
                              logs.aggregator or "").resolve(sink)
    return sidecar.resolve(second.received, "the aggregator",
                           second.received_unknown), second


def tier_log_errors(spec: TrialSpec, tier: AggregatorTier | None,
                    logs: RouterLogs) -> tuple[LogError, ...]:
    """What each tier's log says went wrong, by kind."""
    found = summarise("router", routers.log_errors(spec.scenario.router, logs.router))
    if tier is not None:
        found += summarise(aggregator.SERVICE,
                           routers.log_errors(tier.settings, logs.aggregator or ""))
    return found


def _rotations(spec: TrialSpec, tally: Tally) -> dict[str, Any]:
    """Where the log file rotated: recorded by the app (`file`), derived from json-file's sizes
    (`tail`); empty without rotation."""
    size = spec.scenario.rotation.size
    if size is None or spec.topology not in ("file", "tail"):
        return {}
    if spec.topology == "tail":
        return rotation.json_file(tally.line_size, size_bytes(size) or 0, tally.emitted)
    seqs = read_rotations(spec.directory / "app", len(tally.emitted))
    if seqs is None:
        return {"source": "recorded by the app", "within": None, "files": None, "seqs": [],
                "note": "the app left no record of its rotations"}
    return rotation.recorded(seqs)


def save_result(outcome: TrialResult | TrialFailure, directory: Path) -> None:
    """result.json marks a finished trial (resume keeps it); failure.json one that failed."""
    name = "result.json" if isinstance(outcome, TrialResult) else "failure.json"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(outcome.as_json(), indent=2))
