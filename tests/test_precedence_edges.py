"""Forwarding rulesets at their edges, through the pure core (facts-2 §11.1, §11.3; facts §1.4).

A ruleset whose only rule is Disabled; a ruleset whose Disabled rule is for another domain;
and an NxDomainRedirect link in a VNet whose ruleset has rules, none for the name retried.
Rule targets are external servers (203.0.113.x), so a forwarded query is told apart from
one Azure DNS hands to the upstream forwarder (which names no server).
"""

from __future__ import annotations

import pytest
import yaml

from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.load import load_topology_data

ESTATE = """
virtual_networks:
  hub: {address_space: [10.0.0.0/16]}
  quiet: {address_space: [10.1.0.0/16]}      # its ruleset's only rule is Disabled
  mixed: {address_space: [10.2.0.0/16]}    # an enabled rule, and a Disabled one for another domain
external_dns_servers:
  partner-dns: {address: "203.0.113.54"}
dns_private_resolvers:
  res:
    virtual_network: hub
    inbound_endpoints: {in1: {private_ip_address: 10.0.0.4}}
    outbound_endpoints: [out1]
dns_forwarding_rulesets:
  all-off:
    dns_resolver_outbound_endpoints: [res/out1]
    virtual_network_links: [quiet]
    forwarding_rules:
      corp: {domain_name: corp.example., target_dns_servers: [203.0.113.54], state: Disabled}
  some:
    dns_resolver_outbound_endpoints: [res/out1]
    virtual_network_links: [mixed]
    forwarding_rules:
      partner: {domain_name: partner.test., target_dns_servers: [203.0.113.54]}
      retired: {domain_name: old.example., target_dns_servers: [203.0.113.54], state: Disabled}
private_dns_zones:
  privatelink.blob.core.windows.net:
    virtual_network_links: [{virtual_network: mixed, resolution_policy: NxDomainRedirect}]
"""
OFF, MIXED = "10.1.0.4", "10.2.0.4"


@pytest.fixture(scope="module")
def index():
    return compile_topology(load_topology_data(yaml.safe_load(ESTATE)))


def codes(result) -> list[str]:
    return [step.code for step in result.trace]


def test_a_ruleset_whose_only_rule_is_disabled_forwards_nothing(index) -> None:
    """facts-2 §11.3: a Disabled rule is ignored; with no enabled rule left, Azure DNS answers (here: upstream)."""
    result = resolve(index, Question("app.corp.example.", RRType.A), OFF)
    text = "\n".join(result.trace_text())
    assert (result.outcome, result.source) == (Outcome.FORWARD, Source.FORWARDED), text
    assert result.forward is not None and result.forward.name == "app.corp.example."
    assert result.forward.targets == ()  # the upstream forwarder, not the rule's 203.0.113.54
    assert "rule all-off/corp of ruleset 'all-off' for corp.example. is Disabled: ignored" in text
    assert "forwarding ruleset 'all-off' has no enabled rule for it: Azure DNS answers" in text
    assert "203.0.113.54" not in text


def test_a_disabled_rule_for_another_domain_says_nothing(index) -> None:
    result = resolve(index, Question("www.example.org.", RRType.A), MIXED)
    text = "\n".join(result.trace_text())
    assert (result.outcome, result.source) == (Outcome.FORWARD, Source.FORWARDED), text
    assert result.forward is not None and result.forward.targets == ()
    assert "rule-disabled" not in codes(result)
    assert "forwarding ruleset 'some' has no enabled rule for it: Azure DNS answers" in text


def test_the_enabled_rule_still_forwards_to_its_target(index) -> None:
    result = resolve(index, Question("api.partner.test.", RRType.A), MIXED)
    assert result.outcome is Outcome.FORWARD
    assert result.forward is not None and result.forward.targets == (("203.0.113.54", 53),)
    assert "rule-disabled" not in codes(result)


def test_nxdomain_redirect_with_no_rule_for_the_name_makes_no_assumption(index) -> None:
    """facts §1.4: the NXDOMAIN of a NxDomainRedirect link is retried in public DNS; no rule covers the
    name, so the trace has no note about where a rule would have sent the retry (facts-2 §11.1)."""
    result = resolve(index, Question("nosuch.privatelink.blob.core.windows.net.", RRType.A), MIXED)
    assert "fallback" in codes(result)
    assert "assumption" not in codes(result)
    assert result.source is not Source.NXDOMAIN_PRIVATE  # the private NXDOMAIN was not the answer
