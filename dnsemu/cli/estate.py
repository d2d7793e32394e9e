"""What the estate commands share: the topology file loaded and compiled, or every problem printed."""

from __future__ import annotations

import sys
from pathlib import Path

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import default_topology, load_topology
from dnsemu.topology.loaded import LoadedTopology


def load_estate(topology: str | None) -> tuple[Path, LoadedTopology, Index] | tuple[Path, None, None]:
    """``(path, loaded, index)``; ``(path, None, None)`` after printing why the file is invalid."""
    path = Path(topology) if topology else default_topology()
    try:
        loaded = load_topology(path)
        return path, loaded, compile_topology(loaded)
    except TopologyError as exc:
        print(f"{path}: invalid topology, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return path, None, None
