"""``dnsemu init [DIR] [--template NAME]``: write a commented starter estate to edit.

It writes ``DIR/zones/topology.yaml`` (and the zone files of the template), where
``dnsemu serve``, ``explain`` and ``check`` look when run from ``DIR`` without
``--topology``. The templates are Microsoft's documented reference designs for private
endpoint DNS (:data:`dnsemu.estates.TEMPLATES`); each passes ``dnsemu check`` as written.

Exit status: 0 written, 1 a file is there already (nothing written; ``--force``
overwrites), 2 bad arguments or a folder that cannot be written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dnsemu.estates import DEFAULT_TEMPLATE, TEMPLATES, estate_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", default=".", metavar="DIR",
                        help="the folder to write zones/ into (default: the working directory)")
    parser.add_argument("--template", "-t", default=DEFAULT_TEMPLATE, choices=list(TEMPLATES), metavar="NAME",
                        help=f"the design to start from (default {DEFAULT_TEMPLATE}; --list describes each): "
                             + ", ".join(TEMPLATES))
    parser.add_argument("--list", action="store_true", help="describe the templates and write nothing")
    parser.add_argument("--force", action="store_true", help="overwrite files that are there already")


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, what in TEMPLATES.items():
            mark = " (default)" if name == DEFAULT_TEMPLATE else ""
            print(f"{name}{mark}: {what}")
        return 0
    target = Path(args.directory) / "zones"
    files = estate_files(args.template)
    there = [target / rel for rel in files if (target / rel).exists() or (target / rel).is_symlink()]
    if there and not args.force:
        print(f"dnsemu init: {', '.join(map(str, there))} exists already: nothing written "
              "(--force overwrites, or give another DIR)", file=sys.stderr)
        return 1
    try:
        for rel, content in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():  # never write through a link into some other file
                path.unlink()
            path.write_bytes(content)
    except OSError as exc:
        print(f"dnsemu init: cannot write {exc.filename or target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    topology = target / "topology.yaml"
    print(f"wrote {topology} ({args.template}: {TEMPLATES[args.template]})")
    for rel in files:
        if rel != "topology.yaml":
            print(f"wrote {target / rel}")
    where = "" if Path(args.directory) == Path(".") else f"cd {args.directory} && "
    print(f"next: edit it, then `{where}dnsemu check` and `{where}dnsemu serve` "
          "(both read zones/topology.yaml of the working directory)")
    return 0
