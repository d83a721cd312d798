"""Fluentd Forward protocol v1: an incremental decoder, encoders for every mode, acks, handshake.

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
raise FrameError when a partial message is left over.

Client side (router output, tests, benchmarks)::

    encode_message(tag, time_ns, record, option=None, time_format="event")
    encode_forward(tag, entries, option=None, time_format="event")
    encode_packed(tag, entries, option=None, as_str=False, time_format="event")
    encode_compressed(tag, entries, option=None, members=1, time_format="event")
    ack_chunk(obj) -> chunk id or None    # for objects read back with Decoder.objects()

`entries` are (time_ns, record) pairs. time_format: "event" (EventTime as fixext8), "ext8"
(EventTime as ext 8, as some clients send it) or "int" (whole seconds).

Handshake (fluentd <security> shared_key, sha512 hex digests): ServerHandshake.helo() and
.answer(ping); ClientHandshake.ping(helo) and .check_pong(pong). Decoder.first(data) reads one
object (the PING) and leaves the rest buffered for records()/batches().
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import struct
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgpack

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
# Decompressed PackedForward payloads may be this many times larger than a frame (zip bombs).
MAX_INFLATE_RATIO = 16
EVENT_TIME_CODE = 0
_EVENT_TIME = struct.Struct(">II")
_NS = 1_000_000_000
TIME_FORMATS = ("event", "ext8", "int")


class FrameError(ValueError):
    """Input that is not Forward protocol; the connection that sent it must be closed."""


class HandshakeError(ValueError):
    """The peer failed the shared_key handshake (or sent something else instead)."""


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


def ack_chunk(obj: Any) -> Any:
    """The chunk id of an `{"ack": chunk}` reply, else None."""
    if type(obj) is dict:
        return obj.get("ack")
    return None


def _check_time(value: Any) -> None:
    t = type(value)
    if t is int or t is float or (t is slice and value.start == EVENT_TIME_CODE):
        return
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


# ---- encoders -------------------------------------------------------------------------------

def _default(obj: Any) -> Any:
    if type(obj) is slice:  # an ext value as this module decodes it: round-trip it
        return msgpack.ExtType(obj.start, obj.stop)
    raise TypeError(f"cannot serialize {type(obj).__name__}")


_packer = msgpack.Packer(use_bin_type=True, default=_default)


def pack(obj: Any) -> bytes:
    return _packer.pack(obj)


def event_time(time_ns: int) -> msgpack.ExtType:
    """EventTime as msgpack packs it (fixext8)."""
    seconds, nanos = divmod(time_ns, _NS)
    return msgpack.ExtType(EVENT_TIME_CODE, _EVENT_TIME.pack(seconds, nanos))


def pack_time(time_ns: int, time_format: str = "event") -> bytes:
    if time_format == "event":
        return _packer.pack(event_time(time_ns))
    if time_format == "ext8":
        seconds, nanos = divmod(time_ns, _NS)
        return b"\xc7\x08\x00" + _EVENT_TIME.pack(seconds, nanos)
    if time_format == "int":
        return _packer.pack(time_ns // _NS)
    raise ValueError(f"time_format must be one of {TIME_FORMATS}, got {time_format!r}")


def _array(*packed: bytes) -> bytes:
    return _packer.pack_array_header(len(packed)) + b"".join(packed)


def pack_entries(entries: Iterable[tuple[int, Any]], time_format: str = "event") -> bytes:
    """The concatenated [time, record] entries of a PackedForward message."""
    return b"".join([_array(pack_time(t, time_format), _packer.pack(r)) for t, r in entries])


def _with_option(body: list[bytes], option: dict | None) -> bytes:
    if option is not None:
        body.append(_packer.pack(option))
    return _array(*body)


def encode_message(tag: str, time_ns: int, record: Any, option: dict | None = None,
                   time_format: str = "event") -> bytes:
    """Message mode: [tag, time, record, option?] (what Docker's fluentd driver sends)."""
    return _with_option([_packer.pack(tag), pack_time(time_ns, time_format),
                         _packer.pack(record)], option)


def encode_forward(tag: str, entries: Iterable[tuple[int, Any]], option: dict | None = None,
                   time_format: str = "event") -> bytes:
    """Forward mode: [tag, [[time, record], ...], option?]."""
    items = [_array(pack_time(t, time_format), _packer.pack(r)) for t, r in entries]
    return _with_option([_packer.pack(tag), _packer.pack_array_header(len(items))
                         + b"".join(items)], option)


def encode_packed(tag: str, entries: Iterable[tuple[int, Any]], option: dict | None = None,
                  as_str: bool = False, time_format: str = "event") -> bytes:
    """PackedForward: [tag, bin (or str, as old clients send it) of packed entries, option?]."""
    blob = pack_entries(entries, time_format)
    head = _str_header(len(blob)) if as_str else _bin_header(len(blob))
    return _with_option([_packer.pack(tag), head + blob], option)


def _bin_header(n: int) -> bytes:
    if n < 256:
        return b"\xc4" + bytes([n])
    if n < 65536:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def _str_header(n: int) -> bytes:
    if n < 32:
        return bytes([0xa0 | n])
    if n < 256:
        return b"\xd9" + bytes([n])
    if n < 65536:
        return b"\xda" + n.to_bytes(2, "big")
    return b"\xdb" + n.to_bytes(4, "big")


def encode_compressed(tag: str, entries: Iterable[tuple[int, Any]], option: dict | None = None,
                      members: int = 1, time_format: str = "event") -> bytes:
    """CompressedPackedForward: gzip of the packed entries, split into `members` gzip members."""
    items = [_array(pack_time(t, time_format), _packer.pack(r)) for t, r in entries]
    members = max(1, min(members, len(items) or 1))
    size = -(-len(items) // members) if items else 0
    groups = [items[i:i + size] for i in range(0, len(items), size)] if items else [[]]
    blob = b"".join(gzip.compress(b"".join(g), mtime=0) for g in groups)
    merged = dict(option or {})
    merged["compressed"] = "gzip"
    return _with_option([_packer.pack(tag), _bin_header(len(blob)) + blob], merged)


def ack_reply(chunk: Any) -> bytes:
    """The server's answer to an option carrying `chunk`."""
    if type(chunk) is bytes:
        # A raw decoder cannot tell str from bin; clients send chunk ids as (base64) str and
        # some compare the reply's type too, so a UTF-8 id goes back as str.
        with contextlib.suppress(UnicodeDecodeError):
            chunk = chunk.decode("utf-8")
    return _packer.pack({"ack": chunk})


# ---- shared_key handshake ---------------------------------------------------------------------

def _b(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8", "surrogateescape")
    raise HandshakeError(f"expected a string in the handshake, got {type(value).__name__}")


def _digest(*parts: Any) -> str:
    h = hashlib.sha512()
    for part in parts:
        h.update(_b(part))
    return h.hexdigest()


class ServerHandshake:
    """Server side: send helo(), read the client's PING, send answer()[0]; close unless accepted."""

    def __init__(self, shared_key: str, hostname: str = "pipeline-tests-sink",
                 nonce: bytes | None = None) -> None:
        self.shared_key = shared_key
        self.hostname = hostname
        self.nonce = nonce if nonce is not None else os.urandom(16)

    def helo(self) -> bytes:
        # ['HELO', {nonce, auth, keepalive}]; auth '' = no username/password required.
        return pack(["HELO", {"nonce": self.nonce, "auth": b"", "keepalive": True}])

    def answer(self, ping: Any) -> tuple[bytes, bool]:
        """The PONG to send, and whether the client proved it knows the shared key."""
        reason = self._check(ping)
        if reason:
            return pack(["PONG", False, reason, "", ""]), False
        salt = ping[2]
        digest = _digest(salt, self.hostname, self.nonce, self.shared_key)
        return pack(["PONG", True, "", self.hostname, digest]), True

    def _check(self, ping: Any) -> str:
        # ['PING', hostname, salt, sha512_hex(salt + hostname + nonce + key), user, pass_digest]
        if type(ping) is not list or len(ping) != 6 or ping[0] not in ("PING", b"PING"):
            return "invalid ping message"
        try:
            expected = _digest(ping[2], ping[1], self.nonce, self.shared_key)
        except HandshakeError:
            return "invalid ping message"
        if ping[3] not in (expected, expected.encode()):
            return "shared_key mismatch"
        return ""


class ClientHandshake:
    """Client side: read HELO, send ping(helo), read PONG, check_pong(pong) (raises on refusal)."""

    def __init__(self, shared_key: str, hostname: str = "pipeline-tests",
                 salt: bytes | None = None) -> None:
        self.shared_key = shared_key
        self.hostname = hostname
        self.salt = salt if salt is not None else os.urandom(16)
        self._nonce = b""

    def ping(self, helo: Any) -> bytes:
        if type(helo) is not list or len(helo) != 2 or helo[0] not in ("HELO", b"HELO") \
                or type(helo[1]) is not dict:
            raise HandshakeError(f"expected ['HELO', {{nonce, ...}}] from the server, got {helo!r}")
        nonce = helo[1].get("nonce", helo[1].get(b"nonce"))
        if nonce is None:
            raise HandshakeError(f"the server's HELO has no nonce: {helo!r}")
        self._nonce = _b(nonce)
        digest = _digest(self.salt, self.hostname, self._nonce, self.shared_key)
        return pack(["PING", self.hostname, self.salt, digest, "", ""])

    def check_pong(self, pong: Any) -> None:
        if type(pong) is not list or len(pong) != 5 or pong[0] not in ("PONG", b"PONG"):
            raise HandshakeError(f"expected ['PONG', ...] from the server, got {pong!r}")
        if pong[1] is not True:
            raise HandshakeError(f"the server refused the handshake: {pong[2]}")
        expected = _digest(self.salt, pong[3], self._nonce, self.shared_key)
        if pong[4] not in (expected, expected.encode()):
            raise HandshakeError("the server's PONG digest does not match: it has another key")
