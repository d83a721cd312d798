"""Pass or fail: the one rule behind the CLI's exit status, the live view's verdict, the
report's PASS/FAIL line and `RunResults.assert_no_loss`.

A run fails when a trial lost more than `max_loss` lines, when a trial could not be carried
out, when it was interrupted before every trial finished, or when no trial finished. Without a
`max_loss` loss is measured, not judged: a run that lost lines passes, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline_tests._results.stats import over_max_loss
from pipeline_tests._results.trial_result import TrialFailure, TrialResult


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str  # one sentence, without a final stop: why it passed or every reason it failed

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def outcome(trials: Sequence[TrialResult], failures: Sequence[TrialFailure] = (),
            interrupted: bool = False, max_loss: int | None = None) -> Outcome:
    lossy = over_max_loss(trials, max_loss) if max_loss is not None else []
    reasons = [f"lost more than {max_loss} lines in: {'; '.join(lossy)}"] if lossy else []
    if failures:
        reasons.append(f"{len(failures)} trial(s) could not be carried out")
    if interrupted:
        reasons.append("the run was interrupted before every trial finished")
    if not trials:
        reasons.append("no trial finished")
    if reasons:
        return Outcome(False, "; ".join(reasons))
    lost = sum(t.lost for t in trials)
    if not lost:
        return Outcome(True, "every line delivered")
    if max_loss is not None:
        return Outcome(True, f"no trial lost more than {max_loss} lines")
    with_loss = sum(1 for t in trials if t.lost)
    return Outcome(True, f"{lost:,} lines lost in {with_loss} of {len(trials)} trials; no "
                         "max_loss is set, so loss is measured, not judged")
