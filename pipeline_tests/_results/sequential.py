"""When a cell has run enough trials: Wald's sequential probability ratio test (SPRT).

A. Wald, "Sequential tests of statistical hypotheses", Annals of Mathematical Statistics 16(2),
1945, pp. 117-186. Each trial of a cell either loses (more than `max_loss` lines, 0 when it is
not set) or does not: a Bernoulli outcome with an unknown chance p that a trial loses. The
question "does it lose?" is the test of

    H0: p = p0 (the cell does not lose: at most a share p0 of its trials lose)
    H1: p = p1 (the cell loses: at least a share p1 of its trials lose)

with `loss_shares: [p0, p1]` (default [0.1, 0.9]). After n trials of which k lost, the log
likelihood ratio is

    llr = k * ln(p1 / p0) + (n - k) * ln((1 - p1) / (1 - p0)).

With alpha = beta = 1 - confidence (alpha: the chance to say "loses" when H0 holds, beta: to
say "does not lose" when H1 holds), the cell stops with "loses" as soon as llr >= ln((1 - beta)
/ alpha), with "does not lose" as soon as llr <= ln(beta / (1 - alpha)), and undecided when it
reached `max_trials` first. Wald's bounds hold however often the outcomes are looked at (after
every trial here): the error rates stay at most alpha / (1 - beta) and beta / (1 - alpha)
(section 3.2 of the paper), unlike a fixed-n interval recomputed after each trial. With the
defaults (p0 0.1, p1 0.9, 95%) two trials that agree decide a cell.

"Do these cells differ?" (the comparison): two cells differ when both are decided and their
answers differ; each answer holds at the stated confidence.

Pure: outcomes in, a decision out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline_tests._results.trial_result import TrialResult

LOSES, CLEAN, UNDECIDED = "loses", "does not lose", "undecided"
AUTO = "auto"
REFERENCE = "Wald's sequential probability ratio test (1945)"


@dataclass(frozen=True)
class Rule:
    """The stopping rule of a cell: a Wald SPRT between loss shares p0 and p1."""

    p0: float = 0.1
    p1: float = 0.9
    confidence: float = 0.95
    max_trials: int = 10

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    @property
    def beta(self) -> float:
        return 1.0 - self.confidence

    @property
    def upper(self) -> float:
        """ln A: at or above it, H1 (the cell loses)."""
        return math.log((1.0 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        """ln B: at or below it, H0 (the cell does not lose)."""
        return math.log(self.beta / (1.0 - self.alpha))

    def llr(self, trials: int, losses: int) -> float:
        return (losses * math.log(self.p1 / self.p0)
                + (trials - losses) * math.log((1.0 - self.p1) / (1.0 - self.p0)))

    def decide(self, outcomes: Sequence[bool]) -> Decision:
        """The decision at the first look that crosses a bound (outcomes in trial order: True
        is a trial that lost); trials after it do not change the answer."""
        losses = 0
        for n, lost in enumerate(outcomes, 1):
            losses += bool(lost)
            llr = self.llr(n, losses)
            if llr >= self.upper - 1e-12:
                return Decision(LOSES, n, losses, self.confidence, f"decided at {self.shown}")
            if llr <= self.lower + 1e-12:
                return Decision(CLEAN, n, losses, self.confidence, f"decided at {self.shown}")
        n = len(outcomes)
        reason = (f"reached max_trials ({self.max_trials})" if n >= self.max_trials
                  else f"undecided after {n} trial{'s' if n != 1 else ''}")
        return Decision(UNDECIDED, n, losses, self.confidence, reason)

    def wants_more(self, outcomes: Sequence[bool], attempts: int) -> bool:
        """Whether a cell runs another trial: undecided and below max_trials attempts (a trial
        that could not be carried out counts as an attempt, so a broken cell ends)."""
        return attempts < self.max_trials and self.decide(outcomes).answer == UNDECIDED

    @property
    def shown(self) -> str:
        return f"{self.confidence:.0%}" if round(self.confidence * 100, 6).is_integer() \
            else f"{self.confidence:.1%}"

    def as_json(self) -> dict[str, Any]:
        return {"rule": REFERENCE, "h0_loss_share": self.p0, "h1_loss_share": self.p1,
                "alpha": round(self.alpha, 12), "beta": round(self.beta, 12),
                "max_trials": self.max_trials}


@dataclass(frozen=True)
class Decision:
    answer: str  # LOSES, CLEAN or UNDECIDED
    trials: int  # the trials looked at when it was decided (all of them if undecided)
    losses: int  # of those, how many lost
    confidence: float
    stopped: str  # "decided at 95%", "reached max_trials (10)"

    @property
    def decided(self) -> bool:
        return self.answer != UNDECIDED

    def as_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "decided_after": self.trials, "losses": self.losses,
                "confidence": self.confidence, "stopped": self.stopped}


def differ(a: Decision, b: Decision) -> bool:
    """"Do these cells differ?": both decided, with different answers."""
    return a.decided and b.decided and a.answer != b.answer


def rule_of(scenario: Mapping[str, Any]) -> Rule | None:
    """The rule of a scenario (a Scenario's to_dict(), or results.json's `scenario`); None
    when it runs a fixed number of trials."""
    if scenario.get("trials") != AUTO:
        return None
    low, high = scenario.get("loss_shares") or (Rule.p0, Rule.p1)
    return Rule(float(low), float(high), float(scenario.get("confidence", Rule.confidence)),
                int(scenario.get("max_trials", Rule.max_trials)))


def lost_trial(lost: int, max_loss: int | None) -> bool:
    """A trial's outcome for the rule: it lost more lines than allowed."""
    return lost > (max_loss or 0)


def cell_decisions(rule: Rule, trials: Sequence[TrialResult], max_loss: int | None
                   ) -> dict[str, Decision]:
    """Each cell's decision (by label, in the run's order) from its trials in trial order."""
    outcomes: dict[str, list[tuple[int, bool]]] = {}
    for trial in trials:
        outcomes.setdefault(trial.label, []).append((trial.trial, lost_trial(trial.lost,
                                                                             max_loss)))
    return {label: rule.decide([lost for _, lost in sorted(pairs)])
            for label, pairs in outcomes.items()}


def run_decisions(scenario: Mapping[str, Any], trials: Sequence[TrialResult]
                  ) -> dict[str, Decision]:
    """The decisions of a run (its scenario as results.json keeps it); empty for fixed trials."""
    rule = rule_of(scenario)
    max_loss = scenario.get("max_loss")
    return {} if rule is None else cell_decisions(
        rule, trials, max_loss if isinstance(max_loss, int) else None)


def stopped(decisions: Mapping[str, Decision], label: str, trials: int) -> str:
    """Why a cell ran the trials it ran: "decided at 95%", "reached max_trials (10)", or
    "3 trials (fixed)"."""
    decision = decisions.get(label)
    return decision.stopped if decision is not None else f"{trials} trials (fixed)"
