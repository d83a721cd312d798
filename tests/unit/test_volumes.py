"""Copies out of a trial's volumes: what an engine sends back lands in the trial's directory
and nowhere else (the real engine's get_archive is exercised by every integration trial)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from pipeline_tests._docker.volumes import TrialVolumes


def _tar(members: dict[str, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _Engine:
    """get_archive as an engine answers it: (chunks, stat)."""

    def __init__(self, archive: bytes) -> None:
        self.archive = archive
        self.asked: list[str] = []

    def get_archive(self, path: str) -> tuple[Any, dict[str, Any]]:
        self.asked.append(path)
        return iter([self.archive[:10], self.archive[10:]]), {}


def test_a_volume_lands_in_the_trial_directory_and_nowhere_else(tmp_path: Path) -> None:
    engine = _Engine(_tar({"app": None, "app/app.tally": b"T", "app/sub": None,
                           "app/sub/x": b"X", "app/../../evil": b"E", "/etc/evil": b"E"}))
    trial = tmp_path / "trial"
    copied = TrialVolumes(engine, trial).pull("app")
    assert engine.asked == ["/trial/app"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "trial", "trial/app", "trial/app/app.tally", "trial/app/sub", "trial/app/sub/x"]
    assert (copied / "app.tally").read_bytes() == b"T"


def test_one_file_and_the_pace_of_pulls(tmp_path: Path) -> None:
    engine = _Engine(_tar({"live.json": b"{}"}))
    volumes = TrialVolumes(engine, tmp_path, every=60.0)
    assert (volumes.pull("sink", "live.json") / "live.json").read_bytes() == b"{}"
    volumes.pull("sink", "live.json")  # within `every`: the copy from before
    volumes.pull("sink", "live.json", fresh=True)
    assert engine.asked == ["/trial/sink/live.json"] * 2
