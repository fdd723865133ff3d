"""The run manifest: code and package versions, config hash, seed and fingerprints of the files read."""

import hashlib
import json
import re

import pytest

import nautilus_ai
from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.walkforward import (
    catalog_files_read,
    code_version,
    data_fingerprints,
    package_versions,
    write_manifest,
)
from nautilus_ai.test_kit import demo_catalog, small_experiment


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return demo_catalog(tmp_path_factory.mktemp("manifest"), symbols=("AAPL", "MSFT"))


def _feeds(cfg, catalog):
    return node_config.feature_replay_run(cfg, str(catalog), "unused.parquet").data


def test_files_read_are_the_bars_and_instruments_of_the_config(catalog):
    cfg = small_experiment(catalog)

    files = catalog_files_read(str(catalog), _feeds(cfg, catalog), list(cfg.data.instruments))
    relative = sorted(p.relative_to(catalog.resolve()).parts[:3] for p in files)

    assert relative == [
        ("data", "bar", "AAPL.XNAS-1-DAY-LAST-EXTERNAL"),
        ("data", "bar", "MSFT.XNAS-1-DAY-LAST-EXTERNAL"),
        ("data", "equity", "AAPL.XNAS"),
        ("data", "equity", "MSFT.XNAS"),
    ]


def test_files_read_leave_out_instruments_the_run_does_not_trade(catalog):
    cfg = small_experiment(catalog, instruments=("AAPL.XNAS",))

    files = catalog_files_read(str(catalog), _feeds(cfg, catalog), list(cfg.data.instruments))

    assert files and all("MSFT" not in str(p) for p in files)


def test_fingerprints_give_relative_path_size_and_sha256(catalog):
    cfg = small_experiment(catalog)
    files = catalog_files_read(str(catalog), _feeds(cfg, catalog), list(cfg.data.instruments))

    prints = data_fingerprints(str(catalog), files)

    for entry, path in zip(prints, files, strict=True):
        assert entry["path"] == path.relative_to(catalog.resolve()).as_posix()
        assert entry["bytes"] == path.stat().st_size > 0
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_records_code_versions_config_hash_seed_and_data(catalog, tmp_path):
    cfg = small_experiment(catalog)

    written = write_manifest(tmp_path / "manifest.json", cfg, str(catalog), _feeds(cfg, catalog))
    manifest = json.loads((tmp_path / "manifest.json").read_text())

    assert manifest == written
    assert manifest["config_hash"] == cfg.config_hash()
    assert manifest["seed"] == cfg.seed
    assert manifest["code"]["nautilus_ai"] == nautilus_ai.__version__
    assert {"python", "nautilus_trader", "numpy", "lightgbm", "torch"} <= set(manifest["versions"])
    assert manifest["versions"]["nautilus_trader"] == "1.231.0"
    assert len(manifest["data"]) == 4


def test_code_version_has_a_commit_and_dirty_flag_or_none_outside_git():
    version = code_version()

    if version["git_commit"] is None:
        assert version["git_dirty"] is None
    else:
        assert re.fullmatch(r"[0-9a-f]{40}", version["git_commit"])
        assert isinstance(version["git_dirty"], bool)


def test_package_versions_are_none_for_missing_packages(monkeypatch):
    from nautilus_ai.backtest import walkforward

    monkeypatch.setattr(walkforward, "_MANIFEST_PACKAGES", ("numpy", "no-such-package-xyz"))

    versions = package_versions()

    assert versions["numpy"] is not None
    assert versions["no-such-package-xyz"] is None
