"""Knot DNS as the reference: render each view of a compiled topology into zones, run knotd on them.

A view is what one kind of client sees: Azure DNS inside a VNet (its linked
private zones and Azure-provided zones first, then public DNS), or the
internet (public zones only). :func:`render_view` turns one view into a set of
authoritative zones, one per zone apex of dnsemu's compiled index, each with
the SOA dnsemu puts in its negative answers:

* in a VNet view, a linked zone replaces the public zone of the same apex and
  hides every public zone below it (Azure DNS asks the linked zone first);
* a zone that lies below another rendered zone gets a delegation (NS to an
  unresolvable name) in its parent, so that Knot hands a CNAME chain that runs
  into the child back to the client as a referral instead of answering
  NXDOMAIN from the parent's data.

Knot is authoritative: it follows a CNAME chain only inside one zone
(at most :data:`KNOT_CHAIN_MAX` links). :func:`knot_resolve` therefore
finishes a chain that leaves a zone the way every recursive resolver does
(RFC 1034 §5.3.3 step 3): it asks again for the last target and appends the
answer; rcode and authority come from the last reply. The zone data is taken
from dnsemu's compiled index on purpose: this comparison checks lookups,
chains, wildcards, negative answers and the wire, not the Azure modelling
(that has its own tests against the documented Azure behaviour).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnsemu.core.index import Index
from dnsemu.core.zone import Zone
from dnsemu.dns import names
from dnsemu.dns.records import Record, RRType

from .helpers import free_port, recv_exact

KNOT_CHAIN_MAX = 5  # CNAME_CHAIN_MAX in knot/nameserver/internet.h
DELEGATION_NS = "ns.delegation.invalid."


# --------------------------------------------------------------------------- rendering


def view_zones(index: Index, view: str | None) -> dict[str, Zone]:
    """The zones a client of ``view`` (a VNet name, or None for the internet) is answered from."""
    zones: dict[str, Zone] = dict(index.public.zones)
    if view is not None:
        linked = {apex: link.zone for apex, link in index.views[view].links.items()}
        zones = {apex: zone for apex, zone in zones.items()
                 if not any(names.is_subdomain(apex, private) for private in linked)}
        zones.update(linked)
    return zones


def zone_text(zone: Zone, children: Iterable[str]) -> str:
    lines = [f"; {zone.kind} zone {zone.name} rendered from dnsemu's compiled index", f"$ORIGIN {zone.name}"]
    lines.append(zone.soa.text())
    for record in zone.records():
        if record.rtype == RRType.SOA and record.name == zone.name:
            continue
        lines.append(record.text())
    for child in sorted(children):
        lines.append(Record(child, RRType.NS, 3600, (DELEGATION_NS,)).text() + "  ; delegation to a served child")
    return "\n".join(lines) + "\n"


def render_view(index: Index, view: str | None) -> dict[str, str]:
    """Zone apex -> master file text, for one view."""
    zones = view_zones(index, view)
    out = {}
    for apex, zone in zones.items():
        children = [c for c in zones if c != apex and names.is_subdomain(c, apex)
                    # only the nearest enclosing parent delegates
                    and not any(m not in (apex, c) and names.is_subdomain(c, m) and names.is_subdomain(m, apex)
                                for m in zones)]
        out[apex] = zone_text(zone, children)
    return out


# --------------------------------------------------------------------------- knotd


def _file_name(apex: str) -> str:
    return (apex.rstrip(".") or "root").replace("/", "_").replace("\\", "_") + ".zone"


class KnotServer:
    """One knotd serving ``zones`` on 127.0.0.1:<free port>, UDP and TCP; stopped by :meth:`stop`."""

    def __init__(self, knotd: str, workdir: Path, zones: Mapping[str, str], *, name: str = "knot") -> None:
        self.knotd = knotd
        self.dir = Path(workdir) / name
        self.zones = dict(zones)
        self.proc: subprocess.Popen[bytes] | None = None
        self.address: tuple[str, int] = ("127.0.0.1", 0)

    def _config(self, port: int) -> str:
        lines = [
            "server:",
            f"    rundir: {self.dir}",
            f"    listen: 127.0.0.1@{port}",
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            "database:",
            f"    storage: {self.dir / 'db'}",
            "log:",
            "  - target: stderr",
            "    any: error",
            "template:",
            "  - id: default",
            f"    storage: {self.dir}",
            "    semantic-checks: off",
            "    journal-content: none",
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "zone:",
        ]
        for apex in sorted(self.zones):
            lines += [f"  - domain: \"{apex}\"", f"    file: {_file_name(apex)}"]
        return "\n".join(lines) + "\n"

    def start(self, attempts: int = 5) -> KnotServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "db").mkdir(exist_ok=True)
        for apex, text in self.zones.items():
            (self.dir / _file_name(apex)).write_text(text, encoding="utf-8")
        probe_zone = sorted(self.zones)[0]
        last = ""
        for _ in range(attempts):
            port = free_port()
            conf = self.dir / "knot.conf"
            conf.write_text(self._config(port), encoding="utf-8")
            log = open(self.dir / "knotd.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                self.proc = subprocess.Popen([self.knotd, "-c", str(conf)], stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            finally:
                log.close()
            self.address = ("127.0.0.1", port)
            if self._wait_ready(probe_zone):
                return self
            last = (self.dir / "knotd.log").read_text(errors="replace")[-2000:]
            self.stop()
        raise RuntimeError(f"knotd did not start: {last}")

    def _wait_ready(self, apex: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        wire = dns.message.make_query(apex, "SOA", use_edns=False).to_wire()
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.2)
                sock.sendto(wire, self.address)
                with contextlib.suppress(TimeoutError):
                    data, _ = sock.recvfrom(65535)
                    reply = dns.message.from_wire(data)
                    if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                        return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.proc = None

    def __enter__(self) -> KnotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def knotd_path() -> str | None:
    return shutil.which("knotd") or next((p for p in ("/usr/sbin/knotd",) if os.access(p, os.X_OK)), None)


# --------------------------------------------------------------------------- exchanging


def exchange(wire: bytes, server: tuple[str, int], *, tcp: bool, source: str = "127.0.0.1",
             timeout: float = 2.0) -> bytes:
    family = socket.AF_INET
    if tcp:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((source, 0))
            sock.settimeout(timeout)
            sock.connect(server)
            sock.sendall(len(wire).to_bytes(2, "big") + wire)
            head = recv_exact(sock, 2)
            assert head is not None, f"{server}: connection closed without a reply"
            body = recv_exact(sock, int.from_bytes(head, "big"))
            assert body is not None
            return body
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        for _ in range(3):
            sock.sendto(wire, server)
            try:
                data, _ = sock.recvfrom(65535)
                return data
            except TimeoutError:
                continue
    raise TimeoutError(f"{server}: no UDP reply")


@dataclass
class Chased:
    """Knot's answer to a query, with the chain finished across zones like a recursive resolver."""

    message: dns.message.Message  # the composite: first reply's header, all answers, last reply's rcode/authority
    hops: int  # extra queries needed to finish the chain (0: Knot answered in one reply)
    replies: list[dns.message.Message]


def _chain_end(answer: list[dns.rrset.RRset], qname: dns.name.Name, qtype: int) -> tuple[dns.name.Name, bool]:
    """(the last name of the CNAME chain in ``answer``, whether the chain reached data of the asked type)."""
    current = qname
    for _ in range(len(answer) + 1):
        found_data = any(r.name == current and (r.rdtype == qtype or qtype == dns.rdatatype.ANY)
                         and r.rdtype != dns.rdatatype.CNAME for r in answer)
        if found_data:
            return current, True
        cname = next((r for r in answer if r.name == current and r.rdtype == dns.rdatatype.CNAME), None)
        if cname is None:
            return current, False
        if qtype == dns.rdatatype.CNAME:
            return current, True
        current = cname[0].target
    return current, False


def knot_resolve(query: dns.message.Message, knot: tuple[str, int], *, tcp: bool) -> Chased:
    """Ask Knot; while its reply ends on a CNAME whose target lies in another zone, ask for the target."""
    reply = dns.message.from_wire(exchange(query.to_wire(), knot, tcp=tcp))
    replies = [reply]
    question = query.question[0]
    answer = list(reply.answer)
    last = reply
    hops = 0
    while last.rcode() == dns.rcode.NOERROR and not last.flags & dns.flags.TC and hops < 8:
        end, complete = _chain_end(answer, question.name, question.rdtype)
        negative = any(r.rdtype == dns.rdatatype.SOA for r in last.authority)
        if complete or negative or end == question.name:
            break
        follow = dns.message.make_query(end, question.rdtype, use_edns=query.edns if query.edns >= 0 else False,
                                        payload=query.payload, want_dnssec=bool(query.ednsflags & dns.flags.DO))
        follow.flags = query.flags
        last = dns.message.from_wire(exchange(follow.to_wire(), knot, tcp=tcp))
        replies.append(last)
        answer += [r for r in last.answer if r not in answer]
        hops += 1
    composite = dns.message.from_wire(replies[0].to_wire())
    composite.answer = answer
    composite.authority = list(last.authority)
    composite.set_rcode(last.rcode())
    return Chased(composite, hops, replies)
