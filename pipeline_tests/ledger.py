"""Exact accounting of one run: which ids the sink received, against what the app emitted.

A `Ledger` lives inside a sink worker and records arrivals: one bit per (stream, seq) in a growing
bytearray (100 million ids fit in 12.5 MB), the total number of arrivals, reorders and a latency
histogram. Workers' ledgers merge exactly because distinct ids are kept, not totals: duplicates are
arrivals minus distinct ids, so a loss plus a duplicate never cancel out. `reconcile` turns a ledger
and the app's tally into a `LedgerReport`. Standard library only, so a sink may run in a container.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter

from pipeline_tests import line as line_format
from pipeline_tests.tally import NO_STOP

# Seqs past this are not put in the bitmap (it would take 128 MB to reach them): a garbage line
# must not make the sink allocate gigabytes. A real stream never gets there; such ids are kept in
# a set and reported as unexpected.
MAX_BITMAP_SEQ = 1 << 30
# Latency buckets: values below 2**_BITS ns are exact; above, 2**(_BITS-1) buckets per power of two
# (at most 0.8% apart), up to 2**63 ns. Fixed size, so merging is adding arrays.
_BITS = 8
_HALF = 1 << (_BITS - 1)
_BUCKETS = _HALF * (64 - _BITS + 2)
_KEY = slice(0, 17)  # "pt:<run id>:<stream>:", the part shared by every line of one stream
_SEP = ord(":")
_GET_KEY = itemgetter(_KEY)
_GET_SEQ = itemgetter(slice(17, 29))
_GET_TIME = itemgetter(slice(30, 49))
_GET_SEPARATORS = itemgetter(slice(29, 50, 20))  # the bytes at 29 and 49
_MAX_FOREIGN_KEYS = 4096  # bounds the prefix cache against floods of other runs' streams
_MISS = object()
_RUNS = re.compile(rb"\xff+|\x00+|[\x01-\xfe]")


class _Stream:
    """Mutable per-stream state: the seqs seen, as bits, and the highest seq seen."""

    __slots__ = ("bits", "high", "far")

    def __init__(self) -> None:
        self.bits = bytearray()
        self.high = -1
        self.far: set[int] = set()  # seqs >= MAX_BITMAP_SEQ

    def grow(self, index: int) -> None:
        # Grow by a quarter at least: amortised O(1), and at most 25% slack (32 MB budget).
        size = len(self.bits)
        self.bits.extend(bytes(max(index + 1 - size, size // 4 + 4096)))

    def add_run(self, first: int, end: int) -> int:
        """Record seqs first..end-1 arriving in that order; the number of them reordered."""
        if (end - 1) >> 3 >= len(self.bits):
            self.grow((end - 1) >> 3)
        bits = self.bits
        full_first, full_end = (first + 7) & ~7, end & ~7
        if full_first < full_end:  # whole bytes at once; the ragged ends bit by bit below
            bits[full_first >> 3:full_end >> 3] = b"\xff" * ((full_end - full_first) >> 3)
            ragged = (*range(first, full_first), *range(full_end, end))
        else:
            ragged = tuple(range(first, end))
        for seq in ragged:
            bits[seq >> 3] |= 1 << (seq & 7)
        # Each seq is below the running highest exactly when it is below the highest before.
        reordered = max(0, min(end, self.high) - first)
        self.high = max(self.high, end - 1)
        return reordered


def _add_seqs(streams: list[_Stream], seqs: list[int]) -> int:
    """Record each seq in its stream; the number of reordered arrivals."""
    reordered = 0
    for stream, seq in zip(streams, seqs, strict=True):
        if seq < MAX_BITMAP_SEQ:
            bits = stream.bits
            try:
                bits[seq >> 3] |= 1 << (seq & 7)
            except IndexError:  # rare (amortised growth): cheaper than a length test
                stream.grow(seq >> 3)
                bits[seq >> 3] |= 1 << (seq & 7)
        else:
            stream.far.add(seq)
        if seq < stream.high:
            reordered += 1
        else:
            stream.high = seq
    return reordered


def _as_bytes(raw: bytes | str) -> bytes:
    # Same conversion as line.parse, so both paths classify a str line alike.
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)


def _bucket(latency_ns: int) -> int:
    if latency_ns < (1 << _BITS):
        return max(latency_ns, 0)
    shift = latency_ns.bit_length() - _BITS
    return _HALF * shift + (latency_ns >> shift)


def _bucket_value(index: int) -> float:
    """The middle of the bucket's range, in ns."""
    if index < (1 << _BITS):
        return float(index)
    shift = index // _HALF - 1
    mantissa = index % _HALF + _HALF
    return ((mantissa << shift) + ((mantissa + 1) << shift)) / 2


class Ledger:
    """The received side: a mutable accumulator inside a sink worker. Picklable."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id  # None: adopt the run id of the first valid line
        self.received_total = 0  # our lines, duplicates included
        self.foreign = 0  # valid lines of another run
        self.unparsable = 0  # not our line format at all
        self.reordered = 0  # arrivals below the highest seq already seen in their stream
        self.streams: dict[int, _Stream] = {}
        self.latency = array("q", bytes(8 * _BUCKETS))
        # First 17 bytes of a line -> its stream, or None for another run's stream.
        self._keys: dict[bytes, _Stream | None] = {}

    @property
    def distinct(self) -> int:
        return sum(int.from_bytes(s.bits, "little").bit_count() + len(s.far)
                   for s in self.streams.values())

    def add(self, line: bytes | str, recv_ns: int) -> None:
        self.add_many([line], recv_ns)

    def add_many(self, lines: list[bytes | str], recv_ns: int) -> None:
        if not self._add_clean(lines, recv_ns):
            self._add_each(lines, recv_ns)

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
            reordered = _add_seqs(streams, seqs)  # type: ignore[arg-type]
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
            seq = int(seq_digits)
            if seq < MAX_BITMAP_SEQ:
                bits = stream.bits
                try:
                    bits[seq >> 3] |= 1 << (seq & 7)
                except IndexError:  # rare (amortised growth): cheaper than a length test
                    stream.grow(seq >> 3)
                    bits[seq >> 3] |= 1 << (seq & 7)
            else:
                stream.far.add(seq)
            if seq < stream.high:
                reordered += 1
            else:
                stream.high = seq
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
            self.latency[_bucket(recv_ns - int(time_digits))] += count

    def _learn(self, data: bytes) -> _Stream | None | object:
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
            stream = self.streams[parsed.stream] = _Stream()
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
                ours = self.streams[number] = _Stream()
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
        """The latency at `quantile` (0..1) in ms, to ~1%; None when no line was received."""
        count = sum(self.latency)
        if count == 0:
            return None
        # round() first: 0.99 * 100 is 98.99999999999999 in floats, and the rank must be 99.
        rank = max(1, math.ceil(round(quantile * count, 6)))
        seen = 0
        for index, bucket_count in enumerate(self.latency):
            seen += bucket_count
            if seen >= rank:
                return _bucket_value(index) / 1e6
        return None  # unreachable: rank <= count


@dataclass(frozen=True)
class LostRange:
    stream: int
    first: int  # inclusive
    last: int  # inclusive


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


def _zero_runs(bits: bytes) -> Iterator[tuple[int, int]]:
    """(first, end) bit positions of each run of zero bits, end exclusive, in order."""
    start = end = -1
    for match in _RUNS.finditer(bits):
        first_byte, end_byte = match.span()
        value = bits[first_byte]
        if value == 0xFF:
            continue
        if value == 0:
            runs = [(first_byte * 8, end_byte * 8)]
        else:
            runs = [(first_byte * 8 + bit, first_byte * 8 + bit + 1)
                    for bit in range(8) if not value >> bit & 1]
        for run_first, run_end in runs:
            if run_first == end:
                end = run_end
                continue
            if start >= 0:
                yield start, end
            start, end = run_first, run_end
    if start >= 0:
        yield start, end


def _lost_ranges(stream: int, bits: bytearray, emitted: int) -> list[LostRange]:
    """Every seq in 0..emitted-1 whose bit is clear, as inclusive ranges."""
    size = (emitted + 7) // 8
    window = bytearray(bits[:size])
    window.extend(bytes(size - len(window)))
    if emitted % 8:
        window[-1] |= 0xFF << (emitted % 8) & 0xFF  # bits past the end are not lost
    return [LostRange(stream, first, end - 1) for first, end in _zero_runs(bytes(window))]


def _received_in_range(bits: bytearray, emitted: int) -> int:
    size = (emitted + 7) // 8
    value = int.from_bytes(bits[:size], "little") & ((1 << emitted) - 1)
    return value.bit_count()


def reconcile(ledger: Ledger, emitted: Sequence[int], stop_seq: Sequence[int]) -> LedgerReport:
    """Compare what the app emitted (its tally) with what the ledger received."""
    if len(stop_seq) != len(emitted):
        raise ValueError(f"{len(emitted)} emitted counts but {len(stop_seq)} stop seqs")
    if any(count > MAX_BITMAP_SEQ for count in emitted):
        raise ValueError(f"a stream emitted more than {MAX_BITMAP_SEQ} lines: not supported")
    distinct = unexpected = before = after = 0
    ranges: list[LostRange] = []
    for number in sorted(set(range(len(emitted))) | set(ledger.streams)):
        stream = ledger.streams.get(number) or _Stream()
        count = emitted[number] if number < len(emitted) else 0
        stop = stop_seq[number] if number < len(stop_seq) else NO_STOP
        inside = _received_in_range(stream.bits, count)
        distinct += inside
        # Seqs kept outside the bitmap are >= MAX_BITMAP_SEQ >= count: all unexpected.
        unexpected += (int.from_bytes(stream.bits, "little").bit_count() - inside
                       + len(stream.far))
        lost = _lost_ranges(number, stream.bits, count)
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
