"""Mermaid (``flowchart LR``): renders on GitHub and in Markdown previews.

Nodes are declared layer by layer (networks, DNS servers, …) and coloured by kind with
one ``classDef`` each; no subgraphs, which would make Mermaid's layout route every edge
around the layers' boxes. Node ids are ``n_`` and the graph id with every other character than ``[A-Za-z0-9_]``
made ``_`` (numbered when two collide); labels are always double-quoted, and every
character Mermaid could read as syntax or markup (``"``, ``#``, ``%``, ``<``, ``>``,
``&``, ``|``, ``{``, ``}``, ``;``, backquote, backslash, anything beyond ASCII) is
written as a ``#NNN;`` entity code, so a name from a user file can never close a label,
inject HTML, start a ``%%{…}%%`` directive or a comment. (Mermaid still shows a literal
backslash-n in a name as a line break: it reads ``\\n`` after decoding entities.)

With a path drawn over it, the edges it took are thick (``==>``), their labels start
with the step numbers, the deciding node is of class ``deciding`` (the DNS security policy
that blocked the answer also of class ``blocked``), and the trace follows as ``%%`` comments.
"""

from __future__ import annotations

import re

from dnsemu.graph.model import COLUMNS, KINDS, Graph
from dnsemu.graph.overlay import Overlay
from dnsemu.graph.svg import COLOURS

_UNSAFE = re.compile(r"[^A-Za-z0-9 .,:/_()\[\]+=@'*?!$^~-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_]")


def label(text: str) -> str:
    """A double-quoted Mermaid label: user text entity-encoded, lines joined with ``<br/>``."""
    lines = [
        _UNSAFE.sub(lambda m: "".join(f"#{ord(c)};" for c in m.group()), _CONTROL.sub(" ", line))
        for line in text.split("\n")
    ]
    return '"' + "<br/>".join(lines) + '"'


def comment(text: str) -> str:
    return "%% " + _CONTROL.sub(" ", text).replace("%%", "% %")


def render(graph: Graph, overlay: Overlay | None = None) -> str:
    ids: dict[str, str] = {}
    used: set[str] = set()
    for nid in graph.nodes:
        base = "n_" + _NOT_ID.sub("_", nid)
        candidate, k = base, 2
        while candidate in used:
            candidate, k = f"{base}_{k}", k + 1
        used.add(candidate)
        ids[nid] = candidate

    out = [comment(f"{graph.title} (drawn by dnsemu)"), "flowchart LR"]
    for column in range(len(COLUMNS)):  # declared layer by layer: Mermaid keeps that order where it can
        for nid, node in graph.nodes.items():
            if KINDS[node.kind].column == column:
                out.append(f"  {ids[nid]}[{label(chr(10).join(node.lines))}]")

    on_edges = overlay.edges if overlay is not None else {}
    path_links: list[int] = []
    deciding_links: list[int] = []
    deciding_edge = overlay.deciding_edge if overlay is not None else None
    for i, (eid, edge) in enumerate(graph.edges.items()):
        text = edge.label
        if eid in on_edges:
            steps = ", ".join(map(str, on_edges[eid]))
            text = f"step {steps}" + (f"\n{text}" if text else "")
            arrow = "==>"
            path_links.append(i)
            if eid == deciding_edge:
                deciding_links.append(i)
        elif edge.kind in ("otherwise", "rule-disabled", "policy") or "missing" in edge.flags:
            arrow = "-.->"
        else:
            arrow = "-->"
        middle = f"{arrow}|{label(text)}|" if text else arrow
        out.append(f"  {ids[edge.source]} {middle} {ids[edge.target]}")

    for kind, (fill, stroke, _dark_fill, _dark_stroke) in COLOURS.items():
        members = [ids[n] for n, node in graph.nodes.items() if node.kind == kind]
        if members:
            css = KINDS[kind].css.replace("-", "_")
            out.append(f"  classDef {css} fill:{fill},stroke:{stroke},color:#1f2328")
            out.append(f"  class {','.join(members)} {css}")
    if overlay is not None:
        on_nodes = [ids[n] for n in overlay.nodes if n in ids]
        if on_nodes:
            out.append("  classDef onpath stroke:#cf222e,stroke-width:3px")
            out.append(f"  class {','.join(on_nodes)} onpath")
        if overlay.deciding_node in ids:
            out.append("  classDef deciding stroke:#bf3989,stroke-width:5px")
            out.append(f"  class {ids[overlay.deciding_node]} deciding")  # type: ignore[index]
        if overlay.blocked in ids:
            out.append("  classDef blocked fill:#ffebe9,stroke:#cf222e,stroke-width:5px")
            out.append(f"  class {ids[overlay.blocked]} blocked")  # type: ignore[index]
        if path_links:
            out.append(f"  linkStyle {','.join(map(str, path_links))} stroke:#cf222e,stroke-width:3px")
        if deciding_links:
            out.append(f"  linkStyle {','.join(map(str, deciding_links))} stroke:#bf3989,stroke-width:5px")
        out.append(
            comment(f"{overlay.question} asked from {overlay.source}: {overlay.rcode}, answer {overlay.answer_kind}")
        )
        for step in overlay.steps:
            mark = " (deciding step)" if step.number == overlay.deciding else ""
            out.append(comment(f"{step.number}. {step.text}{mark}"))
    return "\n".join(out) + "\n"
