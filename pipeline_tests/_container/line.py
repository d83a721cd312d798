"""The identity every log line carries, in a fixed-width prefix the sink parses by slicing.

    pt:<run id, 8 hex>:<stream, 4 digits>:<seq, 12 digits>:<emit time ns, 19 digits>:<padding>

Lines of two runs can never be confused because the run id is part of every line. This module
runs inside the fixture containers too, so it imports nothing beyond the standard library.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

MAGIC = b"pt:"
PREFIX_LEN = 50
MIN_LINE_SIZE = PREFIX_LEN + 1
# Docker's fluentd driver splits lines over 16 KiB into partial records; stay below that.
MAX_LINE_SIZE = 16 * 1024 - 1

_RUN = slice(3, 11)
_STREAM = slice(12, 16)
_SEQ = slice(17, 29)
_TIME = slice(30, 49)
_BLOCK = 100
_LOW_DIGITS = [b"%02d" % low for low in range(_BLOCK)]


@dataclass(frozen=True)
class LineId:
    run_id: str
    stream: int
    seq: int
    emit_ns: int


def new_run_id() -> str:
    return secrets.token_hex(4)


def encode(run_id: str, stream: int, seq: int, emit_ns: int, size: int) -> bytes:
    """One line of exactly `size` bytes, without the newline."""
    head = b"pt:%s:%04d:%012d:%019d:" % (run_id.encode(), stream, seq, emit_ns)
    return head + b"x" * (size - PREFIX_LEN)


def encode_batch(run_id: str, stream: int, first_seq: int, count: int, emit_ns: int,
                 size: int) -> bytes:
    """`count` consecutive newline-terminated lines sharing one emit time (fast path for floods)."""
    head = b"pt:%s:%04d:" % (run_id.encode(), stream)
    tail = b":%019d:%s\n" % (emit_ns, b"x" * (size - PREFIX_LEN))
    # Lines of one block of 100 seqs differ only in the last two seq digits, so a block is one
    # bytes.join over preformatted digit pairs: no per-line formatting, which made this the
    # flood's bottleneck (about 2.4M lines/s before, over 10M now).
    blocks = []
    seq, end = first_seq, first_seq + count
    while seq < end:
        block, low = divmod(seq, _BLOCK)
        stop = min(end - block * _BLOCK, _BLOCK)
        start = head + b"%010d" % block
        blocks.append(start + (tail + start).join(_LOW_DIGITS[low:stop]) + tail)
        seq += stop - low
    return blocks[0] if len(blocks) == 1 else b"".join(blocks)


def parse(line: bytes | str) -> LineId | None:
    """The id in `line`, or None when it is not a pipeline-tests line."""
    if isinstance(line, str):
        line = line.encode("utf-8", "replace")
    # int() alone would accept signs, spaces and underscores ("-00000000001" as seq -1), so the
    # separators and the digits are checked explicitly: a line parses only in its exact layout.
    if (len(line) < PREFIX_LEN or line[:3] != MAGIC or line[11:12] != b":"
            or line[16:17] != b":" or line[29:30] != b":" or line[49:50] != b":"):
        return None
    stream, seq, emit_ns = line[_STREAM], line[_SEQ], line[_TIME]
    if not (stream.isdigit() and seq.isdigit() and emit_ns.isdigit()):
        return None
    try:
        run_id = line[_RUN].decode("ascii")
    except UnicodeDecodeError:
        return None
    return LineId(run_id, int(stream), int(seq), int(emit_ns))
