"""The topology being served, over its life: first load, reloads, run-time changes, file watching.

:class:`LiveTopology` owns everything about *which* topology answers and nothing
about sockets: the server hands it a callback (``install``) that swaps a new
compiled index into the query handler, and asks it to reload on SIGHUP.

Every new topology is built off the event loop (a worker thread), validated like
a file load and compiled, then installed with one call, so the very next query
sees it and no reply mixes two topologies. A reload that fails keeps the old
topology serving and says why (``last_reload_problems``). Run-time changes go
through a :class:`~dnsemu.topology.changes.ChangeSet`: a reload of the files
re-applies the accepted ones on top (``ChangeSet.rebase``), and when they no
longer hold, the reload is refused like an invalid file.

With an ``index_cache`` (:mod:`dnsemu.server.indexcache`, ``dnsemu serve``), the first
load and each reload of the files look for the compiled index of exactly these files
first, and a build from the files is written to it after it is installed.

``build_guard`` wraps every build. A library user gets none; ``dnsemu serve``
passes one that tunes the process (GIL switch interval, cyclic GC) so that a
large build does not stall the answers: that is a daemon's business, not a
library's.

Several processes serving one topology (``dnsemu serve --workers N``): the parent's
LiveTopology is the only one that reads files, validates and takes changes. After
each topology it installs, it awaits ``on_install`` with a :class:`Snapshot` (the
files' topology, the changes on top, their result, the generation), still holding
its lock, so that no other reload or change starts before every worker has it.
A worker's LiveTopology serves the snapshot as it is (:meth:`LiveTopology.adopt`,
or :meth:`LiveTopology.resume` before its first load): compiled, never read from
files or validated again, so every process serves the very same estate under the
same generation number.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from dnsemu.core.index import Index, Options
from dnsemu.core.zone import Zone
from dnsemu.server.indexcache import IndexCache
from dnsemu.topology.changes import Change, ChangeError, ChangeSet
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology
from dnsemu.topology.loaded import LoadedTopology


def compile_topology(*args: Any, **kwargs: Any) -> Index:
    """:func:`dnsemu.core.compile.compile_topology`, imported by the first build (the catalog and the
    cross-reference checks it needs are not: a server started from the index cache builds nothing before its
    first answer, issue 18)."""
    from dnsemu.core.compile import compile_topology as compile_

    return compile_(*args, **kwargs)


__all__ = ["BuildGuard", "LiveTopology", "Snapshot"]

#: file -> (mtime ns, size, inode), or None where the file cannot be read
Signature = dict[str, tuple[int, int, int] | None]
#: wraps each build of a new index (a factory of async context managers)
BuildGuard = Callable[[], AbstractAsyncContextManager[Any]]


@contextlib.asynccontextmanager
async def _no_guard() -> Any:
    yield


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What a LiveTopology serves, as data another process can take over (it pickles)."""

    #: the topology as the files give it
    base: LoadedTopology
    #: the run-time changes on top of it, oldest first
    changes: tuple[Change, ...]
    #: their result: what is served
    current: LoadedTopology
    generation: int


class LiveTopology:
    """The served topology and its generations; see the module docstring."""

    def __init__(self, path: Path | None, loaded: LoadedTopology | None, *, options: Options,
                 install: Callable[[Index], None], log: Any, reloads: dict[str, int],
                 record_error: Callable[[BaseException], None], build_guard: BuildGuard | None = None,
                 max_file_bytes: int | None = None, index_cache: IndexCache | None = None) -> None:
        self.options = options
        #: compiled indexes of unchanged files (``dnsemu serve``; None: every load reads and compiles)
        self.index_cache = index_cache
        #: zones of the first index whose record sets are still to be made (on the index cache's shelves, or deferred
        #: by the first build): the server makes them once serving
        self.deferred: tuple[Zone, ...] = ()
        #: the first build, for the index cache once the server is serving (:meth:`store_pending`)
        self.to_store: tuple[LoadedTopology, Index] | None = None
        if index_cache is not None:
            index_cache.options = options  # the key names the options the index is compiled with
        #: the largest file a load may read (None: the loader's default)
        self.max_file_bytes = max_file_bytes
        self.log = log
        #: counters of reloads by result ("ok", "failed"), shared with the server's stats
        self.reloads = reloads
        #: unix time of the last successful load (the first included)
        self.last_reload_success: float | None = None
        #: why the last reload failed, one line per problem
        self.last_reload_problems: list[str] = []
        self.change_counts: dict[str, int] = {"applied": 0, "rejected": 0}
        self.changes: ChangeSet | None = None
        self._path = path
        self._loaded = loaded
        self._install_index = install
        self._record_error = record_error
        self._guard: BuildGuard = build_guard or _no_guard
        self._generation = 0
        self._base_index: Index | None = None
        self._signature: Signature = {}
        self._lock: asyncio.Lock | None = None
        self._resume: Snapshot | None = None
        #: awaited with the new state after each install (reload, change, reset; not the first load),
        #: under the lock: the parent of workers hands it to them here
        self.on_install: Callable[[Snapshot], Awaitable[None]] | None = None

    # ------------------------------------------------------------------ state

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def loaded(self) -> LoadedTopology | None:
        return self._loaded

    @property
    def path(self) -> Path | None:
        """The topology file (None when the topology was given as data)."""
        if self._loaded is not None:
            return Path(self._loaded.provenance.file) if self._loaded.provenance.file else None
        return self._path

    @property
    def active_changes(self) -> int:
        return len(self.changes.changes) if self.changes is not None else 0

    @property
    def watched(self) -> bool:
        """Whether there are files to watch."""
        return bool(self._signature)

    # ------------------------------------------------------------------ life

    def snapshot(self) -> Snapshot:
        """The state served now (after :meth:`load`)."""
        assert self.changes is not None and self._loaded is not None, "not loaded"
        return Snapshot(self.changes.base, tuple(self.changes.changes), self._loaded, self._generation)

    def resume(self, snapshot: Snapshot) -> None:
        """Before :meth:`load`: start from another LiveTopology's state instead of generation 1 of the data."""
        self._resume = snapshot
        self._loaded = snapshot.current

    def store_pending(self) -> None:
        """Write the index cache's entry for the first build, if it is still the topology served."""
        pending, self.to_store = self.to_store, None
        if pending is not None and self.index_cache is not None and pending[0] is self._loaded:
            self.index_cache.store_later(*pending)

    def load(self) -> Index:
        """The first load and compile (on the caller's thread): generation 1, installed."""
        self._lock = asyncio.Lock()
        cache = self.index_cache
        cached: Index | None = None
        if self._loaded is None:
            assert self._path is not None, "no topology: neither a file nor data"
            self._signature = _signature([str(self._path)])
            hit = cache.lookup(self._path) if cache is not None else None
            if hit is not None:
                self._loaded, cached, self.deferred = hit.loaded, hit.index, hit.zones
            else:
                self._loaded = self._read(self._path)
        elif cache is not None:
            hit = cache.take_hit(self._loaded)  # the caller looked it up (``dnsemu serve``)
            if hit is not None:
                cached, self.deferred = hit.index, hit.zones
        resume, self._resume = self._resume, None
        self._generation = resume.generation if resume is not None else 1
        if cached is not None and resume is None:
            index = dataclasses.replace(cached, generation=self._generation)
        else:
            # the first build: large private zones' record sets are made once serving (_warm), or by a first read
            index = compile_topology(self._loaded, self.options, generation=self._generation, defer_zones=True)
            self.deferred = tuple(zone for zone in index.private_zones.values() if zone.pending)
            if cache is not None and resume is None:
                self.to_store = (self._loaded, index)  # written once serving (store_pending)
        self._base_index = index if resume is None or not resume.changes else None
        self.changes = ChangeSet(resume.base if resume is not None else self._loaded)
        if resume is not None:
            self.changes.changes[:], self.changes.current = resume.changes, resume.current
        self.last_reload_success = time.time()
        self._signature = {f: self._signature.get(f) or _stat(f) for f in _files(self._loaded)}
        self._install_index(index)
        return index

    async def reload(self, loaded: LoadedTopology | None = None, *, reason: str = "request") -> bool:
        """Recompile the topology (``loaded``, or its file again) and swap it in; False when it is invalid.

        ``loaded`` (or the file read again) becomes the new base of the run-time
        changes, which are re-applied on top of it.
        """
        if self._lock is None or self.changes is None:
            raise RuntimeError("the server is not started")
        loop = asyncio.get_running_loop()
        async with self._lock, self._guard():
            generation = self._generation + 1
            signature: Signature | None = None
            changes = self.changes
            saved = (changes.base, list(changes.changes), changes.current)
            try:
                if loaded is None:
                    path = self.path
                    if path is None:
                        why = "the topology was given as data, not read from a file"
                        self.last_reload_problems = [why]
                        self.log.warning("topology_reload_skipped", reason=reason, why=why)
                        return False
                    signature = _signature(self._signature or [str(path)])
                    loaded, cached = await loop.run_in_executor(None, self._read_cached, path)
                else:
                    cached = None
                base = loaded
                current = await loop.run_in_executor(None, changes.rebase, base)
                if cached is not None and current is base:
                    index = dataclasses.replace(cached, generation=generation)
                else:
                    index = await loop.run_in_executor(None, compile_topology, current, self.options, generation)
                    if self.index_cache is not None and current is base and signature is not None:
                        self.index_cache.store_later(base, index)
            except TopologyError as exc:
                self._failed(saved, signature, [str(p) for p in exc.problems])
                self.log.error("topology_reload_failed", reason=reason, generation=self._generation,
                               problems=[str(p) for p in exc.problems], error=str(exc),
                               changes=len(changes.changes))
                return False
            except Exception as exc:
                self._failed(saved, signature, [f"{type(exc).__name__}: {exc}"])
                self._record_error(exc)
                self.log.exception("topology_reload_failed", reason=reason, generation=self._generation,
                                   error=f"{type(exc).__name__}: {exc}")
                return False
            self._base_index = index if not changes.changes else None
            self._install(current, index, generation)
            before = signature or {}
            self._signature = {f: before[f] if f in before else _stat(f) for f in _files(current)}
            self.reloads["ok"] = self.reloads.get("ok", 0) + 1
            self.last_reload_success = time.time()
            self.log.info("topology_loaded", reason=reason, generation=generation, changes=len(changes.changes),
                          **index_stats(index))
            await self._published()
            return True

    def _read_cached(self, path: Path) -> tuple[LoadedTopology, Index | None]:
        """The topology file's topology, and its compiled index when the cache holds it (unchanged files)."""
        if self.index_cache is not None:
            hit = self.index_cache.lookup(path)
            if hit is not None:
                return hit.loaded, hit.index
        return self._read(path), None

    def _read(self, path: Path) -> LoadedTopology:
        if self.max_file_bytes is None:
            return load_topology(path)
        return load_topology(path, max_file_bytes=self.max_file_bytes)

    def _failed(self, saved: tuple[Any, list[Change], Any], signature: Signature | None, problems: list[str]) -> None:
        """Undo a reload that did not hold: the changes as they were, the files judged."""
        assert self.changes is not None
        self.changes.base, self.changes.changes[:], self.changes.current = saved
        if signature is not None:
            self._signature = signature  # judged: retry when the files change again
        self.reloads["failed"] = self.reloads.get("failed", 0) + 1
        self.last_reload_problems = problems

    def _install(self, loaded: LoadedTopology, index: Index, generation: int) -> None:
        self._install_index(index)
        self._generation = generation
        self._loaded = loaded

    async def apply_change(self, change: Change) -> LoadedTopology:
        """Validate ``change`` like a file load and serve the result from the next query on.

        Raises :class:`~dnsemu.topology.changes.ChangeError` (with ``.problems``)
        and changes nothing when the change does not hold.
        """
        if self._lock is None or self.changes is None:
            raise RuntimeError("the server is not started")
        loop = asyncio.get_running_loop()
        async with self._lock, self._guard():
            changes = self.changes
            saved = (list(changes.changes), changes.current)
            generation = self._generation + 1
            try:
                candidate = await loop.run_in_executor(None, changes.apply, change)
                try:
                    index = await loop.run_in_executor(None, compile_topology, candidate, self.options, generation)
                except TopologyError as exc:
                    raise ChangeError(exc.problems) from None
            except ChangeError as exc:
                changes.changes[:], changes.current = saved
                self.change_counts["rejected"] += 1
                self.log.info("topology_change_rejected", op=change.op, target=change.target,
                              problems=[str(p) for p in exc.problems])
                raise
            self._install(candidate, index, generation)
            self.change_counts["applied"] += 1
            self.log.info("topology_changed", op=change.op, target=change.target, generation=generation,
                          changes=len(changes.changes))
            await self._published()
            return candidate

    async def reset_changes(self) -> bool:
        """Drop every run-time change and serve the files' topology again; False when there was none."""
        if self._lock is None or self.changes is None:
            raise RuntimeError("the server is not started")
        async with self._lock:
            changes = self.changes
            if not changes.changes:
                return False
            generation = self._generation + 1
            base = changes.base
            if self._base_index is not None:  # compiled before: a copy with the new generation is enough
                index = dataclasses.replace(self._base_index, generation=generation)
            else:
                loop = asyncio.get_running_loop()
                index = await loop.run_in_executor(None, compile_topology, base, self.options, generation)
            dropped = len(changes.changes)
            changes.reset()
            self._base_index = index
            self._install(base, index, generation)
            self.log.info("topology_reset", generation=generation, dropped=dropped)
            await self._published()
            return True

    async def _published(self) -> None:
        if self.on_install is not None:
            await self.on_install(self.snapshot())

    async def adopt(self, snapshot: Snapshot) -> None:
        """Serve ``snapshot`` (another LiveTopology's state) from the next query on: compiled, not validated again."""
        if self._lock is None or self.changes is None:
            raise RuntimeError("the server is not started")
        loop = asyncio.get_running_loop()
        async with self._lock, self._guard():
            index = await loop.run_in_executor(None, compile_topology, snapshot.current, self.options,
                                               snapshot.generation)
            changes = self.changes
            changes.base, changes.changes[:], changes.current = snapshot.base, snapshot.changes, snapshot.current
            self._base_index = index if not snapshot.changes else None
            self._install(snapshot.current, index, snapshot.generation)
            self.log.info("topology_adopted", generation=snapshot.generation, changes=len(snapshot.changes),
                          **index_stats(index))

    async def settled(self) -> None:
        """Wait for the reload or change in progress, if any, to finish."""
        assert self._lock is not None
        async with self._lock:
            pass

    async def watch(self, interval: float) -> None:
        """Poll the topology's files every ``interval`` seconds; reload when one changes. Runs until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                if _signature(self._signature) != self._signature:
                    await self.reload(reason="file changed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watcher must survive anything
                self._record_error(exc)
                self.log.exception("watch_failed")


def _files(loaded: LoadedTopology) -> list[str]:
    """Every file the topology was read from (the topology file, zone files, includes)."""
    files = list(loaded.files)
    if not files and loaded.provenance.file:
        files = [loaded.provenance.file]
    # and the files the zone files ``$INCLUDE``d (read, with their digests, while loading)
    files += [f for f in loaded.provenance.digests if f not in files]
    return files


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _signature(files: Any) -> Signature:
    return {f: _stat(f) for f in files}


def index_stats(index: Index) -> dict[str, int]:
    """What a log line says of a compiled index."""
    keys = ("virtual_networks", "on_premises", "private_zones", "private_endpoints", "records")
    return {k: int(index.stats[k]) for k in keys if k in index.stats}
