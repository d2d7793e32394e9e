"""What Azure DNS does first with a query in a VNet: linked private zones, then the ruleset (facts-2 §11.1).

The documented order (dns-private-resolver-overview, facts-2 §11.1 and §16.1), for a query
that reaches Azure DNS in the context of VNet V (from a client of V, or through an inbound
endpoint in V, §11.5):

1. if the query name lies in the namespace of a private DNS zone linked to V (at or below
   its apex), that zone answers it: found, NODATA, NXDOMAIN (or NxDomainRedirect's public
   retry) — the ruleset linked to V is never consulted, even when a rule names the very
   same domain (#109292, #100273);
2. otherwise the enabled rules of the ruleset linked to V are matched against the query
   name, longest suffix first; a match forwards the query to the rule's first target.
   A rule for ``blob.core.windows.net.`` therefore wins over a linked
   ``privatelink.blob.core.windows.net`` zone for ``acct.blob.core.windows.net``: that
   name is outside the zone, and the rule is matched before any CNAME is followed;
3. no rule matches: Azure DNS resolves the name (the public chain, with the private
   zones linked to V intercepting it, :func:`dnsemu.core.resolver._walk`).

Disabled rules are ignored. A wildcard ``.`` rule leaves the domains Azure reserves for
its services alone (first facts file §4.2). Only the query name is matched against rules,
never a CNAME target met while resolving (facts-2 §11.1, "matching is done on the query
name ... before public CNAME chasing").

The Azure-provided zones of a VNet (``internal.cloudapp.net`` and the reverse zones of
private address space) are not "private DNS zones linked to the VNet" here: a rule for
such a name still forwards it (so that a ruleset can send reverse lookups of on-premises
addresses home). Azure's behaviour there is unconfirmed; ``explain`` says so.
"""

from __future__ import annotations

from dnsemu.core.index import AzureDns, Edge, Index, Link, View
from dnsemu.core.resolution import Step
from dnsemu.core.zone import ZoneKind
from dnsemu.dns import names

__all__ = ["linked_private_zone", "match_rule", "ruleset_step"]


def linked_private_zone(view: View, name: str) -> Link | None:
    """The most specific private DNS zone linked to the view's VNet whose namespace holds ``name``."""
    links = view.links
    for suffix in names.suffixes(name):
        link = links.get(suffix)
        if link is not None and link.zone.kind is ZoneKind.PRIVATE:
            return link
    return None


def match_rule(hop: AzureDns, name: str) -> tuple[Edge | None, str | None]:
    """The enabled rule for ``name`` (longest suffix) and, when the wildcard rule skipped it, the reserved domain."""
    if not hop.rules:
        return None, None
    reserved = None
    suffix = name
    while suffix != names.ROOT:
        edge = hop.rules.get(suffix)
        if edge is not None:
            return edge, None
        if reserved is None and suffix in hop.ignored_by_wildcard:
            reserved = suffix
        suffix = names.parent(suffix)
    # then the wildcard rule, which leaves the domains Azure reserves for its services alone
    return (None, reserved) if reserved else (hop.rules.get("."), None)


def ruleset_step(index: Index, hop: AzureDns, name: str, trace: list[Step]) -> Edge | None:
    """§11.1 for one query at Azure DNS in ``hop``'s VNet: the rule that forwards it, or None (Azure DNS answers).

    Every decision is a step of ``trace``: which step of the order decided, and why a rule did not fire.
    """
    if hop.ruleset is None:
        return None
    vnet = hop.view.vnet
    edge, reserved = match_rule(hop, name)
    link = linked_private_zone(hop.view, name)
    where = (("name", name), ("vnet", vnet), ("ruleset", hop.ruleset))
    if link is not None:
        if edge is not None:
            trace.append(
                Step(
                    "precedence",
                    "{name} is inside private zone {zone} linked to VNet {vnet!r}: linked zones come first, so "
                    "ruleset {ruleset!r} is not consulted and {via} for {domain} does not fire (facts-2 §11.1)",
                    (*where, ("zone", link.zone.name), ("via", _rule_name(edge)), ("domain", edge.domain)),
                )
            )
        else:
            trace.append(
                Step(
                    "precedence",
                    "{name} is inside private zone {zone} linked to VNet {vnet!r}: linked zones come first, so "
                    "ruleset {ruleset!r} is not consulted (facts-2 §11.1)",
                    (*where, ("zone", link.zone.name)),
                )
            )
        return None
    disabled = _disabled(index, hop, name, edge)
    if disabled is not None:
        trace.append(
            Step(
                "rule-disabled",
                "rule {rule} of ruleset {ruleset!r} for {domain} is Disabled: ignored (facts-2 §11.3)",
                (*where, ("rule", f"{hop.ruleset}/{disabled[1]}"), ("domain", disabled[0])),
            )
        )
    if edge is not None:
        trace.append(
            Step(
                "rule",
                "{name} is outside every private zone linked to VNet {vnet!r}, so forwarding ruleset {ruleset!r} "
                "is consulted (facts-2 §11.1): {via} matches {domain} and forwards to {target}",
                (*where, ("via", edge.via), ("domain", edge.domain), ("target", edge.target)),
            )
        )
        below = _reserved_below(index, name, edge.domain)
        if below is not None:
            trace.append(
                Step(
                    "assumption",
                    "dnsemu forwards {name} by the rule for {domain} although {reserved} is a domain Azure reserves: "
                    "one user report saw Azure not forward such names (facts-2 §11.1, #122204; unconfirmed)",
                    (("name", name), ("domain", edge.domain), ("reserved", below)),
                )
            )
        return edge
    if reserved is not None:
        trace.append(
            Step(
                "rule",
                "{name} is outside every private zone linked to VNet {vnet!r}; ruleset {ruleset!r}'s wildcard rule "
                "leaves {reserved}, a domain Azure reserves for its services, alone (first facts file §4.2): "
                "Azure DNS answers",
                (*where, ("reserved", reserved)),
            )
        )
        return None
    trace.append(
        Step(
            "rule",
            "{name} is outside every private zone linked to VNet {vnet!r} and forwarding ruleset {ruleset!r} has "
            "no enabled rule for it: Azure DNS answers",
            where,
        )
    )
    return None


def _rule_name(edge: Edge) -> str:
    """``rule rs/name`` without the target description that follows it in ``edge.via``."""
    return edge.via.split(" (", 1)[0]


def _disabled(index: Index, hop: AzureDns, name: str, edge: Edge | None) -> tuple[str, str] | None:
    """(domain, rule) of a Disabled rule more specific than the enabled one that matched (or than none)."""
    table = index.disabled_rules.get(hop.ruleset or "")
    if not table:
        return None
    for suffix in names.suffixes(name):
        if edge is not None and suffix == edge.domain:
            return None
        rule = table.get(suffix)
        if rule is not None:
            return suffix, rule
    return None


def _reserved_below(index: Index, name: str, domain: str) -> str | None:
    """A name Azure reserves strictly between the rule's domain and ``name`` (the #122204 case)."""
    if domain == "." or not index.reserved_names:
        return None
    suffix = name
    while suffix != domain and suffix != names.ROOT:  # the rule matched, so domain is one of name's suffixes
        if suffix in index.reserved_names:
            return suffix
        suffix = names.parent(suffix)
    return None


def chain_note(index: Index, view: View, name: str) -> Step | None:
    """A CNAME target the VNet's ruleset has a rule for: say that the rule is not applied to it.

    Facts-2 §11.1 places rule matching on the query name, before CNAMEs are followed; whether
    Azure DNS matches rules again for a CNAME target is not documented (an assumption).
    """
    return _rule_assumption(
        index, view, name,
        "{name} would match {via} for {domain}, but rules are matched against the query name only, not the "
        "names its CNAMEs lead to (facts-2 §11.1; unconfirmed for CNAME targets)",
    )


def redirect_note(index: Index, view: View, name: str) -> Step | None:
    """NxDomainRedirect for a name a rule also covers: say where the retry goes (public DNS, an assumption)."""
    return _rule_assumption(
        index, view, name,
        "{via} for {domain} also covers {name}: the NxDomainRedirect retry goes to public DNS, not to the rule, as "
        "the link API says (facts-2 §11.1; unconfirmed)",
    )


def _rule_assumption(index: Index, view: View, name: str, text: str) -> Step | None:
    """An ``assumption`` step saying ``text`` about the VNet's rule that matches ``name``; None when none does."""
    hop = index.azure_dns.get(view.vnet)
    if hop is None or not hop.rules:
        return None
    edge, _ = match_rule(hop, name)
    if edge is None:
        return None
    return Step("assumption", text, (("name", name), ("via", _rule_name(edge)), ("domain", edge.domain)))
