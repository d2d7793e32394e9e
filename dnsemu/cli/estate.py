"""What the estate commands share: a topology file loaded and compiled, or every problem it has.

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
from dnsemu.topology.load import default_topology, load_topology
from dnsemu.topology.loaded import LoadedTopology

__all__ = ["Estate", "EstateError", "load_estate", "read_estate"]

Estate = tuple[LoadedTopology, Index]


class EstateError(ValueError):
    """An estate that cannot be used; ``lines`` say why, each naming the file (and line and field)."""

    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        super().__init__("\n".join(lines))


def read_estate(path: str | os.PathLike[str]) -> Estate:
    """The validated topology at ``path`` and its compiled index; :class:`EstateError` when unusable."""
    path = Path(path)
    if path.is_dir():
        raise EstateError(str(path), [f"{path}: is a directory; give a topology file"])
    try:
        loaded = load_topology(path)
    except TopologyError as exc:
        head = f"{path}: invalid topology, {len(exc.problems)} problem(s):"
        raise EstateError(str(path), [head, *(f"  {p}" for p in exc.problems)]) from None
    return loaded, compile_topology(loaded)


def load_estate(topology: str | None) -> tuple[Path, LoadedTopology, Index] | tuple[Path, None, None]:
    """``(path, loaded, index)``; ``(path, None, None)`` after printing why the file is invalid."""
    path = Path(topology) if topology else default_topology()
    try:
        loaded, index = read_estate(path)
    except EstateError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return path, None, None
    return path, loaded, index
