"""Every commercial catalog row, end to end through the core.

For each (resource type, group id) a private endpoint is generated; each of its FQDNs
must resolve to the endpoint's private IP from a linked VNet and, through the public
chain, to a public address from the internet.
"""

from __future__ import annotations

import ipaddress

import pytest

from dnsemu.catalog import Catalog, CatalogError
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.load import load_topology_data

PLACEHOLDERS = {"partitionId": "1", "dnsPrefix": "a1b2c3d4e5f6"}


def generated_estate():
    catalog = Catalog.load("AzureCloud")
    pool = ipaddress.ip_network("10.0.0.0/16").hosts()
    next(pool), next(pool), next(pool)  # Azure keeps .1-.3
    endpoints, zones, expected = {}, set(), []
    for i, service in enumerate(catalog.services):
        for j, group in enumerate(service.group_ids):
            name = f"r{i}g{j}"
            try:
                resolved = catalog.endpoints(
                    service.resource_type, group, name, "eastus", variant=service.variant, **PLACEHOLDERS
                )
            except CatalogError as exc:  # pragma: no cover - a row the catalog cannot fill
                pytest.fail(f"{service.resource_type} {group}: {exc}")
            if not resolved:
                continue
            ips = [str(next(pool)) for _ in resolved]
            group_zones = sorted({e.private_zone for e in resolved})
            zones.update(group_zones)
            resource = {
                "type": service.resource_type,
                "name": name,
                "dns_prefix": PLACEHOLDERS["dnsPrefix"],
                "partition_id": PLACEHOLDERS["partitionId"],
            }
            if service.variant:
                resource["variant"] = service.variant
            endpoints[f"pe-{name}"] = {
                "virtual_network": "hub",
                "private_ip_addresses": ips,
                "resource": resource,
                "group_id": group,
                "private_dns_zone_group": group_zones,
            }
            expected.extend(
                (service.resource_type, group, e.public_fqdn, ip) for e, ip in zip(resolved, ips, strict=True)
            )
    data = {
        "virtual_networks": {"hub": {"address_space": ["10.0.0.0/16"]}},
        "private_dns_zones": {z: {"virtual_network_links": [{"virtual_network": "hub"}]} for z in zones},
        "private_endpoints": endpoints,
    }
    return compile_topology(load_topology_data(data)), expected


ESTATE, EXPECTED = None, []


def setup_module() -> None:
    global ESTATE, EXPECTED
    ESTATE, EXPECTED = generated_estate()


def test_every_row_produced_endpoints() -> None:
    catalog = Catalog.load("AzureCloud")
    rows = {(s.resource_type, s.variant) for s in catalog.services}
    covered = {t for t, _g, _f, _ip in EXPECTED}
    assert {t for t, _v in rows} == covered
    assert len(EXPECTED) >= 120


def test_each_endpoint_private_from_linked_vnet_and_public_from_internet() -> None:
    failures = []
    for rtype, group, fqdn, ip in EXPECTED:
        inside = resolve(ESTATE, Question(fqdn, RRType.A), "10.0.200.1")
        if (
            inside.outcome is not Outcome.ANSWER
            or inside.source is not Source.PRIVATE
            or inside.answer[-1].rdata != (ip,)
            or inside.answer[0].rtype != RRType.CNAME
        ):
            failures.append(f"{rtype} {group} {fqdn} inside: {inside.outcome} {inside.trace_text()[-1]}")
        outside = resolve(ESTATE, Question(fqdn, RRType.A), "198.51.100.20")
        if (
            outside.outcome is not Outcome.ANSWER
            or outside.source is not Source.PUBLIC
            or ipaddress.ip_address(outside.answer[-1].rdata[0]) not in ipaddress.ip_network("203.0.113.0/24")
        ):
            failures.append(f"{rtype} {group} {fqdn} outside: {outside.outcome} {outside.trace_text()[-1]}")
        elif "privatelink" not in outside.answer[0].rdata[0] and "privatelink" not in outside.answer[1].name:
            failures.append(f"{rtype} {group} {fqdn}: public chain has no privatelink alias")
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------- rows written from the facts, not the catalog

#: (resource type, group id, name) -> [(public FQDN, private FQDN)], from facts §2.2 (zone table), §1.1 (Key Vault's
#: vault.azure.net -> privatelink.vaultcore.azure.net) and §1.5 (ACR's regional data endpoint, App Service's scm and
#: Foundry's three zones, one record each), written out by hand for the East US region
FACT_ROWS = {
    ("Microsoft.Storage/storageAccounts", "blob", "acct"): [
        ("acct.blob.core.windows.net.", "acct.privatelink.blob.core.windows.net.")],
    ("Microsoft.Sql/servers", "sqlServer", "contoso-sql"): [
        ("contoso-sql.database.windows.net.", "contoso-sql.privatelink.database.windows.net.")],
    ("Microsoft.KeyVault/vaults", "vault", "kv1"): [
        ("kv1.vault.azure.net.", "kv1.privatelink.vaultcore.azure.net.")],
    ("Microsoft.ContainerRegistry/registries", "registry", "reg1"): [
        ("reg1.azurecr.io.", "reg1.privatelink.azurecr.io."),
        ("reg1.eastus.data.azurecr.io.", "reg1.eastus.data.privatelink.azurecr.io.")],
    ("Microsoft.EventHub/namespaces", "namespace", "ns1"): [
        ("ns1.servicebus.windows.net.", "ns1.privatelink.servicebus.windows.net.")],
    ("Microsoft.Web/sites", "sites", "app1"): [
        ("app1.azurewebsites.net.", "app1.privatelink.azurewebsites.net."),
        ("app1.scm.azurewebsites.net.", "app1.scm.privatelink.azurewebsites.net.")],
    ("Microsoft.DBforPostgreSQL/flexibleServers", "postgresqlServer", "pg1"): [
        ("pg1.postgres.database.azure.com.", "pg1.privatelink.postgres.database.azure.com.")],
    ("Microsoft.Cache/Redis", "redisCache", "r1"): [
        ("r1.redis.cache.windows.net.", "r1.privatelink.redis.cache.windows.net.")],
    ("Microsoft.CognitiveServices/accounts", "account", "ai1"): [
        ("ai1.cognitiveservices.azure.com.", "ai1.privatelink.cognitiveservices.azure.com."),
        ("ai1.openai.azure.com.", "ai1.privatelink.openai.azure.com."),
        ("ai1.services.ai.azure.com.", "ai1.privatelink.services.ai.azure.com.")],
}


@pytest.mark.parametrize("row", sorted(FACT_ROWS), ids=lambda r: f"{r[0]}/{r[1]}")
def test_rows_from_the_facts_resolve_as_the_facts_say(row: tuple[str, str, str]) -> None:
    """The linked VNet gets public CNAME privatelink name (TTL 60), then the endpoint's A (TTL 10, facts §1.5)."""
    rtype, group, name = row
    pairs = FACT_ROWS[row]
    zones = sorted({"privatelink." + private.split(".privatelink.", 1)[1] for _public, private in pairs})
    ips = [f"10.0.1.{i + 4}" for i in range(len(pairs))]
    data = {
        "virtual_networks": {"hub": {"address_space": ["10.0.0.0/16"]}},
        "private_dns_zones": {z: {"virtual_network_links": [{"virtual_network": "hub"}]} for z in zones},
        "private_endpoints": {"pe": {"virtual_network": "hub", "private_ip_addresses": ips, "group_id": group,
                                     "resource": {"type": rtype, "name": name}, "private_dns_zone_group": zones}},
    }
    index = compile_topology(load_topology_data(data))
    for (public, private), ip in zip(pairs, ips, strict=True):
        result = resolve(index, Question(public, RRType.A), "10.0.2.4")
        got = [(r.name, r.ttl, RRType(r.rtype).name, r.rdata[0]) for r in result.answer]
        assert got == [(public, 60, "CNAME", private), (private, 10, "A", ip)], result.trace_text()
