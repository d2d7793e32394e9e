"""``dnsemu explain NAME --from SOURCE``: how a name resolves from an address or network, step by step."""

from __future__ import annotations

import argparse
import json
import sys

from dnsemu.analysis.explain import UnknownSource, as_json, question, render, source_address
from dnsemu.cli.estate import load_estate
from dnsemu.core.resolver import resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--type", "-t", default="A", help="query type (default A)")
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        help="source address, or the name of a VNet, on-premises site or VM, or 'internet'",
    )
    parser.add_argument("--topology", help="topology file (default: zones/topology.yaml)")
    parser.add_argument("--json", action="store_true", help="print the resolution as JSON (--format json)")
    parser.add_argument(
        "--format", choices=("text", "json", "mermaid", "svg"), default="text", help="mermaid and svg draw the path"
    )


def run(args: argparse.Namespace) -> int:
    _path, loaded, index = load_estate(args.topology)
    if loaded is None or index is None:
        return 2
    try:
        q = question(args.name, args.type)
        address = source_address(loaded.topology, index, args.source)
    except (ValueError, UnknownSource) as exc:
        print(f"dnsemu explain: {exc}", file=sys.stderr)
        return 2
    result = resolve(index, q, address)
    if args.format in ("mermaid", "svg"):
        from dnsemu.graph.draw import explain_picture

        print(explain_picture(loaded, index, q, address, result, args.format), end="")
    elif args.json or args.format == "json":
        print(json.dumps(as_json(q, args.type, address, result), indent=2))
    else:
        print(render(q, address, result), end="")
    return 0
