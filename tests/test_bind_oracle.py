"""BIND as an independent oracle of the Azure modelling: the same estate, answered by both.

The estate below is written once, as data. dnsemu serves it. The test renders it into a
``named.conf`` with one BIND view per place a query can come from (a VNet, an
on-premises site, the internet), matched by source address (``match-clients``), each
holding the zones that place sees:

* Azure-provided DNS in a VNet sees every public zone and the private zones linked to
  the VNet; a linked zone takes over its whole namespace, so public zones at or below
  its apex drop out of the view (facts §1.3, §9 step 2). Links here all have the Default
  policy: NxDomainRedirect has no BIND equivalent;
* a forwarding ruleset rule, a conditional forwarder or a custom DNS server hands a
  domain to another server: the names at and below that domain are answered as that
  server's view answers them (facts §4.2, §4.3, §11.1: the longest matching rule; a
  disabled rule does nothing), so the view gets that server's zones for the domain;
* the internet sees the public zones only (facts §1.2).

BIND then does the DNS: most specific zone per name, CNAME chains across the view's
zones (RFC 1034 §4.3.2), wildcards (RFC 4592), NXDOMAIN and NODATA with the zone's SOA
and the RFC 2308 TTL. Both servers are asked every (view, name, type) over real UDP
sockets on loopback, from a source address inside the view's network, and their rcode,
answer and authority sections must be equal (TTLs included; within an RRset the order
is free).

Differences by design, not compared (docs/testing.md lists them):

* AA: BIND is authoritative for what it serves (AA=1); Azure DNS answers as a recursive
  resolver, AA clear, RA set (facts §1.1), and so does dnsemu;
* RA: BIND runs with ``recursion no`` (it must never send a query anywhere);
* names outside every modelled zone: both answer REFUSED (dnsemu without upstreams,
  BIND without recursion), so they are compared, but a chain that *leaves* the model
  half-way is not asked (dnsemu hands its end to the upstream; BIND, authoritative, stops);
* NxDomainRedirect, Azure-provided names (internal.cloudapp.net, reverse zones of the
  VNets) and the RFC 6303 local zones are dnsemu's own model and are checked elsewhere.

Skips with the reason where ``named`` is not installed; under CI (``CI`` set) that fails.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import yaml
from conftest import ServerThread, make_settings, need_tool

#: every view's root zone: it makes each name known to the view, so BIND never looks further
ROOT_ZONE = "$ORIGIN .\n$TTL 300\n@ 300 SOA a.root.oracle.invalid. nobody.invalid. 1 3600 600 86400 300\n" \
            "@ 300 NS ns.oracle.invalid.\nns.oracle.invalid. 300 A 127.0.0.1\n"  # never asked: BIND needs it
AZURE_PRIVATE_SOA = "@ 3600 SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10"

# The estate: every network on loopback, so that a test picks its network by its source address.
ESTATE: dict[str, Any] = {
    "region": "eastus",
    "virtual_networks": {
        "hub": {"address_space": ["127.0.10.0/24"]},
        "spoke": {"address_space": ["127.0.11.0/24"]},  # a ruleset sends service domains to the hub
        "app": {"address_space": ["127.0.12.0/24"], "dns_servers": ["127.0.12.53"]},  # a custom DNS server
        "lab": {"address_space": ["127.0.13.0/24"]},  # links zones of its own
    },
    "on_premises": {
        "onprem": {
            "address_space": ["127.0.30.0/24"],
            "dns_servers": ["127.0.30.10"],
            "conditional_forwarders": {"blob.core.windows.net": ["127.0.10.4"], "svc.internal": ["127.0.10.4"]},
            "default_forwarding": "internet",
        },
    },
    "dns_private_resolvers": {
        "hub-resolver": {
            "virtual_network": "hub",
            "inbound_endpoints": {"in": {"private_ip_address": "127.0.10.4"}},
            "outbound_endpoints": ["out"],
        },
    },
    "dns_forwarding_rulesets": {
        "spoke-rules": {
            "dns_resolver_outbound_endpoints": ["hub-resolver/out"],
            "virtual_network_links": ["spoke"],
            "forwarding_rules": {
                "blob": {"domain_name": "blob.core.windows.net.", "target_dns_servers": ["127.0.10.4"]},
                "svc": {"domain_name": "svc.internal.", "target_dns_servers": ["127.0.10.4"]},
                "corp": {"domain_name": "corp.example.", "target_dns_servers": ["127.0.30.10"]},
                "off": {"domain_name": "example.org.", "target_dns_servers": ["127.0.10.4"], "state": "Disabled"},
            },
        },
    },
    "custom_dns_servers": {
        "app-dns": {
            "virtual_network": "app",
            "private_ip_address": "127.0.12.53",
            "conditional_forwarders": {"svc.internal": ["127.0.10.4"]},
            "default_forwarding": "azure",
        },
    },
    "private_dns_zones": {
        "privatelink.blob.core.windows.net": {
            "records": ["mystorage 10 A 127.0.10.20", "second 10 A 127.0.10.21", "second 10 AAAA fd00::21"],
            "virtual_network_links": [{"virtual_network": "hub"}, {"virtual_network": "lab"}],
        },
        "svc.internal": {
            "records": [
                "api 300 A 127.0.10.30",
                "api 300 A 127.0.10.31",
                "api-v2 300 CNAME api",
                "api-v3 300 CNAME api-v2",
                "* 60 A 127.0.10.99",
                "*.wild 60 TXT \"wildcard\"",
                "exact.wild 60 A 127.0.10.32",
                "host.empty.nonterminal 60 A 127.0.10.33",
                "mail 300 MX 10 api.svc.internal.",
                "_https._tcp 300 SRV 0 10 443 api.svc.internal.",
                "txt 300 TXT \"one\" \"two\"",
                "public 300 CNAME www.example.org.",
                "storage 300 CNAME mystorage.blob.core.windows.net.",
            ],
            "virtual_network_links": [{"virtual_network": "hub"}],
        },
        "lab.internal": {
            "records": ["box 60 A 127.0.13.40", "alias 60 CNAME box", "deep 60 A 127.0.13.41"],
            "virtual_network_links": [{"virtual_network": "lab"}, {"virtual_network": "hub"}],
        },
    },
    "public_dns": {
        "ttl": 60,
        "unknown_service_names": "nxdomain",
        "zones": {
            "blob.core.windows.net": {
                "records": [
                    "@ 3600 SOA ns1-01.azure-dns.com. azuredns-hostmaster.microsoft.com. 1 3600 300 2419200 300",
                    "mystorage 60 CNAME mystorage.privatelink.blob.core.windows.net.",
                    "partner 60 CNAME partner.privatelink.blob.core.windows.net.",
                    "plain 60 CNAME cluster1.store.example.",
                ],
            },
            "privatelink.blob.core.windows.net": {
                "records": [
                    "@ 3600 SOA ns1-01.azure-dns.com. azuredns-hostmaster.microsoft.com. 1 3600 300 2419200 300",
                    "mystorage 60 CNAME cluster1.store.example.",
                    "partner 60 CNAME cluster1.store.example.",
                ],
            },
            "store.example": {
                "records": [
                    "@ 300 SOA ns1.store.example. hostmaster.store.example. 5 3600 600 86400 30",
                    "cluster1 60 A 198.51.100.10",
                ],
            },
            "example.org": {
                "records": [
                    "@ 300 SOA ns1.example.org. hostmaster.example.org. 7 3600 600 86400 120",
                    "www 300 A 198.51.100.80",
                    "www 300 TXT \"public\"",
                    "to-private 300 CNAME api.svc.internal.",
                ],
            },
            "corp.example": {
                "records": [
                    "@ 300 SOA ns1.corp.example. hostmaster.corp.example. 3 3600 600 86400 60",
                    "intranet 300 A 198.51.100.30",
                ],
            },
        },
    },
}

# Where each place asks from, and the view BIND must pick for it.
SOURCES = {
    "hub": "127.0.10.5",
    "spoke": "127.0.11.5",
    "app": "127.0.12.5",
    "lab": "127.0.13.5",
    "onprem": "127.0.30.5",
    "internet": "127.0.0.1",
}

# --------------------------------------------------------------------------- the rendering: the Azure model


def fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


def zone_texts() -> tuple[dict[str, str], dict[str, str]]:
    """Master-file text of every public and every private zone, from the estate's own record strings."""

    def text(apex: str, records: list[str], soa: str | None) -> str:
        lines = [f"$ORIGIN {apex}", "$TTL 300"]
        if soa is not None:
            lines.append(soa)
        lines += records
        lines.append("@ 3600 NS ns.oracle.invalid.")  # BIND needs an apex NS; NS queries are not compared
        return "\n".join(lines) + "\n"

    public = {}
    for name, zone in ESTATE["public_dns"]["zones"].items():
        soa = next(r for r in zone["records"] if r.startswith("@ ") and " SOA " in r)
        public[fqdn(name)] = text(fqdn(name), [r for r in zone["records"] if r != soa], soa)
    private = {fqdn(name): text(fqdn(name), zone["records"], AZURE_PRIVATE_SOA)
               for name, zone in ESTATE["private_dns_zones"].items()}
    return public, private


def under(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


Zones = dict[str, tuple[str, str]]  # apex -> (kind, master-file text)


def overlay(base: Zones, domain: str, other: Zones) -> Zones:
    """``base`` with the names at and below ``domain`` answered as ``other`` answers them."""
    out = {apex: zone for apex, zone in base.items() if not under(apex, domain)}
    out.update({apex: zone for apex, zone in other.items() if under(apex, domain)})
    return out


def views() -> dict[str, dict[str, tuple[str, str]]]:
    """Per place: apex -> (kind, master-file text) of the zones it sees."""
    public, private = zone_texts()
    internet = {apex: ("public", t) for apex, t in public.items()}

    def azure_dns(vnet: str) -> dict[str, tuple[str, str]]:
        linked = [fqdn(z) for z, zone in ESTATE["private_dns_zones"].items()
                  if any(link["virtual_network"] == vnet for link in zone["virtual_network_links"])]
        out = {apex: zone for apex, zone in internet.items() if not any(under(apex, z) for z in linked)}
        out.update({z: ("private", private[z]) for z in linked})
        return out

    inbound = {"127.0.10.4": "hub"}  # the hub resolver's inbound endpoint answers as Azure DNS in the hub
    onprem_site = ESTATE["on_premises"]["onprem"]

    def server(address: str) -> dict[str, tuple[str, str]]:
        if address in inbound:
            return azure_dns(inbound[address])
        assert address == "127.0.30.10"
        out = dict(internet)  # the site forwards everything else to the internet
        for domain in sorted(onprem_site["conditional_forwarders"], key=len):  # longer domains last: they win
            out = overlay(out, fqdn(domain), server(onprem_site["conditional_forwarders"][domain][0]))
        return out

    out = {"internet": internet, "hub": azure_dns("hub"), "lab": azure_dns("lab"), "onprem": server("127.0.30.10")}
    spoke = azure_dns("spoke")
    rules = ESTATE["dns_forwarding_rulesets"]["spoke-rules"]["forwarding_rules"]
    for rule in sorted(rules.values(), key=lambda r: len(r["domain_name"])):
        if rule.get("state", "Enabled") == "Enabled":
            spoke = overlay(spoke, fqdn(rule["domain_name"]), server(rule["target_dns_servers"][0]))
    out["spoke"] = spoke
    app = azure_dns("app")  # the custom server's default: Azure DNS in its own VNet
    for domain, targets in ESTATE["custom_dns_servers"]["app-dns"]["conditional_forwarders"].items():
        app = overlay(app, fqdn(domain), server(targets[0]))
    out["app"] = app
    return out


def named_conf(folder: Path, port: int, rendered: dict[str, dict[str, tuple[str, str]]]) -> Path:
    blocks = []
    for place, zones in rendered.items():
        match = "any" if place == "internet" else f"{SOURCES[place].rsplit('.', 1)[0]}.0/24"
        lines = [f'view "{place}" {{', f"  match-clients {{ {match}; }};"]
        for apex, (kind, text) in sorted({**zones, ".": ("root", ROOT_ZONE)}.items()):
            path = folder / f"{place}-{kind}-{apex.strip('.') or 'root'}.db"
            path.write_text(text, encoding="utf-8")
            lines.append(f'  zone "{apex}" {{ type primary; file "{path}"; }};')
        lines.append("};")
        blocks.append("\n".join(lines))
    blocks.sort(key=lambda b: b.startswith('view "internet"'))  # the catch-all view last
    conf = folder / "named.conf"
    conf.write_text(
        "options {\n"
        f'  directory "{folder}";\n'
        f'  pid-file "{folder}/named.pid";\n'
        f'  session-keyfile "{folder}/session.key";\n'
        f'  managed-keys-directory "{folder}";\n'
        f"  listen-on port {port} {{ 127.0.0.1; }};\n"
        "  listen-on-v6 { none; };\n"
        # recursion, so that BIND follows a CNAME from one of the view's zones into another; every name
        # is under a zone the view serves (a root zone of our own), so it never needs anyone else, and
        # its queries could only leave from 127.0.0.1, which routes nowhere but loopback
        "  recursion yes;\n"
        "  allow-recursion { any; };\n"
        "  allow-query { any; };\n"
        "  allow-query-cache { any; };\n"
        "  query-source address 127.0.0.1;\n"
        "  max-cache-ttl 0;\n"
        "  max-ncache-ttl 0;\n"
        "  minimal-responses yes;\n"

        "  dnssec-validation no;\n"
        "  notify no;\n"
        "  empty-zones-enable no;\n"
        "};\n"
        "controls { };\n" + "\n".join(blocks) + "\n",
        encoding="utf-8",
    )
    return conf


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    named = need_tool("named", "bind9")
    folder = tmp_path_factory.mktemp("bind")
    conf = named_conf(folder, port := free_port(), views())
    check = subprocess.run([need_tool("named-checkconf", "bind9"), "-z", str(conf)], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    log = folder / "named.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([named, "-g", "-n", "1", "-4", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                dns.query.udp(dns.message.make_query("www.example.org", "A"), "127.0.0.1", port=port, timeout=1)
                break
            except (TimeoutError, dns.exception.Timeout, ConnectionRefusedError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"named did not start:\n{log.read_text(errors='replace')[-4000:]}") from None
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def dnsemu_port(tmp_path_factory: pytest.TempPathFactory, dnsemu_logging: Any) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("estate")
    topology = folder / "topology.yaml"
    topology.write_text(yaml.safe_dump(ESTATE, sort_keys=False), encoding="utf-8")
    with ServerThread(make_settings(topology=str(topology))) as running:
        yield running.port


# --------------------------------------------------------------------------- the questions


def questions() -> list[tuple[str, str]]:
    """Every owner name of every zone, a missing name in each zone, and names a rule or a wildcard decides."""
    owners = set()
    for zones in (ESTATE["public_dns"]["zones"], ESTATE["private_dns_zones"]):
        for apex, zone in zones.items():
            origin = fqdn(apex)
            owners.add(origin)
            owners.add("no-such-name." + origin)
            for record in zone["records"]:
                owner = record.split()[0]
                if owner != "@":
                    owners.add(owner.replace("*", "anything") + "." + origin)
    owners |= {"a.b.svc.internal.", "x.wild.svc.internal.", "empty.nonterminal.svc.internal.",
               "x.nonterminal.svc.internal.", "unknown.test."}
    apexes = {fqdn(z) for zones in (ESTATE["public_dns"]["zones"], ESTATE["private_dns_zones"]) for z in zones}
    asked = []
    for name in sorted(owners):
        # SOA at the apexes only: BIND zeroes the TTL of the SOA in a negative answer to an SOA query
        for rdtype in ("A", "AAAA", "TXT", "MX", "SRV", "CNAME", *(("SOA",) if name in apexes else ())):
            asked.append((name, rdtype))
    return asked


QUESTIONS = questions()


# A forwarder (a ruleset rule, a conditional forwarder, a custom DNS server) decides by the QUERY name, and the
# server it hands the query to resolves the whole chain (facts §11.1: rules match the query name; whether Azure
# DNS re-matches a CNAME target is [unconfirmed], and dnsemu chooses not to). The rendering above hands out names,
# not queries, so BIND resolves a chain's tail where the place itself would. The two differ, by design, exactly here:
BY_DESIGN = {
    ("app", "storage.svc.internal."): "svc.internal goes to the hub, which resolves the chain into its own "
    "privatelink zone; BIND resolves mystorage.blob… in app's view (the public chain)",
    **{(place, "to-private.example.org."): "example.org is not forwarded; its CNAME target api.svc.internal is "
       "not re-matched against the forwarders, so it is outside the place's model (REFUSED); BIND follows it into "
       "the hub's svc.internal that the place's view holds for other names"
       for place in ("app", "onprem", "spoke")},
}


def ask(port: int, source: str, name: str, rdtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=0, payload=4096)
    for attempt in range(5):  # UDP on a busy machine: retry a lost datagram, generously
        try:
            return dns.query.udp(query, "127.0.0.1", port=port, source=source, timeout=5)
        except dns.exception.Timeout:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def section(rrsets: list[dns.rrset.RRset]) -> list[tuple[str, int, str, list[str]]]:
    """RRsets in order, names in lower case (compression may carry the question's case), rdata sorted."""
    return [(str(r.name).lower(), r.ttl, dns.rdatatype.to_text(r.rdtype), sorted(rd.to_text().lower() for rd in r))
            for r in rrsets]


def reply_shape(message: dns.message.Message) -> tuple[str, list[Any], list[Any]]:
    return dns.rcode.to_text(message.rcode()), section(message.answer), section(message.authority)


@pytest.mark.parametrize("place", sorted(SOURCES))
def test_dnsemu_answers_as_bind_does(bind: int, dnsemu_port: int, place: str) -> None:
    source = SOURCES[place]
    differences = []
    answered = {"NOERROR": 0, "NXDOMAIN": 0, "outside": 0}
    by_design = {name: False for p, name in BY_DESIGN if p == place}
    for name, rdtype in QUESTIONS:
        ours = reply_shape(ask(dnsemu_port, source, name, rdtype))
        theirs = reply_shape(ask(bind, source, name, rdtype))
        if name in by_design:
            by_design[name] |= ours != theirs
            continue
        if theirs[2] and theirs[2][0][0] == ".":
            # the name (or the chain's end) is outside every zone the place sees: BIND's own root zone
            # says NXDOMAIN; dnsemu hands such a name to its upstream and, having none, refuses it
            answered["outside"] += 1
            if ours != ("REFUSED", [], []):
                differences.append(f"{name} {rdtype} (outside the model)\n  dnsemu: {ours}\n  BIND:   {theirs}")
            continue
        answered[theirs[0]] = answered.get(theirs[0], 0) + 1
        if ours != theirs:
            differences.append(f"{name} {rdtype}\n  dnsemu: {ours}\n  BIND:   {theirs}")
    assert not differences, f"{len(differences)} of {len(QUESTIONS)} differ in {place}:\n" + "\n".join(differences[:15])
    # each listed difference still happens (else the list is stale and hides nothing any more)
    assert all(by_design.values()), {name: BY_DESIGN[place, name] for name, seen in by_design.items() if not seen}
    # the oracle must have had something to say: answers, negative answers and (outside VNets) refusals
    assert answered["NOERROR"] > 50 and answered["NXDOMAIN"] > 10, answered
