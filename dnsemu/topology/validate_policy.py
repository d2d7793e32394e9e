"""The rules Azure enforces on DNS security policies (DNS resolver policies), facts-2 §10.

Called by :mod:`dnsemu.topology.validate` with its checker; reports through the
checker's ``err`` so every problem names the file, line and field like the others.

What ARM would refuse is an error here: names outside Azure's pattern (§10.2), a
priority outside 100-65000, an unknown domain list, a domain list in another region
than the policy using it (§10.3), ``block_response_code`` on anything but Block, a VNet
linked to two policies (§10.7), and every count over the GA limits (§10.6). A link to a
VNet of another region is *not* an error: the facts say the policy applies only to VNets
of its own region, not that ARM refuses the link, so the compiler leaves such a VNet
uncovered and ``dnsemu check`` reports it.
"""

from __future__ import annotations

import re
from typing import Any

from dnsemu.dns import names
from dnsemu.text import excerpt

__all__ = ["LIMITS", "domain_entry"]

#: resource names of dnsResolverPolicies, dnsSecurityRules, virtualNetworkLinks and dnsResolverDomainLists (§10.2)
NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9_\-]{0,78}[a-zA-Z0-9])?$")

#: GA limits (facts-2 §10.6; the 2026 doc does not say whether they count per subscription or per
#: region, so they are applied to the whole estate)
LIMITS = {
    "policies": 1000,
    "rules_per_policy": 100,
    "domain_lists": 2000,
    "domains_per_list": 100_000,
    "links_per_policy": 500,
}


def domain_entry(text: str) -> str:
    """A domain list entry as matched: ``.`` (every name), or a canonical name (trailing dot optional).

    ValueError for anything else; a ``*.`` prefix is refused, because which wildcard syntax Azure
    takes is unconfirmed (§10.5) and an entry already matches every name below it.
    """
    text = text.strip()
    if text == ".":
        return "."
    if text.startswith("*"):
        raise ValueError("write the domain without '*.': an entry matches the domain and every name below it")
    try:
        return names.parse(text if text.endswith(".") else text + ".")
    except names.NameError_ as exc:
        raise ValueError(f"not a domain name: {exc}") from None


def check_policies(checker: Any) -> None:
    """Report every problem of ``dns_resolver_policies`` and ``dns_resolver_domain_lists``."""
    t = checker.t
    lists = t.dns_resolver_domain_lists
    regions = checker.catalog.regions

    def region_ok(loc: tuple[Any, ...], region: str | None) -> str:
        if region is not None and region.lower() not in regions:
            checker.err(
                (*loc, "region"), f"unknown region {excerpt(region)}", "use an Azure region name such as eastus"
            )
        return (region or t.region).lower()

    def name_ok(loc: tuple[Any, ...], name: str, what: str) -> None:
        if not NAME.match(name):
            checker.err(
                loc,
                f"{excerpt(name)} is not a valid {what} name",
                "1-80 letters, digits, '_' or '-', starting and ending with a letter or digit",
            )

    if len(t.dns_resolver_policies) > LIMITS["policies"]:
        checker.err(("dns_resolver_policies",), f"more than {LIMITS['policies']} DNS resolver policies")
    if len(lists) > LIMITS["domain_lists"]:
        checker.err(("dns_resolver_domain_lists",), f"more than {LIMITS['domain_lists']} domain lists")

    list_regions: dict[str, str] = {}
    for lname, dlist in lists.items():
        loc = ("dns_resolver_domain_lists", lname)
        name_ok(loc, lname, "domain list")
        list_regions[lname] = region_ok(loc, dlist.region)
        if len(dlist.domains) > LIMITS["domains_per_list"]:
            checker.err((*loc, "domains"), f"more than {LIMITS['domains_per_list']} domains")
        for i, domain in enumerate(dlist.domains):
            try:
                domain_entry(domain)
            except ValueError as exc:
                checker.err((*loc, "domains", i), f"{excerpt(domain)}: {exc}")

    linked: dict[str, str] = {}
    for pname, policy in t.dns_resolver_policies.items():
        loc = ("dns_resolver_policies", pname)
        name_ok(loc, pname, "DNS resolver policy")
        region = region_ok(loc, policy.region)
        if len(policy.dns_security_rules) > LIMITS["rules_per_policy"]:
            checker.err((*loc, "dns_security_rules"), f"more than {LIMITS['rules_per_policy']} security rules")
        for rname, rule in policy.dns_security_rules.items():
            rloc = (*loc, "dns_security_rules", rname)
            name_ok(rloc, rname, "security rule")
            if rule.action.block_response_code is not None and rule.action.action_type != "Block":
                checker.err(
                    (*rloc, "action", "block_response_code"),
                    f"block_response_code applies to Block, not {rule.action.action_type}",
                    "remove it, or make the action Block",
                )
            for i, ref in enumerate(rule.dns_resolver_domain_lists):
                lloc = (*rloc, "dns_resolver_domain_lists", i)
                if ref not in lists:
                    checker.err(lloc, f"unknown domain list {excerpt(ref)}", _known(ref, lists))
                elif list_regions[ref] != region:
                    checker.err(
                        lloc,
                        f"domain list {excerpt(ref)} is in {list_regions[ref]}, the policy in {region}",
                        "a domain list must be in the region of the policy that uses it",
                    )
        if len(policy.virtual_network_links) > LIMITS["links_per_policy"]:
            checker.err(
                (*loc, "virtual_network_links"), f"more than {LIMITS['links_per_policy']} virtual network links"
            )
        link_names: set[str] = set()
        for i, link in enumerate(policy.virtual_network_links):
            lloc = (*loc, "virtual_network_links", i)
            lname = link.name or link.virtual_network
            if link.name is not None:
                name_ok((*lloc, "name"), link.name, "virtual network link")
            if lname in link_names:
                checker.err(lloc, f"link name {excerpt(lname)} is used twice in this policy")
            link_names.add(lname)
            if not checker.vnet_ref((*lloc, "virtual_network"), link.virtual_network):
                continue
            other = linked.get(link.virtual_network)
            if other is not None:
                same = other == pname
                checker.err(
                    (*lloc, "virtual_network"),
                    f"virtual network {excerpt(link.virtual_network)} is already linked to "
                    + ("this policy" if same else f"DNS resolver policy {excerpt(other)}"),
                    "a virtual network can be linked to one DNS resolver policy",
                )
                continue
            linked[link.virtual_network] = pname


def _known(value: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(known), n=3)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known: " + (", ".join(repr(k) for k in known) if known else "none declared")
