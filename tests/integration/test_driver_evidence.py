"""dockerd's evidence of a driver-side drop, kept with a FireLens trial that lost lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TrialRunner

from pipeline_tests._scenario.model import Stop, Workload
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._trial import daemon_log
from pipeline_tests._values import DriverEvidence

pytestmark = pytest.mark.docker


def test_firelens_trial_keeps_dockerds_driver_lines(run_one: TrialRunner,
                                                    tmp_path: Path) -> None:
    if not daemon_log.DOCKERD_LOG.exists():
        pytest.skip(f"dockerd does not write {daemon_log.DOCKERD_LOG} here (not setup.sh's)")
    flood = Scenario(topologies=("firelens",), workload=Workload(rate=None),
                     stop=Stop(sequence="ecs", after=2.0, stop_timeout=10.0, drain=5.0),
                     trials=1)
    result = run_one("firelens", flood)
    evidence = result.driver_evidence
    kept = (tmp_path / "trial" / daemon_log.EVIDENCE_FILE).read_text().splitlines()
    assert kept[0] == f"# dockerd's lines while the trial ran, from {daemon_log.DOCKERD_LOG}"
    assert evidence == DriverEvidence(
        source=str(daemon_log.DOCKERD_LOG), lines=len(kept) - 1,
        discarding=sum(1 for line in kept if daemon_log.DISCARDING in line),
        events_discarded=None, reason=f"{daemon_log.NO_COUNT}; {daemon_log.SHARED}")
    # The builtin router at rate max: the driver's queue was discarded at the app's exit.
    if result.lost:
        assert evidence.discarding is not None and evidence.discarding >= 1
