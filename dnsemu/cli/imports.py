"""``dnsemu import SOURCE... -o TOPOLOGY.yaml [--zone-dir DIR]`` and ``dnsemu import --azure``.

Exit status: 0 when the topology was written (findings and stubs are printed; with
``--strict`` any finding makes it 1), 2 when an input could not be read (the message
names the file and the JSON path, and nothing is written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dnsemu.importer.files import MAX_FILE_BYTES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="export files or folders (az graph query, ARM / az resource show, az CLI, terraform show -json)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="TOPOLOGY.yaml", help="the topology file to write")
    parser.add_argument(
        "--zone-dir",
        metavar="DIR",
        help="folder for zone files, relative to the topology file's folder and inside it (default: <output>-zones)",
    )
    parser.add_argument(
        "--inline-records",
        type=int,
        default=50,
        metavar="N",
        help="zones with more than N record sets go to zone files (default 50)",
    )
    parser.add_argument(
        "--max-file-size",
        type=float,
        default=MAX_FILE_BYTES / 2**20,
        metavar="MiB",
        help=f"refuse input files larger than this (default {MAX_FILE_BYTES // 2**20})",
    )
    parser.add_argument(
        "--cloud",
        default="AzureCloud",
        choices=["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"],
        help="the cloud the estate is in (picks the service catalog; default AzureCloud)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the import has findings")
    live = parser.add_argument_group("live import (pip install 'dnsemu[azure]'; the Reader role is enough)")
    live.add_argument("--azure", action="store_true", help="read the estate from Azure with DefaultAzureCredential")
    live.add_argument(
        "--subscription",
        action="append",
        default=[],
        metavar="ID",
        help="subscription to read (repeatable; default: every subscription the credential can read)",
    )


def _print_summary(result, out) -> None:
    built = result.built
    labels = ", ".join(f"{label}: {n}" for label, n in sorted(result.labels.items()))
    if result.files:
        print(f"read {result.files} file(s) ({labels}): {result.resources} resource(s)", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    counts = ", ".join(f"{n} {what}" for what, n in built.counts.items())
    zone_note = f"; {len(result.zone_files)} zone file(s)" if result.zone_files else ""
    print(f"wrote {result.output}: {counts}{zone_note}", file=out)
    if result.findings:
        print(f"findings ({len(result.findings)}):", file=out)
        for finding in result.findings:
            print(f"- {finding}", file=out)
    if built.not_modelled:
        total = sum(len(v) for v in built.not_modelled.values())
        print(f"not modelled ({total} resource(s)):", file=out)
        for reason, ids in sorted(built.not_modelled.items()):
            more = f" and {len(ids) - 1} more" if len(ids) > 1 else ""
            print(f"- {reason}: {ids[0]}{more}", file=out)
    if result.unread:
        print("fields not read (nothing in dnsemu's model uses them):", file=out)
        for rtype, keys in result.unread.items():
            listed = ", ".join(f"{k} ({len(ids)})" for k, ids in sorted(keys.items()))
            print(f"- {rtype}: {listed}", file=out)
    if built.stubs:
        print(
            f"to fill in ({len(built.stubs)} stub(s) marked STUB in {result.output}; Azure cannot tell these):",
            file=out,
        )
        for stub in built.stubs:
            print(f"- {'.'.join(stub.path)}: {stub.what}", file=out)
    print(f"next: dnsemu check {result.output}", file=out)


def run(args: argparse.Namespace) -> int:
    from dnsemu.importer.arm import Context
    from dnsemu.importer.pipeline import InputError, import_files, validate_written, write
    from dnsemu.topology.errors import TopologyError

    if not args.sources and not args.azure:
        print("dnsemu import: give export files or folders, or --azure", file=sys.stderr)
        return 2
    if args.inline_records < 0 or args.max_file_size <= 0:
        print("dnsemu import: --inline-records and --max-file-size must be positive", file=sys.stderr)
        return 2
    output = Path(args.output)
    ctx = Context()
    extra = []
    extra_sources = []
    try:
        if args.azure:
            from dnsemu.importer import live

            try:
                extra = live.read_estate(ctx, subscriptions=args.subscription)
            except live.LiveError as exc:
                print(f"dnsemu import --azure: {exc}", file=sys.stderr)
                return 2
            extra_sources = ["Azure (" + (", ".join(args.subscription) or "every readable subscription") + ")"]
        result = import_files(
            args.sources,
            output,
            zone_dir=args.zone_dir,
            inline_limit=args.inline_records,
            max_file_bytes=int(args.max_file_size * 2**20),
            cloud=args.cloud,
            extra_facts=extra,
            ctx=ctx,
            extra_sources=extra_sources,
        )
        write(result)
    except InputError as exc:
        print(f"dnsemu import: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dnsemu import: cannot write {exc.filename or output}: {exc.strerror}", file=sys.stderr)
        return 2
    _print_summary(result, sys.stdout)
    try:
        # what was written, validated as dnsemu validates a topology (zone files read from where they were written)
        validate_written(result)
    except TopologyError as exc:  # an import bug: say so plainly, with the loader's words
        print(
            f"dnsemu import: {output} does not load ({len(exc.problems)} problem(s)); please report this:",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return 1 if args.strict and result.findings else 0


__all__ = ["add_arguments", "run"]
