"""``dnsemu explain``: the trace of one resolution, and the answer as dig would show it."""

from __future__ import annotations

import dataclasses
import ipaddress

from dnsemu.core.index import Index
from dnsemu.core.resolution import Outcome, Resolution
from dnsemu.dns import names
from dnsemu.dns.records import Question, Record, RRType, rdata_text, type_name
from dnsemu.text import excerpt
from dnsemu.topology.model import Topology


class UnknownSource(ValueError):
    pass


def source_address(topology: Topology, index: Index, source: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address for ``--from``: an address as given, or a network's (or VM's) name.

    For a network, the first VM in it when there is one, else the first address
    Azure hands out in its first address space (``.4``).
    """
    try:
        return ipaddress.ip_address(source)
    except ValueError:
        pass
    if source == "internet":
        return ipaddress.ip_address("198.51.100.1")
    vm = topology.virtual_machines.get(source)
    if vm is not None:
        return vm.private_ip_address
    for vm in topology.virtual_machines.values():
        if vm.virtual_network == source:
            return vm.private_ip_address
    hub = topology.virtual_hubs.get(source)
    if hub is not None:
        return hub.address_prefix.network_address + 4
    network = topology.virtual_networks.get(source) or topology.on_premises.get(source)
    if network is None:
        known = [*topology.virtual_networks, *topology.virtual_hubs, *topology.on_premises,
                 *topology.virtual_machines, "internet"]
        raise UnknownSource(
            f"--from {excerpt(source)} is neither an address nor a network or VM name (known: {', '.join(known)})"
        )
    return network.address_space[0].network_address + 4


def question(name: str, qtype: str = "A") -> Question:
    text = name if name.endswith(".") else name + "."
    return Question(names.parse(text), RRType.make(qtype))


def as_json(q: Question, qtype_text: str, address: object, result: Resolution) -> dict[str, object]:
    """The resolution as plain data: what ``dnsemu explain --json`` and ``GET /v1/explain`` return."""
    return {
        "question": {"name": q.name, "type": qtype_text.upper()},
        "from": str(address),
        "outcome": result.outcome.value,
        "rcode": result.rcode.name,
        "view": result.view,
        "answer_kind": result.source.value,
        "authoritative": result.authoritative,
        "answer": [r.text() for r in result.answer],
        "authority": [r.text() for r in result.authority],
        "trace": [s.as_dict() for s in result.trace],
        "policy": [dataclasses.asdict(d) for d in result.policy],
    }


def _section(title: str, records: tuple[Record, ...]) -> list[str]:
    if not records:
        return []
    lines = [f";; {title} SECTION:"]
    lines += [f"{r.name}\t\t{r.ttl}\tIN\t{type_name(r.rtype)}\t{rdata_text(r.rtype, r.rdata)}" for r in records]
    return [*lines, ""]


def render(q: Question, address: object, result: Resolution) -> str:
    lines = [f"; {q.name} {type_name(q.qtype)} asked from {address}", ";; TRACE:"]
    lines += [f";; {i}. {step.text}" for i, step in enumerate(result.trace, 1)]
    lines.append("")
    if result.outcome is Outcome.FORWARD:
        assert result.forward is not None
        lines.append(
            f";; ->>HEADER<<- status: forwarded ({result.forward.name} {type_name(result.forward.qtype)} "
            f"goes to {result.forward.via}; REFUSED when no upstream is configured)"
        )
    else:
        lines.append(f";; ->>HEADER<<- opcode: QUERY, status: {result.rcode.name}")
        lines.append(
            f";; flags: {'qr aa rd ra' if result.authoritative else 'qr rd ra'}; QUERY: 1, ANSWER: "
            f"{len(result.answer)}, AUTHORITY: {len(result.authority)}, ADDITIONAL: 0"
        )
    lines.append(f";; view: {result.view}; answer: {result.source.value}")
    lines.append("")
    lines += [";; QUESTION SECTION:", f";{q.name}\t\t\tIN\t{type_name(q.qtype)}", ""]
    lines += _section("ANSWER", result.answer)
    lines += _section("AUTHORITY", result.authority)
    return "\n".join(lines).rstrip() + "\n"
