"""DNS security policy (DNS resolver policy), facts-2 §10: model, validation, core, check, server, metrics.

Core cases are a table, each naming the facts section it checks. The wire is checked
with dnspython against a real server on loopback: VNet ``app`` is 127.0.21.0/24,
``central`` (which asks the hub's inbound endpoint) 127.0.22.0/24.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from dnsemu.analysis.explain import as_json, question, render
from dnsemu.analysis.lint import check
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.testing import Emulator
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology_data, load_topology_text

ESTATE = """
region: eastus
virtual_networks:
  hub: {address_space: [10.0.0.0/16, 127.0.20.0/24]}
  app: {address_space: [10.1.0.0/16, 127.0.21.0/24]}
  central: {address_space: [10.2.0.0/16, 127.0.22.0/24], dns_servers: [10.0.0.4]}
  west: {address_space: [10.5.0.0/16], region: westeurope}
  custom: {address_space: [10.6.0.0/16], dns_servers: [10.6.0.53]}
  plain: {address_space: [10.7.0.0/16]}
custom_dns_servers:
  dns1: {virtual_network: custom, private_ip_address: 10.6.0.53, default_forwarding: azure}
dns_private_resolvers:
  res:
    virtual_network: hub
    inbound_endpoints: {in1: {private_ip_address: 10.0.0.4}}
    outbound_endpoints: [out1]
dns_forwarding_rulesets:
  app-rules:
    dns_resolver_outbound_endpoints: [res/out1]
    virtual_network_links: [app]
    forwarding_rules:
      hubonly: {domain_name: hubonly.example., target_dns_servers: [10.0.0.4]}
dns_resolver_domain_lists:
  malware: {domains: [malware.example, "evil.example.", secret.corp.contoso.com]}
  contoso-parent: {domains: [contoso.example]}
  contoso-bad: {domains: [bad.contoso.example]}
  corp: {domains: [corp.contoso.com]}
  legacy: {domains: [legacy.example]}
  tracker: {domains: [tracker.example]}
  everything: {domains: ["."]}
  hub-bad: {domains: [HubOnly.Example]}
dns_resolver_policies:
  pol-app:
    dns_security_rules:
      allow-contoso: {priority: 100, action: Allow, dns_resolver_domain_lists: [contoso-parent]}
      disabled-corp:
        {priority: 150, action: Block, dns_resolver_domain_lists: [corp], dns_security_rule_state: Disabled}
      block-malware: {priority: 200, action: {action_type: Block}, dns_resolver_domain_lists: [malware]}
      block-contoso-bad: {priority: 250, action: Block, dns_resolver_domain_lists: [contoso-bad]}
      alert-corp: {priority: 300, action: Alert, dns_resolver_domain_lists: [corp]}
      preview-block:
        priority: 400
        action: {action_type: Block, block_response_code: SERVFAIL}
        dns_resolver_domain_lists: [legacy]
      tracker-name-only:
        priority: 500
        action: Block
        dns_resolver_domain_lists: [tracker]
        disable_cname_chain_validation: true
      log-everything: {priority: 65000, action: Allow, dns_resolver_domain_lists: [everything]}
    virtual_network_links: [app, {virtual_network: west, name: west-link}]
  pol-hub:
    dns_security_rules:
      block-hub: {priority: 100, action: Block, dns_resolver_domain_lists: [hub-bad]}
    virtual_network_links: [hub, custom]
private_dns_zones:
  corp.contoso.com:
    records: ["app 60 A 10.1.0.9", "secret 60 A 10.1.0.10"]
    virtual_network_links: [{virtual_network: app}]
public_dns:
  zones:
    malware.example: {records: ["www 60 A 198.51.100.66"]}
    good.example:
      records:
        - "www 60 A 198.51.100.1"
        - "cdn 60 CNAME www.malware.example."
        - "track 60 CNAME pixel.tracker.example."
    tracker.example: {records: ["pixel 60 A 198.51.100.77"]}
    legacy.example: {records: ["www 60 A 198.51.100.5"]}
    hubonly.example: {records: ["www 60 A 198.51.100.9"]}
    contoso.example: {records: ["bad 60 A 198.51.100.13"]}
"""

APP, CENTRAL, WEST, CUSTOM, PLAIN = "10.1.2.4", "10.2.2.4", "10.5.2.4", "10.6.2.4", "10.7.2.4"
BLOCKED = ("CNAME blockpolicy.azuredns.invalid.",)
BLOCK_SOA = "blockpolicy.azuredns.invalid. 60 IN SOA ns1.azure-dns.com. support.azure.com. 1000 3600 600 1800 60"


def data() -> dict[str, Any]:
    return yaml.safe_load(ESTATE)


@pytest.fixture(scope="module")
def loaded():
    return load_topology_data(data())


@pytest.fixture(scope="module")
def index(loaded):
    return compile_topology(loaded)


@dataclass(frozen=True)
class Case:
    id: str
    facts: str
    source: str
    name: str
    outcome: Outcome
    kind: Source
    answer: tuple[str, ...]  # substrings, one per answer record
    decisions: tuple[tuple[str, str, str], ...] = ()  # (policy, rule, action), innermost first
    trace_has: tuple[str, ...] = ()
    qtype: str = "A"


CASES = [
    Case("Block answers NOERROR with a CNAME to blockpolicy.azuredns.invalid.", "facts-2 §10.4",
         APP, "www.malware.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED, (("pol-app", "block-malware", "Block"),),
         ("rule 'block-malware' (priority 200, Block) matches www.malware.example.",)),
    Case("every type of a blocked name gets the same answer", "facts-2 §10.4",
         APP, "www.malware.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED, (("pol-app", "block-malware", "Block"),),
         qtype="AAAA"),
    Case("a name whose chain passes through a blocked domain is blocked", "facts-2 §10.3",
         APP, "cdn.good.example", Outcome.ANSWER, Source.BLOCKED, ("cdn.good.example. CNAME blockpolicy",),
         (("pol-app", "block-malware", "Block"),), ("the answer's chain passes through www.malware.example.",)),
    Case("an entry matches the name and everything below it, in any case", "facts-2 §10.5",
         CENTRAL, "WWW.hubonly.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED, (("pol-hub", "block-hub", "Block"),)),
    Case("first match wins: a parent allowed first beats a block on its child", "facts-2 §10.3",
         APP, "bad.contoso.example", Outcome.ANSWER, Source.PUBLIC, ("A 198.51.100.13",),
         (("pol-app", "allow-contoso", "Allow"),), ("Allow: the answer goes out unchanged",)),
    Case("a disabled rule is skipped; the next matching rule (Alert) decides", "facts-2 §10.3 (inference)",
         APP, "app.corp.contoso.com", Outcome.ANSWER, Source.PRIVATE, ("A 10.1.0.9",),
         (("pol-app", "alert-corp", "Alert"),), ("'disabled-corp' of DNS security policy 'pol-app' would match",
                                                  "logged as an alert")),
    Case("private zone answers are blockable, by priority", "facts-2 §10.7, §10.3",
         APP, "secret.corp.contoso.com", Outcome.ANSWER, Source.BLOCKED, BLOCKED,
         (("pol-app", "block-malware", "Block"),)),
    Case("the preview's blockResponseCode SERVFAIL", "facts-2 §10.2, §10.4",
         APP, "www.legacy.example", Outcome.SERVFAIL, Source.BLOCKED, (), (("pol-app", "preview-block", "Block"),),
         ("SERVFAIL",)),
    Case("disable_cname_chain_validation: only the queried name is matched", "facts-2 §10.3 (2026-07-01-preview)",
         APP, "track.good.example", Outcome.ANSWER, Source.PUBLIC, ("CNAME pixel.tracker.example.", "A 198.51.100.77"),
         (("pol-app", "log-everything", "Allow"),)),
    Case("disable_cname_chain_validation: the queried name itself is still blocked", "facts-2 §10.3",
         APP, "pixel.tracker.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED,
         (("pol-app", "tracker-name-only", "Block"),)),
    Case("'.' matches every name: the lowest-priority catch-all", "facts-2 §10.5, §10.9",
         APP, "www.good.example", Outcome.ANSWER, Source.PUBLIC, ("A 198.51.100.1",),
         (("pol-app", "log-everything", "Allow"),)),
    Case("a blocked name outside the model is not forwarded (assumption, shown)", "facts-2 §10.8 [unconfirmed]",
         APP, "x.evil.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED, (("pol-app", "block-malware", "Block"),),
         ("is not forwarded",)),
    Case("a policy covers VNets of its own region only", "facts-2 §10.7",
         WEST, "www.malware.example", Outcome.ANSWER, Source.PUBLIC, ("A 198.51.100.66",), (),
         ("covers VNets of its own region only",)),
    Case("a VNet without a policy is not checked", "facts-2 §10.7",
         PLAIN, "www.malware.example", Outcome.ANSWER, Source.PUBLIC, ("A 198.51.100.66",)),
    Case("through an inbound endpoint: the resolver VNet's policy (inference)", "facts-2 §10.7, §11.5",
         CENTRAL, "www.hubonly.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED, (("pol-hub", "block-hub", "Block"),),
         ("arrived at an inbound endpoint",)),
    Case("through an inbound endpoint, another VNet's policy does not apply", "facts-2 §10.7",
         CENTRAL, "www.malware.example", Outcome.ANSWER, Source.PUBLIC, ("A 198.51.100.66",)),
    Case("forwarded by a ruleset to an inbound endpoint: inner policy first, then the VNet's own", "facts-2 §10.7",
         APP, "www.hubonly.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED,
         (("pol-hub", "block-hub", "Block"), ("pol-app", "log-everything", "Allow"))),
    Case("a custom DNS server's own queries are its VNet's (inference)", "facts-2 §10.7",
         CUSTOM, "www.hubonly.example", Outcome.ANSWER, Source.BLOCKED, BLOCKED, (("pol-hub", "block-hub", "Block"),),
         ("custom DNS server in that VNet asks Azure DNS itself",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy(index, case: Case) -> None:
    result = resolve(index, Question(case.name.lower().rstrip(".") + ".", RRType.make(case.qtype)), case.source)
    text = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, text
    assert result.source is case.kind, text
    got = [f"{r.name} {RRType(r.rtype).name} {' '.join(map(str, r.rdata))}" for r in result.answer]
    assert len(got) == len(case.answer), got
    for want, line in zip(case.answer, got, strict=True):
        assert want in line, got
    assert tuple((d.policy, d.rule, d.action) for d in result.policy) == case.decisions, text
    for want in case.trace_has:
        assert want in text, f"{want!r} not in:\n{text}"
    if case.kind is Source.BLOCKED and case.outcome is Outcome.ANSWER:
        assert [" ".join(r.text().split()) for r in result.authority] == [BLOCK_SOA]
        assert result.answer[0].name == case.name.lower().rstrip(".") + "." and result.answer[0].ttl == 60


def test_decisions_say_what_matched(index) -> None:
    result = resolve(index, Question("cdn.good.example.", RRType.A), APP)
    (decision,) = result.policy
    assert (decision.domain_list, decision.domain, decision.name, decision.vnet, decision.context) == (
        "malware", "malware.example.", "www.malware.example.", "app", "vnet")


def test_explain_names_the_rule(index, loaded) -> None:
    q = question("www.malware.example")
    result = resolve(index, q, APP)
    text = render(q, APP, result)
    assert "rule 'block-malware' (priority 200, Block)" in text
    assert "answer: blocked" in text and "blockpolicy.azuredns.invalid." in text
    body = as_json(q, "A", APP, result)
    assert body["answer_kind"] == "blocked"
    assert body["policy"] == [{"policy": "pol-app", "vnet": "app", "rule": "block-malware", "priority": 200,
                               "action": "Block", "domain_list": "malware", "domain": "malware.example.",
                               "name": "www.malware.example.", "context": "vnet"}]


# --------------------------------------------------------------------------- validation (facts-2 §10.2, §10.6)


def problems(mutate) -> list[str]:
    d = data()
    mutate(d)
    with pytest.raises(TopologyError) as caught:
        load_topology_text(yaml.safe_dump(d), "estate.yaml")
    return [str(p) for p in caught.value.problems]


def _rule(d: dict[str, Any]) -> dict[str, Any]:
    return d["dns_resolver_policies"]["pol-app"]["dns_security_rules"]["block-malware"]


INVALID = [
    ("priority below 100", "§10.3", lambda d: _rule(d).update(priority=99),
     "dns_resolver_policies.pol-app.dns_security_rules.block-malware.priority"),
    ("priority above 65000", "§10.3", lambda d: _rule(d).update(priority=65001),
     "less than or equal to 65000 (got 65001)"),
    ("an action Azure does not have", "§10.2", lambda d: _rule(d).update(action="Deny"), "'Allow', 'Alert' or 'Block'"),
    ("a rule without a domain list", "§10.3", lambda d: _rule(d).update(dns_resolver_domain_lists=[]),
     "at least 1 item"),
    ("an unknown domain list", "§10.3", lambda d: _rule(d).update(dns_resolver_domain_lists=["malwre"]),
     "unknown domain list 'malwre' (did you mean 'malware'?)"),
    ("a domain list of another region", "§10.3",
     lambda d: d["dns_resolver_domain_lists"]["malware"].update(region="westeurope"),
     "domain list 'malware' is in westeurope, the policy in eastus"),
    ("blockResponseCode on an Alert", "§10.2",
     lambda d: _rule(d).update(action={"action_type": "Alert", "block_response_code": "SERVFAIL"}),
     "block_response_code applies to Block, not Alert"),
    ("a blockResponseCode other than SERVFAIL", "§10.4",
     lambda d: _rule(d).update(action={"action_type": "Block", "block_response_code": "NXDOMAIN"}), "'SERVFAIL'"),
    ("a VNet linked to two policies", "§10.7",
     lambda d: d["dns_resolver_policies"]["pol-hub"]["virtual_network_links"].append("app"),
     "virtual network 'app' is already linked to DNS resolver policy 'pol-app'"),
    ("a link to an unknown VNet", "§10.2",
     lambda d: d["dns_resolver_policies"]["pol-hub"]["virtual_network_links"].append("nowhere"),
     "unknown virtual network 'nowhere'"),
    ("a rule name outside Azure's pattern", "§10.2",
     lambda d: d["dns_resolver_policies"]["pol-hub"]["dns_security_rules"].update(
         {"-bad": {"priority": 300, "action": "Allow", "dns_resolver_domain_lists": ["everything"]}}),
     "'-bad' is not a valid security rule name"),
    ("a wildcard entry other than '.'", "§10.5",
     lambda d: d["dns_resolver_domain_lists"]["legacy"]["domains"].append("*.contoso.com"),
     "write the domain without '*.'"),
    ("more than 100 rules in a policy", "§10.6",
     lambda d: d["dns_resolver_policies"]["pol-hub"]["dns_security_rules"].update(
         {f"r{i}": {"priority": 1000 + i, "action": "Allow", "dns_resolver_domain_lists": ["everything"]}
          for i in range(100)}),
     "more than 100 security rules"),
    ("an unknown region", "§10.7", lambda d: d["dns_resolver_policies"]["pol-hub"].update(region="atlantis"),
     "unknown region 'atlantis'"),
]


@pytest.mark.parametrize(("why", "facts", "mutate", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid(why: str, facts: str, mutate, expected: str) -> None:
    found = problems(mutate)
    assert any(expected in p for p in found), found
    assert all(p.startswith("estate.yaml:") for p in found), found  # file and line, always


def test_link_across_regions_is_valid_and_uncovered(index) -> None:
    """facts-2 §10.7 says the policy applies to its region's VNets, not that ARM refuses the link."""
    assert not index.policies["west"].applies and index.policies["app"].applies


# --------------------------------------------------------------------------- check


def test_check_findings(loaded, index) -> None:
    found = {(f.code, f.subject): f for f in check(loaded, index)}
    unreachable = found[("security-rule-unreachable", "pol-app/block-contoso-bad")]
    assert "'allow-contoso'" in unreachable.message and "first matching rule decides" in unreachable.message
    assert ("security-policy-region", "pol-app:west") in found
    assert not any(code.startswith("security-") and "pol-hub" in subject for code, subject in found)


def test_check_more_findings() -> None:
    d = data()
    d["dns_resolver_domain_lists"]["empty"] = {"domains": []}
    rules = d["dns_resolver_policies"]["pol-hub"]["dns_security_rules"]
    rules["nothing"] = {"priority": 300, "action": "Block", "dns_resolver_domain_lists": ["empty"]}
    rules["same-a"] = {"priority": 500, "action": "Alert", "dns_resolver_domain_lists": ["legacy"]}
    rules["same-b"] = {"priority": 500, "action": "Block", "dns_resolver_domain_lists": ["tracker"]}
    # a disabled parent shadows nothing; a name-only parent does not cover a chain-checking child
    rules["off"] = {"priority": 200, "action": "Allow", "dns_resolver_domain_lists": ["everything"],
                    "dns_security_rule_state": "Disabled"}
    d["dns_resolver_policies"]["pol-hub"]["virtual_network_links"].append("central")
    loaded = load_topology_data(d)
    found = {(f.code, f.subject): f for f in check(loaded, compile_topology(loaded))}
    assert "rule(s) pol-hub/nothing match nothing" in found[("security-empty-domain-list", "empty")].message
    assert ("security-rule-priority-tie", "pol-hub/same-a,same-b") in found
    bypassed = found[("security-policy-bypassed", "pol-hub:central")]
    assert "reach Azure DNS in VNet 'hub'" in bypassed.message
    assert not any(code == "security-rule-unreachable" and "pol-hub" in subject for code, subject in found)


def test_name_only_parent_does_not_shadow_a_chain_child() -> None:
    d = data()
    rules = d["dns_resolver_policies"]["pol-hub"]["dns_security_rules"]
    rules["block-hub"]["disable_cname_chain_validation"] = True
    rules["child"] = {"priority": 300, "action": "Alert", "dns_resolver_domain_lists": ["hub-bad"]}
    loaded = load_topology_data(d)
    assert not [f for f in check(loaded, compile_topology(loaded)) if f.subject == "pol-hub/child"]
    rules["child"]["disable_cname_chain_validation"] = True
    loaded = load_topology_data(d)
    assert [f for f in check(loaded, compile_topology(loaded)) if f.subject == "pol-hub/child"]


# --------------------------------------------------------------------------- the real server, dnspython


@pytest.fixture(scope="module")
def emulator():
    with Emulator(data(), http=True) as running:
        yield running


def ask(emulator: Emulator, name: str, source: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=emulator.port, source=source, timeout=5)
    return dns.query.udp(q, "127.0.0.1", port=emulator.port, source=source, timeout=5)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_block_on_the_wire_is_ga_azure(emulator: Emulator, tcp: bool) -> None:
    """facts-2 §10.4: NOERROR, qr rd ra, the CNAME in ANSWER, the SOA of blockpolicy.azuredns.invalid. in AUTHORITY."""
    reply = ask(emulator, "Www.Malware.Example", "127.0.21.5", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.RA and reply.flags & dns.flags.RD
    assert not reply.flags & dns.flags.AA
    assert [(str(r.name), r.ttl, dns.rdatatype.to_text(r.rdtype), [x.to_text() for x in r]) for r in reply.answer] == [
        ("Www.Malware.Example.", 60, "CNAME", ["blockpolicy.azuredns.invalid."])]
    assert [rrset.to_text() for rrset in reply.authority] == [BLOCK_SOA]


def test_preview_block_is_servfail(emulator: Emulator) -> None:
    reply = ask(emulator, "www.legacy.example", "127.0.21.5")
    assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer and not reply.authority


def test_other_vnets_resolve_normally(emulator: Emulator) -> None:
    reply = ask(emulator, "www.malware.example", "127.0.20.5")  # the hub: pol-hub does not list it
    assert [r.to_text() for rrset in reply.answer for r in rrset] == ["198.51.100.66"]


def test_alert_answers_normally_logs_and_counts(emulator: Emulator, dnsemu_logging) -> None:
    before = emulator.metric("dnsemu_dns_policy_matches_total",
                             {"policy": "pol-app", "rule": "alert-corp", "action": "Alert"}) or 0
    for _ in range(3):  # never from the reply cache: each one is logged and counted
        reply = ask(emulator, "app.corp.contoso.com", "127.0.21.5")
        assert [r.to_text() for rrset in reply.answer for r in rrset] == ["10.1.0.9"]
    after = emulator.metric("dnsemu_dns_policy_matches_total",
                            {"policy": "pol-app", "rule": "alert-corp", "action": "Alert"})
    assert after == before + 3
    events = [e for e in dnsemu_logging.events("dns_policy") if e.get("rule") == "alert-corp"]
    assert len(events) >= 3
    assert events[-1]["level"] == "warning" and events[-1]["action"] == "Alert"
    assert events[-1]["client"] == "127.0.21.5" and events[-1]["qname"] == "app.corp.contoso.com."


def test_block_counted_per_rule_and_action(emulator: Emulator) -> None:
    labels = {"policy": "pol-hub", "rule": "block-hub", "action": "Block"}
    before = emulator.metric("dnsemu_dns_policy_matches_total", labels) or 0
    ask(emulator, "www.hubonly.example", "127.0.22.5")  # central, through the hub's inbound endpoint
    ask(emulator, "www.hubonly.example", "127.0.22.5")
    assert emulator.metric("dnsemu_dns_policy_matches_total", labels) == before + 2
    blocked = emulator.metric("dnsemu_dns_queries_total", {"proto": "udp", "view": "vnet:hub", "type": "A",
                                                           "rcode": "NOERROR", "kind": "blocked"})
    assert blocked is not None and blocked >= 2


def test_nxdomain_fast_path_does_not_skip_the_policy() -> None:
    """A VNet without rules has precompiled NXDOMAIN answers; a policy on it must still see them."""
    d = data()
    d["dns_resolver_domain_lists"]["corp"]["domains"] = ["."]
    d["dns_resolver_policies"]["pol-app"]["dns_security_rules"] = {
        "block-all": {"priority": 100, "action": "Block", "dns_resolver_domain_lists": ["corp"]}}
    d["dns_forwarding_rulesets"] = {}
    with Emulator(d) as running:
        for _ in range(2):
            reply = ask(running, "missing.corp.contoso.com", "127.0.21.5")
            assert reply.rcode() == dns.rcode.NOERROR
            assert [r.to_text() for rrset in reply.answer for r in rrset] == ["blockpolicy.azuredns.invalid."]


def test_openapi_explain_schema_takes_policy(emulator: Emulator) -> None:
    import jsonschema

    body = emulator.explain("www.malware.example", source="app")
    schema = _openapi(emulator)["components"]["schemas"]["Explain"]
    jsonschema.validate(body, schema)
    assert body["policy"][0]["rule"] == "block-malware"


def _openapi(emulator: Emulator) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(emulator.http_url + "/v1/openapi.json", timeout=5) as response:
        return json.loads(response.read())
