"""``dnsemu check [TOPOLOGY | --topology TOPOLOGY]``: validate a topology and lint it for common Azure DNS mistakes.

Exit status: 0 clean, 1 findings, 2 invalid.
"""

from __future__ import annotations

import argparse
import sys

from dnsemu.analysis.lint import check
from dnsemu.cli.estate import DEFAULT_HELP, load_estate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topology", nargs="?", metavar="TOPOLOGY", help=f"topology file ({DEFAULT_HELP})")
    parser.add_argument("--topology", dest="topology_option", metavar="PATH",
                        help="topology file, as the other commands name it (the same as TOPOLOGY)")


def run(args: argparse.Namespace) -> int:
    if args.topology and args.topology_option and args.topology != args.topology_option:
        print("dnsemu check: two topologies given (TOPOLOGY and --topology): give one", file=sys.stderr)
        return 2
    path, loaded, index = load_estate(args.topology or args.topology_option, "dnsemu check")
    if loaded is None or index is None:
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
