"""EDNS Client Subnet (RFC 7871): whose option to believe, and the scope of an answer.

When ``ecs`` is on and the *real* source is in ``ecs_trusted``, the option's address routes
the query (a /0 source prefix keeps the real source and answers scope 0) and the reply
echoes the option with SCOPE PREFIX-LENGTH = the shortest prefix around the address for
which the answer holds everywhere: :func:`ecs_scope`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from time import perf_counter
from typing import Any

from dnsemu.core.index import Index

__all__ = ["EcsScopes", "IPAddress", "IgnoredEcs", "ecs_scope", "trusted"]

#: ``ecs_ignored`` is logged at most once per this many seconds per source, for at most this many sources
ECS_WARN_INTERVAL = 60.0
ECS_WARN_SOURCES = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def ecs_scope(networks: Iterable[tuple[int, int]], address: IPAddress) -> int:
    """SCOPE PREFIX-LENGTH for an answer routed by ``address`` (RFC 7871 §7.2.1).

    ``networks`` are the modelled prefixes of the address's family as
    ``(network address as int, prefix length)``. The answer holds for every
    address that resolves from the same network, so the scope is the shortest
    prefix length L such that ``address/L`` lies inside the longest matching
    network and overlaps no other network: for each network M, a block around
    the address that contains M's network address up to M's length would
    include M, so L must exceed the common prefix of the address and M (or
    reach M's own length when M holds the address). For the internet (no match)
    that is the widest block holding no modelled network; 0 when there is none.
    """
    width = address.max_prefixlen
    value = int(address)
    scope = 0
    for net, plen in networks:
        common = width - (value ^ net).bit_length()
        need = plen if common >= plen else common + 1
        if need > scope:
            scope = need
    return scope


def trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    """Whether ``address`` (or the IPv4 address an IPv6 one maps) lies in one of ``networks``."""
    for network in networks:
        if address in network:
            return True
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped is not None and trusted(mapped, networks)


class IgnoredEcs:
    """Says (once a minute per source, for at most 1024 sources) that an ECS option was not honoured.

    A client behind NAT or a container bridge arrives from an address outside ``ecs_trusted``: its
    option is ignored and the query answered for its real address, which surprises; the line names
    the source and the trusted list to widen (``DNSEMU_ECS_TRUSTED``).
    """

    __slots__ = ("log", "seen", "trusted")

    def __init__(self, log: Any, trusted_networks: Sequence[IPNetwork]) -> None:
        self.log = log
        self.trusted = ",".join(map(str, trusted_networks))
        #: source address -> when its ignored ECS option was last logged
        self.seen: dict[str, float] = {}

    def __call__(self, host: str, ecs: Any) -> None:
        now = perf_counter()
        seen = self.seen
        last = seen.get(host)
        if last is not None and now - last < ECS_WARN_INTERVAL:
            return
        if last is None and len(seen) >= ECS_WARN_SOURCES:
            return  # a flood of sources: the first ones have said it
        seen[host] = now
        self.log.warning("ecs_ignored", client=host, ecs=f"{ecs.address}/{ecs.source_prefix}", trusted=self.trusted,
                         fix="answered for the client's own address; trust its source with --ecs-trusted "
                             "(DNSEMU_ECS_TRUSTED) to let its ECS option pick the network")


class EcsScopes:
    """The modelled prefixes of one index by family, parsed once: what :func:`ecs_scope` compares against."""

    __slots__ = ("prefixes",)

    def __init__(self, index: Index) -> None:
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for network in index.networks.values():
            for text in network.prefixes:
                prefix = ipaddress.ip_network(text, strict=False)
                (v4 if prefix.version == 4 else v6).append((int(prefix.network_address), prefix.prefixlen))
        self.prefixes = {4: tuple(v4), 6: tuple(v6)}

    def scope(self, routing: IPAddress) -> int:
        """The scope of an answer routed by ``routing`` (an IPv4-mapped address scopes in the IPv6 width)."""
        mapped = getattr(routing, "ipv4_mapped", None)
        if mapped is not None:
            return 96 + ecs_scope(self.prefixes[4], mapped)
        return ecs_scope(self.prefixes[routing.version], routing)
