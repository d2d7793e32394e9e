"""The compiled-index cache's shelves (issue 18: an unchanged restart of 1M records ready in ≤ 2 s).

A restart from the cache must answer soon, and unpickling a million records and a
million per-name dictionaries took most of a 4 s restart. An entry therefore keeps each
zone's record sets, and the records the topology was loaded with, on a *shelf*: a nested
pickle unpickled when something first reads that zone. These tests hold the shelved
index to a freshly compiled one (every answer, every trace, on every bundled estate and
from every network), check that nothing is unpickled before it is read, that what is
shared is shared, and that ``dnsemu serve`` warms the shelves once it is ready.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest
from sweep import questions, reading, sources
from test_index_cache import events

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Options
from dnsemu.core.resolver import resolve
from dnsemu.core.zone import Found, Zone, ZoneKind, soa_record
from dnsemu.dns.records import Question, Record, RRType
from dnsemu.server.indexcache import IndexCache
from dnsemu.topology.load import load_topology

ESTATES = Path(__file__).resolve().parents[1] / "dnsemu" / "estates"

TOPOLOGY = """\
virtual_networks:
  spoke:
    address_space: [10.20.0.0/16, 127.0.0.0/8]
  other:
    address_space: [10.30.0.0/16]
private_dns_zones:
  corp.example:
    zone_file: zones/corp.example.zone
    virtual_network_links:
      - virtual_network: spoke
  privatelink.blob.core.windows.net:
    zone_file: zones/blob.zone
    virtual_network_links:
      - virtual_network: spoke
      - virtual_network: other
"""
CORP = """\
$ORIGIN corp.example.
$TTL 300
app A 10.20.0.4
app A 10.20.0.5
*.web A 10.20.0.8
alias CNAME app
deep.ent.below TXT "an empty non-terminal above"
"""
BLOB = """\
$ORIGIN privatelink.blob.core.windows.net.
$TTL 10
acct A 10.20.1.4
"""


def make_cache(directory: Path) -> IndexCache:
    return IndexCache(directory, options=Options(), max_file_bytes=1 << 22, min_records=0)


def small_estate(root: Path) -> Path:
    (root / "zones").mkdir(parents=True)
    (root / "zones" / "corp.example.zone").write_text(CORP)
    (root / "zones" / "blob.zone").write_text(BLOB)
    path = root / "topology.yaml"
    path.write_text(TOPOLOGY)
    return path


def stored_and_hit(path: Path, directory: Path) -> tuple[Any, Any, Any]:
    """(the loaded topology, its fresh index, the cache's hit) for the topology at ``path``."""
    cache = make_cache(directory)
    loaded = load_topology(path, max_file_bytes=cache.max_file_bytes)
    index = compile_topology(loaded, cache.options)
    assert cache.store(loaded, index)
    hit = cache.lookup(path)
    assert hit is not None
    return loaded, index, hit








@pytest.mark.parametrize("estate", sorted(p.name for p in ESTATES.iterdir() if (p / "topology.yaml").is_file()))
def test_a_shelved_index_answers_every_question_as_a_fresh_compile(estate: str, tmp_path: Path) -> None:
    loaded, index, hit = stored_and_hit(ESTATES / estate / "topology.yaml", tmp_path / "cache")
    asked = 0
    for source in sources(loaded):
        for question in questions(loaded, index):
            assert reading(resolve(hit.index, question, source)) == reading(resolve(index, question, source)), \
                (estate, source, question)
            asked += 1
    assert asked > 100
    # the questions reached every private zone (the rest, RFC 6303 and reverse zones, need no reading here)
    assert hit.zones and not [z for z in hit.index.private_zones.values() if z.pending]
    assert hit.loaded == loaded  # records, model and provenance: the topology as it was loaded


def test_nothing_is_unpickled_before_it_is_read(tmp_path: Path) -> None:
    _, _, hit = stored_and_hit(small_estate(tmp_path / "estate"), tmp_path / "cache")
    private = hit.index.private_zones
    assert set(private) == {"corp.example.", "privatelink.blob.core.windows.net."}
    assert all(zone.pending for zone in private.values())
    assert {id(zone) for zone in private.values()} <= {id(zone) for zone in hit.zones}
    # what every answer needs at once is there without the record sets: apex, SOA, flags
    corp = private["corp.example."]
    assert (corp.name, corp.kind, corp.authoritative, corp.has_wildcards) == ("corp.example.", ZoneKind.PRIVATE,
                                                                              True, True)
    assert corp.negative[0].ttl == 10 and corp.pending
    # counting the loaded records (the cache's log line) reads no shelf either
    assert make_cache(tmp_path / "cache").cacheable(hit.loaded)
    assert all(zone.pending for zone in private.values())

    answer = resolve(hit.index, Question("acct.privatelink.blob.core.windows.net.", RRType.A), "10.30.0.9")
    assert [r.rdata[0] for r in answer.answer] == ["10.20.1.4"]
    assert not private["privatelink.blob.core.windows.net."].pending
    assert private["corp.example."].pending  # the other zone was not needed


def test_a_private_zone_and_its_loaded_records_share_one_shelf(tmp_path: Path, monkeypatch: Any) -> None:
    loaded, _, hit = stored_and_hit(small_estate(tmp_path / "estate"), tmp_path / "cache")
    unpickled = []
    real_loads = pickle.loads
    monkeypatch.setattr(pickle, "loads", lambda data: unpickled.append(len(data)) or real_loads(data))
    zone = hit.index.private_zones["privatelink.blob.core.windows.net."]
    (record,) = hit.loaded.zone_records["privatelink.blob.core.windows.net."]
    assert len(unpickled) == 1 and zone.pending
    assert zone.nodes["acct.privatelink.blob.core.windows.net."][RRType.A][0] is record  # the same object
    assert len(unpickled) == 1 and not zone.pending  # the zone's sets came with the records: one unpickle
    assert record == loaded.zone_records["privatelink.blob.core.windows.net."][0]


def test_a_hit_pickles_again_for_workers_and_for_a_new_entry(tmp_path: Path) -> None:
    path = small_estate(tmp_path / "estate")
    loaded, index, hit = stored_and_hit(path, tmp_path / "cache")
    question = Question("x.web.corp.example.", RRType.A)  # a wildcard's answer
    expected = reading(resolve(index, question, "10.20.0.9"))
    # a worker receives the index and the topology pickled: shelved zones and records travel whole
    again_loaded, again_index = pickle.loads(pickle.dumps((hit.loaded, hit.index)))
    assert reading(resolve(again_index, question, "10.20.0.9")) == expected
    assert again_loaded == loaded
    # an entry written from a hit (nothing read yet) is an entry like any other
    other = make_cache(tmp_path / "other")
    assert other.store(hit.loaded, hit.index)
    second = other.lookup(path)
    assert second is not None and reading(resolve(second.index, question, "10.20.0.9")) == expected
    assert second.loaded == loaded


def test_a_deferred_zone_is_the_zone_it_stands_for() -> None:
    records = [Record("app.corp.example.", RRType.A, 300, ("10.0.0.4",)),
               Record("*.web.corp.example.", RRType.A, 300, ("10.0.0.8",)),
               Record("deep.ent.corp.example.", RRType.TXT, 300, ("x",))]
    eager = Zone("corp.example.", soa_record("corp.example."), records, kind="private")
    loads = []

    def load() -> Any:
        loads.append(1)
        return eager.nodes, eager._names

    lazy = Zone.deferred("corp.example.", eager.soa, "private", True, eager.has_wildcards, load)
    assert lazy.pending and not loads
    assert lazy.negative == eager.negative == (eager.soa.with_ttl(10),)  # RFC 2308 §5: min(SOA TTL, minimum)
    assert repr(lazy) == repr(eager) and len(loads) == 1 and not lazy.pending  # the first read made it
    for name in ("app.corp.example.", "a.web.corp.example.", "ent.corp.example.", "nope.corp.example."):
        for qtype in (RRType.A, RRType.TXT):
            assert lazy.lookup(name, qtype) == eager.lookup(name, qtype)
    assert lazy.lookup("ent.corp.example.", RRType.A) == (Found.NODATA, ())
    assert len(loads) == 1
    with pytest.raises(AttributeError):
        _ = lazy.no_such_attribute
    # pickled (to a worker), a deferred zone goes whole, made first
    fresh = Zone.deferred("corp.example.", eager.soa, "private", True, eager.has_wildcards, load)
    copy = pickle.loads(pickle.dumps(fresh))
    assert not copy.pending and copy.exists("ent.corp.example.") and len(copy) == len(eager)




def test_serve_answers_from_shelves_and_warms_them_once_ready(tmp_path: Path, serve_process: Any) -> None:
    import time

    path = small_estate(tmp_path / "estate")
    directory = tmp_path / "cache"
    args = ["--topology", str(path), "--listen", "127.0.0.1:0", "--no-watch", "--log-format", "json",
            "--index-cache-dir", str(directory), "--index-cache-min-records", "0"]
    first = serve_process(*args)
    deadline = time.monotonic() + 60
    while not events(first.stderr(), "index_cache_stored"):
        assert time.monotonic() < deadline, "the entry was not written"
        time.sleep(0.05)
    assert not events(first.stderr(), "index_zones_warmed")  # built from its files: nothing on a shelf
    first.terminate()

    second = serve_process(*args)
    (hit,) = events(second.stderr(), "index_cache_hit")
    assert hit["deferred_zones"] >= 2 and hit["records"] == 6  # the two private zones, and reverse ones
    reply = dns.query.udp(dns.message.make_query("alias.corp.example.", "A"), "127.0.0.1", port=second.port,
                          source="127.0.0.1", timeout=5)
    assert sorted(rr.to_text() for rrset in reply.answer for rr in rrset) == [
        "10.20.0.4", "10.20.0.5", "app.corp.example."]
    deadline = time.monotonic() + 60
    while not events(second.stderr(), "index_zones_warmed"):
        assert time.monotonic() < deadline, "the shelves were not warmed"
        time.sleep(0.05)
    (warmed,) = events(second.stderr(), "index_zones_warmed")
    assert warmed["zones"] == hit["deferred_zones"] and warmed["made"] <= warmed["zones"]
    second.terminate()


def test_a_first_start_makes_its_large_zones_once_ready_then_writes_the_entry(tmp_path: Path,
                                                                            serve_process: Any) -> None:
    import time

    path = small_estate(tmp_path / "estate")
    # a private zone of 1,200 records: a first start defers it (compile_topology(defer_zones=True))
    (path.parent / "zones" / "blob.zone").write_text(BLOB + "".join(f"h{i} A 10.20.{i // 250}.{i % 250 + 1}\n"
                                                                    for i in range(1200)))
    directory = tmp_path / "cache"
    args = ["--topology", str(path), "--listen", "127.0.0.1:0", "--no-watch", "--log-format", "json",
            "--index-cache-dir", str(directory), "--index-cache-min-records", "0"]
    first = serve_process(*args)
    reply = dns.query.udp(dns.message.make_query("h1199.privatelink.blob.core.windows.net.", "A"), "127.0.0.1",
                          port=first.port, source="127.0.0.1", timeout=5)
    assert [rr.to_text() for rrset in reply.answer for rr in rrset] == ["10.20.4.200"]
    deadline = time.monotonic() + 60
    while not events(first.stderr(), "index_cache_stored"):
        assert time.monotonic() < deadline, "the entry was not written"
        time.sleep(0.05)
    lines = [json.loads(line).get("event") for line in first.stderr().splitlines() if line.startswith("{")]
    # the order: ready, the deferred zone made, then the entry written (by a child of a started server)
    assert lines.index("server_started") < lines.index("index_zones_warmed") < lines.index("index_cache_stored")
    (warmed,) = events(first.stderr(), "index_zones_warmed")
    assert warmed["zones"] == 1 and warmed["made"] in (0, 1)  # the query above may have made it first
    first.terminate()

    second = serve_process(*args)
    assert events(second.stderr(), "index_cache_hit")
    reply = dns.query.udp(dns.message.make_query("h7.privatelink.blob.core.windows.net.", "A"), "127.0.0.1",
                          port=second.port, source="127.0.0.1", timeout=5)
    assert [rr.to_text() for rrset in reply.answer for rr in rrset] == ["10.20.0.8"]
    second.terminate()
