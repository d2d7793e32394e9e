"""``dnsemu explain NAME [--from SOURCE]``: how a name resolves from an address or network, step by step.

``--from`` defaults to the internet (as the test fixture's ``explain`` does). A NAME that is an
IP address asks for its reverse name, type PTR, as ``dnsemu query`` does.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys

from dnsemu.analysis.explain import UnknownSource, as_json, question, render, source_address
from dnsemu.cli.estate import DEFAULT_HELP, load_estate
from dnsemu.core.resolver import resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the name to resolve; an IP address asks for its reverse name (PTR)")
    parser.add_argument("--type", "-t", metavar="TYPE",
                        help="query type (default A, or PTR when NAME is an IP address)")
    parser.add_argument(
        "--from",
        dest="source",
        default="internet",
        metavar="SOURCE",
        help="source address, or the name of a VNet, on-premises site or VM, or 'internet' (the default)",
    )
    parser.add_argument("--topology", metavar="PATH", help=f"topology file ({DEFAULT_HELP})")
    parser.add_argument("--json", action="store_true", help="print the resolution as JSON (--format json)")
    parser.add_argument(
        "--format", choices=("text", "json", "mermaid", "svg"), default="text", help="mermaid and svg draw the path"
    )


def reverse(name: str) -> str | None:
    """The reverse name of an IP address (``10.0.2.4`` -> ``4.2.0.10.in-addr.arpa.``), None for a name."""
    try:
        return ipaddress.ip_address(name).reverse_pointer + "."
    except ValueError:
        return None


def run(args: argparse.Namespace) -> int:
    _path, loaded, index = load_estate(args.topology, "dnsemu explain")
    if loaded is None or index is None:
        return 2
    name, qtype = args.name, args.type or "A"
    reversed_name = reverse(name)
    if reversed_name is not None:
        name, qtype = reversed_name, args.type or "PTR"
    try:
        q = question(name, qtype)
        address = source_address(loaded.topology, index, args.source)
    except (ValueError, UnknownSource) as exc:
        print(f"dnsemu explain: {exc}", file=sys.stderr)
        return 2
    result = resolve(index, q, address)
    if args.format in ("mermaid", "svg"):
        from dnsemu.graph.draw import explain_picture

        print(explain_picture(loaded, index, q, address, result, args.format), end="")
    elif args.json or args.format == "json":
        print(json.dumps(as_json(q, qtype, address, result), indent=2))
    else:
        print(render(q, address, result), end="")
    return 0
