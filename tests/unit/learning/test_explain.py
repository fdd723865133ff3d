import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import ModelError
from nautilus_ai.learning import explain
from nautilus_ai.learning.explain import (
    DecisionExplanation,
    check_additivity,
    decode_top_attributions,
    encode_top_attributions,
    explain_decision,
    global_importance,
    raw_margin,
    top_k,
    tree_attributions,
    tree_contributions,
)
from nautilus_ai.learning.explain_lime import lime_explanation
from nautilus_ai.learning.explain_plots import figure_to_svg, save_figure_png, shap_summary_figure
from nautilus_ai.learning.explain_tree import FLAT_FOREST_KEYS
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.test_kit import read_stocknet_daily

REAL_NAMES = ["ret_1", "ret_5", "vol_20", "range_1", "volume_z"]
NAMES = [*REAL_NAMES, "planted"]
FAST = {"n_estimators": 40}
PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def _aapl_features() -> tuple[np.ndarray, np.ndarray]:
    """Return AAPL daily features plus a planted column that leaks the next-day direction."""
    bars = read_stocknet_daily("AAPL")
    close = bars["adj_close"]
    log_close = np.log(close)
    volume = bars["volume"].rolling(20)
    frame = pd.DataFrame(
        {
            "ret_1": log_close.diff(),
            "ret_5": log_close.diff(5),
            "vol_20": log_close.diff().rolling(20).std(),
            "range_1": (bars["high"] - bars["low"]) / close,
            "volume_z": (bars["volume"] - volume.mean()) / volume.std(),
        }
    )
    forward = log_close.shift(-1) - log_close
    rng = np.random.default_rng(11)
    frame["planted"] = forward / forward.std() + rng.normal(0.0, 0.3, len(frame))
    frame["label"] = (forward > 0).astype(float)
    frame = frame.iloc[:-1].dropna()
    return frame[NAMES].to_numpy(), frame["label"].to_numpy()


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _aapl_features()


@pytest.fixture(scope="module")
def model(data) -> DirectionClassifier:
    x, y = data
    return DirectionClassifier(params=FAST, seed=3).fit(x, y, NAMES, "spec-explain")


# -- tree SHAP -------------------------------------------------------------------------------------


def test_lightgbm_pred_contrib_equals_shap_tree_explainer(model, data):
    import shap

    x = data[0][:200]

    values, base = tree_contributions(model, x)
    explainer = shap.TreeExplainer(model.booster_)
    with pytest.warns(UserWarning, match="LightGBM binary classifier"):
        reference = np.asarray(explainer.shap_values(x))

    assert values.shape == (200, len(NAMES))
    np.testing.assert_allclose(values, reference, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(base, float(np.ravel(explainer.expected_value)[0]), atol=1e-9)


def test_attributions_plus_base_value_equal_the_log_odds(model, data):
    x = data[0]

    values, base = tree_contributions(model, x)
    probability = model.predict_proba(x)

    np.testing.assert_allclose(values.sum(axis=1) + base, np.log(probability / (1 - probability)), atol=1e-9)
    assert check_additivity(model, x, atol=1e-9) < 1e-9


def _xgboost_model(x, y):
    import xgboost as xgb

    return xgb.XGBClassifier(n_estimators=30, max_depth=3, random_state=0, n_jobs=1).fit(x, y).get_booster()


def _forest_model(x, y):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0, n_jobs=1).fit(x, y)


@pytest.mark.parametrize("build", [_xgboost_model, _forest_model], ids=["xgboost", "sklearn_forest"])
def test_additivity_holds_for_xgboost_and_forests_and_planted_feature_leads(build, data):
    x, y = data
    fitted = build(x, y)

    values = tree_attributions(fitted, x[:300])
    worst = check_additivity(fitted, x[:300])

    assert values.shape == (300, len(NAMES))
    assert worst < 1e-4
    assert global_importance(values, NAMES).index[0] == "planted"


class _FlatForest:
    """A forest kept as flat node arrays, served by scikit-learn (the format of FLAT_FOREST_KEYS)."""

    def __init__(self, forest) -> None:
        parts: dict[str, list[np.ndarray]] = {key: [] for key in FLAT_FOREST_KEYS}
        offset = 0
        for estimator in forest.estimators_:
            tree = estimator.tree_
            value = tree.value[:, 0, :]
            parts["roots"].append(np.array([offset]))
            parts["children_left"].append(np.where(tree.children_left >= 0, tree.children_left + offset, -1))
            parts["children_right"].append(
                np.where(tree.children_right >= 0, tree.children_right + offset, -1)
            )
            parts["feature"].append(tree.feature)
            parts["threshold"].append(tree.threshold)
            parts["missing_go_to_left"].append(tree.missing_go_to_left)
            parts["proba_up"].append(value[:, 1] / value.sum(axis=1))
            offset += tree.node_count
        self.trees_ = {key: np.concatenate(arrays) for key, arrays in parts.items()}
        self._forest = forest

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._forest.predict_proba(x)[:, 1]


def test_flat_forest_equals_interventional_shap_of_the_sklearn_forest(data):
    import shap

    x, y = data
    forest = _forest_model(x, y)
    flat = _FlatForest(forest)
    background, rows = x[:100], x[500:540]

    values, base = tree_contributions(flat, rows, background=background)
    explainer = shap.TreeExplainer(forest, data=background, feature_perturbation="interventional")
    reference = explainer.shap_values(rows, check_additivity=False)[:, :, 1]

    np.testing.assert_allclose(values, reference, atol=1e-10)
    np.testing.assert_allclose(base, flat.predict_proba(background).mean(), atol=1e-10)
    assert check_additivity(flat, rows, atol=1e-6, background=background) < 1e-6  # shap sums in float32


def test_flat_forest_needs_a_background(data):
    flat = _FlatForest(_forest_model(*data))

    with pytest.raises(ModelError, match="background"):
        tree_attributions(flat, data[0][:5])


def test_random_forest_direction_classifier_is_explained_with_a_background(data):
    from nautilus_ai.learning.forest import RandomForestDirectionClassifier

    x, y = data
    model = RandomForestDirectionClassifier(params={"n_estimators": 10}, seed=0).fit(x, y, NAMES, "spec")

    result = explain_decision(model, x[700], k=2, background=x[:100])

    assert result.top[0][0] == "planted"
    assert result.margin == pytest.approx(model.predict_proba_one(x[700]), abs=1e-6)
    assert result.probability == pytest.approx(model.predict_proba_one(x[700]), abs=1e-12)


def test_xgboost_margin_is_the_log_odds_of_its_probability(data):
    import xgboost as xgb

    x, y = data
    booster = _xgboost_model(x, y)

    margin = raw_margin(booster, x[:50])
    probability = booster.predict(xgb.DMatrix(x[:50]))

    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), probability, atol=1e-6)


def test_planted_feature_dominates_global_importance(model, data):
    importance = global_importance(tree_attributions(model, data[0]), NAMES)

    assert importance.index[0] == "planted"
    assert importance.iloc[0] > 3 * importance.iloc[1]
    assert importance.is_monotonic_decreasing
    assert set(importance.index) == set(NAMES)


def test_unsupported_model_is_rejected_with_its_name(data):
    with pytest.raises(ModelError, match="LinearThing"):
        tree_attributions(type("LinearThing", (), {})(), data[0])


def test_unfitted_direction_classifier_is_rejected(data):
    with pytest.raises(ModelError, match="DirectionClassifier"):
        tree_attributions(DirectionClassifier(), data[0])


def test_wrong_width_is_rejected(model, data):
    with pytest.raises(ModelError, match="6"):
        tree_attributions(model, data[0][:, :3])


# -- ranking and encoding --------------------------------------------------------------------------


def test_top_k_orders_by_magnitude_and_breaks_ties_by_column_order():
    row = np.array([0.1, -0.5, 0.5, 0.0, -0.2])
    names = ["a", "b", "c", "d", "e"]

    assert top_k(row, names, 3) == (("b", -0.5), ("c", 0.5), ("e", -0.2))
    assert top_k(row, names, 10)[-1] == ("d", 0.0)
    assert top_k(row, names, 0) == ()
    with pytest.raises(ModelError, match="k must be"):
        top_k(row, names, -1)


def test_encoding_round_trips_and_matches_the_signal_format():
    pairs = (("rsi:14", 0.123), ("ret_5", -0.045), ("vol", 1.5e-7))

    text = encode_top_attributions(pairs)

    assert text == "rsi:14:+0.123;ret_5:-0.045;vol:+1.5e-07"
    assert decode_top_attributions(text) == pairs
    assert decode_top_attributions("") == ()
    assert encode_top_attributions(()) == ""


@pytest.mark.parametrize("bad", ["novalue", "a:+0.1;:0.2", "a:abc"])
def test_malformed_encoding_is_rejected(bad):
    with pytest.raises(ModelError, match="malformed"):
        decode_top_attributions(bad)


def test_encoding_rejects_separator_in_name_and_nan():
    with pytest.raises(ModelError, match="';'"):
        encode_top_attributions((("a;b", 0.1),))
    with pytest.raises(ModelError, match="not finite"):
        encode_top_attributions((("a", float("nan")),))


# -- one decision ----------------------------------------------------------------------------------


def test_explain_decision_reports_probability_base_and_sorted_attributions(model, data):
    x = data[0][100]

    result = explain_decision(model, x, k=3)

    assert isinstance(result, DecisionExplanation)
    assert result.probability == pytest.approx(model.predict_proba_one(x), abs=1e-12)
    assert result.margin == pytest.approx(np.log(result.probability / (1 - result.probability)), abs=1e-9)
    magnitudes = [abs(value) for _, value in result.attributions]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert result.top == result.attributions[:3]
    assert result.base_value + sum(v for _, v in result.attributions) == pytest.approx(result.margin)
    assert [name for name, _ in decode_top_attributions(result.encoded_top())] == [n for n, _ in result.top]
    assert result.value_of("planted") == x[NAMES.index("planted")]


def test_explain_decision_needs_names_for_a_bare_booster(model, data):
    with pytest.raises(ModelError, match="names"):
        explain_decision(model.booster_, data[0][0])

    result = explain_decision(model.booster_, data[0][0], names=NAMES, k=2)

    assert result.probability == pytest.approx(model.predict_proba_one(data[0][0]))


# -- LIME ------------------------------------------------------------------------------------------


def test_lime_is_deterministic_and_ranks_the_planted_feature_first(model, data):
    x, _ = data
    row = x[np.argmax(np.abs(x[:, NAMES.index("planted")]))]

    first = lime_explanation(model.predict_proba, x, row, NAMES, num_features=4, seed=5, num_samples=1000)
    second = lime_explanation(model.predict_proba, x, row, NAMES, num_features=4, seed=5, num_samples=1000)

    assert first == second
    assert len(first) == 4
    assert first[0][0] == "planted"
    assert (first[0][1] > 0) == (row[NAMES.index("planted")] > 0)


def test_lime_rejects_missing_values(model, data):
    x = data[0].copy()
    x[0, 0] = np.nan

    with pytest.raises(ModelError, match="NaN"):
        lime_explanation(model.predict_proba, x, x[1], NAMES)


# -- sequence models -------------------------------------------------------------------------------


def test_sequence_explainer_identifies_the_one_informative_feature():
    import torch

    from nautilus_ai.learning.explain_sequence import sequence_attributions, sequence_global_importance

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(256, 8, 4)).astype(np.float32)
    labels = (windows[:, :, 2].mean(axis=1) > 0).astype(np.float32)

    class TinyGRU(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(4, 8, batch_first=True)
            self.head = torch.nn.Linear(8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.gru(x)[0][:, -1]).squeeze(1)

    module = TinyGRU()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.03)
    inputs, targets = torch.from_numpy(windows), torch.from_numpy(labels)
    for _ in range(120):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(module(inputs), targets).backward()
        optimizer.step()
    module.train()
    state = np.random.get_state()

    values = sequence_attributions(module, windows[:64], windows[200:208], nsamples=64, seed=1)
    again = sequence_attributions(module, windows[:64], windows[200:208], nsamples=64, seed=1)
    importance = sequence_global_importance(values, ["a", "b", "informative", "d"])

    assert values.shape == (8, 8, 4)
    np.testing.assert_array_equal(values, again)
    assert importance.index[0] == "informative"
    assert importance.iloc[0] > 3 * importance.iloc[1]
    assert module.training  # the explainer restores the module's mode
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2] == after[2]  # global NumPy state untouched


def test_sequence_explainer_rejects_mismatched_windows():
    import torch

    from nautilus_ai.learning.explain_sequence import sequence_attributions

    with pytest.raises(ModelError, match="window"):
        sequence_attributions(torch.nn.Linear(3, 1), np.zeros((4, 5, 3)), np.zeros((2, 6, 3)))


# -- plots -----------------------------------------------------------------------------------------


def test_summary_figure_renders_to_png_and_svg(model, data, tmp_path):
    x = data[0][:300]
    values = tree_attributions(model, x)

    fig = shap_summary_figure(values, x, NAMES)
    path = save_figure_png(fig, tmp_path / "plots" / "shap.png")
    svg = figure_to_svg(fig)

    content = path.read_bytes()
    assert len(content) > 1000
    assert content.startswith(PNG_HEADER)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert figure_to_svg(fig) == svg  # deterministic, embeddable as is


def test_bars_only_summary_figure_without_feature_values(model, data, tmp_path):
    values = tree_attributions(model, data[0][:50])

    path = save_figure_png(shap_summary_figure(values, None, NAMES, max_features=3), tmp_path / "bars.png")

    assert path.read_bytes().startswith(PNG_HEADER)


def test_heavy_names_are_reexported_lazily():
    from nautilus_ai.learning import explain_lime, explain_plots

    assert explain.lime_explanation is explain_lime.lime_explanation
    assert explain.shap_summary_figure is explain_plots.shap_summary_figure
    with pytest.raises(AttributeError):
        _ = explain.not_a_name
