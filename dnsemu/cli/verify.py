"""``dnsemu verify --topology T CAPTURE...``: replay captured answers through the model, report disagreement.

Exit status: 0 when every captured answer agrees with the model (exactly, up to
the public tail dnsemu synthesises, or up to where the model hands the question
to a forwarder outside it), 1 when one differs, got no reply or cannot be
placed, 2 on invalid input (a topology or capture that does not load, an
unknown ``--from``).
"""

from __future__ import annotations

import argparse
import sys

from dnsemu.cli.estate import DEFAULT_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captures", nargs="+", metavar="CAPTURE", help="JSON lines written by 'dnsemu capture'")
    parser.add_argument("--topology", metavar="PATH", help=f"the model ({DEFAULT_HELP})")
    parser.add_argument(
        "--from",
        dest="replay_from",
        metavar="NETWORK",
        help="replay every record from this VNet, site, VM or address instead of the captured source "
        "(for a capture made behind a local stub resolver)",
    )
    parser.add_argument("--json", action="store_true", help="print the dnsemu-verify/1 JSON document")


def run(args: argparse.Namespace) -> int:
    import json

    from dnsemu.analysis.explain import UnknownSource
    from dnsemu.analysis.verify import CaptureError, as_json, read_capture, render, verify
    from dnsemu.cli.estate import EstateError, choose_topology, read_estate

    topology = str(choose_topology(args.topology, "dnsemu verify"))
    try:
        estate = read_estate(topology)
        records = [record for path in args.captures for record in read_capture(path)]
        report = verify(estate, records, replay_from=args.replay_from, topology=topology, captures=args.captures)
    except EstateError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except (CaptureError, UnknownSource) as exc:
        print(f"dnsemu verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(report), indent=2))
    else:
        print(render(report), end="")
    return 1 if report.failed else 0
