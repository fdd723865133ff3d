"""FeatureSpec: names, warm-up and fingerprint are stable, change with every parameter, and are validated."""

import msgspec
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai import test_kit
from nautilus_ai.catalog.types import FeatureVector, topic_data_type
from nautilus_ai.indicators import feature_spec
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec

# The fingerprint of the default spec at package version 0.1.0. It must only change on purpose (a new
# default, a bumped FEATURE_CODE_VERSION or a new package version): a silent change would make every
# registered model refuse to serve.
DEFAULT_FINGERPRINT = "786248fbc3ab03b7"

# A spec whose every component needs at most 4 bars: raising one parameter makes it the warm-up.
SMALL = FeatureSpec(
    return_horizons=(1, 2),
    rsi_period=3,
    ema_periods=(2, 3),
    atr_period=3,
    volatility_window=3,
    volume_window=3,
)

CHANGED_PARAMETERS = [
    ("return_horizons", (1, 5, 10)),
    ("rsi_period", 15),
    ("ema_periods", (10, 31)),
    ("atr_period", 15),
    ("volatility_window", 21),
    ("volume_window", 21),
    ("range_volatility_window", 20),
    ("vpin_bucket_volume", 1.0e6),
    ("order_flow_window", 50),
    ("microprice", True),
    ("book_levels", 5),
    ("sentiment_half_life_s", 43200.0),
    ("onchain_metrics", ("btc_hash_rate",)),
]

# Parameters of an optional feature only matter when that feature is on.
VPIN_ON = FeatureSpec(vpin_bucket_volume=1.0e6)
CHANGED_VPIN_PARAMETERS = [("vpin_buckets", 20), ("vpin_source", "trades")]
SENTIMENT_ON = FeatureSpec(sentiment_half_life_s=43200.0)
CHANGED_SENTIMENT_PARAMETERS = [("sentiment_window_s", 3600.0), ("sentiment_scorer", "llm-gpt-4o-mini-pabc")]
ONCHAIN_ON = FeatureSpec(onchain_metrics=("btc_hash_rate",))
CHANGED_ONCHAIN_PARAMETERS = [
    ("onchain_instrument", "BTCUSD.ONCHAIN"),
    ("onchain_diff", 7),
    ("onchain_window", 10),
]

INVALID_SPECS = [
    ("rsi_period", 1),
    ("atr_period", 0),
    ("volatility_window", 1),
    ("volume_window", -3),
    ("return_horizons", ()),
    ("return_horizons", (0, 5)),
    ("ema_periods", ()),
    ("ema_periods", (1, 10)),
]

# (spec, the bar count after which every feature is defined): each component in turn dominates.
WARMUP_CASES = [
    pytest.param(FeatureSpec(), 30, id="default-ema30"),
    pytest.param(SMALL, 4, id="small"),
    pytest.param(msgspec.structs.replace(SMALL, return_horizons=(1, 40)), 41, id="return-horizon"),
    pytest.param(msgspec.structs.replace(SMALL, ema_periods=(2, 45)), 45, id="ema"),
    pytest.param(msgspec.structs.replace(SMALL, volatility_window=40), 41, id="volatility"),
    pytest.param(msgspec.structs.replace(SMALL, volume_window=42), 42, id="volume"),
]

# The same, for the components whose declared warm-up disagrees with the published vectors.
MISMATCHED_WARMUP_CASES = [
    pytest.param(
        msgspec.structs.replace(SMALL, rsi_period=40),
        41,
        id="rsi",
    ),
    pytest.param(
        msgspec.structs.replace(SMALL, atr_period=40),
        41,
        id="atr",
    ),
]


class VectorCollectorConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId


class VectorCollector(Actor):
    """Keep every FeatureVector of one instrument, grouped by spec fingerprint."""

    def __init__(self, config: VectorCollectorConfig) -> None:
        super().__init__(config)
        self.by_spec: dict[str, list[FeatureVector]] = {}

    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_data(topic_data_type(FeatureVector, iid), instrument_id=iid)

    def on_data(self, data) -> None:
        if isinstance(data, FeatureVector):
            self.by_spec.setdefault(data.spec_hash, []).append(data)


@pytest.fixture(scope="module")
def aapl_bars():
    bar_type, bars = test_kit.stocknet_bars("AAPL", "XNAS")
    return bar_type, bars[:80]


@pytest.fixture(scope="module")
def vectors_by_spec(aapl_bars) -> dict[str, list[FeatureVector]]:
    """Run one FeatureActor per warm-up case over the first 80 AAPL bars in one engine."""
    bar_type, bars = aapl_bars
    instrument = test_kit.stocknet_equity("AAPL", "XNAS")
    engine = test_kit.make_backtest_engine([instrument])
    collector = VectorCollector(VectorCollectorConfig(instrument_id=instrument.id))
    try:
        engine.add_data(bars)
        for k, case in enumerate(WARMUP_CASES + MISMATCHED_WARMUP_CASES):
            spec = case.values[0]
            engine.add_actor(
                FeatureActor(
                    FeatureActorConfig(
                        component_id=f"FeatureActor-{k}",
                        instrument_id=instrument.id,
                        bar_type=bar_type,
                        spec=spec,
                    )
                )
            )
        engine.add_actor(collector)
        engine.run()
    finally:
        engine.dispose()
    return collector.by_spec


def test_default_feature_names_are_stable():
    assert FeatureSpec().feature_names() == [
        "ret_1",
        "ret_5",
        "ret_20",
        "rsi",
        "ema_ratio_10",
        "ema_ratio_30",
        "atr_ratio",
        "rvol",
        "volume_z",
    ]


def test_default_warmup_is_the_slowest_component():
    assert FeatureSpec().warmup_bars() == 30


def test_default_fingerprint_is_stable_across_instances_and_pinned():
    assert FeatureSpec().fingerprint() == FeatureSpec().fingerprint() == DEFAULT_FINGERPRINT


def test_fingerprint_is_a_16_hex_digest():
    fingerprint = FeatureSpec().fingerprint()

    assert len(fingerprint) == 16
    int(fingerprint, 16)


@pytest.mark.parametrize(("field", "value"), CHANGED_PARAMETERS)
def test_fingerprint_changes_with_every_parameter(field, value):
    changed = msgspec.structs.replace(FeatureSpec(), **{field: value})

    assert changed.fingerprint() != FeatureSpec().fingerprint()


@pytest.mark.parametrize(("field", "value"), CHANGED_VPIN_PARAMETERS)
def test_fingerprint_changes_with_every_vpin_parameter_when_vpin_is_on(field, value):
    changed = msgspec.structs.replace(VPIN_ON, **{field: value})

    assert changed.fingerprint() != VPIN_ON.fingerprint()
    assert msgspec.structs.replace(FeatureSpec(), **{field: value}).fingerprint() == DEFAULT_FINGERPRINT


@pytest.mark.parametrize(
    ("base", "field", "value"),
    [(SENTIMENT_ON, f, v) for f, v in CHANGED_SENTIMENT_PARAMETERS]
    + [(ONCHAIN_ON, f, v) for f, v in CHANGED_ONCHAIN_PARAMETERS],
)
def test_fingerprint_changes_with_alt_data_parameters_only_when_the_feature_is_on(base, field, value):
    changed = msgspec.structs.replace(base, **{field: value})

    assert changed.fingerprint() != base.fingerprint()
    assert msgspec.structs.replace(FeatureSpec(), **{field: value}).fingerprint() == DEFAULT_FINGERPRINT


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sentiment_half_life_s", 0.0),
        ("sentiment_window_s", -1.0),
        ("onchain_metrics", ("",)),
        ("onchain_metrics", ("a", "a")),
        ("onchain_instrument", "BTCUSD"),
        ("onchain_diff", 0),
        ("onchain_window", 1),
    ],
)
def test_invalid_alt_data_parameters_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"FeatureSpec.{field}"):
        FeatureSpec(**{field: value})


def test_every_parameter_is_covered_by_the_fingerprint_test():
    fields = {f.name for f in msgspec.structs.fields(FeatureSpec)}

    assert fields == {
        field
        for field, _ in CHANGED_PARAMETERS
        + CHANGED_VPIN_PARAMETERS
        + CHANGED_SENTIMENT_PARAMETERS
        + CHANGED_ONCHAIN_PARAMETERS
    }


def test_fingerprint_changes_with_the_feature_code_version(monkeypatch):
    before = FeatureSpec().fingerprint()

    monkeypatch.setattr(feature_spec, "FEATURE_CODE_VERSION", feature_spec.FEATURE_CODE_VERSION + "-next")

    assert FeatureSpec().fingerprint() != before


def test_fingerprint_changes_with_the_package_version(monkeypatch):
    import nautilus_ai

    before = FeatureSpec().fingerprint()

    monkeypatch.setattr(nautilus_ai, "__version__", nautilus_ai.__version__ + ".post1")

    assert FeatureSpec().fingerprint() != before


def test_names_follow_the_parameters():
    spec = FeatureSpec(return_horizons=(2, 3), ema_periods=(7,))

    assert spec.feature_names() == ["ret_2", "ret_3", "rsi", "ema_ratio_7", "atr_ratio", "rvol", "volume_z"]


@pytest.mark.parametrize(("field", "value"), INVALID_SPECS)
def test_invalid_spec_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"FeatureSpec\.{field}"):
        FeatureSpec(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [("return_horizons", (5, 5)), ("ema_periods", (10, 10))],
)
def test_repeated_periods_are_rejected(field, value):
    with pytest.raises(ValueError, match=rf"FeatureSpec\.{field}"):
        FeatureSpec(**{field: value})


@pytest.mark.parametrize(("spec", "warmup"), WARMUP_CASES)
def test_spec_warmup_bars_matches_the_slowest_component(spec, warmup):
    assert spec.warmup_bars() == warmup


@pytest.mark.parametrize(("spec", "warmup"), WARMUP_CASES + MISMATCHED_WARMUP_CASES)
def test_feature_vectors_start_exactly_at_the_warmup(spec, warmup, aapl_bars, vectors_by_spec):
    _, bars = aapl_bars

    vectors = vectors_by_spec[spec.fingerprint()]

    assert vectors[0].ts_init == bars[spec.warmup_bars() - 1].ts_init
    assert len(vectors) == len(bars) - spec.warmup_bars() + 1
