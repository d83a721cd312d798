"""The app's emitted count, kept in a small memory-mapped file on a host directory shared with
the app container, so the count stays exact even when the app is SIGKILLed mid-write.

The app bumps a stream's counter *before* it writes the line, so a line the sink receives is
always counted as emitted (received ids are a subset of emitted ids). This module runs inside the
fixture containers too: standard library only.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"PTTALLY1"
FILENAME = "app.tally"
# started_ns, stop_signal_ns, finished_ns, blocked_ns, requested_rate (0 = max), line_size, streams
_HEADER = struct.Struct("<8s7q")
_SLOT = struct.Struct("<q")
NO_STOP = -1


@dataclass(frozen=True)
class Tally:
    """A snapshot of the app's counters, read from the file at one moment."""

    started_ns: int
    stop_signal_ns: int  # 0 until SIGTERM reached the app
    finished_ns: int  # 0 until the app finished emitting (cleanly)
    blocked_ns: int  # time spent inside write()/emit() calls: the cost of backpressure
    requested_rate: int
    line_size: int
    emitted: tuple[int, ...]  # per stream
    stop_seq: tuple[int, ...]  # per stream: emitted count when SIGTERM arrived, NO_STOP if never

    @property
    def emitted_total(self) -> int:
        return sum(self.emitted)

    def achieved_rate(self, now_ns: int) -> float:
        """Lines/s over the emitting period (until the stop signal, the end, or `now_ns`)."""
        end = self.stop_signal_ns or self.finished_ns or now_ns
        seconds = (end - self.started_ns) / 1e9 if self.started_ns else 0.0
        emitted = self.emitted_total
        if self.stop_signal_ns:
            emitted = sum(s for s in self.stop_seq if s != NO_STOP)
        return emitted / seconds if seconds > 0 else 0.0


def _size(streams: int) -> int:
    return _HEADER.size + 2 * streams * _SLOT.size


class TallyWriter:
    """The app's side: fixed-size file, counters updated in place."""

    def __init__(self, directory: Path, streams: int, requested_rate: int, line_size: int,
                 started_ns: int) -> None:
        path = Path(directory) / FILENAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, _size(streams))
            self._map = mmap.mmap(fd, _size(streams))
        finally:
            os.close(fd)
        self.streams = streams
        _HEADER.pack_into(self._map, 0, MAGIC, started_ns, 0, 0, 0, requested_rate, line_size,
                          streams)
        for stream in range(streams):
            self.set_emitted(stream, 0)
            _SLOT.pack_into(self._map, self._stop_offset(stream), NO_STOP)

    def _emitted_offset(self, stream: int) -> int:
        return _HEADER.size + stream * _SLOT.size

    def _stop_offset(self, stream: int) -> int:
        return _HEADER.size + (self.streams + stream) * _SLOT.size

    def set_emitted(self, stream: int, count: int) -> None:
        _SLOT.pack_into(self._map, self._emitted_offset(stream), count)

    def add_blocked(self, ns: int) -> None:
        offset = 8 + 3 * 8
        _SLOT.pack_into(self._map, offset, _SLOT.unpack_from(self._map, offset)[0] + ns)

    def mark_stop_signal(self, now_ns: int) -> None:
        _SLOT.pack_into(self._map, 8 + 8, now_ns)
        for stream in range(self.streams):
            emitted = _SLOT.unpack_from(self._map, self._emitted_offset(stream))[0]
            _SLOT.pack_into(self._map, self._stop_offset(stream), emitted)

    def mark_finished(self, now_ns: int) -> None:
        _SLOT.pack_into(self._map, 8 + 16, now_ns)
        self._map.flush()


def read_tally(directory: Path) -> Tally | None:
    """The current counters, or None when the app has not created its file yet."""
    path = Path(directory) / FILENAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < _HEADER.size:
        return None
    magic, started, stop, finished, blocked, rate, size, streams = _HEADER.unpack_from(data)
    if magic != MAGIC or len(data) < _size(streams):
        return None
    slots = struct.unpack_from(f"<{2 * streams}q", data, _HEADER.size)
    return Tally(started, stop, finished, blocked, rate, size, tuple(slots[:streams]),
                 tuple(slots[streams:]))
