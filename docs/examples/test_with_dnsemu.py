"""dnsemu as a pytest fixture: a complete example (docs/fixture.md); copy it next to your tests.

Run with ``pytest`` once dnsemu is installed: the plugin registers the ``dnsemu``
fixture by itself.
"""

from __future__ import annotations

import pytest

from dnsemu.testing import ChangeError, Emulator

# The estate under test, as you would write it in topology.yaml (a path works too).
TOPOLOGY = {
    "virtual_networks": {
        "hub": {"address_space": ["10.0.0.0/16"], "subnets": {"snet-pe": {"address_prefix": "10.0.1.0/24"}}},
        "spoke": {"address_space": ["10.1.0.0/16"]},
    },
    "private_dns_zones": {
        # linked to the hub only: the spoke resolves storage accounts publicly
        "privatelink.blob.core.windows.net": {"virtual_network_links": [{"virtual_network": "hub"}]},
        "corp.example": {
            "virtual_network_links": [{"virtual_network": "hub"}, {"virtual_network": "spoke"}],
            "records": ["app 60 A 10.0.2.10"],
        },
    },
    "private_endpoints": {
        "pe-contosodata": {
            "virtual_network": "hub",
            "subnet": "snet-pe",
            "private_ip_addresses": ["10.0.1.4"],
            "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "contosodata"},
            "group_id": "blob",
            "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
        },
    },
    # another tenant's account, with a private endpoint in *their* network
    "resources": {"partnerdata": {"type": "Microsoft.Storage/storageAccounts", "private_endpoint_groups": ["blob"]}},
}


@pytest.fixture(scope="session")
def dnsemu_topology():
    """What the dnsemu fixture serves; one server for every test that uses this topology."""
    return TOPOLOGY


def test_split_horizon(dnsemu):
    # `source` is an address, or the name of a VNet, on-premises site or VM, or "internet"
    hub = dnsemu.query("contosodata.blob.core.windows.net", source="hub")
    assert hub.rcode == "NOERROR"
    assert hub.addresses == ["10.0.1.4"]
    assert hub.cnames == ["contosodata.privatelink.blob.core.windows.net."]

    spoke = dnsemu.query("contosodata.blob.core.windows.net", source="10.1.0.4")
    assert spoke.addresses and spoke.addresses != ["10.0.1.4"]  # the public address

    assert dnsemu.query("app.corp.example", source="spoke").addresses == ["10.0.2.10"]
    assert dnsemu.query("app.corp.example", source="internet").rcode != "NOERROR"


def test_a_private_endpoint_created_during_the_test(dnsemu):
    dnsemu.add_private_endpoint(
        "pe-newdata",
        virtual_network="hub",
        subnet="snet-pe",
        private_ip_addresses=["10.0.1.5"],
        resource={"type": "Microsoft.Storage/storageAccounts", "name": "newdata"},
        group_id="blob",
        private_dns_zone_group=["privatelink.blob.core.windows.net"],
    )
    # visible to the very next query, over UDP or TCP
    assert dnsemu.query("newdata.blob.core.windows.net", source="hub").addresses == ["10.0.1.5"]
    assert dnsemu.query("newdata.blob.core.windows.net", source="hub", tcp=True).addresses == ["10.0.1.5"]

    dnsemu.remove_private_endpoint("pe-newdata")
    assert dnsemu.query("newdata.blob.core.windows.net", source="hub").addresses != ["10.0.1.5"]


def test_changes_do_not_leak_into_the_next_test(dnsemu):
    # the fixture resets the server before each test
    assert dnsemu.topology()["changes"] == []
    assert dnsemu.query("newdata.blob.core.windows.net", source="hub").addresses != ["10.0.1.5"]


def test_records_and_links(dnsemu):
    dnsemu.add_record("corp.example", "db 60 A 10.0.2.20")
    assert dnsemu.query("db.corp.example", source="spoke").addresses == ["10.0.2.20"]

    # the classic Private Link trap: a linked privatelink zone without the partner's record
    assert dnsemu.query("partnerdata.blob.core.windows.net", source="hub").rcode == "NXDOMAIN"
    dnsemu.link("privatelink.blob.core.windows.net", "hub", resolution_policy="NxDomainRedirect")
    fixed = dnsemu.query("partnerdata.blob.core.windows.net", source="hub")
    assert fixed.rcode == "NOERROR" and fixed.addresses

    dnsemu.unlink("privatelink.blob.core.windows.net", "hub")
    assert dnsemu.query("contosodata.blob.core.windows.net", source="hub").addresses != ["10.0.1.4"]


def test_an_invalid_change_is_refused_and_changes_nothing(dnsemu):
    with pytest.raises(ChangeError, match="outside"):
        dnsemu.add_private_endpoint(
            "pe-wrong",
            virtual_network="hub",
            subnet="snet-pe",
            private_ip_addresses=["192.168.9.9"],  # not in the hub's address space
            resource={"type": "Microsoft.Storage/storageAccounts", "name": "wrong"},
            group_id="blob",
        )
    assert dnsemu.topology()["changes"] == []


def test_the_query_log(dnsemu):
    dnsemu.query("contosodata.blob.core.windows.net", source="hub")
    dnsemu.query("missing.corp.example", source="spoke")
    first, second = dnsemu.queries
    assert (first["view"], first["kind"], first["rcode"]) == ("vnet:hub", "private", "NOERROR")
    assert (second["view"], second["kind"], second["rcode"]) == ("vnet:spoke", "nxdomain_private", "NXDOMAIN")


def test_explain_says_why(dnsemu):
    why = dnsemu.explain("partnerdata.blob.core.windows.net", source="hub")
    assert why["rcode"] == "NXDOMAIN" and why["answer_kind"] == "nxdomain_private"
    assert any("privatelink.blob.core.windows.net" in step["text"] for step in why["trace"])


@pytest.mark.dnsemu_topology({"virtual_networks": {"lab": {"address_space": ["10.9.0.0/16"]}},
                              "private_dns_zones": {"lab.example": {
                                  "virtual_network_links": [{"virtual_network": "lab"}],
                                  "records": ["www 60 A 10.9.0.80"]}}})
def test_a_topology_of_its_own(dnsemu):
    # a marked test gets a server for its own topology
    assert dnsemu.query("www.lab.example", source="lab").addresses == ["10.9.0.80"]
    assert dnsemu.query("contosodata.blob.core.windows.net", source="10.9.0.4").addresses != ["10.0.1.4"]


def test_two_emulators_without_the_fixture():
    # the same API without pytest: each Emulator is a server of its own on an ephemeral port
    with Emulator(TOPOLOGY) as one, Emulator(TOPOLOGY) as two:
        one.add_record("corp.example", "only-in-one 60 A 10.0.2.99")
        assert one.query("only-in-one.corp.example", source="hub").addresses == ["10.0.2.99"]
        assert two.query("only-in-one.corp.example", source="hub").rcode == "NXDOMAIN"
        assert one.port != two.port
