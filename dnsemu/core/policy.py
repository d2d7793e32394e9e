"""DNS security policy ("DNS resolver policy"), facts-2 §10: rules by priority over the answer's chain.

A policy is linked to VNets of its region (one policy per VNet). Azure DNS resolving a
query in the context of a linked VNet V (a client of V asking 168.63.129.16, and, as
inferred in §10.7, a query arriving at an inbound endpoint in V or sent by a custom DNS
server in V) evaluates V's policy *after* resolution (§10.8), because rules match the
queried name and every name of the CNAME chain the answer passes through (§10.3):

* enabled rules in priority order (100-65000, lowest number first; ties by rule name,
  an assumption); the first rule with a domain list entry equal to or above any name of
  the chain decides, whatever later rules say (§10.3). ``disable_cname_chain_validation``
  (2026-07-01-preview) limits a rule to the queried name. Disabled rules are skipped
  (inference, §10.3);
* Allow and Alert answer as resolved; Block replaces the answer (§10.4): in GA, NOERROR
  with ``<qname> CNAME blockpolicy.azuredns.invalid.`` and that name's SOA in authority
  (TTL 60: the doc's 1006632960 reads as a byte-order artefact of 60, unconfirmed); with
  the preview's ``block_response_code: SERVFAIL``, SERVFAIL with nothing else;
* when a query reaches Azure DNS in several VNets (a ruleset forwarding to an inbound
  endpoint), the innermost VNet's policy applies first, then the outer one's to what it
  returned.

Pure: the decisions are data in the :class:`~dnsemu.core.resolution.Resolution`; the
server logs and counts them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dnsemu.core.resolution import Outcome, PolicyAction, PolicyDecision, Resolution, Source, Step
from dnsemu.core.zone import soa_record
from dnsemu.dns import names
from dnsemu.dns.records import Record, RRType
from dnsemu.topology.model import Topology
from dnsemu.topology.validate_policy import domain_entry

__all__ = ["BLOCK_TARGET", "SecurityPolicy", "SecurityRule", "apply_policies", "compile_policies"]

#: where a GA Block points the queried name (facts-2 §10.4)
BLOCK_TARGET = "blockpolicy.azuredns.invalid."
BLOCK_TTL = 60
BLOCK_SOA = soa_record(
    BLOCK_TARGET, ("ns1.azure-dns.com.", "support.azure.com.", 1000, 3600, 600, 1800, 60), ttl=BLOCK_TTL
)

_CONTEXT_NOTE = {
    "vnet": "",
    "inbound endpoint": " (the query arrived at an inbound endpoint in that VNet: evaluated in its context, an "
    "inference from facts-2 §10.7 and §11.5)",
    "custom DNS server": " (a custom DNS server in that VNet asks Azure DNS itself: its queries are that VNet's, "
    "an inference from facts-2 §10.7)",
}


@dataclass(frozen=True, slots=True)
class SecurityRule:
    name: str
    priority: int
    action: PolicyAction
    servfail: bool  # Block answers SERVFAIL (the preview's blockResponseCode)
    lists: tuple[tuple[str, frozenset[str]], ...]  # (domain list name, its entries as matched)
    enabled: bool = True
    chain: bool = True  # every name of the chain, not only the queried name

    def match(self, chain: Sequence[str]) -> tuple[str, str, str] | None:
        """(matched name, domain list, entry) for the first name of ``chain`` this rule covers."""
        for name in chain if self.chain else chain[:1]:
            for suffix in names.suffixes(name):
                for list_name, domains in self.lists:
                    if suffix in domains:
                        return name, list_name, suffix
        return None


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    name: str
    region: str
    vnet: str
    vnet_region: str
    rules: tuple[SecurityRule, ...]  # evaluation order
    #: domain list entry -> positions in ``rules`` of the rules whose lists hold it (built from ``rules``):
    #: a name no rule covers costs one probe per suffix, whatever the number of rules and entries
    by_entry: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    #: the label counts of those entries, ascending (None: an entry holds an escape, count by walking)
    depths: tuple[int, ...] | None = dataclasses.field(default=(), compare=False, repr=False)
    #: those entries as uncompressed wire names (as :func:`names.to_wire` writes them), for a server that
    #: checks a query's name from its bytes (the precompiled answers): built once, with the index
    wires: frozenset[bytes] = dataclasses.field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, list[int]] = {}
        for position, rule in enumerate(self.rules):
            for _, domains in rule.lists:
                for entry in domains:
                    held = index.setdefault(entry, [])
                    if not held or held[-1] != position:
                        held.append(position)
        object.__setattr__(self, "by_entry", {entry: tuple(held) for entry, held in index.items()})
        escaped = any("\\" in entry for entry in index)
        object.__setattr__(self, "depths", None if escaped else tuple(sorted({_labels(e) for e in index})))
        object.__setattr__(self, "wires", frozenset(_wire(entry) for entry in index))

    def _held(self, name: str) -> Iterable[str]:
        """The suffixes of ``name`` (itself included) that are entries of some list."""
        by_entry, depths = self.by_entry, self.depths
        if depths is None or "\\" in name:
            return [suffix for suffix in names.suffixes(name) if suffix in by_entry]
        count = _labels(name)
        out = []
        for depth in depths:  # only the suffixes as long as some entry: one probe each
            if depth > count:
                break
            suffix = "." if depth == 0 else name if depth == count else name.split(".", count - depth)[-1]
            if suffix in by_entry:
                out.append(suffix)
        return out

    @property
    def applies(self) -> bool:
        """A policy covers VNets of its own region only (facts-2 §10.7)."""
        return self.region == self.vnet_region

    def covers(self, name: str) -> bool:
        """Whether any rule's lists hold ``name`` or a name above it: False means no rule can match a
        chain of ``name`` alone (a negative answer from a linked zone), so the policy leaves it as it is
        and a server may answer it from a precompiled reply."""
        return bool(self._held(name))

    def candidates(self, chain: Sequence[str]) -> list[SecurityRule]:
        """The rules, in evaluation order, whose lists hold an entry equal to or above a name of ``chain``:
        the only ones :meth:`SecurityRule.match` can match (it decides, per rule, which names count)."""
        by_entry = self.by_entry
        found: set[int] = set()
        for name in chain:
            for suffix in self._held(name):
                found.update(by_entry[suffix])
        return [self.rules[i] for i in sorted(found)]


def _wire(entry: str) -> bytes:
    """A domain list entry (a canonical name) in wire form: the common plain case without the general encoder."""
    if entry == "." or "\\" in entry or not entry.isascii() or not entry.endswith("."):
        return names.to_wire(entry)
    return b"".join([bytes((len(label),)) + label for label in entry.encode("ascii").split(b".")])


def _labels(name: str) -> int:
    """The labels of a canonical name without escapes (the root has none)."""
    return 0 if name == "." else name.count(".")


def compile_policies(topology: Topology) -> dict[str, SecurityPolicy]:
    """VNet name -> the policy linked to it (validation guarantees one per VNet)."""
    lists = {
        lname: frozenset(domain_entry(d) for d in dlist.domains)
        for lname, dlist in topology.dns_resolver_domain_lists.items()
    }
    out: dict[str, SecurityPolicy] = {}
    for pname, policy in topology.dns_resolver_policies.items():
        rules = tuple(
            SecurityRule(
                rname,
                rule.priority,
                PolicyAction(rule.action.action_type),
                rule.action.block_response_code == "SERVFAIL",
                tuple((ref, lists.get(ref, frozenset())) for ref in rule.dns_resolver_domain_lists),
                rule.dns_security_rule_state == "Enabled",
                not rule.disable_cname_chain_validation,
            )
            for rname, rule in sorted(policy.dns_security_rules.items(), key=lambda kv: (kv[1].priority, kv[0]))
        )
        region = (policy.region or topology.region).lower()
        for link in policy.virtual_network_links:
            vnet = topology.virtual_networks.get(link.virtual_network)
            if vnet is None:
                continue
            vnet_region = (vnet.region or topology.region).lower()
            out[link.virtual_network] = SecurityPolicy(pname, region, link.virtual_network, vnet_region, rules)
    return out


def chain_names(question_name: str, result: Resolution) -> list[str]:
    """The queried name, then every name the answer's CNAMEs lead to (and the name handed upstream)."""
    seen = [question_name]
    targets: Iterable[str] = (r.rdata[0] for r in result.answer if r.rtype == RRType.CNAME)
    if result.forward is not None:
        targets = (*targets, result.forward.name)
    for target in targets:
        if target not in seen:
            seen.append(target)
    return seen


def apply_policies(
    policies: Mapping[str, SecurityPolicy],
    contexts: Sequence[tuple[str, str]],
    question_name: str,
    result: Resolution,
) -> Resolution:
    """``result`` as the policies of the VNets in ``contexts`` ((vnet, how the query got there), outermost
    first) leave it: evaluated innermost first, each on the answer the inner one returned."""
    if result.outcome is Outcome.REFUSED:
        return result
    # a resolution made without its trace (no explain, no debug log) gets no policy steps either:
    # a query no rule matches then costs the candidate lookups and nothing else
    explain = bool(result.trace)
    trace = list(result.trace)
    decisions: list[PolicyDecision] = list(result.policy)
    done: set[str] = set()
    for vnet, context in reversed(contexts):
        policy = policies.get(vnet)
        if policy is None or vnet in done:
            continue
        done.add(vnet)
        where: tuple[tuple[str, Any], ...] = (("policy", policy.name), ("vnet", vnet))
        if not policy.applies and not explain:
            continue
        if not policy.applies:
            trace.append(
                Step(
                    "policy",
                    "DNS security policy {policy!r} is in {region} and VNet {vnet!r} in {vnet_region}: a policy "
                    "covers VNets of its own region only, so it does not apply (facts-2 §10.7)",
                    (*where, ("region", policy.region), ("vnet_region", policy.vnet_region)),
                )
            )
            continue
        chain = chain_names(question_name, result)
        hit = None
        for rule in policy.candidates(chain):
            found = rule.match(chain)
            if found is None:
                continue
            if not rule.enabled:
                if not explain:
                    continue
                trace.append(
                    Step(
                        "policy-disabled",
                        "rule {rule!r} of DNS security policy {policy!r} would match {name} but is Disabled: "
                        "skipped (an inference from dnsSecurityRuleState, facts-2 §10.3)",
                        (*where, ("rule", rule.name), ("name", found[0])),
                    )
                )
                continue
            hit = (rule, found)
            break
        if hit is None and not explain:
            continue
        if hit is None:
            trace.append(
                Step(
                    "policy",
                    "DNS security policy {policy!r} linked to VNet {vnet!r}{note}: no enabled rule matches "
                    "{names}: the answer goes out unchanged",
                    (*where, ("note", _CONTEXT_NOTE[context]), ("names", ", ".join(chain))),
                )
            )
            result = _unchecked_upstream(result, policy, trace)
            continue
        rule, (name, list_name, domain) = hit
        by_chain = "" if name == question_name else f" (the answer's chain passes through {name}: facts-2 §10.3)"
        trace.append(
            Step(
                "policy",
                "DNS security policy {policy!r} linked to VNet {vnet!r}{note}: rule {rule!r} (priority {priority}, "
                "{action}) matches {name} by {domain} in domain list {domain_list!r}{by_chain}",
                (
                    *where,
                    ("note", _CONTEXT_NOTE[context]),
                    ("rule", rule.name),
                    ("priority", rule.priority),
                    ("action", rule.action),
                    ("name", name),
                    ("domain", domain),
                    ("domain_list", list_name),
                    ("by_chain", by_chain),
                ),
            )
        )
        decisions.append(
            PolicyDecision(policy.name, vnet, rule.name, rule.priority, rule.action, list_name, domain, name, context)
        )
        if rule.action is PolicyAction.BLOCK:
            result = _block(result, rule, question_name, trace)
        else:
            what = "logged as an alert" if rule.action is PolicyAction.ALERT else "logged"
            trace.append(Step("policy-" + rule.action.lower(), "{action}: the answer goes out unchanged, and the "
                              "query is {what}", (("action", rule.action), ("what", what))))
            result = _unchecked_upstream(result, policy, trace)
    if len(trace) == len(result.trace) and not decisions:
        return result
    return dataclasses.replace(result, trace=tuple(trace), policy=tuple(decisions))


def _block(result: Resolution, rule: SecurityRule, question_name: str, trace: list[Step]) -> Resolution:
    if result.outcome is Outcome.FORWARD:
        trace.append(
            Step(
                "assumption",
                "the blocked query is not forwarded to {target} (whether Azure still forwards it is unconfirmed, "
                "facts-2 §10.8)",
                (("target", result.forward.via if result.forward else "upstream"),),
            )
        )
    if rule.servfail:
        trace.append(
            Step("policy-block", "Block with block_response_code SERVFAIL (the 2023-07-01-preview API): SERVFAIL")
        )
        return dataclasses.replace(result, outcome=Outcome.SERVFAIL, source=Source.BLOCKED, answer=(), authority=(),
                                   forward=None)
    trace.append(
        Step(
            "policy-block",
            "Block: Azure DNS answers {name} with CNAME {target} and that name's SOA, as generally available Azure "
            "does (facts-2 §10.4)",
            (("name", question_name), ("target", BLOCK_TARGET)),
        )
    )
    cname = Record(question_name, RRType.CNAME, BLOCK_TTL, (BLOCK_TARGET,))
    return dataclasses.replace(result, outcome=Outcome.ANSWER, source=Source.BLOCKED, answer=(cname,),
                               authority=(BLOCK_SOA,), forward=None)


def _unchecked_upstream(result: Resolution, policy: SecurityPolicy, trace: list[Step]) -> Resolution:
    """A forwarded answer's rest is only seen on the wire: say that the policy did not check it."""
    if result.outcome is Outcome.FORWARD and result.forward is not None:
        trace.append(
            Step(
                "policy-note",
                "names the upstream server adds to the chain after {name} are not checked against policy {policy!r} "
                "(dnsemu sees them only on the wire)",
                (("name", result.forward.name), ("policy", policy.name)),
            )
        )
    return result
