"""``dnsemu graph`` and the pictures of ``dnsemu explain --format mermaid|svg``.

``add_arguments(parser)`` declares the options of ``dnsemu graph``; ``run(args)`` draws
and returns the exit status (0, or 2 for an invalid topology or an unknown ``--from``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path

from dnsemu.core.index import Index
from dnsemu.core.resolution import Question, Resolution
from dnsemu.graph import dot, mermaid, svg
from dnsemu.graph.layout import layout
from dnsemu.graph.model import Graph, build_graph, collapse, reached_from, source_node
from dnsemu.graph.overlay import Overlay, path_overlay
from dnsemu.topology.load import LoadedTopology

FORMATS = ("mermaid", "dot", "svg", "json")

REGENERATE = "dnsemu graph zones/topology.yaml --format svg -o docs/estate.svg"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topology", nargs="?", help="topology file (default: zones/topology.yaml)")
    parser.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default="mermaid",
        help="mermaid (default), dot, svg, or json (nodes, edges, layout)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        help="draw only what one network reaches: an address, or the name of a VNet, on-premises site or VM, "
        "or 'internet'",
    )
    parser.add_argument(
        "--collapse",
        action="store_true",
        help="merge VNets with the same DNS, zones with the same links and endpoints in the same zones "
        "into counted nodes",
    )
    parser.add_argument("--output", "-o", help="write to this file instead of standard output")


def estate(
    loaded: LoadedTopology, index: Index, source: str | None = None, collapsed: bool = False, title: str = "DNS estate"
) -> Graph:
    """The graph to draw: the whole estate, or what ``source`` reaches; collapsed on request.

    Raises :class:`dnsemu.explain.UnknownSource` for a ``source`` that is no address or name.
    """
    graph = build_graph(loaded, index, title)
    if source is not None:
        start = start_node(loaded, index, source)
        graph = reached_from(graph, start, f"{title} reached from {source}")
    return collapse(graph) if collapsed else graph


def start_node(loaded: LoadedTopology, index: Index, source: str) -> str:
    from dnsemu.explain import source_address

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


def run(args: argparse.Namespace) -> int:
    from dnsemu.cli import _load
    from dnsemu.explain import UnknownSource

    _path, loaded, index = _load(args.topology)
    if loaded is None:
        return 2
    try:
        graph = estate(loaded, index, args.source, args.collapse)
    except (UnknownSource, ValueError) as exc:
        print(f"dnsemu graph: {exc}", file=sys.stderr)
        return 2
    text = render(graph, args.format)
    if args.output and args.output != "-":
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"dnsemu graph: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0
