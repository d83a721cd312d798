"""Exact accounting of one run: which ids the sink received, against what the app emitted.

A `Ledger` lives inside a sink worker and records arrivals: one bit per (stream, seq) in a growing
bytearray (100 million ids fit in 12.5 MB), the total number of arrivals, reorders and a latency
histogram. Workers' ledgers merge exactly because distinct ids are kept, not totals: duplicates are
arrivals minus distinct ids, so a loss plus a duplicate never cancel out. `reconcile` turns a ledger
and the app's tally into a `LedgerReport`. Standard library only, so a sink may run in a container.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from pipeline_tests._container import line as line_format
from pipeline_tests._container.tally import NO_STOP
from pipeline_tests._ledger import latency as hist
from pipeline_tests._ledger.lost_ranges import LostRange, lost_ranges, received_in_range
from pipeline_tests._ledger.stream_bits import MAX_BITMAP_SEQ, StreamBits, add_seqs

__all__ = ["MAX_BITMAP_SEQ", "Ledger", "LedgerReport", "LostRange", "reconcile"]

_KEY = slice(0, 17)  # "pt:<run id>:<stream>:", the part shared by every line of one stream
_SEP = ord(":")
_GET_KEY = itemgetter(_KEY)
_GET_HEAD = itemgetter(slice(0, 30))  # key, seq and the ':' after it
_GET_TAIL = itemgetter(slice(30, 50))  # emit time and the ':' after it
_GET_SEQ = itemgetter(slice(17, 29))
_GET_TIME = itemgetter(slice(30, 49))
_GET_SEPARATORS = itemgetter(slice(29, 50, 20))  # the bytes at 29 and 49
_MAX_FOREIGN_KEYS = 4096  # bounds the prefix cache against floods of other runs' streams
_MISS = object()
_LOW_DIGITS = [b"%02d" % low for low in range(100)]


def _heads(key: bytes, first: int, count: int) -> bytes:
    """The first 30 bytes of `count` lines of one stream with consecutive seqs, concatenated:
    what a flood's batch must start with, built a block of 100 seqs per join (as line.py does)."""
    parts = []
    seq, end = first, first + count
    while seq < end:
        block, low = divmod(seq, 100)
        stop = min(end - block * 100, 100)
        start = key + b"%010d" % block
        parts.append(start + (b":" + start).join(_LOW_DIGITS[low:stop]) + b":")
        seq += stop - low
    return b"".join(parts)


def _as_bytes(raw: bytes | str) -> bytes:
    # Same conversion as line.parse, so both paths classify a str line alike.
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)


class Ledger:
    """The received side: a mutable accumulator inside a sink worker. Picklable."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id  # None: adopt the run id of the first valid line
        self.received_total = 0  # our lines, duplicates included
        self.foreign = 0  # valid lines of another run
        self.unparsable = 0  # not our line format at all
        self.reordered = 0  # arrivals below the highest seq already seen in their stream
        self.streams: dict[int, StreamBits] = {}
        self.latency = hist.new_histogram()
        # First 17 bytes of a line -> its stream, or None for another run's stream.
        self._keys: dict[bytes, StreamBits | None] = {}

    @property
    def distinct(self) -> int:
        return sum(int.from_bytes(s.bits, "little").bit_count() + len(s.far)
                   for s in self.streams.values())

    def add(self, line: bytes | str, recv_ns: int) -> None:
        self.add_many([line], recv_ns)

    def add_many(self, lines: list[bytes | str], recv_ns: int) -> None:
        # Three tiers, each exact about ids: one stream's consecutive seqs (a flood's batch,
        # no per-line bytecode), then our lines of known streams, then any line.
        if not (self._add_run_batch(lines, recv_ns) or self._add_clean(lines, recv_ns)):
            self._add_each(lines, recv_ns)

    def _add_run_batch(self, lines: list[bytes | str], recv_ns: int) -> bool:
        """A batch of one known stream's consecutive seqs, checked as a whole: its lines' first
        30 bytes joined must equal the expected ones, and their emit-time fields joined must be
        digits and separators. False (nothing counted) for any other batch."""
        if not lines:
            return False
        head = lines[0]
        if head.__class__ is not bytes or len(head) < 50:
            return False
        key = head[_KEY]
        stream = self._keys.get(key)
        seq_digits = head[17:29]
        if stream is None or not seq_digits.isdigit():
            return False
        count, first = len(lines), int(seq_digits)
        if first + count > MAX_BITMAP_SEQ:
            return False
        try:  # a str line makes join() raise: the batch is not a clean one
            if b"".join(map(_GET_HEAD, lines)) != _heads(key, first, count):
                return False
            times = list(map(_GET_TAIL, lines))
            tails = b"".join(times)
        except TypeError:
            return False
        # Exactly `count` colons, each at offset 19 of a 20-byte field, the rest digits.
        digits = tails.translate(None, b":")
        if not (len(tails) == 20 * count and len(digits) == 19 * count and digits.isdigit()
                and tails[19::20] == b":" * count):
            return False
        self.reordered += stream.add_run(first, first + count)
        self.received_total += count
        times.sort()  # fixed-width digits: bytes order is numeric order; usually sorted already
        hist.count_sorted(self.latency, times, recv_ns)
        return True

    def _add_clean(self, lines: list[bytes | str], recv_ns: int) -> bool:
        """The common batch, all our lines of known streams: checked and parsed by C-level
        map() and join() calls instead of per-line bytecode. False (nothing counted) otherwise."""
        if not lines or set(map(type, lines)) != {bytes} or min(map(len, lines)) < 50:
            return False
        streams = list(map(self._keys.get, map(_GET_KEY, lines)))
        if None in streams or set(map(_GET_SEPARATORS, lines)) != {b"::"}:
            return False
        seq_fields, time_fields = list(map(_GET_SEQ, lines)), list(map(_GET_TIME, lines))
        if not (b"".join(seq_fields).isdigit() and b"".join(time_fields).isdigit()):
            return False
        seqs = list(map(int, seq_fields))
        first, end, stream = seqs[0], seqs[0] + len(seqs), streams[0]
        # A flood's batch is one stream's consecutive seqs: set the bits as one run.
        if (end <= MAX_BITMAP_SEQ and streams.count(stream) == len(streams)
                and seqs == list(range(first, end))):
            reordered = stream.add_run(first, end)  # type: ignore[union-attr]
        else:
            reordered = add_seqs(streams, seqs)  # type: ignore[arg-type]
        for time_digits, count in Counter(time_fields).items():
            self._count_latency(time_digits, count, recv_ns)
        self.received_total += len(lines)
        self.reordered += reordered
        return True

    def _add_each(self, lines: list[bytes | str], recv_ns: int) -> None:
        # Any line: locals only, the stream found by its prefix in a dict, the rest sliced;
        # latency bucketed once per emit time (a batch of lines often shares one).
        keys = self._keys
        total = reordered = foreign = unparsable = 0
        last_time, last_count = b"", 0
        for raw in lines:
            data = raw if raw.__class__ is bytes else _as_bytes(raw)
            stream = keys.get(data[_KEY], _MISS)
            if stream is _MISS:
                stream = self._learn(data)
                if stream is _MISS:
                    unparsable += 1
                    continue
            seq_digits, time_digits = data[17:29], data[30:49]
            if len(data) < 50 or not (data[29] == _SEP == data[49] and seq_digits.isdigit()
                                      and time_digits.isdigit()):
                unparsable += 1
                continue
            if stream is None:
                foreign += 1
                continue
            total += 1
            # Not _MISS here (ruled out above); no cast(): this loop runs once per line.
            reordered += stream.add(int(seq_digits))  # type: ignore[attr-defined]
            if time_digits != last_time:
                self._count_latency(last_time, last_count, recv_ns)
                last_time, last_count = time_digits, 0
            last_count += 1
        self._count_latency(last_time, last_count, recv_ns)
        self.received_total += total
        self.reordered += reordered
        self.foreign += foreign
        self.unparsable += unparsable

    def _count_latency(self, time_digits: bytes, count: int, recv_ns: int) -> None:
        if count:
            self.latency[hist.bucket(recv_ns - int(time_digits))] += count

    def _learn(self, data: bytes) -> StreamBits | None | object:
        """Classify a line whose prefix is new: our stream, None (foreign), or _MISS (garbage)."""
        parsed = line_format.parse(data)
        if parsed is None:
            return _MISS
        if self.run_id is None:
            self.run_id = parsed.run_id
        key = data[_KEY]
        if parsed.run_id != self.run_id:
            if len(self._keys) < _MAX_FOREIGN_KEYS:
                self._keys[key] = None
            return None
        stream = self.streams.get(parsed.stream)
        if stream is None:
            stream = self.streams[parsed.stream] = StreamBits()
        self._keys[key] = stream
        return stream

    def merge(self, other: Ledger) -> None:
        """Add another worker's ledger of the same run into this one."""
        if self.run_id is None:
            self.run_id = other.run_id
        elif other.run_id is not None and other.run_id != self.run_id:
            raise ValueError(f"cannot merge ledgers of runs {self.run_id} and {other.run_id}")
        self.received_total += other.received_total
        self.foreign += other.foreign
        self.unparsable += other.unparsable
        self.reordered += other.reordered
        for number, theirs in other.streams.items():
            ours = self.streams.get(number)
            if ours is None:
                ours = self.streams[number] = StreamBits()
            size = max(len(ours.bits), len(theirs.bits))
            union = int.from_bytes(ours.bits, "little") | int.from_bytes(theirs.bits, "little")
            ours.bits = bytearray(union.to_bytes(size, "little"))
            ours.high = max(ours.high, theirs.high)
            ours.far |= theirs.far
        for index, count in enumerate(other.latency):
            if count:
                self.latency[index] += count
        # Stream objects were replaced or new ones created: rebuild the prefix cache lazily.
        self._keys = {}

    def latency_ms(self, quantile: float) -> float | None:
        """The latency at `quantile` (0..1) in ms, to ~1% (see latency.count_sorted for the
        bound when batches are sampled); None when no line was received."""
        return hist.quantile_ms(self.latency, quantile)


@dataclass(frozen=True)
class LedgerReport:
    emitted: int
    received_total: int  # arrivals of emitted ids, duplicates included
    received_distinct: int
    lost: int
    duplicates: int
    reordered: int
    lost_ranges: tuple[LostRange, ...]  # all of them, in stream then seq order; sum == lost
    lost_before_stop: int
    lost_after_stop: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    foreign: int
    unparsable: int
    unexpected: int  # distinct ids received that the app never emitted (seq >= emitted)


def reconcile(ledger: Ledger, emitted: Sequence[int], stop_seq: Sequence[int]) -> LedgerReport:
    """Compare what the app emitted (its tally) with what the ledger received."""
    if len(stop_seq) != len(emitted):
        raise ValueError(f"{len(emitted)} emitted counts but {len(stop_seq)} stop seqs")
    if any(count > MAX_BITMAP_SEQ for count in emitted):
        raise ValueError(f"a stream emitted more than {MAX_BITMAP_SEQ} lines: not supported")
    distinct = unexpected = before = after = 0
    ranges: list[LostRange] = []
    for number in sorted(set(range(len(emitted))) | set(ledger.streams)):
        stream = ledger.streams.get(number) or StreamBits()
        count = emitted[number] if number < len(emitted) else 0
        stop = stop_seq[number] if number < len(stop_seq) else NO_STOP
        inside = received_in_range(stream.bits, count)
        distinct += inside
        # Seqs kept outside the bitmap are >= MAX_BITMAP_SEQ >= count: all unexpected.
        unexpected += (int.from_bytes(stream.bits, "little").bit_count() - inside
                       + len(stream.far))
        lost = lost_ranges(number, stream.bits, count)
        ranges.extend(lost)
        for lost_range in lost:
            size = lost_range.last - lost_range.first + 1
            below = size if stop == NO_STOP else max(0, min(lost_range.last + 1, stop)
                                                     - lost_range.first)
            before += below
            after += size - below
    total_emitted = sum(emitted)
    duplicates = ledger.received_total - ledger.distinct
    return LedgerReport(
        emitted=total_emitted, received_total=ledger.received_total - unexpected,
        received_distinct=distinct, lost=total_emitted - distinct, duplicates=duplicates,
        reordered=ledger.reordered, lost_ranges=tuple(ranges), lost_before_stop=before,
        lost_after_stop=after, latency_p50_ms=ledger.latency_ms(0.50),
        latency_p99_ms=ledger.latency_ms(0.99), foreign=ledger.foreign,
        unparsable=ledger.unparsable, unexpected=unexpected)
