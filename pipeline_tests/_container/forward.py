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
FrameError (its `kind` says which rule it broke); the decoder is unusable afterwards (close the
connection). A frame is accepted or rejected whole: after a FrameError, `out` and `chunks` hold
exactly the complete frames before the bad one. Limits per frame: max_frame_bytes (also of the
inflated entries), max_entries, max_objects (memory blocks its objects take). records() decodes at
most `step` records per call: `more` is then True; call records(b"", ...) again later. Call
`finish()` at EOF to raise FrameError when a partial message is left over. Decoder.first(data)
reads one object (the handshake's PING) and leaves the rest buffered for records()/batches().
"""

from __future__ import annotations

import sys
from typing import Any

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
from pipeline_tests._container.forward_entries import (  # noqa: F401
    _TIME_TYPES,
    KINDS,
    Batch,
    FrameError,
    Guard,
    _invalid,
    _option,
    check_time,
    event_time_ns,
    records_of,
    unpack_entries,
    unpacker,
)
from pipeline_tests._container.handshake import ClientHandshake, HandshakeError, ServerHandshake  # noqa: F401

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES", "EVENT_TIME_CODE", "MAX_INFLATE_RATIO", "TIME_FORMATS", "Batch",
    "KINDS", "ClientHandshake", "Decoder", "FrameError", "HandshakeError", "ServerHandshake",
    "ack_chunk", "ack_reply", "encode_compressed", "encode_forward", "encode_message",
    "encode_packed", "event_time", "event_time_ns", "pack", "pack_entries", "pack_time",
]

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
# Without max_objects: inflated PackedForward entries may be this many times larger than a frame.
MAX_INFLATE_RATIO = 16
SMALL = 64 * 1024  # a partial frame up to this size is estimated (1 object a byte), not measured
READ_PIECE = 256 * 1024  # bytes fed at once between two object checks
BLOCK_BYTES = 64  # what one memory block (a small object) is taken to cost


class Decoder:
    """Incremental Forward-protocol decoder for one connection (see the module docstring)."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, raw: bool = False,
                 max_entries: int | None = None, max_objects: int | None = None,
                 step: int | None = None) -> None:
        if max_frame_bytes < 64:
            raise ValueError("max_frame_bytes must be at least 64")
        self.max_frame_bytes = max_frame_bytes
        self.raw = raw
        self.max_entries, self.max_objects = max_entries, max_objects
        self.max_inflated = (max_frame_bytes if max_objects is not None
                             else max_frame_bytes * MAX_INFLATE_RATIO)
        self.step = step or (1 << 62)
        # raw: every msgpack str arrives as bytes (tags, keys, log lines): no UTF-8 decoding,
        # which is what a sink that slices bytes wants.
        self._str: type = bytes if raw else str
        self._chunk: Any = b"chunk" if raw else "chunk"
        # One feed is at most max_frame_bytes, on top of at most max_frame_bytes left over.
        self._unpacker = unpacker(2 * max_frame_bytes, raw, max_entries)
        self._fed = 0
        # Stream offset just past the last complete top-level object. Unpacker.tell() alone
        # cannot tell a complete message from a partial one: it counts bytes of a partly
        # parsed array as consumed.
        self._end = 0
        self.frames = 0  # Forward messages decoded (heartbeats not counted)
        self.more = False  # records() stopped after `step` records: call it again
        self._backlog: list[bytes] = []  # pieces of a read not fed yet (more)
        self._guard: Guard | None = None
        self._call_end = 0  # self._end when the current call began
        self.partial_blocks = 0  # memory blocks the partial frame's objects take (estimated)
        # sys.getallocatedblocks() when the call began or the last big frame in it ended (the
        # count walks the allocator's arenas: too dear to take after every small message)
        self._frame_mark = 0

    @property
    def pending(self) -> int:
        """Bytes of the partial frame (and of complete frames not decoded yet)."""
        return self._fed - self._end

    @property
    def held(self) -> int:
        """Estimated bytes of memory this decoder holds for frames not decoded yet."""
        return 2 * (self._fed - self._end) + BLOCK_BYTES * self.partial_blocks \
            + sum(map(len, self._backlog))

    def _feed(self, data: bytes) -> None:
        self._unpacker.feed(data)
        self._fed += len(data)

    def _check_pending(self) -> None:
        pending = self._fed - self._end
        if pending > self.max_frame_bytes:
            raise FrameError(f"a frame is larger than max_frame_bytes ({self.max_frame_bytes}): "
                             f"{pending} bytes buffered and it is still incomplete", "too_large")

    def _pieces(self, data: bytes) -> list[bytes] | tuple[bytes, ...]:
        step = min(self.max_frame_bytes, READ_PIECE)
        if self._backlog:
            pieces, self._backlog = self._backlog, []
            return pieces + ([data] if data else [])
        if len(data) <= step:
            return (data,)
        return [data[i:i + step] for i in range(0, len(data), step)]

    def _start_guard(self, data: bytes) -> None:
        self._call_end = self._end
        big = self._fed - self._end + len(data) > SMALL or self._backlog
        self._guard = (Guard(self.max_objects, self.partial_blocks)
                       if big and self.max_objects is not None else None)
        if self._guard is not None:
            self._frame_mark = self._guard.base + self.partial_blocks  # now

    def _account(self) -> None:
        """The partial frame's memory blocks: measured when it is big, else 1 per byte. Once a
        frame ended in this call, the blocks carried from earlier calls were its own."""
        pending, guard = self._fed - self._end, self._guard
        if not pending:
            self.partial_blocks = 0
        elif guard is None:
            self.partial_blocks = pending  # small: at most one object a byte
        elif self._end != self._call_end:
            # What was made since the last big frame ended (or the call began): the complete
            # frames' records handed out in this call are not the partial frame's, but those of
            # small frames after the mark are counted with it (at most `step` records).
            self.partial_blocks = max(0, sys.getallocatedblocks() - self._frame_mark)
        else:
            self.partial_blocks = max(0, guard.grown())  # includes what earlier calls carried
        self._guard = None

    def finish(self) -> None:
        """At EOF: raise FrameError when a message was cut short."""
        pending = self._fed - self._end
        if pending:
            raise FrameError(f"connection closed in the middle of a message ({pending} bytes)",
                             "truncated")

    def objects(self, data: bytes) -> list[Any]:
        """Every complete top-level msgpack object (nil included), unchecked."""
        out: list[Any] = []
        self._start_guard(data)
        for piece in self._pieces(data):
            self._feed(piece)
            tell = self._unpacker.tell
            try:
                for obj in self._unpacker:
                    out.append(obj)
                    self._end = tell()
            except Exception as exc:  # msgpack raises several types for garbage
                raise FrameError(f"invalid msgpack: {exc}",
                                 _invalid(exc).kind) from None
            self._check_pending()
            if self._guard is not None:
                self._guard.check()
        self._account()
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

    def records(self, data: bytes, out: list, chunks: list | None = None) -> list[Any]:
        """Append every record map in `data` to `out` and the chunk ids to acknowledge to
        `chunks` (send ack_reply(c) for each); return `chunks`."""
        if chunks is None:
            chunks = []
        self.more = False
        self._start_guard(data)
        pieces = self._pieces(data)
        for index, piece in enumerate(pieces):
            self._feed(piece)
            try:
                self._records(out, chunks, len(out) + self.step)
            except FrameError:
                raise
            except Exception as exc:
                raise _invalid(exc) from None
            if self.more:
                self._backlog = list(pieces[index + 1:])
                break
            self._check_pending()
            if self._guard is not None:
                self._guard.check()
        self._account()
        return chunks

    def _records(self, out: list, chunks: list, stop_at: int) -> None:
        # The sink's hot path. Docker's shape [tag, EventTime, record, {}] is tried first with
        # one unpacking assignment and identity type checks; anything else takes _record_other.
        # Nothing of a frame reaches `out` or `chunks` before the whole frame passed its checks.
        append = out.append
        tag_type, chunk_key = self._str, self._chunk
        frames, end = 0, self._end
        tell = self._unpacker.tell
        try:
            for msg in self._unpacker:
                frames += 1
                if msg.__class__ is list and len(msg) == 4:
                    tag, second, record, option = msg
                    if (tag.__class__ is tag_type and record.__class__ is dict
                            and option.__class__ is dict
                            and (second.__class__ is slice and second.start == 0
                                 and len(second.stop) == 8 or second.__class__ is int)):
                        append(record)
                        end = tell()
                        if option:
                            chunk = option.get(chunk_key)
                            if chunk is not None:
                                chunks.append(chunk)
                        continue
                if msg is None:
                    frames -= 1
                    end = tell()
                    continue
                option = self._record_other(msg, out)
                start, end = end, tell()
                if end - start > SMALL and self._guard is not None:
                    self._frame_mark = sys.getallocatedblocks()
                if option is not None:
                    chunk = option.get(chunk_key)
                    if chunk is not None:
                        chunks.append(chunk)
                if len(out) >= stop_at:
                    self.more = True
                    break
        except Exception:
            frames -= 1
            raise
        finally:
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
            check_time(second)
            option = _option(msg[3] if n == 4 else None)
            record = msg[2]
            if type(record) is dict:
                out.append(record)
            elif record is not None:
                raise FrameError(f"record must be a map, got {type(record).__name__}")
            return option
        if n == 4:
            raise FrameError("Forward/PackedForward mode has 2 or 3 elements")
        option = _option(msg[2] if n == 3 else None)
        out.extend(self._entries(second, option))
        return option

    def _entries(self, second: Any, option: dict | None) -> list[Any]:
        if type(second) is list:
            return records_of(second)
        return records_of(self._raw_entries(second, option))

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
            time = entry[0]
            if type(time) is list and len(time) == 2 and type(time[1]) is dict:
                time = time[0]  # Fluent Bit 2.1+: [[time, {metadata}], record], as records()
            entries.append((event_time_ns(time), entry[1]))
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
        if compressed in ("text", b"text"):
            compressed = None
        elif compressed not in (None, "gzip", b"gzip"):
            raise FrameError(f"unsupported compression {compressed!r} (only gzip is known)")
        guard = self._guard
        if guard is None and self.max_objects is not None:
            guard = self._guard = Guard(self.max_objects, self.partial_blocks)
        return unpack_entries(second, compressed is not None, self.raw, self.max_inflated,
                              self.max_entries, guard)

