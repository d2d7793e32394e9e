"""What goes into the resolver and what comes out of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from dnsemu.dns.records import Rcode, Record, rdata_text, type_name


class Outcome(enum.Enum):
    ANSWER = "answer"  # NOERROR with records
    NODATA = "nodata"  # NOERROR, no records of that type, SOA in authority
    NXDOMAIN = "nxdomain"  # the last name of the chain does not exist, SOA in authority
    YXDOMAIN = "yxdomain"  # a DNAME substitution would make a name over 255 octets (RFC 6672 §2.2)
    REFUSED = "refused"  # policy: source not served, or name outside everything known
    SERVFAIL = "servfail"  # the modelled estate cannot answer (loop, unreachable resolver)
    FORWARD = "forward"  # the rest of the chain lies outside the topology: ask upstream

    @property
    def rcode(self) -> Rcode:
        return _RCODES[self]


_RCODES = {
    Outcome.ANSWER: Rcode.NOERROR,
    Outcome.NODATA: Rcode.NOERROR,
    Outcome.NXDOMAIN: Rcode.NXDOMAIN,
    Outcome.YXDOMAIN: Rcode.YXDOMAIN,
    Outcome.REFUSED: Rcode.REFUSED,
    Outcome.SERVFAIL: Rcode.SERVFAIL,
    Outcome.FORWARD: Rcode.SERVFAIL,  # what the reply is when nobody forwards it
}


class Source(enum.Enum):
    """Where the final answer came from: the label that metrics and logs use."""

    PRIVATE = "private"  # a private DNS zone (private endpoint, custom record, autoregistration)
    PUBLIC = "public"  # public DNS
    NXDOMAIN_PRIVATE = "nxdomain_private"  # a linked private zone denied the name
    FALLBACK = "fallback"  # NxDomainRedirect sent a private miss to public DNS
    INTERNAL = "internal"  # Azure-provided names (internal.cloudapp.net, VNet reverse lookups)
    HOSTED = "hosted"  # a zone a custom or on-premises DNS server holds itself
    FORWARDED = "forwarded"  # outside the topology, for the upstream forwarder
    REFUSED = "refused"
    ERROR = "error"
    BLOCKED = "blocked"  # a DNS security policy rule with the Block action answered instead (facts-2 §10.4)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a trace: a message template and the data it used.

    Formatting is deferred to :attr:`text`, so that resolving costs no string work
    unless somebody reads the trace.
    """

    code: str
    template: str
    data: tuple[tuple[str, Any], ...] = ()

    @property
    def text(self) -> str:
        return self.template.format(**{k: _render(k, v) for k, v in self.data})

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.code, "text": self.text, **{k: _plain(k, v) for k, v in self.data}}


def _render(key: str, value: Any) -> Any:
    """Turn raw step data into words: record tuples into their values, type codes into names."""
    if key == "type" and isinstance(value, int):
        return type_name(value)
    if isinstance(value, tuple) and value and isinstance(value[0], Record):
        return ", ".join(rdata_text(r.rtype, r.rdata) for r in value)
    return value


def _plain(key: str, value: Any) -> Any:
    value = _render(key, value)
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_plain(key, v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class Forward:
    """The part of a question the topology cannot answer and hands to a forwarder.

    ``targets`` are ``(address, port)`` pairs of the modelled external server the
    estate sends the query to; empty means "the configured upstream servers"
    (the public internet, as the emulator sees it).
    """

    name: str
    qtype: int
    targets: tuple[tuple[str, int], ...] = ()
    via: str = "upstream"


@dataclass(frozen=True, slots=True)
class ProxyCache:
    """A DNS proxy cache on the path of a query (Azure Firewall, facts §12.1).

    The core has no clock: it only says which cache the answer passes through and how long
    that cache may hold a positive (``positive``) or negative (``negative``) answer, in seconds.
    The server keeps the cache.
    """

    firewall: str
    positive: int = 3600
    negative: int = 1800


class PolicyAction(enum.StrEnum):
    """What a DNS security policy rule does with a query whose chain it matches (facts-2 §10.4)."""

    ALLOW = "Allow"
    ALERT = "Alert"
    BLOCK = "Block"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """A DNS security policy rule that matched a query (facts-2 §10): what the server logs and counts.

    ``context`` says how the query reached Azure DNS in ``vnet``: ``"vnet"`` (a client of the VNet,
    documented), ``"inbound endpoint"`` or ``"custom DNS server"`` (inferred, §10.7).
    """

    policy: str
    vnet: str
    rule: str
    priority: int
    action: PolicyAction
    domain_list: str
    domain: str
    name: str  # the name of the chain that matched
    context: str = "vnet"


@dataclass(frozen=True, slots=True)
class Resolution:
    outcome: Outcome
    source: Source
    view: str
    answer: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    trace: tuple[Step, ...] = ()
    network: str = "internet"
    forward: Forward | None = field(default=None)
    #: the first DNS proxy cache on the path (None: no cache is emulated there)
    proxy_cache: ProxyCache | None = None
    #: answered from a zone held by the server the client asked itself (AA set on the wire)
    authoritative: bool = False
    #: DNS security policy rules that matched, innermost VNet first (facts-2 §10)
    policy: tuple[PolicyDecision, ...] = ()

    @property
    def rcode(self) -> Rcode:
        return self.outcome.rcode

    def trace_text(self) -> list[str]:
        return [step.text for step in self.trace]
