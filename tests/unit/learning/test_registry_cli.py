"""The registry commands promote / rollback / diff / history on a throwaway Typer app."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from nautilus_ai import cli_registry
from nautilus_ai.errors import EXIT_CODES, ConfigError, ModelError
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.registry import ModelRegistry

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("promote")(cli_registry.promote)
    app.command("rollback")(cli_registry.rollback)
    app.command("diff")(cli_registry.diff)
    app.command("history")(cli_registry.history)
    return app


def _model(seed: int) -> DirectionClassifier:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 2))
    y = (x[:, 0] > 0).astype(int)
    return DirectionClassifier(params={"n_estimators": 3}, seed=seed).fit(x, y, ["a", "b"], "s")


@pytest.fixture
def populated(tmp_path) -> tuple[ModelRegistry, list[str]]:
    registry = ModelRegistry(tmp_path / "reg")
    versions: list[str] = []
    for seed, sharpe in ((1, 1.0), (2, 1.4), (3, 0.2)):
        version = registry.register(
            _model(seed),
            name="m",
            train_start="2020",
            train_end="2021",
            seed=seed,
            params={"n_estimators": 3, "seed": seed},
            metrics={"test_auc": 0.55 + seed / 100},
            parent=versions[-1] if versions else None,
        )
        registry.record_metrics(version, {"sharpe": sharpe, "psr": 0.9 + seed / 100})
        versions.append(version)
    return registry, versions


def _invoke(app: typer.Typer, registry: ModelRegistry, *args: str):
    return runner.invoke(app, [*args, "--registry", str(registry.root)])


def test_promote_prints_the_gate_and_promotes(app, populated):
    registry, (v1, v2, _) = populated

    first = _invoke(app, registry, "promote", v1, "--min-psr", "0.9", "--actor", "ops")
    second = _invoke(app, registry, "promote", v2, "--champion-margin", "0.3", "--reason", "better")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "PASSED" in second.output and "beats the champion" in second.output
    assert f"{v2} is now the champion of m" in second.output
    assert registry.champion("m").version_id == v2
    first_event = registry.history("m")[0]
    assert (first_event.actor, first_event.reason) == ("ops", None)


def test_refused_promotion_exits_with_the_model_error_code(app, populated):
    registry, (v1, _, v3) = populated
    registry.promote(v1)

    result = _invoke(app, registry, "promote", v3, "--min-sharpe", "0.5")

    assert result.exit_code == EXIT_CODES[ModelError]
    assert "FAILED" in result.output and "sharpe = 0.2 is below the minimum 0.5" in result.output
    assert "PromotionRefused" in result.output
    assert registry.champion("m").version_id == v1


def test_forced_promotion_needs_a_reason_and_is_flagged(app, populated):
    registry, (v1, _, v3) = populated
    registry.promote(v1)

    no_reason = _invoke(app, registry, "promote", v3, "--force")
    forced = _invoke(app, registry, "promote", v3, "--force", "--reason", "hotfix")

    assert no_reason.exit_code == EXIT_CODES[ConfigError] and "reason" in no_reason.output
    assert forced.exit_code == 0, forced.output
    assert "FORCED" in forced.output
    assert registry.history("m")[-1].forced


def test_no_champion_check_and_gate_file(app, populated, tmp_path):
    registry, (v1, _, v3) = populated
    registry.promote(v1)
    gate = tmp_path / "gate.toml"
    gate.write_text("[gate]\nmin_sharpe = 0.1\nmin_psr = 0.5\n")

    refused = _invoke(app, registry, "promote", v3, "--gate", str(gate))
    passed = _invoke(app, registry, "promote", v3, "--gate", str(gate), "--no-champion-check")

    assert refused.exit_code == EXIT_CODES[ModelError]
    assert passed.exit_code == 0, passed.output
    assert registry.champion("m").version_id == v3


def test_bad_gate_file_is_a_config_error_naming_the_file(app, populated, tmp_path):
    registry, (v1, _, _) = populated
    gate = tmp_path / "gate.toml"
    gate.write_text("min_psr = 3.0\nunknown = 1\n")

    result = _invoke(app, registry, "promote", v1, "--gate", str(gate))

    assert result.exit_code == EXIT_CODES[ConfigError]
    assert "gate.toml" in result.output and "min_psr" in result.output and "unknown" in result.output


def test_rollback_command(app, populated):
    registry, (v1, v2, _) = populated
    registry.promote(v1)
    registry.promote(v2)

    result = _invoke(app, registry, "rollback", "m", "--reason", "incident 42")
    again = _invoke(app, registry, "rollback", "m")

    assert result.exit_code == 0, result.output
    assert f"{v1} is now the champion of m (was {v2})" in result.output
    assert again.exit_code == EXIT_CODES[ConfigError] and "no previous champion" in again.output
    assert registry.history("m")[-1].reason == "incident 42"


def test_diff_command_tables_and_json(app, populated):
    registry, (v1, v2, _) = populated

    table = _invoke(app, registry, "diff", v1, v2)
    as_json = _invoke(app, registry, "diff", v1, v2, "--json")

    assert table.exit_code == 0, table.output
    assert "b is a descendant of a (1 generation)" in table.output
    assert "+0.4" in table.output  # sharpe 1.0 -> 1.4
    data = json.loads(as_json.output)
    assert data["params"] == {"seed": [1, 2]}
    assert {m["key"]: m["delta"] for m in data["metrics"] if m["kind"] == "out_of_sample"}["sharpe"] == (
        pytest.approx(0.4)
    )


def test_history_command(app, populated):
    registry, (v1, v2, _) = populated
    registry.promote(v1, actor="ops")
    registry.promote(v2, force=True, reason="why not")

    result = _invoke(app, registry, "history", "m", "--json")

    assert result.exit_code == 0, result.output
    events = json.loads(result.output)
    assert [e["version_id"] for e in events] == [v1, v2]
    assert events[0]["actor"] == "ops"


def test_unknown_version_is_one_clear_line(app, populated):
    registry, _ = populated

    result = _invoke(app, registry, "diff", "m-000000000000", "m-111111111111")

    assert result.exit_code == EXIT_CODES[ModelError]
    assert "not registered" in result.output
