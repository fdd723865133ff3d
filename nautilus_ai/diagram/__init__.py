"""The annotated system map: the design's components and flows, drawn with Graphviz from a config.

:func:`build_system_graph` (pure data) and :func:`render_system_map` (SVG / A3 PDF) are the entry
points; ``nautilus-ai diagram`` is the command (``docs/diagram.md``).
"""

from nautilus_ai.diagram.model import (
    LIVE_FIELDS,
    Edge,
    Group,
    Node,
    SystemGraph,
    build_system_graph,
    with_live,
)
from nautilus_ai.diagram.render import render_graph, render_svg, render_system_map, to_digraph

__all__ = [
    "LIVE_FIELDS",
    "Edge",
    "Group",
    "Node",
    "SystemGraph",
    "build_system_graph",
    "render_graph",
    "render_svg",
    "render_system_map",
    "to_digraph",
    "with_live",
]
