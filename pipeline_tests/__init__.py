"""pipeline-tests: floods real log topologies, stops the task the way ECS or Kubernetes would,
and counts exactly which lines were lost, duplicated or reordered, at which hop.

    import pipeline_tests as pt

    scenario = pt.load_scenario("scenarios/incident.yaml")   # or pt.Scenario(...)
    results = pt.run(scenario, out="runs", on_event=print)
    assert results.cell("direct-tcp/builtin/ecs").lost_max == 0

`run` is what the `pipeline-tests` command calls. This module imports no Docker, YAML or plotting
code until `run` or `load_scenario` is called.
"""

from pathlib import Path as _Path
from typing import TYPE_CHECKING as _TYPE_CHECKING

from pipeline_tests._errors import (
    ImageMissing,
    InputError,
    InstallError,
    PipelineTestsError,
    SetupError,
    TrialFailed,
)
from pipeline_tests._events import (
    CellProgress,
    CellsProgress,
    Event,
    ImageProgress,
    OnEvent,
    RunFinished,
    RunStarted,
    SinkSeen,
    StopStep,
    TrialErrored,
    TrialFinished,
    TrialProgress,
    TrialStarted,
)
from pipeline_tests._results.log_errors import LogError
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.stats import CellStats
from pipeline_tests._results.stored import stored_run as load_results
from pipeline_tests._results.trial_result import TrialFailure, TrialResult
from pipeline_tests._scenario.model import (
    Aggregator,
    Client,
    Driver,
    Fault,
    Limits,
    Rotation,
    Router,
    SinkDelays,
    Stop,
    Task,
    Workload,
)
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._values import DriverEvidence, EngineFacts
from pipeline_tests._version import __version__

if _TYPE_CHECKING:
    import docker

__all__ = [
    "Aggregator", "CellProgress", "CellStats", "CellsProgress", "Client", "Driver",
    "DriverEvidence", "EngineFacts", "Event", "Fault", "ImageMissing", "ImageProgress",
    "InputError", "InstallError", "Limits", "LogError", "OnEvent", "PipelineTestsError",
    "Rotation", "Router", "RunFinished", "RunResults", "RunStarted", "Scenario", "SetupError",
    "SinkDelays", "SinkSeen", "Stop", "StopStep", "Task", "TrialErrored", "TrialFailed",
    "TrialFailure", "TrialFinished", "TrialProgress", "TrialResult", "TrialStarted", "Workload",
    "__version__", "load_results", "load_scenario", "run",
]


def load_scenario(path: str | _Path) -> Scenario:
    """A scenario from a YAML file; InputError naming file:line when it is not valid."""
    from pipeline_tests._scenario.load import load

    return load(_Path(path))


def run(scenario: Scenario, out: str | _Path = "runs", *, on_event: OnEvent | None = None,
        pull: bool = False, resume: str | None = None,
        client: "docker.DockerClient | None" = None) -> RunResults:
    """Run every trial of `scenario` into OUT/<run-id>/; see pipeline_tests._run.run."""
    from pipeline_tests._run.run import run as _run

    return _run(scenario, out, on_event=on_event, pull=pull, resume=resume, client=client)
