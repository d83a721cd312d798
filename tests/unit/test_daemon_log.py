from pathlib import Path

import pytest

from pipeline_tests._trial import daemon_log
from pipeline_tests._values import DriverEvidence


def test_keeps_the_driver_lines_written_while_the_trial_ran(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    log = tmp_path / "dockerd.log"
    log.write_text("[2026-12-01T19:19:56Z] Discarding queued events...\n")  # an earlier trial's
    start = daemon_log.mark(100.0, log)
    assert (start.source, start.offset) == (str(log), 51)
    with log.open("a") as out:
        out.write('time="2026-12-01T19:20:01Z" level=info msg="loading plugin"\n'
                  "[2026-12-01T19:20:14Z] Discarding queued events...\n"
                  'time="2026-12-01T19:20:14Z" level=error msg="Error writing log message" '
                  'container=abc123 driver=fluentd\n'
                  "[2026-12-01T19:20:15Z] Unable to send logs to fluentd, reconnecting...\n")
    evidence = daemon_log.collect(start, 200.0, "abc123", tmp_path, uses_driver=True)
    assert evidence == DriverEvidence(str(log), 3, 1, None,
                                      f"{daemon_log.NO_COUNT}; {daemon_log.SHARED}")
    assert (tmp_path / "driver-evidence.txt").read_text().splitlines()[1:] == [
        "[2026-12-01T19:20:14Z] Discarding queued events...",
        'time="2026-12-01T19:20:14Z" level=error msg="Error writing log message" '
        'container=abc123 driver=fluentd',
        "[2026-12-01T19:20:15Z] Unable to send logs to fluentd, reconnecting..."]


def test_unknown_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "ssh://builder")
    remote = daemon_log.mark(1.0, tmp_path / "absent.log")
    assert daemon_log.collect(remote, 2.0, "c", tmp_path, uses_driver=True) == DriverEvidence(
        None, None, None, None,
        "the engine is remote (ssh://builder): its log is not readable here")
    monkeypatch.delenv("DOCKER_HOST")
    local = daemon_log.mark(1.0, tmp_path / "dockerd.log")
    assert daemon_log.collect(local, 2.0, "c", tmp_path, uses_driver=False).reason == \
        "the app does not log through Docker's fluentd driver"
    assert not (tmp_path / "driver-evidence.txt").exists()
