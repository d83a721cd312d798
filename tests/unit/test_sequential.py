"""The stopping rule of `trials: auto` (Wald's SPRT): exact decisions on fixed sequences of
outcomes, and its error rates under seeded simulation at the stated level."""

from __future__ import annotations

import math
import random

import pytest

from pipeline_tests._results.sequential import (
    CLEAN,
    LOSES,
    UNDECIDED,
    Decision,
    Rule,
    differ,
    rule_of,
)

L, C = True, False  # a trial that lost, one that did not


@pytest.mark.parametrize(("outcomes", "answer", "after", "stopped"), [
    ([L, L], LOSES, 2, "decided at 95%"),
    ([C, C], CLEAN, 2, "decided at 95%"),
    ([L, L, C, C], LOSES, 2, "decided at 95%"),  # later trials do not change the answer
    ([L, C, C, C], CLEAN, 4, "decided at 95%"),
    ([C, L, L, L], LOSES, 4, "decided at 95%"),
    ([L, C, L, C], UNDECIDED, 4, "undecided after 4 trials"),
    ([L], UNDECIDED, 1, "undecided after 1 trial"),
    ([], UNDECIDED, 0, "undecided after 0 trials"),
])
def test_default_rule_decides_after_two_that_agree(outcomes: list[bool], answer: str,
                                                   after: int, stopped: str) -> None:
    decision = Rule().decide(outcomes)
    assert (decision.answer, decision.trials, decision.stopped) == (answer, after, stopped)


def test_bounds_and_llr_are_walds() -> None:
    rule = Rule(p0=0.1, p1=0.9, confidence=0.95)
    assert (rule.alpha, rule.beta) == pytest.approx((0.05, 0.05))
    assert rule.upper == pytest.approx(math.log(19))
    assert rule.lower == pytest.approx(-math.log(19))
    assert rule.llr(3, 2) == pytest.approx(2 * math.log(9) + math.log(1 / 9))


def test_undecided_at_max_trials() -> None:
    rule = Rule(max_trials=4)
    decision = rule.decide([L, C, L, C])
    assert (decision.answer, decision.stopped) == (UNDECIDED, "reached max_trials (4)")
    assert rule.wants_more([L, C, L], attempts=3) is True
    assert rule.wants_more([L, C, L, C], attempts=4) is False
    assert rule.wants_more([L, L], attempts=2) is False  # decided
    assert rule.wants_more([L], attempts=4) is False  # three attempts failed


def test_stricter_rule_needs_more_trials() -> None:
    rule = Rule(p0=0.05, p1=0.5, confidence=0.99)
    # a loss: ln 10 = 2.30 each; a clean trial: ln(0.5/0.95) = -0.64; bounds +-ln 99 = 4.60
    assert rule.decide([L, C, L]).answer == UNDECIDED  # 3.96
    assert rule.decide([L, C, L, L]) == Decision(LOSES, 4, 3, 0.99, "decided at 99%")
    assert rule.decide([C] * 7).answer == UNDECIDED
    assert rule.decide([C] * 8) == Decision(CLEAN, 8, 0, 0.99, "decided at 99%")


def _error_rate(rule: Rule, p: float, wrong: str, runs: int, seed: int) -> float:
    draw = random.Random(seed)
    errors = 0
    for _ in range(runs):
        outcomes: list[bool] = []
        while True:
            outcomes.append(draw.random() < p)
            decision = rule.decide(outcomes)
            if decision.decided:
                errors += decision.answer == wrong
                break
    return errors / runs


@pytest.mark.parametrize("rule", [Rule(), Rule(0.05, 0.5, 0.95), Rule(0.2, 0.6, 0.9)])
def test_error_rates_under_simulation_stay_at_the_stated_level(rule: Rule) -> None:
    """Wald: alpha' <= alpha / (1 - beta), beta' <= beta / (1 - alpha), however often one looks
    (here after every trial). 4,000 seeded sequences each at p0 and at p1."""
    runs = 4000
    false_loss = _error_rate(rule, rule.p0, LOSES, runs, seed=19)
    false_clean = _error_rate(rule, rule.p1, CLEAN, runs, seed=45)
    assert false_loss <= rule.alpha / (1 - rule.beta)
    assert false_clean <= rule.beta / (1 - rule.alpha)


def test_default_rule_error_rate_matches_gamblers_ruin() -> None:
    """With the defaults the walk moves +-1 (ln 9 each way) and stops at +-2: the chance to
    say "loses" at p = 0.1 is (1 - 9^2) / (1 - 9^4) = 1.22%."""
    rate = _error_rate(Rule(), 0.1, LOSES, 20000, seed=7)
    exact = (1 - 9 ** 2) / (1 - 9 ** 4)
    assert abs(rate - exact) < 3 * math.sqrt(exact * (1 - exact) / 20000)


def test_differ_needs_both_decided_and_different() -> None:
    loses, clean = Rule().decide([L, L]), Rule().decide([C, C])
    undecided = Rule().decide([L, C])
    assert (differ(loses, clean), differ(loses, loses), differ(loses, undecided)) == (
        True, False, False)


def test_rule_of_a_scenario() -> None:
    assert rule_of({"trials": 3}) is None
    assert rule_of({"trials": "auto", "max_trials": 6, "confidence": 0.9,
                    "loss_shares": [0.2, 0.8]}) == Rule(0.2, 0.8, 0.9, 6)
    assert rule_of({"trials": "auto"}) == Rule()
