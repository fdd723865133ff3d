"""Drawing the system map with Graphviz: one cluster per layer, an A3 landscape page, SVG or PDF.

The layout is Graphviz's (``dot``, top to bottom); nothing is placed by hand. Feedback edges are
dashed and do not constrain the ranking (``constraint=false``), control signals are red, and the
timing of every edge is in its label and its style (real-time: solid, batch: bold grey, async:
dotted). Live values (see :func:`~nautilus_ai.diagram.model.with_live`) are drawn in blue inside
the node that owns them, and a REDUCING or HALTED trading state colours the Risk Guard.

Needs Debian's ``graphviz`` (the ``dot`` program) besides the Python ``graphviz`` package.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import graphviz

from nautilus_ai.config import ExperimentConfig
from nautilus_ai.diagram.model import Edge, Node, SystemGraph, build_system_graph, with_live
from nautilus_ai.errors import ConfigError

FORMATS: tuple[str, ...] = ("svg", "pdf", "png")
"""Output formats the renderer writes."""

A3_LANDSCAPE_INCHES: tuple[float, float] = (420 / 25.4, 297 / 25.4)
"""A3 landscape page (420 x 297 mm), in inches."""

_GROUP_COLOURS = {
    "data": "#e8f1fb",
    "features": "#e9f7ef",
    "signal": "#fdf3e1",
    "trading": "#fbe9e9",
    "execution": "#efeafa",
    "learning": "#eaf6f6",
    "ops": "#f2f2f2",
}
_TIMING_STYLES = {
    "real-time": {"style": "solid", "color": "#1f2d3d", "penwidth": "1.6"},
    "batch": {"style": "bold", "color": "#7a7a7a", "penwidth": "2.2"},
    "async": {"style": "dotted", "color": "#2f5f8f", "penwidth": "1.6"},
}
_FOLDED_LAYERS = {("signal", "trading")}
"""Layer pairs whose edges do not constrain the ranking: the decision chain starts its own column,
which folds the long left-to-right chain into a map with the proportions of the page."""
_STATE_FILLS = {"ACTIVE": "#d9f2d9", "REDUCING": "#ffe1b3", "HALTED": "#ffb3b3"}


def infer_format(out: Path, fmt: str | None = None) -> str:
    """Return the output format: ``fmt`` when given, else the suffix of ``out``.

    Raises
    ------
    ConfigError
        When the format is not one of :data:`FORMATS`.

    """
    chosen = (fmt or out.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise ConfigError(
            f"cannot tell the diagram format of {out} (format {chosen or 'missing'!r}): "
            f"use a suffix or --format among {list(FORMATS)}"
        )
    return chosen


def _node_label(node: Node) -> str:
    rows = [f'<TR><TD ALIGN="CENTER"><B><FONT POINT-SIZE="16">{html.escape(node.name)}</FONT></B></TD></TR>']
    rows.append(
        f'<TR><TD ALIGN="CENTER"><I><FONT POINT-SIZE="10">{html.escape(node.role)}</FONT></I></TD></TR>'
    )
    rows.extend(
        f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="11">{html.escape(line)}</FONT></TD></TR>'
        for line in node.annotations
    )
    rows.extend(
        f'<TR><TD ALIGN="LEFT"><B><FONT POINT-SIZE="12" COLOR="#0b4fb3">'
        f"{html.escape(caption)}: {html.escape(value)}</FONT></B></TD></TR>"
        for caption, value in node.live
    )
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _edge_label(edge: Edge) -> str:
    colour = "#c0392b" if edge.control else "#1f2d3d"
    lines = [f'<FONT POINT-SIZE="11" COLOR="{colour}"><B>{html.escape(edge.data_type)}</B></FONT>']
    if edge.label:
        lines.append(f'<FONT POINT-SIZE="10" COLOR="{colour}">{html.escape(edge.label)}</FONT>')
    lines.append(f'<FONT POINT-SIZE="9" COLOR="#555555">[{edge.timing}]</FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def _node_attributes(node: Node) -> dict[str, str]:
    attributes = {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "color": "#34495e"}
    if not node.enabled:
        attributes.update(
            style="rounded,dashed,filled", fillcolor="#f4f4f4", color="#9a9a9a", fontcolor="#7a7a7a"
        )
    state = dict(node.live).get("trading state")
    if state in _STATE_FILLS:
        attributes.update(fillcolor=_STATE_FILLS[state], penwidth="2.5")
    return attributes


def _edge_attributes(edge: Edge, group_of: dict[str, str], disabled: set[str]) -> dict[str, str]:
    attributes = dict(_TIMING_STYLES[edge.timing])
    if edge.feedback:
        attributes.update(style="dashed", constraint="false")
    if edge.control:
        # A command steers its target rather than feeding it: it does not pull the target's rank.
        attributes.update(color="#c0392b", fontcolor="#c0392b", penwidth="2.4", constraint="false")
    if (group_of[edge.source], group_of[edge.target]) in _FOLDED_LAYERS:
        attributes["constraint"] = "false"
    if edge.source in disabled or edge.target in disabled:
        attributes.update(color="#b5b5b5", style="dashed")
    return attributes


def _legend() -> str:
    rows = [
        ("real-time (every event)", "solid"),
        ("batch (offline job)", "bold grey"),
        ("async (bus, queue, HTTP)", "dotted"),
        ("feedback loop", "dashed"),
        ("control signal", "red"),
        ("live value", "blue text"),
    ]
    cells = "".join(
        f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="11">{html.escape(what)}</FONT></TD>'
        f'<TD ALIGN="LEFT"><FONT POINT-SIZE="11">{html.escape(style)}</FONT></TD></TR>'
        for what, style in rows
    )
    return (
        '<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="2"><TR><TD COLSPAN="2"><B>Legend</B></TD></TR>'
        + cells
        + "</TABLE>>"
    )


def to_digraph(graph: SystemGraph) -> graphviz.Digraph:
    """Return the Graphviz digraph of ``graph``, sized to an A3 landscape page.

    Parameters
    ----------
    graph : SystemGraph
        The map (from :func:`~nautilus_ai.diagram.model.build_system_graph`).

    Returns
    -------
    graphviz.Digraph
        Top-to-bottom ``dot`` layout, one cluster per layer, ``size`` forced to A3 landscape.

    """
    width, height = A3_LANDSCAPE_INCHES
    dot = graphviz.Digraph("system_map", engine="dot")
    dot.attr(
        rankdir="TB",
        size=f"{width:.4f},{height:.4f}!",
        ratio="fill",
        pad="0",
        margin="0",
        nodesep="0.35",
        ranksep="0.9",
        newrank="true",
        compound="true",
        fontname="Helvetica",
        label=f"<<B><FONT POINT-SIZE='24'>{html.escape(graph.title)}</FONT></B>>",
        labelloc="t",
    )
    dot.attr("node", fontname="Helvetica", margin="0.12,0.06")
    dot.attr("edge", fontname="Helvetica", arrowsize="0.9")
    for group in graph.groups:
        with dot.subgraph(name=f"cluster_{group.id}") as cluster:
            cluster.attr(
                label=f"<<B><FONT POINT-SIZE='18'>{html.escape(group.title)}</FONT></B>>",
                style="rounded,filled",
                fillcolor=_GROUP_COLOURS.get(group.id, "#f7f7f7"),
                color="#bdc3c7",
            )
            for node in graph.nodes:
                if node.group == group.id:
                    cluster.node(node.id, label=_node_label(node), **_node_attributes(node))
    disabled = {n.id for n in graph.nodes if not n.enabled}
    group_of = {n.id: n.group for n in graph.nodes}
    for edge in graph.edges:
        dot.edge(
            edge.source, edge.target, label=_edge_label(edge), **_edge_attributes(edge, group_of, disabled)
        )
    dot.node("legend", label=_legend(), shape="plaintext")
    return dot


_SVG_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


def fit_to_page(dot: graphviz.Digraph) -> graphviz.Digraph:
    """Centre the scaled drawing on an exact A3 landscape page by setting the canvas margins.

    ``size="W,H!"`` scales the layout to fit the page, but keeps its aspect ratio, so one side
    falls short; a first ``dot`` pass measures the drawing and the margins fill the rest.

    Parameters
    ----------
    dot : graphviz.Digraph
        A digraph from :func:`to_digraph` (changed in place).

    Returns
    -------
    graphviz.Digraph
        ``dot``, with its ``margin`` set.

    """
    measured = _SVG_SIZE.search(dot.pipe(format="svg", encoding="utf-8"))
    if measured is None:
        raise ConfigError("Graphviz returned an SVG without a size: cannot fit the map to the page")
    width, height = (float(v) / 72.0 for v in measured.groups())
    page_width, page_height = A3_LANDSCAPE_INCHES
    margin_x = max(0.0, (page_width - width) / 2)
    margin_y = max(0.0, (page_height - height) / 2)
    dot.attr(margin=f"{margin_x:.4f},{margin_y:.4f}")
    return dot


def _require_dot() -> None:
    if shutil.which("dot") is None:
        raise ConfigError(
            "Graphviz's 'dot' program was not found on PATH: install it (apt-get install graphviz)"
        )


def render_graph(graph: SystemGraph, out: Path, fmt: str | None = None) -> Path:
    """Write ``graph`` to ``out`` as SVG, PDF or PNG, on one A3 landscape page.

    Parameters
    ----------
    graph : SystemGraph
        The map to draw.
    out : Path
        Output file; its parent folders are created.
    fmt : str, optional
        One of :data:`FORMATS`; default: the suffix of ``out``.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ConfigError
        On an unknown format, or when Graphviz's ``dot`` is not installed.

    """
    chosen = infer_format(out, fmt)
    _require_dot()
    out.parent.mkdir(parents=True, exist_ok=True)
    renderer = "cairo" if chosen == "pdf" else None
    data = fit_to_page(to_digraph(graph)).pipe(format=chosen, renderer=renderer)
    out.write_bytes(data)
    return out


def render_svg(graph: SystemGraph) -> str:
    """Return ``graph`` drawn as SVG text (for a dashboard page).

    Raises
    ------
    ConfigError
        When Graphviz's ``dot`` is not installed.

    """
    _require_dot()
    return fit_to_page(to_digraph(graph)).pipe(format="svg", encoding="utf-8")


def render_system_map(
    cfg: ExperimentConfig,
    out: Path,
    *,
    fmt: str | None = None,
    live: Mapping[str, object] | None = None,
) -> Path:
    """Build the map of ``cfg``, add the live values, and write it to ``out``.

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment that annotates the map.
    out : Path
        Output file (``.svg``, ``.pdf`` or ``.png``).
    fmt : str, optional
        Output format, overriding the suffix.
    live : Mapping[str, object], optional
        Live values (``regime``, ``confidence``, ``trading_state``, ``model_version``).

    Returns
    -------
    Path
        ``out``.

    """
    graph = build_system_graph(cfg)
    if live:
        graph = with_live(graph, live)
    return render_graph(graph, out, fmt)
