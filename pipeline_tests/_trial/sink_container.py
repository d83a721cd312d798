"""The sink as a trial sees it: a container of the trial's project (compose/sink.yaml, the code in
fixtures/sink.py), read through the trial's volumes. The same questions as an in-process Sink
(records so far, the loss map, the ledger at stop), answered from the files it writes."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import msgpack

from pipeline_tests._docker.volumes import TrialVolumes
from pipeline_tests._errors import TrialFailed
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._ledger.wire import ledger_from
from pipeline_tests._sink import SinkStats

SERVICE = "sink"
VOLUME = "sink"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60  # it has stop_timeout (30 s) + a handover (5 s) to collect its workers' ledgers
# Seconds between the progress's copies of the sink's state directory (live.json and
# seen.msgpack in one copy). Each copy costs the engine about 60 ms of CPU (it runs a tar
# process of its own; `bench_instrument.py` prints the figure), taken from the app and the
# router on a small machine.
COPY_EVERY = 2.0


class SinkContainer:
    def __init__(self, container: Any, volumes: TrialVolumes, run_id: str) -> None:
        self.container, self.volumes, self.run_id = container, volumes, run_id
        self._result: tuple[Ledger, SinkStats] | None = None
        # The last live.json read, by its (mtime, size), and the files mirrored from it: a tick
        # between two copies parses and writes nothing.
        self._live_key: tuple[int, int] | None = None
        self._live_value: dict[str, Any] = {}
        self._mirrored: dict[tuple[str, ...], tuple[int, int] | None] = {}

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if (self.volumes.pull(VOLUME, "ready.json", fresh=True) / "ready.json").exists():
                return
            self.container.reload()
            if self.container.status == "exited":
                break
            time.sleep(0.1)
        raise TrialFailed(f"The sink did not start within {READY_TIMEOUT:.0f} s (container "
                          f"status: {self.container.status}). Its last log lines:\n"
                          f"{self._log_tail()}")

    def _log_tail(self) -> str:
        return str(self.container.logs(tail=10).decode(errors="replace").strip())

    def _live(self, fresh: bool = False) -> dict[str, Any]:
        path = self.volumes.pull(VOLUME, fresh=fresh) / "live.json"
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            if key != self._live_key:
                self._live_value, self._live_key = dict(json.loads(path.read_text())), key
        except (OSError, ValueError):
            self._live_value, self._live_key = {}, None
        return self._live_value

    def mirror(self, volume: str, *names: str, fresh: bool = False) -> Path:
        """What the progress reads of a volume (the app's tally, a router's counters), from
        the copy the sink keeps in live.json: one copy out of the sink's volume instead of one
        per volume. Falls back to copying the volume when live.json does not carry it."""
        files = self._live(fresh).get("files")
        if not isinstance(files, dict):
            return self.volumes.pull(volume, *names, fresh=fresh)
        target = self.volumes.directory / volume
        asked = (volume, *names)
        if self._mirrored.get(asked, ()) == self._live_key:
            return target  # written from this very copy already
        self._mirrored[asked] = self._live_key
        target.mkdir(parents=True, exist_ok=True)
        for key, encoded in files.items():
            owner, _, name = str(key).partition("/")
            if owner == volume and (not names or name in names) and "/" not in name \
                    and name not in ("", ".", ".."):
                tmp = target / f"{name}.mirroring"
                tmp.write_bytes(base64.b64decode(encoded))
                tmp.replace(target / name)  # a reader never sees half a file
        return target

    def live_records(self, fresh: bool = False) -> int:
        """Records received so far (as of its last report, at most a few tenths of a second old;
        without `fresh`, as of the last copy, at most the volumes' `every` older)."""
        return int(self._live(fresh).get("records", 0))

    def live_seen(self, timeout: float = 0.5, fresh: bool = False) -> dict[int, bytes]:
        """Each stream's received seqs as a bitmap, as of the sink's last report."""
        path = self.volumes.pull(VOLUME, fresh=fresh) / "seen.msgpack"
        try:
            seen = msgpack.unpackb(path.read_bytes(), strict_map_key=False)
            return {int(stream): bytes(bits) for stream, bits in seen.items()}
        except (OSError, ValueError, TypeError, AttributeError, msgpack.UnpackException):
            return {}

    def stop(self) -> tuple[Ledger, SinkStats]:
        """Stop it (SIGTERM), then read the ledger it wrote. Idempotent."""
        if self._result is None:
            self.container.stop(timeout=STOP_TIMEOUT)
            self._result = self._read_ledger()
        return self._result

    def _read_ledger(self) -> tuple[Ledger, SinkStats]:
        path = self.volumes.pull(VOLUME, "ledger.msgpack", fresh=True) / "ledger.msgpack"
        try:
            written = msgpack.unpackb(path.read_bytes(), raw=False)
            return ledger_from(written["ledger"]), SinkStats(**written["stats"])
        except (OSError, ValueError, TypeError, KeyError, msgpack.UnpackException):
            pass
        self.container.reload()
        code = self.container.attrs.get("State", {}).get("ExitCode")
        note = (f"the sink container wrote no ledger (exit code {code}); its last log lines: "
                f"{self._log_tail()}")
        return Ledger(self.run_id), SinkStats(0, 0, 0, 0, 0, 0, ledger_complete=False,
                                              ledger_note=note)
