"""The demo walk-forward with plain volatility targeting against the full risk layer, side by side.

Both variants use the demo experiment (configs/demo.toml: regime model and the three signal stages on
the bundled StockNet stocks) with the same folds, models and seed; only the ``[risk]`` section differs:

* ``volatility``: volatility-targeted sizing, no CVaR budget, no stops, no kill switch;
* ``full``: fractional Kelly combined with volatility targeting (payoff ratio from each fold's
  training trades), gross leverage cap, a CVaR budget over training-window scenarios, ATR bracket
  stops and the RiskGuardActor kill switch.

Printed: Sharpe, max drawdown, CVaR95 / CVaR99 of daily returns (historical, losses positive), total
return and trades of the stitched out-of-sample equity, and the risk decisions of the full variant.

    .venv/bin/python benchmarks/bench_risk_walkforward.py [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import load_instruments_file
from nautilus_ai.config import load_experiment
from nautilus_ai.risk.cvar import conditional_value_at_risk
from nautilus_ai.test_kit import bundled_data_dir

REPO = bundled_data_dir().parent

VARIANTS = {
    "volatility": {"sizing": "volatility", "cvar_budget": None, "stops": "none", "guard": False},
    "full": {
        "sizing": "kelly_volatility",
        "kelly_fraction": 0.5,
        "max_gross_leverage": 1.0,
        "cvar_budget": 0.01,
        "stops": "atr",
        "guard": True,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="Folder for the catalog and the runs")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-risk-wf-"))
    specs = load_instruments_file(bundled_data_dir() / "instruments.toml")
    catalog = root / "catalog"
    if not catalog.exists():
        ingest_paths([bundled_data_dir() / "bars_daily"], catalog, specs, IngestOptions())
    base = load_experiment(REPO / "configs" / "demo.toml").with_catalog(str(catalog))
    rows = []
    for name, risk in VARIANTS.items():
        cfg = base.model_copy(update={"risk": base.risk.model_copy(update=risk)})
        started = time.perf_counter()
        result = run_walkforward(cfg, root / "runs", run_id=f"{name}-{int(time.time())}")
        seconds = time.perf_counter() - started
        equity = pd.read_parquet(result.run_dir / "equity.parquet").set_index("ts")["strategy"]
        returns = equity.pct_change().dropna().to_numpy()
        oos = result.metrics["out_of_sample"]
        decisions = pd.read_parquet(result.run_dir / "risk_decisions.parquet")
        counts = decisions["action"].value_counts().to_dict() if "action" in decisions else {}
        rows.append(
            {
                "variant": name,
                "sharpe": oos["sharpe"],
                "max_drawdown": oos["max_drawdown"],
                "cvar95_daily": conditional_value_at_risk(returns, 0.95) if len(returns) else np.nan,
                "cvar99_daily": conditional_value_at_risk(returns, 0.99) if len(returns) else np.nan,
                "total_return": oos["total_return"],
                "trades": oos["n_trades"],
                "decisions": ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                "seconds": round(seconds, 1),
            }
        )
        print(f"{name}: {rows[-1]}", flush=True)
    table = pd.DataFrame(rows).set_index("variant")
    print()
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
