"""The experiment config: one TOML file → pydantic models → NautilusTrader configs.

Unknown keys are errors; the resolved config is saved beside every run's results with its hash
(ARCHITECTURE rule 4). :func:`load_experiment` turns validation failures into a
:class:`~nautilus_ai.errors.ConfigError` naming the file and the field.
"""

import hashlib
import tomllib
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import tomli_w
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.feature_spec import FeatureSpec


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSection(_Section):
    """Where the data comes from: the catalog, the instruments and their bars."""

    catalog: str | None = Field(
        None, description="ParquetDataCatalog path (the CLI's --catalog overrides it)"
    )
    instruments: list[str] = Field(..., min_length=1, description="Instrument ids, e.g. AAPL.XNAS")
    bar_spec: str = Field("1-DAY-LAST", description="Bar spec; bar type = '<instrument>-<bar_spec>-EXTERNAL'")
    start: str | None = Field(None, description="First timestamp used (ISO), default: the data's start")
    end: str | None = Field(None, description="Last timestamp used (ISO), default: the data's end")

    @field_validator("instruments")
    @classmethod
    def _instrument_ids_parse(cls, value: list[str]) -> list[str]:
        for iid in value:
            try:
                InstrumentId.from_str(iid)
            except ValueError:
                raise ValueError(
                    f"{iid!r} is not an instrument id: expected SYMBOL.VENUE (AAPL.XNAS)"
                ) from None
        if len(set(value)) != len(value):
            raise ValueError(f"instruments are listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _bar_types_parse(self) -> "DataSection":
        for bar_type in self.bar_types():
            try:
                BarType.from_str(bar_type)
            except ValueError:
                raise ValueError(
                    f"bar_spec {self.bar_spec!r} does not make a bar type ({bar_type}): "
                    "expected STEP-AGGREGATION-PRICE, e.g. 1-DAY-LAST or 5-MINUTE-LAST"
                ) from None
        return self

    def bar_types(self) -> list[str]:
        """Return the bar type strings of the instruments."""
        return [f"{iid}-{self.bar_spec}-EXTERNAL" for iid in self.instruments]


class FeaturesSection(_Section):
    """The FeatureSpec parameters (see :class:`~nautilus_ai.indicators.feature_spec.FeatureSpec`)."""

    return_horizons: list[int] = [1, 5, 20]
    rsi_period: int = 14
    ema_periods: list[int] = [10, 30]
    atr_period: int = 14
    volatility_window: int = 20
    volume_window: int = 20
    range_volatility_window: int | None = None
    vpin_bucket_volume: float | None = None
    vpin_buckets: int = 50
    vpin_source: Literal["bars", "trades"] = "bars"
    order_flow_window: int | None = None
    microprice: bool = False
    book_levels: int | None = None
    sentiment_half_life_s: float | None = None
    sentiment_window_s: float = 86400.0
    sentiment_scorer: str | None = Field(
        default=None, description="Label of the stored SentimentScores to use (nautilus-ai catalog score)"
    )
    onchain_metrics: list[str] = []
    onchain_instrument: str | None = None
    onchain_diff: int = 1
    onchain_window: int = 30

    def to_spec(self) -> FeatureSpec:
        """Return the equivalent FeatureSpec."""
        try:
            return FeatureSpec(
                return_horizons=tuple(self.return_horizons),
                rsi_period=self.rsi_period,
                ema_periods=tuple(self.ema_periods),
                atr_period=self.atr_period,
                volatility_window=self.volatility_window,
                volume_window=self.volume_window,
                range_volatility_window=self.range_volatility_window,
                vpin_bucket_volume=self.vpin_bucket_volume,
                vpin_buckets=self.vpin_buckets,
                vpin_source=self.vpin_source,
                order_flow_window=self.order_flow_window,
                microprice=self.microprice,
                book_levels=self.book_levels,
                sentiment_half_life_s=self.sentiment_half_life_s,
                sentiment_window_s=self.sentiment_window_s,
                sentiment_scorer=self.sentiment_scorer,
                onchain_metrics=tuple(self.onchain_metrics),
                onchain_instrument=self.onchain_instrument,
                onchain_diff=self.onchain_diff,
                onchain_window=self.onchain_window,
            )
        except ValueError as e:
            raise ConfigError(f"[features]: {e}") from e


class LabelSection(_Section):
    """The training label: the direction of the forward return over ``horizon_bars``."""

    horizon_bars: int = Field(default=5, ge=1)


class RegimeSection(_Section):
    """The regime model: fitted per fold on the training window, run online by the RegimeActor."""

    enabled: bool = False
    kind: Literal["hmm", "gmm", "kmeans"] = "hmm"
    n_states: int = Field(default=3, ge=2, le=8)
    features: list[str] = Field(
        default=["ret_1", "rvol"], min_length=1, description="FeatureVector columns the regime model reads"
    )
    min_dwell: int = Field(default=3, ge=1, description="Steps a new state must lead before it is published")


class Stage2Section(_Section):
    """The stage-2 sequence model over the last ``window`` FeatureVectors (plus regime probabilities)."""

    enabled: bool = False
    kind: Literal["lstm", "transformer"] = "lstm"
    window: int = Field(default=10, ge=2)
    hidden: int = Field(default=16, ge=1)
    layers: int = Field(default=1, ge=1)
    heads: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    lr: float = Field(default=1e-3, gt=0.0)
    batch_size: int = Field(default=128, ge=1)
    max_epochs: int = Field(default=20, ge=1)
    patience: int = Field(default=4, ge=1)
    device: Literal["cpu", "cuda", "auto"] = "cpu"


class Stage3Section(_Section):
    """The stage-3 calibrated meta-model over stage-1, stage-2 and regime outputs."""

    enabled: bool = False
    calibration: Literal["isotonic", "platt", "none"] = "platt"
    validation_fraction: float = Field(
        default=0.25, gt=0.0, lt=0.9, description="Last part of each training window the meta-model learns on"
    )


class ModelSection(_Section):
    """The staged signal model and the thresholds that turn its probability into a direction.

    ``kind`` is the stage-1 model; ``filter_margin`` is the stage-1 filter (events with
    ``|p1 - 0.5| < filter_margin`` give a flat signal); ``stage2``/``stage3`` switch the sequence
    model and the calibrated meta-model on.
    """

    name: str = "direction"
    kind: Literal["lightgbm", "xgboost", "random_forest"] = "lightgbm"
    params: dict[str, Any] = {}
    long_threshold: float = Field(default=0.55, ge=0.0, le=1.0)
    short_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    filter_margin: float = Field(default=0.0, ge=0.0, lt=0.5)
    top_k: int = Field(default=3, ge=0, description="Attributions stored with every signal")
    model_max_age: str | None = Field(
        default=None,
        description="Oldest a served model may be (Timedelta from its training end, market time); "
        "older models give flat signals",
    )
    halt_on_expiry: bool = Field(default=False, description="Also halt trading when the model expires")
    stage2: Stage2Section = Stage2Section()
    stage3: Stage3Section = Stage3Section()

    @field_validator("model_max_age")
    @classmethod
    def _is_age(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                age = pd.Timedelta(value)
            except ValueError as error:
                raise ValueError(f"must be a duration such as '400D', was {value!r}") from error
            if age <= pd.Timedelta(0):
                raise ValueError(f"must be a positive duration, was {value!r}")
        return value

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> "ModelSection":
        if self.short_threshold > self.long_threshold:
            raise ValueError("short_threshold must be <= long_threshold")
        return self


class StrategySection(_Section):
    """The strategy: one volatility-targeted MLStrategy per instrument, or one PortfolioStrategy.

    ``kind = "ml"``: each instrument's MLStrategy sizes its own position (the portfolio volatility
    target split over the instruments). ``kind = "portfolio"``: one PortfolioStrategy combines every
    instrument's signal into riskfolio-lib target weights (see ``[portfolio]``).
    """

    kind: Literal["ml", "portfolio"] = "ml"

    target_volatility: float = Field(default=0.10, gt=0.0, description="Annualized, for the whole portfolio")
    max_weight: float = Field(
        default=1.0,
        gt=0.0,
        description="Gross leverage cap: each of n positions is capped at max_weight / n of equity",
    )
    allow_short: bool = True
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    rebalance_band: float = Field(default=0.25, ge=0.0, lt=1.0)
    periods_per_year: float | None = Field(
        default=None, gt=0.0, description="Default: inferred from the bar spec"
    )


class PortfolioSection(_Section):
    """The PortfolioStrategy's aggregator (used with ``[strategy] kind = "portfolio"``)."""

    method: Literal["hrp", "mean_cvar", "kelly"] = "hrp"
    gross_target: float = Field(default=1.0, gt=0.0)
    max_turnover: float | None = Field(
        default=None, gt=0.0, description="Per rebalance, sum of |weight changes|"
    )
    max_position_weight: float = Field(default=0.2, gt=0.0)
    max_group_weight: float | None = Field(default=None, gt=0.0, description="Per sector")
    sectors: dict[str, str] | None = Field(default=None, description="Symbol -> sector (default: StockNet's)")
    min_probability: float = Field(default=0.5, ge=0.0, le=1.0)
    min_history: int = Field(default=60, ge=2)
    max_signal_age_bars: int | None = Field(default=None, ge=1)
    rebalance_every_bars: int = Field(default=5, ge=1)


class RiskSection(_Section):
    """The risk layer: sizing rule, pre-trade limits, CVaR budget, stops and the kill switch.

    Every order of MLStrategy passes the RiskGate with these limits (see docs/risk.md). The CVaR
    scenarios are block-bootstrapped from each fold's training-window returns only.
    """

    sizing: Literal["volatility", "kelly_volatility"] = "volatility"
    kelly_fraction: float = Field(default=0.5, gt=0.0, le=1.0)
    max_position_notional: float | None = Field(
        default=None, gt=0.0, description="Per position, account currency"
    )
    max_gross_leverage: float | None = Field(default=None, gt=0.0)
    max_net_leverage: float | None = Field(default=None, gt=0.0)
    cvar_budget: float | None = Field(default=None, gt=0.0, description="Largest CVaR, fraction of equity")
    cvar_alpha: float = Field(default=0.95, gt=0.0, lt=1.0)
    cvar_horizon_bars: int = Field(default=1, ge=1)
    cvar_scenarios: int = Field(default=2000, ge=100)
    cvar_block_length: float = Field(default=5.0, ge=1.0)
    stops: Literal["none", "atr", "atr_trailing"] = "none"
    atr_period: int = Field(default=14, ge=1)
    stop_atr_multiple: float = Field(default=2.0, gt=0.0)
    target_atr_multiple: float = Field(default=3.0, gt=0.0)
    trail_atr_multiple: float | None = Field(default=None, gt=0.0)
    guard: bool = Field(
        default=True, description="Run the RiskGuardActor (drawdown / daily-loss kill switch)"
    )
    reduce_drawdown: float = Field(default=0.10, gt=0.0, lt=1.0)
    halt_drawdown: float = Field(default=0.20, gt=0.0, lt=1.0)
    reduce_daily_loss: float = Field(default=0.03, gt=0.0, lt=1.0)
    halt_daily_loss: float = Field(default=0.05, gt=0.0, lt=1.0)
    stale_data_intervals: int | None = Field(default=None, ge=1)
    stale_model_bars: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _levels_ordered(self) -> "RiskSection":
        if self.reduce_drawdown > self.halt_drawdown:
            raise ValueError("reduce_drawdown must be <= halt_drawdown")
        if self.reduce_daily_loss > self.halt_daily_loss:
            raise ValueError("reduce_daily_loss must be <= halt_daily_loss")
        return self


class VenueSection(_Section):
    """The simulated venue account and its transaction costs.

    Costs go through NautilusTrader's own models, set on every simulated venue
    (``BacktestVenueConfig.fill_model`` / ``fee_model``), for the strategy and every baseline alike:

    * a ``FillModel``: market fills slip one tick with probability ``prob_slippage``, resting limit
      orders fill at their price with probability ``prob_fill_on_limit``; seeded from the
      experiment's ``seed``, so a run is reproducible;
    * a fee model: ``"instrument"`` charges each instrument's maker/taker fee on the fill notional
      (``MakerTakerFeeModel``), ``"per_share"`` charges ``commission`` per unit filled
      (``PerContractFeeModel``), ``"fixed"`` charges ``commission`` once per order
      (``FixedFeeModel``). ``commissions`` overrides ``commission`` for named venues.

    The defaults (no slippage, limit orders always fill, instrument fees) are NautilusTrader's own.
    """

    starting_balance: float = Field(default=1_000_000.0, gt=0.0)
    currency: str = "USD"
    oms_type: Literal["NETTING", "HEDGING"] = "NETTING"
    account_type: Literal["MARGIN", "CASH"] = "MARGIN"
    prob_fill_on_limit: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Probability a limit order resting at the touch fills"
    )
    prob_slippage: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Probability a market fill slips one tick against the order"
    )
    fee_model: Literal["instrument", "per_share", "fixed"] = Field(
        default="instrument", description="How commissions are charged (see the class docstring)"
    )
    commission: float | None = Field(
        default=None,
        ge=0.0,
        description="Venue currency per unit (per_share) or per order (fixed); not used with 'instrument'",
    )
    commissions: dict[str, float] = Field(
        default={}, description="Venue name -> commission, overriding `commission` for that venue"
    )

    @field_validator("commissions")
    @classmethod
    def _commissions_not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for venue, amount in value.items():
            if not amount >= 0.0:
                raise ValueError(f"commission of venue {venue!r} must be >= 0, was {amount}")
        return value

    @model_validator(mode="after")
    def _commission_matches_fee_model(self) -> "VenueSection":
        if self.fee_model == "instrument":
            if self.commission is not None or self.commissions:
                raise ValueError(
                    "commission/commissions are set but fee_model is 'instrument' (which charges the "
                    "instruments' maker/taker fees): set fee_model = 'per_share' or 'fixed', or drop them"
                )
            return self
        if self.commission is None:
            raise ValueError(f"fee_model {self.fee_model!r} needs a commission (venue currency)")
        if self.fee_model == "fixed" and (
            self.commission <= 0.0 or any(v <= 0.0 for v in self.commissions.values())
        ):
            raise ValueError("fee_model 'fixed' needs positive commissions (NautilusTrader's FixedFeeModel)")
        return self

    def commission_of(self, venue: str) -> float | None:
        """Return the commission charged on ``venue`` (None with instrument fees)."""
        if self.fee_model == "instrument":
            return None
        return self.commissions.get(venue, self.commission)


class WalkForwardSection(_Section):
    """The walk-forward windows, the embargo, the baselines and the overfitting statistics.

    ``embargo_bars`` drops, on top of the purge, the training rows whose label ends within that
    many bars of the test window's start. ``baselines`` run beside the model on every test window
    with the same data, venue and costs (``ema_*`` configure the EMA crossover). ``n_trials``,
    ``trial_sharpe_variance`` and ``pbo_splits`` feed the deflated Sharpe ratio and the
    probability of backtest overfitting written to ``metrics.json`` (see docs/metrics.md).
    """

    scheme: Literal["rolling", "anchored"] = "rolling"
    train: str = Field(default="730D", description="Training window length (pandas Timedelta string)")
    test: str = Field(default="182D", description="Test window length")
    step: str | None = Field(default=None, description="Distance between folds, default: the test length")
    warmup_bars: int | None = Field(default=None, ge=0, description="Bars replayed before each test window")
    workers: int = Field(default=2, ge=1, description="Backtest processes run in parallel")
    runs_per_process: int = Field(
        default=8, ge=1, description="Backtests a worker process runs before it is replaced by a fresh one"
    )
    embargo_bars: int = Field(
        default=0,
        ge=0,
        description="Training rows whose label ends within this many bars of the test start are dropped too",
    )
    baselines: list[Literal["buy_and_hold", "ema_cross"]] = Field(
        default=["buy_and_hold", "ema_cross"],
        description="Baseline strategies backtested beside the model on every test window",
    )
    ema_fast: int = Field(default=20, ge=1, description="Fast EMA period of the ema_cross baseline (bars)")
    ema_slow: int = Field(default=50, ge=2, description="Slow EMA period of the ema_cross baseline (bars)")
    ema_allow_short: bool = Field(
        default=False, description="ema_cross goes short when fast < slow (else it is flat)"
    )
    n_trials: int = Field(
        default=1,
        ge=1,
        description="Strategy configurations tried before this one (the deflated Sharpe ratio's N)",
    )
    trial_sharpe_variance: float | None = Field(
        default=None,
        ge=0.0,
        description="Variance of the trials' annualized Sharpe ratios, when known (default: from the run's "
        "candidates)",
    )
    pbo_splits: int = Field(
        default=8, ge=2, description="Even number of CSCV blocks for the probability of backtest overfitting"
    )

    @field_validator("train", "test", "step")
    @classmethod
    def _is_timedelta(cls, value: str | None) -> str | None:
        if value is not None and pd.Timedelta(value) <= pd.Timedelta(0):
            raise ValueError(f"must be a positive duration, was {value!r}")
        return value

    @field_validator("baselines")
    @classmethod
    def _baselines_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"baselines are listed twice: {value}")
        return value

    @field_validator("pbo_splits")
    @classmethod
    def _pbo_splits_even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"must be even (CSCV splits the blocks in halves), was {value}")
        return value

    @model_validator(mode="after")
    def _ema_periods_ordered(self) -> "WalkForwardSection":
        if self.ema_fast >= self.ema_slow:
            raise ValueError(f"ema_fast ({self.ema_fast}) must be shorter than ema_slow ({self.ema_slow})")
        return self


class ExecutionSection(_Section):
    """How the MLStrategy's entries reach the venue (``docs/execution.md``).

    ``mode = "selector"`` (default): each approved intent goes through the order-type selector and is
    sent as a market order, a limit order joining the touch, or a parent worked by the TWAP, VWAP,
    iceberg or POV ExecAlgorithm; ``"market"``: plain market orders (the always-market baseline).
    ``liquidity_source = "analyzer"`` runs the MicrostructureAnalyzer on the node's quotes, trades or
    book (``analyzer_book_source``); ``"bars"`` estimates the liquidity from the bars with an assumed
    spread and a visible depth of ``depth_bar_fraction`` of a typical bar's volume.
    """

    mode: Literal["selector", "market"] = "selector"
    liquidity_source: Literal["bars", "analyzer"] = "bars"
    assumed_spread_bps: float = Field(default=1.0, ge=0.0, description="Spread assumed on bar data")
    depth_bar_fraction: float = Field(default=0.1, gt=0.0, description="Visible depth per side on bar data")
    liquidity_window: int = Field(default=20, ge=2, description="Bars of the bar liquidity estimate")
    algorithms: list[Literal["twap", "vwap", "iceberg", "pov"]] = ["twap", "vwap", "iceberg"]
    on_horizon_end: Literal["finish", "cancel"] = "finish"
    selector: dict[str, float] = Field(
        default_factory=dict, description="Thresholds of nautilus_ai.execution.selector.SelectorConfig"
    )
    max_retries: int = Field(default=3, ge=0, description="Rejected children re-sent per parent")
    vwap_bucket_minutes: int = Field(default=30, ge=1, description="VWAP profile bucket length")
    analyzer_book_source: Literal["quotes", "deltas", "depth10"] = "quotes"
    analyzer_book_type: Literal["L1_MBP", "L2_MBP", "L3_MBO"] = "L2_MBP"
    analyzer_levels: int = Field(default=5, ge=1)

    @field_validator("algorithms")
    @classmethod
    def _has_twap(cls, value: list[str]) -> list[str]:
        if "twap" not in value:
            raise ValueError(f"must include 'twap' (the fallback of every schedule), was {value}")
        return value

    @field_validator("selector")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        from nautilus_ai.execution.selector import SelectorConfig

        derived = {"lot", "bar_seconds"}  # from the instrument and the bar type
        unknown = sorted(set(value) - (set(SelectorConfig.__dataclass_fields__) - derived))
        if unknown:
            raise ValueError(
                f"unknown selector thresholds {unknown} (lot and bar_seconds come from the instrument, bars)"
            )
        return value


class LearningSection(_Section):
    """Adaptive learning on a paper node (``docs/adaptive.md``).

    With ``enabled``, every instrument gets an ExperienceActor (decisions, outcomes, drift checks
    against ``reference_features`` over the served model's training window) and, with ``updater``,
    a ModelUpdaterActor (background update on a retrain trigger, shadow evaluation, gated promotion,
    hot swap).
    """

    enabled: bool = False
    buffer_dir: str = Field(default="runs/experience", description="Experience buffers (one per instrument)")
    capacity: int = Field(default=10_000, ge=1)
    save_every_bars: int = Field(default=0, ge=0)
    reference_features: str | None = Field(
        default=None, description="FeatureRecorder/walk-forward features.parquet holding the training window"
    )
    drift_every_bars: int = Field(default=20, ge=1)
    drift_window: int = Field(default=60, ge=2)
    cooldown_bars: int = Field(default=0, ge=0)
    rebase_rows: int = Field(default=250, ge=0)
    drift: dict[str, float] = Field(default_factory=dict, description="DriftConfig thresholds")
    updater: bool = True
    retrain_every_bars: int = Field(default=0, ge=0)
    apply_after_bars: int = Field(default=0, ge=0)
    worker: Literal["process", "thread"] = "process"
    shadow_min_outcomes: int = Field(default=50, ge=1)
    update: dict[str, Any] = Field(default_factory=dict, description="UpdateConfig fields")
    gate: dict[str, Any] | None = Field(default=None, description="PromotionGate of the shadow promotion")

    @field_validator("drift")
    @classmethod
    def _known_drift(cls, value: dict[str, float]) -> dict[str, float]:
        from nautilus_ai.learning.drift import DriftConfig

        DriftConfig.model_validate(value)
        return value

    @field_validator("update")
    @classmethod
    def _known_update(cls, value: dict[str, Any]) -> dict[str, Any]:
        from nautilus_ai.learning.updater import UpdateConfig

        UpdateConfig.model_validate(value)
        return value

    @field_validator("gate")
    @classmethod
    def _known_gate(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from nautilus_ai.learning.promotion import PromotionGate

        if value is not None:
            PromotionGate.model_validate(value)
        return value


class ExperimentConfig(_Section):
    """A whole experiment: data, features, label, model, strategy, venue and walk-forward."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 42
    data: DataSection
    features: FeaturesSection = FeaturesSection()
    label: LabelSection = LabelSection()
    regime: RegimeSection = RegimeSection()
    model: ModelSection = ModelSection()
    strategy: StrategySection = StrategySection()
    portfolio: PortfolioSection = PortfolioSection()
    risk: RiskSection = RiskSection()
    venue: VenueSection = VenueSection()
    execution: ExecutionSection = ExecutionSection()
    walkforward: WalkForwardSection = WalkForwardSection()
    learning: LearningSection = LearningSection()

    def to_toml(self) -> str:
        """Return the resolved config as TOML (defaults filled in, None values left out)."""
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))

    def config_hash(self) -> str:
        """Return the hash of the resolved config."""
        return hashlib.sha256(self.to_toml().encode()).hexdigest()[:12]

    def with_catalog(self, catalog: str | None) -> "ExperimentConfig":
        """Return a copy whose data section points at ``catalog`` (when given)."""
        if catalog is None:
            return self
        return self.model_copy(update={"data": self.data.model_copy(update={"catalog": str(catalog)})})


def parse_experiment(data: dict[str, Any], source: str = "<config>") -> ExperimentConfig:
    """Validate a config mapping, raising :class:`ConfigError` that names ``source`` and the fields."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"[{'.'.join(str(p) for p in err['loc'])}] {err['msg']}" for err in e.errors())
        raise ConfigError(f"{source}: {problems}") from None


def load_experiment(path: Path | str) -> ExperimentConfig:
    """Load and validate an experiment TOML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse_experiment(data, str(path))
