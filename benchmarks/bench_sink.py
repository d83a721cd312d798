"""Sink throughput: decode + ledger in process against plain msgpack, then through real sockets.

    .venv/bin/python benchmarks/bench_sink.py [--lines 200000] [--size 400] [--connections 8]

In process: records/s on CPU time (time.process_time, so other load on a shared machine does not
count), best of --repeat runs, the floor and the sink path interleaved. "floor" is plain
msgpack.Unpacker unpacking the same bytes in the same process (for PackedForward: the outer message
and the packed entries inside it); "sink path" is what a worker does per read: Decoder.records,
lines_of, Ledger.add_many.

End to end: the load is encoded before the clock starts and sent by one process per connection,
released together. Wall-clock rates are printed, but on a machine where the senders share the
sink's cores they cannot show worker scaling; the scaling figure is therefore CPU time: the
workers' CPU seconds per record (from /proc, startup excluded), and the speedup 2 workers would
give on 2 free cores = (CPU of 1 worker for all records) / (CPU of the busiest of 2 workers).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import msgpack

from pipeline_tests._container import forward as fw
from pipeline_tests._container.line import encode
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._sink import STAT_FIELDS, Sink, SinkConfig, lines_of

RUN = "b0b0b0b0"
READ = 256 * 1024  # what asyncio's selector loop reads at once
PACK = 500  # entries per PackedForward message
_TICK = os.sysconf("SC_CLK_TCK")
_RECORDS_SLOT = STAT_FIELDS.index("records")


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


def _cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


# The floor is msgpack's defaults (str decoded, ext as ExtType). The raw floor decodes as
# the sink's Decoder does (bytes, ext as slice), so it shows the protocol checks' own cost.
DEFAULTS: dict = {}
RAW = {"raw": True, "ext_hook": slice}


def floor_message(data: bytes, options: dict = DEFAULTS) -> None:
    unpacker = msgpack.Unpacker(**options)
    for i in range(0, len(data), READ):
        unpacker.feed(data[i:i + READ])
        for _ in unpacker:
            pass


def floor_packed(data: bytes, options: dict = DEFAULTS) -> None:
    unpacker = msgpack.Unpacker(**options)
    for i in range(0, len(data), READ):
        unpacker.feed(data[i:i + READ])
        for message in unpacker:
            inner = msgpack.Unpacker(max_buffer_size=len(message[1]) + 1, **options)
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


def in_process(lines: int, size: int, repeat: int) -> None:
    for mode, data, floor in [("Message", message_bytes(0, lines, size), floor_message),
                              ("PackedForward", packed_bytes(lines, size), floor_packed)]:
        floor_s, raw_s, ours_s = [], [], []
        for _ in range(repeat):  # interleaved: a burst of outside load hits all alike
            floor_s.append(_cpu_seconds(lambda d=data, f=floor: f(d)))
            raw_s.append(_cpu_seconds(lambda d=data, f=floor: f(d, RAW)))
            ours_s.append(_cpu_seconds(lambda d=data: sink_path(d, lines)))
        floor_rate, raw, ours = (lines / min(s) for s in (floor_s, raw_s, ours_s))
        print(f"{mode:14s} in process (CPU time): sink path {ours:10,.0f} rec/s   "
              f"msgpack floor {floor_rate:10,.0f} rec/s   ratio {ours / floor_rate:.2f}   "
              f"(raw floor {raw:10,.0f} rec/s, ratio {ours / raw:.2f})")


def _send(port: int, data: bytes, go: object) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        go.wait()  # type: ignore[attr-defined]
        conn.sendall(data)


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def end_to_end(workers: int, blobs: list[bytes], per: int) -> tuple[float, list[float], list[int]]:
    """Wall rate, each worker's CPU seconds for the load, and each worker's record count."""
    total = per * len(blobs)
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    with Sink.start(SinkConfig(run_id=RUN, workers=workers)) as sink:
        pids = [proc.pid for proc in sink._procs]  # noqa: SLF001 (a benchmark may peek)
        senders = [ctx.Process(target=_send, args=(sink.port, blob, go)) for blob in blobs]
        for sender in senders:
            sender.start()
        while sink.stats().connections < len(blobs):
            time.sleep(0.01)
        before = [_proc_cpu(pid) for pid in pids]
        start = time.perf_counter()
        go.set()
        while sink.live_records() < total:
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        cpu = [_proc_cpu(pid) - was for pid, was in zip(pids, before, strict=True)]
        width = len(STAT_FIELDS)
        counts = [sink._counts[w * width + _RECORDS_SLOT] for w in range(workers)]  # noqa: SLF001
        for sender in senders:
            sender.join()
        ledger, _ = sink.stop()
    assert ledger.distinct == total, ledger.distinct
    return total / elapsed, cpu, counts


def scaling(lines: int, size: int, connections: int) -> None:
    per = lines // connections
    blobs = [message_bytes(0, per, size, stream=c) for c in range(connections)]
    total = per * connections
    one_rate, one_cpu, _ = end_to_end(1, blobs, per)
    two_rate, two_cpu, two_counts = end_to_end(2, blobs, per)
    print(f"end to end, Message mode, {connections} TCP connections (one sender process each), "
          f"{os.cpu_count()} CPUs shared with the senders:")
    print(f"  wall clock: 1 worker {one_rate:10,.0f} rec/s   2 workers {two_rate:10,.0f} rec/s   "
          f"ratio {two_rate / one_rate:.2f}")
    print(f"  CPU per record: 1 worker {1e6 * one_cpu[0] / total:.2f} us   2 workers "
          f"{1e6 * sum(two_cpu) / total:.2f} us   (records per worker {two_counts}, "
          f"CPU s {[round(c, 2) for c in two_cpu]}, clock tick {1 / _TICK:.2f} s)")
    # SO_REUSEPORT hashes connections to workers: an uneven split caps the speedup below what
    # the per-record CPU allows, so both figures are shown.
    print(f"  speedup on 2 free cores, by CPU time: {one_cpu[0] / max(two_cpu):.2f}x with this "
          f"split of connections, {2 * one_cpu[0] / sum(two_cpu):.2f}x with an even split")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.lines:,} lines of {args.size} characters, {os.cpu_count()} CPUs, "
          f"msgpack {'.'.join(map(str, msgpack.version))}")
    in_process(args.lines, args.size, args.repeat)
    scaling(args.lines, args.size, args.connections)


if __name__ == "__main__":
    main()
