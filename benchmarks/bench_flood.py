"""The app's flood rate into a pipe: stdout mode, rate max, one stream, exact count on the reader.

    .venv/bin/python benchmarks/bench_flood.py [--seconds 5] [--size 400] [--streams 1]

Runs fixtures/app.py as a subprocess (as in the task container, but with this venv's python),
reads its stdout to the end, counts every newline, and checks the count against the app's tally.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline_tests._container import tally

ROOT = Path(__file__).resolve().parents[1]


def count_lines(stream: int) -> tuple[int, int, float]:
    """Lines and bytes read from `stream` until EOF, and seconds from first byte to EOF."""
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    lines = total = 0
    first = 0.0
    with open(stream, "rb", buffering=0, closefd=False) as source:
        while read := source.readinto(view):
            if not first:
                first = time.perf_counter()
            lines += buffer.count(b"\n", 0, read)
            total += read
    return lines, total, time.perf_counter() - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--streams", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PT_RUN_ID": "f100d000",
               "PT_STATE_DIR": state, "PT_RATE": "max", "PT_LINE_SIZE": str(args.size),
               "PT_DURATION": str(args.seconds), "PT_STREAMS": str(args.streams)}
        app = subprocess.Popen([sys.executable, str(ROOT / "fixtures" / "app.py")], env=env,
                               stdout=subprocess.PIPE)
        assert app.stdout is not None
        lines, size, seconds = count_lines(app.stdout.fileno())
        status = app.wait()
        counters = tally.read_tally(Path(state))
        summary = json.loads((Path(state) / "app.summary.json").read_text())
    emitted = counters.emitted_total if counters else -1
    print(f"app exit status        {status}")
    print(f"lines read / emitted   {lines:,} / {emitted:,} "
          f"({'exact' if lines == emitted else 'MISMATCH'})")
    print(f"reader rate            {lines / seconds:,.0f} lines/s, {size / seconds / 1e6:,.0f} "
          f"MB/s over {seconds:.2f} s ({args.size}-byte lines, {args.streams} stream(s))")
    print(f"app achieved rate      {summary['achieved_rate']:,.0f} lines/s, "
          f"blocked in write() {summary['blocked_seconds']:.2f} s")


if __name__ == "__main__":
    main()
