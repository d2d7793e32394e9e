"""SVG, laid out and written by dnsemu itself: no Graphviz, no fonts to measure.

The document is plain SVG 1.1 with one ``<style>`` (light and dark colours, through
``prefers-color-scheme``), so it renders the same in a browser, on GitHub and in the
``/ui`` page. Every element a program may look for is named:

- ``<g class="node kind-KIND" id="node-…" data-node="ID" data-kind="KIND">`` with a
  ``<title>`` (the full description), a ``<rect>`` and the text lines;
- ``<g class="edge kind-KIND" id="edge-…" data-source="ID" data-target="ID" data-kind="KIND">``
  with a ``<title>`` and a ``<path>``; its label is ``<g class="edge-label" data-for="edge-…">``;
- ``<g class="column" id="column-N">``: the band and heading of each layer;
- with a path drawn over the estate, the nodes and edges it took carry ``on-path``
  (and ``deciding`` for the deciding step), ``<g class="step-badge" data-step="N">``
  numbers them, and ``<g class="trace">`` lists the steps.

Ids are the graph's ids with every character outside ``[A-Za-z0-9-]`` written as
``_XX`` (its UTF-8 bytes in hex), so they are valid XML names and never collide. All
text goes through :func:`escape`: names come from user files.
"""

from __future__ import annotations

import re
import textwrap

from dnsemu.graph.layout import (
    DETAIL_LINE,
    DETAIL_SIZE,
    EDGE_LABEL_LINE,
    EDGE_LABEL_SIZE,
    LABEL_LINE,
    LABEL_SIZE,
    MARGIN,
    PAD_X,
    PAD_Y,
    Layout,
    _bezier,
    layout,
    text_width,
)
from dnsemu.graph.model import KINDS, Graph
from dnsemu.graph.overlay import Overlay

FONT = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"

# XML 1.0 allows tab, newline, carriage return and everything from U+0020 but surrogates,
# U+FFFE and U+FFFF; anything else (a control character in a YAML name) becomes U+FFFD.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_ID = re.compile("[^A-Za-z0-9-]")


def escape(text: object) -> str:
    """Text safe inside an XML element or a double-quoted attribute."""
    out = str(text)
    if _INVALID_XML.search(out) is not None:
        out = _INVALID_XML.sub("\ufffd", out)
    return (
        out.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def xml_id(prefix: str, graph_id: str) -> str:
    return prefix + _encode_id(graph_id)


def _encode_id(text: str) -> str:
    return _NOT_ID.sub(lambda m: "".join(f"_{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")), text)


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


LIGHT = (
    "--bg: #ffffff; --ink: #1f2328; --muted: #59636e; --band: #f6f8fa; --edge: #8c959f; --faint: #c4cbd3; "
    "--path: #cf222e; --deciding: #bf3989; --redirect: #bc4c00; --label-bg: #ffffffdd; --blocked: #ffebe9;"
)
DARK = (
    "--bg: #0d1117; --ink: #e6edf3; --muted: #9198a1; --band: #161b22; --edge: #6e7681; --faint: #30363d; "
    "--path: #ff7b72; --deciding: #f778ba; --redirect: #f0883e; --label-bg: #0d1117dd; --blocked: #5d0f12;"
)

STYLE = """
.dnsemu-graph .background { fill: var(--bg); }
.dnsemu-graph text { fill: var(--ink); font-family: FONT; }
.dnsemu-graph .band { fill: var(--band); }
.dnsemu-graph .heading { font-size: 13px; font-weight: bold; fill: var(--muted); }
.dnsemu-graph .node rect { fill: var(--fill); stroke: var(--stroke); stroke-width: 1.5; }
.dnsemu-graph .node .label { font-size: LABELpx; font-weight: bold; }
.dnsemu-graph .node .detail { font-size: DETAILpx; fill: var(--muted); }
.dnsemu-graph .node.unused rect, .dnsemu-graph .node.pending rect { stroke-dasharray: 5 3; }
.dnsemu-graph .node.proxy-off rect { stroke-dasharray: 5 3; }
.dnsemu-graph .node.collapsed rect { stroke-width: 3; }
.dnsemu-graph .edge path { fill: none; stroke: var(--edge); stroke-width: 1.3; }
.dnsemu-graph .edge.kind-otherwise path { stroke: var(--faint); stroke-dasharray: 4 4; }
.dnsemu-graph .edge.kind-rule-disabled path { stroke-dasharray: 2 4; }
.dnsemu-graph .edge.kind-policy path { stroke-dasharray: 6 3; }
.dnsemu-graph .edge.missing path { stroke-dasharray: 2 4; }
.dnsemu-graph .edge.redirect path { stroke: var(--redirect); stroke-width: 2; }
.dnsemu-graph .edge-label text { font-size: EDGEpx; fill: var(--muted); }
.dnsemu-graph .edge-label rect { fill: var(--label-bg); }
.dnsemu-graph .edge-label.redirect text { fill: var(--redirect); font-weight: bold; }
.dnsemu-graph .arrowhead { fill: var(--edge); }
.dnsemu-graph .arrowhead.on-path { fill: var(--path); }
.dnsemu-graph.has-path .node:not(.on-path) { opacity: 0.45; }
.dnsemu-graph.has-path .edge:not(.on-path) { opacity: 0.3; }
.dnsemu-graph .edge.on-path path { stroke: var(--path); stroke-width: 3; stroke-dasharray: none; opacity: 1; }
.dnsemu-graph .edge.deciding path { stroke: var(--deciding); stroke-width: 4.5; }
.dnsemu-graph .node.on-path rect { stroke: var(--path); stroke-width: 3; }
.dnsemu-graph .node.deciding rect { stroke: var(--deciding); stroke-width: 4.5; }
.dnsemu-graph .node.blocked rect { fill: var(--blocked); stroke: var(--path); stroke-width: 4.5; }
.dnsemu-graph .step-badge circle { fill: var(--path); }
.dnsemu-graph .step-badge.deciding circle { fill: var(--deciding); }
.dnsemu-graph .step-badge text { fill: #ffffff; font-size: 11px; font-weight: bold; }
.dnsemu-graph .trace text { font-size: 12px; }
.dnsemu-graph .trace .outcome { font-weight: bold; font-size: 13px; }
.dnsemu-graph .trace .deciding { fill: var(--deciding); font-weight: bold; }
"""

COLOURS = {  # kind: (light fill, light stroke, dark fill, dark stroke)
    "site": ("#e0e7ff", "#4f46e5", "#1e1b4b", "#818cf8"),
    "vnet": ("#dbeafe", "#2563eb", "#172554", "#60a5fa"),
    "internet": ("#f3f4f6", "#6b7280", "#1f2937", "#9ca3af"),
    "onprem-dns": ("#ede9fe", "#7c3aed", "#2e1065", "#a78bfa"),
    "custom-dns": ("#fce7f3", "#db2777", "#500724", "#f472b6"),
    "inbound": ("#ccfbf1", "#0d9488", "#042f2e", "#2dd4bf"),
    "azure-dns": ("#e0f2fe", "#0284c7", "#082f49", "#38bdf8"),
    "ruleset": ("#fef3c7", "#d97706", "#451a03", "#fbbf24"),
    "zone": ("#dcfce7", "#16a34a", "#052e16", "#4ade80"),
    "public": ("#f3f4f6", "#4b5563", "#1f2937", "#9ca3af"),
    "external": ("#fee2e2", "#dc2626", "#450a0a", "#f87171"),
    "unreachable": ("#fee2e2", "#b91c1c", "#450a0a", "#f87171"),
    "endpoint": ("#ecfccb", "#65a30d", "#1a2e05", "#a3e635"),
    "hub": ("#e0e7ff", "#1d4ed8", "#172554", "#93c5fd"),
    "firewall": ("#ffedd5", "#ea580c", "#431407", "#fb923c"),
    "policy": ("#fae8ff", "#a21caf", "#3b0764", "#e879f9"),
    "hosted-zone": ("#d1fae5", "#047857", "#022c22", "#34d399"),
}


def stylesheet(themed: bool = False) -> str:
    """The drawing's CSS: light, and dark under ``prefers-color-scheme``.

    ``themed`` adds ``:root[data-theme=light|dark]`` rules that win over the system's
    choice (the /ui page's theme switch).
    """
    css = (
        STYLE.replace("FONT", FONT)
        .replace("LABELpx", f"{LABEL_SIZE}px")
        .replace("DETAILpx", f"{DETAIL_SIZE}px")
        .replace("EDGEpx", f"{EDGE_LABEL_SIZE}px")
    )

    def kinds(prefix: str, dark: bool) -> str:
        return "\n".join(
            f"{prefix}.dnsemu-graph .kind-{KINDS[k].css} {{ --fill: {c[2 if dark else 0]}; "
            f"--stroke: {c[3 if dark else 1]}; }}"
            for k, c in COLOURS.items()
        )

    out = [
        f".dnsemu-graph {{ {LIGHT} }}",
        kinds("", False),
        f"@media (prefers-color-scheme: dark) {{\n.dnsemu-graph {{ {DARK} }}\n{kinds('', True)}\n}}",
        css.strip(),
    ]
    if themed:
        for theme, variables, dark in (("light", LIGHT, False), ("dark", DARK, True)):
            prefix = f':root[data-theme="{theme}"] '
            out += [f"{prefix}.dnsemu-graph {{ {variables} }}", kinds(prefix, dark)]
    return "\n".join(out) + "\n"


def render(graph: Graph, overlay: Overlay | None = None, placed: Layout | None = None) -> str:
    """The graph as an SVG document (with the path of ``overlay`` drawn over it, when given)."""
    placed = placed or layout(graph)
    out: list[str] = []
    width, height = placed.width, placed.height
    trace_lines: list[tuple[str, str]] = []
    if overlay is not None:
        trace_lines = _trace_lines(overlay, width)
        height += 16 + 16 * len(trace_lines) + MARGIN
    classes = "dnsemu-graph has-path" if overlay is not None else "dnsemu-graph"
    description = (
        f"{len(graph.nodes)} nodes and {len(graph.edges)} edges: networks, DNS servers, "
        "resolver inbound endpoints, Azure-provided DNS, forwarding rulesets, zones and public DNS, private endpoints"
    )
    if overlay is not None:
        description = f"{overlay.question} asked from {overlay.source}: {overlay.rcode} ({overlay.answer_kind}). " + (
            description
        )
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{classes}" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-labelledby="graph-title graph-desc">'
    )
    out.append(f'<title id="graph-title">{escape(graph.title)}</title>')
    out.append(f'<desc id="graph-desc">{escape(description)}</desc>')
    out.append(f"<style>{stylesheet()}</style>")
    out.append("<defs>")
    for name, extra in (("arrow", ""), ("arrow-path", " on-path")):
        out.append(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
            f'markerUnits="userSpaceOnUse" '
            f'orient="auto-start-reverse"><path class="arrowhead{extra}" d="M0,0 L10,5 L0,10 z"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect class="background" x="0" y="0" width="{_n(width)}" height="{_n(height)}"/>')

    out.append('<g class="columns">')
    for column in placed.columns:
        out.append(
            f'<g class="column" id="column-{column.index}">'
            f'<rect class="band" x="{_n(column.x - 8)}" y="{MARGIN / 2}" width="{_n(column.w + 16)}" '
            f'height="{_n(placed.height - MARGIN)}" rx="8"/>'
            f'<text class="heading" x="{_n(column.x + column.w / 2)}" y="{MARGIN / 2 + 24}" '
            f'text-anchor="middle">{escape(column.title)}</text></g>'
        )
    out.append("</g>")

    on_nodes = overlay.nodes if overlay is not None else {}
    on_edges = overlay.edges if overlay is not None else {}
    deciding_node = overlay.deciding_node if overlay is not None else None
    deciding_edge = overlay.deciding_edge if overlay is not None else None

    ids = {nid: _encode_id(nid) for nid in graph.nodes}
    texts = {nid: escape(nid) for nid in graph.nodes}
    # the same as xml_id("edge-", eid), from the node ids already encoded (edge ids are f"{s}->{t}:{kind}")
    edge_ids = {
        eid: f"edge-{ids[e.source]}-_3E{ids[e.target]}_3A{_encode_id(e.kind)}" for eid, e in graph.edges.items()
    }
    out.append('<g class="edges">')
    for eid, route in placed.routes.items():
        edge = graph.edges[eid]
        edge_xml_id = edge_ids[eid]
        classes = ["edge", f"kind-{edge.kind}", *edge.flags]
        if eid in on_edges:
            classes.append("on-path")
        if eid == deciding_edge:
            classes.append("deciding")
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = route.points
        marker = "arrow-path" if eid in on_edges else "arrow"
        steps = f' data-steps="{" ".join(map(str, on_edges[eid]))}"' if eid in on_edges else ""
        out.append(
            f'<g class="{" ".join(classes)}" id="{edge_xml_id}" '
            f'data-source="{texts[edge.source]}" data-target="{texts[edge.target]}" data-kind="{edge.kind}"{steps}>'
            f"<title>{escape(edge.title or edge.label)}</title>"
            f'<path d="M{x0:.1f},{y0:.1f} C{x1:.1f},{y1:.1f} {x2:.1f},{y2:.1f} {x3:.1f},{y3:.1f}" '
            f'marker-end="url(#{marker})"/></g>'
        )
    out.append("</g>")

    out.append('<g class="edge-labels">')
    for eid, route in placed.routes.items():
        lines = placed.edge_lines.get(eid, ())
        if not lines:
            continue
        edge = graph.edges[eid]
        w = max(text_width(line, EDGE_LABEL_SIZE) for line in lines) + 8
        h = EDGE_LABEL_LINE * len(lines) + 4
        x, y = route.label_at
        out.append(
            f'<g class="edge-label {" ".join(edge.flags)}" data-for="{edge_ids[eid]}">'
            f'<rect x="{_n(x - w / 2)}" y="{_n(y - h / 2)}" width="{_n(w)}" height="{_n(h)}" rx="3"/>'
        )
        for i, line in enumerate(lines):
            ty = y - h / 2 + 2 + EDGE_LABEL_LINE * (i + 1) - 2.5
            out.append(f'<text x="{_n(x)}" y="{_n(ty)}" text-anchor="middle">{escape(line)}</text>')
        out.append("</g>")
    out.append("</g>")

    out.append('<g class="nodes">')
    for nid, box in placed.boxes.items():
        node = graph.nodes[nid]
        classes = ["node", f"kind-{KINDS[node.kind].css}", *node.flags]
        if nid in on_nodes:
            classes.append("on-path")
        if nid == deciding_node:
            classes.append("deciding")
        if overlay is not None and nid == overlay.blocked:
            classes.append("blocked")
        steps = f' data-steps="{" ".join(map(str, on_nodes[nid]))}"' if nid in on_nodes else ""
        out.append(
            f'<g class="{" ".join(classes)}" id="node-{ids[nid]}" data-node="{texts[nid]}" '
            f'data-kind="{node.kind}"{steps}><title>{escape(node.title or node.label)}</title>'
            f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.w)}" height="{_n(box.h)}" rx="6"/>'
        )
        lines = placed.lines[nid]
        out.append(
            f'<text class="label" x="{_n(box.x + PAD_X)}" y="{_n(box.y + PAD_Y + LABEL_LINE - 4)}">'
            f"{escape(lines[0])}</text>"
        )
        for i, line in enumerate(lines[1:]):
            y = box.y + PAD_Y + LABEL_LINE + DETAIL_LINE * (i + 1) - 3
            out.append(f'<text class="detail" x="{_n(box.x + PAD_X)}" y="{_n(y)}">{escape(line)}</text>')
        out.append("</g>")
    out.append("</g>")

    if overlay is not None:
        out.extend(_badges(overlay, placed))
        out.extend(_trace(trace_lines, placed.height))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _badges(overlay: Overlay, placed: Layout) -> list[str]:
    """A numbered disc per step: on the edge it took, or on the node where it stayed."""
    out = ['<g class="step-badges">']
    taken: dict[tuple[float, float], int] = {}
    for step in overlay.steps:
        if step.edges and step.edges[-1] in placed.routes:
            x, y = _bezier(placed.routes[step.edges[-1]].points, 0.5)
        elif step.nodes and step.nodes[-1] in placed.boxes:
            box = placed.boxes[step.nodes[-1]]
            x, y = box.x + box.w - 4, box.y + 4
        else:
            continue
        key = (round(x), round(y))
        shift = taken.get(key, 0)
        taken[key] = shift + 1
        x += 20 * shift
        deciding = " deciding" if step.number == overlay.deciding else ""
        out.append(
            f'<g class="step-badge{deciding}" data-step="{step.number}"><title>{escape(step.text)}</title>'
            f'<circle cx="{_n(x)}" cy="{_n(y)}" r="9"/>'
            f'<text x="{_n(x)}" y="{_n(y + 4)}" text-anchor="middle">{step.number}</text></g>'
        )
    out.append("</g>")
    return out


def _trace_lines(overlay: Overlay, width: float) -> list[tuple[str, str]]:
    columns = max(60, int((width - 2 * MARGIN) / (12 * 0.62)))
    head = f"{overlay.question} asked from {overlay.source}: {overlay.rcode}, answer {overlay.answer_kind}"
    lines: list[tuple[str, str]] = [(line, "outcome") for line in textwrap.wrap(head, columns)]
    for step in overlay.steps:
        css = "deciding" if step.number == overlay.deciding else "step"
        mark = " (deciding step)" if step.number == overlay.deciding else ""
        wrapped = textwrap.wrap(f"{step.number}. {step.text}{mark}", columns, subsequent_indent="   ")
        lines.extend((line, css) for line in wrapped)
    for record in overlay.answer:
        lines.extend((line, "answer") for line in textwrap.wrap(" ".join(record.split()), columns))
    return lines


def _trace(lines: list[tuple[str, str]], top: float) -> list[str]:
    out = ['<g class="trace">']
    for i, (line, css) in enumerate(lines):
        out.append(f'<text class="{css}" x="{MARGIN}" y="{_n(top + 16 * (i + 1))}">{escape(line)}</text>')
    out.append("</g>")
    return out
