"""The compiled-index cache: an unchanged restart skips reading, validating and compiling.

A start (or a reload) of a large estate reads every zone file, validates the topology
and compiles it; an unchanged restart would repeat all of it. :class:`IndexCache` keeps
what that work produced, the validated topology and its compiled index, in one file per
*key*, and hands it back when nothing it depends on has changed.

The key is a SHA-256 over everything the result depends on:

* the octets of the topology file, its path as given and the working directory (relative
  zone file paths are resolved from them);
* dnsemu's version and a digest of its own package files (the code and the bundled
  service catalog: a patched checkout is another dnsemu), Python's version;
* the settings that change compilation (``unknown_sources``, the compile options) and
  ``max_file_bytes`` (a file over it is an error).

The entry lists every other file the load read (zone files and their ``$INCLUDE``s)
with the SHA-256 of the octets that were parsed; a lookup reads each again (bounded and
confined like the first read) and any difference is a miss. Content decides, not time:
a file whose modification time alone changed is still a hit; one octet changed is a miss.

Unpickling is code execution, so nothing is unpickled that this user did not write
into a directory only this user can write:

* the directory must be owned by the effective user and have no group or other
  permissions (0700; it is created so); otherwise the cache is off, with a log line;
* an entry must be a regular file owned by the effective user, writable by nobody else,
  not a symbolic link, and at most ``max_bytes`` octets;
* its header must name this format, this dnsemu, this key, and the length and SHA-256 of
  the pickled payload, which are checked before a single octet is unpickled (a truncated
  or corrupt file is never unpickled).

Anything that fails is ignored with a ``index_cache_ignored`` log line saying why, and the
topology is built from its files as without a cache (the new result then replaces the
entry). Entries are written to a temporary file and renamed into place, so a reader never
sees half of one; the directory is kept under ``max_bytes`` by removing the least recently
used entries. Estates under ``min_records`` records are not cached: they build faster than
their entry is checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import io
import json
import os
import pickle
import stat
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dnsemu.core.index import Index, Options
from dnsemu.core.zone import Zone
from dnsemu.topology.files import FileProblem, read_bytes
from dnsemu.topology.loaded import LoadedTopology

__all__ = ["FORMAT", "CacheHit", "IndexCache", "default_cache_dir"]

#: the entry format (bump when the header or the payload's shape changes)
FORMAT = 3
MAGIC = b"DNSEMU-INDEX-CACHE %d\n" % FORMAT
SUFFIX = ".idx"
_HEADER_MAX = 16 * 1024 * 1024  # the header line (file list) at most
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 3600


def default_cache_dir(env: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/dnsemu/index``, else ``~/.cache/dnsemu/index``."""
    environment = os.environ if env is None else env
    base = environment.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path(os.path.expanduser("~")) / ".cache"
    return root / "dnsemu" / "index"


@functools.lru_cache(maxsize=1)
def code_identity() -> str:
    """dnsemu's version and a digest of its package files (code and catalog): what a compiled index depends on."""
    try:
        from importlib.metadata import version

        release = version("dnsemu")
    except Exception:  # not installed (a bare checkout on sys.path)
        release = "unknown"
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".json") and path.is_file():
            digest.update(str(path.relative_to(package)).encode() + b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return f"{release}+{digest.hexdigest()[:32]}"


@dataclasses.dataclass(frozen=True)
class CacheHit:
    """What a lookup found: the validated topology and its compiled index (generation as stored)."""

    loaded: LoadedTopology
    index: Index
    key: str
    seconds: float
    #: the index's zones whose record sets are still on their shelves (each made on its first read;
    #: ``dnsemu serve`` makes the rest once ready)
    zones: tuple[Zone, ...] = ()


class _Ignored(Exception):
    """An entry that is not used, and why (a log line)."""


class IndexCache:
    """Compiled indexes by key, in a private directory. See the module docstring."""

    def __init__(self, directory: str | os.PathLike[str], *, options: Options, max_file_bytes: int,
                 max_bytes: int = 2 * 1024**3, min_records: int = 10_000, log: Any = None) -> None:
        self.directory = Path(directory)
        self.options = options
        self.max_file_bytes = max_file_bytes
        self.max_bytes = max_bytes
        self.min_records = min_records
        self.log = log
        #: lookups and stores by outcome, for tests and the log
        self.counts: dict[str, int] = {"hit": 0, "miss": 0, "ignored": 0, "stored": 0, "skipped": 0}
        self._pending: list[threading.Thread] = []
        self._lock = threading.Lock()
        #: the last hit handed out, so that the first load can take its index with the topology it came with
        self._last_hit: CacheHit | None = None

    # ------------------------------------------------------------------ keys

    def key(self, topology_file: str, topology_digest: str) -> str:
        parts = [FORMAT, code_identity(), sys.implementation.cache_tag, sys.version, repr(self.options),
                 self.max_file_bytes, os.getcwd(), topology_file, topology_digest]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    # ------------------------------------------------------------------ the directory

    def _open_dir(self, create: bool) -> int | None:
        """A descriptor of the cache directory when it is ours and private; None (logged) otherwise."""
        if create:
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                self._note("index_cache_unusable", why=f"cannot create the directory: {exc.strerror or exc}")
                return None
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._note("index_cache_unusable", why=f"cannot open the directory: {exc.strerror or exc}")
            return None
        st = os.fstat(fd)
        why = None
        if st.st_uid != os.geteuid():
            why = f"the directory is owned by uid {st.st_uid}, not by this user ({os.geteuid()})"
        elif stat.S_IMODE(st.st_mode) & 0o077:
            why = (f"the directory's mode is {stat.S_IMODE(st.st_mode):04o}: others may write or read it "
                   "(it must be 0700)")
        if why is not None:
            os.close(fd)
            self._note("index_cache_unusable", why=why, directory=str(self.directory),
                       hint="unpickling an entry runs code: the cache is used only in a private directory; "
                            "chmod 700 it, or give index-cache-dir a directory of your own")
            return None
        return fd

    # ------------------------------------------------------------------ lookup

    def lookup(self, path: str | os.PathLike[str], *, freeze: bool = False) -> CacheHit | None:
        """The cached topology and index for the topology file at ``path``, or None (a miss, logged).

        ``freeze`` moves what was unpickled out of the cyclic collector's reach (``gc.freeze``):
        a daemon's choice, the index never changes.
        """
        started = time.perf_counter()
        topology_file = os.fspath(path)
        try:
            data = read_bytes(topology_file, max_bytes=self.max_file_bytes)
        except FileProblem:
            return self._miss("the topology file cannot be read")  # the load says why
        key = self.key(topology_file, hashlib.sha256(data).hexdigest())
        fd = self._open_dir(create=False)
        if fd is None:
            return self._miss("no cache directory")
        try:
            try:
                entry = os.open(key + SUFFIX, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                return self._miss("no entry for this topology")
            except OSError as exc:
                return self._ignored(key, f"cannot open the entry: {exc.strerror or exc}")
            try:
                loaded, index, zones = self._read_entry(entry, key, freeze)
                with contextlib.suppress(OSError):
                    os.utime(entry)  # recently used: the last to be pruned
            finally:
                os.close(entry)
        except _Ignored as exc:
            return self._ignored(key, str(exc))
        finally:
            os.close(fd)
        hit = CacheHit(loaded, index, key, time.perf_counter() - started, zones)
        self._last_hit = hit
        self.counts["hit"] += 1
        self._note("index_cache_hit", level="info", topology=topology_file, seconds=round(hit.seconds, 3),
                   records=_records(loaded), deferred_zones=len(zones))
        return hit

    def _read_entry(self, fd: int, key: str, freeze: bool) -> tuple[LoadedTopology, Index, tuple[Zone, ...]]:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Ignored("the entry is not a regular file")
        if st.st_uid != os.geteuid():
            raise _Ignored(f"the entry is owned by uid {st.st_uid}, not by this user")
        if stat.S_IMODE(st.st_mode) & 0o022:
            raise _Ignored(f"the entry's mode is {stat.S_IMODE(st.st_mode):04o}: others may write it")
        if st.st_size > self.max_bytes:
            raise _Ignored(f"the entry holds {st.st_size} octets, over the cache's bound of {self.max_bytes}")
        with os.fdopen(os.dup(fd), "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                raise _Ignored("not an entry of this format (foreign or corrupt header)")
            line = f.readline(_HEADER_MAX)
            try:
                header = json.loads(line)
                expected = header["payload_bytes"]
                digest = header["payload_sha256"]
                inputs = header["inputs"]
                base_dir = header["base_dir"]
            except (ValueError, KeyError, TypeError):
                raise _Ignored("the entry's header is unreadable (corrupt or truncated)") from None
            if header.get("dnsemu") != code_identity():
                raise _Ignored(f"written by another dnsemu ({_short(header.get('dnsemu'))}); this is "
                               f"{code_identity()}")
            if header.get("key") != key:
                raise _Ignored("the entry's key does not match its name")
            payload = f.read(expected + 1)
        if len(payload) != expected:
            raise _Ignored(f"the entry is truncated or padded ({len(payload)} octets of payload, header says "
                           f"{expected})")
        if hashlib.sha256(payload).hexdigest() != digest:
            raise _Ignored("the entry's payload does not match its checksum (corrupt)")
        changed = self._changed_input(inputs, base_dir)
        if changed is not None:
            raise _Ignored(changed)
        enabled = gc.isenabled()
        gc.disable()  # millions of objects, none of them garbage: no collection while they are made
        unpickler = _Unpickler(io.BytesIO(payload))
        try:
            result = unpickler.load()  # checked above: our own file, in our private directory
        except Exception as exc:
            raise _Ignored(f"the payload does not unpickle ({type(exc).__name__})") from None
        finally:
            if freeze:
                gc.freeze()  # before the collector is on again: else its next pass walks every new object
            if enabled:
                gc.enable()
        if (not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[0], LoadedTopology)
                or not isinstance(result[1], Index)):
            raise _Ignored("the payload is not a compiled topology")
        return result[0], result[1], tuple(unpickler.zones)

    def _changed_input(self, inputs: Any, base_dir: str | None) -> str | None:
        """Why the files behind an entry are not those it was built from (None: every one is the same)."""
        if not isinstance(inputs, list):
            return "the entry's file list is unreadable"
        for item in inputs:
            try:
                name, size, digest = item
            except (TypeError, ValueError):
                return "the entry's file list is unreadable"
            try:
                if os.stat(name).st_size != size:
                    return f"{name} changed (size)"
                data = read_bytes(name, max_bytes=self.max_file_bytes, root=base_dir)
            except (OSError, FileProblem):
                return f"{name} cannot be read as it was"
            if hashlib.sha256(data).hexdigest() != digest:
                return f"{name} changed"
        return None

    def take_hit(self, loaded: LoadedTopology) -> CacheHit | None:
        """The last hit when ``loaded`` is the topology that hit handed out (the first load)."""
        hit, self._last_hit = self._last_hit, None
        return hit if hit is not None and hit.loaded is loaded else None

    def _miss(self, why: str) -> None:
        self.counts["miss"] += 1
        self._note("index_cache_miss", level="info", why=why)
        return None

    def _ignored(self, key: str, why: str) -> None:
        self.counts["ignored"] += 1
        self._note("index_cache_ignored", level="warning", entry=key[:16] + SUFFIX, why=why,
                   hint="the topology is built from its files and the entry replaced")
        return None

    # ------------------------------------------------------------------ store

    def cacheable(self, loaded: LoadedTopology) -> bool:
        """A topology read from a file whose reads were all recorded, large enough to be worth an entry."""
        file = loaded.provenance.file
        return bool(file) and file in loaded.provenance.digests and _records(loaded) >= self.min_records

    def store(self, loaded: LoadedTopology, index: Index) -> bool:
        """Write the entry for ``loaded`` (as read from its files) and ``index``; False when not written."""
        if not self.cacheable(loaded):
            self.counts["skipped"] += 1
            return False
        started = time.perf_counter()
        provenance = loaded.provenance
        assert provenance.file is not None
        key = self.key(provenance.file, provenance.digests[provenance.file])
        inputs = []
        for name, digest in provenance.digests.items():
            if name == provenance.file:
                continue
            try:
                size = os.stat(name).st_size
            except OSError:
                return False  # gone already: the next load will see it
            inputs.append([name, size, digest])
        payload = _dumps(loaded, index)
        header = {"key": key, "dnsemu": code_identity(), "topology": provenance.file, "inputs": inputs,
                  "base_dir": None if provenance.base_dir is None else os.fspath(provenance.base_dir),
                  "payload_bytes": len(payload), "payload_sha256": hashlib.sha256(payload).hexdigest(),
                  "records": _records(loaded), "written": time.time()}
        blob_size = len(MAGIC) + len(payload) + 4096
        if blob_size > self.max_bytes:
            self.counts["skipped"] += 1
            self._note("index_cache_skipped", level="info", why=f"the entry ({len(payload)} octets) is over the "
                       f"cache's bound of {self.max_bytes} octets (index-cache-max-bytes)")
            return False
        fd = self._open_dir(create=True)
        if fd is None:
            return False
        try:
            tmp = f"{_TMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{os.urandom(4).hex()}"
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                          dir_fd=fd)
            try:
                with os.fdopen(out, "wb") as f:
                    f.write(MAGIC)
                    f.write(json.dumps(header).encode() + b"\n")
                    f.write(payload)
                os.replace(tmp, key + SUFFIX, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
                raise
            self._prune(fd, keep=key + SUFFIX)
        except OSError as exc:
            self._note("index_cache_unusable", why=f"cannot write an entry: {exc.strerror or exc}")
            return False
        finally:
            os.close(fd)
        self.counts["stored"] += 1
        self._note("index_cache_stored", level="info", topology=provenance.file, octets=len(payload),
                   records=header["records"], seconds=round(time.perf_counter() - started, 3))
        return True

    def store_later(self, loaded: LoadedTopology, index: Index) -> None:
        """:meth:`store` while the caller goes on serving; :meth:`wait` waits for it.

        Pickling a large index is one long call that holds the GIL (seconds at a million
        records): on a thread it would stall every answer meanwhile. Where the platform can
        fork, a child process writes the entry instead (it shares the index copy-on-write,
        logs nothing, and leaves with ``os._exit``); a thread of this process waits for it
        and logs the outcome. Elsewhere the entry is written on a thread.
        """
        if not self.cacheable(loaded):
            self.counts["skipped"] += 1
            return
        if hasattr(os, "fork"):
            started = time.perf_counter()
            pid = os.fork()
            if pid == 0:  # the child: no logging (another thread may hold a stream's lock), no cleanup
                code = 1
                try:
                    gc.disable()
                    self.log = None
                    code = 0 if self.store(loaded, index) else 1
                finally:
                    os._exit(code)

            def reap() -> None:
                try:
                    _, status = os.waitpid(pid, 0)
                except ChildProcessError:  # reaped by someone else: the entry says for itself
                    return
                code = os.waitstatus_to_exitcode(status)
                if code == 0:
                    self.counts["stored"] += 1
                    self._note("index_cache_stored", level="info", topology=loaded.provenance.file,
                               records=_records(loaded), seconds=round(time.perf_counter() - started, 3),
                               pid=pid)
                else:
                    self._note("index_cache_not_stored", level="warning", topology=loaded.provenance.file,
                               exit=code, hint="the cache directory is not usable, or the entry is over "
                                               "index-cache-max-bytes: start with --log-level debug to see why")

            thread = threading.Thread(target=reap, name="dnsemu-index-cache", daemon=True)
        else:
            def run() -> None:
                try:
                    self.store(loaded, index)
                except Exception as exc:  # a cache must never take the server down
                    self._note("index_cache_unusable", why=f"{type(exc).__name__}: {exc}")

            thread = threading.Thread(target=run, name="dnsemu-index-cache", daemon=True)
        with self._lock:
            self._pending = [t for t in self._pending if t.is_alive()] + [thread]
        thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the entries being written (tests; a clean shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for thread in pending:
            thread.join(timeout)

    def _prune(self, fd: int, keep: str) -> None:
        """Least recently used entries out until the directory holds at most ``max_bytes``; stale temporaries too."""
        now = time.time()
        entries = []
        for name in os.listdir(fd):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if name.startswith(_TMP_PREFIX):
                if now - st.st_mtime > _STALE_TMP_S:
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=fd)
                continue
            if name.endswith(SUFFIX) and stat.S_ISREG(st.st_mode):
                entries.append((st.st_mtime, st.st_size, name))
        total = sum(size for _, size, _ in entries)
        for _, size, name in sorted(entries):
            if total <= self.max_bytes:
                break
            if name == keep:
                continue
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)
                total -= size

    # ------------------------------------------------------------------ logging

    def _note(self, event: str, level: str = "warning", **fields: Any) -> None:
        if self.log is not None:
            getattr(self.log, level)(event, **fields)


def _records(loaded: LoadedTopology) -> int:
    return sum(_count(records) for records in (loaded.zone_records, loaded.public_records, loaded.hosted_records))


def _count(records: Any) -> int:
    if isinstance(records, _DeferredRecords):
        return records.count()  # without unpickling them
    return sum(len(r) for r in records.values())


# --------------------------------------------------------------------------- the payload: zones on shelves
#
# A restart must answer soon; unpickling a million records (one Python call each) and a
# million per-name dictionaries took most of a 4 s restart. The payload keeps what every
# answer needs eagerly (networks, views, classifier, compiled plans, each zone's apex,
# SOA and flags) and puts the bulk, each zone's record sets and the records the topology
# was loaded with, on *shelves*: one nested pickle per zone, unpickled when something
# first reads that zone (a lookup, the API, a reload's comparison). A private zone's
# shelf holds both its loaded records and its compiled record sets, so the records
# they share are written once. The nested pickles are inside the checked payload: they
# are this user's own bytes, like the rest.


class _Shelf:
    """A value pickled apart, unpickled on its first :meth:`get` (once; the octets are then let go)."""

    __slots__ = ("_blob", "_value")

    def __init__(self, blob: bytes | None = None, value: Any = None) -> None:
        """From the octets of a pickled value (unpickling), or from the value (writing)."""
        self._blob = blob
        self._value = value

    def get(self) -> Any:
        value = self._value
        if value is None:
            blob = self._blob
            if blob is None:  # another thread made it since (it sets the value before it lets the octets go)
                return self._value
            enabled = gc.isenabled()
            gc.disable()  # many objects, no garbage among them
            try:
                value = pickle.loads(blob)
            finally:
                if gc.get_freeze_count():  # a daemon that froze its index: these belong with it
                    gc.freeze()
                if enabled:
                    gc.enable()
            self._value, self._blob = value, None
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        blob = self._blob
        if blob is None:
            blob = pickle.dumps(self._value, protocol=pickle.HIGHEST_PROTOCOL)
        return _Shelf, (blob,)


class _DeferredRecords(Mapping[Any, tuple[Any, ...]]):
    """A loaded topology's records by zone, each zone's unpickled when it is first read."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[Any, tuple[_Shelf, int, int]]) -> None:
        self._entries = entries  # key -> (shelf, position of the records in its value, how many)

    def __getitem__(self, key: Any) -> tuple[Any, ...]:
        shelf, position, _ = self._entries[key]
        records: tuple[Any, ...] = shelf.get()[position]
        return records

    def __iter__(self) -> Iterator[Any]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def count(self) -> int:
        return sum(n for _, _, n in self._entries.values())

    def __reduce__(self) -> tuple[Any, ...]:
        return _DeferredRecords, (self._entries,)


def _shelved_zone(name: str, soa: Any, kind: str, authoritative: bool, has_wildcards: bool,
                  redirects: frozenset[str], shelf: _Shelf, position: int) -> Zone:
    def load() -> tuple[dict[str, dict[int, tuple[Any, ...]]], frozenset[str]]:
        value = shelf.get()
        return value[position], value[position + 1]

    return Zone.deferred(name, soa, kind, authoritative, has_wildcards, load, redirects)


class _Pickler(pickle.Pickler):
    """The payload's pickler: zones go on shelves (above)."""

    def __init__(self, file: Any, shelves: dict[int, tuple[_Shelf, int]], keep: Any) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shelves = shelves  # id(zone) -> its shelf and where its record sets are in the shelf's value
        self._keep = keep  # the objects those ids are of stay alive while this pickler does

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is not Zone:
            return NotImplemented
        shelf, position = self._shelves.get(id(obj)) or (None, 0)
        if shelf is None:
            obj.materialize()
            shelf = _Shelf(value=(obj.nodes, obj._names))
            self._shelves[id(obj)] = (shelf, 0)
        return _shelved_zone, (obj.name, obj.soa, str(obj.kind), obj.authoritative, obj.has_wildcards,
                               obj._redirects, shelf, position)


class _Unpickler(pickle.Unpickler):
    """The payload's unpickler: keeps the zones it makes on shelves (for :meth:`CacheHit.warm`)."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.zones: list[Zone] = []

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_shelved_zone":
            return self._zone
        return super().find_class(module, name)

    def _zone(self, *args: Any) -> Zone:
        zone = _shelved_zone(*args)
        self.zones.append(zone)
        return zone


def _dumps(loaded: LoadedTopology, index: Index) -> bytes:
    """The payload: ``(loaded, index)`` with each zone's records and record sets on a shelf of their own.

    A private zone's shelf holds its loaded records and its compiled record sets together
    (``(records, nodes, names)``): the records they share are written once.
    """
    shelves: dict[int, tuple[_Shelf, int]] = {}
    shared: dict[str, _Shelf] = {}
    for name, zone in index.private_zones.items():
        records = loaded.zone_records.get(name)
        if records is not None:
            zone.materialize()
            shared[name] = shelf = _Shelf(value=(records, zone.nodes, zone._names))
            shelves[id(zone)] = (shelf, 1)

    def deferred(mapping: Mapping[Any, tuple[Any, ...]], share: bool) -> _DeferredRecords:
        entries = {}
        for key, records in mapping.items():
            shelf = shared.get(key) if share else None
            entries[key] = (shelf if shelf is not None else _Shelf(value=(records,)), 0, len(records))
        return _DeferredRecords(entries)

    # dicts never reach a pickler's reducer_override: the loaded topology is pickled with its records replaced
    shelved = dataclasses.replace(loaded, zone_records=deferred(loaded.zone_records, True),
                                  public_records=deferred(loaded.public_records, False),
                                  hosted_records=deferred(loaded.hosted_records, False))
    buffer = io.BytesIO()
    _Pickler(buffer, shelves, (loaded, index)).dump((shelved, index))
    return buffer.getvalue()



def _short(value: Any) -> str:
    return str(value)[:60] if value is not None else "unknown"
