"""``dnsemu diff BEFORE AFTER``: the command line around :mod:`dnsemu.analysis.diff`.

Exit status: 0 when no answer changes, 1 when one does, 2 on invalid input
(an estate that does not load, an unreadable names file, an unknown ``--from``).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("before", metavar="BEFORE", help="the estate as it is (a topology file)")
    parser.add_argument("after", metavar="AFTER", help="the estate as it will be (a topology file)")
    parser.add_argument(
        "--from",
        dest="sources",
        action="append",
        metavar="NETWORK",
        help="ask only from this VNet, on-premises site, VM, address or 'internet' (repeatable; "
        "default: every network of either estate, and the internet)",
    )
    parser.add_argument(
        "--names",
        action="append",
        metavar="FILE",
        help="more names to ask, one per line with optional types (repeatable; see docs/diff.md)",
    )
    parser.add_argument("--json", action="store_true", help="print the dnsemu-diff/1 JSON document")


def run(args: argparse.Namespace) -> int:
    import gc

    # A batch of millions of short-lived objects and no garbage cycles worth collecting: the cyclic
    # collector would only rescan the growing heap (it doubles the time to load a large estate).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if collecting:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    import json

    from dnsemu.analysis.diff import as_json, diff, questions, render, sources
    from dnsemu.analysis.explain import UnknownSource
    from dnsemu.analysis.namelist import NamesFileError, read_names
    from dnsemu.cli.estate import EstateError, read_estate

    try:
        before = read_estate(args.before)
        after = read_estate(args.after)
        extra = [entry for path in args.names or () for entry in read_names(path)]
        who = sources(before, after, args.sources)
    except EstateError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except (NamesFileError, UnknownSource) as exc:
        print(f"dnsemu diff: {exc}", file=sys.stderr)
        return 2
    report = diff(
        before, after, asked=questions(before, after, extra), who=who, before_label=args.before, after_label=args.after
    )
    if args.json:
        print(json.dumps(as_json(report), indent=2))
    else:
        print(render(report), end="")
    return 1 if report.changes else 0
