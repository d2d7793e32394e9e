"""``dnsemu check [TOPOLOGY]``: validate a topology and lint it for common Azure DNS mistakes.

Exit status: 0 clean, 1 findings, 2 invalid.
"""

from __future__ import annotations

import argparse

from dnsemu.analysis.lint import check
from dnsemu.cli.estate import load_estate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topology", nargs="?", help="topology file (default: zones/topology.yaml)")


def run(args: argparse.Namespace) -> int:
    path, loaded, index = load_estate(args.topology)
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
