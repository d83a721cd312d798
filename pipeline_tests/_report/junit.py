"""runs/<run-id>/junit.xml: the run as JUnit XML, for a CI system's test view.

One test suite per cell, one test case per trial. A trial fails when it lost more lines than
`max_loss` (the same verdict as the exit status); without `max_loss` every trial passes and its
counts are in the case's output and the suite's properties. A trial that could not be carried
out is an error case with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from pipeline_tests._results.log_errors import merged
from pipeline_tests._results.stats import lost_pct, summarize
from pipeline_tests._results.trial_result import TrialFailure, TrialResult


def junit_xml(run_id: str, results: Sequence[TrialResult], max_loss: int | None,
              failures: Sequence[TrialFailure] = ()) -> JUnitXml:
    xml = JUnitXml(name=f"pipeline-tests {run_id}")
    stats = {s.label: s for s in summarize(results)}
    by_cell: dict[str, list[TrialResult | TrialFailure]] = {}  # in the order the cells ran
    outcomes: list[TrialResult | TrialFailure] = [*results, *failures]
    for outcome in outcomes:
        by_cell.setdefault(outcome.label, []).append(outcome)
    for label, trials in by_cell.items():
        suite = TestSuite(label)
        cell = stats.get(label)
        for name, value in (() if cell is None else (
                ("trials_with_loss", cell.trials_with_loss),
                ("lost_mean", f"{cell.lost_mean:.1f}"),
                ("lost_pct_mean", f"{cell.lost_pct_mean:.2f}"), ("lost_at", cell.lost_at))):
            suite.add_property(name, str(value))
        for outcome in sorted(trials, key=lambda o: o.trial):
            suite.add_testcase(_case(label, outcome, max_loss)
                               if isinstance(outcome, TrialResult) else _error(label, outcome))
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    return xml


def _case(label: str, result: TrialResult, max_loss: int | None) -> TestCase:
    case = TestCase(f"trial {result.trial}", classname=label, time=result.seconds)
    summary = (f"lost {result.lost:,} of {result.emitted:,} lines ({lost_pct(result):.2f}%), "
               f"{result.duplicates:,} duplicates, lost at {result.lost_at}")
    # Each tier's warnings and errors, the aggregator's first (downstream: the likelier cause).
    logged = [f"{e.tier} logged {e.count:,} times: {e.first}"
              for e in merged([result.log_errors])]
    fault = [result.fault_cut] if result.fault_cut else []
    case.system_out = "".join(
        f"{line}\n" for line in (summary, "lost ranges [stream, first, last]: "
                                 f"{[list(r) for r in result.lost_ranges]}",
                                 f"hops: {dict(result.hops)}",
                                 *(f"{hop} unknown: {why}"
                                   for hop, why in result.hop_unknown.items()), *fault, *logged))
    if max_loss is not None and result.lost > max_loss:
        cause = "".join(f"; {note}" for note in (*fault, *logged[:1]))
        case.result = [Failure(f"{summary}; more than max_loss {max_loss:,}{cause}",
                               "lost lines")]
    return case


def _error(label: str, failure: TrialFailure) -> TestCase:
    case = TestCase(f"trial {failure.trial}", classname=label)
    case.result = [Error(failure.reason, "trial failed")]
    return case


def write_junit(path: Path, run_id: str, results: Sequence[TrialResult],
                max_loss: int | None, failures: Sequence[TrialFailure] = ()) -> None:
    junit_xml(run_id, results, max_loss, failures).write(str(path), pretty=True)
