"""Ledger figures: memory for N ids in one stream, add_many throughput, reconcile time.

    .venv/bin/python benchmarks/bench_ledger.py [--ids 100000000] [--batch 10000] [--size 400]

Feeds every id 0..N-1 (minus a few lost blocks) through `Ledger.add_many` in batches, as a sink
worker would, and prints figures; it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

from pipeline_tests._container import line
from pipeline_tests._container.tally import NO_STOP
from pipeline_tests._ledger.ledger import Ledger, reconcile

RUN = "be4c4b3d"


def rss_bytes() -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024
    return 0


def feed(ledger: Ledger, ids: int, batch: int, size: int) -> tuple[float, int]:
    """Seconds spent inside add_many, and lines fed. Drops one block per 10M ids."""
    spent, fed = 0.0, 0
    for first in range(0, ids, batch):
        count = min(batch, ids - first)
        lines = line.encode_batch(RUN, 0, first, count, time.time_ns(), size).splitlines()
        if first % 10_000_000 == 5_000_000:
            lines = lines[: count // 2]  # a lost block, so reconcile has ranges to find
        start = time.perf_counter()
        ledger.add_many(lines, time.time_ns())
        spent += time.perf_counter() - start
        fed += len(lines)
    return spent, fed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=100_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=400, help="line size in bytes")
    args = parser.parse_args()
    before = rss_bytes()
    ledger = Ledger(RUN)
    spent, fed = feed(ledger, args.ids, args.batch, args.size)
    after = rss_bytes()
    start = time.perf_counter()
    report = reconcile(ledger, [args.ids], [NO_STOP])
    reconcile_s = time.perf_counter() - start
    bitmap = sum(len(stream.bits) for stream in ledger.streams.values())
    print(f"ids emitted            {args.ids:,} (one stream), lines fed {fed:,}")
    print(f"bitmap bytes           {bitmap:,} ({bitmap / 2**20:.1f} MiB)")
    print(f"pickled ledger bytes   {len(pickle.dumps(ledger)):,}")
    print(f"RSS delta              {(after - before) / 2**20:.1f} MiB")
    print(f"add_many throughput    {fed / spent:,.0f} lines/s "
          f"(batch {args.batch:,}, {args.size}-byte lines, {spent:.1f} s inside add_many)")
    print(f"reconcile              {reconcile_s:.2f} s, lost {report.lost:,} "
          f"in {len(report.lost_ranges)} ranges, distinct {report.received_distinct:,}")


if __name__ == "__main__":
    main()
