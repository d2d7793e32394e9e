"""What the server does with DNS security policy decisions (facts-2 §10.9): log them and count them.

The core puts every rule that matched a query into the resolution
(:class:`~dnsemu.core.resolution.PolicyDecision`); :class:`PolicyLog` writes one
``dns_policy`` event per decision — Azure's ``DNSQueryLogs`` row, in our words: the
policy, the rule, its action, the domain list and entry that matched, the name of the
chain that matched, the client — at ``warning`` for Alert and Block, ``info`` for Allow,
whatever ``query_log`` says. It counts them per (policy, rule, action) for the metrics;
policies and rules come from the topology, so the labels are bounded (at most 100 rules
per policy, §10.6). Replies carrying a decision are not cached, so that every matching
query is logged and counted, as Azure logs each one.
"""

from __future__ import annotations

from typing import Any

from dnsemu.core.resolution import PolicyAction, Resolution
from dnsemu.dns.records import type_name

__all__ = ["PolicyLog"]


class PolicyLog:
    __slots__ = ("counts", "log")

    def __init__(self, log: Any) -> None:
        self.log = log
        #: (policy, rule, action) -> queries the rule matched
        self.counts: dict[tuple[str, str, str], int] = {}

    def record(self, resolution: Resolution, client: str, qname: str, qtype: int) -> None:
        counts = self.counts
        for decision in resolution.policy:
            key = (decision.policy, decision.rule, decision.action)
            counts[key] = counts.get(key, 0) + 1
            emit = self.log.info if decision.action is PolicyAction.ALLOW else self.log.warning
            emit("dns_policy", client=client, qname=qname, qtype=type_name(qtype), policy=decision.policy,
                 vnet=decision.vnet, rule=decision.rule, priority=decision.priority, action=decision.action,
                 domain_list=decision.domain_list, domain=decision.domain, matched=decision.name,
                 context=decision.context, rcode=resolution.rcode.name)
