"""A layered layout, left to right, in pure Python (no Graphviz).

The layers are fixed by kind (:data:`dnsemu.graph.model.KINDS`): networks, DNS servers,
inbound endpoints, Azure-provided DNS, rulesets, zones and public DNS, private endpoints.
That is the order a query mostly travels in, so most edges point right; the others
(a rule back to an inbound endpoint, a forwarder to a server in the same layer) are
drawn as curves that say so.

1. Order inside each layer: nodes stay in blocks of one kind; within a block they are
   sorted by the barycentre of their neighbours in the layers already placed, sweeping
   left to right and back (Sugiyama's heuristic, without dummy nodes, so that an estate
   of thousands of links stays linear).
2. Vertical positions: each node wants the mean height of its neighbours; keeping the
   order and the spacing, the positions closest to those wishes (least squares) come
   from isotonic regression (pool adjacent violators), in linear time per layer.
3. Edges are cubic Bézier curves between ports spread along the node's sides, sorted by
   the other end's height so that fans do not cross themselves.

Text widths are estimated for a monospace font (0.62 em per character), which every
renderer of the SVG has; long names are shortened with an ellipsis (the full name is in
the node's title).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from dnsemu.graph.model import COLUMNS, KINDS, Graph

CHAR_EM = 0.62
LABEL_SIZE = 13
DETAIL_SIZE = 11
EDGE_LABEL_SIZE = 10
LABEL_LINE = 17
DETAIL_LINE = 14
EDGE_LABEL_LINE = 12
PAD_X = 10
PAD_Y = 7
MIN_WIDTH = 110
MAX_CHARS = 44
NODE_GAP = 12
BLOCK_GAP = 28
MARGIN = 24
HEADER = 56  # room above the first node for the column headings
MIN_GAP = 90
MAX_GAP = 300


def text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_EM


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(slots=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w


Point = tuple[float, float]


@dataclass(slots=True)
class Route:
    """A cubic Bézier from ``points[0]`` to ``points[3]``, and where its label goes."""

    points: tuple[Point, Point, Point, Point]
    label_at: Point
    direction: str  # "forward" | "back" | "same"


@dataclass
class Column:
    index: int
    title: str
    x: float
    w: float


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict[str, Box]
    lines: dict[str, tuple[str, ...]]  # the text shown in each node (shortened)
    columns: list[Column]
    routes: dict[str, Route]
    edge_lines: dict[str, tuple[str, ...]]


def node_size(lines: tuple[str, ...]) -> tuple[float, float]:
    width = max([text_width(lines[0], LABEL_SIZE), *(text_width(line, DETAIL_SIZE) for line in lines[1:])], default=0.0)
    return max(MIN_WIDTH, width + 2 * PAD_X), 2 * PAD_Y + LABEL_LINE + DETAIL_LINE * (len(lines) - 1)


def _bezier(points: tuple[Point, Point, Point, Point], t: float) -> Point:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    u = 1 - t
    a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
    return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


def _at_x(points: tuple[Point, Point, Point, Point], x: float) -> Point:
    """The point of a curve whose x is monotonic in t at abscissa ``x`` (bisection)."""
    lo, hi = 0.0, 1.0
    rising = points[3][0] >= points[0][0]
    for _ in range(24):
        mid = (lo + hi) / 2
        if (_bezier(points, mid)[0] < x) == rising:
            lo = mid
        else:
            hi = mid
    return _bezier(points, (lo + hi) / 2)


def _isotonic(wanted: list[float], offsets: list[float]) -> list[float]:
    """Tops closest to ``wanted`` (least squares) with ``top[i+1] - top[i] >= offsets[i+1] - offsets[i]``."""
    blocks: list[list[float]] = []  # [sum, count]
    for want, offset in zip(wanted, offsets, strict=True):
        blocks.append([want - offset, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    out: list[float] = []
    for total, count in blocks:
        out.extend([total / count] * int(count))
    return [q + offset for q, offset in zip(out, offsets, strict=True)]


def layout(graph: Graph, sweeps: int = 4) -> Layout:
    kind_order = {kind: i for i, kind in enumerate(KINDS)}
    used_columns = sorted({KINDS[n.kind].column for n in graph.nodes.values()})
    column_of_kind = {c: i for i, c in enumerate(used_columns)}
    col: dict[str, int] = {nid: column_of_kind[KINDS[n.kind].column] for nid, n in graph.nodes.items()}
    layers: list[list[str]] = [[] for _ in used_columns]
    for nid in graph.nodes:
        layers[col[nid]].append(nid)
    for layer in layers:
        layer.sort(key=lambda n: kind_order[graph.nodes[n].kind])  # stable: blocks of one kind, file order

    # neighbours in layers to the left and to the right of each node
    before: dict[str, list[str]] = defaultdict(list)
    after: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges.values():
        s, t = edge.source, edge.target
        if col[s] < col[t]:
            after[s].append(t)
            before[t].append(s)
        elif col[s] > col[t]:
            before[s].append(t)
            after[t].append(s)

    # 1. order: barycentre sweeps
    pos: dict[str, float] = {}
    for layer in layers:
        for i, n in enumerate(layer):
            pos[n] = (i + 0.5) / len(layer)
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        order = range(1, len(layers)) if forward else range(len(layers) - 2, -1, -1)
        for c in order:
            layer = layers[c]
            bary: dict[str, float] = {}
            side = before if forward else after
            for n in layer:
                ps = [pos[m] for m in side.get(n, ())]
                bary[n] = sum(ps) / len(ps) if ps else pos[n]
            layer.sort(key=lambda n: (kind_order[graph.nodes[n].kind], bary[n], pos[n]))
            for i, n in enumerate(layer):
                pos[n] = (i + 0.5) / len(layer)

    # sizes
    lines = {nid: tuple(shorten(line) for line in node.lines) for nid, node in graph.nodes.items()}
    size = {nid: node_size(lines[nid]) for nid in graph.nodes}

    # 2. vertical positions
    offsets: list[list[float]] = []
    for layer in layers:
        off, acc, previous = [], 0.0, None
        for n in layer:
            if previous is not None:
                same = graph.nodes[previous].kind == graph.nodes[n].kind
                acc += size[previous][1] + (NODE_GAP if same else BLOCK_GAP)
            off.append(acc)
            previous = n
        offsets.append(off)
    tallest = max(
        (off[-1] + size[layer[-1]][1] for off, layer in zip(offsets, layers, strict=True) if layer), default=0
    )
    top: dict[str, float] = {}
    for off, layer in zip(offsets, layers, strict=True):
        extent = off[-1] + size[layer[-1]][1] if layer else 0
        for n, o in zip(layer, off, strict=True):
            top[n] = (tallest - extent) / 2 + o
    for sweep in range(3):
        forward = sweep % 2 == 0
        order = range(1, len(layers)) if forward else range(len(layers) - 2, -1, -1)
        for c in order:
            layer = layers[c]
            wanted = []
            side = before if forward else after
            for n in layer:
                ys = [top[m] + size[m][1] / 2 for m in side.get(n, ())]
                centre = sum(ys) / len(ys) if ys else top[n] + size[n][1] / 2
                wanted.append(centre - size[n][1] / 2)
            for n, t in zip(layer, _isotonic(wanted, offsets[c]), strict=True):
                top[n] = t
    lowest = min(top.values(), default=0.0)

    # columns: widths, and gaps wide enough for the edge labels between them
    edge_lines = {
        eid: tuple(shorten(x, 36) for x in e.label.split("\n")) if e.label else () for eid, e in graph.edges.items()
    }
    widths = [max((size[n][0] for n in layer), default=MIN_WIDTH) for layer in layers]
    gaps = [MIN_GAP] * len(layers)
    for eid, edge in graph.edges.items():
        if not edge_lines[eid]:
            continue
        a, b = col[edge.source], col[edge.target]
        gap = a - 1 if a > b else a  # the gap the label sits in: after the source layer, or before it
        label_w = max(text_width(x, EDGE_LABEL_SIZE) for x in edge_lines[eid]) + 36
        gaps[gap] = min(MAX_GAP, max(gaps[gap], label_w))
    xs, x = [], float(MARGIN)
    for c in range(len(layers)):
        xs.append(x)
        x += widths[c] + gaps[c]
    width = x - gaps[-1] + MARGIN + 60  # room for same-layer arcs on the right
    boxes: dict[str, Box] = {}
    for c, layer in enumerate(layers):
        for n in layer:
            w, h = size[n]
            boxes[n] = Box(round(xs[c] + (widths[c] - w) / 2, 1), round(top[n] - lowest + HEADER, 1), round(w, 1), h)
    height = max((b.y + b.h for b in boxes.values()), default=HEADER) + MARGIN
    columns = [Column(c, COLUMNS[used_columns[c]], xs[c], widths[c]) for c in range(len(layers))]

    # 3. edges
    ports: dict[tuple[str, str], list[tuple[float, str, int]]] = defaultdict(
        list
    )  # (node, side) -> (other y, edge, end)
    directions: dict[str, str] = {}
    for eid, edge in graph.edges.items():
        s, t = edge.source, edge.target
        if s == t:
            continue
        if col[s] < col[t]:
            directions[eid], sides = "forward", ("right", "left")
        elif col[s] > col[t]:
            directions[eid], sides = "back", ("left", "right")
        else:
            directions[eid], sides = "same", ("right", "right")
        ports[(s, sides[0])].append((boxes[t].cy, eid, 0))
        ports[(t, sides[1])].append((boxes[s].cy, eid, 1))
    ends: dict[tuple[str, int], Point] = {}
    for (node, side), items in ports.items():
        box = boxes[node]
        items.sort()
        n = len(items)
        span = box.h * 0.7
        for k, (_y, eid, end) in enumerate(items):
            y = box.cy if n == 1 else box.y + box.h * 0.15 + span * k / (n - 1)
            ends[(eid, end)] = (box.right if side == "right" else box.x, round(y, 1))
    routes: dict[str, Route] = {}
    label_gap: dict[str, int] = {}
    for eid, direction in directions.items():
        edge = graph.edges[eid]
        p0, p3 = ends[(eid, 0)], ends[(eid, 1)]
        c_src = col[edge.source]
        labelled = bool(edge_lines[eid])
        label: Point = (0.0, 0.0)
        if direction == "forward":
            dx = max(40.0, (p3[0] - p0[0]) * 0.5)
            points = (p0, (round(p0[0] + dx, 1), p0[1]), (round(p3[0] - dx, 1), p3[1]), p3)
            if labelled:
                label = _at_x(points, p0[0] + gaps[c_src] / 2)
                label_gap[eid] = c_src
        elif direction == "back":
            dx = max(60.0, (p0[0] - p3[0]) * 0.5)
            points = (p0, (round(p0[0] - dx, 1), p0[1]), (round(p3[0] + dx, 1), p3[1]), p3)
            if labelled:
                before = gaps[c_src - 1] if c_src > 0 else MIN_GAP
                label = _at_x(points, p0[0] - before / 2)
                label_gap[eid] = c_src - 1
        else:
            bulge = 40.0 + 0.15 * abs(p3[1] - p0[1])
            points = (p0, (round(p0[0] + bulge, 1), p0[1]), (round(p3[0] + bulge, 1), p3[1]), p3)
            label = _bezier(points, 0.5)
            label_gap[eid] = c_src
            width = max(width, points[1][0] + MARGIN, points[2][0] + MARGIN)
        routes[eid] = Route(points, (round(label[0], 1), round(label[1], 1)), direction)
    _stack_labels(routes, label_gap, edge_lines)
    return Layout(round(width, 1), round(height, 1), boxes, lines, columns, routes, edge_lines)


def _stack_labels(routes: dict[str, Route], label_gap: dict[str, int], edge_lines: dict[str, tuple[str, ...]]) -> None:
    """Labels that share the gap between two layers never overlap: each moves up or down the least it can."""
    by_gap: dict[int, list[tuple[float, str, float]]] = defaultdict(list)
    for eid, gap in label_gap.items():
        if edge_lines.get(eid):
            height = EDGE_LABEL_LINE * len(edge_lines[eid]) + 6
            by_gap[gap].append((routes[eid].label_at[1], eid, height))
    for items in by_gap.values():
        items.sort()
        offsets, acc = [], 0.0
        for i, (_y, _eid, height) in enumerate(items):
            if i:
                acc += (items[i - 1][2] + height) / 2
            offsets.append(acc)
        placed = _isotonic([y for y, _, _ in items], offsets)
        for (_y, eid, _h), y in zip(items, placed, strict=True):
            route = routes[eid]
            routes[eid] = Route(route.points, (route.label_at[0], round(y, 1)), route.direction)
