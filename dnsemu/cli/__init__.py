"""The ``dnsemu`` command: one module per subcommand, imported only when used.

``main(argv) -> int`` never calls ``sys.exit`` itself, so tests call it directly.
A subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``;
``serve`` and ``query`` parse their own flags (``main(argv)``).

Output into a pipe that closes early (``dnsemu serve --help | head -1``) ends the
command quietly with status 141, as a process killed by SIGPIPE would, never with a
``BrokenPipeError`` traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType

#: subcommands with an ``add_arguments``/``run`` module: name -> (help, description)
COMMANDS: dict[str, tuple[str, str | None]] = {
    "init": ("write a commented starter estate (zones/topology.yaml) from a reference design",
             "Exit status: 0 written, 1 a file is there already (nothing written), 2 cannot write."),
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
    "completion": ("print a completion script for bash, zsh or fish",
                   "Install: dnsemu completion bash > ~/.local/share/bash-completion/completions/dnsemu; "
                   "dnsemu completion zsh > a folder on $fpath/_dnsemu; "
                   "dnsemu completion fish > ~/.config/fish/completions/dnsemu.fish."),
}
#: subcommands that parse their own flags (a ``main(argv)``): name -> help
OWN_PARSERS: dict[str, str] = {
    "serve": "run the DNS server (see 'dnsemu serve --help')",
    "query": "send one query to a server and print the reply (also the container's health check)",
}

#: exit status after the reader of our output went away (128 + SIGPIPE, what a shell reports for `yes | head`)
EXIT_BROKEN_PIPE = 141


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
    elif name == "init":
        from dnsemu.cli import init as module
    elif name == "completion":
        from dnsemu.cli import completion as module
    else:
        raise KeyError(name)
    return module


def _version() -> str:
    import dnsemu

    return f"dnsemu {dnsemu.__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsemu", description="Answer DNS the way Azure DNS answers from inside a virtual network."
    )
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help=OWN_PARSERS["serve"], add_help=False)
    for name, (help_text, description) in COMMANDS.items():
        parser_of_command = sub.add_parser(name, help=help_text, description=description)
        command(name).add_arguments(parser_of_command)
        parser_of_command.set_defaults(command_name=name)
    sub.add_parser("query", help=OWN_PARSERS["query"], add_help=False)
    return parser


def _resolve_source(source: str, topology: str | None) -> str:
    """``dnsemu query --from NAME``: the topology's address for NAME (loaded only when a name is given)."""
    from dnsemu.cli.estate import resolve_source

    return resolve_source(source, topology)


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "query":
        return int(command("query").main(argv[1:], resolve_source=_resolve_source))
    if argv and argv[0] in OWN_PARSERS:
        return int(command(argv[0]).main(argv[1:]))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2): return, never exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "command_name", None):
        parser.print_help()
        return 2
    return int(command(args.command_name).run(args))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
