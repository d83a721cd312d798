"""The engines a run's trials ran on, side by side: what each engine is (version, kernel, CPUs)
and what its trials measured (results.json's `engines` header and each trial's `engine`)."""

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
    trials: int
    emitted: int
    lost: int
    rate_mean: float | None  # lines/s the app reached, mean over its trials; None: no trial

    @property
    def lost_pct(self) -> float | None:
        return 100.0 * self.lost / self.emitted if self.emitted else None


def engine_rows(engines: Sequence[Mapping[str, Any]], results: Sequence[TrialResult]
                ) -> list[EngineRow]:
    """One row per engine of the run, in the run's order (its trials summed)."""
    rows = []
    for facts in engines:
        mine = [r for r in results if r.engine.get("name") == facts.get("name")]
        rows.append(EngineRow(
            name=str(facts.get("name", "?")), version=str(facts.get("version", "?")),
            kernel=str(facts.get("kernel", "?")), cpus=facts.get("cpus"), trials=len(mine),
            emitted=sum(r.emitted for r in mine), lost=sum(r.lost for r in mine),
            rate_mean=sum(r.achieved_rate for r in mine) / len(mine) if mine else None))
    return rows


def compared(engines: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a report shows the engines: more than one, or one that is not the local one."""
    return len(engines) > 1 or any(e.get("name") != "local" for e in engines)
