"""Regime models: online HMM forward filter, naming, hysteresis, label stability, serialization."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from nautilus_ai import test_kit
from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.artifacts import load_model
from nautilus_ai.learning.regime import (
    INITIAL_HYSTERESIS,
    hmm_forward_filter,
    hmm_forward_step,
    hysteresis_step,
    soft_kmeans_probabilities,
)
from nautilus_ai.learning.regime_models import (
    REGIME_FORMAT_HEADER,
    GMMRegimeModel,
    HMMRegimeModel,
    KMeansRegimeModel,
    RegimeModel,
)
from nautilus_ai.learning.regime_naming import (
    StateStatistics,
    match_states,
    name_states,
    state_statistics,
)

# regime -> (drift, lag-1 autocorrelation, stationary volatility) of AR(1) log returns
REGIMES = {
    "trending": (0.002, 0.6, 0.01),
    "mean_reverting": (0.0, -0.6, 0.01),
    "volatile": (0.0, 0.0, 0.035),
}
SCHEDULE = ["trending", "volatile", "mean_reverting", "trending", "mean_reverting", "volatile"] * 3


def regime_returns(schedule: list[str], seed: int, regimes=REGIMES) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) returns switching between regimes in blocks of 100-200 steps; returns (r, true names)."""
    rng = np.random.default_rng(seed)
    returns, truth = [], []
    previous = 0.0
    for name in schedule:
        drift, phi, sigma = regimes[name]
        for _ in range(int(rng.integers(100, 200))):
            previous = drift + phi * (previous - drift) + sigma * np.sqrt(1 - phi**2) * rng.normal()
            returns.append(previous)
            truth.append(name)
    return np.array(returns), np.array(truth)


def return_features(returns: np.ndarray) -> pd.DataFrame:
    """ret_1 and ret_2 (two-bar log return) as a FeatureSpec(return_horizons=(1, 2)) would give."""
    frame = pd.DataFrame({"ret_1": returns, "ret_2": returns + np.r_[np.nan, returns[:-1]]})
    return frame.iloc[1:].reset_index(drop=True)


@pytest.fixture(scope="module")
def three_regimes() -> tuple[pd.DataFrame, np.ndarray]:
    returns, truth = regime_returns(SCHEDULE, seed=7)
    return return_features(returns), truth[1:]


@pytest.fixture(scope="module")
def hmm(three_regimes) -> HMMRegimeModel:
    features, _ = three_regimes
    return HMMRegimeModel(3, seed=1, n_init=2).fit(features)


@pytest.fixture(scope="module")
def aapl_features(tmp_path_factory) -> pd.DataFrame:
    """Real AAPL daily FeatureVectors, replayed through the FeatureActor (warm-up rows excluded)."""
    instrument = test_kit.stocknet_equity("AAPL")
    bar_type, bars = test_kit.stocknet_bars("AAPL")
    output = tmp_path_factory.mktemp("aapl") / "features.parquet"
    return test_kit.replay_feature_actor(instrument, bar_type, [bars], FeatureSpec(), output)


WINDOWS = [(0, 800), (300, 1100), (450, 1229)]


def switches(labels) -> int:
    labels = list(labels)
    return sum(a != b for a, b in zip(labels[1:], labels[:-1], strict=True))


# -- the online forward filter ----------------------------------------------------------------------


def test_hmm_filter_never_uses_future_rows(three_regimes, hmm):
    features, _ = three_regimes
    x = features.to_numpy()
    full = hmm.filter(x)
    rng = np.random.default_rng(0)
    for t in rng.choice(np.arange(1, len(x)), size=10, replace=False):
        np.testing.assert_array_equal(hmm.filter(x[:t])[-1], full[t - 1])
    # replacing the future by other data leaves the past probabilities untouched
    cut = 1200
    shuffled = np.vstack([x[:cut], rng.permutation(x[cut:])])
    np.testing.assert_array_equal(hmm.filter(shuffled)[:cut], full[:cut])


def test_hmm_filter_last_row_equals_hmmlearn_posterior_at_the_last_row(three_regimes, hmm):
    features, _ = three_regimes
    x = features.to_numpy()
    reference = hmm.to_hmmlearn()
    for t in (1, 2, 10, 150, 777, 1500, len(x)):
        expected = reference.predict_proba(hmm.standardize(x[:t]))[-1]
        np.testing.assert_allclose(hmm.filter(x[:t])[-1], expected, rtol=1e-7, atol=1e-10)
    # ... while the smoothed posteriors of earlier rows (which look ahead) differ from the filter
    smoothed = reference.predict_proba(hmm.standardize(x))
    assert np.abs(smoothed - hmm.filter(x)).max() > 0.1


def test_filter_step_equals_batch_filter_and_batch_leaves_online_state(three_regimes, hmm):
    features, _ = three_regimes
    x = features.to_numpy()[:400]
    model = RegimeModel.from_bytes(hmm.to_bytes())
    assert model.regime == ""
    streamed, published = [], []
    for t, row in enumerate(x):
        streamed.append(model.filter_step(row))
        published.append(model.regime)
        if t == 200:
            model.filter(x)  # batch calls do not disturb the online state
    np.testing.assert_array_equal(np.vstack(streamed), model.filter(x))
    assert published == model.regimes(x)
    model.reset()
    np.testing.assert_array_equal(model.filter_step(x[0]), streamed[0])


def test_forward_kernel_batch_equals_repeated_steps_and_rows_are_distributions():
    rng = np.random.default_rng(3)
    log_emissions = rng.normal(size=(50, 4)) * 3
    startprob = np.array([0.5, 0.5, 0.0, 0.0])
    transmat = rng.dirichlet(np.ones(4), size=4)
    transmat[0, 3] = 0.0
    transmat /= transmat.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        log_start, log_trans = np.log(startprob), np.log(transmat)
    batch = hmm_forward_filter(log_emissions, log_start, log_trans)
    log_alpha = None
    for t in range(50):
        log_alpha = hmm_forward_step(log_alpha, log_emissions[t], log_start, log_trans)
        np.testing.assert_array_equal(np.exp(log_alpha), batch[t])
    np.testing.assert_allclose(batch.sum(axis=1), 1.0)
    assert batch[0, 2] == batch[0, 3] == 0.0  # impossible start states stay impossible


# -- recovery and naming --------------------------------------------------------------------------


def test_hmm_recovers_three_known_regimes_and_names_them_from_their_statistics(three_regimes, hmm):
    features, truth = three_regimes
    assert hmm.regime_names_ == ("trending", "mean_reverting", "volatile")
    filtered = np.array(hmm.regime_names_)[hmm.filter(features).argmax(axis=1)]
    assert (filtered == truth).mean() > 0.9
    assert (np.array(hmm.regimes(features)) == truth).mean() > 0.9
    stats = dict(zip(hmm.regime_names_, hmm.statistics_, strict=True))
    assert stats["volatile"].volatility > 2.5 * max(
        stats["trending"].volatility, stats["mean_reverting"].volatility
    )
    assert stats["trending"].autocorrelation > 0.4
    assert stats["mean_reverting"].autocorrelation < -0.4
    returns = features["ret_1"].to_numpy()
    for name in REGIMES:  # the state statistics are those of the regime's own returns
        assert stats[name].drift == pytest.approx(returns[truth == name].mean(), abs=5e-4)


def test_two_state_hmm_names_a_drifting_persistent_state_trending_and_a_reverting_one_mean_reverting():
    returns, truth = regime_returns(["trending", "mean_reverting"] * 5, seed=11)
    features, truth = return_features(returns), truth[1:]
    model = HMMRegimeModel(2, seed=0, n_init=1).fit(features)
    assert model.regime_names_ == ("trending", "mean_reverting")
    assert (np.array(model.regimes(features)) == truth).mean() > 0.85


@pytest.mark.parametrize("cls", [GMMRegimeModel, KMeansRegimeModel])
def test_memoryless_models_separate_calm_from_volatile_on_volatility_features(cls):
    regimes = {"calm": (0.0005, 0.0, 0.01), "volatile": (0.0, 0.0, 0.04)}
    returns, truth = regime_returns(["calm", "volatile"] * 5, seed=5, regimes=regimes)
    rvol = pd.Series(returns).rolling(10).std().to_numpy()
    features = pd.DataFrame({"ret_1": returns, "rvol": rvol}).iloc[10:]
    truth = truth[10:]
    model = cls(2, seed=0, min_dwell=5).fit(features)
    assert "volatile" in model.regime_names_
    is_volatile = np.array(model.regimes(features)) == "volatile"
    assert (is_volatile == (truth == "volatile")).mean() > 0.85
    probabilities = model.filter(features)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert ((probabilities > 0.01) & (probabilities < 0.99)).any()  # soft, not one-hot


def test_gmm_step_equals_scikit_learn_predict_proba(three_regimes):
    features, _ = three_regimes
    model = GMMRegimeModel(3, seed=2, n_init=1).fit(features)
    z = model.standardize(features)
    reference = GaussianMixture(3, covariance_type="full", n_init=1, random_state=2).fit(z)
    order = match_states(model.means_, reference.means_, np.ones(2))
    np.testing.assert_allclose(model.means_, reference.means_[order], rtol=1e-12)
    np.testing.assert_allclose(model.filter(features), reference.predict_proba(z)[:, order], atol=1e-9)


def test_soft_kmeans_arg_max_is_the_kmeans_assignment(three_regimes):
    features, _ = three_regimes
    model = KMeansRegimeModel(3, seed=2, n_init=2, min_dwell=1).fit(features)
    z = model.standardize(features)
    reference = KMeans(3, n_init=2, random_state=2).fit(z)
    order = match_states(model.means_, reference.cluster_centers_, np.ones(2))
    position = np.argsort(order)  # reference cluster -> model state
    np.testing.assert_array_equal(model.filter(features).argmax(axis=1), position[reference.predict(z)])
    probabilities = soft_kmeans_probabilities(z[0], model.means_, float(model.beta_))
    distances = ((z[0] - model.means_) ** 2).sum(axis=1)
    expected = np.exp(-model.beta_ * distances) / np.exp(-model.beta_ * distances).sum()
    np.testing.assert_allclose(probabilities, expected)


def test_name_states_rule():
    def stats(vol, rho, drift=0.0):
        return StateStatistics(occupancy=0.25, drift=drift, volatility=vol, autocorrelation=rho)

    assert name_states([stats(0.01, -0.3), stats(0.04, 0.0), stats(0.01, 0.3)]) == (
        "mean_reverting",
        "volatile",
        "trending",
    )
    # two calm states: no volatile one
    assert name_states([stats(0.011, 0.2), stats(0.01, -0.2)]) == ("trending", "mean_reverting")
    # two states, one much more volatile; the other one drifts
    assert name_states([stats(0.05, 0.0), stats(0.01, 0.0, drift=0.002)]) == ("volatile", "trending")
    # four states get suffixes, the plain name for the most typical state
    assert name_states([stats(0.01, 0.5), stats(0.03, 0.0), stats(0.01, -0.4), stats(0.011, 0.1)]) == (
        "trending",
        "volatile",
        "mean_reverting",
        "trending_2",
    )
    assert name_states([stats(0.06, 0.0), stats(0.01, 0.2), stats(0.01, -0.2), stats(0.03, 0.0)]) == (
        "volatile",
        "trending",
        "mean_reverting",
        "volatile_2",
    )
    with pytest.raises(ConfigError):
        name_states([stats(0.01, 0.0)])


def test_state_statistics_of_hard_memberships():
    rng = np.random.default_rng(1)
    returns = rng.normal(0.001, 0.02, size=2000)
    weights = np.zeros((2000, 2))
    weights[:1000, 0] = 1
    weights[1000:, 1] = 1
    first, second = state_statistics(returns, weights)
    assert first.occupancy == second.occupancy == 0.5
    assert first.drift == pytest.approx(returns[:1000].mean())
    assert first.volatility == pytest.approx(returns[:1000].std())
    assert abs(first.autocorrelation) < 0.1


# -- hysteresis -----------------------------------------------------------------------------------


def test_hysteresis_waits_min_dwell_steps_or_a_decisive_margin():
    blip = [np.array(p) for p in ([0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8])]
    state = INITIAL_HYSTERESIS
    published = []
    for p in blip:
        state = hysteresis_step(state, p, min_dwell=3, switch_margin=None)
        published.append(state.published)
    assert published == [0, 0, 0, 0, 0, 1]
    state = hysteresis_step(INITIAL_HYSTERESIS, np.array([0.9, 0.1]), 3, 0.5)
    assert hysteresis_step(state, np.array([0.3, 0.7]), 3, 0.5).published == 0  # margin 0.4 < 0.5
    assert hysteresis_step(state, np.array([0.2, 0.8]), 3, 0.5).published == 1  # margin 0.6 >= 0.5


def test_min_dwell_reduces_regime_flicker_without_losing_accuracy(three_regimes, hmm):
    features, truth = three_regimes
    model = RegimeModel.from_bytes(hmm.to_bytes())
    model.min_dwell = 1
    raw = model.regimes(features)
    assert raw == list(np.array(model.regime_names_)[model.filter(features).argmax(axis=1)])
    model.min_dwell = 5
    damped = model.regimes(features)
    true_switches = switches(truth)
    assert switches(damped) < switches(raw)
    assert switches(damped) <= 2 * true_switches
    assert (np.array(damped) == truth).mean() > (np.array(raw) == truth).mean() - 0.02


# -- label stability ------------------------------------------------------------------------------


def test_refits_on_overlapping_windows_give_matching_states_the_same_names(three_regimes):
    features, _ = three_regimes
    first = HMMRegimeModel(3, seed=1, n_init=1).fit(features.iloc[:2000])
    second = HMMRegimeModel(3, seed=5, n_init=1).fit(features.iloc[800:])
    order = match_states(first.state_means(), second.state_means(), first.scale_)
    assert [second.regime_names_[k] for k in order] == list(first.regime_names_)
    assert list(order) == [0, 1, 2]  # canonical column order: the same columns in both fits
    # with a reference, the refit takes the reference's names and order even from other seeds
    third = HMMRegimeModel(3, seed=9, n_init=1).fit(features.iloc[400:], reference=first)
    assert third.regime_names_ == first.regime_names_
    np.testing.assert_allclose(third.state_means(), first.state_means(), atol=0.5 * first.scale_.max())


def test_refits_on_overlapping_windows_of_real_aapl_features_keep_names(aapl_features):
    x = aapl_features[["ret_1", "rvol"]]
    fits = [HMMRegimeModel(3, seed=s, n_init=2).fit(x.iloc[a:b]) for s, (a, b) in enumerate(WINDOWS)]
    for refit in fits[1:]:
        order = match_states(fits[0].state_means(), refit.state_means(), fits[0].scale_)
        assert [refit.regime_names_[k] for k in order] == list(fits[0].regime_names_)
    for model in fits:
        stats = dict(zip(model.regime_names_, model.statistics_, strict=True))
        assert stats["volatile"].volatility == max(s.volatility for s in model.statistics_)
    # the online filter on real data: no look-ahead, and the hmmlearn posterior at the last row
    model, values = fits[0], x.to_numpy()
    full = model.filter(values)
    reference = model.to_hmmlearn()
    for t in (1, 250, 799, 1000, len(values)):
        np.testing.assert_array_equal(model.filter(values[:t])[-1], full[t - 1])
        expected = reference.predict_proba(model.standardize(values[:t]))[-1]
        np.testing.assert_allclose(full[t - 1], expected, rtol=1e-7, atol=1e-10)


def test_a_reference_fit_keeps_names_where_the_statistics_are_nearly_tied(aapl_features):
    # with ret_20 the two calm AAPL states have almost the same autocorrelation (~0): naming from
    # statistics alone may swap them between windows, matching to a reference fit may not
    x = aapl_features[["ret_1", "ret_20", "rvol"]]
    first = HMMRegimeModel(3, seed=0, n_init=2).fit(x.iloc[0:800])
    free = HMMRegimeModel(3, seed=1, n_init=2).fit(x.iloc[300:1100])
    matched = HMMRegimeModel(3, seed=1, n_init=2).fit(x.iloc[300:1100], reference=first)
    assert matched.regime_names_ == first.regime_names_
    order = match_states(first.state_means(), free.state_means(), first.scale_)
    np.testing.assert_allclose(matched.state_means(), free.state_means()[order])
    np.testing.assert_allclose(matched.filter(x), free.filter(x)[:, order], atol=1e-12)


def test_match_states_undoes_a_permutation():
    means = np.array([[0.0, 1.0], [2.0, 0.0], [-1.0, -1.0]])
    order = match_states(means, means[[2, 0, 1]] + 0.01, np.ones(2))
    assert list(order) == [1, 2, 0]


# -- serialization --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [HMMRegimeModel, GMMRegimeModel, KMeansRegimeModel])
def test_serialization_round_trip(three_regimes, cls):
    features, _ = three_regimes
    model = cls(3, seed=4, n_init=1, min_dwell=2, switch_margin=0.6).fit(features.iloc[:900], spec_hash="abc")
    data = model.to_bytes()
    assert data.startswith(REGIME_FORMAT_HEADER)
    assert b"pickle" not in data
    loaded = RegimeModel.from_bytes(data)
    assert type(loaded) is cls
    assert loaded.to_bytes() == data
    assert loaded.feature_names_ == ("ret_1", "ret_2")
    assert loaded.spec_hash_ == "abc"
    assert loaded.regime_names_ == model.regime_names_
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.filter(features), model.filter(features))
    assert loaded.regimes(features) == model.regimes(features)
    # the model registry's loader dispatches regime models by their header
    assert type(load_model(data)) is cls


def test_corrupted_or_foreign_bytes_are_refused(three_regimes):
    features, _ = three_regimes
    data = KMeansRegimeModel(2, n_init=1).fit(features.iloc[:300]).to_bytes()
    with pytest.raises(ModelError, match="not a serialized regime model"):
        RegimeModel.from_bytes(b"nautilus-ai/direction-classifier/1\n{}")
    with pytest.raises(ModelError, match="unsupported regime model format"):
        RegimeModel.from_bytes(data.replace(b"regime-model/1", b"regime-model/9", 1))
    with pytest.raises(ModelError, match="corrupted"):
        RegimeModel.from_bytes(data[:-40])
    with pytest.raises(ModelError, match="not a HMMRegimeModel"):
        HMMRegimeModel.from_bytes(data)


def test_fit_is_deterministic_for_a_seed(three_regimes):
    features, _ = three_regimes
    first = HMMRegimeModel(3, seed=3, n_init=1).fit(features.iloc[:1000]).to_bytes()
    assert HMMRegimeModel(3, seed=3, n_init=1).fit(features.iloc[:1000]).to_bytes() == first


# -- guard checks ---------------------------------------------------------------------------------


def test_invalid_parameters_and_inputs_raise_clear_errors(three_regimes):
    features, _ = three_regimes
    with pytest.raises(ConfigError, match="n_states"):
        HMMRegimeModel(1)
    with pytest.raises(ConfigError, match="switch_margin"):
        GMMRegimeModel(2, switch_margin=1.5)
    with pytest.raises(ConfigError, match="covariance_type"):
        HMMRegimeModel(2, covariance_type="tied")
    with pytest.raises(ConfigError, match="return_feature='ret_5'"):
        KMeansRegimeModel(2, return_feature="ret_5").fit(features)
    with pytest.raises(ConfigError, match="feature_names"):
        KMeansRegimeModel(2).fit(features.to_numpy())
    broken = features.copy()
    broken.iloc[17, 1] = np.nan
    with pytest.raises(DataError, match="row 18, field 'ret_2'"):
        KMeansRegimeModel(2).fit(broken)
    with pytest.raises(ModelError, match="not fitted"):
        HMMRegimeModel(2).filter_step([0.0, 0.0])
    model = KMeansRegimeModel(2, n_init=1).fit(features.iloc[:300])
    with pytest.raises(DataError, match="expects 2"):
        model.filter_step([0.0])
    with pytest.raises(DataError, match="non-finite"):
        model.filter_step([0.0, np.nan])


def test_feature_indices_pick_the_model_features_by_name(three_regimes):
    features, _ = three_regimes
    model = KMeansRegimeModel(2, n_init=1).fit(features.iloc[:300], spec_hash="spec-a")
    assert list(model.feature_indices(["rsi", "ret_2", "ret_1"])) == [2, 1]
    with pytest.raises(ModelError, match=r"lack the regime model's features \['ret_2'\]"):
        model.feature_indices(["ret_1", "rvol"])
    model.check_spec_hash("spec-a")
    with pytest.raises(ModelError, match="spec-b"):
        model.check_spec_hash("spec-b")
