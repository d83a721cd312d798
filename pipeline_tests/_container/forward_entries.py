"""Per-frame limits of the Forward decoder (forward.py re-exports these names): FrameError with the
kind of rejection, EventTime checks, a bounded streaming gunzip + unpack of PackedForward entries,
and the object guard (memory blocks a frame's objects take, sys.getallocatedblocks()).

Runs inside the fixture containers too (the builtin router): standard library + msgpack >= 1.0.3.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import msgpack

from pipeline_tests._container.forward_encode import _EVENT_TIME, _NS, EVENT_TIME_CODE

CHECK_BYTES = 1024 * 1024  # inflated bytes between two object counts
PIECE = 64 * 1024  # bytes inflated (or fed) at once between two object checks
# Rejection kinds (FrameError.kind), each counted on its own in the sink's stats.
KINDS = ("malformed", "event_time", "too_large", "entries", "expansion", "truncated")
_START, _STOP, _FIRST = attrgetter("start"), attrgetter("stop"), itemgetter(0)
_flat = chain.from_iterable
_PLAIN_TIMES = frozenset((int, float))
_TIME_TYPES = frozenset((slice, int, float))
_SLICES, _EIGHT = frozenset((slice,)), frozenset((8,))


class FrameError(ValueError):
    """Input that is not Forward protocol; the connection that sent it must be closed."""

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


class Batch(NamedTuple):
    tag: str
    entries: list[tuple[int, Any]]  # (time_ns, record)
    option: dict | None


def event_time_ns(value: Any) -> int:
    """A decoded Forward time (int seconds, EventTime ext, or float) in ns since the epoch."""
    if type(value) is int:
        return value * _NS
    if type(value) is slice and value.start == EVENT_TIME_CODE and len(value.stop) == 8:
        seconds, nanos = _EVENT_TIME.unpack(value.stop)
        return seconds * _NS + nanos
    if isinstance(value, msgpack.ExtType) and value.code == EVENT_TIME_CODE \
            and len(value.data) == 8:
        seconds, nanos = _EVENT_TIME.unpack(value.data)
        return seconds * _NS + nanos
    if type(value) is float:
        return int(value * _NS)
    raise bad_time(value)


def _invalid(exc: Exception) -> FrameError:
    text = str(exc)
    kind = "entries" if "max_array_len" in text or "max_map_len" in text else "malformed"
    return FrameError(f"invalid Forward message: {type(exc).__name__}: {text}", kind)


def unpacker(max_buffer: int, raw: bool = False, max_len: int | None = None,
             read_size: int = 0) -> msgpack.Unpacker:
    # surrogateescape: old clients send PackedForward entries as a msgpack str of binary data.
    # ext values arrive as slice(code, data): a C constructor, unlike msgpack.ExtType's.
    # read_size: the buffer it starts with (0: 1 MiB, or max_buffer when smaller); it grows.
    limits = {} if max_len is None else {"max_array_len": max_len, "max_map_len": max_len}
    return msgpack.Unpacker(raw=raw, ext_hook=slice, unicode_errors="surrogateescape",
                            strict_map_key=False, max_buffer_size=max_buffer,
                            read_size=min(read_size, max_buffer), **limits)


def bad_time(value: Any) -> FrameError:
    if type(value) is slice:
        return FrameError(f"event time must be EventTime (ext type 0 of exactly 8 bytes), got ext "
                          f"type {value.start} of {len(value.stop)} bytes", "event_time")
    return FrameError(f"event time must be an integer or EventTime (ext type 0), got "
                      f"{type(value).__name__}", "event_time")


def check_time(value: Any) -> None:
    kind = value.__class__
    if kind is slice and value.start == 0 and len(value.stop) == 8 or kind in _PLAIN_TIMES:
        return
    if kind is list and len(value) == 2 and value[1].__class__ is dict:
        # Fluent Bit 2.1+ sends an entry's time with its metadata: [[time, {metadata}], record].
        check_time(value[0])
        return
    raise bad_time(value)


def check_times(times: Sequence) -> None:
    """Every entry's time is an int, a float or an EventTime of exactly 8 bytes, alone or
    with Fluent Bit's metadata map ([time, {...}]). Checked a column at a time (C loops); only
    a column that fails is checked value by value, for the exact error."""
    try:  # only a slice (an ext) has .start: all EventTimes, the common case, in two passes
        if not any(map(_START, times)) \
                and list(map(len, map(_STOP, times))).count(8) == len(times):
            return
    except AttributeError:
        pass
    kinds = set(map(type, times))
    if kinds <= _PLAIN_TIMES:
        return
    slices = times if kinds == _SLICES else [t for t in times if t.__class__ is slice]
    if kinds - _TIME_TYPES or any(map(_START, slices)) \
            or set(map(len, map(_STOP, slices))) != _EIGHT:
        for value in times:
            check_time(value)


class Guard:
    """The memory blocks (objects) created since it started; FrameError past `limit`."""

    __slots__ = ("base", "limit")

    def __init__(self, limit: int, carried: int = 0) -> None:
        self.limit = limit
        self.base = sys.getallocatedblocks() - carried

    def grown(self) -> int:
        return sys.getallocatedblocks() - self.base

    def check(self) -> None:
        if self.grown() > self.limit:
            raise FrameError(f"a frame expands to more than {self.limit:,} objects in memory",
                             "expansion")


def records_of(entries: list) -> list[Any]:
    """The record maps of [time, record] entries (nil records dropped), times checked. All
    [time, {record}], the common case, is checked a column at a time, in C loops."""
    count = len(entries)
    try:
        if list(map(len, entries)).count(2) != count:
            return _records_one_by_one(entries)
        flat = list(_flat(entries))  # time, record, time, record...
    except TypeError:  # an entry without a length
        return _records_one_by_one(entries)
    records = flat[1::2]
    if list(map(type, records)).count(dict) != count:  # what a 2-item non-list cannot pass
        return _records_one_by_one(entries)
    check_times(flat[::2])
    return records


def _records_one_by_one(entries: list) -> list[Any]:
    """records_of for entries that are not all [time, {record}]: nil records, or an error."""
    try:
        records = [e[1] for e in entries if len(e) == 2 and e[1] is not None]
        check_times(list(map(_FIRST, entries)))
    except (TypeError, IndexError, KeyError):
        raise FrameError("each entry must be [time, record]") from None
    if len(records) != len(entries):
        for e in entries:
            if type(e) is not list or len(e) != 2:
                raise FrameError("each entry must be [time, record]")
    for record in records:
        if type(record) is not dict:
            raise FrameError(f"record must be a map, got {type(record).__name__}")
    return records


def _slices(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    return (view[i:i + PIECE] for i in range(0, len(data), PIECE))


def unpack_entries(data: bytes, compressed: bool, raw: bool, max_bytes: int,
                   max_entries: int | None, guard: Guard | None) -> list[Any]:
    """The entries of a PackedForward blob (gzip members when `compressed`), inflated and unpacked
    a piece at a time: at most `max_bytes` inflated, `max_entries` entries, guard's objects."""
    # The buffer holds a piece and the partial entry before it: no 1 MiB one per frame.
    unpack = unpacker(max_bytes + PIECE, raw, max_entries, 2 * PIECE)
    size, checked = 0, 0
    entries: list[Any] = []
    for piece in (_inflate(data, max_bytes) if compressed else _slices(data)):
        size += len(piece)
        unpack.feed(piece)
        entries.extend(unpack)  # every complete entry, in C
        if max_entries is not None and len(entries) > max_entries:
            raise FrameError(f"a frame holds more than {max_entries:,} entries", "entries")
        # The object count walks the allocator's arenas (~0.1 ms on a big heap): once a MiB.
        if guard is not None and size - checked >= CHECK_BYTES:
            guard.check()
            checked = size
    if guard is not None:
        guard.check()
    if not _ends_whole(unpack):
        raise FrameError("packed entries end in the middle of an entry")
    return entries


def _ends_whole(unpack: msgpack.Unpacker) -> bool:
    """Whether the unpacker stopped between two objects, not inside one: a nil fed after the
    last complete object comes out as None; one in the middle of an object is taken into it (its
    tell() cannot say: it counts the bytes of a partly unpacked object as read)."""
    unpack.feed(b"\xc0")
    try:
        return unpack.unpack() is None
    except Exception:  # noqa: BLE001 (still incomplete, or completed into garbage)
        return False


def _inflate(data: bytes, limit: int) -> Iterator[bytes]:
    """Decompress one or several concatenated gzip members, PIECE bytes at a time, refusing more
    than `limit` bytes in all."""
    total = 0
    while data:
        inflater = zlib.decompressobj(wbits=31)
        pending = data
        while not inflater.eof:
            try:
                part = inflater.decompress(pending, PIECE)
            except zlib.error as exc:
                raise FrameError(f"invalid gzip data in CompressedPackedForward: {exc}") from None
            total += len(part)
            if total > limit:
                raise FrameError(f"decompressed entries exceed {limit} bytes", "expansion")
            pending = inflater.unconsumed_tail
            if not part and not pending and not inflater.eof:
                raise FrameError("gzip member in CompressedPackedForward is truncated", "truncated")
            if part:
                yield part
        data = inflater.unused_data


def _option(option: Any) -> dict | None:
    if option is not None and option.__class__ is not dict:
        raise FrameError(f"option must be a map, got {type(option).__name__}")
    return option
