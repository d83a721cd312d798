"""Sink throughput: decode + ledger in process against plain msgpack, then through real sockets.

    .venv/bin/python benchmarks/bench_sink.py [--lines 200000] [--size 400]

Prints records/s. "floor" is plain msgpack.Unpacker unpacking the same bytes in the same process
(for PackedForward: the outer message and the packed entries inside it).
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time

import msgpack

from pipeline_tests import forward as fw
from pipeline_tests.ledger import Ledger
from pipeline_tests.line import encode
from pipeline_tests.sink import Sink, SinkConfig, lines_of

RUN = "b0b0b0b0"
READ = 256 * 1024  # what asyncio's selector loop reads at once
PACK = 500  # entries per PackedForward message


def _record(seq: int, size: int, stream: int = 0) -> dict:
    line = encode(RUN, stream, seq, time.time_ns(), size).decode()
    return {"container_id": "c" * 64, "container_name": "/app", "source": "stdout", "log": line}


def message_bytes(first: int, count: int, size: int, stream: int = 0) -> bytes:
    now = time.time_ns()
    return b"".join(fw.encode_message("docker.app", now, _record(s, size, stream), {})
                    for s in range(first, first + count))


def packed_bytes(count: int, size: int) -> bytes:
    now = time.time_ns()
    return b"".join(fw.encode_packed("app", [(now, _record(s, size)) for s in range(i, i + PACK)])
                    for i in range(0, count, PACK))


def _rate(count: int, fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return count / (time.perf_counter() - start)


def floor_message(data: bytes) -> None:
    unpacker = msgpack.Unpacker()
    for i in range(0, len(data), READ):
        unpacker.feed(data[i:i + READ])
        for _ in unpacker:
            pass


def floor_packed(data: bytes) -> None:
    unpacker = msgpack.Unpacker()
    for i in range(0, len(data), READ):
        unpacker.feed(data[i:i + READ])
        for message in unpacker:
            inner = msgpack.Unpacker(max_buffer_size=len(message[1]) + 1)
            inner.feed(message[1])
            for _ in inner:
                pass


def sink_path(data: bytes, expected: int) -> None:
    """What a sink worker does per read: decode, pick lines, add to the ledger."""
    decoder, ledger = fw.Decoder(raw=True), Ledger(RUN)
    for i in range(0, len(data), READ):
        records: list = []
        decoder.records(data[i:i + READ], records)
        ledger.add_many(lines_of(records), time.time_ns())
    assert ledger.distinct == expected, ledger.distinct


def in_process(lines: int, size: int) -> None:
    for mode, data, floor in [("Message", message_bytes(0, lines, size), floor_message),
                              ("PackedForward", packed_bytes(lines, size), floor_packed)]:
        floor_rate = max(_rate(lines, lambda d=data, f=floor: f(d)) for _ in range(3))
        ours = max(_rate(lines, lambda d=data: sink_path(d, lines)) for _ in range(3))
        print(f"{mode:14s} in process: sink decode+ledger {ours:10,.0f} rec/s   "
              f"msgpack floor {floor_rate:10,.0f} rec/s   ratio {ours / floor_rate:.2f}")


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(data)


def end_to_end(workers: int, lines: int, size: int, connections: int) -> float:
    per = lines // connections
    blobs = [message_bytes(0, per, size, stream=c) for c in range(connections)]
    with Sink.start(SinkConfig(run_id=RUN, workers=workers)) as sink:
        threads = [threading.Thread(target=_send, args=(sink.port, b)) for b in blobs]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        while sink.live_records() < per * connections:
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        for thread in threads:
            thread.join()
        ledger, _ = sink.stop()
    assert ledger.distinct == per * connections, ledger.distinct
    return per * connections / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    print(f"{args.lines:,} lines of {args.size} characters, {os.cpu_count()} CPUs, "
          f"msgpack {'.'.join(map(str, msgpack.version))}")
    in_process(args.lines, args.size)
    one = end_to_end(1, args.lines, args.size, args.connections)
    two = end_to_end(2, args.lines, args.size, args.connections)
    print(f"end to end, Message mode, {args.connections} TCP connections: 1 worker "
          f"{one:10,.0f} rec/s   2 workers {two:10,.0f} rec/s   ratio {two / one:.2f}")


if __name__ == "__main__":
    main()
