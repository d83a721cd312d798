"""What a second engine buys: the same trials on one engine, then spread over two in parallel.

Each round runs `pipeline-tests run` (the default comparison: FireLens vs direct TCP, builtin
router, rate max, ecs stop) with TRIALS trials per topology, first on `--engine local` alone,
then on `--engine local --engine docker26` (one trial per engine at a time), and prints the wall
time of each and, per engine, its trials' lost lines. Both engines share this machine's cores
here, so a trial running beside another one is slower than alone: the figures say how much.

    .venv/bin/python benchmarks/bench_engines.py [--trials 3] [--stop-after 10] [--rounds 1]
        [--other docker26]
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
from typing import Any

CLI = [sys.executable, "-c", "from pipeline_tests._cli import main; main()"]


def _run(engines: list[str], trials: int, stop_after: float,
         out: Path) -> tuple[float, dict[str, Any]]:
    args = [arg for name in engines for arg in ("--engine", name)]
    started = time.monotonic()
    done = subprocess.run([*CLI, "run", *args, "--trials", str(trials), "--stop-after",
                           str(stop_after), "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "250"}, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"pipeline-tests run failed ({done.returncode}):\n{done.stdout[-2000:]}"
                 f"{done.stderr[-2000:]}")
    (run_dir,) = out.iterdir()
    return wall, json.loads((run_dir / "results.json").read_text())


def _by_engine(results: dict[str, Any]) -> str:
    parts = []
    for facts in results["engines"]:
        for topology in ("firelens", "direct-tcp"):
            mine = [t for t in results["trials"] if t["engine"]["name"] == facts["name"]
                    and t["topology"] == topology]
            lost = ", ".join(f"{t['lost']:,}/{t['emitted']:,}" for t in mine)
            rates = ", ".join(f"{t['achieved_rate']:,.0f}" for t in mine)
            parts.append(f"    {facts['name']} ({facts['version']}) {topology}: "
                         f"{len(mine)} trials, lost/emitted {lost or '-'}; lines/s {rates or '-'}")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--stop-after", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--other", default="docker26", help="the second engine")
    opts = parser.parse_args()
    for round_ in range(1, opts.rounds + 1):
        for engines in (["local"], ["local", opts.other]):
            with tempfile.TemporaryDirectory(prefix="pt-bench-engines-") as tmp:
                wall, results = _run(engines, opts.trials, opts.stop_after, Path(tmp))
            print(f"round {round_}: {' + '.join(engines)}: {len(results['trials'])} trials in "
                  f"{wall:.1f} s wall")
            print(_by_engine(results))


if __name__ == "__main__":
    main()
