"""write_run_report: the run-folder report page and its PNG exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from nautilus_ai.backtest.metrics import compute_metrics
from nautilus_ai.backtest.report import load_run, write_run_report
from nautilus_ai.errors import DataError

CONFIG = 'name = "unit"\nseed = 3\n[model]\nname = "<m>"\n'


def _run_folder(root: Path, *, optional: bool = True) -> Path:
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2023-01-02 20:00", periods=160, tz="UTC")
    strategy = 1e6 * np.cumprod(1 + rng.normal(0.0005, 0.01, len(idx)))
    bh = 1e6 * np.cumprod(1 + rng.normal(0.0003, 0.012, len(idx)))
    ema = 1e6 * np.cumprod(1 + rng.normal(0.0001, 0.008, len(idx)))
    run = root / "run-x"
    run.mkdir(parents=True)
    pd.DataFrame({"ts": idx, "strategy": strategy, "buy_and_hold": bh, "ema_cross": ema}).to_parquet(
        run / "equity.parquet"
    )
    folds = [
        {"index": i, "test_start": idx[80 * i].isoformat(), "test_end": idx[80 * i + 79].isoformat(),
         "metrics": {"sharpe": 1.0 - i}, "shap_importance": {"rsi": 0.2 + i / 10, "ret_1": 0.1}}
        for i in range(2)
    ]  # fmt: skip
    metrics = {
        "run_id": "run-x",
        "out_of_sample": compute_metrics(pd.Series(strategy, index=idx)),
        "buy_and_hold": compute_metrics(pd.Series(bh, index=idx)),
        "ema_cross": compute_metrics(pd.Series(ema, index=idx)),
        "folds": folds,
    }
    if optional:
        metrics["overfitting"] = {"psr": 0.93, "dsr": 0.61, "n_trials": 4, "pbo": 0.25}
        (run / "config.toml").write_text(CONFIG)
        pd.DataFrame(
            {
                "ts": idx[::10],
                "side": ["BUY", "SELL"] * 8,
                "quantity": 5.0,
                "price": 100.0,
                "instrument_id": "A",
            }
        ).to_parquet(run / "trades.parquet")
        pd.DataFrame(
            {
                "ts": idx,
                "instrument_id": "A",
                "regime": np.where(np.arange(len(idx)) % 40 < 20, "calm", "wild"),
            }
        ).to_parquet(run / "regimes.parquet")
        pd.DataFrame(
            {"scenario": ["bootstrap"] * 20 + ["crash"] * 20, "path": list(range(20)) * 2,
             "total_return": rng.normal(0, 0.1, 40), "max_drawdown": -rng.uniform(0, 0.3, 40)}
        ).to_parquet(run / "scenarios.parquet")  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics, default=str))
    return run


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A full run folder (with a stale PNG in ``png/``) and its written report."""
    run = _run_folder(tmp_path_factory.mktemp("run-report"))
    (run / "png").mkdir()
    (run / "png" / "stale.png").write_bytes(b"x")
    return run, write_run_report(run)


def test_report_page_has_every_chart_plotly_once_and_nothing_external(written: tuple[Path, Path]) -> None:
    run, path = written
    assert path == run / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.count(get_plotlyjs()[:300]) == 1  # one inline copy of plotly.js
    for chart in ("chart-equity", "chart-drawdown", "chart-rolling-sharpe", "chart-shap", "chart-scenarios"):
        assert f'id="{chart}"' in text, chart
    assert text.count("Plotly.newPlot(") == 5
    page = text.replace(get_plotlyjs(), "")  # the library's own source mentions its home page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no network resource
    assert "<link" not in page.lower() and "https://" not in page
    # metrics table: strategy + both baselines, overfitting statistics in the strategy column
    table = text.split('id="metrics-table"', 1)[1].split("</table>", 1)[0]
    assert "<th>strategy</th><th>buy_and_hold</th><th>ema_cross</th>" in table
    assert re.search(
        r'data-key="dsr"><td>Deflated Sharpe ratio \(DSR\)</td><td class="key">dsr</td><td>0.610</td><td>—',
        table,
    )
    assert 'data-key="pbo"' in table and "<td>0.250</td>" in table
    # config text escaped, with its hash
    assert "name = &quot;&lt;m&gt;&quot;" in text
    assert "sha256[:12] <code>" in text
    assert "Regimes" in text and "<td>A</td><td>0.50</td><td>0.50</td>" in text


def test_png_exports_are_written_for_every_chart(written: tuple[Path, Path]) -> None:
    run, _ = written
    names = sorted(p.name for p in (run / "png").iterdir())
    assert names == ["drawdown.png", "equity.png", "rolling_sharpe.png", "scenarios.png", "shap.png"]
    for p in (run / "png").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000


def test_absent_optional_files_are_tolerated(tmp_path: Path) -> None:
    run = _run_folder(tmp_path, optional=False)
    text = write_run_report(run).read_text(encoding="utf-8")
    assert 'id="chart-equity"' in text and 'id="chart-scenarios"' not in text
    assert "No config.toml." in text and 'data-key="dsr"' not in text
    assert "No regime model in this run." in text and "No risk decisions recorded." in text
    assert sorted(p.name for p in (run / "png").iterdir()) == [
        "drawdown.png", "equity.png", "rolling_sharpe.png", "shap.png"
    ]  # fmt: skip


def test_load_run_names_the_file_and_field_at_fault(tmp_path: Path) -> None:
    run = _run_folder(tmp_path, optional=False)
    assert load_run(run).periods_per_year == 252.0
    pd.DataFrame({"ts": [], "equity": []}).to_parquet(run / "equity.parquet")
    with pytest.raises(DataError, match=r"equity.parquet.*'strategy'"):
        load_run(run)
    (run / "metrics.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"metrics\.json"):
        load_run(run)
    (run / "metrics.json").unlink()
    with pytest.raises(DataError, match=r"missing: a run folder needs metrics\.json"):
        write_run_report(run)
