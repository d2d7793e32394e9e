"""Reading, merging, building and writing: the steps of ``dnsemu import`` put together."""

from __future__ import annotations

import gc
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dnsemu.importer import facts as F
from dnsemu.importer.arm import Context
from dnsemu.importer.build import Built, Stub, build
from dnsemu.importer.common import Finding, InputError
from dnsemu.importer.detect import parse_document
from dnsemu.importer.emit import render_topology, render_zone_file
from dnsemu.importer.files import MAX_FILE_BYTES, InputFile, collect, read_json
from dnsemu.importer.merge import merge
from dnsemu.topology.load import load_topology_data
from dnsemu.topology.loaded import LoadedTopology, Provenance

__all__ = ["ImportResult", "InputError", "from_facts", "import_files", "read_files", "validate_written", "write"]

#: Zones with more record sets than this go to master files under the zone folder.
INLINE_RECORD_SETS = 50


@dataclass
class ImportResult:
    output: Path
    text: str
    zone_files: dict[Path, str]  # absolute path -> text
    built: Built
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    labels: Counter[str] = field(default_factory=Counter)
    files: int = 0
    resources: int = 0
    unread: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def stubs(self) -> list[Stub]:
        return self.built.stubs


def zone_folder(output: Path, zone_dir: str | None) -> tuple[Path, PurePosixPath]:
    """(absolute folder, path relative to the topology file) for zone files.

    The folder must lie inside the topology file's folder (zone files are read relative to
    it, and dnsemu reads no zone file outside the topology's tree): no absolute path, no
    ``..`` out of it, no symbolic link that leads out.
    """
    text = zone_dir if zone_dir is not None else f"{output.stem}-zones"
    rel = PurePosixPath(text.replace("\\", "/"))
    if rel.is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise InputError("--zone-dir", f"{text!r} must be relative to the topology file's folder")
    parts = [p for p in rel.parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InputError("--zone-dir", f"{text!r} must name a folder inside the topology file's folder (no '..')")
    base = output.parent.resolve()
    folder = base.joinpath(*parts)
    resolved = folder.resolve()
    if resolved != base and base not in resolved.parents:
        raise InputError("--zone-dir", f"{text!r} leads outside {base} (through a symbolic link)")
    return folder, PurePosixPath(*parts)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one step of an import, as it was after.

    Reading and building allocate a few objects per JSON value and per fact (millions for
    10,000 endpoints) and leave almost no reference cycles behind: the collector, run every
    few hundred allocations, found next to nothing to free and cost about a tenth of the
    import's CPU time (benchmarks/import_bench.py). Nested and concurrent uses are safe: only
    the outermost one that found it on turns it back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _zone_file_name(zone: str) -> str:
    safe = re.sub(r"[^a-z0-9._-]", "_", zone.lower()).strip(".") or "zone"
    return f"{safe}.zone"


def from_facts(
    facts: list[F.Fact],
    ctx: Context,
    output: Path,
    *,
    sources: list[str],
    zone_dir: str | None = None,
    inline_limit: int = INLINE_RECORD_SETS,
    cloud: str = "AzureCloud",
) -> ImportResult:
    with _collector_paused():
        return _from_facts(facts, ctx, output, sources, zone_dir, inline_limit, cloud)


def _from_facts(
    facts: list[F.Fact],
    ctx: Context,
    output: Path,
    sources: list[str],
    zone_dir: str | None,
    inline_limit: int,
    cloud: str,
) -> ImportResult:
    merged = merge(facts, ctx)
    built = build(merged, ctx, cloud)
    zone_files: dict[Path, str] = {}
    refs: dict[str, str] = {}
    large = {z: e for z, e in built.records.items() if len(e) > inline_limit}
    if large:
        folder, rel = zone_folder(output, zone_dir)
        for zone in sorted(large):
            name = _zone_file_name(zone)
            zone_files[folder / name] = render_zone_file(zone, large[zone])
            refs[zone] = str(rel / name)
    header = [
        "Imported by dnsemu import from: " + (", ".join(sources) if sources else "nothing"),
        "Each entry's comment names the Azure resource it came from. Entries marked STUB stand for what Azure",
        "cannot tell (on-premises DNS, DNS servers known only by address): fill them in, then run dnsemu check.",
    ]
    text = render_topology(built, header, refs)
    unread = {t: dict(keys) for t, keys in sorted(ctx.unread.items())}
    return ImportResult(output, text, zone_files, built, ctx.findings, unread=unread)


def read_files(
    files: list[InputFile], ctx: Context, max_file_bytes: int = MAX_FILE_BYTES
) -> tuple[list[F.Fact], Counter[str]]:
    """(facts, format labels) of the files, in their order; ``ctx`` collects what was noticed.

    One process: reading them in two (a forked process sending its facts back) cost more in
    pickling than it saved (benchmarks/import_bench.py).
    """
    facts: list[F.Fact] = []
    labels: Counter[str] = Counter()
    with _collector_paused():
        for file in files:
            label, found = parse_document(read_json(file, max_file_bytes), file.display, ctx, lowered=True)
            labels[label] += 1
            facts.extend(found)
    return facts, labels


def import_files(
    sources: list[str],
    output: Path,
    *,
    zone_dir: str | None = None,
    inline_limit: int = INLINE_RECORD_SETS,
    max_file_bytes: int = MAX_FILE_BYTES,
    cloud: str = "AzureCloud",
    extra_facts: list[F.Fact] | None = None,
    ctx: Context | None = None,
    extra_sources: list[str] | None = None,
) -> ImportResult:
    """Read, detect, merge and build; raises InputError (file and JSON path) for an input it cannot read."""
    files, notes = collect(sources) if sources else ([], [])
    ctx = ctx or Context()
    facts: list[F.Fact] = list(extra_facts or [])
    found, labels = read_files(files, ctx, max_file_bytes)
    facts.extend(found)
    result = from_facts(
        facts,
        ctx,
        output,
        sources=[*(extra_sources or []), *sources],
        zone_dir=zone_dir,
        inline_limit=inline_limit,
        cloud=cloud,
    )
    result.notes = notes
    result.labels = labels
    result.files = len(files)
    result.resources = len(facts)
    return result


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise InputError(str(path), "is a folder")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(result: ImportResult) -> None:
    for path, text in sorted(result.zone_files.items()):
        _write_atomic(path, text)
    _write_atomic(result.output, result.text)


def validate_written(result: ImportResult) -> LoadedTopology:
    """What :func:`write` wrote, validated as dnsemu validates a topology (zone files read from where
    they were written); raises :class:`~dnsemu.topology.errors.TopologyError`.

    The loader keeps its own copy of the model, so none is made here; the collector is off
    meanwhile, as for the import's other steps (a million short-lived acyclic objects for 10,000
    endpoints).
    """
    with _collector_paused():
        return load_topology_data(result.built.data, Provenance(file=str(result.output), base_dir=result.output.parent))
