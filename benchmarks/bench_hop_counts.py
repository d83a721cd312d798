"""Does counting a real router's hops change what is lost? The same cells with the counting
method on (the metrics endpoint polled: Fluent Bit every 0.05 s, Fluentd every 1 s) and off
(never polled after the ready check), FireLens at rate max and at a rate that does not lose.
Trials alternate on/off (on, off, off, on, ...), so drift over time hits both alike.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_hop_counts.py [--trials 5] [--rate 3000]
        [--router fluent-bit --router fluentd] [--out /tmp/pt-bench]

Needs the router images (fluent/fluent-bit:5.1.1, fluent/fluentd:v1.19-debian-1); a router
whose image is absent is skipped. Prints one row per (router, rate, method).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline_tests as pt  # noqa: E402
from pipeline_tests._results.stats import summarize_cell  # noqa: E402
from pipeline_tests._routers import fluent_bit, fluentd  # noqa: E402

NEVER = 1e9  # a poll interval longer than any trial: one answer (the ready check), no more


def set_polling(on: bool) -> None:
    fluent_bit.POLL_SECONDS = 0.05 if on else NEVER
    fluentd.POLL_SECONDS = 1.0 if on else NEVER


def one_trial(router: str, rate: int | None, out: Path, on: bool) -> pt.TrialResult:
    set_polling(on)
    scenario = pt.Scenario().with_overrides({
        "topologies": ["firelens"], "router.kind": router, "workload.rate": rate,
        "stop.after": 3, "stop.drain": 5, "trials": 1})
    results = pt.run(scenario, out)
    if not results.trials:
        raise SystemExit(f"a trial failed: {results.failures}")
    return results.trials[0]


def cells(router: str, rate: int | None, trials: int, out: Path
          ) -> dict[bool, list[pt.TrialResult]]:
    done: dict[bool, list[pt.TrialResult]] = {True: [], False: []}
    for n in range(trials):
        for on in ((True, False) if n % 2 == 0 else (False, True)):
            done[on].append(one_trial(router, rate, out, on))
    return done


def row(router: str, rate: int | None, on: bool, trials: list[pt.TrialResult]) -> str:
    stats = summarize_cell("x", trials)
    known = sum(1 for t in trials if t.hops["router_in"] is not None)
    return (f"| {router} | {rate or 'max'} | {'on' if on else 'off'} | "
            f"{stats.trials_with_loss}/{stats.trials} | {stats.lost_pct_mean:.2f} | "
            f"{stats.lost_min:,}-{stats.lost_max:,} | {stats.achieved_rate_mean:,.0f} | "
            f"{known}/{stats.trials} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--rate", type=int, default=3000, help="a rate that does not lose")
    parser.add_argument("--router", action="append", choices=["fluent-bit", "fluentd"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/pt-bench"))
    args = parser.parse_args()
    print("| router | rate | counting | trials that lost | lost % mean | lost min-max "
          "| lines/s mean | router_in known |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for router in args.router or ["fluent-bit", "fluentd"]:
        for rate in (None, args.rate):
            try:
                done = cells(router, rate, args.trials, args.out)
            except pt.ImageMissing as exc:
                print(f"| {router} | skipped: {exc} |")
                break
            for on in (True, False):
                print(row(router, rate, on, done[on]), flush=True)


if __name__ == "__main__":
    main()
