"""The run report rendered in headless Chromium: every chart draws, no JS error, DSR/PBO shown.

The run folder comes from a real small walk-forward (regime model and risk layer on, two stocks);
the test adds scenario paths (the scenarios command's file) and, when the run lacks them, the
overfitting statistics, both computed from the run's own returns, then renders the page via
``file://`` in Chromium and saves a full-page screenshot under pytest's temporary folder.
The Makefile's ``browser`` target installs Chromium (``scripts/ensure-chromium.sh``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.backtest.metrics import compute_metrics, simple_returns
from nautilus_ai.backtest.overfitting import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from nautilus_ai.backtest.report import write_run_report
from nautilus_ai.backtest.report_plots import CHART_IDS
from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.risk.montecarlo import block_bootstrap_scenarios
from nautilus_ai.test_kit import CHROMEDRIVER, CHROMIUM, demo_catalog, headless_chromium, small_experiment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver (run `make browser` or "
        "scripts/ensure-chromium.sh)",
    ),
]


def _add_overfitting_and_scenarios(run_dir: Path, seed: int) -> None:
    """Add, when the run lacks them, what the overfitting and scenario commands write.

    Both come from the run's own strategy returns: PSR/DSR/PBO with the fold Sharpe ratios as the
    trials, and block-bootstrap paths of the returns with the metrics of each path.
    """
    equity = pd.read_parquet(run_dir / "equity.parquet").set_index("ts")
    returns = simple_returns(equity["strategy"]).to_numpy()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if "overfitting" not in metrics:
        # per-period Sharpe ratios of the folds, the trials the DSR deflates for
        fold_sharpes = [(f["metrics"]["sharpe"] or 0.0) / np.sqrt(252.0) for f in metrics["folds"]]
        n_trials = max(2, len(fold_sharpes))
        # trials for PBO: the strategy and every baseline, in 8 time blocks
        trials = np.column_stack([simple_returns(equity[c]).to_numpy() for c in equity.columns])
        pbo = probability_of_backtest_overfitting(trials[: len(trials) // 8 * 8], n_splits=8)
        metrics["overfitting"] = {
            "psr": probabilistic_sharpe_ratio(returns),
            "dsr": deflated_sharpe_ratio(returns, n_trials=n_trials, sr_variance=float(np.var(fold_sharpes))),
            "n_trials": n_trials,
            "pbo": pbo.pbo,
        }
        (run_dir / "metrics.json").write_text(json.dumps(metrics, default=str))
    if not (run_dir / "scenarios.parquet").exists():
        paths = block_bootstrap_scenarios(returns[:, None], 40, 126, 10, seed=seed)[:, :, 0]
        index = pd.bdate_range("2020-01-01", periods=paths.shape[1] + 1, tz="UTC")
        rows = []
        for i, path in enumerate(paths):
            curve = pd.Series(np.concatenate([[1.0], np.cumprod(1.0 + path)]), index=index)
            m = compute_metrics(curve)
            rows.append(
                {"scenario": "block_bootstrap", "path": i}
                | {k: m[k] for k in ("total_return", "sharpe", "max_drawdown")}
            )
        pd.DataFrame(rows).to_parquet(run_dir / "scenarios.parquet")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report-browser")
    cfg = small_experiment(
        demo_catalog(tmp),
        regime={"enabled": True, "n_states": 3},
        model={"long_threshold": 0.53, "short_threshold": 0.47},
        risk={"cvar_budget": 0.02, "sizing": "kelly_volatility"},
    )
    result = run_walkforward(cfg, tmp / "runs", run_id="browser")
    _add_overfitting_and_scenarios(result.run_dir, cfg.seed)
    write_run_report(result.run_dir)
    return result.run_dir


@pytest.fixture(scope="module")
def page(run_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), page_load_timeout=60)
    try:
        driver.get((run_dir / "report.html").as_uri())
        chart_ids = [CHART_IDS[k] for k in ("equity", "drawdown", "rolling_sharpe", "shap", "scenarios")]
        WebDriverWait(driver, 60).until(
            lambda d: all(
                d.execute_script(
                    "const el = document.getElementById(arguments[0]);"
                    "return !!el && !!el._fullLayout && el.querySelectorAll('.main-svg').length > 0;",
                    cid,
                )
                for cid in chart_ids
            )
        )
        yield driver
    finally:
        driver.quit()


def _trace_counts(driver, chart_id: str) -> dict[str, int]:
    return driver.execute_script(
        """
        const el = document.getElementById(arguments[0]);
        const traces = el.querySelectorAll('.trace');
        let drawn = 0;
        traces.forEach(t => { if (t.querySelector('path, rect, .point')) drawn += 1; });
        return {svgs: el.querySelectorAll('.main-svg').length, traces: traces.length, drawn: drawn,
                data: el.data.length};
        """,
        chart_id,
    )


@pytest.mark.parametrize("chart", ["equity", "drawdown", "rolling_sharpe", "shap", "scenarios"])
def test_every_chart_draws_svg_traces(page, chart: str) -> None:
    counts = _trace_counts(page, CHART_IDS[chart])
    assert counts["svgs"] >= 1, counts
    assert counts["traces"] >= 1 and counts["drawn"] >= 1, counts


def test_equity_chart_shows_baseline_regimes_and_fills(page) -> None:
    names = page.execute_script(
        "return document.getElementById(arguments[0]).data.map(t => t.name);", CHART_IDS["equity"]
    )
    assert {"strategy", "buy_and_hold", "buy fills", "sell fills"} <= set(names)
    assert any(n.startswith("regime: ") for n in names)
    shapes = page.execute_script(
        "return document.getElementById(arguments[0]).querySelectorAll('.shapelayer path').length;",
        CHART_IDS["equity"],
    )
    assert shapes > 3  # regime bands and fold boundaries
    points = page.execute_script(
        "return document.getElementById(arguments[0]).querySelectorAll('.scatterlayer .point').length;",
        CHART_IDS["equity"],
    )
    assert points > 100  # one triangle per fill


def test_page_logs_no_javascript_error(page) -> None:
    errors = [entry for entry in page.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_metrics_table_shows_the_overfitting_statistics(page, run_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    overfitting = json.loads((run_dir / "metrics.json").read_text())["overfitting"]
    table = page.find_element(By.ID, "metrics-table")
    text = table.text
    assert "Deflated Sharpe ratio (DSR)" in text and "Probability of backtest overfitting (PBO)" in text
    assert overfitting["dsr"] is not None
    for key in ("psr", "dsr", "pbo"):
        cells = table.find_elements(By.CSS_SELECTOR, f'tr[data-key="{key}"] td')
        expected = overfitting.get(key)
        if expected is None:  # e.g. PBO with too few rows for its blocks
            assert cells[2].text == "—", key
        else:
            assert float(cells[2].text) == pytest.approx(expected, rel=1e-3, abs=1e-3), key
        assert all(c.text == "—" for c in cells[3:])  # baselines have no overfitting statistics
    header = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    baselines = pd.read_parquet(run_dir / "equity.parquet").columns.drop(["ts", "strategy"])
    assert header[2:] == ["strategy", *baselines]  # every baseline of the run has a column


def test_full_page_screenshot(page, tmp_path_factory: pytest.TempPathFactory) -> None:
    height = page.execute_script("return document.documentElement.scrollHeight;")
    page.set_window_size(1400, min(int(height) + 100, 16000))
    out = tmp_path_factory.mktemp("artifacts") / "report.png"
    assert page.save_screenshot(str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000
    shutil.copy(out, out.with_name("report-latest.png"))
