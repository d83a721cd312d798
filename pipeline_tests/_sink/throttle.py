"""A destination's throughput cap: token buckets of records/s and of bytes/s (of the records'
log lines), as a sink worker enforces them (worker.py).

Each bucket is full (its burst: BURST_SECONDS of the cap) at the first record and refills at the
cap. A record is counted only once the buckets hold its tokens, so at every instant t, exactly:

    records counted by t <= burst_records + max_records_per_s * (t - first record counted)

and the same for bytes, plus at most one line longer than the bytes burst (such a line is let
through when the bucket is full, and the bucket owes the rest). The worker stamps the first and
the last record it counts with the same clock, so the cap can be checked afterwards from the
sink's own counts and timestamps (SinkStats.first_ns, last_ns). Records waiting for tokens are
not counted and their frames are not acknowledged; meanwhile the worker reads no connection, so
a router's sends back up into its own buffer, as in front of a throttled destination.

Pure: the caller passes the time (seconds of a monotonic clock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BURST_SECONDS = 0.1  # the burst a bucket holds, in seconds of its cap
MIN_WAIT = 0.002  # seconds between two admissions while records wait (a few records each)


def burst(cap: float) -> float:
    """The burst of a bucket for `cap` per second: BURST_SECONDS of it, at least one unit."""
    return max(1.0, cap * BURST_SECONDS)


class Bucket:
    """One token bucket: `cap` per second, holding at most burst(cap)."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.burst = burst(cap)
        self.tokens = self.burst
        self.at: float | None = None  # the time of the last refill; None before the first

    def refill(self, now: float) -> None:
        if self.at is not None and now > self.at:
            self.tokens = min(self.burst, self.tokens + self.cap * (now - self.at))
        self.at = now if self.at is None else max(self.at, now)

    def wait(self, cost: float) -> float:
        """Seconds until `cost` tokens are there (or the bucket is full, for a larger cost)."""
        missing = min(cost, self.burst) - self.tokens
        return max(0.0, missing / self.cap)


class Throttle:
    """The caps of one worker: how many of the next lines may be counted now."""

    def __init__(self, records_per_s: float | None, bytes_per_s: float | None) -> None:
        self.records = Bucket(records_per_s) if records_per_s else None
        self.bytes = Bucket(bytes_per_s) if bytes_per_s else None

    def admit(self, lines: Sequence[bytes | str], start: int, now: float) -> int:
        """How many of lines[start:] may be counted at `now` (their tokens are taken)."""
        records, size = self.records, self.bytes
        count = len(lines) - start
        if records is not None:
            records.refill(now)
            count = min(count, math.floor(records.tokens))
        if size is not None and count > 0:
            size.refill(now)
            count = self._within_bytes(size, lines, start, count)
        if records is not None:
            records.tokens -= count
        return count

    @staticmethod
    def _within_bytes(size: Bucket, lines: Sequence[bytes | str], start: int, count: int) -> int:
        taken, total = 0, 0
        for index in range(start, start + count):
            cost = len(lines[index])
            if total + cost > size.tokens and not (taken == 0 and size.tokens >= size.burst):
                break
            total += cost
            taken += 1
            if total > size.tokens:  # one line longer than the burst, let through on a full bucket
                break
        size.tokens -= total
        return taken

    def wait(self, line: bytes | str) -> float:
        """Seconds until `line` (the next one waiting) may be counted; at least MIN_WAIT."""
        waits = [bucket.wait(cost) for bucket, cost in ((self.records, 1.0),
                                                         (self.bytes, float(len(line))))
                 if bucket is not None]
        return max(MIN_WAIT, *waits)
