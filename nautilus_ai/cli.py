"""The ``nautilus-ai`` command line: one command per job, thin over the packages.

Errors raised on purpose (:mod:`nautilus_ai.errors`) become one red line and the exit code of
:func:`~nautilus_ai.errors.exit_code_for` (2 for bad input or config).
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nautilus_ai import __version__, cli_api
from nautilus_ai.cli_adversarial import adversarial as _adversarial
from nautilus_ai.cli_common import handles_errors, out, progress_bars
from nautilus_ai.cli_diagram import diagram
from nautilus_ai.cli_live import paper as _live_paper
from nautilus_ai.cli_lookahead import lookahead
from nautilus_ai.cli_registry import diff as _registry_diff
from nautilus_ai.cli_registry import history as _registry_history
from nautilus_ai.cli_registry import promote as _registry_promote
from nautilus_ai.cli_registry import rollback as _registry_rollback
from nautilus_ai.cli_scenarios import scenarios as _scenarios
from nautilus_ai.cli_tune import tune

app = typer.Typer(
    help="nautilus-ai: research, backtest and run ML-driven NautilusTrader strategies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="Ingest data into a ParquetDataCatalog and inspect it.", no_args_is_help=True)
features_app = typer.Typer(
    help="Build feature sets by replaying the catalog through the FeatureActor.", no_args_is_help=True
)
backtest_app = typer.Typer(help="Walk-forward backtests.", no_args_is_help=True)
learn_app = typer.Typer(help="Models and the model registry.", no_args_is_help=True)
registry_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(features_app, name="features")
app.add_typer(backtest_app, name="backtest")
app.add_typer(learn_app, name="learn")
learn_app.add_typer(registry_app, name="registry")
benchmark_app = typer.Typer(
    help="Published benchmarks reproduced from their raw files.", no_args_is_help=True
)
learn_app.add_typer(benchmark_app, name="benchmark")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nautilus-ai {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Research, backtest and run ML-driven NautilusTrader strategies."""


# ----------------------------------------------------------------------------------------------- catalog
@catalog_app.command("ingest")
@handles_errors
def catalog_ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest", exists=True)],
    catalog: Annotated[
        Path, typer.Option("--catalog", help="ParquetDataCatalog folder (created if missing)")
    ],
    instruments: Annotated[
        Path | None,
        typer.Option("--instruments", help="Instruments file (TOML) mapping files to instruments"),
    ] = None,
    instrument_id: Annotated[
        str | None, typer.Option("--instrument-id", help="Instrument of every file, e.g. XYZ.XNAS")
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="With --instrument-id: equity, fx, crypto_spot, ...")
    ] = "equity",
    bar_spec: Annotated[
        str | None,
        typer.Option("--bar-spec", help="With --instrument-id: e.g. 1-DAY-LAST (default: detected)"),
    ] = None,
    price_precision: Annotated[int, typer.Option("--price-precision", help="With --instrument-id")] = 2,
    size_precision: Annotated[int, typer.Option("--size-precision", help="With --instrument-id")] = 0,
    currency: Annotated[str, typer.Option("--currency", help="With --instrument-id: quote currency")] = "USD",
    base_currency: Annotated[
        str | None, typer.Option("--base-currency", help="With --instrument-id: base currency (FX, crypto)")
    ] = None,
    timestamp: Annotated[
        str,
        typer.Option(
            "--timestamp", help="With --instrument-id: the file's times mark the bar 'open' or 'close'"
        ),
    ] = "open",
    session_close: Annotated[
        str | None,
        typer.Option(
            "--session-close", help="With --instrument-id: local close time of daily bars, e.g. 16:00"
        ),
    ] = None,
    calendar: Annotated[
        str | None,
        typer.Option(
            "--calendar", help="With --instrument-id: exchange calendar for daily gap checks, e.g. XNYS"
        ),
    ] = None,
    data_kind: Annotated[
        str, typer.Option("--data-kind", help="auto, bars, trades, quotes or vendor")
    ] = "auto",
    column: Annotated[
        list[str] | None, typer.Option("--column", help="Column mapping FILE_COLUMN=CANONICAL (repeatable)")
    ] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="Timezone of naive timestamps")] = None,
    outlier_sigmas: Annotated[
        float, typer.Option("--outlier-sigmas", help="Return outlier threshold")
    ] = 10.0,
    repair: Annotated[
        bool, typer.Option("--repair", help="Apply reported fixes (drop duplicates, sort, drop bad rows)")
    ] = False,
    update_instruments: Annotated[
        bool,
        typer.Option("--update-instruments", help="Replace catalog instrument definitions that changed"),
    ] = False,
) -> None:
    """Validate files and load them into a ParquetDataCatalog (source files are never modified)."""
    from pydantic import ValidationError

    from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
    from nautilus_ai.catalog.instruments import InstrumentSpec, load_instruments_file
    from nautilus_ai.errors import ConfigError

    specs = load_instruments_file(instruments) if instruments else []
    if instrument_id:
        try:
            specs.append(
                InstrumentSpec.model_validate(
                    {
                        "id": instrument_id,
                        "kind": kind,
                        "currency": currency,
                        "base_currency": base_currency,
                        "bar_spec": bar_spec,
                        "price_precision": price_precision,
                        "size_precision": size_precision,
                        "timestamp": timestamp,
                        "timezone": timezone or "UTC",
                        "session_close": session_close,
                        "calendar": calendar,
                    }
                )
            )
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or 'instrument'}: {err['msg']}" for err in e.errors()
            )
            raise ConfigError(f"--instrument-id {instrument_id}: {problems}") from None
    if not specs:
        raise ConfigError("no instruments: pass --instruments FILE or --instrument-id ID")
    column_map = {}
    for item in column or []:
        if "=" not in item:
            raise ConfigError(
                f"--column {item!r}: expected FILE_COLUMN=CANONICAL, e.g. --column Date=timestamp"
            )
        source, target = item.split("=", 1)
        column_map[source] = target
    try:
        options = IngestOptions(
            data_kind=data_kind,  # type: ignore[arg-type]
            column_map=column_map,
            timezone=timezone,
            outlier_sigmas=outlier_sigmas,
            repair=repair,
            update_instruments=update_instruments,
        )
    except ValueError as e:
        raise ConfigError(f"ingest options: {e}") from None
    with progress_bars() as progress:
        report = ingest_paths(paths, catalog, specs, options, progress=progress)
    out.print(report.summary_text())
    out.print(f"catalog: {catalog.resolve()}")


@catalog_app.command("fetch")
@handles_errors
def catalog_fetch(
    source: Annotated[
        str,
        typer.Argument(
            help="news (JSON/RSS API), glassnode (on-chain API), onchain (CSV) or tweets (StockNet archive)"
        ),
    ],
    catalog: Annotated[
        Path, typer.Option("--catalog", help="ParquetDataCatalog folder (created if missing)")
    ],
    config: Annotated[Path, typer.Option("--config", help="The source's settings (TOML)")],
) -> None:
    """Run an alternative-data source into the catalog (resumable; nothing is written twice)."""
    import tomllib

    from nautilus_ai.errors import ConfigError

    if not config.is_file():
        raise ConfigError(f"source config {config} does not exist")
    try:
        settings = tomllib.loads(config.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{config}: not valid TOML: {e}") from None
    if source == "tweets":
        _fetch_tweets(settings, catalog, config)
        return
    from nautilus_ai.adapters.news_api import fetch_source

    with progress_bars() as progress:
        report = fetch_source(source, catalog=catalog, config=settings, progress=progress)
    out.print(report.summary_text())
    if report.n_failed:
        raise typer.Exit(4)


def _fetch_tweets(settings: dict[str, Any], catalog: Path, config: Path) -> None:
    from datetime import timedelta

    from nautilus_ai.adapters.tweets import TweetImportCounts, read_stocknet_tweets, tweets_to_catalog
    from nautilus_ai.errors import ConfigError

    known = {"path", "tickers", "venues", "receive_latency_s", "on_error"}
    unknown = set(settings) - known
    if unknown or "path" not in settings or "venues" not in settings:
        raise ConfigError(
            f"{config}: tweets settings need path and venues (a ticker -> venue table), "
            f"optionally tickers, receive_latency_s, on_error; unknown keys: {sorted(unknown)}"
        )
    counts = TweetImportCounts()
    items = read_stocknet_tweets(
        Path(settings["path"]),
        settings.get("tickers"),
        settings["venues"],
        receive_latency=timedelta(seconds=float(settings.get("receive_latency_s", 0.0))),
        on_error=settings.get("on_error", "raise"),
        counts=counts,
    )
    with progress_bars() as progress:
        progress("tweets", 0, 1)
        written = tweets_to_catalog(items, catalog)
        progress("tweets", 1, 1)
    out.print(
        f"tweets: {counts.items} read from {counts.members} files, {counts.skipped} skipped, "
        f"{written} NewsItems written to {catalog}"
    )


@catalog_app.command("score")
@handles_errors
def catalog_score(
    catalog: Annotated[Path, typer.Option("--catalog", help="ParquetDataCatalog folder holding NewsItems")],
    scorer: Annotated[
        str | None, typer.Option("--scorer", help="lexicon (offline, default) or llm (OpenAI-compatible)")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Scorer settings (TOML: SentimentConfig keys, e.g. base_url, model)"),
    ] = None,
    instruments: Annotated[
        list[str] | None,
        typer.Option("--instrument", help="Instrument id to score (repeatable; default: all)"),
    ] = None,
    allow_fallback: Annotated[
        bool,
        typer.Option(
            "--allow-fallback", help="Store a news file even when the LLM failed on some items (lexicon)"
        ),
    ] = False,
) -> None:
    """Score the catalog's NewsItems offline and store one SentimentScore per item (nothing twice)."""
    import tomllib

    from pydantic import ValidationError

    from nautilus_ai.adapters.sentiment import SentimentConfig
    from nautilus_ai.adapters.sentiment.catalog_scoring import score_catalog_news
    from nautilus_ai.errors import ConfigError

    settings: dict[str, Any] = {}
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"scorer config {config} does not exist")
        try:
            settings = tomllib.loads(config.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{config}: not valid TOML: {e}") from None
    if scorer is not None:
        if settings.get("kind", scorer) != scorer:
            raise ConfigError(f"--scorer {scorer} contradicts kind = {settings['kind']!r} in {config}")
        settings["kind"] = scorer
    try:
        sentiment = SentimentConfig.model_validate(settings)
    except ValidationError as e:
        raise ConfigError(f"scorer settings: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}") from None
    with progress_bars() as progress:
        report = score_catalog_news(
            catalog, sentiment, instruments or None, allow_fallback=allow_fallback, progress=progress
        )
    out.print(report.summary_text())
    if report.files_failed:
        raise typer.Exit(4)


@catalog_app.command("inspect")
@handles_errors
def catalog_inspect(
    catalog: Annotated[Path, typer.Option("--catalog", help="ParquetDataCatalog folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """List the catalog's instruments, data types, time ranges and counts."""
    from nautilus_ai.catalog.inspect import inspect_catalog

    summary = inspect_catalog(catalog)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, default=str))
        return
    table = Table(title=f"catalog {catalog}: {len(summary.instruments)} instrument(s)")
    for name in ("data type", "identifier", "first", "last", "rows"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for row in summary.rows():
        table.add_row(*row)
    out.print(table)


# ----------------------------------------------------------------------------------------------- features
@features_app.command("build")
@handles_errors
def features_build(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (TOML)")],
    out_path: Annotated[Path, typer.Option("--out", help="Parquet file of FeatureVectors to write")],
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog (overrides data.catalog of the config)")
    ] = None,
    to_catalog: Annotated[
        bool, typer.Option("--to-catalog", help="Also write the FeatureVectors into the catalog (idempotent)")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel replay processes")] = 1,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Compute the features from the catalog's bars and events at once (no replay; same "
            "output; trade, quote and book features need those events in the catalog)",
        ),
    ] = False,
) -> None:
    """Replay the catalog through the FeatureActor, one process per instrument, and persist the vectors."""
    from nautilus_ai.backtest.feature_build import build_features
    from nautilus_ai.config import load_experiment
    from nautilus_ai.errors import ConfigError

    cfg = load_experiment(config).with_catalog(str(catalog) if catalog else None)
    if cfg.data.catalog is None:
        raise ConfigError("no catalog: set [data] catalog in the config or pass --catalog")
    total = len(cfg.data.instruments)
    with progress_bars() as progress:
        done = 0
        progress("features", 0, total)

        def on_done(_: object) -> None:
            nonlocal done
            done += 1
            progress("features", done, total)

        result = build_features(
            cfg,
            cfg.data.catalog,
            out_path,
            workers=workers,
            to_catalog=to_catalog,
            on_done=on_done,
            batch=batch,
        )
    out.print(f"features: {result.rows} vectors of {total} instrument(s) → {out_path.resolve()}")
    if result.written_to_catalog is not None:
        out.print(f"catalog: {result.written_to_catalog} new FeatureVectors written to {cfg.data.catalog}")


# ----------------------------------------------------------------------------------------------- backtest
@backtest_app.command("walkforward")
@handles_errors
def backtest_walkforward(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (TOML)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder; the run goes in OUT/<run_id>/")],
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog (overrides data.catalog of the config)")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Parallel backtest processes")] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id (default: time, name and config hash)")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster (host:port of `ray start --head`): run the fold backtests there",
        ),
    ] = None,
) -> None:
    """Run a walk-forward backtest of the AI pipeline and write its report."""
    from nautilus_ai.backtest.walkforward import run_walkforward
    from nautilus_ai.config import load_experiment

    cfg = load_experiment(config).with_catalog(str(catalog) if catalog else None)
    if workers is not None:
        cfg = cfg.model_copy(update={"walkforward": cfg.walkforward.model_copy(update={"workers": workers})})
    with progress_bars() as progress:
        result = run_walkforward(cfg, out_dir, run_id=run_id, progress=progress, ray_address=ray_address)
    oos = result.metrics["out_of_sample"]
    baselines = [b for b in ("buy_and_hold", "ema_cross") if b in result.metrics]
    table = Table(title=f"walk-forward {result.run_id}: {len(result.folds)} folds")
    table.add_column("metric")
    table.add_column("out-of-sample", justify="right")
    for baseline in baselines:
        table.add_column(baseline.replace("_", " "), justify="right")
    for key in (
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "volatility",
        "n_trades",
    ):
        table.add_row(key, _fmt(oos.get(key)), *(_fmt(result.metrics[b].get(key)) for b in baselines))
    out.print(table)
    stats = result.metrics.get("overfitting") or {}
    if stats:
        out.print(
            f"PSR {_fmt(stats.get('psr'))}, DSR {_fmt(stats.get('dsr'))} ({stats.get('n_trials')} trials), "
            f"PBO {_fmt(stats.get('pbo'))}"
        )
    out.print(f"report: {result.report_path.resolve()}")


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------------------------- learn
@registry_app.command("list")
@handles_errors
def registry_list(
    registry: Annotated[Path, typer.Option("--registry", help="Model registry folder")] = Path(
        "runs/registry"
    ),
    name: Annotated[str | None, typer.Option("--name", help="Only this model name")] = None,
) -> None:
    """List the registered model versions."""
    from nautilus_ai.learning.registry import ModelRegistry

    table = Table(title=f"models in {registry}")
    for column in ("version", "status", "train window", "seed", "created"):
        table.add_column(column)
    for record in ModelRegistry(registry).list(name):
        table.add_row(
            record.version_id,
            record.status,
            f"{record.train_start} → {record.train_end}",
            str(record.seed),
            str(record.created_at),
        )
    out.print(table)


@registry_app.command("show")
@handles_errors
def registry_show(
    version: Annotated[str, typer.Argument(help="Model version id, e.g. small-direction-0123456789ab")],
    registry: Annotated[Path, typer.Option("--registry", help="Model registry folder")] = Path(
        "runs/registry"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Show every field of one registered model version."""
    from nautilus_ai.learning.explain_cli import registry_record

    record = registry_record(registry, version).to_dict()
    if as_json:
        typer.echo(json.dumps(record, indent=2, sort_keys=True))
        return
    table = Table(title=f"model {version}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
        table.add_row(key, escape(text))
    out.print(table)


@learn_app.command("explain")
@handles_errors
def learn_explain(
    model: Annotated[str, typer.Option("--model", help="Registered model version to explain")],
    at: Annotated[str, typer.Option("--at", help="Decision time (ISO-8601; naive times are UTC)")],
    instrument: Annotated[str, typer.Option("--instrument", help="Instrument id, e.g. AAPL.XNAS")],
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Model registry folder (default: beside --run, else runs/registry)"),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option("--features", help="FeatureVector parquet file (default: features.parquet of --run)"),
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option("--run", help="Walk-forward run folder (OUT/<run_id>): features and regimes"),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Number of stage-1 attributions shown")] = 5,
    lime: Annotated[bool, typer.Option("--lime", help="Add a LIME explanation of stage 1")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """Explain one decision: stage probabilities, direction, confidence and top stage-1 attributions."""
    from nautilus_ai.learning.explain_cli import explain_at, parse_timestamp

    report = explain_at(
        model,
        parse_timestamp(at),
        instrument,
        registry=registry,
        features=features,
        run=run,
        k=k,
        lime=lime,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    summary = Table(title=f"{model}: {instrument} at {report.ts_init.isoformat()}")
    summary.add_column("field")
    summary.add_column("value", justify="right")
    summary.add_row("requested at", report.requested_at.isoformat())
    summary.add_row("stages", ", ".join(report.stages))
    summary.add_row("stage-1 probability", f"{report.p1:.4f}")
    summary.add_row("passed filter", str(report.passed_filter))
    if "stage2" in report.stages:
        summary.add_row("stage-2 probability", "n/a" if report.p2 is None else f"{report.p2:.4f}")
    if report.regime is not None and report.regime_probabilities is not None:
        shares = ", ".join(f"{name} {p:.3f}" for name, p in report.regime_probabilities.items())
        summary.add_row("regime", f"{report.regime} ({shares})")
    summary.add_row("probability", "n/a" if report.probability is None else f"{report.probability:.4f}")
    summary.add_row("direction", "n/a" if report.direction is None else f"{report.direction:+d}")
    summary.add_row("confidence", "n/a" if report.confidence is None else f"{report.confidence:.4f}")
    summary.add_row("SHAP base value", f"{report.base_value:.4f}")
    out.print(summary)
    attributions = Table(title=f"top {len(report.top)} stage-1 SHAP attributions")
    for column in ("feature", "SHAP", "value"):
        attributions.add_column(column, justify="left" if column == "feature" else "right")
    for item in report.top:
        attributions.add_row(item.name, f"{item.attribution:+.6f}", f"{item.value:.6g}")
    out.print(attributions)
    if report.lime is not None:
        lime_table = Table(title="LIME weights of stage 1")
        for column in ("feature", "weight", "value"):
            lime_table.add_column(column, justify="left" if column == "feature" else "right")
        for item in report.lime:
            lime_table.add_row(item.name, f"{item.attribution:+.6f}", f"{item.value:.6g}")
        out.print(lime_table)
    for note in report.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")


@benchmark_app.command("stocknet")
@handles_errors
def benchmark_stocknet(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="StockNet folder: price/raw/<TICKER>.csv, tweet/preprocessed/<TICKER>/<DATE>"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    tickers: Annotated[
        str | None, typer.Option("--tickers", help="Comma-separated tickers (default: every price file)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every model")] = 0,
    ablations: Annotated[
        bool, typer.Option("--ablations/--no-ablations", help="Also run without sentiment / without regime")
    ] = True,
) -> None:
    """Reproduce the StockNet benchmark (accuracy and MCC on its test split), stage by stage."""
    from nautilus_ai.learning.stocknet_benchmark import STAGE_NAMES, StockNetConfig, run_stocknet_benchmark

    names = tuple(t.strip().upper() for t in tickers.split(",") if t.strip()) if tickers else None
    config = StockNetConfig(tickers=names, seed=seed, ablations=ablations)
    with progress_bars() as progress:
        result = run_stocknet_benchmark(data, config, progress)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    table = Table(title=f"StockNet test split ({result.n_test} days, {len(result.tickers)} tickers)")
    for column in ("variant", "stages", "test acc", "test MCC", "val acc", "val MCC"):
        table.add_column(column)
    for variant, scores in result.variants.items():
        for stage in STAGE_NAMES:
            if stage in scores:
                s = scores[stage]
                table.add_row(
                    variant,
                    stage,
                    f"{s.test.accuracy:.2%}",
                    f"{s.test.mcc:.4f}",
                    f"{s.validation.accuracy:.2%}",
                    f"{s.validation.mcc:.4f}",
                )
    out.print(table)
    out.print(f"always-up baseline {result.up_share_test:.2%}; StockNet paper: 58.23% accuracy, MCC 0.0808")


# Commands defined in their own modules.
backtest_app.command("lookahead")(lookahead)
app.command("diagram")(diagram)
backtest_app.command("scenarios")(_scenarios)
learn_app.command("tune")(tune)
learn_app.command("adversarial")(_adversarial)
registry_app.command("promote")(_registry_promote)
registry_app.command("rollback")(_registry_rollback)
registry_app.command("diff")(_registry_diff)
registry_app.command("history")(_registry_history)
api_app = typer.Typer(help="The control API sidecar (FastAPI) and its keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed, with scopes read, trade, admin).", no_args_is_help=True)
api_app.command("serve")(cli_api.serve)
keys_app.command("create")(cli_api.keys_create)
keys_app.command("revoke")(cli_api.keys_revoke)
keys_app.command("list")(cli_api.keys_list)
api_app.add_typer(keys_app, name="keys")
app.add_typer(api_app, name="api")
live_app = typer.Typer(help="Live and paper trading nodes.", no_args_is_help=True)
live_app.command("paper")(_live_paper)
app.add_typer(live_app, name="live")
