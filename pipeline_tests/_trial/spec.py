"""What one trial is: its scenario, topology, number, Compose project, directory, engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline_tests._docker.engine import Engine
from pipeline_tests._scenario.scenario import Scenario


@dataclass(frozen=True)
class TrialSpec:
    scenario: Scenario
    topology: str
    trial: int  # 1-based
    project: str  # Compose project name, unique per trial
    directory: Path  # runs/<run-id>/<cell>-<trial>/
    image: str
    engine: Engine = Engine("local")
