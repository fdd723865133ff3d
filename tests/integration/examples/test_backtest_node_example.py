"""examples/backtest_node.py runs the pipeline from a plain NautilusTrader node script."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.test_kit import demo_catalog

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow


def test_node_script_trades_with_a_registered_model(tmp_path):
    catalog = demo_catalog(tmp_path, symbols=("AAPL",))
    spec = FeatureSpec()
    names = spec.feature_names()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, len(names)))
    y = (features[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = DirectionClassifier(seed=0).fit(features, y, names, spec.fingerprint())
    version = ModelRegistry(tmp_path / "registry").register(
        model, name="example", train_start="2012-09-04", train_end="2015-12-31", seed=0, params={}
    )

    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "backtest_node.py"),
            "--catalog",
            str(catalog),
            "--registry",
            str(tmp_path / "registry"),
            "--model-version",
            version,
            "--start",
            "2016-01-01",
            "--end",
            "2016-12-31",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert f"model {version}:" in result.stdout
    fills = int(result.stdout.split(" orders, ")[1].split(" fills")[0])
    assert fills > 0
