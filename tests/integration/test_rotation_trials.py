"""Log rotation with the builtin router's tail: lost ranges that line up exactly with the files'
boundaries, and the verdict that says so.

The design makes the loss deterministic. The app writes 1,000 lines/s of 400 bytes; its log
rotates every 100 KiB (a new file about every quarter second) and keeps two files, so a file
renamed away is deleted by the next rotation. At 1.5 s the router is stopped for 2 s (fault
router-pause: SIGSTOP), across about eight rotations. Resumed, its tail reads on in the file it
held (deleted by then, but its descriptor keeps it; the rest is one read, within rotate_wait),
then opens the file now at the path and reads it from its head: every file created and deleted
while it was stopped is lost, whole. So the trial loses exactly one range, from the first line
of one file to the line before the first line of another, and no line anywhere else (the
router reads on during its grace, `pause_on_stop: false`, so nothing is lost at the stop).
"""

import pytest
from conftest import TrialRunner

from pipeline_tests._results.verdict import verdict
from pipeline_tests._scenario.model import Stop, Workload
from pipeline_tests._scenario.scenario import Scenario

pytestmark = pytest.mark.docker


def _scenario(topology: str) -> Scenario:
    return Scenario(topologies=(topology,), workload=Workload(rate=1000),
                    stop=Stop(sequence="ecs", after=5.0, stop_timeout=10.0, drain=5.0),
                    trials=1).with_overrides({
                        "rotation.size": "100k", "rotation.max_files": 2,
                        "router.pause_on_stop": False, "fault.kind": "router-pause",
                        "fault.at": 1.5, "fault.duration": 2.0})


def test_files_rotated_and_deleted_while_the_tail_stalled_are_the_exact_lost_range(
        run_one: TrialRunner) -> None:
    result = run_one("file", _scenario("file"))
    rotations = result.rotations
    assert (rotations["source"], rotations["within"]) == ("recorded by the app", 0)
    boundaries = rotations["seqs"][0]
    assert len(boundaries) >= 10  # about one a quarter second
    # A file holds at least 256 lines (100 KiB of 401-byte lines; the app checks the size
    # before each write, so a write of several lines, catching up, may take it further).
    assert min(b - a for a, b in zip([0, *boundaries], boundaries, strict=False)) >= 256
    assert len(result.lost_ranges) == 1
    stream, first, last = result.lost_ranges[0]
    assert stream == 0 and first in boundaries and last + 1 in boundaries
    lost_files = boundaries.index(last + 1) - boundaries.index(first)
    assert lost_files >= 3 and result.lost == last + 1 - first >= 3 * 256
    assert (result.duplicates, result.lost_at) == (0, "app->router_in")
    assert f"lost at rotation: 1 of 1 lost ranges begin or end where a new log file began " \
           f"(the files beginning at seq {first:,}, {last + 1:,})" in verdict([result])


def test_json_file_rotation_loses_whole_files_at_the_derived_boundaries(
        run_one: TrialRunner) -> None:
    result = run_one("tail", _scenario("tail"))
    rotations = result.rotations
    assert rotations["source"] == "json-file sizes"
    # 218 lines a file: 100 KiB of json-file lines of 471 bytes (470.89 on average).
    boundaries, slack = rotations["seqs"][0], rotations["within"]
    assert boundaries[:3] == [218, 436, 654] and slack == 1
    assert len(result.lost_ranges) == 1
    _, first, last = result.lost_ranges[0]
    assert min(abs(first - b) for b in boundaries) <= slack
    assert min(abs(last + 1 - b) for b in boundaries) <= slack
    assert result.lost >= 3 * 218 - 2 * slack and result.duplicates == 0
    assert "lost at rotation: 1 of 1 lost ranges begin or end about where a new log file " \
           "began" in verdict([result])
