"""``dnsemu serve --workers 2 --http`` is one server: one /metrics, one API, one estate, restarts, one shutdown.

Each test starts the real command; queries go over UDP with dnspython, each from a
fresh socket and so a fresh source port: SO_REUSEPORT hashes the 4-tuple, so
enough of them reach both workers. Which worker answered is read from the query
log (a worker's log lines carry ``"worker": N``; a cache hit's line does not, so
the queries that must be attributed ask names no worker has cached).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import ALPHA, TEST_TOPOLOGY, ServeProcess, descendants
from prometheus_client.parser import text_string_to_metric_families

HOST = "127.0.0.1"
ROUNDS = 40  # batches of queries sent before giving up on reaching both workers (2 ** -ROUNDS * 8 odds)


def start(serve_process: Callable[..., ServeProcess], *extra: str, topology: Path = TEST_TOPOLOGY) -> ServeProcess:
    return serve_process("--topology", str(topology), "--listen", f"{HOST}:0", "--workers", "2", "--http",
                         "--http-listen", f"{HOST}:0", "--api-changes", "--log-format", "json", *extra)


def http_port(proc: ServeProcess) -> int:
    return int(proc.line.rpartition(":")[2])


def request(proc: ServeProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, http_port(proc), timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        reply = conn.getresponse()
        payload = reply.read()
        if reply.getheader("content-type", "").startswith("application/json"):
            return reply.status, json.loads(payload)
        return reply.status, payload.decode()
    finally:
        conn.close()


def scrape(proc: ServeProcess) -> dict[str, list[Any]]:
    status, text = request(proc, "GET", "/metrics")
    assert status == 200
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def total(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def ask(proc: ServeProcess, name: str, source: str = HOST) -> dns.message.Message:
    """One UDP query from a fresh socket (a new source port each time)."""
    return dns.query.udp(dns.message.make_query(name, "A"), HOST, port=proc.port, source=source, timeout=10)


def query_lines(proc: ServeProcess, skip: int = 0) -> list[dict[str, Any]]:
    lines = []
    for line in proc.stderr().splitlines()[skip:]:
        if '"dns_query"' in line:
            lines.append(json.loads(line))
    return lines


def log_length(proc: ServeProcess) -> int:
    return len(proc.stderr().splitlines())


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def answered_by(proc: ServeProcess, qnames: set[str], skip: int = 0) -> Counter[int]:
    """How many of these names each worker answered (cache misses: their lines carry the worker)."""
    return Counter(line["worker"] for line in query_lines(proc, skip)
                   if line["qname"] in qnames and "worker" in line)


def until_both_answer(proc: ServeProcess, name: str, expect: Callable[[dns.message.Message], None],
                      skip: int) -> None:
    """Ask ``name`` from fresh ports until both workers have answered it (each reply checked by ``expect``)."""
    for _ in range(ROUNDS):
        for _ in range(8):
            expect(ask(proc, name))
        time.sleep(0.2)  # the query log is flushed every 100 ms
        if len(answered_by(proc, {name.lower() + "."}, skip)) == 2:
            return
    raise AssertionError(f"{ROUNDS * 8} queries from fresh ports never reached both workers: "
                         f"{answered_by(proc, {name.lower() + '.'}, skip)}")


def a_values(reply: dns.message.Message) -> list[str]:
    return sorted(rr.address for rrset in reply.answer for rr in rrset if rrset.rdtype == 1)


# --------------------------------------------------------------------------- one /metrics


def test_counters_add_up_across_workers(serve_process: Any) -> None:
    proc = start(serve_process, "--no-watch")
    assert total(scrape(proc), "dnsemu_workers") == 2
    names: set[str] = set()
    for round_ in range(ROUNDS):  # names nobody asked before: every one a cache miss, logged with its worker
        for i in range(10):
            name = f"q{round_}-{i}.example.test"
            reply = ask(proc, name)
            assert reply.rcode() == dns.rcode.NXDOMAIN
            names.add(name + ".")
        time.sleep(0.2)
        if len(answered_by(proc, names)) == 2:
            break
    per_worker = wait_for(lambda: (c := answered_by(proc, names)) and sum(c.values()) == len(names) and c,
                          "every query in the log")
    assert set(per_worker) == {0, 1} and sum(per_worker.values()) == len(names)
    m = scrape(proc)
    assert total(m, "dnsemu_dns_queries_total") == len(names)
    assert total(m, "dnsemu_dns_queries_total", rcode="NXDOMAIN", proto="udp", view="internet") == len(names)
    assert total(m, "dnsemu_dns_request_duration_seconds_count", proto="udp") == len(names)
    assert total(m, "dnsemu_dns_request_duration_seconds_bucket", proto="udp", le="+Inf") == len(names)
    assert total(m, "dnsemu_cache_misses_total", proto="udp") == len(names)
    assert total(m, "dnsemu_workers") == 2
    assert total(m, "dnsemu_worker_restarts_total") == 0
    assert total(m, "dnsemu_topology_generation") == 1
    # the same answer again, from the same fresh ports' successors: hits are counted too
    for _ in range(20):
        ask(proc, "www.example.test")
    assert total(scrape(proc), "dnsemu_dns_queries_total") == len(names) + 20
    assert proc.terminate() == 0, proc.stderr()


# --------------------------------------------------------------------------- one API, one estate


def test_a_change_is_answered_by_every_worker_when_the_request_returns(serve_process: Any) -> None:
    proc = start(serve_process, "--no-watch")
    skip = log_length(proc)
    status, body = request(proc, "PUT", "/v1/public-dns-zones/example.test/records/A/fresh",
                           {"ttl": 60, "values": ["198.51.100.61"]})
    assert status == 200, body
    assert body["generation"] == 2

    def changed(reply: dns.message.Message) -> None:
        assert a_values(reply) == ["198.51.100.61"], reply  # never the estate before the change

    until_both_answer(proc, "fresh.example.test", changed, skip)
    log = proc.stderr()
    adopted = [json.loads(line) for line in log.splitlines() if '"topology_adopted"' in line]
    assert sorted(line["worker"] for line in adopted) == [0, 1]
    assert all(line["generation"] == 2 for line in adopted)
    # the API's reads come from the parent, which holds the same estate
    status, body = request(proc, "GET", "/v1/explain?name=fresh.example.test&from=internet")
    assert status == 200 and body["answer"][0].split() == ["fresh.example.test.", "60", "IN", "A", "198.51.100.61"]

    skip = log_length(proc)
    status, body = request(proc, "POST", "/v1/reset")
    assert status == 200 and body["dropped"] == 1 and body["generation"] == 3

    def gone(reply: dns.message.Message) -> None:
        assert reply.rcode() == dns.rcode.NXDOMAIN, reply

    until_both_answer(proc, "fresh.example.test", gone, skip)
    m = scrape(proc)
    assert total(m, "dnsemu_topology_generation") == 3
    assert total(m, "dnsemu_topology_changes_total", result="applied") == 1
    assert proc.terminate() == 0, proc.stderr()


def test_a_reload_reads_the_files_once_for_every_worker(serve_process: Any, tmp_path: Path) -> None:
    topology = tmp_path / "topology.yaml"
    shutil.copy(TEST_TOPOLOGY, topology)
    proc = start(serve_process, "--no-watch", topology=topology)
    text = topology.read_text()
    topology.write_text(text.replace('        - "www 60 A 198.51.100.7"\n',
                                     '        - "www 60 A 198.51.100.7"\n        - "later 60 A 198.51.100.62"\n'))
    skip = log_length(proc)
    status, body = request(proc, "POST", "/v1/reload")
    assert status == 200 and body["generation"] == 2, body
    until_both_answer(proc, "later.example.test", lambda r: a_values(r) == ["198.51.100.62"] or pytest.fail(str(r)),
                      skip)
    reads = [line for line in proc.stderr().splitlines() if '"topology_loaded"' in line]
    assert len(reads) == 1 and '"worker"' not in reads[0]  # the parent read the file; the workers adopted it
    # an invalid file: refused, and nobody changes
    topology.write_text("virtual_networks: [\n")
    status, body = request(proc, "POST", "/v1/reload")
    assert status == 422 and body["error"] == "invalid_topology"
    assert a_values(ask(proc, "later.example.test")) == ["198.51.100.62"]
    assert total(scrape(proc), "dnsemu_topology_reloads_total", result="failure") == 1
    assert proc.terminate() == 0, proc.stderr()


# --------------------------------------------------------------------------- restarts and shutdown


def test_a_worker_that_dies_is_started_again_with_the_current_estate(serve_process: Any) -> None:
    proc = start(serve_process, "--no-watch")
    status, _ = request(proc, "PUT", "/v1/public-dns-zones/example.test/records/A/kept",
                        {"ttl": 60, "values": ["198.51.100.63"]})
    assert status == 200
    for i in range(30):
        ask(proc, f"before{i}.example.test")
    before = total(scrape(proc), "dnsemu_dns_queries_total")
    assert before == 30
    pids = {line["worker"]: line["pid"] for line in map(json.loads, proc.stderr().splitlines())
            if line.get("event") == "worker_ready"}
    assert set(pids) == {0, 1}
    os.kill(pids[1], signal.SIGKILL)
    m = wait_for(lambda: (s := scrape(proc)) and total(s, "dnsemu_worker_restarts_total", reason="exited") == 1
                 and total(s, "dnsemu_workers") == 2 and s, "the worker started again")
    assert total(m, "dnsemu_dns_queries_total") >= before  # what the dead worker counted is kept
    restarted = [line for line in map(json.loads, proc.stderr().splitlines())
                 if line.get("event") == "worker_ready" and line["worker"] == 1]
    assert len(restarted) == 2 and restarted[-1]["pid"] != pids[1]
    assert restarted[-1]["generation"] == 2  # it started from the parent's estate, change included
    skip = log_length(proc)
    until_both_answer(proc, "kept.example.test", lambda r: a_values(r) == ["198.51.100.63"] or pytest.fail(str(r)),
                      skip)
    status, body = request(proc, "GET", "/readyz")
    assert status == 200 and body["generation"] == 2
    assert proc.terminate() == 0, proc.stderr()


def test_shutdown_is_the_parents(serve_process: Any) -> None:
    proc = start(serve_process, "--no-watch")
    below = descendants(proc.proc.pid)
    workers = [pid for pid, parent in below.items() if parent != proc.proc.pid]
    assert len(workers) == 2
    assert ask(proc, "www.example.test", source=ALPHA).answer
    # Ctrl-C: the terminal sends SIGINT to every process of the group; the parent decides. The workers get
    # theirs first (once the parent has it, it may have stopped and reaped them: no pid to signal)
    for pid in workers:
        os.kill(pid, signal.SIGINT)  # ignored by the workers
    assert ask(proc, "www.example.test", source=ALPHA).answer
    assert all(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in workers), "a worker obeyed SIGINT"
    proc.signal(signal.SIGINT)
    assert proc.proc.wait(30) == 0, proc.stderr()
    log = proc.stderr()
    assert log.count('"event": "server_stopped"') == 3  # both workers, then the parent
    assert '"workers_stopped"' in log
    for pid in below:
        wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), f"process {pid} to end", 10)
    proc.close()


def _zombie(pid: int) -> bool:
    try:
        return re.search(r"\) Z ", Path(f"/proc/{pid}/stat").read_text()) is not None
    except OSError:
        return True


def test_the_query_stream_carries_every_workers_queries(serve_process: Any) -> None:
    proc = start(serve_process, "--no-watch", "--no-query-log")
    conn = http.client.HTTPConnection(HOST, http_port(proc), timeout=60)
    conn.request("GET", "/v1/queries/stream")
    reply = conn.getresponse()
    assert reply.status == 200
    seen: set[str] = set()

    def read() -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in reply.fp:
                line = raw.decode()
                if line.startswith("data: ["):
                    seen.update(event["qname"] for event in json.loads(line[6:]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wanted = {f"s{i}.example.test." for i in range(40)}
    deadline = time.monotonic() + 60
    while not wanted <= seen:  # the workers start observing when the parent tells them: ask again until seen
        assert time.monotonic() < deadline, f"missing from the stream: {sorted(wanted - seen)[:5]}"
        for name in wanted - seen:
            ask(proc, name.rstrip("."))
        time.sleep(0.5)
    conn.close()
    assert proc.terminate() == 0, proc.stderr()


def test_a_port_in_use_stops_everything_with_a_clear_message(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))  # no SO_REUSEPORT: the workers cannot join it
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "dnsemu", "serve", "--topology", str(TEST_TOPOLOGY),
                                 "--listen", f"{HOST}:{port}", "--workers", "2", "--no-watch"],
                                capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 1 and not result.stdout
    assert f"cannot listen on {HOST}:{port}" in result.stderr and "worker 0" in result.stderr, result.stderr
    assert "hint: another program holds port" in result.stderr, result.stderr  # what to do (#16)
    # nothing was serving, so no stop is logged (#16: no stop for a server that never started)
    assert "workers_stopped" not in result.stderr and "server_stopping" not in result.stderr, result.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "dnsemu", "serve", "--topology", str(TEST_TOPOLOGY),
                                 "--listen", f"{HOST}:0", "--workers", "2", "--no-watch", "--http",
                                 "--http-listen", f"{HOST}:{port}"],
                                capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 1 and not result.stdout
    assert "(HTTP)" in result.stderr and "cannot listen" in result.stderr, result.stderr
    assert '"workers_stopped"' in result.stderr or "workers_stopped" in result.stderr  # the workers went first
