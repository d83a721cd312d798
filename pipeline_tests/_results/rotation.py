"""Where a trial's log file rotated (TrialResult.rotations), and which lost ranges line up with
those boundaries (the verdict's "lost at rotation").

`file` topology: recorded by the app (pipeline_tests/_container/rotations.py), exact.
`tail` topology: derived from the sizes. Docker's json-file starts a new file before a write
once the file reached max-size, and every line of a run has one size but for Docker's
timestamp, whose trailing zeros of the nanoseconds are trimmed (measured on Docker 20.10:
`"time":"2026-12-02T07:45:41.7271492Z"`), so each boundary is an estimate within a few lines.

Pure: values in, plain data out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# A json-file line: {"log":"<line>\n","stream":"stdout","time":"<RFC 3339, 30 chars>"}\n
JSON_FILE_OVERHEAD = 71
# Trailing zeros of 9 nanosecond digits: 1/10 + 1/100 + ... characters shorter, on average,
# with a standard deviation of 0.35 characters a line.
TRIMMED, TRIMMED_SD = 1 / 9, 0.35
Lost = Sequence[tuple[int, int, int]]


def recorded(seqs: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Rotations the app recorded: per stream, the seq of its first line in each new file."""
    return {"source": "recorded by the app", "within": 0, "files": 1 + len(seqs[0]),
            "seqs": [list(s) for s in seqs], "note": ""}


def json_file(line_size: int, max_size: int, emitted: Sequence[int]) -> dict[str, Any]:
    """Rotations of Docker's json-file log, derived from the sizes (one stream only: the order
    in which the lines of several streams reached the file is not known)."""
    if len(emitted) != 1:
        return {"source": "json-file sizes", "within": None, "files": None, "seqs": [],
                "note": "boundaries not known: with several streams the order of their lines "
                        "in the file is not recorded"}
    mean = line_size + JSON_FILE_OVERHEAD - TRIMMED
    per_file = math.ceil(max_size / mean)
    seqs = list(range(per_file, emitted[0], per_file))
    return {"source": "json-file sizes", "within": within(per_file, mean, max_size, len(seqs)),
            "files": 1 + len(seqs), "seqs": [seqs], "note": ""}


def within(per_file: int, mean: float, max_size: int, boundaries: int) -> int:
    """How far a derived boundary may be off, in lines. Each file holds per_file lines unless
    max-size falls so close to a line's end that the timestamps' spread (4 standard deviations
    of per_file lines) could move it by one: then each file may be one line off."""
    spread = 4 * TRIMMED_SD * math.sqrt(per_file)
    if min(per_file * mean - max_size, max_size - (per_file - 1) * mean) > spread:
        return 1
    return max(1, boundaries)


def at_rotation(lost_ranges: Lost, rotations: Mapping[str, Any]) -> list[tuple[int, list[int]]]:
    """For each lost range that begins, or ends just before, where a new file began (within
    the boundaries' precision): (stream, the boundaries it touches)."""
    seqs, slack = rotations.get("seqs") or [], rotations.get("within") or 0
    found = []
    for stream, first, last in lost_ranges:
        boundaries = seqs[stream] if stream < len(seqs) else []
        touched = [b for b in boundaries if abs(first - b) <= slack or abs(last + 1 - b) <= slack]
        if touched:
            found.append((stream, touched))
    return found
