"""Public zones as a resolver sees the internet: zone cuts (NS below the apex) and DNAME (RFC 6672).

Issue 11, finding 7: an NS below a public zone's apex was served as plain data (names under
it got NXDOMAIN with the parent's SOA, and the parent's data below the cut was answered),
and DNAME was refused as an unknown type. Every expected answer below is written by hand
from the RFCs, never taken from dnsemu:

* RFC 1034 §4.2.1 and §4.3.2 step 3.b: at a zone cut the parent's authority ends; a
  resolver follows the referral to the child's servers, so nothing the parent holds at or
  below the cut (glue, stale data) is ever an answer, and the referral comes before any
  wildcard of the parent (step 3.c). RFC 4035 §3.1.4.1: DS at the cut is the parent's.
* RFC 6672 §2.2: a name below the DNAME owner is answered with the DNAME and a CNAME whose
  target is the name with the owner replaced by the DNAME target; a result over 255
  octets is YXDOMAIN, with the DNAME in the answer. §2.3: the owner itself is not
  redirected. §2.4: data below the owner is occluded. §2.5: the target is never
  compressed. §3.1: the synthesised CNAME has the DNAME's TTL.

dnsemu answers as a recursive resolver: a cut whose child zone the topology models is
answered by the child; a cut whose child it does not model takes the path of every name
outside the model (the upstream forwarder; REFUSED when none is configured). Azure
private DNS zones keep Azure's record types: NS and DNAME are refused there, with the
file, line and field.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from conftest import need_tool

from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.core.zone import Found, Zone, soa_record
from dnsemu.dns import names
from dnsemu.dns.records import Question, Record, RRType, rdata_text, type_name
from dnsemu.testing import Emulator
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology, load_topology_data

# Three 63-octet labels and example.net.: 3 * 64 + 13 = 205 octets of target, so a prefix of
# up to 50 octets (one label of 49 letters) still fits in 255 and one of 51 octets does not.
LONG_TARGET = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".example.net."
FITS = "f" * 49  # 50 octets of prefix: 50 + 205 = 255, the largest legal name
SPILLS = "s" * 50  # 51 octets of prefix: 256, YXDOMAIN

TOPOLOGY = {
    "virtual_networks": {"hub": {"address_space": ["10.0.0.0/16", "127.0.3.0/24"]}},
    "private_dns_zones": {
        "corp.example": {"records": ["app 60 A 10.0.5.5"], "virtual_network_links": [{"virtual_network": "hub"}]},
    },
    "public_dns": {
        "zones": {
            "example.com": {
                "records": [
                    "@ 3600 SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 900 1209600 600",
                    "@ 3600 NS ns1.example.com.",
                    "ns1 3600 A 192.0.2.1",
                    "www 300 A 192.0.2.10",
                    # a cut whose child nobody models, with glue and a stale record below it
                    "lab 3600 NS ns1.lab.example.com.",
                    "lab 3600 NS ns2.elsewhere.example.",
                    "ns1.lab 3600 A 192.0.2.53",
                    "old.lab 300 A 192.0.2.99",
                    "to-lab 300 CNAME host.lab.example.com.",
                    # a cut whose child is modelled below (dev.example.com): the child's NS differ
                    "dev 3600 NS ns-parent.example.net.",
                    "host.dev 300 A 192.0.2.98",
                    # a DNAME to another modelled zone, with data at the owner and occluded data below
                    "legacy 600 DNAME example.net.",
                    'legacy 600 TXT "moved"',
                    "gone.legacy 300 A 192.0.2.77",
                    # a DNAME into the name space of a private zone
                    "intra 600 DNAME corp.example.",
                    # a DNAME back into this zone, to the apex: the target compresses against the question
                    "moved 600 DNAME example.com.",
                    # a long target: YXDOMAIN past 255 octets
                    f"long 600 DNAME {LONG_TARGET}",
                    # two DNAMEs sending names back and forth
                    "loop1 300 DNAME loop2.example.com.",
                    "loop2 300 DNAME loop1.example.com.",
                    # a wildcard with a cut below it
                    "*.wild 300 A 192.0.2.44",
                    "sub.wild 3600 NS ns.elsewhere.example.",
                ]
            },
            "dev.example.com": {
                "records": ["@ 3600 NS ns1.dev.example.com.", "ns1 3600 A 192.0.2.60", "app 300 A 192.0.2.61"]
            },
            "example.net": {"records": ["www 300 A 198.51.100.10", "api 300 CNAME www"]},
            "example.org": {
                "records": ["@ 3600 NS ns1.example.com.", "@ 900 DNAME example.net.", '@ 900 TXT "apex stays"']
            },
        }
    },
}

INTERNET = "198.51.100.7"
HUB = "10.0.0.4"

# negative answers carry the zone's SOA with TTL min(SOA TTL, MINIMUM) (RFC 2308 §5)
COM_SOA = "example.com. 600 SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 900 1209600 600"
AZURE_SOA = "ns1-01.azure-dns.com. azuredns-hostmaster.microsoft.com. 1 3600 300 2419200 300"  # synthesised
NET_SOA = f"example.net. 300 SOA {AZURE_SOA}"
DEV_SOA = f"dev.example.com. 300 SOA {AZURE_SOA}"


@pytest.fixture(scope="module")
def index():
    return compile_topology(load_topology_data(TOPOLOGY))


def text(records) -> list[str]:
    return [f"{r.name} {r.ttl} {type_name(r.rtype)} {rdata_text(r.rtype, r.rdata)}" for r in records]


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    qtype: str
    outcome: Outcome
    answer: tuple[str, ...] = ()
    authority: tuple[str, ...] = ()
    source: str = INTERNET
    kind: Source | None = None
    forward: str | None = None  # the name handed to the upstream forwarder
    trace: tuple[str, ...] = ()


DELEGATED = "delegated at lab.example.com."
CASES = [
    Case("control: data above the cut", "www.example.com", "A", Outcome.ANSWER,
         ("www.example.com. 300 A 192.0.2.10",), kind=Source.PUBLIC),
    # RFC 1034 §4.3.2 3.b: below the cut the parent has no answer; the child is outside the model
    Case("name below an unmodelled cut", "host.lab.example.com", "A", Outcome.FORWARD,
         forward="host.lab.example.com.", kind=Source.FORWARDED, trace=(DELEGATED,)),
    Case("the cut itself, A", "lab.example.com", "A", Outcome.FORWARD, forward="lab.example.com.",
         trace=(DELEGATED,)),
    Case("the cut's NS: the child's apex NS, which only the child has", "lab.example.com", "NS", Outcome.FORWARD,
         forward="lab.example.com.", trace=(DELEGATED,)),
    Case("glue below the cut is not an answer", "ns1.lab.example.com", "A", Outcome.FORWARD,
         forward="ns1.lab.example.com.", trace=(DELEGATED,)),
    Case("stale data below the cut is not an answer", "old.lab.example.com", "A", Outcome.FORWARD,
         forward="old.lab.example.com."),
    Case("a name the parent lacks below the cut is not NXDOMAIN", "nx.lab.example.com", "TXT", Outcome.FORWARD,
         forward="nx.lab.example.com."),
    # RFC 4035 §3.1.4.1: DS lives on the parent side of the cut
    Case("DS at the cut is the parent's: NODATA", "lab.example.com", "DS", Outcome.NODATA,
         authority=(COM_SOA,), kind=Source.PUBLIC),
    Case("a CNAME into a cut: the chain so far, then upstream", "to-lab.example.com", "A", Outcome.FORWARD,
         ("to-lab.example.com. 300 CNAME host.lab.example.com.",), forward="host.lab.example.com."),
    Case("from a VNet: the same outside-model path", "host.lab.example.com", "A", Outcome.FORWARD,
         source=HUB, forward="host.lab.example.com.", trace=(DELEGATED,)),
    # RFC 1034 §4.3.2: the referral of 3.b comes before the wildcard of 3.c
    Case("control: the wildcard above a cut", "y.wild.example.com", "A", Outcome.ANSWER,
         ("y.wild.example.com. 300 A 192.0.2.44",)),
    Case("a cut below a wildcard wins", "x.sub.wild.example.com", "A", Outcome.FORWARD,
         forward="x.sub.wild.example.com.", trace=("delegated at sub.wild.example.com.",)),
    # a modelled child answers by itself
    Case("modelled child answers", "app.dev.example.com", "A", Outcome.ANSWER,
         ("app.dev.example.com. 300 A 192.0.2.61",), kind=Source.PUBLIC),
    Case("modelled child's apex NS, not the parent's", "dev.example.com", "NS", Outcome.ANSWER,
         ("dev.example.com. 3600 NS ns1.dev.example.com.",)),
    Case("parent's data below the cut is occluded by the child", "host.dev.example.com", "A", Outcome.NXDOMAIN,
         authority=(DEV_SOA,)),
    # RFC 6672 §2.2 and §3.1: DNAME, synthesised CNAME with the DNAME's TTL, then the chain goes on
    Case("DNAME synthesises the CNAME", "www.legacy.example.com", "A", Outcome.ANSWER,
         ("legacy.example.com. 600 DNAME example.net.",
          "www.legacy.example.com. 600 CNAME www.example.net.",
          "www.example.net. 300 A 198.51.100.10"), kind=Source.PUBLIC,
         trace=("DNAME at legacy.example.com. synthesised CNAME www.example.net.",)),
    Case("the chain goes on through a CNAME at the target", "api.legacy.example.com", "A", Outcome.ANSWER,
         ("legacy.example.com. 600 DNAME example.net.",
          "api.legacy.example.com. 600 CNAME api.example.net.",
          "api.example.net. 300 CNAME www.example.net.",
          "www.example.net. 300 A 198.51.100.10")),
    Case("the target's NXDOMAIN, with the target zone's SOA", "nope.legacy.example.com", "A", Outcome.NXDOMAIN,
         ("legacy.example.com. 600 DNAME example.net.",
          "nope.legacy.example.com. 600 CNAME nope.example.net."), (NET_SOA,)),
    Case("data below the DNAME owner is occluded (RFC 6672 §2.4)", "gone.legacy.example.com", "A",
         Outcome.NXDOMAIN,
         ("legacy.example.com. 600 DNAME example.net.",
          "gone.legacy.example.com. 600 CNAME gone.example.net."), (NET_SOA,)),
    Case("a CNAME query stops at the synthesised CNAME", "www.legacy.example.com", "CNAME", Outcome.ANSWER,
         ("legacy.example.com. 600 DNAME example.net.",
          "www.legacy.example.com. 600 CNAME www.example.net.")),
    Case("a DNAME query below the owner is redirected too", "www.legacy.example.com", "DNAME", Outcome.NODATA,
         ("legacy.example.com. 600 DNAME example.net.",
          "www.legacy.example.com. 600 CNAME www.example.net."), (NET_SOA,)),
    # RFC 6672 §2.3: the owner is not redirected
    Case("the owner is not redirected: NODATA for A", "legacy.example.com", "A", Outcome.NODATA,
         authority=(COM_SOA,)),
    Case("the owner's own data", "legacy.example.com", "TXT", Outcome.ANSWER,
         ('legacy.example.com. 600 TXT "moved"',)),
    Case("the DNAME itself, asked for", "legacy.example.com", "DNAME", Outcome.ANSWER,
         ("legacy.example.com. 600 DNAME example.net.",)),
    Case("DNAME at an apex redirects what lies below", "www.example.org", "A", Outcome.ANSWER,
         ("example.org. 900 DNAME example.net.",
          "www.example.org. 900 CNAME www.example.net.",
          "www.example.net. 300 A 198.51.100.10")),
    Case("the apex keeps its own data", "example.org", "TXT", Outcome.ANSWER,
         ('example.org. 900 TXT "apex stays"',)),
    Case("the apex NS is not a cut", "example.org", "NS", Outcome.ANSWER,
         ("example.org. 3600 NS ns1.example.com.",)),
    # through the private zones the VNet links, as any CNAME chain
    Case("from the VNet: the target is in a linked private zone", "app.intra.example.com", "A", Outcome.ANSWER,
         ("intra.example.com. 600 DNAME corp.example.",
          "app.intra.example.com. 600 CNAME app.corp.example.",
          "app.corp.example. 60 A 10.0.5.5"), source=HUB, kind=Source.PRIVATE),
    Case("from the internet: the private name is outside the model", "app.intra.example.com", "A",
         Outcome.FORWARD,
         ("intra.example.com. 600 DNAME corp.example.",
          "app.intra.example.com. 600 CNAME app.corp.example."), forward="app.corp.example."),
    # RFC 6672 §2.2: 255 octets fit; 256 are YXDOMAIN, with the DNAME as the proof
    Case("the longest name that fits", f"{FITS}.long.example.com", "A", Outcome.NXDOMAIN,
         (f"long.example.com. 600 DNAME {LONG_TARGET}",
          f"{FITS}.long.example.com. 600 CNAME {FITS}.{LONG_TARGET}"), (NET_SOA,)),
    Case("one octet more is YXDOMAIN", f"{SPILLS}.long.example.com", "A", Outcome.YXDOMAIN,
         (f"long.example.com. 600 DNAME {LONG_TARGET}",), kind=Source.PUBLIC, trace=("YXDOMAIN",)),
    Case("DNAMEs that send names back and forth: SERVFAIL", "x.loop1.example.com", "A", Outcome.SERVFAIL,
         ("loop1.example.com. 300 DNAME loop2.example.com.",
          "x.loop1.example.com. 300 CNAME x.loop2.example.com.",
          "loop2.example.com. 300 DNAME loop1.example.com.",
          "x.loop2.example.com. 300 CNAME x.loop1.example.com."), kind=Source.ERROR),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_core(index, case: Case) -> None:
    result = resolve(index, Question(names.parse(case.name + "."), RRType.make(case.qtype)), case.source)
    trace = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, trace
    assert text(result.answer) == list(case.answer), trace
    assert text(result.authority) == list(case.authority), trace
    if case.kind is not None:
        assert result.source is case.kind, trace
    if case.forward is not None:
        assert result.forward is not None and result.forward.name == case.forward, trace
        assert result.forward.targets == ()  # the configured upstreams, as for any name outside the model
    for fragment in case.trace:
        assert fragment in trace


def test_delegation_takes_the_path_of_a_name_outside_the_model(index) -> None:
    """Same outcome, source, forward and view as a name in no zone at all, from either view."""
    for source in (INTERNET, HUB):
        delegated = resolve(index, Question("host.lab.example.com.", RRType.A), source)
        outside = resolve(index, Question("host.nowhere.test.", RRType.A), source)
        assert (delegated.outcome, delegated.source, delegated.view, delegated.rcode) == (
            outside.outcome, outside.source, outside.view, outside.rcode)
        assert delegated.forward is not None and outside.forward is not None
        assert (delegated.forward.targets, delegated.forward.via) == (outside.forward.targets, outside.forward.via)


def test_explain_json_names_the_cut_and_the_dname(index) -> None:
    from dnsemu.analysis.explain import as_json, question

    q = question("www.legacy.example.com")
    data = as_json(q, "A", INTERNET, resolve(index, q, INTERNET))
    step = next(s for s in data["trace"] if s["step"] == "dname")
    assert (step["owner"], step["target"], step["cname"]) == ("legacy.example.com.", "example.net.", "www.example.net.")
    q = question("host.lab.example.com")
    data = as_json(q, "A", INTERNET, resolve(index, q, INTERNET))
    step = next(s for s in data["trace"] if s["step"] == "delegation")
    assert step["cut"] == "lab.example.com."
    assert step["servers"] == "ns1.lab.example.com., ns2.elsewhere.example."
    q = question(f"{SPILLS}.long.example.com")
    assert as_json(q, "A", INTERNET, resolve(index, q, INTERNET))["rcode"] == "YXDOMAIN"


# --------------------------------------------------------------------------- the zone alone


def zone(kind: str, *lines: str) -> Zone:
    records = [_line(line) for line in lines]
    return Zone("z.test.", soa_record("z.test."), records, kind=kind)


def _line(line: str) -> Record:
    from dnsemu.dns.records import make

    owner, ttl, rtype, value = line.split(" ", 3)
    return make(owner, rtype, int(ttl), value, "z.test.")


def test_highest_cut_or_dname_decides() -> None:
    """Below a cut nothing of the zone is seen, not even a DNAME or a deeper cut (RFC 1034 §4.2.1)."""
    z = zone("public", "a 60 NS ns.x.", "b.a 60 DNAME t.", "c.b.a 60 NS ns.y.", "d 60 DNAME t.", "e.d 60 NS ns.z.")
    assert z.lookup("q.c.b.a.z.test.", RRType.A) == (Found.DELEGATION, z.nodes["a.z.test."][RRType.NS])
    assert z.lookup("q.e.d.z.test.", RRType.A) == (Found.DNAME, z.nodes["d.z.test."][RRType.DNAME])
    assert z.lookup("d.z.test.", RRType.A) == (Found.NODATA, ())  # the owner is not redirected
    assert z.lookup("a.z.test.", RRType.DS) == (Found.NODATA, ())  # the parent's side of the cut
    assert z.lookup("q.a.z.test.", RRType.DS)[0] is Found.DELEGATION  # below the cut: the child's


def test_private_zones_never_delegate() -> None:
    """Kinds other than public keep NS as data (validation keeps NS and DNAME out of private zones)."""
    z = zone("private", "a 60 NS ns.x.")
    assert z.lookup("a.z.test.", RRType.NS)[0] is Found.RECORDS
    assert z.lookup("q.a.z.test.", RRType.A)[0] is Found.NXDOMAIN


def test_substitution_lengths() -> None:
    assert names.replace_suffix("www.legacy.example.com.", "legacy.example.com.", "example.net.") == "www.example.net."
    assert names.replace_suffix("a.b.", "b.", ".") == "a."
    assert names.replace_suffix("a.", ".", "t.") == "a.t."
    assert names.replace_suffix("a\\.b.c.", "c.", "d.") == "a\\.b.d."
    assert names.wire_length(names.replace_suffix(f"{FITS}.long.", "long.", LONG_TARGET)) == 255
    with pytest.raises(names.NameError_):
        names.replace_suffix(f"{SPILLS}.long.", "long.", LONG_TARGET)


# --------------------------------------------------------------------------- validation


def _with_public(records: list[str], **zones: dict) -> dict:
    data = {"public_dns": {"zones": {"example.com": {"records": records}, **zones}}}
    return data


VALID = [
    pytest.param(["@ 60 NS ns1.example.com.", "@ 60 DNAME example.net."], id="DNAME and NS at the apex"),
    pytest.param(["sub 60 NS ns1.sub.example.com.", "ns1.sub 60 A 192.0.2.1"], id="a cut with glue"),
    pytest.param(["old 60 DNAME example.net.", 'old 60 TXT "x"', "x.old 60 A 192.0.2.1"],
                 id="data beside and below a DNAME (occluded, RFC 6672 §2.4 allows loading it)"),
]


@pytest.mark.parametrize("records", VALID)
def test_valid_public_records(records: list[str]) -> None:
    loaded = load_topology_data(_with_public(records))
    assert len(loaded.public_records["example.com."]) == len(records)


INVALID = [
    pytest.param(_with_public(["old 60 DNAME example.net.", "old 60 DNAME example.org."]),
                 "public_dns.zones.example.com.records[0]", "at most one (RFC 6672 §2.4)", id="two DNAMEs"),
    pytest.param(_with_public(["sub 60 NS ns.example.net.", "sub 60 DNAME example.net."]),
                 "public_dns.zones.example.com.records[1]", "RFC 6672 §2.3", id="DNAME and NS below the apex"),
    pytest.param(_with_public(["*.w 60 NS ns.example.net."]),
                 "public_dns.zones.example.com.records[0]", "RFC 4592 §4.2", id="wildcard NS"),
    pytest.param(_with_public(["*.w 60 DNAME example.net."]),
                 "public_dns.zones.example.com.records[0]", "RFC 4592 §4.4", id="wildcard DNAME"),
    pytest.param(_with_public(["old 60 DNAME example.net."], **{"x.old.example.com": {"records": []}}),
                 "public_dns.zones.x.old.example.com", "lies under the DNAME at old.example.com.",
                 id="a zone under another zone's DNAME"),
    pytest.param({"private_dns_zones": {"corp.example": {"records": [{"name": "old", "type": "DNAME",
                                                                       "values": ["corp2.example."]}]}}},
                 "private_dns_zones.corp.example.records[0]", "Azure private DNS zones do not support DNAME",
                 id="DNAME record set in a private zone"),
    pytest.param({"private_dns_zones": {"corp.example": {"records": ["@ 60 NS ns1.example.net."]}}},
                 "private_dns_zones.corp.example.records[0]", "cannot delegate", id="NS at a private apex"),
]


@pytest.mark.parametrize(("data", "path", "fragment"), INVALID)
def test_invalid_records(data: dict, path: str, fragment: str) -> None:
    with pytest.raises(TopologyError) as info:
        load_topology_data(data)
    assert any(p.path == path and fragment in p.message for p in info.value.problems), str(info.value)


def test_private_zone_file_refuses_dname_and_ns_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "corp.example.zone").write_text(textwrap.dedent("""\
        $TTL 300
        www     A      10.0.0.80
        lab     NS     ns1.lab.corp.example.
        old     DNAME  corp.example.
        """), encoding="utf-8")
    (tmp_path / "topology.yaml").write_text(textwrap.dedent("""\
        virtual_networks:
          hub: {address_space: [10.0.0.0/16]}
        private_dns_zones:
          corp.example:
            zone_file: corp.example.zone
            virtual_network_links: [{virtual_network: hub}]
        """), encoding="utf-8")
    with pytest.raises(TopologyError) as info:
        load_topology(tmp_path / "topology.yaml")
    found = {(Path(p.file or "").name, p.line, p.path) for p in info.value.problems}
    assert found == {("corp.example.zone", 3, "record[lab.corp.example. NS]"),
                     ("corp.example.zone", 4, "record[old.corp.example. DNAME]")}, str(info.value)
    text_ = str(info.value)
    assert "Azure private DNS zones cannot delegate" in text_ and "do not support DNAME" in text_


def test_public_zone_file_accepts_dname_and_cuts(tmp_path: Path) -> None:
    (tmp_path / "example.com.zone").write_text(textwrap.dedent("""\
        $TTL 300
        @        NS     ns1.example.com.
        ns1      A      192.0.2.1
        lab      NS     ns1.lab
        ns1.lab  A      192.0.2.53
        legacy   DNAME  example.net.
        """), encoding="utf-8")
    (tmp_path / "topology.yaml").write_text(
        "public_dns:\n  zones:\n    example.com: {zone_file: example.com.zone}\n", encoding="utf-8")
    index = compile_topology(load_topology(tmp_path / "topology.yaml"))
    result = resolve(index, Question("x.legacy.example.com.", RRType.A), INTERNET)
    assert text(result.answer)[:2] == ["legacy.example.com. 300 DNAME example.net.",
                                       "x.legacy.example.com. 300 CNAME x.example.net."]
    assert resolve(index, Question("ns1.lab.example.com.", RRType.A), INTERNET).outcome is Outcome.FORWARD


# --------------------------------------------------------------------------- through the real server


class FakeInternet:
    """An upstream on loopback (UDP) answering every A question with 203.0.113.53; it records the names."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.asked: list[str] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            self.asked.append(query.question[0].name.to_text().lower())
            reply = dns.message.make_response(query)
            reply.flags |= dns.flags.RA
            if query.question[0].rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(query.question[0].name, 30, "IN", "A", "203.0.113.53"))
            self.sock.sendto(reply.to_wire(), peer)

    def __enter__(self) -> FakeInternet:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def ask(server: tuple[str, int], name: str, rdtype: str, *, source: str = "127.0.0.1",
        tcp: bool = False) -> tuple[dns.message.Message, bytes]:
    query = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    wire = query.to_wire()
    if tcp:
        with socket.create_connection(server, timeout=10, source_address=(source, 0)) as sock:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            head = _recv(sock, 2)
            data = _recv(sock, struct.unpack("!H", head)[0])
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.settimeout(10)
            sock.sendto(wire, server)
            data, _ = sock.recvfrom(65535)
    reply = dns.message.from_wire(data)
    assert reply.id == query.id
    return reply, data


def _recv(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "connection closed early"
        out += chunk
    return out


def rrsets(section) -> list[str]:
    """RRsets as text, owners lower-cased (an owner compressed against the question takes the client's case)."""
    return [f"{r.name.to_text().lower()} {r.ttl} {dns.rdatatype.to_text(r.rdtype)} "
            + " ".join(sorted(rd.to_text() for rd in r)) for r in section]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(TOPOLOGY) as server:
        yield server


def test_wire_dname_synthesis(emulator: Emulator) -> None:
    for tcp in (False, True):
        reply, _ = ask(emulator.address, "www.Legacy.example.com.", "A", tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.flags & dns.flags.RA and not reply.flags & dns.flags.AA
        assert reply.question[0].name.to_text() == "www.Legacy.example.com."  # the client's case kept
        assert rrsets(reply.answer) == [
            "legacy.example.com. 600 DNAME example.net.",
            "www.legacy.example.com. 600 CNAME www.example.net.",
            "www.example.net. 300 A 198.51.100.10",
        ]
        emulator.check()


def test_wire_dname_owner_and_yxdomain(emulator: Emulator) -> None:
    reply, _ = ask(emulator.address, "legacy.example.com.", "A")
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer == []
    assert rrsets(reply.authority) == [COM_SOA]
    reply, _ = ask(emulator.address, "legacy.example.com.", "DNAME")
    assert rrsets(reply.answer) == ["legacy.example.com. 600 DNAME example.net."]
    reply, _ = ask(emulator.address, f"{SPILLS}.long.example.com.", "A")
    assert reply.rcode() == dns.rcode.YXDOMAIN
    assert rrsets(reply.answer) == [f"long.example.com. 600 DNAME {LONG_TARGET}"]
    assert reply.authority == []
    reply, _ = ask(emulator.address, f"{FITS}.long.example.com.", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert rrsets(reply.answer)[1] == f"{FITS}.long.example.com. 600 CNAME {FITS}.{LONG_TARGET}"
    emulator.check()


def _rdata_lengths(wire: bytes, section_count: int) -> list[tuple[int, int]]:
    """(type, rdlength) of the first ``section_count`` records after the question, read by hand."""
    pos = 12

    def skip_name(p: int) -> int:
        while wire[p]:
            if wire[p] >= 0xC0:
                return p + 2
            p += wire[p] + 1
        return p + 1

    pos = skip_name(pos) + 4
    out = []
    for _ in range(section_count):
        pos = skip_name(pos)
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", wire, pos)
        out.append((rtype, rdlen))
        pos += 10 + rdlen
    return out


def test_wire_dname_target_is_never_compressed(emulator: Emulator) -> None:
    """RFC 6672 §2.5: example.com. is in the question, yet the DNAME's target is written whole."""
    reply, wire = ask(emulator.address, "www.moved.example.com.", "A")
    assert rrsets(reply.answer) == [
        "moved.example.com. 600 DNAME example.com.",
        "www.moved.example.com. 600 CNAME www.example.com.",
        "www.example.com. 300 A 192.0.2.10",
    ]
    lengths = _rdata_lengths(wire, 2)
    assert lengths[0] == (39, len(b"\x07example\x03com\x00"))  # 13 octets, not a 2-octet pointer
    assert lengths[1][0] == 5 and lengths[1][1] < len(b"\x03www\x07example\x03com\x00")  # the CNAME's is


def test_wire_delegation_without_upstream_is_refused_like_any_outside_name(emulator: Emulator) -> None:
    for name in ("host.lab.example.com.", "ns1.lab.example.com.", "lab.example.com."):
        reply, _ = ask(emulator.address, name, "A")
        outside, _ = ask(emulator.address, "host.nowhere.test.", "A")
        assert reply.rcode() == outside.rcode() == dns.rcode.REFUSED, name
        assert reply.answer == reply.authority == []  # no occluded glue, no parent SOA
    emulator.check()


def test_wire_modelled_child_answers(emulator: Emulator) -> None:
    reply, _ = ask(emulator.address, "host.dev.example.com.", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert rrsets(reply.authority) == [DEV_SOA]
    reply, _ = ask(emulator.address, "dev.example.com.", "NS")
    assert rrsets(reply.answer) == ["dev.example.com. 3600 NS ns1.dev.example.com."]


def test_wire_dname_into_a_linked_private_zone(emulator: Emulator) -> None:
    """From a VNet address (127.0.3.0/24 is the hub's): the chain ends in the private zone."""
    reply, _ = ask(emulator.address, "app.intra.example.com.", "A", source="127.0.3.9")
    assert rrsets(reply.answer) == [
        "intra.example.com. 600 DNAME corp.example.",
        "app.intra.example.com. 600 CNAME app.corp.example.",
        "app.corp.example. 60 A 10.0.5.5",
    ]


def test_wire_delegation_goes_upstream() -> None:
    """With an upstream, a name below an unmodelled cut is asked there, as any name outside the model."""
    with FakeInternet() as internet, Emulator(TOPOLOGY, upstreams=[internet.address]) as server:
        reply, _ = ask(server.address, "ns1.lab.example.com.", "A")
        assert rrsets(reply.answer) == ["ns1.lab.example.com. 30 A 203.0.113.53"]  # not the occluded 192.0.2.53
        reply, _ = ask(server.address, "to-lab.example.com.", "A")
        assert rrsets(reply.answer) == ["to-lab.example.com. 300 CNAME host.lab.example.com.",
                                        "host.lab.example.com. 30 A 203.0.113.53"]
        reply, _ = ask(server.address, "www.example.com.", "A")  # the parent's own data stays local
        assert rrsets(reply.answer) == ["www.example.com. 300 A 192.0.2.10"]
        server.check()
        assert internet.asked == ["ns1.lab.example.com.", "host.lab.example.com."]


def test_kdig_reads_the_dname_answer(emulator: Emulator) -> None:
    """kdig (Knot's client) parses the reply on its own: DNAME, then the synthesised CNAME."""
    kdig = need_tool("kdig", "knot-dnsutils")
    host, port = emulator.address
    done = subprocess.run([kdig, f"@{host}", "-p", str(port), "+noall", "+answer", "+retry=2", "+timeout=5",
                           "www.legacy.example.com", "A"], capture_output=True, text=True, timeout=60, check=True)
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    assert lines == [
        ["legacy.example.com.", "600", "IN", "DNAME", "example.net."],
        ["www.legacy.example.com.", "600", "IN", "CNAME", "www.example.net."],
        ["www.example.net.", "300", "IN", "A", "198.51.100.10"],
    ]


def _http(server: Emulator, method: str, path: str, body: dict) -> tuple[int, dict]:
    import http.client
    import json

    host, port = server.app.http_address or ("", 0)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_api_keeps_azure_types_in_private_zones_and_takes_dname_in_public_ones() -> None:
    """Through the HTTP API: NS and DNAME are 422 in a private zone; a public DNAME serves at once."""
    with Emulator(TOPOLOGY, http=True, query_log=False) as server:
        status, data = _http(server, "PUT", "/v1/private-dns-zones/corp.example/records/DNAME/old",
                             {"values": ["corp2.example."]})
        assert status == 422 and "do not support DNAME" in data["message"], data
        status, data = _http(server, "PUT", "/v1/private-dns-zones/corp.example/records/NS/lab",
                             {"values": ["ns1.lab.corp.example."]})
        assert status == 422 and "cannot delegate" in data["message"], data
        status, data = _http(server, "PUT", "/v1/public-dns-zones/example.com/records/DNAME/newer",
                             {"ttl": 60, "values": ["example.net."]})
        assert status == 200, data
        reply, _ = ask(server.address, "www.newer.example.com.", "A")
        assert rrsets(reply.answer) == [
            "newer.example.com. 60 DNAME example.net.",
            "www.newer.example.com. 60 CNAME www.example.net.",
            "www.example.net. 300 A 198.51.100.10",
        ]
        server.check()
