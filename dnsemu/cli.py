"""The ``dnsemu`` command: serve, check, explain, graph, query.

``main(argv) -> int`` never calls ``sys.exit`` itself, so tests call it directly.
Each subcommand lives in its own module and is imported only when used.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent.parent / "zones" / "topology.yaml"


def default_topology() -> Path:
    """``zones/topology.yaml`` of a source checkout, or of the current directory."""
    for candidate in (Path.cwd() / "zones" / "topology.yaml", DEFAULT_TOPOLOGY):
        if candidate.is_file():
            return candidate
    return Path("zones/topology.yaml")


def _load(topology: str | None):  # -> (path, LoadedTopology, Index) or (path, None, None) after printing why
    from dnsemu.core.compile import compile_topology
    from dnsemu.topology.errors import TopologyError
    from dnsemu.topology.load import load_topology

    path = Path(topology) if topology else default_topology()
    try:
        loaded = load_topology(path)
        return path, loaded, compile_topology(loaded)
    except TopologyError as exc:
        print(f"{path}: invalid topology, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return path, None, None


def _check(args: argparse.Namespace) -> int:
    from dnsemu.check import check

    path, loaded, index = _load(args.topology)
    if loaded is None:
        return 2
    findings = check(loaded, index)
    stats = index.stats
    summary = ", ".join(
        _count(stats.get(key, 0), word)
        for key, word in (
            ("virtual_networks", "VNet"),
            ("on_premises", "on-premises site"),
            ("private_zones", "private zone"),
            ("private_endpoints", "private endpoint"),
        )
    )
    if not findings:
        print(f"{path}: valid, no findings ({summary})")
        return 0
    print(f"{path}: valid, {len(findings)} finding(s) ({summary}):")
    for finding in findings:
        print(f"- {finding}")
    return 1


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _explain(args: argparse.Namespace) -> int:
    import json

    from dnsemu.explain import UnknownSource, as_json, explain, question, render, source_address

    _path, loaded, index = _load(args.topology)
    if loaded is None:
        return 2
    try:
        q = question(args.name, args.type)
        address = source_address(loaded.topology, index, args.source)
    except (ValueError, UnknownSource) as exc:
        print(f"dnsemu explain: {exc}", file=sys.stderr)
        return 2
    result = explain(index, q, address)
    if args.format in ("mermaid", "svg"):
        from dnsemu.graph.command import explain_picture

        print(explain_picture(loaded, index, q, address, result, args.format), end="")
    elif args.json or args.format == "json":
        print(json.dumps(as_json(q, args.type, address, result), indent=2))
    else:
        print(render(q, address, result), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsemu", description="Answer DNS the way Azure DNS answers from inside a virtual network."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the DNS server (see 'dnsemu serve --help')", add_help=False)
    check = sub.add_parser(
        "check",
        help="validate a topology and lint it for common Azure DNS mistakes",
        description="Exit status: 0 clean, 1 findings, 2 invalid.",
    )
    check.add_argument("topology", nargs="?", help="topology file (default: zones/topology.yaml)")
    check.set_defaults(func=_check)
    explain = sub.add_parser("explain", help="show how a name resolves from an address or network, step by step")
    explain.add_argument("name")
    explain.add_argument("--type", "-t", default="A", help="query type (default A)")
    explain.add_argument(
        "--from",
        dest="source",
        required=True,
        help="source address, or the name of a VNet, on-premises site or VM, or 'internet'",
    )
    explain.add_argument("--topology", help="topology file (default: zones/topology.yaml)")
    explain.add_argument("--json", action="store_true", help="print the resolution as JSON (--format json)")
    explain.add_argument(
        "--format", choices=("text", "json", "mermaid", "svg"), default="text", help="mermaid and svg draw the path"
    )
    explain.set_defaults(func=_explain)
    from dnsemu.graph import command as graph_command

    graph = sub.add_parser("graph", help="draw the estate (Mermaid, DOT or SVG), or what one network reaches")
    graph_command.add_arguments(graph)
    graph.set_defaults(func=graph_command.run)
    sub.add_parser(
        "query",
        help="send one query to a server and print the reply (also the container's health check)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from dnsemu.serve import main as serve_main

        return serve_main(argv[1:])
    if argv and argv[0] == "query":
        from dnsemu.probe import main as query_main

        return query_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
