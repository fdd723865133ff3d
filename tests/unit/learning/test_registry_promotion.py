"""The promotion gate as a pure function: table-driven cases."""

import math

import pytest
from pydantic import ValidationError

from nautilus_ai.learning.promotion import GateResult, PromotionGate, check_promotion

GOOD = {"test_auc": 0.58, "sharpe": 1.2, "psr": 0.97, "dsr": 0.91, "max_drawdown": -0.12}

CASES = [
    # (id, candidate, champion, gate fields, passed, substrings expected in the reasons)
    ("no thresholds, no champion", {}, None, {}, True, []),
    ("all thresholds met", GOOD, None, {"min_test_auc": 0.55, "min_sharpe": 1.0, "min_psr": 0.95}, True, []),
    ("auc too low", {**GOOD, "test_auc": 0.51}, None, {"min_test_auc": 0.55}, False, ["test_auc = 0.51"]),
    ("sharpe too low", {**GOOD, "sharpe": 0.4}, None, {"min_sharpe": 0.5}, False, ["sharpe = 0.4 is below"]),
    ("psr too low", {**GOOD, "psr": 0.9}, None, {"min_psr": 0.95}, False, ["psr = 0.9 is below"]),
    ("dsr too low", {**GOOD, "dsr": 0.5}, None, {"min_dsr": 0.9}, False, ["dsr = 0.5 is below"]),
    (
        "drawdown too deep",
        {**GOOD, "max_drawdown": -0.4},
        None,
        {"max_drawdown_floor": -0.25},
        False,
        ["max_drawdown"],
    ),
    ("bound met exactly", {"sharpe": 1.0}, None, {"min_sharpe": 1.0}, True, []),
    ("missing metric fails", {"test_auc": 0.6}, None, {"min_psr": 0.9}, False, ["psr is missing"]),
    (
        "nan metric fails",
        {"psr": math.nan},
        None,
        {"min_psr": 0.9},
        False,
        ["psr is missing or not a finite"],
    ),
    ("non-number fails", {"psr": "high"}, None, {"min_psr": 0.9}, False, ["psr is missing"]),
    ("generic bound", {"hit_rate": 0.4}, None, {"min_metrics": {"hit_rate": 0.5}}, False, ["hit_rate = 0.4"]),
    (
        "two failures, two reasons",
        {"sharpe": 0.1, "psr": 0.2},
        None,
        {"min_sharpe": 1, "min_psr": 0.9},
        False,
        ["sharpe", "psr"],
    ),
    ("beats champion", {"sharpe": 1.3}, {"sharpe": 1.0}, {"champion_metric": "sharpe"}, True, []),
    ("ties champion, no margin", {"sharpe": 1.0}, {"sharpe": 1.0}, {}, True, []),
    (
        "within margin fails",
        {"sharpe": 1.05},
        {"sharpe": 1.0},
        {"champion_margin": 0.1},
        False,
        ["does not beat the champion"],
    ),
    ("worse than champion", {"sharpe": 0.8}, {"sharpe": 1.0}, {}, False, ["does not beat the champion"]),
    (
        "lower is better",
        {"test_brier": 0.20},
        {"test_brier": 0.24},
        {"champion_metric": "test_brier", "higher_is_better": False, "champion_margin": 0.01},
        True,
        [],
    ),
    (
        "lower is better, worse",
        {"test_brier": 0.25},
        {"test_brier": 0.24},
        {"champion_metric": "test_brier", "higher_is_better": False},
        False,
        ["test_brier"],
    ),
    ("champion lacks the metric", {"sharpe": 0.1}, {"auc": 0.6}, {}, True, []),
    ("candidate lacks the compared metric", {}, {"sharpe": 1.0}, {}, False, ["needed to compare"]),
    ("comparison disabled", {"sharpe": 0.1}, {"sharpe": 1.0}, {"champion_metric": None}, True, []),
]


@pytest.mark.parametrize(
    ("candidate", "champion", "fields", "passed", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_check_promotion(candidate, champion, fields, passed, expected):
    result = check_promotion(candidate, champion, PromotionGate(**fields))

    assert isinstance(result, GateResult)
    assert result.passed is passed
    assert (result.reasons == ()) is passed
    for text in expected:
        assert any(text in reason for reason in result.reasons), (text, result.reasons)
    assert set(result.reasons) <= set(result.checks)


def test_every_configured_threshold_appears_in_the_checks():
    gate = PromotionGate(min_test_auc=0.5, min_sharpe=0.0, min_psr=0.5, min_dsr=0.5, max_drawdown_floor=-0.3)

    result = check_promotion(GOOD, {"sharpe": 1.0}, gate)

    assert result.passed
    assert len(result.checks) == 6
    assert result.checks[-1].startswith("beats the champion")


def test_check_promotion_does_not_mutate_its_inputs():
    candidate, champion = dict(GOOD), {"sharpe": 1.0}

    check_promotion(candidate, champion, PromotionGate(min_sharpe=2.0))

    assert candidate == GOOD and champion == {"sharpe": 1.0}


@pytest.mark.parametrize(
    "fields",
    [
        {"min_psr": 1.5},
        {"min_test_auc": -0.1},
        {"max_drawdown_floor": 0.2},
        {"champion_margin": -1.0},
        {"bogus": 1},
    ],
)
def test_gate_rejects_out_of_range_or_unknown_fields(fields):
    with pytest.raises(ValidationError):
        PromotionGate(**fields)


def test_gate_is_frozen_data():
    gate = PromotionGate(min_sharpe=1.0)

    with pytest.raises(ValidationError):
        gate.min_sharpe = 2.0
    assert PromotionGate.model_validate(gate.model_dump()) == gate
