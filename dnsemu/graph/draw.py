"""The pictures: the estate (or what one network reaches) and a query's path over it, in each format.

What ``dnsemu graph``, ``dnsemu explain --format mermaid|svg`` and the ``/ui`` page draw.
"""

from __future__ import annotations

import ipaddress
import json

from dnsemu.analysis.explain import source_address
from dnsemu.core.index import Index
from dnsemu.core.resolution import Resolution
from dnsemu.dns.records import Question
from dnsemu.graph import dot, mermaid, svg
from dnsemu.graph.layout import layout
from dnsemu.graph.model import Graph, build_graph, collapse, reached_from, source_node
from dnsemu.graph.overlay import Overlay, path_overlay
from dnsemu.topology.loaded import LoadedTopology

__all__ = ["as_json", "estate", "explain_graph", "explain_picture", "render", "start_node"]


def estate(
    loaded: LoadedTopology, index: Index, source: str | None = None, collapsed: bool = False, title: str = "DNS estate"
) -> Graph:
    """The graph to draw: the whole estate, or what ``source`` reaches; collapsed on request.

    Raises :class:`dnsemu.analysis.explain.UnknownSource` for a ``source`` that is no address or name.
    """
    graph = build_graph(loaded, index, title)
    if source is not None:
        start = start_node(loaded, index, source)
        graph = reached_from(graph, start, f"{title} reached from {source}")
    return collapse(graph) if collapsed else graph


def start_node(loaded: LoadedTopology, index: Index, source: str) -> str:
    address = source_address(loaded.topology, index, source)
    network, _ = index.classify(address)
    return source_node(index, network.name if network is not None else None)


def render(graph: Graph, fmt: str, overlay: Overlay | None = None) -> str:
    if fmt == "mermaid":
        return mermaid.render(graph, overlay)
    if fmt == "dot":
        return dot.render(graph, overlay)
    if fmt == "svg":
        return svg.render(graph, overlay)
    if fmt == "json":
        return json.dumps(as_json(graph, overlay), indent=1) + "\n"
    raise ValueError(f"unknown format {fmt!r}")


def as_json(graph: Graph, overlay: Overlay | None = None) -> dict[str, object]:
    """Nodes and edges with their places, for programs (and the /ui page)."""
    placed = layout(graph)
    out: dict[str, object] = {
        "title": graph.title,
        "width": placed.width,
        "height": placed.height,
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "label": n.label,
                "details": list(n.details),
                "title": n.title,
                "count": n.count,
                "flags": list(n.flags),
                "box": [b.x, b.y, b.w, b.h],
            }
            for n in graph.nodes.values()
            for b in (placed.boxes[n.id],)
        ],
        "edges": [
            {
                "id": e.id,
                "source": e.source,
                "target": e.target,
                "kind": e.kind,
                "label": e.label,
                "title": e.title,
                "flags": list(e.flags),
            }
            for e in graph.edges.values()
        ],
    }
    if overlay is not None:
        out["path"] = overlay.as_dict()
    return out


def explain_graph(
    loaded: LoadedTopology,
    index: Index,
    question: Question,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    result: Resolution,
) -> tuple[Graph, Overlay]:
    """What the query's network reaches, with the path the query took over it."""
    network, _ = index.classify(address)
    start = source_node(index, network.name if network is not None else None)
    graph = reached_from(build_graph(loaded, index), start, f"{question} asked from {address}")
    return graph, path_overlay(graph, loaded, index, question, address, result)


def explain_picture(
    loaded: LoadedTopology,
    index: Index,
    question: Question,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    result: Resolution,
    fmt: str,
) -> str:
    graph, overlay = explain_graph(loaded, index, question, address, result)
    return render(graph, fmt, overlay)
