"""``compile_topology(defer_zones=True)`` (issue 18: the first start of 1M records ready in ≤ 10 s).

Building a million per-name record sets took a second and a half of the first start, before
the first answer. With ``defer_zones`` (``dnsemu serve``'s first build) a large private zone
is a :meth:`Zone.deferred` zone: its apex, SOA, negative answer and wildcard flag are made at
once, its record sets when it is first read; the server warms them once ready. These tests
hold such an index to one compiled at once: every zone the same once read, every answer and
trace the same on every bundled estate and from every network, read in any order.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from sweep import questions, reading, sources

from dnsemu.core import compile as compile_module
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolver import resolve
from dnsemu.core.zone import Found
from dnsemu.dns.records import RRType
from dnsemu.server.live import LiveTopology
from dnsemu.topology.load import load_topology, load_topology_data

ESTATES = Path(__file__).resolve().parents[1] / "dnsemu" / "estates"

CORP = [
    "app 300 A 10.20.0.4", "app 60 A 10.20.0.5", "app 300 TXT hello",
    "*.web 300 A 10.20.0.8", "alias 300 CNAME app", "deep.ent.below 300 TXT below",
    "mail 300 MX 10 app", "*.corp.example. 300 TXT wild",
]


def estate(records: list[str] = CORP) -> Any:
    return load_topology_data({
        "virtual_networks": {"spoke": {"address_space": ["10.20.0.0/16"]}},
        "private_dns_zones": {
            "corp.example": {"records": records, "virtual_network_links": [{"virtual_network": "spoke"}]},
            "small.example": {"records": ["one 60 A 10.20.9.9"],
                              "virtual_network_links": [{"virtual_network": "spoke"}]},
        },
    })


def state(zone: Any) -> tuple[Any, ...]:
    return (zone.name, zone.soa, zone.kind, zone.authoritative, zone.has_wildcards, zone._redirects, zone.negative,
            zone.nodes, zone._names)


def test_a_deferred_zone_is_made_as_at_once_when_first_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_module, "DEFER_MIN_RECORDS", 2)
    loaded = estate()
    eager, lazy = compile_topology(loaded), compile_topology(loaded, defer_zones=True)
    corp, small = lazy.private_zones["corp.example."], lazy.private_zones["small.example."]
    assert corp.pending and not small.pending  # one record: under the (patched) threshold, built at once
    assert not any(z.pending for z in eager.private_zones.values())
    # what a lookup needs first is there before the record sets
    assert corp.has_wildcards and corp.negative == eager.private_zones["corp.example."].negative and corp.pending
    assert corp.lookup("absent.app.corp.example.", RRType.A) == (Found.NXDOMAIN, ())  # a read: made now
    assert not corp.pending
    for name, zone in eager.private_zones.items():
        assert state(lazy.private_zones[name]) == state(zone)
    assert lazy.stats == eager.stats


def test_without_a_wildcard_the_flag_says_so_before_the_first_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_module, "DEFER_MIN_RECORDS", 2)
    lazy = compile_topology(estate([r for r in CORP if not r.startswith("*")]), defer_zones=True)
    corp = lazy.private_zones["corp.example."]
    assert corp.pending and not corp.has_wildcards
    assert corp.lookup("nothing.corp.example.", RRType.A) == (Found.NXDOMAIN, ())
    assert corp.lookup("below.corp.example.", RRType.A) == (Found.NODATA, ())  # an empty non-terminal


def test_a_deferred_zone_pickles_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_module, "DEFER_MIN_RECORDS", 2)
    loaded = estate()
    eager, lazy = compile_topology(loaded), compile_topology(loaded, defer_zones=True)
    copy = pickle.loads(pickle.dumps(lazy.private_zones["corp.example."]))
    assert not copy.pending and state(copy) == state(eager.private_zones["corp.example."])


def test_zones_under_the_threshold_are_built_at_once() -> None:
    lazy = compile_topology(estate(), defer_zones=True)  # a few records: under DEFER_MIN_RECORDS
    assert len(CORP) < compile_module.DEFER_MIN_RECORDS
    assert not any(z.pending for z in lazy.private_zones.values())








@pytest.mark.parametrize("estate_name", sorted(p.name for p in ESTATES.iterdir() if (p / "topology.yaml").is_file()))
def test_a_deferred_index_answers_every_question_as_one_built_at_once(estate_name: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_module, "DEFER_MIN_RECORDS", 1)  # every private zone with a record: deferred
    loaded = load_topology(ESTATES / estate_name / "topology.yaml")
    eager, lazy = compile_topology(loaded), compile_topology(loaded, defer_zones=True)
    pending = [z for z in lazy.private_zones.values() if z.pending]
    assert pending or not any(loaded.zone_records.values())
    asked = 0
    for source in sources(loaded):
        for question in reversed(questions(loaded, eager)):  # the deferred zones are read by the questions
            assert reading(resolve(lazy, question, source)) == reading(resolve(eager, question, source)), \
                (estate_name, source, question)
            asked += 1
    assert asked > 100
    assert not [z.name for z in pending if z.pending]  # every deferred zone was reached, and made then
    for name, zone in eager.private_zones.items():
        assert state(lazy.private_zones[name]) == state(zone)


def test_the_first_build_of_a_served_topology_hands_its_deferred_zones_to_the_warm_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dnsemu.core.index import Options

    monkeypatch.setattr(compile_module, "DEFER_MIN_RECORDS", 2)
    installed: list[Any] = []
    live = LiveTopology(None, estate(), options=Options(), install=installed.append, log=None, reloads={},
                        record_error=lambda exc: None)
    index = live.load()
    assert installed == [index]
    assert [z.name for z in live.deferred] == ["corp.example."] and live.deferred[0].pending
    assert index.private_zones["corp.example."] is live.deferred[0]
