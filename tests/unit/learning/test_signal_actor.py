import pytest
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.errors import ConfigError
from nautilus_ai.learning.signal_actor import SignalActor, SignalActorConfig, direction_from_probability

IID = InstrumentId.from_str("AAPL.XNAS")


def _config(**overrides) -> SignalActorConfig:
    args = {"instrument_id": IID, "registry_path": "/tmp/registry", "model_version": "m-0123456789ab"}
    args.update(overrides)
    return SignalActorConfig(**args)


@pytest.mark.parametrize(
    ("probability", "expected"),
    [(0.9, 1), (0.55, 1), (0.549, 0), (0.5, 0), (0.451, 0), (0.45, -1), (0.0, -1)],
)
def test_direction_follows_the_thresholds(probability, expected):
    assert direction_from_probability(probability, 0.55, 0.45) == expected


def test_equal_thresholds_never_give_a_flat_signal():
    assert direction_from_probability(0.5, 0.5, 0.5) == 1
    assert direction_from_probability(0.4999, 0.5, 0.5) == -1


def test_valid_config_builds_an_actor_without_loading_the_model():
    actor = SignalActor(_config(long_threshold=0.6, short_threshold=0.4, horizon_bars=5))

    assert actor.model is None
    assert actor.signals_published == 0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"long_threshold": 1.2}, r"long_threshold=1.2 .*\[0, 1\]"),
        ({"short_threshold": -0.1}, r"short_threshold=-0.1 .*\[0, 1\]"),
        ({"long_threshold": float("nan")}, "long_threshold"),
        ({"long_threshold": 0.4, "short_threshold": 0.6}, "set short_threshold <= long_threshold"),
        ({"horizon_bars": 0}, "horizon_bars"),
        ({"model_version": ""}, "model_version"),
        ({"registry_path": ""}, "registry_path"),
    ],
)
def test_invalid_config_says_what_to_change(overrides, match):
    with pytest.raises(ConfigError, match=match):
        SignalActor(_config(**overrides))


def test_actor_is_importable_from_config_data():
    from nautilus_trader.common.config import ActorFactory, ImportableActorConfig

    importable = ImportableActorConfig(
        actor_path="nautilus_ai.learning.signal_actor:SignalActor",
        config_path="nautilus_ai.learning.signal_actor:SignalActorConfig",
        config={"instrument_id": "AAPL.XNAS", "registry_path": "/r", "model_version": "m-0123456789ab"},
    )

    actor = ActorFactory.create(importable)

    assert isinstance(actor, SignalActor)
    assert actor.config.instrument_id == IID
    assert actor.config.long_threshold == 0.55
