"""Forward protocol v1 encoders (every mode), EventTime and acks; forward.py re-exports every
name here. Runs inside the fixture containers too (the builtin router): standard library + msgpack.

Client side (router output, tests, benchmarks)::

    encode_message(tag, time_ns, record, option=None, time_format="event")
    encode_forward(tag, entries, option=None, time_format="event")
    encode_packed(tag, entries, option=None, as_str=False, time_format="event")
    encode_compressed(tag, entries, option=None, members=1, time_format="event")
    ack_chunk(obj) -> chunk id or None    # for objects read back with Decoder.objects()

`entries` are (time_ns, record) pairs. time_format: "event" (EventTime as fixext8), "ext8"
(EventTime as ext 8, as some clients send it) or "int" (whole seconds).
"""

from __future__ import annotations

import contextlib
import gzip
import struct
from collections.abc import Iterable
from typing import Any

import msgpack

EVENT_TIME_CODE = 0
_EVENT_TIME = struct.Struct(">II")
_NS = 1_000_000_000
TIME_FORMATS = ("event", "ext8", "int")


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


def ack_chunk(obj: Any) -> Any:
    """The chunk id of an `{"ack": chunk}` reply, else None."""
    if type(obj) is dict:
        return obj.get("ack")
    return None
