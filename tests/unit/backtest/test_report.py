"""Tests for nautilus_ai.backtest.report.write_report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.backtest.metrics import compute_metrics
from nautilus_ai.backtest.report import write_report

RUN_ID = "wf-20240101-abc123"
IMG_RE = re.compile(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _curve(seed: int, n: int = 260, start: float = 10_000.0) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2023-01-02", periods=n, tz="UTC")
    return pd.Series(start * np.cumprod(1.0 + rng.normal(0.0004, 0.01, n)), index=idx)


def _trades(n: int) -> pd.DataFrame:
    ts = pd.date_range("2023-01-03", periods=n, freq="D", tz="UTC")
    qty = np.full(n, 10.0)
    price = np.linspace(100, 120, n)
    return pd.DataFrame(
        {
            "ts": ts,
            "instrument_id": ["SPY.XNAS"] * n,
            "side": np.where(np.arange(n) % 2 == 0, "BUY", "SELL"),
            "quantity": qty,
            "price": price,
            "notional": qty * price,
            "commission": np.full(n, 1.0),
        }
    )


@pytest.fixture
def report_inputs() -> dict:
    equity = _curve(1)
    bench = _curve(2)
    trades = _trades(80)
    folds = []
    bounds = [equity.index[0], equity.index[90], equity.index[175], equity.index[-1]]
    for i in range(3):
        seg = equity.loc[bounds[i] : bounds[i + 1]]
        folds.append(
            {
                "fold": i,
                "train_start": (bounds[i] - pd.Timedelta(days=365)).isoformat(),
                "train_end": bounds[i].isoformat(),
                "test_start": bounds[i],
                "test_end": bounds[i + 1].isoformat(),
                "model_version": f"lgbm-v{i}",
                "metrics": compute_metrics(seg),
            }
        )
    return {
        "title": "Walk-forward <SPY> & friends",
        "run_id": RUN_ID,
        "equity": equity,
        "benchmark": bench,
        "metrics": {
            "out_of_sample": compute_metrics(equity, trades, pd.DataFrame({"realized_pnl": [1.0, -2.0]})),
            "buy_and_hold": compute_metrics(bench),
        },
        "folds": folds,
        "config_text": '[model]\nname = "x"\n<script>alert("pwned")</script>\n',
        "trades": trades,
        "notes": ["Costs include <commission> & slippage."],
    }


def test_write_report_contents(tmp_path: Path, report_inputs: dict) -> None:
    out = write_report(tmp_path / "sub" / "report.html", **report_inputs)
    assert out == tmp_path / "sub" / "report.html"
    assert out.is_file()
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")

    # self-contained: no external loads at all
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
    assert "@import" not in text and "url(" not in text

    # run id, title (escaped), metric names, section names
    assert RUN_ID in text
    assert "Walk-forward &lt;SPY&gt; &amp; friends" in text
    for key in ("sharpe", "sortino", "calmar", "max_drawdown", "cagr", "total_return", "volatility",
                "turnover", "hit_rate", "n_trades"):  # fmt: skip
        assert f">{key}<" in text, key
    assert "out_of_sample" in text and "buy_and_hold" in text

    # exactly two embedded PNG images
    images = IMG_RE.findall(text)
    assert len(images) == 2
    for b64 in images:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"

    # config escaped inside <pre>
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in text
    assert re.search(r"<pre>\[model\]", text)
    assert "Costs include &lt;commission&gt; &amp; slippage." in text

    # per-fold table
    for i in range(3):
        assert f"lgbm-v{i}" in text
    assert "Walk-forward folds" in text


def test_trades_table_limited_to_last_50(tmp_path: Path, report_inputs: dict) -> None:
    text = write_report(tmp_path / "r.html", **report_inputs).read_text()
    trades_section = text.split("Last 50 trades", 1)[1].split("</section>", 1)[0]
    assert trades_section.count("<tr>") == 51  # header + 50 rows
    last = report_inputs["trades"]["ts"].iloc[-1].isoformat()
    first_dropped = report_inputs["trades"]["ts"].iloc[29].isoformat()
    assert last in trades_section
    assert first_dropped not in trades_section


def test_no_temp_files_left_and_overwrite(tmp_path: Path, report_inputs: dict) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_report(target, **report_inputs)
    write_report(target, **report_inputs)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert target.read_text().startswith("<!DOCTYPE html>")


def test_failed_write_keeps_old_file(tmp_path: Path, report_inputs: dict, monkeypatch) -> None:
    import nautilus_ai.catalog.atomic as atomic

    target = tmp_path / "report.html"
    target.write_text("old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError):
        write_report(target, **report_inputs)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_minimal_inputs(tmp_path: Path) -> None:
    equity = _curve(3, n=1)
    text = write_report(
        tmp_path / "min.html",
        title="t",
        run_id="r",
        equity=equity,
        benchmark=None,
        metrics={"out_of_sample": compute_metrics(equity)},
        folds=[],
        config_text="",
    ).read_text()
    assert len(IMG_RE.findall(text)) == 2
    assert "No folds." in text
    assert "trades</h2>" not in text
    assert "http" not in text


def test_empty_equity_and_empty_trades(tmp_path: Path) -> None:
    empty = pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    text = write_report(
        tmp_path / "e.html",
        title="t",
        run_id="r",
        equity=empty,
        benchmark=empty,
        metrics={},
        folds=[{"fold": 0, "metrics": {}}],
        config_text="x",
        trades=_trades(0),
    ).read_text()
    assert len(IMG_RE.findall(text)) == 2
    assert "No trades." in text
    assert "No metrics." in text
