"""Transaction costs of the simulated venues: the [venue] fill and fee models, and the baseline runs."""

import pytest
from nautilus_trader.backtest.config import FeeModelFactory, FillModelFactory
from nautilus_trader.backtest.models import FillModel, FixedFeeModel, MakerTakerFeeModel, PerContractFeeModel

from nautilus_ai.backtest import node_config
from nautilus_ai.config import VenueSection, WalkForwardSection
from nautilus_ai.errors import ConfigError
from nautilus_ai.test_kit import small_experiment

INSTRUMENTS = ("AAPL.XNAS", "MSFT.XNAS", "JPM.XNYS")


def _cfg(tmp_path, **venue):
    return small_experiment(tmp_path, instruments=INSTRUMENTS, venue=venue)


def test_default_venue_keeps_nautilus_defaults_no_slippage_and_instrument_fees(tmp_path):
    venues = node_config.venue_configs(_cfg(tmp_path))

    for venue in venues:
        assert venue.fill_model is not None and venue.fee_model is not None
        fill = FillModelFactory.create(venue.fill_model)
        fee = FeeModelFactory.create(venue.fee_model)
        assert isinstance(fill, FillModel)
        assert fill.prob_slippage == 0.0
        assert fill.prob_fill_on_limit == 1.0
        assert isinstance(fee, MakerTakerFeeModel)


def test_fill_model_carries_the_probabilities_and_the_experiment_seed(tmp_path):
    cfg = _cfg(tmp_path, prob_slippage=0.3, prob_fill_on_limit=0.8)

    config = node_config.fill_model_config(cfg)

    assert config.config == {"prob_fill_on_limit": 0.8, "prob_slippage": 0.3, "random_seed": cfg.seed}
    model = FillModelFactory.create(config)
    assert model.prob_slippage == 0.3
    assert model.prob_fill_on_limit == 0.8


def test_same_seed_gives_the_same_slippage_draws(tmp_path):
    cfg = _cfg(tmp_path, prob_slippage=0.5)

    first = FillModelFactory.create(node_config.fill_model_config(cfg))
    draws_a = [first.is_slipped() for _ in range(200)]
    second = FillModelFactory.create(node_config.fill_model_config(cfg))
    draws_b = [second.is_slipped() for _ in range(200)]

    assert draws_a == draws_b
    assert 0 < sum(draws_a) < 200


def test_per_share_commission_with_a_venue_override(tmp_path):
    cfg = _cfg(tmp_path, fee_model="per_share", commission=0.01, commissions={"XNYS": 0.02})

    fees = {
        v.name: FeeModelFactory.create(v.fee_model) for v in node_config.venue_configs(cfg) if v.fee_model
    }

    assert set(fees) == {"XNAS", "XNYS"}
    assert all(isinstance(f, PerContractFeeModel) for f in fees.values())
    assert node_config.fee_model_config(cfg, "XNAS").config == {"commission": "0.01 USD"}
    assert node_config.fee_model_config(cfg, "XNYS").config == {"commission": "0.02 USD"}


def test_fixed_commission_is_charged_once_per_order(tmp_path):
    cfg = _cfg(tmp_path, fee_model="fixed", commission=1.5)

    config = node_config.fee_model_config(cfg, "XNAS")

    assert config.config == {"commission": "1.5 USD", "charge_commission_once": True}
    assert isinstance(FeeModelFactory.create(config), FixedFeeModel)


def test_commission_finer_than_the_currency_is_refused(tmp_path):
    cfg = _cfg(tmp_path, fee_model="per_share", commission=0.005)

    with pytest.raises(ConfigError, match=r"commission of XNAS.*0\.005 USD.*more decimals"):
        node_config.venue_configs(cfg)


def test_commission_override_for_an_unknown_venue_is_refused(tmp_path):
    cfg = _cfg(tmp_path, fee_model="per_share", commission=0.01, commissions={"BINANCE": 0.01})

    with pytest.raises(ConfigError, match=r"commissions names venue\(s\) \['BINANCE'\]"):
        node_config.venue_configs(cfg)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prob_slippage": 1.5}, "less than or equal to 1"),
        ({"prob_fill_on_limit": -0.1}, "greater than or equal to 0"),
        ({"fee_model": "per_share"}, "needs a commission"),
        ({"commission": 0.01}, "fee_model is 'instrument'"),
        ({"fee_model": "fixed", "commission": 0.0}, "positive commissions"),
        ({"fee_model": "per_share", "commission": 0.01, "commissions": {"XNAS": -1.0}}, "must be >= 0"),
        ({"fee_model": "bps", "commission": 1.0}, "fee_model"),
    ],
)
def test_venue_costs_are_validated(fields, message):
    with pytest.raises(ValueError, match=message):
        VenueSection(**fields)


def test_bad_venue_costs_name_the_config_field(tmp_path):
    with pytest.raises(ConfigError, match=r"\[venue.prob_slippage\]"):
        _cfg(tmp_path, prob_slippage=2.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ema_fast": 50, "ema_slow": 20}, "ema_fast"),
        ({"pbo_splits": 7}, "must be even"),
        ({"baselines": ["ema_cross", "ema_cross"]}, "listed twice"),
        ({"baselines": ["random"]}, "buy_and_hold"),
        ({"embargo_bars": -1}, "greater than or equal to 0"),
        ({"n_trials": 0}, "greater than or equal to 1"),
    ],
)
def test_walkforward_research_fields_are_validated(fields, message):
    with pytest.raises(ValueError, match=message):
        WalkForwardSection(**fields)


def test_ema_cross_baseline_is_sized_like_buy_and_hold(tmp_path):
    cfg = small_experiment(
        tmp_path,
        instruments=INSTRUMENTS,
        walkforward={"ema_fast": 5, "ema_slow": 15, "ema_allow_short": True},
    )

    ema = node_config.ema_cross_configs(cfg, "2015-01-01")
    hold = node_config.buy_and_hold_configs(cfg, "2015-01-01")

    assert [c.strategy_path for c in ema] == ["nautilus_ai.strategies.baselines:EmaCross"] * 3
    assert [c.config["weight"] for c in ema] == [c.config["weight"] for c in hold] == [0.495, 0.495, 0.99]
    assert {c.config["fast_period"] for c in ema} == {5}
    assert {c.config["slow_period"] for c in ema} == {15}
    assert all(c.config["allow_short"] and c.config["trade_start"] == "2015-01-01" for c in ema)


def test_baseline_runs_use_the_same_venues_and_costs_as_the_model(tmp_path):
    cfg = _cfg(tmp_path, fee_model="per_share", commission=0.01, prob_slippage=0.1)
    start, end, trade_start = "2015-01-01", "2015-06-01", "2015-02-01"

    ml = node_config.ml_run(
        cfg,
        str(tmp_path),
        registry_path=str(tmp_path),
        model_version="m-1",
        start=start,
        end=end,
        trade_start=trade_start,
        equity_path="x",
    )
    for baseline in ("buy_and_hold", "ema_cross"):
        run = node_config.baseline_run(
            cfg, str(tmp_path), baseline, start=start, end=end, trade_start=trade_start, equity_path="y"
        )
        assert run.venues == ml.venues
        assert [d.instrument_id for d in run.data] == [d.instrument_id for d in ml.data]


def test_unknown_baseline_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown baseline 'random'"):
        node_config.baseline_run(
            _cfg(tmp_path),
            str(tmp_path),
            "random",
            start="2015",
            end="2016",
            trade_start="2015",
            equity_path="y",
        )
