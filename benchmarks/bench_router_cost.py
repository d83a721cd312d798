"""What a real router spends per record when it keeps up, against the builtin relay.

Runs FireLens trials at the incident's rate (300 lines/s of 400 characters) on a 0.25 vCPU task
beside a busy app (`workload.busy_workers: all`), the router given 1024 CPU shares so that it
keeps up, with the builtin router (at no cost per record) and with each real router whose image
is here; prints each router's CPU time per record delivered while the app ran (from the task's
cgroups, TrialResult.cpu) and what it spends beyond the builtin relay. (The `fluentd-like`
preset is calibrated under starvation instead, where Fluentd gets less CPU than its shares
allow: `pipeline-tests run scenarios/router-cost.yaml`.)

    .venv/bin/python benchmarks/bench_router_cost.py [--trials 2] [--stop-after 10]
        [--rate 300] [--routers fluentd,fluent-bit]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import docker
import docker.errors

import pipeline_tests as pt
from pipeline_tests._routers import image_for
from pipeline_tests._scenario.model import Router


def _per_record(trials: tuple[pt.TrialResult, ...]) -> list[float]:
    """µs of the router's CPU per line it delivered, while the app ran, per trial."""
    figures = []
    for trial in trials:
        flood = (trial.cpu.get("router") or {}).get("flood")
        if flood is not None and trial.received_distinct:
            figures.append(1e6 * flood["usage_s"] / trial.received_distinct)
    return figures


def _measure(kind: str, args: argparse.Namespace, out: Path) -> list[float]:
    scenario = pt.Scenario().with_overrides({
        "topologies": ["firelens"], "router.kind": kind, "trials": args.trials,
        "stop.after": args.stop_after, "workload.rate": args.rate,
        "workload.busy_workers": "all", "task.size": "0.25vcpu-0.5gb",
        "task.cpu_units": "app=256,router=1024"})
    results = pt.run(scenario, out)
    lost = sum(t.lost for t in results.trials)
    figures = _per_record(results.trials)
    print(f"{kind:12s} {len(results.trials)} trials, lost {lost:,}: "
          + ", ".join(f"{f:.1f}" for f in figures) + " µs of CPU per record")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--stop-after", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--routers", default="fluentd,fluent-bit")
    args = parser.parse_args()
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="pt-cost-") as tmp:
        base = statistics.mean(_measure("builtin", args, Path(tmp)) or [0.0])
        for kind in args.routers.split(","):
            image = image_for(Router(kind=kind))
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                print(f"{kind:12s} skipped: image {image} is not here")
                continue
            figures = _measure(kind, args, Path(tmp))
            if figures:
                print(f"{kind:12s} spends {statistics.mean(figures) - base:.0f} µs per record "
                      "beyond the builtin relay")


if __name__ == "__main__":
    main()
