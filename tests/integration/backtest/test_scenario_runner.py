"""`backtest scenarios` end to end: train on the last fold, replay scenario paths through the engine."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from nautilus_ai.backtest.scenario_runner import METRIC_COLUMNS
from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.cli_scenarios import scenarios
from nautilus_ai.test_kit import demo_catalog, small_experiment

KINDS = ("iid_bootstrap", "crash_gap", "liquidity_drought")
PATHS = 2


def scenario_app() -> typer.Typer:
    app = typer.Typer()
    app.command("scenarios")(scenarios)

    @app.callback()
    def main() -> None:
        """Throwaway group so that `scenarios` is a subcommand, as under `backtest`."""

    return app


def catalog_files(catalog: Path) -> dict[str, int]:
    return {str(p.relative_to(catalog)): p.stat().st_size for p in sorted(catalog.rglob("*")) if p.is_file()}


def invoke(config: Path, out: Path, run_id: str, *kinds: str) -> Result:
    args = [
        "scenarios",
        "--config",
        str(config),
        "--out",
        str(out),
        "--paths",
        str(PATHS),
        "--run-id",
        run_id,
    ]
    for kind in kinds:
        args += ["--kind", kind]
    return CliRunner().invoke(scenario_app(), [*args, "--workers", "2"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenarios")
    catalog = demo_catalog(root, symbols=("AAPL", "MSFT"))
    cfg = small_experiment(catalog, data={"start": "2015-06-01"})
    config = root / "experiment.toml"
    config.write_text(cfg.to_toml())
    return root, catalog, config


@pytest.fixture(scope="module")
def two_runs(setup):
    root, catalog, config = setup
    before = catalog_files(catalog)
    out = root / "out"
    first = invoke(config, out, "run-a", *KINDS)
    second = invoke(config, out, "run-b", *KINDS)
    return out, first, second, before, catalog_files(catalog)


@pytest.mark.slow
def test_scenarios_command_writes_every_file_with_one_row_per_path(two_runs):
    out, first, _, _, _ = two_runs
    assert first.exit_code == 0, first.output
    run_dir = out / "run-a"
    for name in ("scenarios.parquet", "scenarios.json", "config.toml", "scenarios.html"):
        assert (run_dir / name).is_file(), name
    assert not list(out.glob(".*.partial"))
    table = pd.read_parquet(run_dir / "scenarios.parquet")
    assert list(table.columns) == ["scenario", "path", *METRIC_COLUMNS]
    counts = table.groupby("scenario").size().to_dict()
    assert counts == {"baseline": 1, **dict.fromkeys(KINDS, PATHS)}
    assert table[list(METRIC_COLUMNS)].notna().all().all()
    assert (table["n_trades"] > 0).all()
    summary = json.loads((run_dir / "scenarios.json").read_text())
    assert set(summary["summary"]) == {"baseline", *KINDS}
    for kind in KINDS:
        for metric in METRIC_COLUMNS:
            stats = summary["summary"][kind][metric]
            values = table.loc[table["scenario"] == kind, metric]
            assert stats["mean"] == pytest.approx(values.mean())
            assert stats["q05"] <= stats["median"]
    html = (run_dir / "scenarios.html").read_text()
    # self-contained: plotly.js inlined, no script loaded from anywhere
    assert "Plotly.newPlot" in html and len(html) > 1_000_000
    assert re.search(r"<script[^>]*\bsrc=", html) is None


@pytest.mark.slow
def test_crash_gap_draws_down_deeper_than_the_baseline(two_runs):
    out, first, _, _, _ = two_runs
    assert first.exit_code == 0, first.output
    table = pd.read_parquet(out / "run-a" / "scenarios.parquet")
    baseline = table.loc[table["scenario"] == "baseline", "max_drawdown"].item()
    crash = table.loc[table["scenario"] == "crash_gap", "max_drawdown"]
    assert crash.min() < baseline
    # a 20 % gap against a held long book: the worst path loses at least a tenth at once
    assert crash.min() < -0.1


@pytest.mark.slow
def test_identical_seeds_give_identical_results(two_runs):
    out, first, second, _, _ = two_runs
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    a = pd.read_parquet(out / "run-a" / "scenarios.parquet")
    b = pd.read_parquet(out / "run-b" / "scenarios.parquet")
    pd.testing.assert_frame_equal(a, b)
    paths_a = json.loads((out / "run-a" / "scenarios.json").read_text())["paths"]
    paths_b = json.loads((out / "run-b" / "scenarios.json").read_text())["paths"]
    assert paths_a == paths_b


@pytest.mark.slow
def test_baseline_reproduces_the_walkforward_last_fold(setup, two_runs):
    root, catalog, _ = setup
    out, first, _, _, _ = two_runs
    assert first.exit_code == 0, first.output
    cfg = small_experiment(catalog, data={"start": "2015-06-01"})
    walkforward = run_walkforward(cfg, root / "walkforward", run_id="wf")
    last = walkforward.folds[-1]["metrics"]
    table = pd.read_parquet(out / "run-a" / "scenarios.parquet")
    baseline = table[table["scenario"] == "baseline"].iloc[0]
    for metric in ("total_return", "sharpe", "sortino", "max_drawdown", "n_trades"):
        assert baseline[metric] == pytest.approx(last[metric], rel=1e-9), metric


@pytest.mark.slow
def test_the_users_catalog_is_never_written(two_runs):
    _, first, _, before, after = two_runs
    assert first.exit_code == 0, first.output
    assert after == before


def test_unknown_kind_exits_with_a_config_error(setup, tmp_path):
    _, _, config = setup
    result = invoke(config, tmp_path, "bad", "tsunami")
    assert result.exit_code == 2
    assert "kinds" in result.output and "tsunami" in result.output
    assert not (tmp_path / "bad").exists()


def fill_commissions(fee_model: object) -> list[float]:
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.objects import Money

    from nautilus_ai.backtest.runner import fills_frame
    from nautilus_ai.catalog.instruments import InstrumentSpec
    from nautilus_ai.strategies.baselines import BuyAndHold, BuyAndHoldConfig
    from nautilus_ai.test_kit import stocknet_bars

    instrument = InstrumentSpec(
        id="AAPL.XNAS",
        kind="equity",
        currency="USD",
        price_precision=2,
        size_precision=0,
        maker_fee=0.0005,
        taker_fee=0.0005,
        bar_spec="1-DAY-LAST",
    ).to_nautilus()
    bar_type, bars = stocknet_bars("AAPL")
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    try:
        engine.add_venue(
            venue=instrument.id.venue,
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            base_currency=USD,
            starting_balances=[Money(1_000_000, USD)],
            fee_model=fee_model,
        )
        engine.add_instrument(instrument)
        engine.add_data(bars[:40])
        engine.add_strategy(
            BuyAndHold(BuyAndHoldConfig(instrument_id=instrument.id, bar_type=bar_type, weight=0.5))
        )
        engine.run()
        fills = fills_frame(engine.trader.generate_order_fills_report(), engine)
        return [float(c) for c in fills["commission"]]
    finally:
        engine.dispose()


def test_drought_fee_model_multiplies_the_venue_commission_in_the_engine():
    from nautilus_trader.backtest.models import MakerTakerFeeModel

    from nautilus_ai.backtest.scenario_runner import FeeMultiplierModel, FeeMultiplierModelConfig

    normal = fill_commissions(MakerTakerFeeModel())
    drought = fill_commissions(FeeMultiplierModel(FeeMultiplierModelConfig(multiplier=5.0)))
    assert normal and all(c > 0 for c in normal)
    assert drought == pytest.approx([5.0 * c for c in normal], rel=1e-3)
