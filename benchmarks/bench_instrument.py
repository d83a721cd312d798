"""Does the instrument slow what it measures? The same direct-TCP trial (builtin router, rate
max, ecs stop) with this checkout and with an older one (default 65eee2c, before trials became
self-contained: `git worktree add /tmp/old 65eee2c`), interleaved (old, new, new, old, ...),
each through its own `pipeline-tests run` in a fresh process; then where this checkout's trial
spends its wall time (Compose up/down, readiness, image checks, the flood, the stop, the drain,
copies out of volumes, logs, the ledger), from one more run with timers on those calls.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_instrument.py [--rounds 2] [--trials 2]
        [--after 5] [--old /tmp/old] [--out /tmp/pt-bench]

Prints per checkout the lines/s the app reached and the wall seconds per trial (each trial's
`seconds`), the ratio new/old of the means, and the phase table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline_tests as pt  # noqa: E402


def one_run(checkout: Path, trials: int, after: float, out: Path) -> list[dict[str, Any]]:
    """`pipeline-tests run` of that checkout in a fresh process; its trials from results.json."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    code = "from pipeline_tests.cli import main; main()" if (
        checkout / "pipeline_tests" / "cli.py").is_file() else (
        "from pipeline_tests._cli import main; main()")
    subprocess.run([sys.executable, "-c", code, "run", "--topology", "direct-tcp",
                    "--trials", str(trials), "--stop-after", str(after), "--out", str(out)],
                   cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)}, check=True,
                   stdout=subprocess.DEVNULL)
    (run_dir,) = set(out.iterdir()) - before
    return list(json.loads((run_dir / "results.json").read_text())["trials"])


def side_by_side(old: Path, rounds: int, trials: int, after: float, out: Path
                 ) -> dict[str, list[dict[str, Any]]]:
    done: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for n in range(rounds):
        for name in (("old", "new") if n % 2 == 0 else ("new", "old")):
            checkout = old if name == "old" else ROOT
            done[name] += one_run(checkout, trials, after, out / name)
    return done


class Timers:
    """Wall seconds and calls per phase, from wrappers around the calls a trial makes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.active: set[str] = set()  # the phases under way

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            during = [f"{phase} during the flood"] if "flood" in self.active else []
            self.active.add(phase)
            try:
                return inner(*args, **kwargs)
            finally:
                self.active.discard(phase)
                for counted in (phase, *during):
                    self.seconds[counted] = (self.seconds.get(counted, 0.0) + time.monotonic()
                                             - started)
                    self.calls[counted] = self.calls.get(counted, 0) + 1

        setattr(owner, name, timed)


def phases(trials: int, after: float, out: Path) -> tuple[Timers, list[pt.TrialResult], float]:
    from pipeline_tests import _routers as routers
    from pipeline_tests._docker import compose, images
    from pipeline_tests._docker.volumes import TrialVolumes
    from pipeline_tests._run import run as run_module
    from pipeline_tests._trial import daemon_log, measure, services, trial
    from pipeline_tests._trial.sink_container import SinkContainer

    timers = Timers()
    for owner, name, phase in [
            (compose, "up", "compose up"), (compose, "down", "compose down"),
            (compose, "save_logs", "logs saved"), (services, "wait_ready", "router ready"),
            (SinkContainer, "wait_ready", "sink ready"), (trial, "_flood", "flood"),
            (trial, "run_stop", "stop sequence"), (services, "wait_drained", "drain"),
            (SinkContainer, "stop", "sink stop + ledger"), (measure, "measure", "measure"),
            (daemon_log, "collect", "daemon log"), (images, "fixture_image", "image checks"),
            (routers, "ensure_image", "image checks"), (TrialVolumes, "_extract",
                                                        "copies out of volumes"),
            (run_module, "run_trial", "trial in all")]:
        timers.wrap(owner, name, phase)
    started = time.monotonic()
    results = pt.run(pt.Scenario().with_overrides(
        {"topologies": ["direct-tcp"], "trials": trials, "stop.after": after}), out)
    return timers, list(results.trials), time.monotonic() - started


def copy_cost(copies: int = 40) -> tuple[float, float]:
    """CPU seconds (the whole machine's, from /proc/stat) and wall seconds per copy of a small
    file out of a running container, as the progress makes them (get_archive)."""
    import docker

    from pipeline_tests._docker import images

    def busy() -> float:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    client = docker.from_env()
    container = client.containers.run(images.fixture_image(client), ["sleep", "120"],
                                      detach=True, network_mode="none")
    try:
        time.sleep(1.0)
        cpu, wall = busy(), time.monotonic()
        for _ in range(copies):
            b"".join(container.get_archive("/etc/hostname")[0])
        return (busy() - cpu) / copies, (time.monotonic() - wall) / copies
    finally:
        container.remove(force=True)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--after", type=float, default=5.0)
    parser.add_argument("--old", type=Path, default=Path("/tmp/old"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/pt-bench"))
    parser.add_argument("--no-phases", action="store_true")
    args = parser.parse_args()
    done = side_by_side(args.old, args.rounds, args.trials, args.after, args.out)
    print("| checkout | trials | lines/s reached (each) | mean | wall s per trial (each) |")
    print("| --- | --- | --- | --- | --- |")
    for name, trials in done.items():
        rates = [t["achieved_rate"] for t in trials]
        print(f"| {name} | {len(trials)} | {', '.join(f'{r:,.0f}' for r in rates)} | "
              f"{_mean(rates):,.0f} | {', '.join(str(t['seconds']) for t in trials)} |")
    ratio = _mean([t["achieved_rate"] for t in done["new"]]) / _mean(
        [t["achieved_rate"] for t in done["old"]])
    print(f"new / old lines/s: {ratio:.2f}x")
    if args.no_phases:
        return
    cpu, wall = copy_cost()
    print(f"\none copy out of a container (get_archive): {cpu * 1000:.0f} ms of CPU "
          f"(the whole machine's), {wall * 1000:.0f} ms of wall time")
    timers, results, seconds_in_all = phases(args.trials, args.after, args.out / "phases")
    per = max(1, len(results))
    print(f"\nwhere a trial's wall time goes ({per} trials, {seconds_in_all:.1f} s in all incl. "
          "checks):")
    print("| phase | s per trial | calls per trial |")
    print("| --- | --- | --- |")
    for phase, seconds in sorted(timers.seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {phase} | {seconds / per:.2f} | {timers.calls[phase] / per:.1f} |")


if __name__ == "__main__":
    main()
