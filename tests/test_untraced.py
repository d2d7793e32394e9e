"""Resolution without a trace (what a server does when nobody reads it) gives the traced answer.

The handler resolves with ``trace=False`` unless the query log or an observer reads the
events: the resolver then builds no steps on its common paths. Whatever it still needs from
the path (the firewall DNS proxy cache, the hosted-zone chain count) must survive: every
Case table of the suite, and a sweep of every owner name of the bundled estate from every
network, resolve to the same Resolution with and without the trace (the trace aside).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index
from dnsemu.core.resolution import Resolution
from dnsemu.core.resolver import resolve
from dnsemu.dns import names
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.load import load_topology, load_topology_data

#: test module -> (its Case tables, how it builds its index)
TABLES: dict[str, tuple[tuple[str, ...], Callable[[Any], Index]]] = {
    "test_resolver": (("ESTATE_CASES", "LAB_CASES"), lambda m: compile_topology(load_topology(m.ZONES))),
    "test_firewall": (("CASES",), lambda m: compile_topology(load_topology_data(copy.deepcopy(m.ESTATE)))),
    "test_custom_zones": (("CASES",), lambda m: compile_topology(load_topology_data(copy.deepcopy(m.ESTATE)))),
    "test_delegation": (("CASES",), lambda m: compile_topology(load_topology_data(m.TOPOLOGY))),
    "test_security_policy": (("CASES",), lambda m: compile_topology(load_topology_data(m.data()))),
    "test_precedence": (("CASES",), lambda m: compile_topology(load_topology_data(yaml.safe_load(m.ESTATE)))),
    "test_services": (("CASES",), lambda m: compile_topology(load_topology_data(copy.deepcopy(m.ESTATE)))),
}


def _cases() -> Iterator[Any]:
    for module_name, (tables, build) in TABLES.items():
        module = importlib.import_module(module_name)
        for table in tables:
            for case in getattr(module, table):
                index_of = build
                if table == "LAB_CASES":
                    def index_of(m: Any) -> Index:
                        return compile_topology(load_topology_data(m.LAB))
                yield pytest.param(module_name, index_of, case, id=f"{module_name}:{table}:{case.id}")


_INDEXES: dict[tuple[str, Any], Index] = {}


def _index(module_name: str, build: Callable[[Any], Index]) -> Index:
    key = (module_name, build.__code__)
    if key not in _INDEXES:
        _INDEXES[key] = build(importlib.import_module(module_name))
    return _INDEXES[key]


def _same(traced: Resolution, untraced: Resolution) -> None:
    assert untraced.trace == ()
    assert dataclasses.replace(untraced, trace=()) == dataclasses.replace(traced, trace=()), traced.trace_text()


@pytest.mark.parametrize(("module_name", "build", "case"), list(_cases()))
def test_every_case_resolves_the_same_without_a_trace(module_name: str, build: Callable[[Any], Index],
                                                      case: Any) -> None:
    index = _index(module_name, build)
    question = Question(names.parse(case.name.rstrip(".") + "."), RRType.make(getattr(case, "qtype", "A")))
    _same(resolve(index, question, case.source), resolve(index, question, case.source, trace=False))


def test_every_name_of_the_bundled_estate_from_every_network() -> None:
    """§9: every owner of every zone, four types, asked from inside every modelled network and the internet."""
    module = importlib.import_module("test_resolver")
    index = compile_topology(load_topology(module.ZONES))
    sources = ["198.51.100.7"]
    for network in index.networks.values():
        for prefix in network.prefixes[:1]:
            sources.append(str(next(ipaddress.ip_network(prefix, strict=False).hosts())))
    owners = {name for zone in index.private_zones.values() for name in zone.nodes}
    owners |= {name for zone in index.public.zones.values() for name in zone.nodes}
    owners |= {"nothing-here." + name for name in list(owners)[:50]}
    checked = 0
    for source in sources:
        for owner in sorted(owners):
            for qtype in (RRType.A, RRType.AAAA, RRType.CNAME, RRType.TXT):
                question = Question(owner, qtype)
                _same(resolve(index, question, source), resolve(index, question, source, trace=False))
                checked += 1
    assert checked > 1000
