"""The StockNet benchmark: the staged model on StockNet's splits, stage by stage, with ablations.

Protocol (Xu and Cohen, ACL 2018; rows from :mod:`nautilus_ai.learning.stocknet_data`):

1. Train on the train split (target days 2014-01-01 to 2015-08-01) only.
2. Choose the stage-1 hyperparameters from a small grid by the Matthews correlation coefficient on the
   validation split (2015-08-01 to 2015-10-01), separately for each feature set (with and without
   tweet sentiment); ties go to the higher accuracy, then to the earlier grid entry.
3. Evaluate every variant once on the test split (2015-10-01 to 2016-01-01): stage 1 alone, + stage 2
   (an LSTM over the 5 input days), + stage 3 (the calibrated meta-model), with and without the
   sentiment features, with and without the market regime.

A test day is predicted up when the model's probability is at least 0.5. The regime is a Gaussian HMM
over the equal-weighted market (mean one-day return and mean realized volatility of the tickers at each
close), fitted on the train decision times only and run as an online forward filter over every close,
so the probabilities at a close use no later close. As in the staged model's design, the regime
probabilities feed stages 2 and 3; stage 1 reads the bar and sentiment features alone (so "stage 1"
is the same with and without regime).

Every variant is fitted by :func:`~nautilus_ai.learning.train_staged.fit_staged` (the walk-forward's
own training): with stage 3, stages 1 and 2 learn on the training rows before the meta split (purged)
and the calibrated meta-model on their predictions for the last ``validation_fraction`` of the
training window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import matthews_corrcoef

from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.stocknet_data import (
    SENTIMENT_COLUMNS,
    StockNetSplits,
    load_stocknet_rows,
)
from nautilus_ai.learning.train_staged import StagedParams, fit_staged

ProgressCallback = Callable[[str, int, int], None]

DEFAULT_STAGE1_GRID: tuple[dict[str, Any], ...] = (
    {"n_estimators": 100, "learning_rate": 0.03, "num_leaves": 7, "min_child_samples": 100},
    {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 7, "min_child_samples": 100},
    {"n_estimators": 100, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 50},
    {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 50},
    {"n_estimators": 200, "learning_rate": 0.01, "num_leaves": 31, "min_child_samples": 200},
    {"n_estimators": 400, "learning_rate": 0.01, "num_leaves": 3, "min_child_samples": 200},
)
"""The stage-1 (LightGBM) grid searched on the validation split."""

DEFAULT_STAGE2: dict[str, Any] = {
    "window": 5,
    "kind": "lstm",
    "hidden": 16,
    "max_epochs": 20,
    "patience": 4,
    "batch_size": 256,
}
"""Stage 2: an LSTM over the 5 trading days before the target."""

DEFAULT_STAGE3: dict[str, Any] = {"calibration": "platt", "validation_fraction": 0.25}
"""Stage 3: the meta-model on the last quarter of the training window, Platt calibration."""

STAGE_NAMES = ("stage1", "stage1+2", "stage1+2+3")
"""The stage combinations reported, in order."""

ABLATIONS: dict[str, tuple[bool, bool]] = {
    "full": (True, True),
    "no_sentiment": (False, True),
    "no_regime": (True, False),
    "no_sentiment_no_regime": (False, False),
}
"""Variant name -> (sentiment features on, regime on)."""


@dataclass(frozen=True)
class StockNetConfig:
    """What the benchmark runs (the defaults reproduce the documented numbers).

    Attributes
    ----------
    tickers : tuple[str, ...], optional
        The tickers to use; every ``price/raw`` file when omitted.
    seed : int
        Seed of every model.
    stage1_kind : str
        Stage-1 family (``lightgbm``, ``xgboost`` or ``random_forest``; the grid is LightGBM's).
    stage1_grid : tuple[dict, ...]
        Stage-1 hyperparameter grid, searched on the validation split.
    stage2, stage3 : dict
        :class:`~nautilus_ai.learning.train_staged.StagedParams` stage settings.
    regime_states : int
        Number of HMM market states.
    ablations : bool
        Also run the variants without sentiment and without regime.
    spec : FeatureSpec
        The bar features (batch twins of the FeatureActor's).

    """

    tickers: tuple[str, ...] | None = None
    seed: int = 0
    stage1_kind: str = "lightgbm"
    stage1_grid: tuple[dict[str, Any], ...] = DEFAULT_STAGE1_GRID
    stage2: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_STAGE2))
    stage3: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_STAGE3))
    regime_states: int = 3
    ablations: bool = True
    spec: FeatureSpec = field(default_factory=FeatureSpec)


@dataclass(frozen=True)
class Score:
    """Accuracy and MCC of up/down predictions on one split."""

    accuracy: float
    mcc: float
    n: int

    def to_dict(self, prefix: str = "") -> dict[str, float | int]:
        """Return ``{prefix + "accuracy", prefix + "mcc"}``, rounded to 6 decimals."""
        return {f"{prefix}accuracy": round(self.accuracy, 6), f"{prefix}mcc": round(self.mcc, 6)}


@dataclass(frozen=True)
class VariantScore:
    """Validation and test scores of one stage combination of one variant."""

    validation: Score
    test: Score

    def to_dict(self) -> dict[str, float | int]:
        """Return the test accuracy/MCC, ``n_test`` and the validation accuracy/MCC."""
        return {
            **self.test.to_dict(),
            "n_test": self.test.n,
            **self.validation.to_dict("validation_"),
            "n_validation": self.validation.n,
        }


@dataclass(frozen=True)
class GridChoice:
    """The stage-1 hyperparameters chosen on the validation split for one feature set."""

    params: dict[str, Any]
    grid: tuple[tuple[dict[str, Any], Score], ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the chosen parameters and every grid point's validation score."""
        return {
            "params": dict(self.params),
            "grid": [{"params": dict(p), **s.to_dict("validation_")} for p, s in self.grid],
        }


@dataclass(frozen=True)
class StockNetResult:
    """Outcome of :func:`run_stocknet_benchmark`.

    Attributes
    ----------
    variants : dict[str, dict[str, VariantScore]]
        Variant name (:data:`ABLATIONS`) -> stage combination (:data:`STAGE_NAMES`) -> scores.
    selection : dict[str, GridChoice]
        ``"sentiment"`` / ``"no_sentiment"`` -> the stage-1 choice.
    tickers : tuple[str, ...]
        The tickers used.
    n_train, n_validation, n_test : int
        Labelled rows per split.
    up_share_test : float
        Share of up days in the test split (the always-up baseline's accuracy).
    stage3_path : str
        ``"fit_staged"`` or ``"adapter"`` (see the module docstring), ``""`` without stage 3.
    regime_names : tuple[str, ...]
        The HMM's state names.

    """

    variants: dict[str, dict[str, VariantScore]]
    selection: dict[str, GridChoice]
    tickers: tuple[str, ...]
    n_train: int
    n_validation: int
    n_test: int
    up_share_test: float
    stage3_path: str
    regime_names: tuple[str, ...]

    @property
    def headline(self) -> VariantScore:
        """The full pipeline's scores (every stage, sentiment and regime on)."""
        full = self.variants["full"]
        return full[[s for s in STAGE_NAMES if s in full][-1]]

    def to_json(self) -> dict[str, Any]:
        """Return ``{"accuracy", "mcc", "n_test", "stages"}`` (top level: the full pipeline on test).

        ``stages`` maps each stage combination of the full pipeline to its scores, and holds
        ``ablations`` (the other variants, same layout), ``selection`` (the validation grid) and
        ``info`` (tickers, split sizes, the always-up baseline, the stage-3 path, regimes).
        """
        head = self.headline.test
        stages: dict[str, Any] = {name: score.to_dict() for name, score in self.variants["full"].items()}
        stages["ablations"] = {
            variant: {name: score.to_dict() for name, score in scores.items()}
            for variant, scores in self.variants.items()
            if variant != "full"
        }
        stages["selection"] = {name: choice.to_dict() for name, choice in self.selection.items()}
        stages["info"] = {
            "tickers": list(self.tickers),
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "n_test": self.n_test,
            "up_share_test": round(self.up_share_test, 6),
            "stage3_path": self.stage3_path,
            "regime_names": list(self.regime_names),
        }
        return {
            "accuracy": round(head.accuracy, 6),
            "mcc": round(head.mcc, 6),
            "n_test": head.n,
            "stages": stages,
        }


def score_predictions(y: np.ndarray, probability: np.ndarray) -> Score:
    """Return the accuracy and MCC of predicting up when ``probability >= 0.5``."""
    labels = np.asarray(y, dtype=np.int64)
    predicted = (np.asarray(probability, dtype=np.float64) >= 0.5).astype(np.int64)
    if len(labels) == 0:
        return Score(float("nan"), float("nan"), 0)
    accuracy = float(np.mean(predicted == labels))
    both = len(np.unique(labels)) > 1 and len(np.unique(predicted)) > 1
    mcc = float(matthews_corrcoef(labels, predicted)) if both else 0.0
    return Score(accuracy, mcc, len(labels))


def market_regime(rows: pd.DataFrame, n_states: int, seed: int) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Return the market regime probabilities of every row and the regime names.

    The HMM reads the equal-weighted market (mean ``ret_1`` and mean ``rvol`` over the tickers at each
    close), is fitted on the closes of train rows only and filtered online over every close.

    Returns
    -------
    tuple[pd.DataFrame, tuple[str, ...]]
        Columns ``regime_<name>`` aligned with ``rows``, and the names.

    """
    from nautilus_ai.learning.regime_models import HMMRegimeModel

    market = rows.groupby(level=0)[["ret_1", "rvol"]].mean().sort_index()
    train_times = rows.index[rows["split"].to_numpy() == "train"].unique()
    model = HMMRegimeModel(n_states, return_feature="ret_1", seed=seed)
    model.fit(market.loc[market.index.isin(train_times)])
    probabilities = model.filter(market)
    names = tuple(model.regime_names_)
    columns = [f"regime_{n}" for n in names]
    by_time = pd.DataFrame(probabilities, index=market.index, columns=columns)
    aligned = by_time.reindex(rows.index)
    aligned.index = rows.index
    return aligned, names


@dataclass
class _Bench:
    """The prepared rows and settings shared by every fit of one run."""

    rows: pd.DataFrame
    config: StockNetConfig
    spec_hash: str
    regime_columns: list[str]
    regime_names: tuple[str, ...]
    train: pd.DataFrame = field(init=False)
    stage3_path: str = ""

    def __post_init__(self) -> None:
        labelled = self.rows["fwd_return"].notna().to_numpy()
        self.train = self.rows.loc[labelled & (self.rows["split"].to_numpy() == "train")]

    def labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the mask of the split's labelled rows and their labels."""
        mask = (self.rows["split"].to_numpy() == split) & self.rows["fwd_return"].notna().to_numpy()
        return mask, self.rows["movement"].to_numpy()[mask].astype(np.int64)

    def params(self, stage1: Mapping[str, Any], stages: str) -> StagedParams:
        """Return the StagedParams of a stage combination."""
        return StagedParams(
            kind=self.config.stage1_kind,
            params=dict(stage1),
            long_threshold=0.5,
            short_threshold=0.5,
            filter_margin=0.0,
            top_k=0,
            stage2=dict(self.config.stage2) if stages in ("stage1+2", "stage1+2+3") else None,
            stage3=dict(self.config.stage3) if stages == "stage1+2+3" else None,
            seed=self.config.seed,
        )

    def probability(self, features: list[str], regime: bool, params: StagedParams) -> np.ndarray:
        """Fit on the train split and return the final probability of every row."""
        columns = self.regime_columns if regime else []
        names = self.regime_names if regime else ()
        model = fit_staged(
            self.train, features, self.spec_hash, params,
            regime_columns=columns, regime_names=names, history=self.rows,
        )  # fmt: skip
        if params.stage3 is not None and not self.stage3_path:
            self.stage3_path = "fit_staged"
        regime_matrix = self.rows[columns].to_numpy(dtype=np.float64) if columns else None
        frame = model.predict_frame(
            self.rows[features].to_numpy(dtype=np.float64),
            regime_matrix,
            self.rows["instrument_id"].to_numpy(),
        )
        return frame["probability"].to_numpy(dtype=np.float64)

    def score(self, probability: np.ndarray, split: str) -> Score:
        """Score the probabilities of the split's labelled rows."""
        mask, y = self.labels(split)
        return score_predictions(y, probability[mask])

    def evaluate(self, features: list[str], regime: bool, params: StagedParams) -> VariantScore:
        """Fit once and score the validation and test splits."""
        probability = self.probability(features, regime, params)
        return VariantScore(self.score(probability, "validation"), self.score(probability, "test"))


def choose_stage1(
    bench: _Bench, features: list[str], progress: Callable[[], None] | None = None
) -> GridChoice:
    """Fit stage 1 alone for every grid point on train; keep the best validation MCC."""
    results: list[tuple[dict[str, Any], Score]] = []
    for point in bench.config.stage1_grid:
        score = bench.score(bench.probability(features, False, bench.params(point, "stage1")), "validation")
        results.append((dict(point), score))
        if progress is not None:
            progress()
    best = max(range(len(results)), key=lambda i: (results[i][1].mcc, results[i][1].accuracy, -i))
    return GridChoice(params=results[best][0], grid=tuple(results))


def run_stocknet_benchmark(
    data_dir: Path, config: StockNetConfig = StockNetConfig(), progress: ProgressCallback | None = None
) -> StockNetResult:
    """Run the StockNet benchmark on a StockNet-layout folder (see the module docstring).

    Parameters
    ----------
    data_dir : Path
        Folder with ``price/raw/<TICKER>.csv`` and optionally ``tweet/preprocessed/<TICKER>/<DATE>``.
    config : StockNetConfig
        Tickers, seed, grids and stage settings.
    progress : callable, optional
        ``progress(stage, done, total)`` as work advances.

    Returns
    -------
    StockNetResult
        Every variant's validation and test scores and the validation choices.

    Raises
    ------
    ConfigError
        If the folder is not a StockNet layout or a ticker is missing.
    DataError
        If a file is malformed or a split has too few labelled rows to train on.

    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # stage 2 trains bit-for-bit the same run after run
    try:
        return _run(Path(data_dir), config, progress)
    finally:
        torch.set_num_threads(threads)


def _run(data_dir: Path, config: StockNetConfig, progress: ProgressCallback | None) -> StockNetResult:
    splits = StockNetSplits()
    rows = load_stocknet_rows(Path(data_dir), config.spec, config.tickers, splits, progress)
    bar_features = config.spec.feature_names()
    regime_probs, regime_names = market_regime(rows, config.regime_states, config.seed)
    rows = pd.concat([rows, regime_probs], axis=1)
    bench = _Bench(
        rows=rows,
        config=config,
        spec_hash=f"{config.spec.fingerprint()}:stocknet",
        regime_columns=list(regime_probs.columns),
        regime_names=regime_names,
    )
    variants = {k: v for k, v in ABLATIONS.items() if config.ablations or k == "full"}
    sentiment_settings = sorted({s for s, _ in variants.values()}, reverse=True)
    total = len(sentiment_settings) * (len(config.stage1_grid) + 1) + 2 * len(variants)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("models", done, total)

    selection: dict[str, GridChoice] = {}
    stage1_scores: dict[bool, VariantScore] = {}
    for sentiment in sentiment_settings:
        features = [*bar_features, *SENTIMENT_COLUMNS] if sentiment else list(bar_features)
        choice = choose_stage1(bench, features, step)
        selection["sentiment" if sentiment else "no_sentiment"] = choice
        stage1_scores[sentiment] = bench.evaluate(features, False, bench.params(choice.params, "stage1"))
        step()

    results: dict[str, dict[str, VariantScore]] = {}
    for name, (sentiment, regime) in variants.items():
        features = [*bar_features, *SENTIMENT_COLUMNS] if sentiment else list(bar_features)
        chosen = selection["sentiment" if sentiment else "no_sentiment"].params
        scores = {"stage1": stage1_scores[sentiment]}
        for stages in ("stage1+2", "stage1+2+3"):
            scores[stages] = bench.evaluate(features, regime, bench.params(chosen, stages))
            step()
        results[name] = scores

    counts = {split: int(bench.labels(split)[0].sum()) for split in ("train", "validation", "test")}
    _, y_test = bench.labels("test")
    return StockNetResult(
        variants=results,
        selection=selection,
        tickers=tuple(sorted(rows["instrument_id"].unique())),
        n_train=counts["train"],
        n_validation=counts["validation"],
        n_test=counts["test"],
        up_share_test=float(y_test.mean()) if len(y_test) else float("nan"),
        stage3_path=bench.stage3_path,
        regime_names=regime_names,
    )
