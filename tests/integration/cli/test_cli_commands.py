"""The nautilus-ai command line as a user runs it: exit codes, messages and outputs."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nautilus_ai.cli import app
from nautilus_ai.test_kit import bundled_data_dir, shared_data_dir

FIXTURES = Path(__file__).parents[2] / "fixtures" / "catalog"
INSTRUMENTS = bundled_data_dir() / "instruments.toml"
runner = CliRunner()


def tree_snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog"
    result = runner.invoke(
        app,
        [
            "catalog",
            "ingest",
            str(bundled_data_dir() / "bars_daily" / "stocknet" / "AAPL.csv"),
            "--instruments",
            str(INSTRUMENTS),
            "--catalog",
            str(path),
        ],
    )
    assert result.exit_code == 0, result.output
    return path


def test_version_option_prints_the_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("nautilus-ai ")


@pytest.mark.parametrize(
    ("fixture", "row", "field"),
    [
        ("high_below_low.csv", 8, "high"),
        ("duplicate_timestamp.csv", 10, "timestamp"),
        ("negative_volume.csv", 6, "volume"),
    ],
)
def test_ingest_of_a_malformed_file_exits_2_naming_file_row_field_and_keeps_the_catalog(
    catalog, fixture, row, field
):
    before = tree_snapshot(catalog)

    result = runner.invoke(
        app,
        [
            "catalog",
            "ingest",
            str(FIXTURES / "malformed" / fixture),
            "--catalog",
            str(catalog),
            "--instrument-id",
            "TEST-PERP.SIM",
            "--kind",
            "crypto_perpetual",
            "--bar-spec",
            "1-MINUTE-LAST",
            "--price-precision",
            "1",
            "--base-currency",
            "BTC",
        ],
    )

    assert result.exit_code == 2
    assert "DataError" in result.output
    assert fixture in result.output and f"row {row}" in result.output and f"'{field}'" in result.output
    assert tree_snapshot(catalog) == before


def test_ingest_without_an_instrument_mapping_exits_2_with_a_hint(tmp_path):
    result = runner.invoke(
        app, ["catalog", "ingest", str(FIXTURES / "clean_1m.csv"), "--catalog", str(tmp_path / "c")]
    )

    assert result.exit_code == 2
    assert "--instruments" in result.output and "--instrument-id" in result.output


def test_ingesting_the_same_file_twice_leaves_the_catalog_unchanged(catalog):
    before = tree_snapshot(catalog)

    result = runner.invoke(
        app,
        [
            "catalog",
            "ingest",
            str(bundled_data_dir() / "bars_daily" / "stocknet" / "AAPL.csv"),
            "--instruments",
            str(INSTRUMENTS),
            "--catalog",
            str(catalog),
        ],
    )

    assert result.exit_code == 0, result.output
    assert tree_snapshot(catalog) == before


def test_inspect_json_lists_instruments_and_bar_counts(catalog):
    result = runner.invoke(app, ["catalog", "inspect", "--catalog", str(catalog), "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert "AAPL.XNAS" in json.dumps(summary["instruments"])
    bars = [s for s in summary["series"] if s["data_type"] == "bar"]
    assert bars[0]["rows"] == 1258


def test_inspect_table_lists_the_bar_series(catalog):
    result = runner.invoke(app, ["catalog", "inspect", "--catalog", str(catalog)])

    assert result.exit_code == 0, result.output
    assert "1,258" in result.output


def test_walkforward_with_an_unknown_config_key_exits_2_naming_it(tmp_path, catalog):
    config = tmp_path / "bad.toml"
    config.write_text('name = "bad"\n[data]\ninstruments = ["AAPL.XNAS"]\n[model]\nthreshold = 0.6\n')

    result = runner.invoke(
        app,
        [
            "backtest",
            "walkforward",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
            "--out",
            str(tmp_path / "runs"),
        ],
    )

    assert result.exit_code == 2
    assert "bad.toml" in result.output and "model.threshold" in result.output


@pytest.mark.slow
def test_an_unseen_ohlcv_csv_ingests_and_backtests_without_code_changes(tmp_path):
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data is not beside the repository")
    source = shared / "bars_daily" / "yahoofinance-SPY-20080101-20180101.csv"
    csv = tmp_path / "spy_daily.csv"
    shutil.copyfile(source, csv)
    source_hash = hashlib.sha256(csv.read_bytes()).hexdigest()
    catalog = tmp_path / "catalog"

    ingest = runner.invoke(
        app,
        [
            "catalog",
            "ingest",
            str(csv),
            "--catalog",
            str(catalog),
            "--instrument-id",
            "SPY.ARCX",
            "--kind",
            "equity",
            "--bar-spec",
            "1-DAY-LAST",
            "--timezone",
            "America/New_York",
            "--session-close",
            "16:00",
            "--calendar",
            "XNYS",
            "--outlier-sigmas",
            "20",
            "--repair",
        ],
    )
    assert ingest.exit_code == 0, ingest.output
    assert (
        "dropped 2 (open_outside_range=2)" in ingest.output
    )  # two real Yahoo rows with open outside [low, high]
    assert hashlib.sha256(csv.read_bytes()).hexdigest() == source_hash

    config = tmp_path / "spy.toml"
    config.write_text(
        'name = "spy"\n[data]\ninstruments = ["SPY.ARCX"]\nstart = "2012-01-01"\n'
        '[walkforward]\ntrain = "730D"\ntest = "365D"\n'
    )
    run = runner.invoke(
        app,
        [
            "backtest",
            "walkforward",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
            "--out",
            str(tmp_path / "runs"),
            "--run-id",
            "spy",
        ],
    )

    assert run.exit_code == 0, run.output
    metrics = json.loads((tmp_path / "runs" / "spy" / "metrics.json").read_text())
    assert metrics["out_of_sample"]["n_trades"] > 0
    assert len(metrics["folds"]) >= 3
    assert (tmp_path / "runs" / "spy" / "report.html").stat().st_size > 10_000


def test_a_failed_walkforward_leaves_no_run_folder(tmp_path, catalog):
    config = tmp_path / "missing.toml"
    config.write_text('name = "missing"\n[data]\ninstruments = ["NOPE.XNAS"]\n')
    out = tmp_path / "runs"

    result = runner.invoke(
        app,
        ["backtest", "walkforward", "--config", str(config), "--catalog", str(catalog), "--out", str(out)],
    )

    assert result.exit_code == 2
    assert "NOPE.XNAS" in result.output and "ingest" in result.output
    assert [p.name for p in out.iterdir()] == ["registry"]


def test_a_malformed_instrument_id_in_the_config_exits_2(tmp_path, catalog):
    config = tmp_path / "bad-id.toml"
    config.write_text('name = "bad-id"\n[data]\ninstruments = ["AAPL"]\n')

    result = runner.invoke(
        app,
        [
            "backtest",
            "walkforward",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
            "--out",
            str(tmp_path / "runs"),
        ],
    )

    assert result.exit_code == 2
    assert "'AAPL' is not an instrument id" in result.output


def test_fetch_tweets_and_onchain_into_the_catalog_once(tmp_path):
    tweets = tmp_path / "tweets.toml"
    tweets.write_text(
        f'path = "{bundled_data_dir() / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz"}"\n'
        'tickers = ["MSFT"]\nreceive_latency_s = 60\n[venues]\nMSFT = "XNAS"\n'
    )
    onchain = tmp_path / "onchain.toml"
    onchain.write_text(
        f'path = "{bundled_data_dir() / "onchain" / "bitcoin_dataset.csv"}"\n'
        'metrics = ["btc_n_transactions"]\n'
    )
    catalog = tmp_path / "catalog"

    first = runner.invoke(
        app, ["catalog", "fetch", "tweets", "--catalog", str(catalog), "--config", str(tweets)]
    )
    again = runner.invoke(
        app, ["catalog", "fetch", "tweets", "--catalog", str(catalog), "--config", str(tweets)]
    )
    chain = runner.invoke(
        app, ["catalog", "fetch", "onchain", "--catalog", str(catalog), "--config", str(onchain)]
    )
    summary = runner.invoke(app, ["catalog", "inspect", "--catalog", str(catalog), "--json"])

    assert first.exit_code == 0, first.output
    assert "3117 NewsItems written" in first.output
    assert "0 NewsItems written" in again.output
    assert chain.exit_code == 0, chain.output
    rows = {(s["data_type"], s["identifier"]): s["rows"] for s in json.loads(summary.output)["series"]}
    assert rows[("custom_news_item", "MSFT.XNAS")] == 3117
    assert rows[("custom_on_chain_metric", "BTCUSD.ONCHAIN")] > 2000


def test_fetch_with_unknown_tweet_settings_exits_2(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('path = "x.tar.gz"\nvenue = "XNAS"\n')

    result = runner.invoke(
        app, ["catalog", "fetch", "tweets", "--catalog", str(tmp_path / "c"), "--config", str(config)]
    )

    assert result.exit_code == 2
    assert "venues" in result.output
