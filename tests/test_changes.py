"""Run-time changes: validated like a file load, atomic, and undone by reset."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology import changes
from dnsemu.topology.changes import ChangeError, ChangeSet
from dnsemu.topology.load import load_topology

BUNDLED = Path(__file__).resolve().parent.parent / "zones" / "topology.yaml"


@pytest.fixture
def changeset() -> ChangeSet:
    return ChangeSet(load_topology(BUNDLED))


def ask(loaded, name: str, source: str, qtype: str = "A"):
    return resolve(compile_topology(loaded), Question(name + ".", RRType.make(qtype)), source)


NEW_PE = {
    "virtual_network": "hub",
    "subnet": "snet-private-endpoints",
    "private_ip_addresses": ["10.0.1.40"],
    "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "newstore"},
    "group_id": "blob",
    "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
}


def test_add_and_remove_private_endpoint(changeset: ChangeSet) -> None:
    before = ask(changeset.current, "newstore.blob.core.windows.net", "10.0.2.4")
    assert before.outcome is Outcome.FORWARD  # nobody knows newstore yet
    loaded = changeset.apply(changes.put_private_endpoint("pe-newstore", NEW_PE))
    after = ask(loaded, "newstore.blob.core.windows.net", "10.0.2.4")
    assert after.source is Source.PRIVATE
    assert after.answer[-1].rdata == ("10.0.1.40",)
    loaded = changeset.apply(changes.delete_private_endpoint("pe-newstore"))
    assert ask(loaded, "newstore.blob.core.windows.net", "10.0.2.4").outcome is Outcome.FORWARD


def test_invalid_change_is_refused_and_changes_nothing(changeset: ChangeSet) -> None:
    bad = dict(NEW_PE, private_ip_addresses=["10.9.9.9"])
    with pytest.raises(ChangeError, match="outside virtual network 'hub'"):
        changeset.apply(changes.put_private_endpoint("pe-bad", bad))
    assert changeset.changes == []
    assert changeset.current is changeset.base


def test_records_and_links(changeset: ChangeSet) -> None:
    changeset.apply(
        changes.add_record("svc.contoso.internal", {"name": "new", "type": "A", "ttl": 30, "values": ["10.0.1.50"]})
    )
    loaded = changeset.apply(changes.add_record("svc.contoso.internal", 'txt 60 TXT "hello"'))
    assert ask(loaded, "new.svc.contoso.internal", "10.0.2.4").answer[0].rdata == ("10.0.1.50",)
    # spoke2 is not linked: its Azure DNS forwards nothing for this domain, so the name goes upstream
    assert ask(loaded, "new.svc.contoso.internal", "10.2.0.4").outcome is Outcome.FORWARD
    loaded = changeset.apply(changes.put_virtual_network_link("svc.contoso.internal", "spoke2"))
    assert ask(loaded, "new.svc.contoso.internal", "10.2.0.4").source is Source.PRIVATE
    loaded = changeset.apply(changes.delete_virtual_network_link("svc.contoso.internal", "spoke2"))
    assert ask(loaded, "new.svc.contoso.internal", "10.2.0.4").outcome is Outcome.FORWARD
    loaded = changeset.apply(changes.delete_record("svc.contoso.internal", "new", "A"))
    assert ask(loaded, "new.svc.contoso.internal", "10.0.2.4").outcome is Outcome.NXDOMAIN


def test_link_policy_change(changeset: ChangeSet) -> None:
    name = "fabrikamstore.blob.core.windows.net"
    assert ask(changeset.current, name, "10.0.2.4").outcome is Outcome.NXDOMAIN
    loaded = changeset.apply(
        changes.put_virtual_network_link(
            "privatelink.blob.core.windows.net", "hub", resolution_policy="NxDomainRedirect"
        )
    )
    assert ask(loaded, name, "10.0.2.4").source is Source.FALLBACK


def test_public_records(changeset: ChangeSet) -> None:
    loaded = changeset.apply(changes.add_record("example.org", "www 300 A 198.51.100.9", public=True))
    result = ask(loaded, "www.example.org", "198.51.100.1")
    assert result.answer[0].rdata == ("198.51.100.9",)
    assert ask(loaded, "nope.example.org", "198.51.100.1").outcome is Outcome.NXDOMAIN


def test_unknown_targets(changeset: ChangeSet) -> None:
    with pytest.raises(ChangeError, match="no private endpoint named 'nope'"):
        changeset.apply(changes.delete_private_endpoint("nope"))
    with pytest.raises(ChangeError, match="no private DNS zone named"):
        changeset.apply(changes.add_record("nozone.example", "a 60 A 10.0.0.1"))
    with pytest.raises(ChangeError, match="no record"):
        changeset.apply(changes.delete_record("svc.contoso.internal", "nothing", "A"))


def test_reset_and_rebase(changeset: ChangeSet) -> None:
    changeset.apply(changes.put_private_endpoint("pe-newstore", NEW_PE))
    rebased = changeset.rebase(load_topology(BUNDLED))
    assert ask(rebased, "newstore.blob.core.windows.net", "10.0.2.4").source is Source.PRIVATE
    base = changeset.reset()
    assert ask(base, "newstore.blob.core.windows.net", "10.0.2.4").outcome is Outcome.FORWARD
