"""What a topology is once loaded: the validated model, its records, and where each field came from.

:class:`Provenance` says where a topology was read from (its file, the line of
every field path, the folder its zone files must stay in, the size bound of each
read); :class:`LoadedTopology` is what :func:`~dnsemu.topology.load.load_topology`
returns and :func:`~dnsemu.core.compile.compile_topology` takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnsemu.text import clip
from dnsemu.topology.errors import Problem
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES
from dnsemu.topology.model import Topology

__all__ = ["LoadedTopology", "Loc", "Provenance", "format_loc"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Provenance:
    """Where a topology came from: its file and the line of every field path.

    ``base_dir`` is the folder whose tree the topology's ``zone_file`` entries must
    stay in (None: the topology has no folder, and ``zone_file`` is refused);
    ``max_file_bytes`` bounds every file read on its behalf; ``digests`` says what each read found.
    """

    file: str | None = None
    lines: Mapping[Loc, int] = field(default_factory=dict)
    base_dir: Path | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: every file read for this topology (the topology file, its zone files and their ``$INCLUDE``s) ->
    #: SHA-256 of the octets read; filled while loading (what the compiled-index cache is keyed by)
    digests: dict[str, str] = field(default_factory=dict, compare=False)

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its closest ancestor that has one."""
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]

    def problem(
        self, loc: Loc, message: str, hint: str | None = None, line: int | None = None, file: str | None = None
    ) -> Problem:
        return Problem(
            message=message,
            file=file or self.file,
            line=line if line is not None else self.line(loc),
            path=format_loc(loc),
            hint=hint,
        )


def format_loc(loc: Loc) -> str:
    """``a.b[0].c``; each key escaped and cut to 100 characters (keys come from the input)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + clip(str(part), 100)
    return out


@dataclass(frozen=True)
class LoadedTopology:
    """A topology that passed every check, with the records parsed from text and files."""

    topology: Topology
    provenance: Provenance
    #: zone name (canonical) -> records parsed from inline text and master files
    zone_records: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    #: public zone name (canonical) -> records
    public_records: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    #: every file the topology was read from (the topology itself and master files), for reload watching
    files: tuple[str, ...] = ()
    #: the data as written (before validation), so that run-time changes can start from it
    data: Mapping[str, Any] = field(default_factory=dict)
    #: (server key, zone name) -> records of zones that DNS servers hold themselves;
    #: server keys are ``custom:<name>`` and ``onprem:<site>``
    hosted_records: Mapping[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
