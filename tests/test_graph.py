"""`dnsemu graph` and `dnsemu explain --format mermaid|svg`: every output is parsed, never eyeballed.

DOT goes through pydot's parser, SVG through xml.etree, Mermaid through a strict line
grammar (every line must be a known statement). The graph model is checked against
the bundled estate and docs/examples/mistakes.yaml, the path overlay against the
traces the README explains, and names from a hostile topology must come out of every
format exactly as written.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pydot
import pytest

from dnsemu.analysis.explain import question, source_address
from dnsemu.cli import graph as command
from dnsemu.cli import main
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolver import resolve
from dnsemu.graph import dot, draw, mermaid, svg
from dnsemu.graph.layout import layout
from dnsemu.graph.model import KINDS, Graph, build_graph, collapse, reached_from
from dnsemu.graph.overlay import Overlay
from dnsemu.topology.load import load_topology, load_topology_data, load_topology_text

# pydot's parser still calls pyparsing's old camelCase names, which pyparsing 3.3 warns about
pytestmark = pytest.mark.filterwarnings("ignore::Warning:pydot.dot_parser")

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "zones" / "topology.yaml"
MISTAKES = ROOT / "docs" / "examples" / "mistakes.yaml"
ESTATE_SVG = ROOT / "docs" / "estate.svg"
SVG_NS = "{http://www.w3.org/2000/svg}"

# Names that try to break out of every format: quotes, brackets, arrows, entities,
# HTML, Mermaid directives and comments, DOT escapes, a newline escape, non-ASCII.
EVIL_VNET = 'ev"]-->n_x<b>&amp;#35;|`end%%{init}%%;\\n é'
EVIL_SERVER = "dc <script>alert(1)</script> \\N\\G & 'q'"
HOSTILE = f"""
virtual_networks:
  {json.dumps(EVIL_VNET)}:
    address_space: [10.9.0.0/16]
  "spoke \\\\N":
    address_space: [10.8.0.0/16]
    dns_servers: [10.8.0.53]
custom_dns_servers:
  {json.dumps(EVIL_SERVER)}:
    virtual_network: "spoke \\\\N"
    private_ip_address: 10.8.0.53
    conditional_forwarders: {{"corp.example.com": ["168.63.129.16"]}}
    default_forwarding: internet
private_dns_zones:
  privatelink.blob.core.windows.net:
    virtual_network_links: [{{virtual_network: {json.dumps(EVIL_VNET)}, resolution_policy: NxDomainRedirect}}]
"""


@pytest.fixture(scope="module")
def bundled():
    loaded = load_topology(BUNDLED)
    return loaded, compile_topology(loaded)


@pytest.fixture(scope="module")
def mistakes():
    loaded = load_topology(MISTAKES)
    return loaded, compile_topology(loaded)


@pytest.fixture(scope="module")
def hostile():
    loaded = load_topology_text(HOSTILE)
    return loaded, compile_topology(loaded)


def edges_of(graph: Graph) -> dict[tuple[str, str, str], object]:
    return {(e.source, e.target, e.kind): e for e in graph.edges.values()}


def path_of(loaded, index, name: str, source: str, qtype: str = "A") -> tuple[Graph, Overlay]:
    q = question(name, qtype)
    address = source_address(loaded.topology, index, source)
    return draw.explain_graph(loaded, index, q, address, resolve(index, q, address))


# -- the model ---------------------------------------------------------------------------------------------


def test_bundled_estate_nodes(bundled) -> None:
    graph = build_graph(*bundled)
    kinds: dict[str, set[str]] = {}
    for node in graph.nodes.values():
        kinds.setdefault(node.kind, set()).add(node.id)
    assert set(kinds) == set(KINDS) - {"hub", "custom-dns", "external", "unreachable", "hosted-zone"}
    assert kinds["vnet"] == {"vnet:hub", "vnet:spoke1", "vnet:spoke2", "vnet:spoke3", "vnet:sandbox"}
    assert kinds["site"] == {"site:onprem", "site:branch"}
    assert kinds["onprem-dns"] == {"onprem-dns:onprem", "onprem-dns:branch"}
    assert kinds["firewall"] == {"firewall:hub-firewall"}
    assert kinds["inbound"] == {"inbound:hub-resolver/in1"}
    # spoke1 asks the inbound endpoint, spoke3 the firewall, and neither links anything: their own Azure DNS
    # plays no part
    assert kinds["azure-dns"] == {"azure:hub", "azure:spoke2", "azure:sandbox"}
    assert kinds["ruleset"] == {"ruleset:spoke-rules"}
    assert kinds["policy"] == {"policy:spoke2-policy"}
    assert kinds["zone"] == {
        "zone:privatelink.blob.core.windows.net.",
        "zone:privatelink.file.core.windows.net.",
        "zone:privatelink.vaultcore.azure.net.",
        "zone:privatelink.database.windows.net.",
        "zone:privatelink.azurecr.io.",
        "zone:privatelink.azurewebsites.net.",
        "zone:azure.contoso.com.",
        "zone:corp.contoso.com.",
        "zone:svc.contoso.internal.",
    }
    assert kinds["public"] == {"public"} and kinds["internet"] == {"internet"}
    assert kinds["endpoint"] == {
        "pe:pe-mystorage-blob",
        "pe:pe-mystorage-file",
        "pe:pe-keyvault",
        "pe:pe-sql",
        "pe:pe-acr",
        "pe:pe-webapp",
        "pe:pe-partner-api",
        "pe:pe-pendingstore",
    }
    assert graph.nodes["vnet:hub"].details == ("10.0.0.0/16", "Azure-provided DNS")
    assert graph.nodes["vnet:spoke1"].details == ("10.1.0.0/16", "DNS 10.0.0.4")
    assert graph.nodes["vnet:spoke3"].details == ("10.4.0.0/16", "DNS 10.0.4.4")
    assert graph.nodes["firewall:hub-firewall"].details == ("10.0.4.4", "in hub", "DNS proxy on")
    assert graph.nodes["policy:spoke2-policy"].details == ("100 Block blocked-domains",)
    assert "block-malware (priority 100, Block: malware.example)" in graph.nodes["policy:spoke2-policy"].title
    assert graph.nodes["pe:pe-pendingstore"].flags == ("pending",)
    assert graph.nodes["pe:pe-acr"].addresses == ("10.0.1.8", "10.0.1.9")


def test_bundled_estate_edges(bundled) -> None:
    edges = edges_of(build_graph(*bundled))
    assert edges[("vnet:spoke1", "inbound:hub-resolver/in1", "dns")].label == "10.0.0.4"
    assert ("vnet:hub", "azure:hub", "dns") in edges
    assert ("inbound:hub-resolver/in1", "azure:hub", "resolves-in") in edges
    assert ("azure:spoke2", "ruleset:spoke-rules", "ruleset") in edges
    assert ("azure:hub", "ruleset:spoke-rules", "ruleset") not in edges  # never the hub itself
    rules = edges[("ruleset:spoke-rules", "inbound:hub-resolver/in1", "rule")]
    assert "blob.core.windows.net" in rules.title and "azurewebsites.net" in rules.title
    assert edges[("ruleset:spoke-rules", "onprem-dns:onprem", "rule")].label == "corp.contoso.com"
    assert edges[("ruleset:spoke-rules", "onprem-dns:onprem", "rule-disabled")].label == "old.contoso.com (disabled)"
    # the onprem site forwards the public zones; branch forwards the privatelink zone (the mistake)
    assert "vault.azure.net" in edges[("onprem-dns:onprem", "inbound:hub-resolver/in1", "forward")].title
    branch = edges[("onprem-dns:branch", "inbound:hub-resolver/in1", "forward")]
    assert branch.label == "privatelink.blob.core.windows.net"
    assert edges[("onprem-dns:branch", "public", "default")].label == "everything else"
    sandbox = edges[("azure:sandbox", "zone:privatelink.blob.core.windows.net.", "link")]
    assert sandbox.flags == ("redirect",) and sandbox.label == "NxDomainRedirect"
    hub_blob = edges[("azure:hub", "zone:privatelink.blob.core.windows.net.", "link")]
    assert hub_blob.flags == () and "Default" in hub_blob.title
    assert edges[("azure:hub", "zone:azure.contoso.com.", "link")].flags == ("registration",)
    assert edges[("zone:privatelink.blob.core.windows.net.", "pe:pe-mystorage-blob", "record")].label == "10.0.1.4"
    assert edges[("zone:privatelink.azurecr.io.", "pe:pe-acr", "record")].label == "10.0.1.8, 10.0.1.9"
    # the Private Link Service endpoint is found through the record the zone file holds for it
    assert ("zone:svc.contoso.internal.", "pe:pe-partner-api", "record") in edges
    assert ("azure:hub", "public", "otherwise") in edges
    # spoke3 asks the hub firewall, whose proxy asks Azure DNS from the hub (facts §12.2)
    assert edges[("vnet:spoke3", "firewall:hub-firewall", "dns")].label == "10.0.4.4"
    proxy = edges[("firewall:hub-firewall", "azure:hub", "proxy")]
    assert proxy.label == "168.63.129.16" and "not the client's" in proxy.title
    # spoke2's own zone, and the security policy that looks at what Azure DNS answers there
    assert ("azure:spoke2", "zone:corp.contoso.com.", "link") in edges
    assert ("azure:spoke2", "policy:spoke2-policy", "policy") in edges
    assert not [e for e in edges if e[1] == "policy:spoke2-policy" and e[0] != "azure:spoke2"]


def test_mistakes_show(mistakes) -> None:
    graph = build_graph(*mistakes)
    edges = edges_of(graph)
    # custom-dns-bypass: spoke-custom's own Azure DNS (and its link) is never asked
    assert "unused" in graph.nodes["azure:spoke-custom"].flags
    assert not [e for e in graph.edges.values() if e.target == "azure:spoke-custom"]
    assert ("azure:spoke-custom", "zone:privatelink.blob.core.windows.net.", "link") in edges
    # duplicate-endpoint: the later endpoint's record won, the first one's zone group points at nothing
    zone = "zone:privatelink.blob.core.windows.net."
    assert edges[(zone, "pe:pe-appdata-again", "record")].label == "10.0.1.5"
    lost = edges[(zone, "pe:pe-appdata", "record")]
    assert lost.flags == ("missing",) and "overwrote" in lost.title
    # pls-no-record: no zone points at the partner endpoint
    assert not [e for e in graph.edges.values() if e.target == "pe:pe-partner"]
    # ruleset-loop: the ruleset of dns-hub forwards back to dns-hub's own inbound endpoint
    assert ("ruleset:loop-rules", "inbound:dns-hub-resolver/in1", "rule") in edges
    assert ("inbound:dns-hub-resolver/in1", "azure:dns-hub", "resolves-in") in edges
    assert ("azure:dns-hub", "ruleset:loop-rules", "ruleset") in edges


def test_external_servers_and_custom_defaults() -> None:
    loaded = load_topology_data(
        {
            "virtual_networks": {"app": {"address_space": ["10.1.0.0/16"], "dns_servers": ["10.1.0.53"]}},
            "on_premises": {
                "dc": {
                    "address_space": ["192.168.0.0/16"],
                    "dns_servers": ["192.168.0.10"],
                    "conditional_forwarders": {"app.example.com": ["10.1.0.53"]},
                    "default_forwarding": ["203.0.113.53"],
                }
            },
            "custom_dns_servers": {
                "bind1": {
                    "virtual_network": "app",
                    "private_ip_address": "10.1.0.53",
                    "conditional_forwarders": {"corp.example.com": ["192.168.0.10"]},
                    "default_forwarding": "azure",
                }
            },
            "external_dns_servers": {"partner": {"address": "203.0.113.53:53"}},
        }
    )
    index = compile_topology(loaded)
    edges = edges_of(build_graph(loaded, index))
    assert ("custom:bind1", "azure:app", "default") in edges  # 168.63.129.16 from its own VNet
    assert ("custom:bind1", "onprem-dns:dc", "forward") in edges
    assert ("onprem-dns:dc", "custom:bind1", "forward") in edges
    assert ("onprem-dns:dc", "external:partner", "default") in edges
    _graph, overlay = path_of(loaded, index, "www.example.net", "dc")
    assert overlay.rcode == "forwarded"
    assert overlay.deciding_node == "external:partner"
    assert [s.code for s in overlay.steps][-1] == "forward"


def test_reach_from_one_network(bundled) -> None:
    loaded, index = bundled
    graph = build_graph(loaded, index)
    spoke2 = set(reached_from(graph, "vnet:spoke2").nodes)
    assert {"azure:spoke2", "ruleset:spoke-rules", "inbound:hub-resolver/in1", "azure:hub", "onprem-dns:onprem"} <= (
        spoke2
    )
    assert "pe:pe-mystorage-blob" in spoke2 and "public" in spoke2
    assert not spoke2 & {"vnet:hub", "site:onprem", "azure:sandbox", "vnet:spoke1"}
    assert set(reached_from(graph, "internet").nodes) == {"internet", "public"}
    sandbox = set(reached_from(graph, "vnet:sandbox").nodes)
    assert sandbox == {
        "vnet:sandbox",
        "azure:sandbox",
        "zone:privatelink.blob.core.windows.net.",
        "pe:pe-mystorage-blob",
        "pe:pe-pendingstore",
        "public",
    }
    # --from takes what explain's --from takes: a VM's name picks its network
    assert draw.start_node(loaded, index, "app-vm2") == "vnet:spoke2"
    assert draw.start_node(loaded, index, "10.3.0.99") == "vnet:sandbox"
    assert draw.start_node(loaded, index, "198.51.100.7") == "internet"


def synthetic(vnets: int, zones: int) -> dict:
    """VNets in ten groups: zone z is linked to every VNet v with v % 10 == z % 10."""
    data: dict = {"virtual_networks": {}, "private_dns_zones": {}}
    for v in range(vnets):
        data["virtual_networks"][f"vnet{v}"] = {"address_space": [f"10.{v // 250}.{v % 250}.0/24"]}
    for z in range(zones):
        links = [{"virtual_network": f"vnet{v}"} for v in range(z % 10, vnets, 10)]
        data["private_dns_zones"][f"z{z}.example.internal"] = {"virtual_network_links": links}
    return data


def test_collapse_merges_look_alikes() -> None:
    loaded = load_topology_data(synthetic(60, 30))
    index = compile_topology(loaded)
    whole = build_graph(loaded, index)
    assert len(whole.nodes) == 60 + 60 + 30 + 2
    small = collapse(whole)
    vnets = [n for n in small.nodes.values() if n.kind == "vnet"]
    zones = [n for n in small.nodes.values() if n.kind == "zone"]
    assert sorted(n.count for n in vnets) == [6] * 10
    assert sorted(n.count for n in zones) == [3] * 10
    assert sum(n.count for n in vnets) == 60 and all("collapsed" in n.flags for n in vnets)
    group = next(n for n in vnets if "vnet:vnet0" in n.members)
    assert set(group.members) == {f"vnet:vnet{v}" for v in range(0, 60, 10)}
    azure = next(e.target for e in small.edges.values() if e.source == group.id)
    zone_group = next(n for n in zones if "zone:z0.example.internal." in n.members)
    link = small.edges[f"{azure}->{zone_group.id}:link"]
    assert link.count == 6 * 3  # every link between the six VNets and the three zones
    # nothing else points at the groups: the picture stays a set of parallel lanes
    assert len(small.edges) == 10 + 10 + 10 + 1


def test_collapse_keeps_a_vnet_that_others_ask(bundled) -> None:
    small = collapse(build_graph(*bundled))
    # the hub's Azure DNS is asked by the inbound endpoint: hub stays a node of its own
    assert "vnet:hub" in small.nodes and "azure:hub" in small.nodes
    zones = [n for n in small.nodes.values() if n.kind == "zone" and n.count > 1]
    assert len(zones) == 1 and zones[0].count == 6  # the zones linked to the hub alone, with Default
    assert "zone:privatelink.blob.core.windows.net." in small.nodes  # also linked to sandbox
    assert "zone:azure.contoso.com." in small.nodes  # autoregistration makes its link different


# -- the path overlay ----------------------------------------------------------------------------------------


def test_path_spoke2_through_the_ruleset(bundled) -> None:
    graph, overlay = path_of(*bundled, "mystorage.blob.core.windows.net", "spoke2")
    visited = [n for step in overlay.steps for n in step.nodes]
    assert visited == [
        "vnet:spoke2",
        "azure:spoke2",
        "ruleset:spoke-rules",
        "inbound:hub-resolver/in1",
        "azure:hub",
        "public",
        "zone:privatelink.blob.core.windows.net.",
        "pe:pe-mystorage-blob",
    ]
    for step in overlay.steps:
        for eid in step.edges:
            assert graph.edges[eid].kind != "path", eid  # every move is an edge of the estate
    # step 7, spoke2's security policy, lets the answer through: it moves nothing and decides nothing
    assert overlay.deciding == 6 and len(overlay.steps) == 7 and overlay.steps[6].nodes == []
    assert overlay.deciding_node == "zone:privatelink.blob.core.windows.net."
    assert overlay.blocked is None
    assert overlay.deciding_edge == "azure:hub->zone:privatelink.blob.core.windows.net.:link"
    assert overlay.rcode == "NOERROR" and overlay.answer_kind == "private"


def test_path_nxdomain_and_fallback(bundled) -> None:
    _graph, hub = path_of(*bundled, "fabrikamstore.blob.core.windows.net", "hub")
    assert hub.steps[hub.deciding - 1].code == "private-nxdomain"
    assert hub.deciding_edge == "azure:hub->zone:privatelink.blob.core.windows.net.:link"
    _graph, sandbox = path_of(*bundled, "fabrikamstore.blob.core.windows.net", "sandbox")
    codes = [s.code for s in sandbox.steps]
    assert "fallback" in codes and codes[-1] == "public"
    assert "azure:sandbox->zone:privatelink.blob.core.windows.net.:link" in sandbox.edges
    assert sandbox.deciding_node == "public"


def test_path_branch_turns_public(bundled) -> None:
    graph, overlay = path_of(*bundled, "mystorage.blob.core.windows.net", "branch")
    assert "onprem-dns:branch->public:default" in overlay.edges
    assert "inbound:hub-resolver/in1" not in overlay.nodes  # the privatelink forwarder is never used
    assert "inbound:hub-resolver/in1" in graph.nodes  # ... though the branch reaches it
    _graph, internet = path_of(*bundled, "mystorage.blob.core.windows.net", "internet")
    assert list(internet.nodes) == ["internet", "public"]


def test_path_internal_names_and_loops(bundled, mistakes) -> None:
    _graph, vm = path_of(*bundled, "hub-vm1.internal.cloudapp.net", "hub")
    assert vm.deciding_node == "azure:hub"  # Azure-provided names: Azure DNS itself answers
    _graph, loop = path_of(*mistakes, "www.contoso.com", "dns-hub")
    assert loop.steps[-1].code == "loop"
    assert loop.deciding_edge == "inbound:dns-hub-resolver/in1->azure:dns-hub:resolves-in"
    assert loop.rcode == "SERVFAIL"


def test_path_spoke3_through_the_firewall(bundled) -> None:
    """§12.2: the firewall's proxy asks Azure DNS from the hub, so the hub's link answers for spoke3."""
    graph, overlay = path_of(*bundled, "mystorage.blob.core.windows.net", "spoke3")
    assert list(overlay.nodes) == [
        "vnet:spoke3",
        "firewall:hub-firewall",
        "azure:hub",
        "public",
        "zone:privatelink.blob.core.windows.net.",
        "pe:pe-mystorage-blob",
    ]
    assert "vnet:spoke3->firewall:hub-firewall:dns" in overlay.edges
    assert "firewall:hub-firewall->azure:hub:proxy" in overlay.edges
    assert all(graph.edges[e].kind != "path" for e in overlay.edges)
    assert overlay.deciding_node == "zone:privatelink.blob.core.windows.net."


def test_path_blocked_by_the_security_policy(bundled) -> None:
    """§10.4: the policy's Block decides; the overlay names the policy, and every format marks it."""
    graph, overlay = path_of(*bundled, "dl.malware.example", "spoke2")
    assert overlay.answer_kind == "blocked" and overlay.rcode == "NOERROR"
    assert overlay.blocked == overlay.deciding_node == "policy:spoke2-policy"
    assert overlay.deciding_step is not None and overlay.deciding_step.code == "policy-block"
    assert "azure:spoke2->policy:spoke2-policy:policy" in overlay.edges
    assert overlay.as_dict()["blocked"] == "policy:spoke2-policy"
    drawn = parse_svg(svg.render(graph, overlay))
    assert [n for n, d in drawn["nodes"].items() if "blocked" in d["classes"]] == ["policy:spoke2-policy"]
    parsed = parse_mermaid(mermaid.render(graph, overlay))
    assert [parsed["nodes"][n].split("\n")[0] for n in parsed["classes"]["blocked"]] == ["spoke2-policy"]
    _dot, nodes, _edges = parse_dot(dot.render(graph, overlay))
    assert nodes["policy:spoke2-policy"]["class"].split() == ["kind-policy", "blocked"]
    # an answer the policy lets through never marks it
    _graph, passed = path_of(*bundled, "app.corp.contoso.com", "spoke2")
    assert passed.blocked is None and passed.deciding_node == "zone:corp.contoso.com."
    assert "policy:spoke2-policy" not in passed.nodes  # it matched nothing: the query never went there


def test_path_alert_shows_the_policy_without_deciding() -> None:
    """§10.4: an Alert rule matches and lets the answer through: the path goes to the policy, the answer decides."""
    loaded = load_topology_data(
        {
            "virtual_networks": {"app": {"address_space": ["10.1.0.0/16"]}},
            "public_dns": {"zones": {"paste.example": {"records": ["www 300 A 198.51.100.7"]}}},
            "dns_resolver_domain_lists": {"paste": {"domains": ["paste.example"]}},
            "dns_resolver_policies": {
                "watch": {
                    "dns_security_rules": {
                        "alert": {"priority": 100, "action": "Alert", "dns_resolver_domain_lists": ["paste"]}
                    },
                    "virtual_network_links": ["app"],
                }
            },
        }
    )
    index = compile_topology(loaded)
    _graph, overlay = path_of(loaded, index, "www.paste.example", "app")
    assert "azure:app->policy:watch:policy" in overlay.edges and overlay.blocked is None
    assert overlay.deciding_node == "public" and overlay.answer_kind == "public"


HUBS_AND_SERVERS = """
virtual_networks:
  dns-spoke:
    address_space: [10.50.0.0/24]
    subnets: {snet-in: {address_prefix: 10.50.0.0/28}}
  app:
    address_space: [10.51.0.0/16]
    dns_servers: [10.100.0.132]
  corp:
    address_space: [10.60.0.0/16]
    dns_servers: [10.60.0.10]
  lab:
    address_space: [10.70.0.0/16]
    subnets: {AzureFirewallSubnet: {address_prefix: 10.70.1.0/26}}
    dns_servers: [10.70.1.4]
virtual_hubs:
  vhub: {address_prefix: 10.100.0.0/23, virtual_network_connections: [app, dns-spoke]}
azure_firewalls:
  vhub-fw:
    virtual_hub: vhub
    private_ip_address: 10.100.0.132
    dns_settings: {enable_proxy: true, servers: [10.50.0.4]}
  lab-fw:
    virtual_network: lab
    private_ip_address: 10.70.1.4
dns_private_resolvers:
  dns-resolver:
    virtual_network: dns-spoke
    inbound_endpoints: {in: {private_ip_address: 10.50.0.4, subnet: snet-in}}
custom_dns_servers:
  dc1:
    virtual_network: corp
    private_ip_address: 10.60.0.10
    conditional_forwarders: {onprem.example: [192.168.1.10]}
    zones:
      ad.contoso.com:
        records: ["app 300 A 10.60.1.5", "files 300 CNAME share.onprem.example."]
on_premises:
  site:
    address_space: [192.168.0.0/16]
    dns_servers: [192.168.1.10]
    zones:
      onprem.example:
        records: ["share 300 A 192.168.5.5"]
"""


def test_hubs_firewall_servers_and_hosted_zones() -> None:
    """A secured hub's firewall forwarding to a DNS spoke's inbound endpoint (§12.4), a firewall with its proxy
    off, and zones that DNS servers hold themselves: hand-written node and edge sets."""
    loaded = load_topology_text(HUBS_AND_SERVERS)
    index = compile_topology(loaded)
    graph = build_graph(loaded, index)
    kinds: dict[str, set[str]] = {}
    for node in graph.nodes.values():
        kinds.setdefault(node.kind, set()).add(node.id)
    assert kinds["hub"] == {"hub:vhub"}
    assert kinds["firewall"] == {"firewall:vhub-fw", "firewall:lab-fw"}
    assert kinds["hosted-zone"] == {"hosted:custom:dc1:ad.contoso.com.", "hosted:onprem-dns:site:onprem.example."}
    assert kinds["azure-dns"] == {"azure:vhub", "azure:dns-spoke", "azure:corp"}  # dc1 forwards the rest there
    assert graph.nodes["azure:vhub"].details == ("168.63.129.16", "no zone links")
    assert graph.nodes["firewall:lab-fw"].flags == ("proxy-off",)
    assert graph.nodes["hosted:custom:dc1:ad.contoso.com."].details == ("2 record(s)", "on dc1")
    edges = edges_of(graph)
    assert edges[("firewall:vhub-fw", "inbound:dns-resolver/in", "proxy")].label == "10.50.0.4"
    assert ("vnet:app", "firewall:vhub-fw", "dns") in edges and ("vnet:lab", "firewall:lab-fw", "dns") in edges
    assert not [e for e in edges if e[0] == "firewall:lab-fw"]  # proxy off: nothing answers there
    assert ("hub:vhub", "azure:vhub", "dns") in edges and ("azure:vhub", "public", "otherwise") in edges
    assert ("custom:dc1", "hosted:custom:dc1:ad.contoso.com.", "holds") in edges
    assert ("onprem-dns:site", "hosted:onprem-dns:site:onprem.example.", "holds") in edges
    assert draw.start_node(loaded, index, "10.100.0.9") == "hub:vhub"
    # app reaches the DNS spoke through the hub firewall, never Azure DNS in the hub
    assert set(reached_from(graph, "vnet:app").nodes) == {
        "vnet:app",
        "firewall:vhub-fw",
        "inbound:dns-resolver/in",
        "azure:dns-spoke",
        "public",
    }
    # a name of dc1's own zone, whose CNAME leaves the zone: dc1 forwards the rest on-premises
    graph, overlay = path_of(loaded, index, "files.ad.contoso.com", "corp")
    assert list(overlay.nodes) == [
        "vnet:corp",
        "custom:dc1",
        "hosted:custom:dc1:ad.contoso.com.",
        "onprem-dns:site",
        "hosted:onprem-dns:site:onprem.example.",
    ]
    assert all(graph.edges[e].kind != "path" for e in overlay.edges), overlay.edges
    assert overlay.deciding_node == "hosted:onprem-dns:site:onprem.example."
    _graph, proxied = path_of(loaded, index, "www.example.com", "app")
    assert "firewall:vhub-fw->inbound:dns-resolver/in:proxy" in proxied.edges


# -- Mermaid ---------------------------------------------------------------------------------------------------

M_NODE = re.compile(r'^  (n_\w+)\["([^"]*)"\]$')
M_EDGE = re.compile(r'^  (n_\w+) (-->|-\.->|==>)(?:\|"([^"]*)"\|)? (n_\w+)$')
M_OTHER = re.compile(
    r"^(flowchart LR|%% [^\n]*|  classDef \w+ [\w:#,-]+|  class [\w,]+ \w+|  linkStyle [\d,]+ [\w:#,-]+)$"
)


def mermaid_text(text: str) -> str:
    assert "#" not in re.sub(r"#\d+;", "", text), text  # every '#' starts an entity code
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text.replace("<br/>", "\n"))


def parse_mermaid(text: str) -> dict:
    """Nodes, edges, classes, comments; fails on any line that is not one of the statements dnsemu writes."""
    out: dict = {"nodes": {}, "edges": [], "comments": [], "classes": {}, "link_styles": []}
    for line in text.splitlines():
        if m := M_NODE.match(line):
            assert m.group(1) not in out["nodes"], line
            out["nodes"][m.group(1)] = mermaid_text(m.group(2))
        elif m := M_EDGE.match(line):
            assert m.group(1) in out["nodes"] and m.group(4) in out["nodes"], line  # nodes come first
            label = mermaid_text(m.group(3)) if m.group(3) is not None else ""
            out["edges"].append((m.group(1), m.group(2), label, m.group(4)))
        elif M_OTHER.match(line):
            if line.startswith("%% "):
                assert "%%{" not in line
                out["comments"].append(line[3:])
            elif line.startswith("  class "):
                members, css = line.split()[1:]
                out["classes"].setdefault(css, set()).update(members.split(","))
            elif line.startswith("  linkStyle "):
                out["link_styles"].append([int(i) for i in line.split()[1].split(",")])
        else:
            pytest.fail(f"not a statement dnsemu writes: {line!r}")
    return out


def test_mermaid_structure(bundled) -> None:
    graph = build_graph(*bundled)
    parsed = parse_mermaid(mermaid.render(graph))
    labels = {v: k for k, v in parsed["nodes"].items()}
    assert len(parsed["nodes"]) == len(graph.nodes)
    assert {n.lines for n in graph.nodes.values()} == {tuple(v.split("\n")) for v in parsed["nodes"].values()}
    # declared layer by layer: networks first, private endpoints last
    kind_of = {"\n".join(n.lines): n.kind for n in graph.nodes.values()}
    columns = [KINDS[kind_of[text]].column for text in parsed["nodes"].values()]
    assert columns == sorted(columns) and columns[0] == 0 and columns[-1] == 6
    assert len(parsed["edges"]) == len(graph.edges)
    spoke1, inbound = labels["spoke1\n10.1.0.0/16\nDNS 10.0.0.4"], labels["hub-resolver/in1\n10.0.0.4\nin hub"]
    assert (spoke1, "-->", "10.0.0.4", inbound) in parsed["edges"]
    sandbox = labels["sandbox\n168.63.129.16"]
    blob = labels["privatelink.blob.core.windows.net\n2 record(s)"]
    assert (sandbox, "-->", "NxDomainRedirect", blob) in parsed["edges"]
    assert (sandbox, "-.->", "", labels["public DNS\nthe internet"]) in parsed["edges"]
    vnets = {labels["\n".join(n.lines)] for n in graph.nodes.values() if n.kind == "vnet"}
    assert parsed["classes"]["vnet"] == vnets


def test_mermaid_path(bundled) -> None:
    graph, overlay = path_of(*bundled, "mystorage.blob.core.windows.net", "spoke1")
    parsed = parse_mermaid(mermaid.render(graph, overlay))
    thick = [e for e in parsed["edges"] if e[1] == "==>"]
    assert sorted(e[2].split("\n")[0] for e in thick) == ["step 2", "step 3", "step 4", "step 5", "step 5"]
    assert parsed["link_styles"][0] == [i for i, e in enumerate(parsed["edges"]) if e[1] == "==>"]
    deciding = parsed["classes"]["deciding"]
    assert [parsed["nodes"][n] for n in deciding] == ["privatelink.blob.core.windows.net\n2 record(s)"]
    assert parsed["comments"][1] == "mystorage.blob.core.windows.net. A asked from 10.1.0.4: NOERROR, answer private"
    assert parsed["comments"][-1].startswith("5. mystorage.privatelink.blob.core.windows.net.: private zone")
    assert parsed["comments"][-1].endswith("(deciding step)")


def test_mermaid_hostile_names_stay_text(hostile) -> None:
    graph = build_graph(*hostile)
    text = mermaid.render(graph)
    parsed = parse_mermaid(text)
    assert "<script" not in text and "%%{" not in text.split("\n", 1)[1]
    labels = {v.split("\n")[0] for v in parsed["nodes"].values()}
    assert {EVIL_VNET, EVIL_SERVER, "spoke \\N"} <= labels
    assert len(parsed["edges"]) == len(graph.edges)


# -- DOT --------------------------------------------------------------------------------------------------------


def dot_text(value: str | None) -> str:
    """A DOT quoted string as the text Graphviz shows: escapes undone, then HTML entities."""
    assert value is not None and value.startswith('"') and value.endswith('"'), value
    body = re.sub(r'\\(["\\n])', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value[1:-1])
    return html.unescape(body)


def parse_dot(text: str) -> tuple[pydot.Dot, dict[str, dict], list[tuple[str, str, dict]]]:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None and len(graphs) == 1
    graph = graphs[0]
    nodes: dict[str, dict] = {}
    for sub in graph.get_subgraphs():
        for node in sub.get_nodes():
            if node.get_name() not in ("node", "edge", "graph"):
                nodes[dot_text(node.get_name())] = {k: dot_text(v) for k, v in node.get_attributes().items()}
    edges = [
        (
            dot_text(e.get_source()),
            dot_text(e.get_destination()),
            {k: dot_text(v) for k, v in e.get_attributes().items()},
        )
        for e in graph.get_edges()
    ]
    return graph, nodes, edges


def test_dot_parses_with_every_node_and_edge(bundled) -> None:
    graph = build_graph(*bundled)
    parsed, nodes, edges = parse_dot(dot.render(graph))
    assert dot_text(parsed.get_name()) == "DNS estate"
    assert set(nodes) == set(graph.nodes)
    assert len(parsed.get_subgraphs()) == 7
    assert nodes["vnet:spoke1"]["label"] == "spoke1\n10.1.0.0/16\nDNS 10.0.0.4"
    assert nodes["vnet:spoke1"]["class"] == "kind-vnet"
    assert nodes["vnet:spoke1"]["id"] == svg.xml_id("node-", "vnet:spoke1")
    assert nodes["pe:pe-pendingstore"]["class"] == "kind-endpoint pending"
    assert {(s, t, a["class"].split()[0]) for s, t, a in edges} == {
        (e.source, e.target, f"kind-{e.kind}") for e in graph.edges.values()
    }
    redirect = next(a for s, t, a in edges if s == "azure:sandbox" and t.startswith("zone:"))
    assert redirect["label"] == "NxDomainRedirect" and redirect["class"] == "kind-link redirect"
    disabled = next(a for s, t, a in edges if a["class"] == "kind-rule-disabled")
    assert disabled["style"] == "dashed"


def test_dot_path(bundled) -> None:
    graph, overlay = path_of(*bundled, "fabrikamstore.blob.core.windows.net", "hub")
    parsed, nodes, edges = parse_dot(dot.render(graph, overlay))
    title = dot_text(parsed.get_graph_defaults()[0]["label"])
    assert title.startswith("fabrikamstore.blob.core.windows.net. A asked from 10.0.2.4: NXDOMAIN")
    on_path = sorted((a["label"].split("\n")[0], s, t) for s, t, a in edges if a.get("penwidth"))
    assert on_path == [
        ("step 2", "vnet:hub", "azure:hub"),
        ("step 4", "azure:hub", "public"),
        ("step 5", "azure:hub", "zone:privatelink.blob.core.windows.net."),
    ]
    deciding = [n for n, a in nodes.items() if a.get("penwidth") == "5"]
    assert deciding == ["zone:privatelink.blob.core.windows.net."]


def test_dot_hostile_names_stay_text(hostile) -> None:
    graph = build_graph(*hostile)
    _parsed, nodes, edges = parse_dot(dot.render(graph))
    assert set(nodes) == set(graph.nodes)
    assert nodes[f"vnet:{EVIL_VNET}"]["label"].split("\n")[0] == EVIL_VNET
    assert nodes[f"custom:{EVIL_SERVER}"]["label"].split("\n")[0] == EVIL_SERVER
    assert len(edges) == len(graph.edges)


# -- SVG --------------------------------------------------------------------------------------------------------


def parse_svg(text: str) -> dict:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG_NS}svg"
    out: dict = {"root": root, "nodes": {}, "edges": {}, "labels": {}, "badges": [], "trace": []}
    for g in root.iter(f"{SVG_NS}g"):
        classes = g.get("class", "").split()
        if "node" in classes:
            rect = g.find(f"{SVG_NS}rect")
            out["nodes"][g.get("data-node")] = {
                "id": g.get("id"),
                "classes": classes,
                "box": tuple(float(rect.get(k)) for k in ("x", "y", "width", "height")),
                "lines": [t.text for t in g.findall(f"{SVG_NS}text")],
                "title": g.find(f"{SVG_NS}title").text,
            }
        elif "edge" in classes:
            d = g.find(f"{SVG_NS}path").get("d")
            numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", d)]
            assert re.fullmatch(r"M[-\d.]+,[-\d.]+ C[-\d.]+,[-\d.]+ [-\d.]+,[-\d.]+ [-\d.]+,[-\d.]+", d), d
            out["edges"][g.get("id")] = {
                "source": g.get("data-source"),
                "target": g.get("data-target"),
                "kind": g.get("data-kind"),
                "classes": classes,
                "start": tuple(numbers[:2]),
                "end": tuple(numbers[-2:]),
                "steps": g.get("data-steps"),
            }
        elif "edge-label" in classes:
            out["labels"][g.get("data-for")] = [t.text for t in g.findall(f"{SVG_NS}text")]
        elif "step-badge" in classes:
            out["badges"].append((int(g.get("data-step")), "deciding" in classes))
        elif "trace" in classes:
            out["trace"] = [(t.get("class"), t.text) for t in g.findall(f"{SVG_NS}text")]
    return out


def on_side(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    return (abs(point[0] - x) < 0.11 or abs(point[0] - (x + w)) < 0.11) and y <= point[1] <= y + h


def test_svg_nodes_edges_and_geometry(bundled) -> None:
    graph = build_graph(*bundled)
    parsed = parse_svg(svg.render(graph))
    assert set(parsed["nodes"]) == set(graph.nodes)
    assert len(parsed["edges"]) == len(graph.edges)
    for eid, edge in graph.edges.items():
        drawn = parsed["edges"][svg.xml_id("edge-", eid)]
        assert (drawn["source"], drawn["target"], drawn["kind"]) == (edge.source, edge.target, edge.kind)
        assert on_side(drawn["start"], parsed["nodes"][edge.source]["box"]), eid
        assert on_side(drawn["end"], parsed["nodes"][edge.target]["box"]), eid
        if edge.label:
            assert parsed["labels"][svg.xml_id("edge-", eid)] == edge.label.split("\n")
    hub = parsed["nodes"]["vnet:hub"]
    assert hub["id"] == "node-vnet_3Ahub" and "kind-vnet" in hub["classes"]
    assert hub["lines"] == ["hub", "10.0.0.0/16", "Azure-provided DNS"]
    assert "peered with spoke1, spoke2" in hub["title"]
    assert "pending" in parsed["nodes"]["pe:pe-pendingstore"]["classes"]
    sandbox_link = parsed["edges"][svg.xml_id("edge-", "azure:sandbox->zone:privatelink.blob.core.windows.net.:link")]
    assert "redirect" in sandbox_link["classes"]
    # no two nodes overlap, and columns run left to right in the order of a query
    boxes = [n["box"] for n in parsed["nodes"].values()]
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
    xs = {kind: parsed["nodes"][nid]["box"][0] for nid, kind in (("vnet:hub", "vnet"), ("public", "public"))}
    assert xs["vnet"] < parsed["nodes"]["inbound:hub-resolver/in1"]["box"][0] < parsed["nodes"]["azure:hub"]["box"][0]
    assert parsed["nodes"]["azure:hub"]["box"][0] < xs["public"] < parsed["nodes"]["pe:pe-sql"]["box"][0]
    root = parsed["root"]
    width, height = float(root.get("width")), float(root.get("height"))
    assert all(x >= 0 and y >= 0 and x + w <= width and y + h <= height for x, y, w, h in boxes)
    assert [c.get("id") for c in root.iter(f"{SVG_NS}g") if "column" in c.get("class", "").split()] == [
        f"column-{i}" for i in range(7)
    ]


def test_svg_path(bundled) -> None:
    graph, overlay = path_of(*bundled, "mystorage.blob.core.windows.net", "spoke2")
    parsed = parse_svg(svg.render(graph, overlay))
    assert "has-path" in parsed["root"].get("class").split()
    on_path = {n for n, d in parsed["nodes"].items() if "on-path" in d["classes"]}
    assert on_path == set(overlay.nodes)
    assert [n for n, d in parsed["nodes"].items() if "deciding" in d["classes"]] == [
        "zone:privatelink.blob.core.windows.net."
    ]
    path_edges = {(e["source"], e["target"]) for e in parsed["edges"].values() if "on-path" in e["classes"]}
    assert ("ruleset:spoke-rules", "inbound:hub-resolver/in1") in path_edges
    assert ("zone:privatelink.blob.core.windows.net.", "pe:pe-mystorage-blob") in path_edges
    deciding = [e for e in parsed["edges"].values() if "deciding" in e["classes"]]
    assert [(e["source"], e["target"], e["steps"]) for e in deciding] == [
        ("azure:hub", "zone:privatelink.blob.core.windows.net.", "6")
    ]
    assert sorted(parsed["badges"]) == [(i, i == 6) for i in range(1, 7)]  # step 7 (the policy) moves nothing
    trace = parsed["trace"]
    assert trace[0] == ("outcome", "mystorage.blob.core.windows.net. A asked from 10.2.0.4: NOERROR, answer private")
    assert any(css == "deciding" and "(deciding step)" in text for css, text in trace)
    assert trace[-1] == ("answer", "mystorage.privatelink.blob.core.windows.net. 10 IN A 10.0.1.4")


def test_svg_hostile_names_stay_text(hostile) -> None:
    graph = build_graph(*hostile)
    text = svg.render(graph)
    parsed = parse_svg(text)  # well-formed XML
    assert "<script" not in text and "<b>" not in text
    assert parsed["nodes"][f"vnet:{EVIL_VNET}"]["lines"][0] == EVIL_VNET
    assert parsed["nodes"][f"custom:{EVIL_SERVER}"]["lines"][0] == EVIL_SERVER
    ids = [n["id"] for n in parsed["nodes"].values()] + list(parsed["edges"])
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", i) for i in ids) and len(set(ids)) == len(ids)


def test_svg_control_characters_become_replacement_characters() -> None:
    assert svg.escape("a\x01b\x1fc\ufffe") == "a\ufffdb\ufffdc\ufffd"
    assert svg.escape("<&\"'\n>") == "&lt;&amp;&quot;&#39;&#10;&gt;"
    attribute, content = svg.escape('q\x00"<'), svg.escape("\x07</x>")
    assert ET.fromstring(f'<x a="{attribute}">{content}</x>').text == "\ufffd</x>"


def test_long_names_are_shortened_in_boxes_not_in_titles() -> None:
    name = "v" * 80
    loaded = load_topology_data({"virtual_networks": {name: {"address_space": ["10.0.0.0/16"]}}})
    graph = build_graph(loaded, compile_topology(loaded))
    placed = layout(graph)
    assert placed.lines[f"vnet:{name}"][0] == "v" * 43 + "…"
    assert name in svg.render(graph, placed=placed)


# -- the commands ------------------------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_command_formats(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "graph", str(BUNDLED))
    assert code == 0 and out.startswith("%% DNS estate (drawn by dnsemu)\nflowchart LR\n")
    code, out, _ = run(capsys, "graph", str(BUNDLED), "--format", "dot", "--from", "spoke1")
    assert code == 0
    _parsed, nodes, _edges = parse_dot(out)
    assert "vnet:spoke1" in nodes and "vnet:hub" not in nodes
    code, out, _ = run(capsys, "graph", str(BUNDLED), "--format", "json", "--collapse")
    data = json.loads(out)
    assert {n["id"] for n in data["nodes"]} >= {"vnet:hub", "zones:privatelink.file.core.windows.net."}
    assert all(len(n["box"]) == 4 for n in data["nodes"])
    target = tmp_path / "estate.svg"
    code, out, _ = run(capsys, "graph", str(BUNDLED), "-f", "svg", "-o", str(target))
    assert code == 0 and out == ""
    parse_svg(target.read_text())


def test_graph_command_errors(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "graph", str(BUNDLED), "--from", "nowhere")
    assert code == 2 and "--from 'nowhere' is neither an address nor a network or VM name" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("virtual_networks:\n  a: {address_space: [nonsense]}\n")
    code, _, err = run(capsys, "graph", str(bad))
    assert code == 2 and f"{bad}:2" in err
    code, _, err = run(capsys, "graph", str(BUNDLED), "-o", str(tmp_path / "missing" / "x.svg"))
    assert code == 2 and "cannot write" in err


def test_explain_formats(capsys) -> None:
    argv = ("explain", "mystorage.blob.core.windows.net", "--from", "spoke2", "--topology", str(BUNDLED))
    code, text, _ = run(capsys, *argv)
    assert code == 0 and ";; TRACE:" in text
    code, as_json, _ = run(capsys, *argv, "--format", "json")
    assert code == 0 and json.loads(as_json)["answer_kind"] == "private"
    assert run(capsys, *argv, "--json")[1] == as_json
    code, out, _ = run(capsys, *argv, "--format", "mermaid")
    assert code == 0 and parse_mermaid(out)["classes"]["deciding"]
    code, out, _ = run(capsys, *argv, "--format", "svg")
    assert code == 0 and parse_svg(out)["badges"]


def test_committed_estate_picture_is_current(capsys, tmp_path) -> None:
    """docs/estate.svg is the README's picture: it must be what `dnsemu graph` draws today."""
    target = tmp_path / "estate.svg"
    assert main(["graph", str(BUNDLED), "--format", "svg", "-o", str(target)]) == 0
    fresh = target.read_text()
    committed = ESTATE_SVG.read_text() if ESTATE_SVG.exists() else ""
    assert fresh == committed, (
        "docs/estate.svg no longer matches the bundled estate; regenerate it from the repository root with:\n"
        f"    {command.REGENERATE}"
    )
    parse_svg(committed)
