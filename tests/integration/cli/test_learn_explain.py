"""``nautilus-ai learn explain`` and ``learn registry show`` on a real three-stage walk-forward run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.cli import app
from nautilus_ai.learning.explain_ranking import decode_top_attributions
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow
runner = CliRunner()
META = ("ts_event", "ts_init", "instrument_id", "spec_hash")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    catalog = demo_catalog(tmp, symbols=("AAPL",))
    cfg = small_experiment(
        catalog,
        instruments=("AAPL.XNAS",),
        data={"end": "2015-06-30"},
        regime={"enabled": True},
        model={"stage2": {"enabled": True, "max_epochs": 3}, "stage3": {"enabled": True}},
    )
    result = run_walkforward(cfg, tmp / "runs", run_id="explain")
    return result.run_dir


@pytest.fixture(scope="module")
def signal(run):
    """A ModelSignal of AAPL in the middle of the first fold's test window, with its fold's model."""
    folds = json.loads((run / "folds.json").read_text())
    signals = pd.read_parquet(run / "signals.parquet")
    rows = signals[(signals["instrument_id"] == "AAPL.XNAS") & (signals["fold"] == folds[0]["index"])]
    rows = rows.sort_values("ts_event")
    return rows.iloc[len(rows) // 2], folds[0]["model_version"]


def iso(ns: int) -> str:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").isoformat()


def explain(run: Path, *args: str) -> Result:
    return runner.invoke(app, ["learn", "explain", "--run", str(run), *args])


def explain_json(run: Path, *args: str) -> dict:
    result = explain(run, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_explain_reproduces_the_signal_of_that_bar_and_instrument(run, signal):
    row, version = signal
    report = explain_json(run, "--model", version, "--at", iso(row["ts_event"]), "--instrument", "AAPL.XNAS")

    assert report["ts_event"] == iso(row["ts_event"])
    assert report["stages"] == ["stage1", "stage2", "stage3"]
    # The backtest recomputed the features from its own warm-up, so EMA-type features differ from
    # features.parquet in the last digits: equal to 1e-6, not to the bit.
    assert report["probability"] == pytest.approx(row["probability"], abs=1e-6)
    assert report["confidence"] == pytest.approx(row["confidence"], abs=1e-6)
    assert report["direction"] == row["direction"]
    assert report["regime"] == row["regime"]
    assert report["p2"] is not None
    assert report["notes"] == []
    published = decode_top_attributions(row["top_attributions"])
    assert [a["feature"] for a in report["top_attributions"][: len(published)]] == [n for n, _ in published]
    for (_, value), item in zip(published, report["top_attributions"], strict=False):
        assert item["attribution"] == pytest.approx(value, rel=1e-3)


def test_explain_top_attributions_equal_the_staged_models_for_that_row(run, signal):
    row, version = signal
    model = ModelRegistry(run.parent / "registry").load(version)
    features = pd.read_parquet(run / "features.parquet")
    vector = features[(features["instrument_id"] == "AAPL.XNAS") & (features["ts_event"] == row["ts_event"])]
    x = vector[list(model.feature_names_)].to_numpy(dtype=np.float64)[0]

    report = explain_json(
        run,
        "--model",
        version,
        "--at",
        iso(row["ts_event"]),
        "--instrument",
        "AAPL.XNAS",
        "--k",
        str(model.top_k),
    )

    expected = model.attributions(x)
    assert [(a["feature"], a["attribution"]) for a in report["top_attributions"]] == [
        (name, pytest.approx(value, abs=1e-9)) for name, value in expected
    ]
    for item in report["top_attributions"]:
        assert item["value"] == pytest.approx(float(vector[item["feature"]].iloc[0]))
    assert report["p1"] == pytest.approx(float(model.stage1.predict_proba(x.reshape(1, -1))[0]))


def test_explain_prints_the_attributions_as_a_table(run, signal):
    row, version = signal
    report = explain_json(run, "--model", version, "--at", iso(row["ts_event"]), "--instrument", "AAPL.XNAS")

    result = explain(run, "--model", version, "--at", iso(row["ts_event"]), "--instrument", "AAPL.XNAS")

    assert result.exit_code == 0, result.output
    assert "stage-1 SHAP attributions" in result.stdout
    assert f"{report['probability']:.4f}" in result.stdout
    for item in report["top_attributions"]:
        assert f"{item['attribution']:+.6f}" in result.stdout


def test_explain_uses_the_latest_vector_known_at_the_time_never_a_later_one(run, signal):
    row, version = signal
    features = pd.read_parquet(run / "features.parquet")
    times = features.loc[features["instrument_id"] == "AAPL.XNAS", "ts_init"].sort_values().to_numpy()
    i = int(np.searchsorted(times, row["ts_init"]))
    between = int(times[i]) + (int(times[i + 1]) - int(times[i])) // 2

    just_before_next = explain_json(
        run, "--model", version, "--at", iso(int(times[i + 1]) - 1), "--instrument", "AAPL.XNAS"
    )
    in_between = explain_json(run, "--model", version, "--at", iso(between), "--instrument", "AAPL.XNAS")
    at_next = explain_json(run, "--model", version, "--at", iso(times[i + 1]), "--instrument", "AAPL.XNAS")

    assert just_before_next["ts_init"] == in_between["ts_init"] == iso(times[i])
    assert at_next["ts_init"] == iso(times[i + 1])


def test_explain_of_the_first_test_bar_shows_stage_one_and_says_why_the_window_is_missing(run):
    folds = json.loads((run / "folds.json").read_text())
    signals = pd.read_parquet(run / "signals.parquet")
    first = signals[signals["fold"] == folds[0]["index"]].sort_values("ts_event").iloc[0]

    report = explain_json(
        run, "--model", folds[0]["model_version"], "--at", iso(first["ts_event"]), "--instrument", "AAPL.XNAS"
    )

    assert report["probability"] is None and report["p2"] is None
    assert 0.0 <= report["p1"] <= 1.0
    assert len(report["top_attributions"]) == 5
    assert "no RegimeLabel" in report["notes"][0]


def test_explain_with_k_below_one_exits_2(run, signal):
    row, version = signal
    at = iso(row["ts_event"])

    result = explain(run, "--model", version, "--at", at, "--instrument", "AAPL.XNAS", "--k", "0")

    assert result.exit_code == 2
    assert "--k must be >= 1" in result.output


def test_explain_with_lime_adds_k_weights_of_stage_one_features(run, signal):
    row, version = signal

    report = explain_json(
        run,
        "--model",
        version,
        "--at",
        iso(row["ts_event"]),
        "--instrument",
        "AAPL.XNAS",
        "--k",
        "3",
        "--lime",
    )

    assert len(report["lime"]) == 3
    names = {a["feature"] for a in report["lime"]}
    features = pd.read_parquet(run / "features.parquet")
    assert names <= set(features.columns) - set(META)


def test_explain_of_an_unknown_version_exits_3_and_lists_known_versions(run, signal):
    row, _ = signal

    result = explain(
        run, "--model", "nope-000000000000", "--at", iso(row["ts_event"]), "--instrument", "AAPL.XNAS"
    )

    assert result.exit_code == 3
    assert "nope-000000000000" in result.output
    assert "latest versions" in result.output
    assert "small-direction-" in result.output


def test_explain_before_the_first_vector_exits_2(run, signal):
    _, version = signal

    result = explain(run, "--model", version, "--at", "1990-01-01", "--instrument", "AAPL.XNAS")

    assert result.exit_code == 2
    assert "before the first FeatureVector of AAPL.XNAS" in result.output


def test_explain_of_an_instrument_not_in_the_file_exits_2_naming_it(run, signal):
    row, version = signal

    result = explain(run, "--model", version, "--at", iso(row["ts_event"]), "--instrument", "ZZZ.XNAS")

    assert result.exit_code == 2
    assert "ZZZ.XNAS is not in the file" in result.output
    assert "AAPL.XNAS" in result.output


def test_explain_with_other_features_exits_3_naming_both_feature_sets(run, signal, tmp_path):
    row, version = signal
    features = pd.read_parquet(run / "features.parquet")
    first = next(c for c in features.columns if c not in META)
    features.rename(columns={first: "not_a_model_feature"}).to_parquet(tmp_path / "other.parquet")

    result = runner.invoke(
        app,
        [
            "learn",
            "explain",
            "--registry",
            str(run.parent / "registry"),
            "--features",
            str(tmp_path / "other.parquet"),
            "--model",
            version,
            "--at",
            iso(row["ts_event"]),
            "--instrument",
            "AAPL.XNAS",
        ],
    )

    assert result.exit_code == 3
    assert "not_a_model_feature" in result.output
    assert first in result.output


def test_explain_without_features_or_run_exits_2(tmp_path):
    result = runner.invoke(
        app,
        [
            "learn",
            "explain",
            "--registry",
            str(tmp_path),
            "--model",
            "m",
            "--at",
            "2016-01-04",
            "--instrument",
            "X",
        ],
    )

    assert result.exit_code == 2
    assert "--features FILE or --run DIR" in result.output


def test_registry_show_prints_every_field_of_the_record(run, signal):
    _, version = signal
    registry = run.parent / "registry"

    as_json = runner.invoke(
        app, ["learn", "registry", "show", version, "--registry", str(registry), "--json"]
    )
    as_table = runner.invoke(app, ["learn", "registry", "show", version, "--registry", str(registry)])

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == ModelRegistry(registry).get(version).to_dict()
    assert as_table.exit_code == 0, as_table.output
    for field in ("version_id", "spec_hash", "train_start", "train_end", "metrics", "code_version"):
        assert field in as_table.stdout


def test_registry_show_of_an_unknown_version_exits_3(run):
    result = runner.invoke(
        app, ["learn", "registry", "show", "nope-1", "--registry", str(run.parent / "registry")]
    )

    assert result.exit_code == 3
    assert "nope-1" in result.output
