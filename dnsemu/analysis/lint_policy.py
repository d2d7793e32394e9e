"""``dnsemu check`` findings about precedence and DNS security policies (facts-2 §10, §11.1).

Each function yields ``(code, subject, message, fix)``; :func:`dnsemu.analysis.lint.check`
wraps them into findings and filters them through the estate's ``check: accept:`` list.

* ``ruleset-rule-shadowed`` — an enabled forwarding rule whose whole domain lies inside a
  private zone linked to a VNet the ruleset is linked to: linked zones come first (§11.1),
  so the rule never fires there;
* ``security-rule-unreachable`` — an enabled security rule every domain of which is covered
  by enabled rules of higher priority (a parent domain, or the same one): the first
  matching rule decides (§10.3), so it never matches;
* ``security-empty-domain-list`` — a domain list that rules use and that holds no domain;
* ``security-policy-region`` — a policy linked to a VNet of another region, which it does
  not cover (§10.7);
* ``security-policy-bypassed`` — a policy linked to a VNet whose clients ask a DNS server
  in another VNet, so their queries reach Azure DNS elsewhere (inference, §10.7);
* ``security-rule-priority-tie`` — two rules of one policy with the same priority: which
  comes first is not documented (dnsemu takes them by name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from dnsemu.core.index import AzureDns, Index
from dnsemu.core.precedence import linked_private_zone
from dnsemu.dns import names
from dnsemu.topology.loaded import LoadedTopology
from dnsemu.topology.model import AZURE_DNS_IP
from dnsemu.topology.validate_policy import domain_entry

__all__ = ["precedence_findings", "security_policy_findings"]

Raw = tuple[str, str, str, str]


def precedence_findings(loaded: LoadedTopology, index: Index) -> Iterator[Raw]:
    t = loaded.topology
    for rsname, ruleset in t.dns_forwarding_rulesets.items():
        for vnet in ruleset.virtual_network_links:
            hop = index.azure_dns.get(vnet)
            if hop is None:
                continue
            for rname, rule in ruleset.forwarding_rules.items():
                if rule.state != "Enabled" or rule.domain_name.strip() == ".":
                    continue
                domain = names.parse(rule.domain_name if rule.domain_name.endswith(".") else rule.domain_name + ".")
                link = linked_private_zone(hop.view, domain)
                if link is None:
                    continue
                zone = link.zone.name.rstrip(".")
                yield (
                    "ruleset-rule-shadowed",
                    f"{rsname}/{rname}:{vnet}",
                    f"rule {rsname}/{rname} forwards {domain.rstrip('.')}, but VNet {vnet!r} links private zone "
                    f"{zone}, which holds that whole namespace: linked zones come first (facts-2 §11.1), so the rule "
                    "never fires there",
                    f"answer those names from zone {zone}, or unlink it from {vnet!r} if they should be forwarded",
                )


def security_policy_findings(loaded: LoadedTopology, index: Index) -> Iterator[Raw]:
    t = loaded.topology
    lists = {name: [domain_entry(d) for d in dlist.domains] for name, dlist in t.dns_resolver_domain_lists.items()}
    users: dict[str, list[str]] = defaultdict(list)
    for pname, policy in t.dns_resolver_policies.items():
        region = (policy.region or t.region).lower()
        ordered = sorted(policy.dns_security_rules.items(), key=lambda kv: (kv[1].priority, kv[0]))
        by_priority: dict[int, list[str]] = defaultdict(list)
        for rname, rule in ordered:
            by_priority[rule.priority].append(rname)
            for ref in rule.dns_resolver_domain_lists:
                users[ref].append(f"{pname}/{rname}")
        for priority, tied in by_priority.items():
            if len(tied) > 1:
                yield (
                    "security-rule-priority-tie",
                    f"{pname}/{','.join(tied)}",
                    f"rules {', '.join(tied)} of DNS security policy {pname!r} share priority {priority}: which one "
                    "Azure evaluates first is not documented (dnsemu takes them by name)",
                    "give each rule a priority of its own",
                )
        earlier: list[tuple[str, int, str, list[str], bool]] = []  # (rule, priority, action, domains, chain)
        for rname, rule in ordered:
            if rule.dns_security_rule_state != "Enabled":
                continue
            domains = [d for ref in rule.dns_resolver_domain_lists for d in lists.get(ref, [])]
            chain = not rule.disable_cname_chain_validation
            covering: list[str] = []
            for domain in domains:
                cover = next(
                    (e for e in earlier if (e[4] or not chain) and any(names.is_subdomain(domain, d) for d in e[3])),
                    None,
                )
                if cover is None:
                    break
                if cover[0] not in covering:
                    covering.append(cover[0])
            else:
                if domains:
                    first = next(e for e in earlier if e[0] == covering[0])
                    yield (
                        "security-rule-unreachable",
                        f"{pname}/{rname}",
                        f"rule {rname!r} (priority {rule.priority}) of DNS security policy {pname!r} can never match: "
                        f"every domain of its lists is covered by rule(s) {', '.join(repr(c) for c in covering)} "
                        f"(from priority {first[1]}, {first[2]}), which come first, and the first matching rule "
                        "decides (facts-2 §10.3)",
                        f"give {rname!r} a lower priority number than {covering[0]!r}, or remove the overlap",
                    )
            earlier.append((rname, rule.priority, rule.action.action_type, domains, chain))
        for link in policy.virtual_network_links:
            vnet = t.virtual_networks.get(link.virtual_network)
            if vnet is None:
                continue
            vregion = (vnet.region or t.region).lower()
            if vregion != region:
                yield (
                    "security-policy-region",
                    f"{pname}:{link.virtual_network}",
                    f"DNS security policy {pname!r} is in {region} and VNet {link.virtual_network!r} in {vregion}: a "
                    "policy covers VNets of its own region only (facts-2 §10.7), so none of its queries are checked",
                    f"link a policy of {vregion} to {link.virtual_network!r} instead",
                )
                continue
            elsewhere = _resolves_elsewhere(loaded, index, link.virtual_network)
            if elsewhere is not None:
                yield (
                    "security-policy-bypassed",
                    f"{pname}:{link.virtual_network}",
                    f"VNet {link.virtual_network!r} uses DNS server {vnet.dns_servers[0]}, so its clients' queries "
                    f"reach Azure DNS in {elsewhere}, not in {link.virtual_network!r}: DNS security policy {pname!r} "
                    "sees none of them (an inference from facts-2 §10.7)",
                    f"link the policy to the VNet where their queries reach Azure DNS ({elsewhere})",
                )
    for lname, domains in lists.items():
        if not domains and users.get(lname):
            yield (
                "security-empty-domain-list",
                lname,
                f"domain list {lname!r} holds no domain: rule(s) {', '.join(users[lname])} match nothing through it",
                "add the domains (or drop the list from the rules)",
            )


def _resolves_elsewhere(loaded: LoadedTopology, index: Index, vnet_name: str) -> str | None:
    """Where a VNet with custom DNS servers has its clients' queries reach Azure DNS, when not in itself."""
    t = loaded.topology
    vnet = t.virtual_networks[vnet_name]
    if not vnet.dns_servers or vnet.dns_servers[0] == AZURE_DNS_IP:
        return None
    address = vnet.dns_servers[0]
    for server in t.custom_dns_servers.values():
        if server.private_ip_address == address:
            return None if server.virtual_network == vnet_name else f"VNet {server.virtual_network!r}"
    entry = index.networks[vnet_name].entry
    if isinstance(entry, AzureDns):
        return None if entry.view.vnet == vnet_name else f"VNet {entry.view.vnet!r}"
    return f"the DNS server {address}"
