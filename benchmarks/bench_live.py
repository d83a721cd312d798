"""Does watching slow the run? `pipeline-tests run --live` with 0 and with N viewers.

Each round runs the real command (FireLens vs direct TCP, builtin router, rate max) as a child
process and reports per cell the achieved rate (results.json), the tool's CPU seconds (the
command and its sink workers, from the child's rusage) and, with viewers, the pushes each
viewer received per second. The viewers are server-sent-event readers in this process's
threads, so their own CPU is not counted as the tool's.

    .venv/bin/python benchmarks/bench_live.py [--viewers 10] [--rounds 2] [--stop-after 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

CLI = [sys.executable, "-c", "from pipeline_tests._cli import main; main()"]


def _viewer(url: str, pushes: list[float], stop: threading.Event) -> None:
    with urllib.request.urlopen(url + "events", timeout=30) as stream:
        while not stop.is_set():
            line = stream.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                pushes.append(time.monotonic())


def _rate(pushes: list[float]) -> float:
    return (len(pushes) - 1) / (pushes[-1] - pushes[0]) if len(pushes) > 2 else 0.0


def one_round(viewers: int, stop_after: float, out: Path) -> dict[str, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen([*CLI, "run", "--live", "--trials", "1", "--stop-after",
                             str(stop_after), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ})
    assert proc.stdout is not None
    url = next(line.split()[-1] for line in proc.stdout if line.startswith("live view: http"))
    stop, pushes = threading.Event(), [[] for _ in range(viewers)]  # type: list[list[float]]
    threads = [threading.Thread(target=_viewer, args=(url, p, stop), daemon=True)
               for p in pushes]
    for thread in threads:
        thread.start()
    for line in proc.stdout:
        if "the final page stays up" in line:
            break
    wall = time.monotonic() - started
    stop.set()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    data = json.loads((run_dir / "results.json").read_text())
    return {"viewers": viewers, "wall_s": round(wall, 1),
            "tool_cpu_s": round(after.ru_utime + after.ru_stime
                                - before.ru_utime - before.ru_stime, 2),
            "achieved_rate": {t["cell"]: t["achieved_rate"] for t in data["trials"]},
            "pushes_per_s": [round(_rate(p), 1) for p in pushes]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stop-after", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        for round_no in range(args.rounds):
            for viewers in (0, args.viewers):
                out = Path(tmp) / f"{round_no}-{viewers}"
                out.mkdir()
                print(json.dumps(one_round(viewers, args.stop_after, out)), flush=True)


if __name__ == "__main__":
    main()
