"""``dnsemu graph`` and the pictures of ``dnsemu explain --format mermaid|svg``.

``add_arguments(parser)`` declares the options of ``dnsemu graph``; ``run(args)`` draws
and returns the exit status (0, or 2 for an invalid topology or an unknown ``--from``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dnsemu.analysis.explain import UnknownSource
from dnsemu.cli.estate import DEFAULT_HELP, load_estate
from dnsemu.graph.draw import estate, render

FORMATS = ("mermaid", "dot", "svg", "json")

REGENERATE = "dnsemu graph zones/topology.yaml --format svg -o docs/estate.svg"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topology", nargs="?", metavar="TOPOLOGY", help=f"topology file ({DEFAULT_HELP})")
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


def run(args: argparse.Namespace) -> int:
    _path, loaded, index = load_estate(args.topology, "dnsemu graph")
    if loaded is None or index is None:
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
