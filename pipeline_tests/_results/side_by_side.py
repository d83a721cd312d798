"""The engines a run's trials ran on, side by side: what each engine is (version, kernel, CPUs)
and what its trials measured, per topology (results.json's `engines` header and each trial's
`engine`): one lost % over FireLens and direct TCP together would sum unlike things."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline_tests._results.trial_result import TrialResult


@dataclass(frozen=True)
class EngineRow:
    name: str
    version: str
    kernel: str
    cpus: int | None
    topology: str  # "-" for an engine that ran no trial
    trials: int
    emitted: int
    lost: int
    rate_mean: float | None  # lines/s the app reached, mean over its trials; None: no trial

    @property
    def lost_pct(self) -> float | None:
        return 100.0 * self.lost / self.emitted if self.emitted else None


def engine_rows(engines: Sequence[Mapping[str, Any]], results: Sequence[TrialResult]
                ) -> list[EngineRow]:
    """One row per engine of the run and topology it ran (its trials of that topology
    summed), engines in the run's order, topologies in the order their trials came."""
    topologies = list(dict.fromkeys(r.topology for r in results))
    rows = []
    for facts in engines:
        mine = [r for r in results if r.engine is not None and r.engine.name == facts.get("name")]
        for topology in [t for t in topologies if any(r.topology == t for r in mine)] or ["-"]:
            same = [r for r in mine if r.topology == topology]
            rows.append(EngineRow(
                name=str(facts.get("name", "?")), version=str(facts.get("version", "?")),
                kernel=str(facts.get("kernel", "?")), cpus=facts.get("cpus"),
                topology=topology, trials=len(same), emitted=sum(r.emitted for r in same),
                lost=sum(r.lost for r in same),
                rate_mean=sum(r.achieved_rate for r in same) / len(same) if same else None))
    return rows


def compared(engines: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a report shows the engines: more than one, or one that is not the local one."""
    return len(engines) > 1 or any(e.get("name") != "local" for e in engines)
