"""The compiled-index cache (issue 18): an unchanged restart skips the build, a changed file never serves stale.

The cache is keyed by the octets of every file the topology was read from (the topology,
its zone files and their ``$INCLUDE``s). Entries are pickles, so the cache trusts only
files this user wrote into a private directory, after checking their checksum; anything
else is ignored with a log line and the topology is built from its files.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Options
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.server.indexcache import MAGIC, SUFFIX, IndexCache, default_cache_dir
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES
from dnsemu.topology.load import load_topology

TOPOLOGY = """\
virtual_networks:
  spoke:
    address_space: [10.20.0.0/16]
private_dns_zones:
  corp.example:
    zone_file: zones/corp.example.zone
    virtual_network_links:
      - virtual_network: spoke
"""
ZONE = """\
$ORIGIN corp.example.
$TTL 300
app A 10.20.0.4
$INCLUDE more.inc
"""
INCLUDED = "db A 10.20.0.5\n"


class Log:
    """Records what the cache logs: (level, event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        def write(event: str, **fields: Any) -> None:
            self.lines.append((level, event, fields))
        return write

    def events(self, name: str) -> list[dict[str, Any]]:
        return [fields for _, event, fields in self.lines if event == name]


def estate(root: Path) -> Path:
    (root / "zones").mkdir(parents=True)
    (root / "zones" / "corp.example.zone").write_text(ZONE)
    (root / "zones" / "more.inc").write_text(INCLUDED)
    path = root / "topology.yaml"
    path.write_text(TOPOLOGY)
    return path


def make_cache(directory: Path, log: Log | None = None) -> IndexCache:
    return IndexCache(directory, options=Options(), max_file_bytes=1 << 20, min_records=0, log=log or Log())


def build(path: Path, cache: IndexCache) -> None:
    loaded = load_topology(path, max_file_bytes=cache.max_file_bytes)
    assert cache.store(loaded, compile_topology(loaded, cache.options))


def address(index: Any, name: str) -> str:
    result = resolve(index, Question(name, RRType.A), "10.20.0.9")
    assert result.rcode == 0, result
    return result.answer[-1].rdata[0]


def entry(directory: Path) -> Path:
    (found,) = directory.glob("*" + SUFFIX)
    return found


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Log, IndexCache]:
    path = estate(tmp_path / "estate")
    directory = tmp_path / "cache"
    log = Log()
    cache = make_cache(directory, log)
    build(path, cache)
    return path, directory, log, cache


def test_an_unchanged_topology_is_a_hit_with_the_same_answers(setup: Any) -> None:
    path, directory, log, cache = setup
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry(directory).stat().st_mode) == 0o600
    hit = cache.lookup(path)
    assert hit is not None
    assert address(hit.index, "app.corp.example.") == "10.20.0.4"
    assert address(hit.index, "db.corp.example.") == "10.20.0.5"  # from the $INCLUDE
    assert hit.loaded.provenance.file == str(path)
    assert log.events("index_cache_hit")


def test_touching_only_the_mtime_is_still_a_hit(setup: Any) -> None:
    path, _, _, cache = setup
    later = time.time() + 120
    for name in ("topology.yaml", "zones/corp.example.zone", "zones/more.inc"):
        os.utime(path.parent / name, (later, later))
    hit = cache.lookup(path)
    assert hit is not None  # content decides, not time: the same octets compile to the same index
    assert address(hit.index, "db.corp.example.") == "10.20.0.5"


@pytest.mark.parametrize("name", ["zones/corp.example.zone", "zones/more.inc", "topology.yaml"])
def test_one_octet_changed_in_any_input_is_a_miss(setup: Any, name: str) -> None:
    path, _, _, cache = setup
    file = path.parent / name
    text = file.read_text()
    if name == "topology.yaml":
        changed = text.replace("10.20.0.0/16", "10.20.0.0/15")
    else:
        changed = text.replace("10.20.0.5", "10.20.0.6").replace("10.20.0.4", "10.20.0.7")
    assert len(changed) == len(text) and changed != text
    stamp = file.stat()
    file.write_text(changed)
    os.utime(file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # even with the old mtime: not stale
    assert cache.lookup(path) is None
    # the rebuilt topology serves the new octets, and becomes the entry
    build(path, cache)
    hit = cache.lookup(path)
    assert hit is not None
    if name == "zones/corp.example.zone":
        assert address(hit.index, "app.corp.example.") == "10.20.0.7"
    elif name == "zones/more.inc":
        assert address(hit.index, "db.corp.example.") == "10.20.0.6"


def test_a_changed_include_is_named_in_the_log(setup: Any) -> None:
    path, _, log, cache = setup
    (path.parent / "zones" / "more.inc").write_text("db A 10.20.0.55\n")
    assert cache.lookup(path) is None
    (ignored,) = log.events("index_cache_ignored")
    assert "more.inc" in ignored["why"]


def rewrite(file: Path, transform: Any) -> None:
    data = file.read_bytes()
    file.write_bytes(transform(data))


def split(data: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    assert data.startswith(MAGIC)
    header, _, payload = data[len(MAGIC):].partition(b"\n")
    return MAGIC, json.loads(header), payload


def join(magic: bytes, header: dict[str, Any], payload: bytes) -> bytes:
    return magic + json.dumps(header).encode() + b"\n" + payload


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


def foreign(data: bytes) -> bytes:
    magic, header, payload = split(data)
    header["dnsemu"] = "0.0.1+someoneelse"
    return join(magic, header, payload)


def evil_payload(data: bytes) -> bytes:
    # a payload that would run code, with a header whose checksum matches it: still not unpickled
    # unless every other check passes; here the key is wrong
    magic, header, _ = split(data)
    import hashlib
    import pickle

    payload = pickle.dumps(("not", "an index"))
    header.update(payload_bytes=len(payload), payload_sha256=hashlib.sha256(payload).hexdigest())
    return join(magic, header, payload)


@pytest.mark.parametrize(("damage", "why"), [
    (lambda d: d[: len(d) // 2], "truncated"),
    (flip_last, "checksum"),
    (lambda d: b"garbage" + d, "foreign or corrupt"),
    (lambda d: MAGIC + b"{not json\n" + d[len(MAGIC):], "unreadable"),
    (foreign, "another dnsemu"),
    (evil_payload, "not a compiled topology"),
    (lambda d: b"", "foreign or corrupt"),
])
def test_a_damaged_or_foreign_entry_is_ignored_with_a_log_line(setup: Any, damage: Any, why: str) -> None:
    path, directory, log, cache = setup
    rewrite(entry(directory), damage)
    assert cache.lookup(path) is None
    (ignored,) = log.events("index_cache_ignored")
    assert why in ignored["why"]
    # the next build replaces it, and that one is trusted again
    build(path, cache)
    assert cache.lookup(path) is not None


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_an_entry_others_may_write_is_never_trusted(setup: Any, mode: int) -> None:
    path, directory, log, cache = setup
    entry(directory).chmod(mode)
    assert cache.lookup(path) is None
    (ignored,) = log.events("index_cache_ignored")
    assert "others may write it" in ignored["why"]


def test_a_symbolic_link_in_place_of_an_entry_is_not_followed(setup: Any, tmp_path: Path) -> None:
    path, directory, log, cache = setup
    found = entry(directory)
    target = tmp_path / "elsewhere.idx"
    found.rename(target)
    found.symlink_to(target)
    assert cache.lookup(path) is None
    assert log.events("index_cache_ignored")


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o701])
def test_a_cache_directory_others_may_enter_is_not_used(setup: Any, mode: int) -> None:
    path, directory, log, cache = setup
    directory.chmod(mode)
    try:
        assert cache.lookup(path) is None
        (unusable,) = log.events("index_cache_unusable")
        assert "0700" in unusable["why"]
        loaded = load_topology(path)
        assert not cache.store(loaded, compile_topology(loaded))  # nor written to
    finally:
        directory.chmod(0o700)


def test_small_estates_are_not_cached(tmp_path: Path) -> None:
    path = estate(tmp_path / "estate")
    cache = IndexCache(tmp_path / "cache", options=Options(), max_file_bytes=1 << 20, min_records=100)
    loaded = load_topology(path)
    assert not cache.store(loaded, compile_topology(loaded))
    assert not (tmp_path / "cache").exists()


def test_the_cache_stays_under_its_bound(tmp_path: Path) -> None:
    path = estate(tmp_path / "estate")
    cache = make_cache(tmp_path / "cache")
    build(path, cache)
    size = entry(tmp_path / "cache").stat().st_size
    cache.max_bytes = int(size * 2.5)
    for n in range(4):  # four more versions of the topology file (each its own key): only the last two fit
        path.write_text(TOPOLOGY + f"# version {n}\n")
        (path.parent / "zones" / "more.inc").write_text(f"db A 10.20.0.{10 + n}\n")
        build(path, cache)
        time.sleep(0.01)  # distinct use times
    entries = list((tmp_path / "cache").glob("*" + SUFFIX))
    assert len(entries) == 2
    hit = cache.lookup(path)
    assert hit is not None and address(hit.index, "db.corp.example.") == "10.20.0.13"


def test_a_changed_zone_file_replaces_the_entry_of_its_topology(setup: Any) -> None:
    path, directory, _, cache = setup
    (path.parent / "zones" / "more.inc").write_text("db A 10.20.0.77\n")
    build(path, cache)
    assert len(list(directory.glob("*" + SUFFIX))) == 1


def test_other_settings_and_other_working_directories_are_other_keys(setup: Any, monkeypatch: Any) -> None:
    path, directory, _, _ = setup
    refusing = IndexCache(directory, options=Options(unknown_sources="refuse"), max_file_bytes=1 << 20, min_records=0)
    assert refusing.lookup(path) is None
    bigger = IndexCache(directory, options=Options(), max_file_bytes=2 << 20, min_records=0)
    assert bigger.lookup(path) is None
    monkeypatch.chdir(path.parent)
    assert make_cache(directory).lookup(path) is None


def test_the_default_directory_follows_xdg() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/srv/cache"}) == Path("/srv/cache/dnsemu/index")
    assert default_cache_dir({"XDG_CACHE_HOME": "relative"}).parts[-3:] == (".cache", "dnsemu", "index")


def test_the_cached_index_pickles_for_workers(setup: Any) -> None:
    import pickle

    path, _, _, cache = setup
    hit = cache.lookup(path)
    assert hit is not None
    again = pickle.loads(pickle.dumps(hit.index))
    assert address(again, "app.corp.example.") == "10.20.0.4"


# --------------------------------------------------------------------------- dnsemu serve, over real sockets


def ask_a(port: int, name: str) -> tuple[int, list[str]]:
    reply = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, source="127.0.0.1",
                          timeout=5)
    return reply.rcode(), [rr.to_text() for rrset in reply.answer for rr in rrset]


def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def events(text: str, name: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == name:
            out.append(entry)
    return out


def test_serve_restarts_from_the_cache_and_never_serves_a_changed_file_stale(tmp_path: Path,
                                                                             serve_process: Any) -> None:
    path = estate(tmp_path / "estate")
    # the topology's VNet holds 127.0.0.1 so that the private zone answers over loopback
    path.write_text(TOPOLOGY.replace("[10.20.0.0/16]", "[10.20.0.0/16, 127.0.0.0/8]"))
    directory = tmp_path / "cache"
    args = ["--topology", str(path), "--listen", "127.0.0.1:0", "--no-watch", "--log-format", "json",
            "--index-cache-dir", str(directory), "--index-cache-min-records", "0"]

    first = serve_process(*args)
    assert ask_a(first.port, "db.corp.example.")[1] == ["10.20.0.5"]
    wait_for(lambda: events(first.stderr(), "index_cache_stored"), "the entry to be written")
    assert events(first.stderr(), "index_cache_miss")
    first.terminate()

    second = serve_process(*args)
    assert events(second.stderr(), "index_cache_hit")
    assert ask_a(second.port, "db.corp.example.")[1] == ["10.20.0.5"]

    # one octet of the included file changes under the running server: SIGHUP reloads it (a miss), never stale
    (path.parent / "zones" / "more.inc").write_text(INCLUDED.replace("0.5", "0.6"))
    second.signal(signal.SIGHUP)
    wait_for(lambda: ask_a(second.port, "db.corp.example.")[1] == ["10.20.0.6"], "the reload")
    wait_for(lambda: events(second.stderr(), "index_cache_stored"), "the new entry")
    # a bad file: the reload fails and the last good topology keeps serving
    (path.parent / "zones" / "more.inc").write_text("db A not-an-address\n")
    second.signal(signal.SIGHUP)
    wait_for(lambda: events(second.stderr(), "topology_reload_failed"), "the failed reload")
    assert ask_a(second.port, "db.corp.example.")[1] == ["10.20.0.6"]
    second.terminate()

    # back to the octets of the last good build: a restart hits the entry the reload wrote
    (path.parent / "zones" / "more.inc").write_text(INCLUDED.replace("0.5", "0.6"))
    third = serve_process(*args)
    assert events(third.stderr(), "index_cache_hit")
    assert ask_a(third.port, "db.corp.example.")[1] == ["10.20.0.6"]
    third.terminate()

    # off: neither read nor written
    fourth = serve_process(*args, "--no-index-cache")
    assert not events(fourth.stderr(), "index_cache_hit") and not events(fourth.stderr(), "index_cache_miss")
    assert ask_a(fourth.port, "db.corp.example.")[1] == ["10.20.0.6"]
    fourth.terminate()


def test_serve_ignores_a_corrupt_entry_and_rebuilds_it(tmp_path: Path, serve_process: Any) -> None:
    path = estate(tmp_path / "estate")
    path.write_text(TOPOLOGY.replace("[10.20.0.0/16]", "[10.20.0.0/16, 127.0.0.0/8]"))
    directory = tmp_path / "cache"
    # the settings of ``dnsemu serve``'s defaults, so that it looks for this very entry
    cache = IndexCache(directory, options=Options(), max_file_bytes=DEFAULT_MAX_FILE_BYTES, min_records=0)
    build(path, cache)
    rewrite(entry(directory), flip_last)
    proc = serve_process("--topology", str(path), "--listen", "127.0.0.1:0", "--no-watch", "--log-format", "json",
                         "--index-cache-dir", str(directory), "--index-cache-min-records", "0")
    (ignored,) = events(proc.stderr(), "index_cache_ignored")
    assert "checksum" in ignored["why"]
    assert ask_a(proc.port, "app.corp.example.")[1] == ["10.20.0.4"]
    wait_for(lambda: events(proc.stderr(), "index_cache_stored"), "the rebuilt entry")
    proc.terminate()
    assert cache.lookup(path) is not None
