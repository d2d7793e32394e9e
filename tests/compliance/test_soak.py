"""Load and soak with dnsperf: UDP, TCP (connections reused), and a reload every second under load.

Phases, against one ``dnsemu serve`` on a copy of the test estate:

1. UDP: dnsperf from a vnet1 address at a fixed rate; 0 queries lost.
2. TCP (``-m tcp``): the same; 0 lost, 0 reconnections (connections reused).
3. Reload under load: dnsperf over UDP (internet view) and TCP (vnet1) at
   once, a dnspython checker asking a fixed set of questions from both views
   in a loop, and every second the topology file is rewritten (alternating
   two versions that differ in one record, and every third time an invalid
   file) and SIGHUP sent. Required: 0 lost for dnsperf and the checker, 0
   wrong answers, every valid reload applied and every invalid one rejected
   with the old topology serving.

What is right is written down here, from the estate's files and the facts, never
taken from dnsemu: :data:`EXPECTED` holds, per source and question, the rcode, the
answer and authority sections with their TTLs, and the OPT every reply carries (EDNS
version 0, the server's 1232 octets, no DO, no options). The checker compares every
reply with it (the alternating record may show either version), and each dnsperf
phase must see exactly the response codes those questions get, in their proportions:
a server that answered SERVFAIL to everything fails every phase.

Memory must stay flat: the server's RSS after the last phase is within
``RSS_SLACK_KIB`` of its RSS after the warm-up, and its open descriptors are
back where they were. Figures are printed (-s) for the closing note.

CI runs each phase for a few seconds; ``DNSEMU_LONG=1`` runs them for minutes
(``scripts/soak.sh`` wraps that for a run by hand).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from .helpers import ESTATE, LONG, ServeProcess, need_tool, query, udp_exchange

SECONDS = 120 if LONG else 4
RELOAD_SECONDS = 300 if LONG else 5
QPS = 6000 if LONG else 4000
RSS_SLACK_KIB = 12 * 1024
VNET1 = "127.0.1.10"
QUERIES = [("www.contoso.com.", "A"), ("mystorage.blob.core.windows.net.", "A"), ("www.corp.example.", "A"),
           ("nx.corp.example.", "A"), ("alias1.corp.example.", "A"), ("x.apps.corp.example.", "TXT"),
           ("corp.example.", "MX"), ("partnerstore.blob.core.windows.net.", "A"), ("www.fabrikam.net.", "A"),
           ("shop.contoso.com.", "AAAA"), ("nothing.example.org.", "A"), ("big.contoso.com.", "TXT"),
           ("130.1.0.127.in-addr.arpa.", "PTR"), ("contoso-kv.vault.azure.net.", "A")]
ALTERNATING = ("www.fabrikam.net.", "A")  # its address flips between the two topology versions
OLD_ADDRESS, NEW_ADDRESS = "198.51.100.20", "198.51.100.21"
INTERNET = "127.0.0.1"

# Negative answers carry the zone's SOA with TTL min(SOA TTL, MINIMUM) (RFC 2308 §5): 10 for Azure's (facts §1.3)
CORP_SOA = "corp.example. 10 SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10"
BLOB_PL_SOA = ("privatelink.blob.core.windows.net. 10 SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. "
               "1 3600 300 2419200 10")
WWW_CORP = ["www.corp.example. 300 A 10.9.0.80", "www.corp.example. 300 A 10.9.0.81"]  # corp.example.zone, $TTL 300
BIG = [f'big.contoso.com. 300 TXT "{c * n}"' for c, n in zip("abcde", (108, 108, 110, 110, 109), strict=True)]
SHOP = ["shop.contoso.com. 300 CNAME edge.fabrikam.net.", "edge.fabrikam.net. 120 CNAME www.fabrikam.net.",
        "www.fabrikam.net. 120 AAAA 2001:db8::20"]
# the public chains dnsemu synthesises: the catalog's cluster hosts, addresses from 203.0.113.0/24 (TTL 60)
PUBLIC_BLOB = ["mystorage.blob.core.windows.net. 60 CNAME mystorage.privatelink.blob.core.windows.net.",
               "mystorage.privatelink.blob.core.windows.net. 60 CNAME blob.eusprdstr01a.store.core.windows.net.",
               "blob.eusprdstr01a.store.core.windows.net. 60 A 203.0.113.111"]
REFUSED = ("REFUSED", [], [])  # outside what the source sees, and no upstream to ask

#: (source, name, type) -> (rcode, answer, authority), from tests/compliance/estate/; records of one RRset
#: in sorted order (the comparison sorts them: RRset order is the server's to choose)
EXPECTED: dict[tuple[str, str, str], tuple[str, list[str], list[str]]] = {
    (VNET1, "www.contoso.com.", "A"): ("NOERROR", ["www.contoso.com. 300 A 198.51.100.80"], []),
    (VNET1, "mystorage.blob.core.windows.net.", "A"): ("NOERROR", [
        "mystorage.blob.core.windows.net. 60 CNAME mystorage.privatelink.blob.core.windows.net.",
        "mystorage.privatelink.blob.core.windows.net. 10 A 127.0.1.4"], []),  # zone group: TTL 10 (facts §1.5)
    (VNET1, "www.corp.example.", "A"): ("NOERROR", WWW_CORP, []),
    (VNET1, "nx.corp.example.", "A"): ("NXDOMAIN", [], [CORP_SOA]),
    (VNET1, "alias1.corp.example.", "A"): ("NOERROR", [
        "alias1.corp.example. 300 CNAME alias2.corp.example.", "alias2.corp.example. 300 CNAME alias3.corp.example.",
        "alias3.corp.example. 300 CNAME www.corp.example.", *WWW_CORP], []),
    (VNET1, "x.apps.corp.example.", "TXT"): ("NOERROR", ['x.apps.corp.example. 300 TXT "wildcard"'], []),
    (VNET1, "corp.example.", "MX"): ("NOERROR", [
        "corp.example. 300 MX 10 mail.corp.example.", "corp.example. 300 MX 20 mail2.corp.example."], []),
    (VNET1, "partnerstore.blob.core.windows.net.", "A"): ("NXDOMAIN", [  # facts §1.3
        "partnerstore.blob.core.windows.net. 60 CNAME partnerstore.privatelink.blob.core.windows.net."],
        [BLOB_PL_SOA]),
    (VNET1, "www.fabrikam.net.", "A"): ("NOERROR", [f"www.fabrikam.net. 120 A {OLD_ADDRESS}"], []),
    (VNET1, "shop.contoso.com.", "AAAA"): ("NOERROR", SHOP, []),
    (VNET1, "nothing.example.org.", "A"): REFUSED,
    (VNET1, "big.contoso.com.", "TXT"): ("NOERROR", BIG, []),
    (VNET1, "130.1.0.127.in-addr.arpa.", "PTR"): ("NOERROR", [  # vm1: its internal name and its autoregistration
        "130.1.0.127.in-addr.arpa. 10 PTR vm1.corp.example.",
        "130.1.0.127.in-addr.arpa. 10 PTR vm1.internal.cloudapp.net."], []),
    (VNET1, "contoso-kv.vault.azure.net.", "A"): ("NOERROR", [
        "contoso-kv.vault.azure.net. 60 CNAME contoso-kv.privatelink.vaultcore.azure.net.",
        "contoso-kv.privatelink.vaultcore.azure.net. 10 A 127.0.1.5"], []),
    (INTERNET, "www.contoso.com.", "A"): ("NOERROR", ["www.contoso.com. 300 A 198.51.100.80"], []),
    (INTERNET, "mystorage.blob.core.windows.net.", "A"): ("NOERROR", PUBLIC_BLOB, []),
    (INTERNET, "www.corp.example.", "A"): REFUSED,  # private zones are never seen from the internet (facts §1.2)
    (INTERNET, "nx.corp.example.", "A"): REFUSED,
    (INTERNET, "alias1.corp.example.", "A"): REFUSED,
    (INTERNET, "x.apps.corp.example.", "TXT"): REFUSED,
    (INTERNET, "corp.example.", "MX"): REFUSED,
    (INTERNET, "partnerstore.blob.core.windows.net.", "A"): ("NOERROR", [
        "partnerstore.blob.core.windows.net. 60 CNAME partnerstore.privatelink.blob.core.windows.net.",
        "partnerstore.privatelink.blob.core.windows.net. 60 CNAME blob.eusprdstr01a.store.core.windows.net.",
        PUBLIC_BLOB[2]], []),
    (INTERNET, "www.fabrikam.net.", "A"): ("NOERROR", [f"www.fabrikam.net. 120 A {OLD_ADDRESS}"], []),
    (INTERNET, "shop.contoso.com.", "AAAA"): ("NOERROR", SHOP, []),
    (INTERNET, "nothing.example.org.", "A"): REFUSED,
    (INTERNET, "big.contoso.com.", "TXT"): ("NOERROR", BIG, []),
    (INTERNET, "130.1.0.127.in-addr.arpa.", "PTR"): REFUSED,
    (INTERNET, "contoso-kv.vault.azure.net.", "A"): ("NOERROR", [
        "contoso-kv.vault.azure.net. 60 CNAME contoso-kv.privatelink.vaultcore.azure.net.",
        "contoso-kv.privatelink.vaultcore.azure.net. 60 CNAME data-prod-eus.vaultcore.azure.net.",
        "data-prod-eus.vaultcore.azure.net. 60 A 203.0.113.141"], []),
}
#: what every reply's OPT says, whatever the question: version 0, the server's payload size, no DO, no options
EXPECTED_OPT = "EDNS0 payload 1232 flags 0 options []"


@dataclass
class Perf:
    sent: int
    completed: int
    lost: int
    qps: float
    reconnections: int | None
    rcodes: str
    text: str

    def line(self) -> str:
        extra = f", {self.reconnections} reconnections" if self.reconnections is not None else ""
        return f"{self.sent} sent, {self.lost} lost, {self.qps:.0f} q/s ({self.rcodes}){extra}"


def _number(pattern: str, text: str, kind: type = int) -> object:
    match = re.search(pattern, text)
    assert match, f"no {pattern!r} in dnsperf output:\n{text}"
    return kind(match.group(1))


def parse_dnsperf(text: str) -> Perf:
    reconnections = re.search(r"Reconnections:\s+(\d+)", text)
    rcodes = re.search(r"Response codes:\s+(.*)", text)
    return Perf(_number(r"Queries sent:\s+(\d+)", text), _number(r"Queries completed:\s+(\d+)", text),
                _number(r"Queries lost:\s+(\d+)", text), _number(r"Queries per second:\s+([\d.]+)", text, float),
                int(reconnections.group(1)) if reconnections else None, rcodes.group(1) if rcodes else "", text)


def rcode_shares(text: str) -> dict[str, float]:
    """dnsperf's ``Response codes: NOERROR 9 (64.29%), NXDOMAIN 5 (35.71%)`` as {rcode: count}."""
    return {code: int(count) for code, count in re.findall(r"([A-Z]+) (\d+) \(", text)}


def check_rcodes(perf: Perf, source: str) -> None:
    """dnsperf cycles through the data file, so each question's rcode comes back in its share of the replies."""
    want: dict[str, int] = {}
    for name, rdtype in QUERIES:
        rcode = EXPECTED[(source, name, rdtype)][0]
        want[rcode] = want.get(rcode, 0) + 1
    got = rcode_shares(perf.rcodes)
    total = sum(got.values())
    assert total == perf.completed and set(got) == set(want), (perf.rcodes, want)
    for rcode, count in want.items():
        share = count / len(QUERIES)
        assert abs(got[rcode] / total - share) < 0.02, (rcode, perf.rcodes, f"want {share:.2%}")


def dnsperf_cmd(server: ServeProcess, datafile: Path, seconds: float, qps: int, *, tcp: bool, source: str,
                clients: int = 4) -> list[str]:
    host, port = server.tcp if tcp else server.udp
    cmd = [need_tool("dnsperf", "dnsperf"), "-s", host, "-p", str(port), "-a", source, "-d", str(datafile),
           "-l", str(seconds), "-Q", str(qps), "-c", str(clients), "-t", "3", "-q", "200"]
    return cmd + (["-m", "tcp"] if tcp else [])


def run_dnsperf(*args: object, **kwargs: object) -> Perf:
    done = subprocess.run(dnsperf_cmd(*args, **kwargs), capture_output=True, text=True,  # type: ignore[arg-type]
                          timeout=SECONDS * 3 + RELOAD_SECONDS + 60)
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_dnsperf(done.stdout)


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Path]]:
    need_tool("dnsperf", "dnsperf")
    work = tmp_path_factory.mktemp("soak")
    estate = work / "estate"
    shutil.copytree(ESTATE.parent, estate)
    proc = ServeProcess(work, estate / "topology.yaml", settings={"tcp_idle_timeout": "30"}).start()
    datafile = work / "queries.txt"
    datafile.write_text("".join(f"{name} {rdtype}\n" for name, rdtype in QUERIES))
    try:
        yield proc, datafile
    finally:
        code = proc.stop()
        assert code == 0, proc.log_text()[-3000:]


@dataclass
class Figures:
    rss: dict[str, int] = field(default_factory=dict)
    fds: dict[str, int] = field(default_factory=dict)


FIGURES = Figures()


def test_udp_load(soak: tuple[ServeProcess, Path]) -> None:
    server, datafile = soak
    run_dnsperf(server, datafile, 1, QPS, tcp=False, source=VNET1)  # warm-up: caches, allocator
    FIGURES.rss["after warm-up"] = server.rss_kib()
    FIGURES.fds["before"] = server.open_fds()
    perf = run_dnsperf(server, datafile, SECONDS, QPS, tcp=False, source=VNET1)
    FIGURES.rss["after UDP"] = server.rss_kib()
    print(f"\nsoak / dnsperf UDP {SECONDS} s: {perf.line()}; RSS {FIGURES.rss['after warm-up']} -> "
          f"{FIGURES.rss['after UDP']} KiB")
    assert perf.sent >= QPS * SECONDS * 0.9
    assert perf.lost == 0, perf.text
    check_rcodes(perf, VNET1)


def test_tcp_load_reuses_connections(soak: tuple[ServeProcess, Path]) -> None:
    server, datafile = soak
    perf = run_dnsperf(server, datafile, SECONDS, QPS, tcp=True, source=VNET1)
    FIGURES.rss["after TCP"] = server.rss_kib()
    print(f"\nsoak / dnsperf TCP {SECONDS} s: {perf.line()}; RSS {FIGURES.rss['after TCP']} KiB")
    assert perf.sent >= QPS * SECONDS * 0.9
    assert perf.lost == 0, perf.text
    assert perf.reconnections == 0, perf.text
    check_rcodes(perf, VNET1)


# --------------------------------------------------------------------------- reload under load


def reply_text(message: dns.message.Message) -> str:
    """Rcode, TC, answer and authority (RRsets in order, records sorted within one), and the OPT, as text."""

    def section(rrsets: list) -> list[str]:
        return [f"{str(r.name).lower()} {r.ttl} {dns.rdatatype.to_text(r.rdtype)} {rd.to_text()}"
                for r in rrsets for rd in sorted(r, key=lambda rd: rd.to_text())]

    opt = f"EDNS{message.edns} payload {message.payload} flags {message.ednsflags} options {list(message.options)}"
    return (f"{dns.rcode.to_text(message.rcode())} tc={bool(message.flags & dns.flags.TC)} "
            f"answer={section(message.answer)} authority={section(message.authority)} {opt}")


def expected_text(source: str, name: str, rdtype: str, address: str = OLD_ADDRESS) -> str:
    rcode, answer, authority = EXPECTED[(source, name, rdtype)]
    answer = [line.replace(OLD_ADDRESS, address) for line in answer]
    return f"{rcode} tc=False answer={answer} authority={authority} {EXPECTED_OPT}"


def test_every_question_gets_the_expected_reply(soak: tuple[ServeProcess, Path]) -> None:
    """Before any load: the literals above are what the server says (and so what the checker holds it to)."""
    server, _ = soak
    wrong = []
    for source, name, rdtype in EXPECTED:
        reply = udp_exchange(query(name, rdtype).to_wire(), server.udp, source=source, timeout=5.0)
        assert reply is not None, (source, name, rdtype)
        got, want = reply_text(dns.message.from_wire(reply)), expected_text(source, name, rdtype)
        if got != want:
            wrong.append(f"{source} {name} {rdtype}\n  got  {got}\n  want {want}")
    assert not wrong, "\n".join(wrong)


@dataclass
class Checked:
    asked: int = 0
    lost: int = 0
    wrong: list[str] = field(default_factory=list)
    seen_new: int = 0
    seen_old: int = 0


def checker(server: ServeProcess, stop: threading.Event, result: Checked) -> None:
    while not stop.is_set():
        for source, name, rdtype in EXPECTED:
            want = expected_text(source, name, rdtype)
            wire = query(name, rdtype).to_wire()
            reply = udp_exchange(wire, server.udp, source=source, timeout=2.0)
            if reply is None:  # one retry: UDP on a loaded 2-core box; a second silence is a loss
                reply = udp_exchange(wire, server.udp, source=source, timeout=2.0)
            result.asked += 1
            if reply is None:
                result.lost += 1
                continue
            got = reply_text(dns.message.from_wire(reply))
            if (name, rdtype) == ALTERNATING:
                if got == expected_text(source, name, rdtype, NEW_ADDRESS):
                    result.seen_new += 1
                    continue
                if got == want:
                    result.seen_old += 1
                    continue
            if got != want:
                result.wrong.append(f"{source} {name}/{rdtype}: {got} (want {want})")


def reloader(server: ServeProcess, topology: Path, stop: threading.Event, log: list[str]) -> None:
    original = topology.read_text()
    flipped = original.replace(f'"www 120 A {OLD_ADDRESS}"', f'"www 120 A {NEW_ADDRESS}"')
    assert flipped != original
    invalid = original.replace("virtual_networks:", "virtual_networks: [", 1)
    count = 0
    while not stop.wait(1.0):
        count += 1
        text, kind = (invalid, "invalid") if count % 3 == 0 else ((flipped, "new") if count % 2 else
                                                                 (original, "old"))
        scratch = topology.with_suffix(".tmp")
        scratch.write_text(text)
        scratch.replace(topology)  # atomic: the server never reads half a file
        server.signal(signal.SIGHUP)
        log.append(kind)
    scratch = topology.with_suffix(".tmp")
    scratch.write_text(original)
    scratch.replace(topology)  # atomic too: the checker may still be asking, and an empty file is a valid estate


def test_reload_every_second_under_load(soak: tuple[ServeProcess, Path]) -> None:
    server, datafile = soak
    stop = threading.Event()
    checked = Checked()
    reloads: list[str] = []
    log_before = server.log_text()
    threads = [threading.Thread(target=checker, args=(server, stop, checked), daemon=True),
               threading.Thread(target=reloader, args=(server, server.topology, stop, reloads), daemon=True)]
    udp = subprocess.Popen(dnsperf_cmd(server, datafile, RELOAD_SECONDS, QPS // 2, tcp=False, source="127.0.0.1"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tcp = subprocess.Popen(dnsperf_cmd(server, datafile, RELOAD_SECONDS, QPS // 4, tcp=True, source=VNET1),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for thread in threads:
        thread.start()
    udp_out, _ = udp.communicate(timeout=RELOAD_SECONDS + 60)
    tcp_out, _ = tcp.communicate(timeout=RELOAD_SECONDS + 60)
    stop.set()
    for thread in threads:
        thread.join(30)
    server.signal(signal.SIGHUP)  # back to the original file
    time.sleep(0.5)
    udp_perf, tcp_perf = parse_dnsperf(udp_out), parse_dnsperf(tcp_out)
    new_log = server.log_text()[len(log_before):]
    applied = new_log.count('"topology_loaded"')
    rejected = new_log.count('"topology_reload_failed"')
    FIGURES.rss["after reloads"] = server.rss_kib()
    FIGURES.fds["after"] = server.open_fds()
    print(f"\nsoak / reload every second for {RELOAD_SECONDS} s: {len(reloads)} rewrites "
          f"({reloads.count('invalid')} invalid), {applied} applied, {rejected} rejected; dnsperf UDP "
          f"{udp_perf.line()}; dnsperf TCP {tcp_perf.line()}; dnspython checker {checked.asked} asked, "
          f"{checked.lost} lost, {len(checked.wrong)} wrong ({checked.seen_old} old / {checked.seen_new} new "
          f"version of the flipping record); RSS {FIGURES.rss}; fds {FIGURES.fds}")
    assert udp_perf.lost == 0 and tcp_perf.lost == 0, udp_out + tcp_out
    assert tcp_perf.reconnections == 0, tcp_out
    check_rcodes(udp_perf, INTERNET)
    check_rcodes(tcp_perf, VNET1)
    assert checked.lost == 0 and not checked.wrong, "\n".join(checked.wrong[:20])
    assert checked.asked > len(EXPECTED)
    assert reloads.count("invalid") >= 1 and rejected >= reloads.count("invalid")
    assert applied >= len(reloads) - reloads.count("invalid")  # + the final one back to the original
    assert checked.seen_new > 0 and checked.seen_old > 0, "the reloads never showed"
    assert "internal_error" not in new_log


def test_memory_and_descriptors_stay_flat(soak: tuple[ServeProcess, Path]) -> None:
    rss = FIGURES.rss
    assert "after warm-up" in rss and "after reloads" in rss, "runs after the load tests"
    growth = rss["after reloads"] - rss["after warm-up"]
    print(f"\nsoak / memory: RSS {rss} (growth {growth} KiB); fds {FIGURES.fds}")
    assert growth < RSS_SLACK_KIB, rss
    assert FIGURES.fds["after"] <= FIGURES.fds["before"] + 2, FIGURES.fds
