import pandas as pd

from nautilus_ai.backtest.report_sections import (
    calibration_section,
    regimes_section,
    risk_section,
    shap_section,
    stages_section,
)

FOLDS = [
    {
        "index": 0,
        "model_metrics": {
            "test": {
                "p1": {"accuracy": 0.52, "mcc": 0.04, "auc": 0.53, "brier": 0.249},
                "probability": {"accuracy": 0.55, "mcc": 0.1, "auc": 0.56, "brier": 0.247},
                "reliability": [{"mean_predicted": 0.45, "observed": 0.40, "count": 10}],
            }
        },
        "shap_importance": {"rsi": 0.3, "ret_5": 0.1},
    },
    {
        "index": 1,
        "model_metrics": {
            "test": {
                "p1": {"accuracy": 0.48, "mcc": -0.02, "auc": 0.49, "brier": 0.251},
                "reliability": [{"mean_predicted": 0.35, "observed": 0.60, "count": 30}],
            }
        },
        "shap_importance": {"rsi": 0.1},
    },
]


def test_stages_section_has_one_row_per_fold_and_stage():
    title, html = stages_section(FOLDS)

    assert title == "Signal stages (out of sample)"
    assert html.count("<tr>") == 1 + 3
    assert "<td>0</td><td>final</td><td>0.550</td>" in html
    assert "<td>1</td><td>stage 1</td><td>0.480</td><td>-0.020</td>" in html


def test_calibration_pools_the_folds_weighted_by_count():
    _, html = calibration_section(FOLDS)

    # bin 0: (10 * 0.45 + 30 * 0.35) / 40 = 0.375 predicted, (10 * 0.40 + 30 * 0.60) / 40 = 0.55 observed
    assert "<td>0.375</td><td>0.550</td><td>40</td>" in html


def test_shap_section_embeds_a_png_and_says_when_there_is_nothing():
    _, html = shap_section(FOLDS)
    _, empty = shap_section([{"index": 0}])

    assert 'src="data:image/png;base64,' in html
    assert "No attributions" in empty


def test_regimes_section_shows_the_share_of_bars_per_regime_and_the_switches():
    ts = pd.date_range("2020-01-01", periods=4, tz="UTC")
    regimes = pd.DataFrame(
        {"ts": ts, "instrument_id": ["A"] * 4, "regime": ["calm", "calm", "volatile", "calm"]}
    )

    _, html = regimes_section(regimes)

    assert "<td>A</td><td>0.75</td><td>0.25</td>" in html
    assert "2 regime switches" in html


def test_risk_section_counts_actions_and_escapes_reasons():
    ts = pd.Timestamp("2020-01-02", tz="UTC")
    base = {"ts": ts, "instrument_id": "A", "trading_state": "ACTIVE", "requested_qty": 5.0}
    rows = [
        {**base, "action": "sized", "approved_qty": 5.0, "reason": "within limits"},
        {**base, "action": "rejected", "approved_qty": 0.0, "reason": "CVaR 2% > 1% <budget>"},
    ]

    _, html = risk_section(pd.DataFrame(rows))

    assert "<td>rejected</td><td>1</td>" in html and "<td>sized</td><td>1</td>" in html
    assert "&lt;budget&gt;" in html and "<budget>" not in html
    assert "No risk decisions" in risk_section(pd.DataFrame({"ts": []}))[1]
