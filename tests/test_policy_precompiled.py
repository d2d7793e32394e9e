"""A VNet with a DNS security policy answered from the precompiled tables (issue 18), with the policy's
facts kept (facts-2 §10): Block, Alert and Allow in priority order over every name of the chain
(§10.3, §10.4), Disabled rules skipped, a rule limited to the queried name, every match logged and
counted (§10.9). A name the policy may match always goes to the resolver; any other name gets the
very bytes the resolver would have sent, counted under the same labels.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
from typing import Any

import dns.message
import dns.rcode
import pytest
import yaml
from conftest import BUNDLED_TOPOLOGY, make_settings
from structlog.testing import capture_logs

import dnsemu.server.handler.handler as handler_module
from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index
from dnsemu.logs import get_logger
from dnsemu.server.handler import Handler
from dnsemu.topology.load import load_topology_text

HUB = "10.0.1.4"  # a client in the hub, whose Azure DNS the policy is linked to
SPOKE1 = "10.1.0.4"  # spoke1 asks the hub's inbound endpoint: the hub's policy, as an inbound endpoint's (§10.7)
SANDBOX = "10.3.0.4"  # no policy: the control

LISTS = {
    "alert-list": ["hub-vm1.azure.contoso.com", "contoso-kv.privatelink.vaultcore.azure.net",
                   "ghost.privatelink.blob.core.windows.net"],
    "block-list": ["svc.contoso.internal", "contoso-kv.privatelink.vaultcore.azure.net"],
    "servfail-list": ["privatelink.database.windows.net"],
    "allow-list": ["mystorage.privatelink.blob.core.windows.net", "0.10.in-addr.arpa"],
    "disabled-list": ["privatelink.azurecr.io"],
    "question-only-list": ["contoso-web.privatelink.azurewebsites.net", "hub-vm1.internal.cloudapp.net"],
}
RULES = {
    "alert": {"priority": 100, "action": "Alert", "dns_resolver_domain_lists": ["alert-list"]},
    "block": {"priority": 200, "action": "Block", "dns_resolver_domain_lists": ["block-list"]},
    "block-servfail": {"priority": 300, "action": {"action_type": "Block", "block_response_code": "SERVFAIL"},
                       "dns_resolver_domain_lists": ["servfail-list"]},
    "allow": {"priority": 400, "action": "Allow", "dns_resolver_domain_lists": ["allow-list"]},
    "off": {"priority": 150, "action": "Block", "dns_resolver_domain_lists": ["disabled-list"],
            "dns_security_rule_state": "Disabled"},
    "question-only": {"priority": 500, "action": "Alert", "dns_resolver_domain_lists": ["question-only-list"],
                      "disable_cname_chain_validation": True},
}


def policy_estate() -> Index:
    """The bundled estate plus a policy of every kind of rule on the hub (spoke1 asks the hub's Azure DNS)."""
    data = yaml.safe_load(BUNDLED_TOPOLOGY.read_text())
    data["dns_resolver_domain_lists"] = {**data.get("dns_resolver_domain_lists", {}),
                                         **{name: {"domains": domains} for name, domains in LISTS.items()}}
    data["dns_resolver_policies"]["hub-policy"] = {"dns_security_rules": RULES, "virtual_network_links": ["hub"]}
    loaded = load_topology_text(yaml.safe_dump(data), str(BUNDLED_TOPOLOGY), base_dir=BUNDLED_TOPOLOGY.parent)
    return compile_topology(loaded, generation=1)


def make(index: Index, **overrides: Any) -> Handler:
    overrides.setdefault("query_log", False)
    return Handler(make_settings(**overrides), index, logger=get_logger("dnsemu"))


def test_a_policy_vnet_has_a_negative_table_that_carries_its_policy() -> None:
    """§10.8: the policy looks at every answer, so the table holds it and defers to it; pickled with the index."""
    index = policy_estate()
    policy = index.policies["hub"]
    assert index.negative["hub"].policy is policy and index.negative["spoke1"].policy is policy
    assert index.negative["sandbox"].policy is None
    assert "spoke2" not in index.negative  # a ruleset is consulted first: still no table
    again = pickle.loads(pickle.dumps(index))
    assert again.negative["hub"].policy is not None
    assert again.negative["hub"].policy.covers("x.svc.contoso.internal.")
    assert not again.negative["hub"].policy.covers("mystorage.privatelink.file.core.windows.net.")


def test_a_policy_in_another_region_leaves_the_table_without_it() -> None:
    """§10.7: a policy covers VNets of its own region only; it decides nothing in the table's VNet."""
    data = yaml.safe_load(BUNDLED_TOPOLOGY.read_text())
    far = "westeurope" if data["region"].lower() != "westeurope" else "eastus"
    data["dns_resolver_domain_lists"]["everything"] = {"domains": ["."], "region": far}
    data["dns_resolver_policies"]["far"] = {
        "region": far,
        "dns_security_rules": {"all": {"priority": 100, "action": "Block",
                                       "dns_resolver_domain_lists": ["everything"]}},
        "virtual_network_links": ["hub"]}
    index = compile_topology(load_topology_text(yaml.safe_dump(data), str(BUNDLED_TOPOLOGY),
                                                base_dir=BUNDLED_TOPOLOGY.parent))
    assert "hub" in index.policies and not index.policies["hub"].applies
    assert index.negative["hub"].policy is None


def _names(index: Index, rng: random.Random) -> list[str]:
    """Names under the hub's linked zones: the zones' own, made-up ones beside and below them, the lists' entries."""
    out: list[str] = []
    for apex, plan in index.negative["hub"].plans.items():
        if len(plan.zone.nodes) < 2 and rng.random() < 0.8:
            continue  # most reverse zones hold nothing but their SOA: a few are enough
        held = list(plan.zone.nodes)
        out.extend(held)
        out.extend(f"{label}.{name}" for name in held for label in rng.sample(["nosuch", "ghost", "www", "a-b"], 2))
        out.append(f"ghost.{apex}")
    for domains in LISTS.values():
        for entry in domains:
            out.extend([entry + ".", f"deep.{entry}.", f"X.Y.{entry}."])
    return out


QTYPES = ["A", "AAAA", "CNAME", "TXT", "MX", "PTR", "SRV", "SOA", "NS", "CAA", "ANY"]


@pytest.mark.parametrize("seed", [1, 2])
def test_precompiled_replies_with_a_policy_are_the_resolvers_with_the_same_decisions(monkeypatch: Any,
                                                                                     seed: int) -> None:
    """Over the bundled estate with the policy: every reply of the fast handler (precompiled tables) is the
    resolver's byte for byte, asked twice (the second may be a cache hit); the queries' counters, the
    policy's metrics and its ``dns_policy`` events (Alert at warning) agree; a name the policy covers never
    skips the resolver, and names it does not cover are answered without it."""
    index = policy_estate()
    policy = index.policies["hub"]
    rng = random.Random(seed)
    fast = make(index)  # query log off: the precompiled path may answer
    slow = make(index, query_log=True)  # query log on: every miss is resolved
    resolved: list[str] = []
    real = handler_module.resolve_classified

    def counting(*args: Any, **kwargs: Any) -> Any:
        resolved.append(args[3].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(handler_module, "resolve_classified", counting)
    names = _names(index, rng)
    fast_events: list[dict[str, Any]] = []
    slow_events: list[dict[str, Any]] = []
    skipped = {"covered": 0, "not covered": 0}
    for i in range(500):
        name = rng.choice(names)
        name = "".join(c.upper() if rng.random() < 0.2 else c for c in name)
        query = dns.message.make_query(name, rng.choice(QTYPES), id=i, use_edns=rng.choice([None, 0]))
        source = (rng.choice([HUB, HUB, SPOKE1, SANDBOX]), 5)
        wire = query.to_wire()
        for _ in range(2):
            with capture_logs() as logs:
                expected = slow.handle(wire, source)
            decided = [e for e in logs if e["event"] == "dns_policy"]
            slow_events += decided
            resolved.clear()
            hits = fast.stats.snapshot().cache.get(("hit", "udp"), 0)
            with capture_logs() as logs:
                got = fast.handle(wire, source)
            hit = fast.stats.snapshot().cache.get(("hit", "udp"), 0) > hits
            fast_events += [e for e in logs if e["event"] == "dns_policy"]
            assert isinstance(expected, bytes) and got == expected, (name, source)
            canonical = name.lower()
            covered = policy.covers(canonical) or any(
                policy.covers(str(rr.target).lower()) for rrset in dns.message.from_wire(got).answer
                for rr in rrset if rrset.rdtype == dns.rdatatype.CNAME)
            if source[0] != SANDBOX:
                if covered:
                    # a covered name is decided by the resolver, never by a precompiled reply; a reply with a
                    # decision is never kept (each match is logged), one without (a Disabled rule's) may be
                    assert resolved == [canonical] or (hit and not decided), (name, source)
                    skipped["covered"] += 1
                elif not resolved:
                    skipped["not covered"] += 1
    assert skipped["covered"] >= 50 and skipped["not covered"] >= 50  # neither side of the comparison is vacuous
    assert fast.stats.snapshot().queries == slow.stats.snapshot().queries
    assert fast.policy_log.counts == slow.policy_log.counts
    actions = {action for (_, _, action) in fast.policy_log.counts}
    assert actions == {"Alert", "Block", "Allow"}, fast.policy_log.counts
    assert not any(rule == "off" for (_, rule, _) in fast.policy_log.counts)  # Disabled: skipped (§10.3)
    assert fast_events == slow_events
    assert any(e["action"] == "Alert" and e["log_level"] == "warning" for e in fast_events)


def test_a_name_the_policy_does_not_cover_is_answered_without_resolving(monkeypatch: Any) -> None:
    """The point of it all: the hub's misses no rule covers take the precompiled path, as without a policy."""
    index = policy_estate()
    h = make(index)
    calls: list[Any] = []
    real = handler_module.resolve_classified
    monkeypatch.setattr(handler_module, "resolve_classified", lambda *a, **k: calls.append(a) or real(*a, **k))
    reply = dns.message.from_wire(h.handle(
        dns.message.make_query("nothing.privatelink.file.core.windows.net", "A", use_edns=0).to_wire(), (HUB, 5)))
    assert reply.rcode() == dns.rcode.NXDOMAIN and not calls
    with capture_logs() as logs:
        reply = dns.message.from_wire(h.handle(
            dns.message.make_query("ghost.privatelink.blob.core.windows.net", "A", use_edns=0).to_wire(), (HUB, 5)))
    assert reply.rcode() == dns.rcode.NXDOMAIN and len(calls) == 1  # covered by the Alert rule: resolved
    assert [(e["rule"], e["action"]) for e in logs if e["event"] == "dns_policy"] == [("alert", "Alert")]
    with capture_logs():
        reply = dns.message.from_wire(h.handle(
            dns.message.make_query("build.azure.contoso.com", "CNAME", use_edns=0).to_wire(), (HUB, 5)))
    # the CNAME asked for leads to hub-vm1.azure.contoso.com, on the Alert list: its chain is checked (§10.3)
    assert len(calls) == 2 and h.policy_log.counts == {("hub-policy", "alert", "Alert"): 2}


def test_a_name_the_policy_names_below_an_apex_is_resolved_after_absent_names_like_it(monkeypatch: Any) -> None:
    """The lane keeps what follows an absent name's first label (its route); a name of the same length under the
    same apex that a domain list names (ghost.privatelink.blob.core.windows.net, Alert) still goes to the
    resolver, which applies the rule and logs it, however many absent names of its shape came before (§10.3)."""
    index = policy_estate()
    h = make(index)
    calls: list[Any] = []
    real = handler_module.resolve_classified
    monkeypatch.setattr(handler_module, "resolve_classified", lambda *a, **k: calls.append(a) or real(*a, **k))
    for label in ("aaaaa", "bbbbb", "ccccc"):  # five letters, as "ghost": the route and its shape are kept
        wire = dns.message.make_query(f"{label}.privatelink.blob.core.windows.net", "A", use_edns=0).to_wire()
        assert dns.message.from_wire(h.handle(wire, (HUB, 5))).rcode() == dns.rcode.NXDOMAIN
    answers = h._state.precompiled[h._state.where[HUB]]
    assert answers._routes and not calls  # answered by the lane, the last ones from the route
    with capture_logs() as logs:
        wire = dns.message.make_query("ghost.privatelink.blob.core.windows.net", "A", use_edns=0).to_wire()
        assert dns.message.from_wire(h.handle(wire, (HUB, 5))).rcode() == dns.rcode.NXDOMAIN
    assert len(calls) == 1 and [(e["rule"], e["action"]) for e in logs if e["event"] == "dns_policy"] == [
        ("alert", "Alert")]


def test_a_cname_answered_at_the_question_has_its_target_checked(monkeypatch: Any) -> None:
    """§10.3: a CNAME asked for by type puts its target in the chain. The wire declines to assemble a
    CNAME's rdata today (it compresses), so the handler resolves it anyway; should the wire ever assemble
    it, the table still checks the target: here with a wire that assembles everything."""
    import dnsemu.server.handler.precompiled as precompiled_module
    from dnsemu.dns.wire import peek

    index = policy_estate()
    answers = precompiled_module.PrecompiledAnswers(index.negative["hub"], {})
    monkeypatch.setattr(precompiled_module, "answer_at_question", lambda *args: b"assembled")
    # build.azure.contoso.com CNAME hub-vm1.azure.contoso.com, which the Alert rule's list holds
    data = dns.message.make_query("build.azure.contoso.com", "CNAME", use_edns=0).to_wire()
    assert answers.answer(data, peek(data), 1232, False) is None
    # api-v2.svc.contoso.internal CNAME api.svc.contoso.internal: the name itself is on the Block list
    data = dns.message.make_query("api-v2.svc.contoso.internal", "CNAME", use_edns=0).to_wire()
    assert answers.answer(data, peek(data), 1232, False) is None
    # the same table without the policy assembles that CNAME
    plain = precompiled_module.PrecompiledAnswers(dataclasses.replace(index.negative["hub"], policy=None), {})
    data = dns.message.make_query("build.azure.contoso.com", "CNAME", use_edns=0).to_wire()
    assert plain.answer(data, peek(data), 1232, False) == (b"assembled", "private", 5)
    data = dns.message.make_query("mystorage.privatelink.file.core.windows.net", "A", use_edns=0).to_wire()
    assert answers.answer(data, peek(data), 1232, False) == (b"assembled", "private", 1)  # not covered


def test_the_policys_wire_entries_are_the_name_encoders() -> None:
    """The wire forms the precompiled path probes are exactly what the one name encoder writes, for plain
    entries, the root and entries with escapes alike; pickled with the index (the start-up cache)."""
    from dnsemu.core.policy import SecurityPolicy, SecurityRule
    from dnsemu.core.resolution import PolicyAction
    from dnsemu.dns import names

    entries = frozenset({".", "host1.bad0.example.", "a\\.b.example.", "sp\\032ace.example.", "x.",
                         "xn--bcher-kva.de."})
    rule = SecurityRule("r", 100, PolicyAction.BLOCK, False, (("l", entries),))
    policy = SecurityPolicy("p", "eastus", "v", "eastus", (rule,))
    assert policy.wires == {names.to_wire(e) for e in entries}
    assert pickle.loads(pickle.dumps(policy)).wires == policy.wires
    index = policy_estate()
    assert pickle.loads(pickle.dumps(index)).policies["hub"].wires == index.policies["hub"].wires
    assert names.to_wire("svc.contoso.internal.") in index.policies["hub"].wires
