"""``nautilus-ai diagram`` as a user runs it: real Graphviz, the SVG and the A3 PDF read back."""

import json
import re
import shutil
import subprocess
import tomllib
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdf
import pytest
import tomli_w
import typer
from typer.testing import CliRunner

from nautilus_ai.cli_diagram import diagram

DEMO = Path(__file__).parents[3] / "configs" / "demo.toml"
COMPONENTS = [
    "Data Sources",
    "Parquet Catalog",
    "Feature Factory",
    "Feature Store",
    "Regime Detector",
    "Stage 1 Filter",
    "Stage 2 Sequence Model",
    "Stage 3 Meta-Model",
    "Explainability",
    "Strategy",
    "Risk Gate",
    "Risk Guard",
    "Execution",
    "Venue",
    "Adaptive Learning",
    "Model Registry",
    "Backtesting",
    "API Gateway",
    "Control Actor",
]
A3_LANDSCAPE_PT = (1190.55, 841.89)
SVG_NS = "{http://www.w3.org/2000/svg}"

app = typer.Typer()


@app.callback()
def main() -> None:
    """Test app holding the command under its own name."""


app.command("diagram")(diagram)
runner = CliRunner()


def normalized(text: str) -> str:
    """Undo ligatures (fi -> fi) and collapse whitespace, as a reader sees the text."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text))


def svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()
    return normalized("\n".join("".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")))


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext"):
        result = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
        return normalized(result.stdout)
    return normalized("\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages))


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["diagram", *args])
    return result.exit_code, result.output


def variant_config(tmp_path: Path) -> Path:
    data = tomllib.loads(DEMO.read_text())
    data["model"].update(long_threshold=0.61, short_threshold=0.39)
    data["risk"].update(halt_drawdown=0.25, reduce_drawdown=0.15, cvar_budget=0.02, max_net_leverage=0.5)
    path = tmp_path / "variant.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_svg_holds_every_component_and_the_demo_thresholds(tmp_path: Path) -> None:
    out = tmp_path / "map.svg"

    code, output = run("--config", str(DEMO), "--out", str(out))

    assert code == 0, output
    assert "map.svg" in output
    text = svg_text(out)
    for name in COMPONENTS:
        assert name in text, name
    for expected in (
        "long >= 0.53 / short <= 0.47",
        "long if p >= 0.53, short if p <= 0.47",
        "reduce at 10% drawdown, halt at 20%",
        "CVaR95 1-bar <= 1% of equity",
        "max gross leverage 1",
        "halt trading",
        "retrain trigger",
        "FeatureVector",
        "fills, PnL, outcomes",
        "[real-time]",
        "[batch]",
        "[async]",
    ):
        assert expected in text, expected
    root = ET.parse(out).getroot()
    width, height = (float(root.get(k, "0").removesuffix("pt")) for k in ("width", "height"))
    assert width == pytest.approx(A3_LANDSCAPE_PT[0], abs=1.0)
    assert height == pytest.approx(A3_LANDSCAPE_PT[1], abs=1.0)


def test_pdf_is_one_a3_landscape_page_with_the_configured_values(tmp_path: Path) -> None:
    out = tmp_path / "map.pdf"

    code, output = run("--config", str(variant_config(tmp_path)), "--out", str(out))

    assert code == 0, output
    pages = pypdf.PdfReader(out).pages
    assert len(pages) == 1
    box = pages[0].mediabox
    assert float(box.width) == pytest.approx(A3_LANDSCAPE_PT[0], abs=1.0)
    assert float(box.height) == pytest.approx(A3_LANDSCAPE_PT[1], abs=1.0)
    text = pdf_text(out)
    for name in COMPONENTS:
        assert name in text, name
    assert "long if p >= 0.61, short if p <= 0.39" in text
    assert "reduce at 15% drawdown, halt at 25%" in text
    assert "CVaR95 1-bar <= 2% of equity" in text
    assert "max net leverage 0.5" in text
    assert "0.53" not in text and "halt at 20%" not in text


def test_live_values_are_drawn_into_the_map(tmp_path: Path) -> None:
    live = tmp_path / "live.json"
    live.write_text(
        json.dumps(
            {"regime": "volatile", "confidence": 0.58, "trading_state": "HALTED", "model_version": "v12"}
        )
    )
    out = tmp_path / "live-map.svg"

    code, output = run("--config", str(DEMO), "--out", str(out), "--live", str(live))

    assert code == 0, output
    text = svg_text(out)
    assert "current regime: volatile" in text
    assert "last signal confidence: 0.580" in text
    assert "trading state: HALTED" in text
    assert "model version: v12" in text


def test_format_option_overrides_the_suffix(tmp_path: Path) -> None:
    out = tmp_path / "map.out"

    code, output = run("--config", str(DEMO), "--out", str(out), "--format", "pdf")

    assert code == 0, output
    assert out.read_bytes().startswith(b"%PDF")


def test_unknown_format_exits_2_naming_the_choices(tmp_path: Path) -> None:
    code, output = run("--config", str(DEMO), "--out", str(tmp_path / "map.txt"))

    assert code == 2
    assert "ConfigError" in output and "svg" in output
    assert not (tmp_path / "map.txt").exists()


def test_bad_live_values_exit_2_naming_the_file_and_field(tmp_path: Path) -> None:
    live = tmp_path / "live.json"
    live.write_text(json.dumps({"confidence": 7}))

    code, output = run("--config", str(DEMO), "--out", str(tmp_path / "m.svg"), "--live", str(live))

    assert code == 2
    assert "DataError" in output and "confidence" in output and "live.json" in normalized(output)


def test_missing_config_exits_2(tmp_path: Path) -> None:
    code, output = run("--config", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "m.svg"))

    assert code == 2
    assert "does not exist" in output
