"""How long drawing a large estate takes: the 1,000-VNet estate of ``core_scale.py`` as SVG.

    python benchmarks/graph_bench.py [--vnets 1000] [--zones 200] [--records 100000]

Prints the time to build the graph, lay it out and write the SVG, for the whole estate
and with ``--collapse`` (the target is 5 s for the whole estate; printed, not asserted),
and the sizes of what was drawn. Loading and compiling the topology are not counted:
``core_scale.py`` measures them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_scale import build

from dnsemu.core.compile import compile_topology
from dnsemu.graph import svg
from dnsemu.graph.layout import layout
from dnsemu.graph.model import build_graph, collapse
from dnsemu.topology.load import load_topology_data

TARGET_S = 5.0


def draw(loaded, index, collapsed: bool) -> dict[str, float]:
    t0 = time.perf_counter()
    graph = build_graph(loaded, index)
    if collapsed:
        graph = collapse(graph)
    t1 = time.perf_counter()
    placed = layout(graph)
    t2 = time.perf_counter()
    text = svg.render(graph, placed=placed)
    t3 = time.perf_counter()
    return {
        "nodes": len(graph.nodes),
        "edges": len(graph.edges),
        "bytes": len(text.encode()),
        "graph_s": t1 - t0,
        "layout_s": t2 - t1,
        "svg_s": t3 - t2,
        "total_s": t3 - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vnets", type=int, default=1000)
    parser.add_argument("--zones", type=int, default=200)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    loaded = load_topology_data(build(args.vnets, args.zones, args.records))
    index = compile_topology(loaded)
    took = time.perf_counter() - t0
    print(f"estate: {args.vnets} VNets, {args.zones} zones, {args.records} records (load + compile {took:.1f} s)")
    for collapsed in (False, True):
        r = draw(loaded, index, collapsed)
        label = "collapsed" if collapsed else "whole estate"
        verdict = (
            "" if collapsed else (" (target ≤ 5 s: met)" if r["total_s"] <= TARGET_S else " (target ≤ 5 s: MISSED)")
        )
        print(
            f"{label:<13} {r['nodes']:>5} nodes {r['edges']:>6} edges  graph {r['graph_s']:.2f} s  "
            f"layout {r['layout_s']:.2f} s  svg {r['svg_s']:.2f} s  total {r['total_s']:.2f} s  "
            f"{r['bytes'] / 1e6:.1f} MB{verdict}"
        )


if __name__ == "__main__":
    main()
