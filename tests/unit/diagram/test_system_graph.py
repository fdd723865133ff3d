"""The system map as data: components, flows and annotations follow the experiment config."""

import tomllib
from pathlib import Path
from typing import Any

import pytest

from nautilus_ai.config import ExperimentConfig, parse_experiment
from nautilus_ai.diagram.model import (
    LIVE_FIELDS,
    TIMINGS,
    Edge,
    Group,
    Node,
    SystemGraph,
    build_system_graph,
    format_percent,
    with_live,
)
from nautilus_ai.errors import DataError

DEMO = Path(__file__).parents[3] / "configs" / "demo.toml"
DESIGN_COMPONENTS = [
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


def demo_config(**sections: dict[str, Any]) -> ExperimentConfig:
    """The demo config with some keys of some sections replaced."""
    data = tomllib.loads(DEMO.read_text())
    for section, values in sections.items():
        target = data
        for part in section.split("."):
            target = target.setdefault(part, {})
        target.update(values)
    return parse_experiment(data, "demo-variant")


def text_of(node: Node) -> str:
    return "\n".join(node.annotations)


def test_every_design_component_is_a_node_in_its_layer() -> None:
    graph = build_system_graph(demo_config())

    assert graph.component_names() == DESIGN_COMPONENTS
    groups = {g.id for g in graph.groups}
    assert {n.group for n in graph.nodes} == groups
    assert graph.node("stage2").group == graph.node("stage3").group == "signal"


def test_every_edge_carries_a_data_type_and_a_timing_and_all_timings_are_used() -> None:
    graph = build_system_graph(demo_config())

    assert all(edge.data_type for edge in graph.edges)
    assert {edge.timing for edge in graph.edges} == set(TIMINGS)
    assert graph.edges_between("features", "stage1")[0].data_type == "FeatureVector"
    assert graph.edges_between("stage3", "strategy")[0].data_type.startswith("ModelSignal")


def test_feedback_loops_and_control_signals_are_flagged() -> None:
    graph = build_system_graph(demo_config())

    (outcomes,) = graph.edges_between("venue", "learning")
    assert outcomes.feedback and not outcomes.control
    assert outcomes.data_type == "fills, PnL, outcomes"
    assert graph.edges_between("registry", "stage1")[0].feedback
    controls = {e.data_type for e in graph.edges if e.control}
    assert "retrain trigger" in controls
    assert any("halt trading" in e.data_type or "halt trading" in e.label for e in graph.edges if e.control)
    assert not any(e.control for e in graph.edges_between("features", "stage1"))


def test_signal_thresholds_come_from_the_model_section() -> None:
    demo = build_system_graph(demo_config())
    other = build_system_graph(demo_config(model={"long_threshold": 0.61, "short_threshold": 0.39}))

    assert "long if p >= 0.53, short if p <= 0.47" in text_of(demo.node("stage3"))
    assert "long if p >= 0.61, short if p <= 0.39" in text_of(other.node("stage3"))
    assert other.edges_between("stage3", "strategy")[0].label == "long >= 0.61 / short <= 0.39"


def test_stage_one_filter_margin_is_shown_when_set() -> None:
    graph = build_system_graph(demo_config(model={"filter_margin": 0.05}))

    assert "flat when |p1 - 0.5| < 0.05" in text_of(graph.node("stage1"))


def test_risk_limits_come_from_the_risk_section() -> None:
    demo = build_system_graph(demo_config())
    tight = build_system_graph(
        demo_config(
            risk={
                "halt_drawdown": 0.25,
                "reduce_drawdown": 0.15,
                "cvar_budget": 0.02,
                "max_net_leverage": 0.5,
                "max_position_notional": 250_000.0,
            }
        )
    )

    assert "reduce at 10% drawdown, halt at 20%" in text_of(demo.node("guard"))
    assert "CVaR95 1-bar <= 1% of equity" in text_of(demo.node("risk"))
    assert "max gross leverage 1" in text_of(demo.node("risk"))
    assert "atr stops: ATR(14) x 2, target x 3" in text_of(demo.node("risk"))
    assert "reduce at 15% drawdown, halt at 25%" in text_of(tight.node("guard"))
    assert "CVaR95 1-bar <= 2% of equity" in text_of(tight.node("risk"))
    assert "max net leverage 0.5" in text_of(tight.node("risk"))
    assert "max position 250,000 USD" in text_of(tight.node("risk"))
    assert tight.edges_between("guard", "risk")[0].label == "halt trading at 25% drawdown"


def test_switched_off_components_stay_on_the_map_marked_disabled() -> None:
    graph = build_system_graph(
        demo_config(
            **{"regime": {"enabled": False}, "model.stage2": {"enabled": False}, "risk": {"guard": False}}
        )
    )

    assert not graph.node("regime").enabled
    assert not graph.node("stage2").enabled
    assert not graph.node("guard").enabled
    assert graph.node("stage1").enabled
    assert graph.component_names() == DESIGN_COMPONENTS


def test_feature_list_regime_and_execution_follow_the_config() -> None:
    graph = build_system_graph(
        demo_config(
            features={"vpin_bucket_volume": 1000.0},
            regime={"kind": "gmm", "n_states": 4},
            execution={"algorithms": ["twap", "pov"]},
        )
    )
    market = build_system_graph(demo_config(execution={"mode": "market"}))

    features = text_of(graph.node("features"))
    assert "10 features" in features and "vpin" in features and "ema_ratio_30" in features
    assert "GMM, 4 states" in text_of(graph.node("regime"))
    assert "TWAP, POV" in text_of(graph.node("execution"))
    assert graph.edges_between("execution", "venue")[0].label == "child orders: TWAP, POV"
    assert text_of(market.node("execution")) == "market orders only"


def test_live_values_go_to_the_nodes_that_own_them_and_leave_the_graph_unchanged() -> None:
    graph = build_system_graph(demo_config())

    live = with_live(
        graph, {"regime": "volatile", "confidence": 0.6123, "trading_state": "halted", "model_version": "v7"}
    )

    assert dict(live.node("regime").live) == {"current regime": "volatile"}
    assert dict(live.node("stage3").live) == {"last signal confidence": "0.612"}
    assert dict(live.node("guard").live) == {"trading state": "HALTED"}
    assert dict(live.node("registry").live) == {"model version": "v7"}
    assert all(not n.live for n in graph.nodes)
    assert set(LIVE_FIELDS) == {"regime", "confidence", "trading_state", "model_version"}


@pytest.mark.parametrize(
    ("live", "field"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": "high"}, "confidence"),
        ({"trading_state": "PAUSED"}, "trading_state"),
        ({"model_version": ["v1"]}, "model_version"),
    ],
)
def test_bad_live_values_raise_a_data_error_naming_the_field(live: dict[str, object], field: str) -> None:
    graph = build_system_graph(demo_config())

    with pytest.raises(DataError, match=field) as error:
        with_live(graph, live, source="live.json")
    assert error.value.file == "live.json"


def test_unknown_live_keys_are_refused() -> None:
    with pytest.raises(DataError, match="unknown live values \\['pnl'\\]"):
        with_live(build_system_graph(demo_config()), {"pnl": 3.0})


def test_a_graph_refuses_edges_to_unknown_nodes_and_unknown_timings() -> None:
    node = Node("a", "A", "g", "role")
    with pytest.raises(ValueError, match="unknown node 'b'"):
        SystemGraph("t", (Group("g", "G"),), (node,), (Edge("a", "b", "x", "batch"),))
    with pytest.raises(ValueError, match="timing"):
        Edge("a", "a", "x", "hourly")  # type: ignore[arg-type]


def test_percentages_are_printed_without_float_noise() -> None:
    assert format_percent(0.1) == "10%"
    assert format_percent(0.035) == "3.5%"
    assert format_percent(0.07) == "7%"
