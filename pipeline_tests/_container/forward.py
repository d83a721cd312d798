"""Fluentd Forward protocol v1: an incremental decoder; encoders, acks and the handshake are
re-exported from forward_encode.py and handshake.py, so callers import every name from here.

Runs inside the fixture containers too (the builtin router): standard library + msgpack >= 1.0.3.

Server side (sink, router input)::

    dec = Decoder(max_frame_bytes=8 << 20, raw=False)   # raw=True: every str arrives as bytes
    chunks = dec.records(data, out)   # hot path: appends every record map to `out`,
                                      # returns the chunk ids to acknowledge: send ack_reply(c)
    batches = dec.batches(data)       # general path: [Batch(tag, [(time_ns, record)...], option)]
    objs = dec.objects(data)          # raw top-level objects (handshake PING, client-side replies)

Every method takes the bytes of one read (any size, any split point); incomplete trailing bytes wait
for the next call. A heartbeat (nil) yields nothing. Malformed, oversized or truncated input raises
FrameError; the decoder is unusable afterwards (close the connection). Call `finish()` at EOF to
raise FrameError when a partial message is left over. Decoder.first(data) reads one object (the
handshake's PING) and leaves the rest buffered for records()/batches().
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgpack

# Encoders and the handshake live in their own modules; their names stay importable from here
# (the builtin router and the tests import them from forward). The image context must hold them.
from pipeline_tests._container.forward_encode import (  # noqa: F401
    _EVENT_TIME,
    _NS,
    EVENT_TIME_CODE,
    TIME_FORMATS,
    ack_chunk,
    ack_reply,
    encode_compressed,
    encode_forward,
    encode_message,
    encode_packed,
    event_time,
    pack,
    pack_entries,
    pack_time,
)
from pipeline_tests._container.handshake import ClientHandshake, HandshakeError, ServerHandshake  # noqa: F401

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES", "EVENT_TIME_CODE", "MAX_INFLATE_RATIO", "TIME_FORMATS", "Batch",
    "ClientHandshake", "Decoder", "FrameError", "HandshakeError", "ServerHandshake", "ack_chunk",
    "ack_reply", "encode_compressed", "encode_forward", "encode_message", "encode_packed",
    "event_time", "event_time_ns", "pack", "pack_entries", "pack_time",
]

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
# Decompressed PackedForward payloads may be this many times larger than a frame (zip bombs).
MAX_INFLATE_RATIO = 16


class FrameError(ValueError):
    """Input that is not Forward protocol; the connection that sent it must be closed."""


class Batch(NamedTuple):
    tag: str
    entries: list[tuple[int, Any]]  # (time_ns, record)
    option: dict | None


# msgpack.ExtType's Python-level constructor costs more than decoding the rest of a Docker event;
# slice() is a C constructor taking the same (code, data) pair, so ext values arrive as slices
# and are converted only when a time is actually needed.
_EXT_HOOK = slice


_TIME_TYPES = frozenset((slice, int, float))


def _unpacker(max_buffer: int, raw: bool = False) -> msgpack.Unpacker:
    # surrogateescape: old clients send PackedForward entries as a msgpack str of binary data.
    return msgpack.Unpacker(raw=raw, ext_hook=_EXT_HOOK, unicode_errors="surrogateescape",
                            strict_map_key=False, max_buffer_size=max_buffer)


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
    raise FrameError(f"event time must be an integer or EventTime (ext type 0), got {value!r}")


class Decoder:
    """Incremental Forward-protocol decoder for one connection (see the module docstring)."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, raw: bool = False) -> None:
        if max_frame_bytes < 64:
            raise ValueError("max_frame_bytes must be at least 64")
        self.max_frame_bytes = max_frame_bytes
        self.raw = raw
        # raw: every msgpack str arrives as bytes (tags, keys, log lines): no UTF-8 decoding,
        # which is what a sink that slices bytes wants.
        self._str: type = bytes if raw else str
        self._chunk: Any = b"chunk" if raw else "chunk"
        # One feed is at most max_frame_bytes, on top of at most max_frame_bytes left over.
        self._unpacker = _unpacker(2 * max_frame_bytes, raw)
        self._fed = 0
        # Stream offset just past the last complete top-level object. Unpacker.tell() alone
        # cannot tell a complete message from a partial one: it counts bytes of a partly
        # parsed array as consumed.
        self._end = 0
        self.frames = 0  # Forward messages decoded (heartbeats not counted)

    def _feed(self, data: bytes) -> None:
        self._unpacker.feed(data)
        self._fed += len(data)

    def _check_pending(self) -> None:
        pending = self._fed - self._end
        if pending > self.max_frame_bytes:
            raise FrameError(f"a frame is larger than max_frame_bytes ({self.max_frame_bytes}): "
                             f"{pending} bytes buffered and it is still incomplete")

    def _pieces(self, data: bytes) -> Iterable[bytes]:
        step = self.max_frame_bytes
        if len(data) <= step:
            return (data,)
        return (data[i:i + step] for i in range(0, len(data), step))

    def finish(self) -> None:
        """At EOF: raise FrameError when a message was cut short."""
        pending = self._fed - self._end
        if pending:
            raise FrameError(f"connection closed in the middle of a message ({pending} bytes)")

    def objects(self, data: bytes) -> list[Any]:
        """Every complete top-level msgpack object (nil included), unchecked."""
        out: list[Any] = []
        for piece in self._pieces(data):
            self._feed(piece)
            tell = self._unpacker.tell
            try:
                for obj in self._unpacker:
                    out.append(obj)
                    self._end = tell()
            except Exception as exc:  # msgpack raises several types for garbage
                raise FrameError(f"invalid msgpack: {exc}") from None
            self._check_pending()
        return out

    def first(self, data: bytes) -> tuple[bool, Any]:
        """(True, the next complete object) or (False, None); later bytes stay buffered."""
        try:
            self._feed(data)
            obj = self._unpacker.unpack()
            self._end = self._unpacker.tell()
            return True, obj
        except msgpack.OutOfData:
            self._check_pending()
            return False, None
        except Exception as exc:
            raise FrameError(f"invalid msgpack: {exc}") from None

    def records(self, data: bytes, out: list) -> list[Any]:
        """Append every record map in `data` to `out`; return the chunk ids to acknowledge."""
        chunks: list[Any] = []
        for piece in self._pieces(data):
            self._feed(piece)
            try:
                self._records(out, chunks)
            except FrameError:
                raise
            except Exception as exc:
                raise FrameError(f"invalid Forward message: {type(exc).__name__}: {exc}") from None
            self._check_pending()
        return chunks

    def _records(self, out: list, chunks: list) -> None:
        # The sink's hot path. Docker's shape [tag, EventTime, record, {}] is tried first with
        # one unpacking assignment and identity type checks; anything else takes _record_other.
        append = out.append
        tag_type, chunk_key = self._str, self._chunk
        frames, end = 0, self._end
        tell = self._unpacker.tell
        for msg in self._unpacker:
            end = tell()
            frames += 1
            if msg.__class__ is list and len(msg) == 4:
                tag, second, record, option = msg
                if (tag.__class__ is tag_type and record.__class__ is dict
                        and option.__class__ is dict and second.__class__ in _TIME_TYPES):
                    append(record)
                    if option:
                        chunk = option.get(chunk_key)
                        if chunk is not None:
                            chunks.append(chunk)
                    continue
            if msg is None:
                frames -= 1
                continue
            option = self._record_other(msg, out)
            if option is not None:
                if option.__class__ is not dict:
                    raise FrameError(f"option must be a map, got {type(option).__name__}")
                chunk = option.get(chunk_key)
                if chunk is not None:
                    chunks.append(chunk)
        self.frames += frames
        self._end = end

    def _record_other(self, msg: Any, out: list) -> Any:
        """Any message but a plain Message-mode one: append its records, return its option."""
        if type(msg) is not list:
            raise FrameError(f"expected a Forward message (array), got {type(msg).__name__}")
        n = len(msg)
        if n < 2 or n > 4 or type(msg[0]) is not self._str:
            raise FrameError("expected [tag (string), time|entries, ...]")
        second = msg[1]
        if type(second) in _TIME_TYPES:  # Message mode
            if n < 3:
                raise FrameError("Message mode needs [tag, time, record, option?]")
            record = msg[2]
            if type(record) is dict:
                out.append(record)
            elif record is not None:
                raise FrameError(f"record must be a map, got {type(record).__name__}")
            return msg[3] if n == 4 else None
        if n == 4:
            raise FrameError("Forward/PackedForward mode has 2 or 3 elements")
        option = msg[2] if n == 3 else None
        out.extend(self._entries(second, option))
        return option

    def _entries(self, second: Any, option: dict | None) -> list[Any]:
        if type(second) is list:
            return _records_of(second)
        return _records_of(self._raw_entries(second, option))

    def batches(self, data: bytes) -> list[Batch]:
        """Every message as Batch(tag, [(time_ns, record)...], option); nil records dropped."""
        out: list[Batch] = []
        for msg in self.objects(data):
            if msg is None:
                continue
            if type(msg) is not list or not 2 <= len(msg) <= 4 or type(msg[0]) is not self._str:
                raise FrameError("expected a Forward message [tag (string), ...]")
            self.frames += 1
            out.append(self._batch(msg))
        return out

    def _batch(self, msg: list) -> Batch:
        second = msg[1]
        if type(second) in _TIME_TYPES:
            if len(msg) < 3:
                raise FrameError("Message mode needs [tag, time, record, option?]")
            option = msg[3] if len(msg) == 4 else None
            raw = [[second, msg[2]]]
        else:
            if len(msg) == 4:
                raise FrameError("Forward/PackedForward mode has 2 or 3 elements")
            option = msg[2] if len(msg) == 3 else None
            raw = self._raw_entries(second, option)
        if option is not None and type(option) is not dict:
            raise FrameError(f"option must be a map, got {type(option).__name__}")
        entries = []
        for entry in raw:
            if type(entry) is not list or len(entry) != 2:
                raise FrameError("each entry must be [time, record]")
            if entry[1] is None:
                continue
            if type(entry[1]) is not dict:
                raise FrameError(f"record must be a map, got {type(entry[1]).__name__}")
            entries.append((event_time_ns(entry[0]), entry[1]))
        return Batch(msg[0], entries, option)

    def _raw_entries(self, second: Any, option: Any) -> list[Any]:
        if type(second) is list:
            return second
        if type(second) is str:
            second = second.encode("utf-8", "surrogateescape")
        elif type(second) is not bytes:
            raise FrameError(f"entries must be an array, bin or str, got {type(second).__name__}")
        compressed = None
        if type(option) is dict:
            compressed = option.get(b"compressed" if self.raw else "compressed")
        if compressed in ("gzip", b"gzip"):
            second = _gunzip(second, self.max_frame_bytes * MAX_INFLATE_RATIO)
        elif compressed not in (None, "text", b"text"):
            raise FrameError(f"unsupported compression {compressed!r} (only gzip is known)")
        return _unpack_entries(second, len(second), self.raw)


def _records_of(entries: list) -> list[Any]:
    try:
        records = [e[1] for e in entries if len(e) == 2 and e[1] is not None]
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


def _unpack_entries(data: bytes, size: int, raw: bool) -> list[Any]:
    unpacker = _unpacker(max(size, 1024), raw)
    unpacker.feed(data)
    tell, end, entries = unpacker.tell, 0, []
    for entry in unpacker:
        entries.append(entry)
        end = tell()
    if end != size:
        raise FrameError("packed entries end in the middle of an entry")
    return entries


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress one or several concatenated gzip members, refusing more than `limit` bytes."""
    parts: list[bytes] = []
    total = 0
    while data:
        inflater = zlib.decompressobj(wbits=31)
        try:
            part = inflater.decompress(data, limit - total + 1)
        except zlib.error as exc:
            raise FrameError(f"invalid gzip data in CompressedPackedForward: {exc}") from None
        total += len(part)
        if total > limit or inflater.unconsumed_tail:
            raise FrameError(f"decompressed entries exceed {limit} bytes")
        if not inflater.eof:
            raise FrameError("gzip member in CompressedPackedForward is truncated")
        parts.append(part)
        data = inflater.unused_data
    return b"".join(parts)
