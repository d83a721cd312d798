"""How long until the verdict? Each scenario run twice in one process, with its fixed number of
trials and with `trials: auto` (each cell until Wald's test decides it), the order alternating
from one scenario to the next: wall time (from `run()` to its return, set-up included), trials
run and each cell's answer to "does it lose?" (fixed: any trial lost more than max_loss; auto:
the decision, with the trials it took).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_time_to_verdict.py
        [--scenario default --scenario scenarios/incident.yaml ...] [--out /tmp/pt-bench]

Default: the default comparison (`pipeline-tests run` with trials: 3), scenarios/incident.yaml,
scenarios/stop-matrix.yaml. Prints one row per (scenario, way) and whether the answers agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline_tests as pt  # noqa: E402
from pipeline_tests._results.sequential import lost_trial  # noqa: E402

DEFAULTS = ["default", "scenarios/incident.yaml", "scenarios/stop-matrix.yaml"]


def scenario_of(name: str) -> pt.Scenario:
    return pt.Scenario().with_overrides({"trials": 3}) if name == "default" else (
        pt.load_scenario(ROOT / name))


def answers(results: pt.RunResults, auto: bool) -> dict[str, str]:
    if auto:
        return {label: f"{d.answer} ({d.trials})" for label, d in results.decisions.items()}
    cells: dict[str, list[bool]] = {}
    for trial in results.trials:
        cells.setdefault(trial.label, []).append(lost_trial(trial.lost, results.max_loss))
    return {label: f"{'loses' if any(lost) else 'does not lose'} ({sum(lost)}/{len(lost)})"
            for label, lost in cells.items()}


def one(scenario: pt.Scenario, auto: bool, out: Path) -> tuple[float, pt.RunResults]:
    chosen = scenario.with_overrides({"trials": "auto"}) if auto else scenario
    started = time.monotonic()
    results = pt.run(chosen, out)
    return time.monotonic() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="default or a scenario file")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pt-bench"))
    args = parser.parse_args()
    rows, agree = [], []
    for n, name in enumerate(args.scenario or DEFAULTS):
        scenario = scenario_of(name)
        got: dict[bool, dict[str, str]] = {}
        for auto in ((False, True) if n % 2 == 0 else (True, False)):
            wall, results = one(scenario, auto, args.out)
            got[auto] = answers(results, auto)
            rows.append(f"| {name} | {'auto' if auto else f'fixed ({scenario.trials})'} | "
                        f"{wall:.1f} | {len(results.trials)} | {len(results.failures)} | "
                        + "; ".join(f"{cell}: {answer}" for cell, answer in got[auto].items())
                        + " |")
            print(rows[-1], flush=True)
        same = all(got[True].get(cell, "").split(" (")[0] == answer.split(" (")[0]
                   for cell, answer in got[False].items())
        agree.append(f"{name}: {'the same answer in every cell' if same else 'DIFFERENT'}")
    print("\n| scenario | trials | wall s | trials run | failed | answer per cell (trials) |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print("\n".join(agree))


if __name__ == "__main__":
    main()
