"""Linked private zones before forwarding rules, as Azure documents it (facts-2 §11.1, §11.5, §16.1).

Table-driven against the pure core; every case names the facts section it checks. Targets
of the rules are external servers (203.0.113.53), so a forwarded query is easy to tell from
one Azure DNS answers (or hands to the upstream forwarder, which has no target).
Then ``dnsemu check`` (a rule shadowed by a linked zone), and the real server.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.message
import dns.query
import dns.rcode
import pytest
import yaml
from conftest import ServerThread, make_settings

from dnsemu.analysis.lint import check
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.load import load_topology_data

ESTATE = """
region: eastus
virtual_networks:
  hub:                                     # the resolver's VNet; zones and the ruleset are linked to it
    address_space: [10.0.0.0/16, 127.0.13.0/24]
  spoke:                                   # Azure-provided DNS; the same zones (blob with NxDomainRedirect)
    address_space: [10.1.0.0/16, 127.0.14.0/24]
  central:                                 # asks the hub's inbound endpoint (centralized design)
    address_space: [10.2.0.0/16]
    dns_servers: [10.0.0.4]
  wild:                                    # a wildcard rule and a rule for a reserved domain
    address_space: [10.3.0.0/16]
on_premises:
  dc:
    address_space: [192.168.0.0/16]
    dns_servers: [192.168.1.10]
    conditional_forwarders: {contoso.com: [10.0.0.4], blob.core.windows.net: [10.0.0.4]}
external_dns_servers:
  onprem-dns: {address: "203.0.113.53"}
  partner-dns: {address: "203.0.113.54"}
dns_private_resolvers:
  res:
    virtual_network: hub
    inbound_endpoints: {in1: {private_ip_address: 10.0.0.4}}
    outbound_endpoints: [out1]
dns_forwarding_rulesets:
  rules:
    dns_resolver_outbound_endpoints: [res/out1]
    virtual_network_links: [hub, spoke]
    forwarding_rules:
      contoso: {domain_name: contoso.com., target_dns_servers: [203.0.113.53]}
      corp: {domain_name: corp.contoso.com., target_dns_servers: [203.0.113.53]}
      retired: {domain_name: old.contoso.com., target_dns_servers: [203.0.113.54], state: Disabled}
      blob: {domain_name: blob.core.windows.net., target_dns_servers: [203.0.113.54]}
      plblob: {domain_name: privatelink.blob.core.windows.net., target_dns_servers: [203.0.113.54]}
      reverse: {domain_name: 168.192.in-addr.arpa., target_dns_servers: [203.0.113.53]}
      partner: {domain_name: partner.test., target_dns_servers: [192.168.1.10]}
  wildcard:
    dns_resolver_outbound_endpoints: [res/out1]
    virtual_network_links: [wild]
    forwarding_rules:
      everything: {domain_name: ., target_dns_servers: [203.0.113.53]}
      windows: {domain_name: windows.net., target_dns_servers: [203.0.113.54]}
private_dns_zones:
  corp.contoso.com:
    records: ["app 60 A 10.0.5.9", "alias 60 CNAME www.contoso.com."]
    virtual_network_links: [{virtual_network: hub}, {virtual_network: spoke}]
  privatelink.blob.core.windows.net:
    virtual_network_links:
      - {virtual_network: hub}
      - {virtual_network: spoke, resolution_policy: NxDomainRedirect}
private_endpoints:
  pe-acct:
    virtual_network: hub
    private_ip_addresses: [10.0.1.4]
    resource: {type: Microsoft.Storage/storageAccounts, name: acct}
    group_id: blob
    private_dns_zone_group: [privatelink.blob.core.windows.net]
"""

HUB, SPOKE, CENTRAL, WILD, DC = "10.0.2.4", "10.1.2.4", "10.2.2.4", "10.3.2.4", "192.168.2.4"
ONPREM, PARTNER = ("203.0.113.53", 53), ("203.0.113.54", 53)


@pytest.fixture(scope="module")
def loaded():
    return load_topology_data(yaml.safe_load(ESTATE))


@pytest.fixture(scope="module")
def index(loaded):
    return compile_topology(loaded)


@dataclass(frozen=True)
class Case:
    id: str
    facts: str  # the facts section the case checks
    source: str
    name: str
    outcome: Outcome
    kind: Source
    answer: tuple[str, ...] = ()  # substrings, one per answer record, in order
    forwarded_to: tuple[str, int] | None = None  # the rule's target; None: not forwarded by a rule
    trace_has: tuple[str, ...] = ()
    qtype: str = "A"


CASES = [
    Case("a name inside a linked zone is the zone's, even with a rule for that very domain", "facts-2 §11.1 #109292",
         SPOKE, "missing.corp.contoso.com", Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE,
         trace_has=("inside private zone corp.contoso.com.", "rule rules/corp for corp.contoso.com. does not fire")),
    Case("the issue's example: the zone answers, the parent's rule does not fire", "facts-2 §11.1 steps 3-4",
         HUB, "app.corp.contoso.com", Outcome.ANSWER, Source.PRIVATE, ("app.corp.contoso.com. A 10.0.5.9",),
         trace_has=("linked zones come first",)),
    Case("a name outside every linked zone meets the rules", "facts-2 §11.1 step 6",
         HUB, "www.contoso.com", Outcome.FORWARD, Source.FORWARDED, forwarded_to=ONPREM,
         trace_has=("outside every private zone linked to VNet 'hub'", "rule rules/contoso")),
    Case("a blob.core.windows.net rule wins over the linked privatelink zone for the public name",
         "facts-2 §11.1 #100273, §16.1", SPOKE, "acct.blob.core.windows.net", Outcome.FORWARD, Source.FORWARDED,
         forwarded_to=PARTNER, trace_has=("rule rules/blob",)),
    Case("the privatelink name itself is the zone's, whatever the rules say", "facts-2 §11.1 #100273",
         HUB, "acct.privatelink.blob.core.windows.net", Outcome.ANSWER, Source.PRIVATE,
         ("acct.privatelink.blob.core.windows.net. A 10.0.1.4",),
         trace_has=("rule rules/plblob for privatelink.blob.core.windows.net. does not fire",)),
    Case("a disabled rule is ignored: the enabled parent rule forwards", "facts-2 §11.3",
         HUB, "x.old.contoso.com", Outcome.FORWARD, Source.FORWARDED, forwarded_to=ONPREM,
         trace_has=("rule rules/retired of ruleset 'rules' for old.contoso.com. is Disabled: ignored",)),
    Case("the wildcard rule leaves a reserved domain alone: Azure DNS answers", "facts §4.2",
         WILD, "portal.azure.com", Outcome.FORWARD, Source.FORWARDED,
         trace_has=("wildcard rule leaves azure.com., a domain Azure reserves for its services, alone",)),
    Case("the wildcard rule forwards what Azure does not reserve", "facts §4.2",
         WILD, "www.example.org", Outcome.FORWARD, Source.FORWARDED, forwarded_to=ONPREM,
         trace_has=("rule wildcard/everything",)),
    Case("a rule for a reserved domain forwards, marked as an assumption", "facts-2 §11.1 #122204",
         WILD, "acct.blob.core.windows.net", Outcome.FORWARD, Source.FORWARDED, forwarded_to=PARTNER,
         trace_has=("core.windows.net. is a domain Azure reserves", "unconfirmed")),
    Case("through the inbound endpoint: the resolver VNet's zones first", "facts-2 §11.5",
         CENTRAL, "app.corp.contoso.com", Outcome.ANSWER, Source.PRIVATE, ("A 10.0.5.9",),
         trace_has=("inbound endpoint res/in1", "linked zones come first")),
    Case("through the inbound endpoint: then the resolver VNet's ruleset", "facts-2 §11.5",
         CENTRAL, "www.contoso.com", Outcome.FORWARD, Source.FORWARDED, forwarded_to=ONPREM,
         trace_has=("forwarding ruleset 'rules' is consulted",)),
    Case("on-premises through the inbound endpoint: same order", "facts-2 §11.5",
         DC, "app.corp.contoso.com", Outcome.ANSWER, Source.PRIVATE, ("A 10.0.5.9",)),
    Case("on-premises through the inbound endpoint: the public name meets the blob rule", "facts-2 §11.5, §11.1",
         DC, "acct.blob.core.windows.net", Outcome.FORWARD, Source.FORWARDED, forwarded_to=PARTNER),
    Case("NxDomainRedirect retries in public DNS, not by the rule (assumption, shown)", "facts-2 §11.1 [unconfirmed]",
         SPOKE, "other.privatelink.blob.core.windows.net", Outcome.FORWARD, Source.FORWARDED,
         trace_has=("NxDomainRedirect retry goes to public DNS, not to the rule",)),
    Case("a CNAME target is not matched against rules (assumption, shown)", "facts-2 §11.1 [unconfirmed]",
         HUB, "alias.corp.contoso.com", Outcome.FORWARD, Source.FORWARDED,
         ("alias.corp.contoso.com. CNAME www.contoso.com.",),
         trace_has=("rules are matched against the query name only",)),
    Case("a rule to an on-premises DNS server hands the query to it (which sends it to the internet)",
         "facts-2 §11.1 step 6", SPOKE, "www.partner.test", Outcome.FORWARD, Source.FORWARDED,
         trace_has=("rule rules/partner", "the DNS server of on-premises site 'dc' has no conditional forwarder")),
    Case("Azure-provided reverse zones are not linked zones: a rule for them forwards", "facts-2 §11.1 (assumption)",
         HUB, "4.2.168.192.in-addr.arpa", Outcome.FORWARD, Source.FORWARDED, forwarded_to=ONPREM,
         trace_has=("rule rules/reverse",), qtype="PTR"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_precedence(index, case: Case) -> None:
    result = resolve(index, Question(case.name.rstrip(".") + ".", RRType.make(case.qtype)), case.source)
    text = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, text
    assert result.source is case.kind, text
    assert len(result.answer) == len(case.answer), [r.text() for r in result.answer]
    for want, record in zip(case.answer, result.answer, strict=True):
        assert want in f"{record.name} {RRType(record.rtype).name} {' '.join(map(str, record.rdata))}"
    if case.forwarded_to is not None:
        assert result.forward is not None and result.forward.targets == (case.forwarded_to,), text
    elif result.forward is not None:
        assert result.forward.targets == (), f"forwarded by a rule:\n{text}"
    for want in case.trace_has:
        assert want in text, f"{want!r} not in the trace:\n{text}"


def test_the_wildcard_rule_case_says_which_reserved_domain(index) -> None:
    # 'windows' forwards acct.blob.core.windows.net; without it the wildcard rule would leave it alone
    data = yaml.safe_load(ESTATE)
    del data["dns_forwarding_rulesets"]["wildcard"]["forwarding_rules"]["windows"]
    result = resolve(compile_topology(load_topology_data(data)), Question("acct.blob.core.windows.net.", RRType.A),
                     WILD)
    text = "\n".join(result.trace_text())
    assert "wildcard rule leaves windows.net., a domain Azure reserves for its services, alone" in text
    assert result.source is Source.PUBLIC and result.forward is None  # Azure DNS resolved it: the public chain


def test_explain_says_which_step_decided(index) -> None:
    steps = resolve(index, Question("www.contoso.com.", RRType.A), HUB).trace
    decided = [s for s in steps if s.code == "rule"]
    assert len(decided) == 1 and "(facts-2 §11.1)" in decided[0].text


def test_check_finds_a_rule_shadowed_by_a_linked_zone(loaded, index) -> None:
    findings = {(f.code, f.subject): f for f in check(loaded, index)}
    for vnet in ("hub", "spoke"):
        finding = findings[("ruleset-rule-shadowed", f"rules/corp:{vnet}")]
        assert "corp.contoso.com" in finding.message and "never fires" in finding.message
        assert ("ruleset-rule-shadowed", f"rules/plblob:{vnet}") in findings
    # a rule above a linked zone still fires for the rest of its domain: not a finding
    assert not any(subject.startswith("rules/contoso") for _, subject in findings)
    assert not any(subject.startswith("rules/blob:") for _, subject in findings)


def test_check_accepts_the_shadowed_rule_when_the_estate_says_so() -> None:
    data = yaml.safe_load(ESTATE)
    data["check"] = {"accept": ["ruleset-rule-shadowed:rules/*"]}
    loaded = load_topology_data(data)
    assert not [f for f in check(loaded, compile_topology(loaded)) if f.code == "ruleset-rule-shadowed"]


# --------------------------------------------------------------------------- the real server


@pytest.fixture(scope="module")
def server(loaded):
    thread = ServerThread(make_settings(), loaded).start()
    yield thread
    thread.stop()


def test_server_answers_from_the_linked_zone_before_the_rule(server) -> None:
    """facts-2 §11.1: from the spoke (127.0.14.x), the zone answers, the rule's target is never asked."""
    reply = dns.query.udp(dns.message.make_query("app.corp.contoso.com", "A"), "127.0.0.1", port=server.port,
                          source="127.0.14.5", timeout=5)
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.to_text() for rrset in reply.answer for r in rrset] == ["10.0.5.9"]


def test_server_forwards_by_the_rule_outside_the_zone(server) -> None:
    """facts-2 §11.1 #100273: the public blob name goes to the rule's target; forwarding to it is off in tests,
    so the server answers REFUSED rather than the zone's data."""
    reply = dns.query.udp(dns.message.make_query("acct.blob.core.windows.net", "A"), "127.0.0.1", port=server.port,
                          source="127.0.14.5", timeout=5)
    assert reply.rcode() == dns.rcode.REFUSED
    direct = dns.query.udp(dns.message.make_query("acct.privatelink.blob.core.windows.net", "A"), "127.0.0.1",
                           port=server.port, source="127.0.14.5", timeout=5)
    assert [r.to_text() for rrset in direct.answer for r in rrset] == ["10.0.1.4"]
