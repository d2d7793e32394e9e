"""What the estate commands share: which topology, loaded and compiled, or every problem it has.

The topology is the one named on the command line, else ``DNSEMU_TOPOLOGY``, else
``zones/topology.yaml`` of the working directory, else the bundled example estate
(:mod:`dnsemu.estates`); the last case is said on stderr, so that nobody mistakes the
example's answers for their own estate's.

:func:`read_estate` is the one place that turns a path into a validated, compiled estate
(``diff`` reads two, ``verify`` one); :func:`load_estate` is the same for the commands that
print the problems themselves (``check``, ``explain``, ``graph``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import default_topology_choice, load_topology
from dnsemu.topology.loaded import LoadedTopology

__all__ = ["DEFAULT_HELP", "ENV_TOPOLOGY", "MISSING_HINT", "Estate", "EstateError", "choose_topology",
           "load_estate", "print_problems", "read_estate", "resolve_source"]

ENV_TOPOLOGY = "DNSEMU_TOPOLOGY"
#: the default, as --help says it
DEFAULT_HELP = (f"default: {ENV_TOPOLOGY}, else zones/topology.yaml of the working directory, "
                "else the bundled example estate")
#: how to name a topology, for the error of a missing one
MISSING_HINT = (f"give the topology file with --topology PATH (or the {ENV_TOPOLOGY} environment variable), "
                "run from the folder that holds zones/topology.yaml, or write a starter estate with `dnsemu init`")

Estate = tuple[LoadedTopology, Index]


class EstateError(ValueError):
    """An estate that cannot be used; ``lines`` say why, each naming the file (and line and field)."""

    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        super().__init__("\n".join(lines))


def problem_lines(path: Path, exc: TopologyError, prefix: str = "") -> list[str]:
    """Every problem of an invalid topology, one a line; a missing file also says how to name one."""
    lines = [f"{prefix}{path}: invalid topology, {len(exc.problems)} problem(s):",
             *(f"  {problem}" for problem in exc.problems)]
    if not path.exists():
        lines.append(f"  hint: {MISSING_HINT}")
    return lines


def read_estate(path: str | os.PathLike[str]) -> Estate:
    """The validated topology at ``path`` and its compiled index; :class:`EstateError` when unusable."""
    path = Path(path)
    if path.is_dir():
        raise EstateError(str(path), [f"{path}: is a directory; give a topology file"])
    try:
        loaded = load_topology(path)
    except TopologyError as exc:
        raise EstateError(str(path), problem_lines(path, exc)) from None
    return loaded, compile_topology(loaded)


def choose_topology(topology: str | None, prog: str) -> Path:
    """The topology file to use (see the module docstring); a note on stderr when it is the bundled example."""
    if topology:
        return Path(topology)
    from_env = os.environ.get(ENV_TOPOLOGY, "").strip()
    if from_env:
        return Path(from_env)
    path, why = default_topology_choice()
    if not path.is_relative_to("zones"):
        print(f"{prog}: using {why}", file=sys.stderr)
    return path


def print_problems(path: Path, exc: TopologyError, prefix: str = "") -> None:
    """Every problem of an invalid topology on stderr; a missing file also says how to name one."""
    for line in problem_lines(path, exc, prefix):
        print(line, file=sys.stderr)


def load_estate(topology: str | None,
                prog: str = "dnsemu") -> tuple[Path, LoadedTopology, Index] | tuple[Path, None, None]:
    """``(path, loaded, index)``; ``(path, None, None)`` after printing why the file is invalid."""
    path = choose_topology(topology, prog)
    try:
        loaded, index = read_estate(path)
    except EstateError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return path, None, None
    return path, loaded, index


def resolve_source(source: str, topology: str | None) -> str:
    """The address ``dnsemu query --from SOURCE`` asks as: ``source`` mapped by the topology (ValueError if not)."""
    from dnsemu.analysis.explain import source_address

    path, loaded, index = load_estate(topology, "dnsemu query")
    if loaded is None or index is None:
        raise ValueError(f"--from {source!r} needs the topology to name it, and {path} does not load (see above)")
    return str(source_address(loaded.topology, index, source))  # UnknownSource is a ValueError
