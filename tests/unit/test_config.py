"""The experiment config: the bundled demo loads, bad input names the file and field, TOML round-trips."""

import tomllib
from pathlib import Path

import pytest

from nautilus_ai import test_kit
from nautilus_ai.config import ExperimentConfig, load_experiment, parse_experiment
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.feature_spec import FeatureSpec

DEMO = test_kit.bundled_data_dir().parent / "configs" / "demo.toml"
MINIMAL = {"name": "t", "data": {"instruments": ["AAPL.XNAS"]}}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def demo() -> ExperimentConfig:
    return load_experiment(DEMO)


def test_bundled_demo_config_loads(demo):
    assert demo.name == "demo-stocknet-daily"
    assert len(demo.data.instruments) == 10
    assert demo.data.bar_types()[0] == "AAPL.XNAS-1-DAY-LAST-EXTERNAL"
    assert demo.model.long_threshold == 0.53
    assert demo.model.params["n_estimators"] == 150
    assert demo.walkforward.train == "730D"


def test_demo_features_section_is_the_default_feature_spec(demo):
    assert demo.features.to_spec() == FeatureSpec()


def test_load_experiment_accepts_a_string_path():
    assert load_experiment(str(DEMO)).name == "demo-stocknet-daily"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('name = "t"\nbogus = 1\n[data]\ninstruments = ["AAPL.XNAS"]\n', "bogus"),
        ('name = "t"\n[data]\ninstruments = ["AAPL.XNAS"]\ncolour = "red"\n', "data.colour"),
        (
            'name = "t"\n[data]\ninstruments = ["AAPL.XNAS"]\n[model]\nlong_treshold = 0.6\n',
            "model.long_treshold",
        ),
        ('name = "t"\n[data]\ninstruments = ["AAPL.XNAS"]\n[walkforward]\nfolds = 3\n', "walkforward.folds"),
    ],
)
def test_unknown_key_raises_config_error_naming_the_file_and_the_field(tmp_path, text, field):
    path = _write(tmp_path, text)

    with pytest.raises(ConfigError) as error:
        load_experiment(path)

    assert str(path) in str(error.value)
    assert f"[{field}]" in str(error.value)


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ({"long_threshold": 1.5}, "model.long_threshold"),
        ({"short_threshold": -0.1}, "model.short_threshold"),
        ({"long_threshold": 0.45, "short_threshold": 0.55}, "model"),
    ],
)
def test_bad_thresholds_raise_config_error(model, field):
    with pytest.raises(ConfigError, match=rf"\[{field}\]"):
        parse_experiment({**MINIMAL, "model": model}, "bad.toml")


def test_equal_thresholds_are_allowed():
    cfg = parse_experiment({**MINIMAL, "model": {"long_threshold": 0.5, "short_threshold": 0.5}})

    assert cfg.model.long_threshold == cfg.model.short_threshold


@pytest.mark.parametrize(
    ("section", "values", "field"),
    [
        ("walkforward", {"train": "0D"}, "walkforward.train"),
        ("walkforward", {"test": "-5D"}, "walkforward.test"),
        ("walkforward", {"workers": 0}, "walkforward.workers"),
        ("strategy", {"target_volatility": 0.0}, "strategy.target_volatility"),
        ("strategy", {"rebalance_band": 1.0}, "strategy.rebalance_band"),
        ("label", {"horizon_bars": 0}, "label.horizon_bars"),
        ("data", {"instruments": []}, "data.instruments"),
        ("learning", {"worker": "gpu"}, "learning.worker"),
        ("learning", {"update": {"decay_rate": 2.0}}, "learning.update.decay_rate"),
        ("learning", {"drift": {"psi_treshold": 0.1}}, "learning.drift.psi_treshold"),
        ("learning", {"gate": {"min_psr": 2.0}}, "learning.gate.min_psr"),
    ],
)
def test_out_of_range_values_raise_config_error_naming_the_field(section, values, field):
    data = {**MINIMAL, section: {**MINIMAL.get(section, {}), **values}}

    with pytest.raises(ConfigError, match=rf"^bad\.toml: .*\[{field}\]"):
        parse_experiment(data, "bad.toml")


def test_bad_name_raises_config_error():
    with pytest.raises(ConfigError, match=r"\[name\]"):
        parse_experiment({**MINIMAL, "name": "has spaces"})


def test_invalid_feature_section_raises_config_error_on_to_spec():
    cfg = parse_experiment({**MINIMAL, "features": {"rsi_period": 1}})

    with pytest.raises(ConfigError, match=r"\[features\].*rsi_period"):
        cfg.features.to_spec()


def test_missing_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "missing.toml")


def test_invalid_toml_raises_config_error_naming_the_file(tmp_path):
    path = _write(tmp_path, "name = \n")

    with pytest.raises(ConfigError, match="not valid TOML") as error:
        load_experiment(path)

    assert str(path) in str(error.value)


def test_to_toml_round_trips(demo):
    assert parse_experiment(tomllib.loads(demo.to_toml())) == demo


def test_to_toml_round_trips_a_config_with_catalog_and_step():
    cfg = test_kit.small_experiment(Path("/tmp/catalog"), walkforward={"step": "200D", "warmup_bars": 40})

    assert parse_experiment(tomllib.loads(cfg.to_toml())) == cfg


def test_to_toml_fills_in_defaults():
    resolved = tomllib.loads(parse_experiment(MINIMAL).to_toml())

    assert resolved["features"]["rsi_period"] == 14
    assert resolved["walkforward"]["train"] == "730D"
    assert "catalog" not in resolved["data"]  # None values are left out


def test_config_hash_is_stable(demo):
    assert demo.config_hash() == load_experiment(DEMO).config_hash()
    assert len(demo.config_hash()) == 12


@pytest.mark.parametrize(
    "update",
    [
        {"seed": 43},
        {"name": "other"},
        {"label": {"horizon_bars": 6}},
        {"features": {"rsi_period": 15}},
        {"model": {"params": {"n_estimators": 151}}},
        {"walkforward": {"scheme": "anchored"}},
    ],
)
def test_config_hash_changes_with_any_field(demo, update):
    data = demo.model_dump(mode="json", exclude_none=True)
    for key, value in update.items():
        if isinstance(value, dict):
            merged = {**data[key]}
            for inner, inner_value in value.items():
                merged[inner] = (
                    {**merged[inner], **inner_value} if isinstance(inner_value, dict) else inner_value
                )
            data[key] = merged
        else:
            data[key] = value

    changed = parse_experiment(data)

    assert changed.config_hash() != demo.config_hash()


def test_with_catalog_replaces_only_the_catalog(demo):
    moved = demo.with_catalog("/data/catalog")

    assert moved.data.catalog == "/data/catalog"
    assert moved.model_copy(update={"data": demo.data}) == demo
    assert demo.with_catalog(None) is demo
    assert moved.config_hash() != demo.config_hash()


def test_small_experiment_overrides_merge_into_sections(tmp_path):
    cfg = test_kit.small_experiment(tmp_path, walkforward={"workers": 1}, seed=3)

    assert cfg.walkforward.workers == 1
    assert cfg.walkforward.train == "540D"
    assert cfg.seed == 3
    assert cfg.data.catalog == str(tmp_path)
    assert cfg.model.params["n_estimators"] == 50
