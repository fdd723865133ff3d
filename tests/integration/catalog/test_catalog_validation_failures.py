"""Malformed files: a DataError names file, row and field, and the catalog is left unchanged."""

import hashlib
import json
from pathlib import Path

import pytest

from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import InstrumentSpec
from nautilus_ai.errors import DataError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "catalog"
MALFORMED = FIXTURES / "malformed"

SPEC = InstrumentSpec(
    id="TEST-PERP.SIM",
    kind="crypto_perpetual",
    base_currency="BTC",
    price_precision=1,
    size_precision=0,
    bar_spec="1-MINUTE-LAST",
)

# file -> (1-based data row, field)
CASES = {
    "duplicate_timestamp.csv": (10, "timestamp"),
    "out_of_order.csv": (11, "timestamp"),
    "gap.csv": (10, "timestamp"),
    "nan_value.csv": (7, "close"),
    "non_positive_price.csv": (5, "open"),
    "high_below_low.csv": (8, "high"),
    "open_outside_range.csv": (12, "open"),
    "negative_volume.csv": (6, "volume"),
    "outlier.csv": (15, "close"),
}


def tree_snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def populated_catalog(tmp_path: Path) -> Path:
    catalog = tmp_path / "catalog"
    ingest_paths([FIXTURES / "clean_1m.csv"], catalog, [SPEC], IngestOptions())
    return catalog


def test_every_failure_mode_has_a_fixture() -> None:
    assert sorted(p.name for p in MALFORMED.glob("*.csv")) == sorted(CASES)


@pytest.mark.parametrize(("name", "expected"), sorted(CASES.items()))
def test_malformed_file_raises_data_error_naming_file_row_field_and_leaves_catalog_unchanged(
    populated_catalog: Path, name: str, expected: tuple[int, str]
) -> None:
    row, field = expected
    before = tree_snapshot(populated_catalog)

    with pytest.raises(DataError) as caught:
        ingest_paths([MALFORMED / name], populated_catalog, [SPEC], IngestOptions())

    error = caught.value
    assert (error.row, error.field) == (row, field)
    assert name in error.file
    message = str(error)
    assert name in message and f"row {row}" in message and f"'{field}'" in message
    assert "expected" in message
    assert tree_snapshot(populated_catalog) == before


def test_clean_fixture_ingests_without_repair(populated_catalog: Path) -> None:
    manifest = json.loads((populated_catalog / "_nautilus_ai" / "manifest.json").read_text())
    assert [entry["rows_written"] for entry in manifest["files"].values()] == [20]


def test_repair_drops_bad_rows_sorts_and_writes_validation_reports(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    files = [
        MALFORMED / n
        for n in ("duplicate_timestamp.csv", "negative_volume.csv", "out_of_order.csv", "gap.csv")
    ]
    specs = [SPEC.model_copy(update={"id": f"T{i}-PERP.SIM", "files": [f.name]}) for i, f in enumerate(files)]

    report = ingest_paths(files, catalog, specs, IngestOptions(repair=True))

    by_name = {Path(r.file).name: r for r in report.files}
    assert by_name["duplicate_timestamp.csv"].rows_dropped == {"duplicate": 1}
    assert by_name["duplicate_timestamp.csv"].rows_written == 19
    assert by_name["negative_volume.csv"].rows_dropped == {"negative_volume": 1}
    assert any("sorted 1 out-of-order" in fix for fix in by_name["out_of_order.csv"].fixes)
    assert by_name["out_of_order.csv"].rows_written == 20
    gap = by_name["gap.csv"]
    assert gap.rows_written == 20 and gap.rows_dropped == {}
    assert len(gap.warnings) == 1 and "1 missing bar" in gap.warnings[0]
    for result in report.files:
        json_path, text_path = map(Path, result.report_files)
        assert json_path.name == f"{Path(result.file).stem}-{result.sha256[:8]}.validation.json"
        assert json_path.parent == catalog / "_reports"
        payload = json.loads(json_path.read_text())
        assert payload["rows_written"] == result.rows_written
        assert text_path.read_text().startswith("Validation of")


def test_repair_never_modifies_the_source_file(tmp_path: Path) -> None:
    source = MALFORMED / "duplicate_timestamp.csv"
    before = source.read_bytes()

    ingest_paths([source], tmp_path / "catalog", [SPEC], IngestOptions(repair=True))

    assert source.read_bytes() == before


def test_max_gap_bars_turns_a_short_gap_into_a_warning(tmp_path: Path) -> None:
    spec = SPEC.model_copy(update={"max_gap_bars": 1})

    report = ingest_paths([MALFORMED / "gap.csv"], tmp_path / "catalog", [spec], IngestOptions())

    assert report.files[0].rows_written == 20
    assert len(report.files[0].warnings) == 1
