"""Graphviz DOT, for people who lay graphs out with ``dot`` themselves.

Every id and label is a double-quoted DOT string: backslashes and quotes are escaped,
``&`` becomes ``&amp;`` (Graphviz decodes entities), control characters are dropped,
and line breaks are the only ``\\n`` escapes written, so a name from a user file stays
text (``\\N``, ``\\G`` and friends never reach Graphviz).
One cluster per layer (``rank=same``), ``rankdir=LR``; each node and edge carries the
``class`` and ``id`` the SVG renderer uses, and ``tooltip`` holds the full description.
With a path drawn over it, the edges it took are red and say their step numbers, the
deciding node or edge is thicker still, and a DNS security policy that blocked the answer
is filled red (class ``blocked``).
"""

from __future__ import annotations

import re

from dnsemu.graph.model import COLUMNS, KINDS, Graph
from dnsemu.graph.overlay import Overlay
from dnsemu.graph.svg import COLOURS, xml_id

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def quote(text: str) -> str:
    """A DOT double-quoted string holding ``text`` literally (newlines become line breaks).

    Graphviz reads HTML character entities (``&amp;``, ``&#35;``) in labels, so ``&`` is
    written ``&amp;``: a name holding ``&lt;`` shows as typed.
    """
    clean = _CONTROL.sub("", text).replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{clean}"'


def _attrs(pairs: dict[str, str]) -> str:
    return "[" + ", ".join(f"{k}={quote(v)}" for k, v in pairs.items() if v != "") + "]"


def render(graph: Graph, overlay: Overlay | None = None) -> str:
    title = graph.title
    if overlay is not None:
        title = f"{overlay.question} asked from {overlay.source}: {overlay.rcode} ({overlay.answer_kind})"
    out = [
        f"digraph {quote(graph.title)} {{",
        "  graph " + _attrs({"rankdir": "LR", "label": title, "labelloc": "t", "fontname": "monospace"}) + ";",
        '  node [shape="box", style="rounded,filled", fontname="monospace", fontsize="11"];',
        '  edge [fontname="monospace", fontsize="9", color="#8c959f"];',
    ]
    on_nodes = overlay.nodes if overlay is not None else {}
    on_edges = overlay.edges if overlay is not None else {}
    by_column: dict[int, list[str]] = {}
    for nid, node in graph.nodes.items():
        by_column.setdefault(KINDS[node.kind].column, []).append(nid)
    for column in sorted(by_column):
        out.append(f"  subgraph {quote(f'cluster_{column}')} {{")
        out.append(f'    label={quote(COLUMNS[column])}; rank=same; style="filled"; color="#f6f8fa";')
        for nid in by_column[column]:
            node = graph.nodes[nid]
            fill, stroke = COLOURS[node.kind][0], COLOURS[node.kind][1]
            classes = " ".join([f"kind-{KINDS[node.kind].css}", *node.flags])
            attrs = {
                "label": "\n".join(node.lines),
                "tooltip": node.title,
                "class": classes,
                "id": xml_id("node-", nid),
                "fillcolor": fill,
                "color": stroke,
            }
            if nid in on_nodes:
                attrs.update(color="#cf222e", penwidth="3")
            if overlay is not None and nid == overlay.deciding_node:
                attrs.update(color="#bf3989", penwidth="5")
            if overlay is not None and nid == overlay.blocked:
                attrs.update(fillcolor="#ffebe9", color="#cf222e", penwidth="5", **{"class": f"{classes} blocked"})
            out.append(f"    {quote(nid)} {_attrs(attrs)};")
        out.append("  }")
    deciding_edge = overlay.deciding_edge if overlay is not None else None
    for eid, edge in graph.edges.items():
        text = edge.label
        attrs = {
            "class": " ".join([f"kind-{edge.kind}", *edge.flags]),
            "id": xml_id("edge-", eid),
            "tooltip": edge.title,
        }
        if edge.kind in ("otherwise", "rule-disabled", "policy") or "missing" in edge.flags:
            attrs["style"] = "dashed"
        if "redirect" in edge.flags:
            attrs["color"] = "#bc4c00"
        if eid in on_edges:
            text = "step " + ", ".join(map(str, on_edges[eid])) + (f"\n{text}" if text else "")
            attrs.update(color="#cf222e", penwidth="3", style="solid")
            if eid == deciding_edge:
                attrs.update(color="#bf3989", penwidth="5")
        attrs["label"] = text
        out.append(f"  {quote(edge.source)} -> {quote(edge.target)} {_attrs(attrs)};")
    if overlay is not None:
        for step in overlay.steps:
            mark = " (deciding step)" if step.number == overlay.deciding else ""
            text = _CONTROL.sub("", step.text).replace("\n", " ")
            out.append(f"  // {step.number}. {text}{mark}")
    out.append("}")
    return "\n".join(out) + "\n"
