"""Which names a compiled zone holds: its owners and every empty non-terminal above them (RFC 4592 §2.2.2),
so that a lookup can tell NODATA from NXDOMAIN (RFC 8020); names with escaped dots walked label by label."""

from __future__ import annotations

import pytest

from dnsemu.core.zone import Zone, ZoneKind
from dnsemu.dns.records import make


def zone(apex: str, *owners: str) -> Zone:
    soa = make(apex, "SOA", 3600, "ns.example. hostmaster.example. 1 3600 300 2419200 10")
    return Zone(apex, soa, [make(owner, "A", 300, "10.0.0.1") for owner in owners], kind=ZoneKind.PRIVATE)


@pytest.mark.parametrize(("name", "held"), [
    ("a.b.c.corp.test.", True),  # an owner
    ("b.c.corp.test.", True),  # empty non-terminals between it and the apex
    ("c.corp.test.", True),
    ("corp.test.", True),  # the apex
    ("x.c.corp.test.", False),
    ("d.corp.test.", False),
    ("x\\.y.corp.test.", True),  # one label with a dot in it: its parent is the apex
    ("y.corp.test.", False),  # ... not y.corp.test.
])
def test_owners_and_the_empty_non_terminals_above_them_exist(name: str, held: bool) -> None:
    z = zone("corp.test.", "a.b.c.corp.test.", "x\\.y.corp.test.")
    assert z.exists(name) is held


def test_in_the_root_zone_a_top_level_owner_has_the_root_as_parent() -> None:
    z = zone(".", "host.tld.", "tld2.")
    assert z.exists("tld.") and z.exists("tld2.") and z.exists(".") and not z.exists("other.")
    assert z._names == {".", "tld.", "host.tld.", "tld2."}  # and nothing else (no empty text for a name)
