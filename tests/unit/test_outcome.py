"""One pass/fail rule (RunResults.outcome): the CLI's exit status, the live view's verdict, the
report's PASS/FAIL line and assert_no_loss all decide each case the same way."""

import dataclasses
from pathlib import Path

import pytest
from test_report import BASE, LOSSY

from pipeline_tests._cli import main
from pipeline_tests._live.state import verdict
from pipeline_tests._report.html import render_html
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import TrialFailure

FAILED = TrialFailure("firelens", "builtin", "ecs", 3, "`docker compose up` failed")


def _run(tmp_path: Path, *trials: object, max_loss: int | None = None,
         failures: tuple[TrialFailure, ...] = (), interrupted: bool = False) -> RunResults:
    header = {"run_id": "r1", "scenario": {"max_loss": max_loss}}
    return RunResults("r1", tmp_path, header, tuple(trials), failures,  # type: ignore[arg-type]
                      interrupted)


CASES = [  # (trials, max_loss, failures, interrupted) -> passed, reason
    ((BASE,), None, (), False, True, "every line delivered"),
    ((BASE, LOSSY), None, (), False, True,
     "100 lines lost in 1 of 2 trials; no max_loss is set, so loss is measured, not judged"),
    ((BASE, LOSSY), 100, (), False, True, "no trial lost more than 100 lines"),
    ((BASE, LOSSY), 0, (), False, False, "lost more than 0 lines in: firelens/builtin/ecs"),
    ((BASE,), None, (FAILED,), False, False, "1 trial(s) could not be carried out"),
    ((BASE,), None, (), True, False, "the run was interrupted before every trial finished"),
    ((), None, (), False, False, "no trial finished"),
    ((), 0, (FAILED,), True, False, "1 trial(s) could not be carried out; the run was "
     "interrupted before every trial finished; no trial finished"),
]


@pytest.mark.parametrize("trials, max_loss, failures, interrupted, passed, reason", CASES)
def test_one_rule_decides_for_every_consumer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], trials: tuple[object, ...],
        max_loss: int | None, failures: tuple[TrialFailure, ...], interrupted: bool,
        passed: bool, reason: str) -> None:
    results = _run(tmp_path, *trials, max_loss=max_loss, failures=failures,
                   interrupted=interrupted)
    decided = results.outcome()
    assert (decided.passed, decided.reason, decided.exit_code) == (passed, reason, 1 - passed)
    assert verdict(results) == (passed, reason)
    word = "PASS" if passed else "FAIL"
    assert f"<b>{word}</b>: {reason}." in render_html(
        results.header, results.trials, max_loss, results.failures, interrupted)
    results.write_json()
    with pytest.raises(SystemExit) as done:
        main(["report", str(tmp_path)])
        raise SystemExit(0)
    assert done.value.code == decided.exit_code
    out = " ".join(capsys.readouterr().out.split())
    assert (f"FAIL: {reason}." in out) is not passed
    if passed and (max_loss is not None or not results.lost):
        results.assert_no_loss()
    if not passed:
        with pytest.raises(AssertionError):
            results.assert_no_loss()


def test_assert_no_loss_defaults_to_no_line_lost(tmp_path: Path) -> None:
    lossy = _run(tmp_path, BASE, LOSSY)
    assert lossy.outcome().passed  # the run's own rule: no max_loss, loss not judged
    with pytest.raises(AssertionError) as caught:
        lossy.assert_no_loss()
    assert str(caught.value).splitlines()[0] == (
        "pipeline-tests run r1: 1 of 2 trials lost more than 0 lines")
    _run(tmp_path, BASE, LOSSY, max_loss=100).assert_no_loss()
    assert not _run(tmp_path, dataclasses.replace(LOSSY, lost=101), max_loss=100).outcome().passed
