"""Newer private link services (facts-2 §14), table-driven through the core.

One estate holds an AKS private cluster in each mode (system zone, custom zone, custom
subzone, none), a Container Apps environment, an Azure OpenAI / AI Foundry account, a
Fabric workspace, Managed Grafana, Databricks workspaces sharing their region's
browser-authentication record, an Event Grid topic and an Azure Arc private link scope; a
VNet links an Azure Monitor zone with nothing in it. Sovereign clouds check that their
public chains end in their own domains.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from dnsemu.analysis.lint import check
from dnsemu.catalog import Catalog
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.clusters import cluster_names
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology_data


def pe(name: str, rtype: str, group: str, ips: list[str], zones: list[str], vnet: str = "hub", **resource) -> dict:
    return {
        "virtual_network": vnet,
        "private_ip_addresses": ips,
        "resource": {"type": rtype, "name": name, **resource},
        "group_id": group,
        "private_dns_zone_group": zones,
    }


def linked(*vnets: str) -> dict:
    return {"virtual_network_links": [{"virtual_network": v} for v in vnets]}


OPENAI_ZONES = ["privatelink.cognitiveservices.azure.com", "privatelink.openai.azure.com",
                "privatelink.services.ai.azure.com"]
FABRIC = "8a1b2c3d4e5f4a6b8c9d0e1f2a3b4c5d.z8a"

ESTATE: dict = {
    "region": "eastus",
    "virtual_networks": {
        "hub": {"address_space": ["10.0.0.0/16"]},
        "aks-vnet": {"address_space": ["10.10.0.0/16"]},
        "monitor-vnet": {"address_space": ["10.20.0.0/16"]},
    },
    "managed_clusters": {
        # the default: AKS's own zone, linked to the cluster VNet only
        "aks-sys": {"virtual_network": "aks-vnet", "private_ip_address": "10.10.0.4", "dns_prefix": "aks-sys"},
        # a custom zone the hub already links: AKS links it to the cluster VNet too
        "aks-custom": {"virtual_network": "aks-vnet", "private_ip_address": "10.10.0.5",
                       "private_dns_zone": "privatelink.eastus.azmk8s.io", "fqdn_subdomain": "teamapi"},
        "aks-sub": {"virtual_network": "aks-vnet", "private_ip_address": "10.10.0.6",
                    "private_dns_zone": "team1.privatelink.eastus.azmk8s.io"},
        "aks-none": {"virtual_network": "aks-vnet", "private_ip_address": "10.10.0.7", "private_dns_zone": "none"},
        "aks-quiet": {"virtual_network": "aks-vnet", "private_ip_address": "10.10.0.8",
                      "enable_private_cluster_public_fqdn": False},
        # as ARM reports it: the names are taken, not derived
        "aks-arm": {"virtual_network": "aks-vnet", "private_ip_address": "10.10.0.9",
                    "private_fqdn": "aks-arm-q3oga63c.30041054-9b14-4852-9bd5-114d2fac4590"
                                    ".privatelink.eastus.azmk8s.io",
                    "fqdn": "aks-arm-q3oga63c.hcp.eastus.azmk8s.io"},
    },
    "private_dns_zones": {
        "privatelink.eastus.azmk8s.io": linked("hub"),
        "team1.privatelink.eastus.azmk8s.io": linked("hub"),
        # the system zone of aks-arm, declared to add a link to the hub (a common fix)
        "30041054-9b14-4852-9bd5-114d2fac4590.privatelink.eastus.azmk8s.io": linked("hub"),
        "privatelink.eastus.azurecontainerapps.io": linked("hub"),
        **{z: linked("hub") for z in OPENAI_ZONES},
        "privatelink.fabric.microsoft.com": linked("hub"),
        "privatelink.grafana.azure.com": linked("hub"),
        "privatelink.azuredatabricks.net": linked("hub"),
        "privatelink.eventgrid.azure.net": linked("hub"),
        "privatelink.his.arc.azure.com": linked("hub"),
        "privatelink.guestconfiguration.azure.com": linked("hub", "monitor-vnet"),
        # linked, and empty: no AMPLS anywhere in the estate
        "privatelink.monitor.azure.com": linked("monitor-vnet"),
    },
    "private_endpoints": {
        "pe-env": pe("kindtree-1a2b3c4d", "Microsoft.App/ManagedEnvironments", "managedEnvironments", ["10.0.1.4"],
                     ["privatelink.eastus.azurecontainerapps.io"]),
        "pe-ai": pe("contoso-ai", "Microsoft.CognitiveServices/accounts", "account",
                    ["10.0.1.5", "10.0.1.6", "10.0.1.7"], OPENAI_ZONES),
        "pe-fabric": pe(FABRIC, "Microsoft.Fabric/privateLinkServicesForFabric", "workspace", ["10.0.1.8"],
                        ["privatelink.fabric.microsoft.com"]),
        "pe-grafana1": pe("ops-a1b2", "Microsoft.Dashboard/grafana", "grafana", ["10.0.1.9"],
                          ["privatelink.grafana.azure.com"]),
        "pe-grafana2": pe("sec-c3d4", "Microsoft.Dashboard/grafana", "grafana", ["10.0.1.10"],
                          ["privatelink.grafana.azure.com"]),
        "pe-adb-ui-a": pe("adb-1111.1", "Microsoft.Databricks/workspaces", "databricks_ui_api", ["10.0.1.11"],
                          ["privatelink.azuredatabricks.net"]),
        "pe-adb-auth": pe("adb-1111.1", "Microsoft.Databricks/workspaces", "browser_authentication", ["10.0.1.12"],
                          ["privatelink.azuredatabricks.net"]),
        "pe-adb-ui-b": pe("adb-2222.2", "Microsoft.Databricks/workspaces", "databricks_ui_api", ["10.0.1.13"],
                          ["privatelink.azuredatabricks.net"]),
        "pe-topic": pe("orders", "Microsoft.EventGrid/topics", "topic", ["10.0.1.14"],
                       ["privatelink.eventgrid.azure.net"]),
        # the scope's endpoint writes the his zone only: the guest configuration zone stays empty
        "pe-arc": pe("arc-scope", "Microsoft.HybridCompute/privateLinkScopes", "hybridcompute", ["10.0.1.15"],
                     ["privatelink.his.arc.azure.com"]),
    },
    "virtual_machines": {"vm-hub": {"virtual_network": "hub", "private_ip_address": "10.0.2.4"}},
}

HUB, AKS, MONITOR, INTERNET = "10.0.2.4", "10.10.1.4", "10.20.0.4", "198.51.100.7"


@pytest.fixture(scope="module")
def loaded():
    return load_topology_data(copy.deepcopy(ESTATE))


@pytest.fixture(scope="module")
def index(loaded):
    return compile_topology(loaded)


def names_of(cluster: str) -> object:
    spec = load_topology_data(copy.deepcopy(ESTATE)).topology.managed_clusters[cluster]
    return cluster_names(cluster, spec, "eastus")


@dataclass(frozen=True)
class Case:
    id: str
    facts: str
    source: str
    name: str
    outcome: Outcome
    kind: Source
    last: str | None = None  # the last answer record, "TYPE value"
    first_cname: str | None = None  # the first answer record's CNAME target
    trace_has: tuple[str, ...] = ()


SYS = names_of("aks-sys")
CUSTOM = names_of("aks-custom")
SUB = names_of("aks-sub")

CASES = [
    # §14.1 AKS private clusters
    Case("system zone: the cluster VNet resolves the private FQDN", "§14.1", AKS, SYS.private_fqdn,
         Outcome.ANSWER, Source.PRIVATE, "A 10.10.0.4"),
    Case("system zone: linked to the cluster VNet only", "§14.1", MONITOR, SYS.private_fqdn,
         Outcome.FORWARD, Source.FORWARDED),
    Case("system zone: a VNet linking the parent custom zone gets NXDOMAIN", "§14.1", HUB, SYS.private_fqdn,
         Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE, None, None,
         ("not in private zone privatelink.eastus.azmk8s.io. linked to the VNet",)),
    Case("public FQDN: an A record to the private address, in public DNS", "§14.1", INTERNET, SYS.public_fqdn,
         Outcome.ANSWER, Source.PUBLIC, "A 10.10.0.4"),
    Case("custom zone: AKS links it to the cluster VNet", "§14.1", AKS, CUSTOM.private_fqdn,
         Outcome.ANSWER, Source.PRIVATE, "A 10.10.0.5"),
    Case("custom zone: and the hub's link still works", "§14.1", HUB, CUSTOM.private_fqdn,
         Outcome.ANSWER, Source.PRIVATE, "A 10.10.0.5"),
    Case("custom subzone", "§14.1", HUB, SUB.private_fqdn, Outcome.ANSWER, Source.PRIVATE, "A 10.10.0.6"),
    Case("none: the public FQDN is the only name", "§14.1", AKS, names_of("aks-none").public_fqdn,
         Outcome.ANSWER, Source.PUBLIC, "A 10.10.0.7"),
    Case("public FQDN off: public DNS has no name", "§14.1", INTERNET,
         f"aks-quiet-{names_of('aks-quiet').private_fqdn.split('-', 2)[2].split('.')[0]}.hcp.eastus.azmk8s.io",
         Outcome.FORWARD, Source.FORWARDED),
    Case("ARM names: the declared system zone's hub link", "§14.1", HUB,
         "aks-arm-q3oga63c.30041054-9b14-4852-9bd5-114d2fac4590.privatelink.eastus.azmk8s.io",
         Outcome.ANSWER, Source.PRIVATE, "A 10.10.0.9"),
    Case("ARM names: the public FQDN", "§14.1", INTERNET, "aks-arm-q3oga63c.hcp.eastus.azmk8s.io",
         Outcome.ANSWER, Source.PUBLIC, "A 10.10.0.9"),
    # §14.2 Container Apps: one record per environment; apps resolve through it
    Case("an app under the environment", "§14.2", HUB, "shop.kindtree-1a2b3c4d.eastus.azurecontainerapps.io",
         Outcome.ANSWER, Source.PRIVATE, "A 10.0.1.4", "kindtree-1a2b3c4d.privatelink.eastus.azurecontainerapps.io."),
    Case("another app, the same record", "§14.2", HUB, "api.kindtree-1a2b3c4d.eastus.azurecontainerapps.io",
         Outcome.ANSWER, Source.PRIVATE, "A 10.0.1.4"),
    Case("an app from the internet: the public chain", "§14.2", INTERNET,
         "shop.kindtree-1a2b3c4d.eastus.azurecontainerapps.io", Outcome.ANSWER, Source.PUBLIC, None,
         "kindtree-1a2b3c4d.privatelink.eastus.azurecontainerapps.io."),
    # §14.3 Azure OpenAI / AI Foundry: three zones, one record and one address each
    Case("cognitiveservices", "§14.3", HUB, "contoso-ai.cognitiveservices.azure.com", Outcome.ANSWER,
         Source.PRIVATE, "A 10.0.1.5"),
    Case("openai", "§14.3", HUB, "contoso-ai.openai.azure.com", Outcome.ANSWER, Source.PRIVATE, "A 10.0.1.6"),
    Case("services.ai (Foundry projects)", "§14.3", HUB, "contoso-ai.services.ai.azure.com", Outcome.ANSWER,
         Source.PRIVATE, "A 10.0.1.7"),
    # §14.4 Fabric workspace hosts
    Case("Fabric API host", "§14.4", HUB, f"{FABRIC}.w.api.fabric.microsoft.com", Outcome.ANSWER, Source.PRIVATE,
         "A 10.0.1.8"),
    Case("Fabric OneLake host", "§14.4", HUB, f"{FABRIC}.onelake.fabric.microsoft.com", Outcome.ANSWER,
         Source.PRIVATE, "A 10.0.1.8"),
    # §14.5 Grafana: the regional record is the last endpoint's
    Case("Grafana instance", "§14.5", HUB, "ops-a1b2.eus.grafana.azure.com", Outcome.ANSWER, Source.PRIVATE,
         "A 10.0.1.9"),
    Case("Grafana's shared regional record: the last writer", "§14.5", HUB, "sso.eus.grafana.azure.com",
         Outcome.ANSWER, Source.PRIVATE, "A 10.0.1.10"),
    # §14.6 Azure Monitor: the privatelink alias is always there, so an empty linked zone denies the name
    Case("AMPLS host from a VNet linking an empty zone", "§14.6", MONITOR, "api.monitor.azure.com",
         Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE, None, "api.privatelink.monitor.azure.com.",
         ("publishes the privatelink alias of api.monitor.azure.com. whether or not a private endpoint exists",)),
    Case("AMPLS host from a VNet without the zone", "§14.6", HUB, "global.in.ai.monitor.azure.com",
         Outcome.ANSWER, Source.PUBLIC, None, "global.in.ai.privatelink.monitor.azure.com."),
    # §14.7 Databricks
    Case("workspace UI/API", "§14.7", HUB, "adb-2222.2.azuredatabricks.net", Outcome.ANSWER, Source.PRIVATE,
         "A 10.0.1.13"),
    Case("the region's browser authentication record", "§14.7", HUB, "eastus.pl-auth.azuredatabricks.net",
         Outcome.ANSWER, Source.PRIVATE, "A 10.0.1.12"),
    # §14.8 Event Grid: <name>.<region>-1
    Case("Event Grid topic", "§14.8", HUB, "orders.eastus-1.eventgrid.azure.net", Outcome.ANSWER, Source.PRIVATE,
         "A 10.0.1.14"),
    # §14.9 Arc
    Case("Arc global host", "§14.9", HUB, "gbl.his.arc.azure.com", Outcome.ANSWER, Source.PRIVATE, "A 10.0.1.15"),
    Case("Arc regional host", "§14.9", HUB, "eus.his.arc.azure.com", Outcome.ANSWER, Source.PRIVATE, "A 10.0.1.15"),
    Case("Arc guest configuration, always aliased: an empty zone denies it", "§16.2", MONITOR,
         "agentserviceapi.guestconfiguration.azure.com", Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.facts} {c.id}")
def test_service_cases(index, case: Case) -> None:
    result = resolve(index, Question(case.name.lower().rstrip(".") + ".", RRType.A), case.source)
    trace = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, trace
    assert result.source is case.kind, trace
    if case.last is not None:
        last = result.answer[-1]
        assert f"{RRType(last.rtype).name} {last.rdata[0]}" == case.last, trace
    if case.first_cname is not None:
        assert result.answer[0].rtype == RRType.CNAME and result.answer[0].rdata[0] == case.first_cname, trace
    for piece in case.trace_has:
        assert piece in trace, trace


def test_aks_names_follow_the_documented_shapes() -> None:
    """§14.1: <dnsprefix>-<hash>.<guid>.privatelink.<region>.azmk8s.io; the zone is the name minus its first label."""
    label, guid, rest = SYS.private_fqdn.split(".", 2)
    assert label.startswith("aks-sys-") and len(label) == len("aks-sys-") + 8
    assert [len(p) for p in guid.split("-")] == [8, 4, 4, 4, 12]
    assert rest == "privatelink.eastus.azmk8s.io."
    assert SYS.zone == f"{guid}.privatelink.eastus.azmk8s.io."
    assert SYS.public_fqdn == f"{label}.hcp.eastus.azmk8s.io."
    assert CUSTOM.private_fqdn.startswith("teamapi-") and CUSTOM.zone == "privatelink.eastus.azmk8s.io."
    assert SUB.zone == "team1.privatelink.eastus.azmk8s.io."
    assert names_of("aks-none").zone is None and names_of("aks-quiet").public_fqdn is None
    assert names_of("aks-sys") == SYS  # stable: the same estate, the same names


def test_aks_system_zone_is_linked_to_the_cluster_vnet_only(index) -> None:
    aks = index.views["aks-vnet"].links
    hub = index.views["hub"].links
    assert SYS.zone in aks and SYS.zone not in hub
    assert aks[SYS.zone].link == "aks-aks-sys"
    assert index.private_zones[SYS.zone].nodes[SYS.private_fqdn][RRType.A][0].ttl == 10


def test_ampls_writes_five_zones() -> None:
    """§14.6: one AMPLS endpoint writes the monitor, oms, ods, agentsvc and blob zones."""
    cat = Catalog.load()
    zones = {e.private_zone for e in cat.endpoints("Microsoft.Insights/privateLinkScopes", "azuremonitor",
                                                   "0f2c8e1a-aaaa-bbbb-cccc-111122223333", "eastus")}
    assert zones == {"privatelink.monitor.azure.com.", "privatelink.oms.opinsights.azure.com.",
                     "privatelink.ods.opinsights.azure.com.", "privatelink.agentsvc.azure-automation.net.",
                     "privatelink.blob.core.windows.net."}
    always = {e.public_fqdn for e in cat.endpoints("Microsoft.Insights/privateLinkScopes", "azuremonitor", "w",
                                                   "eastus") if e.always_privatelink}
    assert always == {f"{h}.monitor.azure.com." for h in ("api", "global.handler.control", "global.in.ai",
                                                           "eastus.in.ai", "live", "profiler", "snapshot",
                                                           "diagservices-query")}


def test_catalog_marks_shared_and_wildcard_hosts() -> None:
    cat = Catalog.load()
    shared = {(s.resource_type, e.public) for s in cat.services for e in s.endpoints if e.shared}
    assert ("Microsoft.Databricks/workspaces", "{regionName}.pl-auth.azuredatabricks.net.") in shared
    assert ("Microsoft.Dashboard/grafana", "sso.{regionCode}.grafana.azure.com.") in shared
    wildcard = [(s.resource_type, e.public) for s in cat.services for e in s.endpoints if e.wildcard]
    assert wildcard == [("Microsoft.App/ManagedEnvironments", "{name}.{regionName}.azurecontainerapps.io.")]


def test_check_finds_shared_records(loaded, index) -> None:
    """§14.5, §14.7: one record serves the region; deleting the endpoint that wrote it breaks the others."""
    findings = {f.subject: f for f in check(loaded, index) if f.code == "shared-record"}
    adb = findings["eastus.pl-auth.privatelink.azuredatabricks.net"]
    assert "written by pe-adb-auth alone, and adb-1111.1, adb-2222.2 rely on it" in adb.message
    assert "one browser_authentication endpoint per region" in adb.fix
    grafana = findings["sso.eus.privatelink.grafana.azure.com"]
    assert "pe-grafana1, pe-grafana2 all write sso.eus.privatelink.grafana.azure.com" in grafana.message
    # one Arc scope writes its shared hosts alone, and no one else relies on them: nothing to say
    assert not any("arc.azure.com" in s for s in findings)


# -- §14.1 validation -----------------------------------------------------------------------------------------


def _errors(cluster: dict, zones: dict | None = None) -> str:
    data = copy.deepcopy(ESTATE)
    data["managed_clusters"] = {"c1": {"virtual_network": "aks-vnet", "private_ip_address": "10.10.0.40", **cluster}}
    data["private_dns_zones"].update(zones or {})
    with pytest.raises(TopologyError) as info:
        load_topology_data(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("cluster", "zones", "message"),
    [
        ({"private_dns_zone": "none", "enable_private_cluster_public_fqdn": False}, None,
         "managed_clusters.c1.private_dns_zone: private_dns_zone none needs the public FQDN"),
        ({"private_dns_zone": "aks.contoso.com"}, {"aks.contoso.com": {}},
         "an AKS custom private DNS zone is named privatelink.<region>.azmk8s.io"),
        ({"private_dns_zone": "privatelink.westus.azmk8s.io"}, {"privatelink.westus.azmk8s.io": {}},
         "the zone is for region westus, the cluster is in eastus"),
        ({"private_dns_zone": f"{'a' * 33}.privatelink.eastus.azmk8s.io"}, None,
         "the subzone label is over 32 characters"),
        ({"private_dns_zone": "other.privatelink.eastus.azmk8s.io"}, None,
         "unknown private DNS zone 'other.privatelink.eastus.azmk8s.io'"),
        ({"fqdn_subdomain": "api"}, None, "fqdn_subdomain replaces dns_prefix with a custom private zone only"),
        ({"private_dns_zone": "none", "private_fqdn": "x.privatelink.eastus.azmk8s.io"}, None,
         "a cluster with private_dns_zone none has no private FQDN"),
        ({"private_fqdn": "api.privatelink.eastus.azmk8s.io"}, None,
         "a system zone is named <guid>.privatelink.<region>.azmk8s.io"),
        ({"dns_prefix": "bad_prefix!"}, None, "the cluster's names cannot be DNS names"),
        ({"virtual_network": "nowhere"}, None, "unknown virtual network 'nowhere'"),
    ],
    ids=["none-without-public-fqdn", "custom-zone-name", "custom-zone-region", "subzone-length",
         "custom-zone-undeclared", "fqdn-subdomain-without-custom-zone", "private-fqdn-with-none",
         "private-fqdn-shape", "dns-prefix", "vnet"],
)
def test_invalid_clusters(cluster: dict, zones: dict | None, message: str) -> None:
    """§14.1: the modes AKS supports and the names it accepts."""
    assert message in _errors(cluster, zones)


# -- item 6: sovereign clouds end their chains at home ------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "region", "name", "suffix"),
    [
        ("AzureUSGovernment", "usgovvirginia", "kv1.vault.usgovcloudapi.net", ".usgovvirginia.usgovcloudapp.net."),
        ("AzureChinaCloud", "chinanorth3", "kv1.vault.azure.cn", ".chinanorth3.chinacloudapp.cn."),
        ("AzureCloud", "eastus", "kv1.vault.azure.net", "data-prod-eus.vaultcore.azure.net."),
    ],
    ids=["government", "china", "commercial"],
)
def test_public_chains_end_in_the_cloud_of_the_resource(cloud: str, region: str, name: str, suffix: str) -> None:
    data = {
        "cloud": cloud,
        "region": region,
        "virtual_networks": {"hub": {"address_space": ["10.0.0.0/16"]}},
        "private_endpoints": {"pe-kv": pe("kv1", "Microsoft.KeyVault/vaults", "vault", ["10.0.1.4"], [])},
    }
    index = compile_topology(load_topology_data(data))
    result = resolve(index, Question(name + ".", RRType.A), INTERNET)
    assert result.outcome is Outcome.ANSWER
    last = result.answer[-1]
    assert last.rtype == RRType.A and last.name.endswith(suffix), result.trace_text()
    assert all("cloudapp.azure.com" not in r.name for r in result.answer) or cloud == "AzureCloud"


def test_always_aliased_hosts_need_no_resource_in_the_estate() -> None:
    """§14.6, §16.2: with no AMPLS and no Arc scope modelled at all, an empty linked zone denies their hosts,
    while a host that is aliased only once an endpoint exists (Arc's gbl) is left to public DNS."""
    data = {
        "virtual_networks": {"lab": {"address_space": ["10.30.0.0/16"]}},
        "private_dns_zones": {
            "privatelink.monitor.azure.com": linked("lab"),
            "privatelink.guestconfiguration.azure.com": linked("lab"),
            "privatelink.his.arc.azure.com": linked("lab"),
        },
    }
    index = compile_topology(load_topology_data(data))
    for name in ("api.monitor.azure.com.", "live.monitor.azure.com.", "agentserviceapi.guestconfiguration.azure.com."):
        result = resolve(index, Question(name, RRType.A), "10.30.0.4")
        assert result.outcome is Outcome.NXDOMAIN, result.trace_text()
        assert result.authority[0].name.startswith("privatelink.")
        outside = resolve(index, Question(name, RRType.A), INTERNET)
        assert outside.outcome is Outcome.ANSWER and "privatelink" in outside.answer[0].rdata[0]
    gbl = resolve(index, Question("gbl.his.arc.azure.com.", RRType.A), "10.30.0.4")
    assert gbl.outcome is Outcome.FORWARD
