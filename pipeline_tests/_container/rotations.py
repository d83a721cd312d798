"""Where the app's log file rotated (topology `file` with rotation.size): for each new file, the
seq of each stream's first line in it, kept in a small file next to the tally.

The app appends a rotation's record after it opened the new file and before it writes the new
file's first line, one write each, so the record survives a SIGKILL as the tally does. This
module runs inside the fixture containers too: standard library only.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

FILENAME = "app.rotations"
_SEQ = struct.Struct("<q")


class RotationWriter:
    """The app's side: one record of `streams` seqs per rotation, appended."""

    def __init__(self, directory: Path, streams: int) -> None:
        self.streams = streams
        self._fd = os.open(Path(directory) / FILENAME,
                           os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)

    def add(self, next_seqs: Sequence[int]) -> None:
        """A new file begins: stream s's next line (seq next_seqs[s]) is its first of s."""
        os.write(self._fd, struct.pack(f"<{self.streams}q", *next_seqs))

    def close(self) -> None:
        os.close(self._fd)


def read_rotations(directory: Path, streams: int) -> tuple[tuple[int, ...], ...] | None:
    """Per stream, the seq of its first line in each new file, in file order (the file after
    the first is index 0); None when the app recorded no rotations file."""
    try:
        data = (Path(directory) / FILENAME).read_bytes()
    except FileNotFoundError:
        return None
    width = streams * _SEQ.size
    records = [struct.unpack_from(f"<{streams}q", data, offset)
               for offset in range(0, len(data) - width + 1, width)]
    return tuple(tuple(record[stream] for record in records) for stream in range(streams))
