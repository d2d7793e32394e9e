"""Load and soak with dnsperf: UDP, TCP (connections reused), and a reload every second under load.

Phases, against one ``dnsemu serve`` on a copy of the test estate:

1. UDP: dnsperf from a vnet1 address at a fixed rate; 0 queries lost.
2. TCP (``-m tcp``): the same; 0 lost, 0 reconnections (connections reused).
3. Reload under load: dnsperf over UDP (internet view) and TCP (vnet1) at
   once, a dnspython checker asking a fixed set of questions from both views
   in a loop, and every second the topology file is rewritten (alternating
   two versions that differ in one record, and every third time an invalid
   file) and SIGHUP sent. Required: 0 lost for dnsperf and the checker, 0
   wrong answers (every reply equals the one taken before the load, or, for
   the record that alternates, one of its two versions), every valid reload
   applied and every invalid one rejected with the old topology serving.

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

import dns.message
import dns.rcode
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


def test_tcp_load_reuses_connections(soak: tuple[ServeProcess, Path]) -> None:
    server, datafile = soak
    perf = run_dnsperf(server, datafile, SECONDS, QPS, tcp=True, source=VNET1)
    FIGURES.rss["after TCP"] = server.rss_kib()
    print(f"\nsoak / dnsperf TCP {SECONDS} s: {perf.line()}; RSS {FIGURES.rss['after TCP']} KiB")
    assert perf.sent >= QPS * SECONDS * 0.9
    assert perf.lost == 0, perf.text
    assert perf.reconnections == 0, perf.text


# --------------------------------------------------------------------------- reload under load


def baseline(server: ServeProcess) -> dict[tuple[str, str, str], str]:
    """What each checked question gets before any reload: rcode and answer section, as text."""
    out = {}
    for source in (VNET1, "127.0.0.1"):
        for name, rdtype in QUERIES:
            reply = udp_exchange(query(name, rdtype).to_wire(), server.udp, source=source)
            assert reply is not None
            out[(source, name, rdtype)] = answer_text(dns.message.from_wire(reply))
    return out


def answer_text(message: dns.message.Message) -> str:
    rrsets = sorted(f"{r.name} {r.ttl} {r.rdtype} " + " ".join(sorted(rd.to_text() for rd in r))
                    for r in message.answer)
    return f"{dns.rcode.to_text(message.rcode())}|{message.flags & 0x0200}|" + ";".join(rrsets)


@dataclass
class Checked:
    asked: int = 0
    lost: int = 0
    wrong: list[str] = field(default_factory=list)
    seen_new: int = 0
    seen_old: int = 0


def checker(server: ServeProcess, truth: dict[tuple[str, str, str], str], stop: threading.Event,
            result: Checked) -> None:
    while not stop.is_set():
        for (source, name, rdtype), want in truth.items():
            wire = query(name, rdtype).to_wire()
            reply = udp_exchange(wire, server.udp, source=source, timeout=2.0)
            if reply is None:  # one retry: UDP on a loaded 2-core box; a second silence is a loss
                reply = udp_exchange(wire, server.udp, source=source, timeout=2.0)
            result.asked += 1
            if reply is None:
                result.lost += 1
                continue
            got = answer_text(dns.message.from_wire(reply))
            if (name, rdtype) == ALTERNATING:
                if got == want.replace(OLD_ADDRESS, NEW_ADDRESS):
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
    truth = baseline(server)
    assert OLD_ADDRESS in truth[(VNET1, *ALTERNATING)]
    stop = threading.Event()
    checked = Checked()
    reloads: list[str] = []
    log_before = server.log_text()
    threads = [threading.Thread(target=checker, args=(server, truth, stop, checked), daemon=True),
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
    assert checked.lost == 0 and not checked.wrong, "\n".join(checked.wrong[:20])
    assert checked.asked > len(truth)
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
