"""How long must the app flood before the stop? The loss is the backlog at the stop (lines
queued between the app and the router when the task ends), so it should depend on the rate
and the router's pace, not on how long the flood ran. This measures it: the default comparison
(builtin router, rate max) per topology and stop sequence at several flood lengths
(`stop.after`), with the trial's wall time, in rounds that alternate the order of the lengths.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_flood_length.py [--after 1 --after 3 ...]
        [--rounds 2] [--stop ecs --stop all-at-once] [--out /tmp/pt-bench]

Prints one row per (topology, stop, flood length): trials that lost, lost % mean, lost lines
min-max, lines/s reached and wall seconds per trial, then per (topology, stop) whether every
flood length gave the answer the longest one gave.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline_tests as pt  # noqa: E402
from pipeline_tests._results.stats import summarize_cell  # noqa: E402

Key = tuple[str, str, float]  # topology, stop sequence, flood seconds


def one_round(afters: Sequence[float], stops: Sequence[str], out: Path
              ) -> dict[Key, pt.TrialResult]:
    done = {}
    for after in afters:
        scenario = pt.Scenario().with_overrides({
            "trials": 1, "stop.after": after,
            "matrix": {"topology": ["firelens", "direct-tcp"], "stop.sequence": list(stops)}})
        results = pt.run(scenario, out)
        for failure in results.failures:
            print(f"failed: {failure.label}: {failure.reason}", file=sys.stderr)
        done.update({(t.topology, t.stop, after): t for t in results.trials})
    return done


def row(key: Key, trials: list[pt.TrialResult]) -> str:
    stats = summarize_cell("x", trials)
    wall = sum(t.seconds for t in trials) / len(trials)
    return (f"| {key[0]} | {key[1]} | {key[2]:g} | {stats.trials_with_loss}/{stats.trials} | "
            f"{stats.lost_pct_mean:.2f} | {stats.lost_min:,}-{stats.lost_max:,} | "
            f"{stats.achieved_rate_mean:,.0f} | {wall:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", type=float, action="append",
                        help="flood seconds before the stop (repeat; default 1, 3, 10)")
    parser.add_argument("--stop", action="append", help="stop sequences (default ecs, "
                        "all-at-once)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/pt-bench"))
    args = parser.parse_args()
    afters = args.after or [1.0, 3.0, 10.0]
    stops = args.stop or ["ecs", "all-at-once"]
    done: dict[Key, list[pt.TrialResult]] = {}
    for n in range(args.rounds):
        order = afters if n % 2 == 0 else list(reversed(afters))
        for key, trial in one_round(order, stops, args.out).items():
            done.setdefault(key, []).append(trial)
    print("| topology | stop | flood s | trials that lost | lost % mean | lost min-max "
          "| lines/s mean | wall s per trial |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for key in sorted(done, key=lambda k: (k[0] != "firelens", k[1], k[2])):
        print(row(key, done[key]))
    longest = max(afters)
    for topology in ("firelens", "direct-tcp"):
        for stop in stops:
            answers = {after: any(t.lost for t in done.get((topology, stop, after), []))
                       for after in afters}
            same = [after for after, lost in answers.items() if lost == answers[longest]]
            print(f"{topology}/{stop}: {'loses' if answers[longest] else 'does not lose'} at "
                  f"{longest:g} s; the same answer at {', '.join(f'{a:g}' for a in same)} s")


if __name__ == "__main__":
    main()
