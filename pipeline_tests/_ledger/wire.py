"""A ledger as bytes (msgpack), to cross from the sink container to the tester.

Plain data only, never pickle: the tester reads what a container on another engine wrote, and
unpickling would run whatever that engine put there. Malformed bytes raise ValueError."""

from __future__ import annotations

from array import array
from typing import Any

import msgpack

from pipeline_tests._ledger import latency as hist
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._ledger.stream_bits import StreamBits

_COUNTS = ("received_total", "foreign", "unparsable", "reordered")


def ledger_bytes(ledger: Ledger) -> bytes:
    data = {"run_id": ledger.run_id, **{name: getattr(ledger, name) for name in _COUNTS},
            "streams": {number: [bytes(s.bits), s.high, sorted(s.far)]
                        for number, s in ledger.streams.items()},
            "latency": ledger.latency.tobytes()}
    return bytes(msgpack.packb(data, use_bin_type=True))


def ledger_from(data: bytes) -> Ledger:
    try:
        fields = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return _build(fields)
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise ValueError(f"not a ledger: {exc}") from None


def _build(fields: dict[str, Any]) -> Ledger:
    run_id = fields["run_id"]
    ledger = Ledger(run_id if isinstance(run_id, str) else None)
    for name in _COUNTS:
        setattr(ledger, name, int(fields[name]))
    for number, (bits, high, far) in fields["streams"].items():
        stream = ledger.streams[int(number)] = StreamBits()
        stream.bits, stream.high, stream.far = bytearray(bits), int(high), set(map(int, far))
    latency = array("q")
    latency.frombytes(fields["latency"])
    if len(latency) != len(hist.new_histogram()):
        raise ValueError(f"a latency histogram of {len(latency)} buckets")
    ledger.latency = latency
    return ledger
