"""``dnsemu verify``: replay captured answers through the model and say where reality and the model disagree.

Pure: capture records and a loaded, compiled estate in, a :class:`VerifyReport` out.

Each record is replayed from the address it was asked from: the ECS address when the
capture sent one and the server echoed it (a rehearsal against dnsemu), else the
address the query left from, or the network or address ``--from`` names for all. The
record's server picks where the query enters the estate: 168.63.129.16 is Azure DNS in
the source's VNet, a modelled DNS server (a resolver's inbound endpoint, a custom DNS
server, an on-premises site's server) is that server; any other server (a loopback
stub, dnsemu itself, an address the model does not know) is taken as the VNet's own DNS
path.

Verdicts (docs/verify.md):

``agree``        the same rcode and the same records (names without case, TTLs ignored: caches count them down)
``approximate``  the same up to the public tail dnsemu synthesises (a service's cluster host and public address,
                 which a model cannot know), and the observed chain continues from the same name
``outside``      the model hands the rest of the question to a forwarder outside it, and the observed answer
                 starts with the model's part
``differ``       anything else: the record gets the trace and the likeliest missing piece
``no-reply``     the capture got no reply
``unplaceable``  the record's source is loopback and in no modelled network (a local stub resolver answered)

The likeliest missing piece of a ``differ`` is a heuristic (codes documented in
docs/verify.md): it weighs what the observed answer proves (a record only a private zone
holds, a private zone's SOA, private addresses public DNS would not give) against the
path the model took.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dnsemu.analysis.explain import source_address
from dnsemu.analysis.replies import resolution_json, short
from dnsemu.catalog import Catalog
from dnsemu.core.index import AzureDns, Forwarder, Hop, Index, Network, NetworkKind
from dnsemu.core.resolution import Outcome, Resolution, Source
from dnsemu.core.resolver import resolve_classified
from dnsemu.core.zone import ZoneKind
from dnsemu.dns import names
from dnsemu.dns.records import Question, RRType, rdata_text, type_name
from dnsemu.topology.files import FileProblem, read_text, where
from dnsemu.topology.loaded import LoadedTopology
from dnsemu.topology.model import AZURE_DNS_IP, parse_target

__all__ = ["FORMAT", "CaptureError", "CaptureRecord", "Cause", "Result", "VerifyReport", "as_json", "parse_capture",
           "read_capture", "render", "verify"]

FORMAT = "dnsemu-verify/1"
MAX_CAPTURE_BYTES = 64 * 1024 * 1024
MAX_LINE = 1024 * 1024
MAX_RECORDS = 1_000_000
_NAME_TYPES = frozenset({"CNAME", "PTR", "NS", "DNAME"})

Estate = tuple[LoadedTopology, Index]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Norm = tuple[str, str, str]  # (owner, type, data), normalised


class CaptureError(ValueError):
    """A capture file that cannot be used; the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    file: str
    line: int
    name: str  # as captured
    type: str
    rcode: str | None
    answer: tuple[dict[str, Any], ...]
    authority: tuple[dict[str, Any], ...] = ()
    source: str | None = None
    server: str | None = None
    ecs: str | None = None
    ecs_scope: int | None = None
    error: str | None = None
    time: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


# --------------------------------------------------------------------------- reading captures


def _record_list(value: Any, where: str, key: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise CaptureError(f"{where}: field {key!r}: expected a list of records, got {type(value).__name__}")
    out = []
    for i, rr in enumerate(value):
        if not isinstance(rr, dict):
            raise CaptureError(f"{where}: field {key}[{i}]: expected an object with name, type, ttl and data")
        for field_name, kind in (("name", str), ("type", str), ("data", str)):
            if not isinstance(rr.get(field_name), kind):
                raise CaptureError(f"{where}: field {key}[{i}].{field_name}: expected a string")
        out.append(rr)
    return tuple(out)


def _optional(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise CaptureError(f"{where}: field {key!r}: expected {kind.__name__} or null, got {type(value).__name__}")
    return value


def parse_capture(text: str, filename: str = "<capture>") -> list[CaptureRecord]:
    """Records of a capture (JSON lines, docs/verify.md); :class:`CaptureError` names file, line and field."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{filename}:{number}"
        if len(line) > MAX_LINE:
            raise CaptureError(f"{where}: a line of more than {MAX_LINE} characters is no capture record")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaptureError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise CaptureError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        if obj.get("v", 1) != 1:
            raise CaptureError(f"{where}: field 'v': format version {obj.get('v')!r}, this dnsemu reads 1")
        for key in ("name", "type"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise CaptureError(f"{where}: field {key!r}: required, a non-empty string")
        try:
            RRType.make(obj["type"])
        except ValueError as exc:
            raise CaptureError(f"{where}: field 'type': {exc}") from None
        try:
            names.parse(obj["name"] if obj["name"].endswith(".") else obj["name"] + ".")
        except names.NameError_ as exc:
            raise CaptureError(f"{where}: field 'name': {obj['name']!r} is not a domain name ({exc})") from None
        if "answer" not in obj:
            raise CaptureError(f"{where}: field 'answer': required (a list, empty when there was none)")
        rcode = _optional(obj, "rcode", str, where)
        source = _optional(obj, "source", str, where)
        ecs = _optional(obj, "ecs", str, where)
        for key, value, parse in (
            ("source", source, lambda v: ipaddress.ip_address(v.split("%", 1)[0])),
            ("ecs", ecs, lambda v: ipaddress.ip_network(v, strict=False)),
        ):
            if value is not None:
                try:
                    parse(value)
                except ValueError as exc:
                    raise CaptureError(f"{where}: field {key!r}: {exc}") from None
        records.append(
            CaptureRecord(
                file=filename,
                line=number,
                name=obj["name"],
                type=obj["type"].upper(),
                rcode=rcode,
                answer=_record_list(obj["answer"], where, "answer"),
                authority=_record_list(obj.get("authority") or [], where, "authority"),
                source=source,
                server=_optional(obj, "server", str, where),
                ecs=ecs,
                ecs_scope=_optional(obj, "ecs_scope", int, where),
                error=_optional(obj, "error", str, where),
                time=_optional(obj, "time", str, where),
            )
        )
        if len(records) > MAX_RECORDS:
            raise CaptureError(f"{filename}: more than {MAX_RECORDS} records")
    return records


def read_capture(path: str | os.PathLike[str]) -> list[CaptureRecord]:
    try:
        text = read_text(path, max_bytes=MAX_CAPTURE_BYTES)
    except FileProblem as exc:
        raise CaptureError(where(path, exc)) from None
    return parse_capture(text, str(path))


# --------------------------------------------------------------------------- comparing


def _norm_data(rtype: str, data: str) -> str:
    data = data.strip()
    if rtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(data))
        except ValueError:
            return data
    if rtype in _NAME_TYPES or rtype in ("MX", "SRV"):
        return " ".join(data.lower().split())
    return data


def _norm_name(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


def _norm(rr: dict[str, Any]) -> Norm:
    rtype = str(rr["type"]).upper()
    return (_norm_name(rr["name"]), rtype, _norm_data(rtype, str(rr["data"])))


def _model_norm(result: Resolution) -> list[Norm]:
    return [(r.name, type_name(r.rtype), _norm_data(type_name(r.rtype), rdata_text(r.rtype, r.rdata))) for r in
            result.answer]


@dataclass(frozen=True, slots=True)
class Cause:
    code: str
    message: str


@dataclass(frozen=True)
class Result:
    record: CaptureRecord
    verdict: str
    detail: str
    address: Address | None = None
    network: str | None = None
    model: Resolution | None = None
    cause: Cause | None = None


@dataclass(frozen=True)
class VerifyReport:
    topology: str
    captures: tuple[str, ...]
    results: tuple[Result, ...]

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.results if r.verdict == verdict)

    @property
    def failed(self) -> bool:
        return any(r.verdict in ("differ", "no-reply", "unplaceable") for r in self.results)


class _Model:
    """What the heuristics need to know about the estate, computed once."""

    def __init__(self, estate: Estate) -> None:
        self.loaded, self.index = estate
        t = self.loaded.topology
        self.catalog = Catalog.load(t.cloud)
        pool = t.public_dns.address_pool
        self.pool = pool
        # names dnsemu synthesises behind public service names: cluster hosts (their address is from the pool)
        self.synthesised: set[str] = set()
        for zone in self.index.public.zones.values():
            for owner, node in zone.nodes.items():
                for rtype in (RRType.A, RRType.AAAA):
                    for record in node.get(rtype, ()):
                        if _in(record.rdata[0], pool):
                            self.synthesised.add(owner)
        # (owner, type) -> (zone apex, normalised records) held by private zones
        self.private: dict[tuple[str, str], tuple[str, frozenset[Norm]]] = {}
        for apex, zone in self.index.private_zones.items():
            for owner, node in zone.nodes.items():
                for rtype, rrset in node.items():
                    tname = type_name(rtype)
                    if tname == "SOA":
                        continue
                    norms = frozenset((owner, tname, _norm_data(tname, rdata_text(r.rtype, r.rdata))) for r in rrset)
                    self.private[(owner, tname)] = (apex, norms)
        self.private_data = frozenset(n[2] for _zone, norms in self.private.values() for n in norms)
        self.links: dict[str, list[str]] = defaultdict(list)  # zone apex -> VNets linked
        for view in self.index.views.values():
            for apex, link in view.links.items():
                if link.zone.kind is ZoneKind.PRIVATE:
                    self.links[apex].append(view.vnet)
        self.inbound: dict[str, list[str]] = defaultdict(list)  # VNet -> inbound endpoint addresses
        for resolver in t.dns_private_resolvers.values():
            for endpoint in resolver.inbound_endpoints.values():
                self.inbound[resolver.virtual_network].append(str(endpoint.private_ip_address))
        self.servers = _server_hops(self.loaded, self.index)

    def public_zone(self, apex: str) -> str:
        return (self.catalog.public_zone_for(apex) or apex.removeprefix("privatelink.")).rstrip(".")


def _in(text: str, pool: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(text) in pool
    except ValueError:
        return False


def _server_hops(loaded: LoadedTopology, index: Index) -> dict[str, tuple[Hop, str]]:
    """Modelled DNS servers by address: what a query sent straight to one of them meets."""
    t = loaded.topology
    out: dict[str, tuple[Hop, str]] = {}
    for rname, resolver in t.dns_private_resolvers.items():
        for ename, endpoint in resolver.inbound_endpoints.items():
            out[str(endpoint.private_ip_address)] = (
                index.azure_dns[resolver.virtual_network],
                f"inbound endpoint {rname}/{ename} of VNet {resolver.virtual_network!r}",
            )
    for vname, vnet in t.virtual_networks.items():
        if vnet.dns_servers and vnet.dns_servers[0] != AZURE_DNS_IP:
            out.setdefault(str(vnet.dns_servers[0]), (index.networks[vname].entry, f"DNS server of VNet {vname!r}"))
    for oname, site in t.on_premises.items():
        for address in site.dns_servers:
            out.setdefault(str(address), (index.networks[oname].entry, f"DNS server of on-premises site {oname!r}"))
    hops: list[Hop] = list(index.azure_dns.values()) + [n.entry for n in index.networks.values()]
    for hop in hops:
        edges = list(hop.rules.values()) if isinstance(hop, AzureDns) else []
        if isinstance(hop, Forwarder):
            edges = list(hop.forwarders.values())
        for edge in edges:
            address, _port = parse_target(edge.target)
            out.setdefault(address, (edge.hop, edge.hop.label))
    return out


def _replay_address(
    record: CaptureRecord, estate: Estate, replay_from: str | None
) -> tuple[Address | None, str]:
    """(address, how it was chosen), or (None, why not)."""
    if replay_from is not None:
        address = source_address(estate[0].topology, estate[1], replay_from)
        return address, f"--from {replay_from}"
    if record.ecs and record.ecs_scope is not None:
        return ipaddress.ip_network(record.ecs, strict=False).network_address, f"ECS {record.ecs}"
    if record.source is None:
        return None, "the record has no source address (give --from)"
    return ipaddress.ip_address(record.source.split("%", 1)[0]), "the capture's source address"


def _entry(model: _Model, network: Network, server: str | None) -> tuple[Network, str | None, bool]:
    """The network as the record's server meets it, a note, and whether the server is one the model lacks."""
    if not server:
        return network, None, False
    try:
        address = parse_target(server)[0]
    except ValueError:
        return network, None, False
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return network, None, False
    if ip == AZURE_DNS_IP:
        hop = model.index.azure_dns.get(network.name) if network.kind is NetworkKind.VNET else None
        if hop is None or hop is network.entry:
            return network, None, False
        note = f"asked 168.63.129.16 directly (Azure DNS in VNet {network.name!r}), not the VNet's DNS servers"
        return replace(network, entry=hop, entry_note=note), note, False
    known = model.servers.get(address)
    if known is None:
        return network, f"asked {address}, a DNS server the model does not know", True
    hop, description = known
    if hop is network.entry:
        return network, None, False
    note = f"asked {address} ({description}) directly"
    return replace(network, entry=hop, entry_note=note), note, False


def _guessed_from(model: _Model, result: Resolution) -> int | None:
    """Index of the first record of the model's answer that is a synthesised public placeholder."""
    for i, r in enumerate(result.answer):
        if r.rtype in (RRType.A, RRType.AAAA) and _in(r.rdata[0], model.pool):
            return i
        if r.rtype == RRType.CNAME and r.rdata[0] in model.synthesised:
            return i
    return None


def _compare(model: _Model, result: Resolution, record: CaptureRecord) -> tuple[str, str]:
    observed = [_norm(rr) for rr in record.answer]
    expected = _model_norm(result)
    if result.outcome is Outcome.FORWARD:
        if observed[: len(expected)] != expected:
            return "differ", "the observed answer does not start with the part of the chain the model knows"
        assert result.forward is not None
        return "outside", f"the model answers up to {result.forward.name} and hands the rest to {result.forward.via}"
    if record.rcode != result.rcode.name:
        return "differ", f"rcode {record.rcode}, the model says {result.rcode.name}"
    guessed = _guessed_from(model, result)
    if guessed is None or sorted(observed) == sorted(expected):
        if sorted(observed) == sorted(expected):
            return "agree", "same rcode and records"
        return "differ", "the records differ"
    if sorted(observed[:guessed]) != sorted(expected[:guessed]):
        return "differ", "the records differ before the public part"
    # the observed chain must go on from the same name with the same type, and only through public data
    continues = guessed < len(observed) and observed[guessed][:2] == expected[guessed][:2]
    if not continues and not (guessed == len(observed) and result.outcome is Outcome.NODATA):
        return "differ", f"the public chain does not continue from {expected[guessed][0]} as the model's does"
    tail = observed[guessed:]
    if any(rtype == "CNAME" and _privatelink(data) for _owner, rtype, data in tail):
        return "differ", f"the observed chain has a privatelink alias after {expected[guessed][0]}, the model none"
    if any((owner, rtype) in model.private for owner, rtype, _data in tail) or _private_addresses(model, tail):
        return "differ", f"the observed chain goes on from {expected[guessed][0]} with private data"
    return "approximate", f"the same up to {expected[guessed][0]}, where public DNS names the service's own hosts"


def _privatelink(name: str) -> bool:
    return any(label == "privatelink" or label.startswith("privatelink-") for label in name.split("."))


def _private_addresses(model: _Model, records: Sequence[Norm]) -> list[str]:
    """Private addresses (RFC 1918, ULA ...) among ``records`` that are no synthesised public address."""
    out = []
    for _owner, rtype, data in records:
        if rtype in ("A", "AAAA"):
            try:
                ip = ipaddress.ip_address(data)
            except ValueError:
                continue
            if ip.is_private and ip not in model.pool and not ip.is_loopback:
                out.append(data)
    return out


# --------------------------------------------------------------------------- the likeliest missing piece


@dataclass(slots=True)
class _Evidence:
    zone: str | None = None  # a private zone the observed answer proves was consulted
    owner_records: frozenset[Norm] | None = None  # what the model's zone holds at the observed owner
    observed_at_owner: frozenset[Norm] = frozenset()
    private_addresses: list[str] = field(default_factory=list)  # private addresses no modelled zone explains
    alias: bool | None = None  # does the observed public chain carry the privatelink alias


def _evidence(model: _Model, record: CaptureRecord) -> _Evidence:
    found = _Evidence()
    observed = [_norm(rr) for rr in record.answer]
    for owner, rtype, _data in observed:
        hit = model.private.get((owner, rtype))
        if hit is not None and found.zone is None:
            found.zone, found.owner_records = hit
            found.observed_at_owner = frozenset(n for n in observed if n[0] == owner and n[1] == rtype)
    if found.zone is None:
        # data (not the public alias chain, which is CNAMEs) at a name inside a private zone the model has
        for owner, rtype, _data in observed:
            apex = next((z for z in names.suffixes(owner) if z in model.index.private_zones), None)
            if apex is not None and rtype != "CNAME":
                found.zone = apex
                found.observed_at_owner = frozenset(n for n in observed if n[0] == owner and n[1] == rtype)
                break
    for rr in record.authority:
        owner, rtype, _data = _norm(rr)
        if rtype == "SOA" and owner in model.index.private_zones and found.zone is None:
            found.zone = owner
    known = model.private_data
    found.private_addresses = [a for a in _private_addresses(model, observed) if a not in known]
    if observed and observed[0][1] == "CNAME":
        found.alias = _privatelink(observed[0][2])
    return found


def _model_zone(result: Resolution) -> str | None:
    """The private zone whose data the model's answer came from (or that denied the name)."""
    for step in reversed(result.trace):
        if step.code in ("private", "private-nodata", "private-nxdomain"):
            data = dict(step.data)
            if data.get("kind") == "private":
                return str(data["zone"])
    return None


def _walked_vnet(result: Resolution) -> str | None:
    return result.view.removeprefix("vnet:") if result.view.startswith("vnet:") else None


def _on_premises_on_path(result: Resolution) -> str | None:
    for step in result.trace:
        if step.code == "forwarder":
            server = str(dict(step.data).get("server", ""))
            if "on-premises site" in server:
                return server.split("'")[1] if "'" in server else server
    return None


def _likeliest(
    model: _Model,
    record: CaptureRecord,
    result: Resolution,
    network: Network,
    unknown_server: str | None,
    all_public: bool,
) -> Cause:
    ev = _evidence(model, record)
    model_zone = _model_zone(result)
    name = _norm_name(record.name)
    if record.rcode in ("SERVFAIL", "REFUSED") and result.rcode.name not in ("SERVFAIL", "REFUSED"):
        return Cause(
            "server-failure",
            f"the server answered {record.rcode}: a forwarding target that does not answer (§11.4), a loop, or a "
            "server that refuses this source",
        )
    if ev.zone is not None and model_zone == ev.zone:
        observed_has = bool(ev.observed_at_owner)
        if observed_has and ev.owner_records is not None and ev.observed_at_owner != ev.owner_records:
            values = ", ".join(sorted(n[2] for n in ev.observed_at_owner))
            return Cause(
                "stale-record",
                f"zone {ev.zone} answers {values} where the model has "
                f"{', '.join(sorted(n[2] for n in ev.owner_records))}: a private endpoint's address or a record "
                "changed since the export",
            )
        if observed_has:
            return Cause(
                "missing-record",
                f"zone {ev.zone} holds a record the model's copy lacks: a record set or zone group the export missed",
            )
        return Cause(
            "extra-record",
            f"zone {ev.zone} denies {name} in reality and the model has a record for it: the private endpoint or "
            "record was deleted after the export",
        )
    if ev.zone is not None:  # reality consulted a private zone the model's path never reached
        public = model.public_zone(ev.zone)
        linked = model.links.get(ev.zone, [])
        targets = [ip for vnet in linked for ip in model.inbound.get(vnet, [])]
        via = f" (a resolver inbound endpoint in a VNet linked to it: {', '.join(targets)})" if targets else ""
        if network.kind is NetworkKind.ON_PREMISES:
            return Cause(
                "missing-forwarder",
                f"the answer comes from private zone {ev.zone}: the DNS server of site {network.name!r} forwards "
                f"{public} to Azure{via}, an on-premises conditional forwarder the model lacks",
            )
        if network.kind is not NetworkKind.VNET:
            return Cause(
                "unknown-source",
                f"the answer comes from private zone {ev.zone}, yet {record.source or 'the source'} is in no "
                "modelled network: a VNet or address space the export lacked",
            )
        if unknown_server:
            return Cause("custom-dns", f"{unknown_server}; it resolves zone {ev.zone}: a custom DNS server the "
                         "export lacked (set on the VNet or on the VM's NIC)")
        walked = _walked_vnet(result)
        if walked is not None:
            where = "" if walked == network.name else f" (where the queries of {network.name!r} are answered)"
            return Cause(
                "missing-link",
                f"the answer comes from private zone {ev.zone}, which the model does not link to VNet {walked!r}"
                f"{where}: a virtual network link the export lacked, or a forwarding rule for {public} that leads "
                "to a VNet linked to it",
            )
        return Cause(
            "custom-dns",
            f"the answer comes from private zone {ev.zone}, but in the model {network.name!r}'s DNS sends {name} "
            "to the internet: its DNS server forwards elsewhere in reality (a custom DNS server's forwarders, "
            "or the VNet's DNS servers setting)",
        )
    if model_zone is not None:  # the model answered from (or was denied by) a private zone, reality did not
        if unknown_server:
            return Cause("custom-dns", f"{unknown_server}, and it does not see zone {model_zone}: a custom DNS "
                         "server the export lacked, which does not forward to Azure DNS")
        walked = _walked_vnet(result) or network.name
        if all_public:
            if network.kind is NetworkKind.ON_PREMISES:
                return Cause(
                    "forwarder-differs",
                    f"no name that the model resolves privately from site {network.name!r} does so in reality: its "
                    "DNS server's conditional forwarders differ from the model's (none to a resolver inbound "
                    "endpoint)",
                )
            return Cause(
                "custom-dns",
                f"no name that the model resolves privately from {network.name!r} does so in reality: the VNet's "
                "DNS does not reach Azure DNS in a linked VNet (custom DNS servers on the VNet or the NIC that "
                "forward to the internet, or a resolver or ruleset link the model has and the estate lacks)",
            )
        return Cause(
            "extra-link",
            f"the model answers from zone {model_zone}, linked to VNet {walked!r}; reality does not: the link (or "
            "the rule or forwarder leading there) is gone, or the export holds one the estate never had",
        )
    if ev.private_addresses:
        site = _on_premises_on_path(result)
        if site is not None:
            return Cause(
                "missing-forwarder",
                f"the answer holds private addresses ({', '.join(ev.private_addresses)}) that public DNS does not "
                f"hand out: the DNS server of site {site!r} answers {name} from a zone or forwarder the model lacks",
            )
        return Cause(
            "unmodelled-zone",
            f"the answer holds private addresses ({', '.join(ev.private_addresses)}) no modelled zone has: a DNS "
            "server on the path (a custom DNS server, an on-premises server) answers from a zone of its own",
        )
    model_alias = bool(result.answer) and result.answer[0].rtype == RRType.CNAME and _privatelink(
        result.answer[0].rdata[0]
    )
    if ev.alias is not None and ev.alias != model_alias:
        state = "carries" if ev.alias else "lacks"
        return Cause(
            "connection-state",
            f"the public chain {state} the privatelink alias and the model's does not: the private endpoint "
            "connection's state differs (public DNS has the alias only while a connection is Approved, §1.1)",
        )
    return Cause("unexplained", "no heuristic fits: compare the trace with the observed answer")


# --------------------------------------------------------------------------- verify


def verify(estate: Estate, records: Sequence[CaptureRecord], *, replay_from: str | None = None,
           topology: str = "topology", captures: Sequence[str] = ()) -> VerifyReport:
    """Replay ``records`` through ``estate``; UnknownSource when ``replay_from`` names nothing the estate knows."""
    model = _Model(estate)
    index = estate[1]
    if replay_from is not None:
        source_address(estate[0].topology, index, replay_from)  # fail early, once
    pending: list[tuple[CaptureRecord, Address, Network, Resolution, str | None]] = []
    results: list[Result | None] = []
    for record in records:
        if record.rcode is None:
            results.append(Result(record, "no-reply", record.error or "no reply was recorded"))
            continue
        address, how = _replay_address(record, estate, replay_from)
        if address is None:
            results.append(Result(record, "unplaceable", how))
            continue
        found, prefixlen = index.classify(address)
        if found is None and address.is_loopback:
            results.append(
                Result(
                    record,
                    "unplaceable",
                    f"{address} ({how}) is loopback and in no modelled network: a local stub resolver asked for it; "
                    "capture with --server set to its upstream, or verify --from NETWORK",
                    address,
                )
            )
            continue
        network = found if found is not None else index.internet
        network, note, unknown = _entry(model, network, record.server)
        q = Question(names.parse(_norm_name(record.name)), RRType.make(record.type))
        result = resolve_classified(index, network, prefixlen, q, address)
        verdict, detail = _compare(model, result, record)
        if note:
            detail = f"{detail} ({note})"
        results.append(Result(record, verdict, detail, address, network.name, result))
        pending.append((record, address, network, result, note if unknown else None))
    # per source: did every answer the model gives privately come back without private data?
    private_total: dict[str, int] = defaultdict(int)
    private_lost: dict[str, int] = defaultdict(int)
    for record, _address, network, result, _unknown in pending:
        if result.source in (Source.PRIVATE, Source.NXDOMAIN_PRIVATE) and _model_zone(result):
            private_total[network.name] += 1
            ev = _evidence(model, record)
            if ev.zone is None and not ev.private_addresses:
                private_lost[network.name] += 1
    out: list[Result] = []
    it = iter(pending)
    for item in results:
        assert item is not None
        if item.model is None:
            out.append(item)
            continue
        record, _address, network, result, unknown = next(it)
        if item.verdict == "differ" or (item.verdict == "outside" and _evidence(model, record).private_addresses):
            all_public = private_total[network.name] > 1 and private_lost[network.name] == private_total[network.name]
            cause = _likeliest(model, record, result, network, unknown, all_public)
            verdict = "differ"
            detail = item.detail if item.verdict == "differ" else "the observed answer holds private addresses"
            item = replace(item, verdict=verdict, detail=detail, cause=cause)
        out.append(item)
    return VerifyReport(topology, tuple(captures), tuple(out))


# --------------------------------------------------------------------------- output


def _observed_short(record: CaptureRecord) -> str:
    chain = ", ".join(f"{rr['type']} {rr['data']}" for rr in record.answer)
    if record.rcode is None:
        return f"no reply ({record.error or 'none recorded'})"
    answered = any(str(rr["type"]).upper() == record.type for rr in record.answer)
    if record.rcode == "NOERROR" and (answered or record.type in ("CNAME", "ANY")) and chain:
        return f"NOERROR: {chain}"
    soa = next((rr["name"] for rr in record.authority if str(rr.get("type", "")).upper() == "SOA"), None)
    head = "NOERROR, no records" if record.rcode == "NOERROR" else record.rcode
    return head + (f" (SOA {soa})" if soa else "") + (f" after {chain}" if chain else "")


def render(report: VerifyReport) -> str:
    lines = []
    for r in report.results:
        if r.verdict in ("agree", "approximate", "outside"):
            continue
        rec = r.record
        who = str(r.address) if r.address is not None else (rec.source or "an unknown source")
        if r.network is not None:
            who += f" ({r.network})"
        lines.append(f"{rec.where}: {rec.name} {rec.type} from {who}: {r.verdict}")
        lines.append(f"  observed: {_observed_short(rec)}")
        if r.model is not None:
            lines.append(f"  model:    {short(r.model)}")
        lines.append(f"  why:      {r.detail}")
        if r.cause is not None:
            lines.append(f"  likeliest missing piece ({r.cause.code}): {r.cause.message}")
        if r.model is not None and r.verdict == "differ":
            lines.append("  model trace:")
            lines += [f"    {i}. {step.text}" for i, step in enumerate(r.model.trace, 1)]
    counts = {v: report.count(v) for v in ("agree", "approximate", "outside", "differ", "no-reply", "unplaceable")}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    if lines:
        lines.append("")
    lines.append(f"{len(report.results)} captured answers against {report.topology}: {summary or 'none'}")
    return "\n".join(lines) + "\n"


def as_json(report: VerifyReport) -> dict[str, Any]:
    results = []
    for r in report.results:
        rec = r.record
        results.append(
            {
                "file": rec.file,
                "line": rec.line,
                "name": rec.name,
                "type": rec.type,
                "source": rec.source,
                "server": rec.server,
                "replayed_from": str(r.address) if r.address is not None else None,
                "network": r.network,
                "verdict": r.verdict,
                "detail": r.detail,
                "observed": {"rcode": rec.rcode, "answer": list(rec.answer), "authority": list(rec.authority)},
                "model": resolution_json(r.model) if r.model is not None else None,
                "cause": {"code": r.cause.code, "message": r.cause.message} if r.cause is not None else None,
                "trace": [s.as_dict() for s in r.model.trace] if r.model is not None and r.verdict == "differ"
                else None,
            }
        )
    return {
        "format": FORMAT,
        "topology": report.topology,
        "captures": list(report.captures),
        "results": results,
        "summary": {
            v: report.count(v) for v in ("agree", "approximate", "outside", "differ", "no-reply", "unplaceable")
        },
    }
