"""The ``dnsemu`` command: one module per subcommand, imported only when used.

``main(argv) -> int`` never calls ``sys.exit`` itself, so tests call it directly.
A subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``;
``serve`` and ``query`` parse their own flags (``main(argv)``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

#: subcommands with an ``add_arguments``/``run`` module: name -> (help, description)
COMMANDS: dict[str, tuple[str, str | None]] = {
    "check": ("validate a topology and lint it for common Azure DNS mistakes",
              "Exit status: 0 clean, 1 findings, 2 invalid."),
    "explain": ("show how a name resolves from an address or network, step by step", None),
    "graph": ("draw the estate (Mermaid, DOT or SVG), or what one network reaches", None),
    "import": ("make a topology from Azure exports (Resource Graph, ARM, az CLI, terraform show -json) or --azure",
               "Exit status: 0 written, 1 written with findings under --strict, 2 unreadable input."),
    "diff": ("which answers change between two estates, for whom, and why",
             "Exit status: 0 no answer changes, 1 some do, 2 invalid input."),
    "capture": ("ask a real resolver the listed questions and record the answers", None),
    "verify": ("replay a capture through the model and report where they disagree",
               "Exit status: 0 every answer agrees, 1 one does not, 2 invalid input."),
}
#: subcommands that parse their own flags (a ``main(argv)``): name -> help
OWN_PARSERS: dict[str, str] = {
    "serve": "run the DNS server (see 'dnsemu serve --help')",
    "query": "send one query to a server and print the reply (also the container's health check)",
}


def command(name: str) -> ModuleType:
    """The module of subcommand ``name``, imported now (and only now: ``dnsemu query`` stays light)."""
    if name == "serve":
        from dnsemu.cli import serve as module
    elif name == "query":
        from dnsemu.cli import query as module
    elif name == "check":
        from dnsemu.cli import check as module
    elif name == "explain":
        from dnsemu.cli import explain as module
    elif name == "graph":
        from dnsemu.cli import graph as module
    elif name == "import":
        from dnsemu.cli import imports as module
    elif name == "diff":
        from dnsemu.cli import diff as module
    elif name == "capture":
        from dnsemu.cli import capture as module
    elif name == "verify":
        from dnsemu.cli import verify as module
    else:
        raise KeyError(name)
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsemu", description="Answer DNS the way Azure DNS answers from inside a virtual network."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help=OWN_PARSERS["serve"], add_help=False)
    for name, (help_text, description) in COMMANDS.items():
        parser_of_command = sub.add_parser(name, help=help_text, description=description)
        command(name).add_arguments(parser_of_command)
        parser_of_command.set_defaults(command_name=name)
    sub.add_parser("query", help=OWN_PARSERS["query"], add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OWN_PARSERS:
        return int(command(argv[0]).main(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command_name", None):
        parser.print_help()
        return 2
    return int(command(args.command_name).run(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
