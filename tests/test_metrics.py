"""Metrics: scraped over HTTP after real queries, parsed with prometheus-client's own parser.

Each test starts its own emulators (a few milliseconds each), so every count is
exact. Sources pick the VNet: 127.0.1.x is alpha, 127.0.2.x beta, 127.0.0.1 the
internet (tests/data/topology.yaml).
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dns.message
import dns.query
import pytest
from conftest import ALPHA, BETA, DATA, OUTSIDE, TEST_TOPOLOGY, closed_by_peer, recv_exact
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from dnsemu.http.metrics import FAMILIES, DnsemuCollector
from dnsemu.server.counters import Counters
from dnsemu.server.forwarding import UpstreamStats
from dnsemu.server.handler import DURATION_BUCKETS, Stats
from dnsemu.server.handler import SIZE_BUCKETS as RESPONSE_SIZE_BUCKETS
from dnsemu.server.transport import ServerState
from dnsemu.testing import Emulator

HOST = "127.0.0.1"


# --------------------------------------------------------------------------- helpers


class Scrape:
    """One scrape of /metrics, parsed: families by name, and a sample lookup."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, name: str, **labels: str) -> float | None:
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None

    def samples(self, name: str) -> list[Any]:
        return [s for f in self.families.values() for s in f.samples if s.name == name]


def scrape(emulator: Emulator, accept: str | None = None) -> Scrape:
    request = urllib.request.Request(emulator.http_url + "/metrics", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return Scrape(response.read().decode())


def ask(emulator: Emulator, name: str, rdtype: str = "A", source: str = ALPHA, tcp: bool = False,
        **kwargs: Any) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=kwargs.pop("use_edns", 0), **kwargs)
    if tcp:
        return dns.query.tcp(q, HOST, port=emulator.port, source=source, timeout=3)
    return dns.query.udp(q, HOST, port=emulator.port, source=source, timeout=3)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False) as running:
        yield running


def wait_for(predicate: Any, what: str, timeout: float = 5.0) -> None:
    """Poll for a state the server reaches on its own (a connection it closes, a task it starts)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# --------------------------------------------------------------------------- queries


def test_queries_by_protocol_view_type_rcode_and_kind(emulator: Emulator) -> None:
    ask(emulator, "teststore.blob.core.windows.net", source=ALPHA)  # private endpoint
    ask(emulator, "teststore.blob.core.windows.net", source=ALPHA)  # again: from the cache, counted the same
    ask(emulator, "teststore.blob.core.windows.net", source=BETA)  # beta is not linked: public
    ask(emulator, "nope.corp.test", source=BETA)  # a linked private zone denies it
    ask(emulator, "app.corp.test", source=OUTSIDE)  # outside the topology, nowhere to forward: refused
    ask(emulator, "app.corp.test", "MX", source=ALPHA, tcp=True)  # NODATA over TCP
    ask(emulator, "app.corp.test", "NAPTR", source=ALPHA)  # not in the allow-list: "other"
    ask(emulator, "5.1.0.127.in-addr.arpa", "PTR", source=ALPHA)  # Azure-provided reverse zone
    # a name public DNS knows under the privatelink zone: NxDomainRedirect falls back to it
    emulator.add_record("privatelink.blob.core.windows.net", "otherstore 60 A 203.0.113.5", public=True)
    emulator.link("privatelink.blob.core.windows.net", "alpha", resolution_policy="NxDomainRedirect")
    assert ask(emulator, "otherstore.privatelink.blob.core.windows.net", source=ALPHA).answer
    m = scrape(emulator)
    q = "dnsemu_dns_queries_total"
    assert m.value(q, proto="udp", view="vnet:alpha", type="A", rcode="NOERROR", kind="private") == 2
    assert m.value(q, proto="udp", view="vnet:beta", type="A", rcode="NOERROR", kind="public") == 1
    assert m.value(q, proto="udp", view="vnet:beta", type="A", rcode="NXDOMAIN", kind="nxdomain_private") == 1
    assert m.value(q, proto="udp", view="internet", type="A", rcode="REFUSED", kind="refused") == 1
    assert m.value(q, proto="tcp", view="vnet:alpha", type="MX", rcode="NOERROR", kind="private") == 1
    assert m.value(q, proto="udp", view="vnet:alpha", type="other", rcode="NOERROR", kind="private") == 1
    internal = [s for s in m.samples(q) if s.labels["kind"] == "internal"]
    assert len(internal) == 1 and internal[0].labels["type"] == "PTR" and internal[0].value == 1
    fallback = [s for s in m.samples(q) if s.labels["kind"] == "fallback"]
    assert len(fallback) == 1 and fallback[0].labels["view"] == "vnet:alpha"
    assert sum(s.value for s in m.samples(q)) == 9
    assert m.families["dnsemu_dns_queries"].type == "counter"


def test_forwarded_queries_and_upstream_metrics() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole, \
            Emulator(DATA / "upstream.yaml", query_log=False) as upstream:
        black_hole.bind((HOST, 0))
        hole = f"{HOST}:{black_hole.getsockname()[1]}"
        good = f"{HOST}:{upstream.port}"
        settings = {"upstreams": [hole, good], "upstream_timeout": 0.2, "upstream_attempts": 1}
        with Emulator(TEST_TOPOLOGY, http=True, query_log=False, **settings) as emulator:
            assert ask(emulator, "www.example.org", source=ALPHA).answer  # the black hole times out, then good
            assert ask(emulator, "www.example.org", "AAAA", source=ALPHA, tcp=True).rcode() == 0
            m = scrape(emulator)
    assert m.value("dnsemu_forwarded_queries_total", result="answered") == 2
    assert m.value("dnsemu_forwarded_queries_total", result="failed") == 0
    assert m.value("dnsemu_dns_queries_total", proto="udp", view="vnet:alpha", type="A", rcode="NOERROR",
                   kind="forwarded") == 1
    assert m.value("dnsemu_upstream_requests_total", server=hole) == 2
    assert m.value("dnsemu_upstream_failures_total", server=hole, reason="timeout") == 2
    assert m.value("dnsemu_upstream_requests_total", server=good) == 2
    assert m.value("dnsemu_upstream_failures_total", server=good, reason="timeout") is None
    assert m.value("dnsemu_upstream_request_duration_seconds_count", server=good) == 2
    assert m.value("dnsemu_upstream_request_duration_seconds_count", server=hole) is None  # no reply, no time
    assert 0 < m.value("dnsemu_upstream_request_duration_seconds_sum", server=good) < 1
    assert m.value("dnsemu_dns_request_duration_seconds_sum", proto="udp") >= 0.2  # waited for the black hole


def test_failed_and_refused_forwarding() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind((HOST, 0))
        port = closed.getsockname()[1]
    settings = {"upstreams": [f"{HOST}:{port}"], "upstream_timeout": 0.5, "upstream_attempts": 1}
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, **settings) as emulator:
        assert ask(emulator, "www.example.org", source=ALPHA).rcode() == 2  # SERVFAIL
        m = scrape(emulator)
        assert m.value("dnsemu_forwarded_queries_total", result="failed") == 1
        assert m.value("dnsemu_upstream_failures_total", server=f"{HOST}:{port}", reason="refused") == 1
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False) as emulator:  # no upstreams at all
        assert ask(emulator, "www.example.org", source=ALPHA).rcode() == 5
        assert scrape(emulator).value("dnsemu_forwarded_queries_total", result="refused") == 1


def test_requests_in_flight_while_an_upstream_is_slow() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind((HOST, 0))
        settings = {"upstreams": [f"{HOST}:{black_hole.getsockname()[1]}"], "upstream_timeout": 0.3,
                    "upstream_attempts": 1}
        with Emulator(TEST_TOPOLOGY, http=True, query_log=False, **settings) as emulator:
            client = threading.Thread(target=lambda: ask(emulator, "www.example.org", source=ALPHA))
            client.start()
            black_hole.settimeout(5)
            black_hole.recv(512)  # the forwarded query arrived: the reply task is waiting
            assert scrape(emulator).value("dnsemu_dns_requests_in_flight") == 1
            client.join(5)
            wait_for(lambda: not emulator.server.state.tasks, "the task to finish")
            assert scrape(emulator).value("dnsemu_dns_requests_in_flight") == 0


def test_duration_histogram_and_cache(emulator: Emulator) -> None:
    for _ in range(3):
        ask(emulator, "www.example.test", source=ALPHA)
    ask(emulator, "www.example.test", source=ALPHA, tcp=True)
    m = scrape(emulator)
    family = m.families["dnsemu_dns_request_duration_seconds"]
    assert family.type == "histogram"
    buckets = [s for s in family.samples if s.name.endswith("_bucket") and s.labels["proto"] == "udp"]
    bounds = [s.labels["le"] for s in buckets]
    assert bounds[-1] == "+Inf" and [float(b) for b in bounds[:-1]] == list(DURATION_BUCKETS)
    values = [s.value for s in buckets]
    assert values == sorted(values) and values[-1] == 3  # cumulative, +Inf is the count
    assert m.value("dnsemu_dns_request_duration_seconds_count", proto="udp") == 3
    assert m.value("dnsemu_dns_request_duration_seconds_count", proto="tcp") == 1
    assert 0 < m.value("dnsemu_dns_request_duration_seconds_sum", proto="udp") < 1
    assert m.value("dnsemu_cache_misses_total", proto="udp") == 1
    assert m.value("dnsemu_cache_hits_total", proto="udp") == 2
    assert m.value("dnsemu_cache_misses_total", proto="tcp") == 1  # the cache is per transport
    assert m.value("dnsemu_cache_hits_total", proto="tcp") == 0


def test_truncated_and_rejected(emulator: Emulator) -> None:
    reply = ask(emulator, "big.example.test", "TXT", source=ALPHA)
    assert reply.flags & 0x0200
    assert not ask(emulator, "big.example.test", "TXT", source=ALPHA, tcp=True).flags & 0x0200
    header = struct.pack("!HHHHHH", 0x4242, 0x0100, 0, 0, 0, 0)  # no question: FORMERR
    notify = struct.pack("!HHHHHH", 0x4243, 4 << 11, 1, 0, 0, 0) + b"\x03www\x07example\x04test\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ALPHA, 0))
        sock.settimeout(3)
        for data in (header, notify):
            sock.sendto(data, (HOST, emulator.port))
            sock.recv(512)
    m = scrape(emulator)
    assert m.value("dnsemu_dns_truncated_responses_total", proto="udp") == 1
    assert m.value("dnsemu_dns_truncated_responses_total", proto="tcp") == 0
    assert m.value("dnsemu_dns_rejected_queries_total", reason="formerr") == 1
    assert m.value("dnsemu_dns_rejected_queries_total", reason="notimp") == 1
    for where in ("handler", "task", "http"):
        assert m.value("dnsemu_internal_errors_total", where=where) == 0


def test_tcp_connections_open_accepted_rejected_idle_and_oversize() -> None:
    settings = {"tcp_max_connections": 1, "tcp_idle_timeout": 0.3, "tcp_max_message": 512}
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, **settings) as emulator:
        first = socket.create_connection((HOST, emulator.port), timeout=3)
        try:
            q = dns.message.make_query("www.example.test", "A").to_wire()
            first.sendall(struct.pack("!H", len(q)) + q)
            (length,) = struct.unpack("!H", recv_exact(first, 2))
            recv_exact(first, length)  # answered: the connection is open and counted
            m = scrape(emulator)
            assert m.value("dnsemu_tcp_connections") == 1
            assert m.value("dnsemu_tcp_connections_accepted_total") == 1
            with socket.create_connection((HOST, emulator.port), timeout=3) as second:
                assert closed_by_peer(second)  # over tcp-max-connections
            assert scrape(emulator).value("dnsemu_tcp_connections_rejected_total") == 1
            assert closed_by_peer(first)  # idle for 0.3 s
        finally:
            first.close()
        wait_for(lambda: not emulator.server.state.connections, "the idle connection to go")
        with socket.create_connection((HOST, emulator.port), timeout=3) as big:
            big.sendall(struct.pack("!H", 1000) + bytes(1000))
            assert closed_by_peer(big)
        wait_for(lambda: not emulator.server.state.connections, "the oversize connection to go")
        m = scrape(emulator)
    assert m.value("dnsemu_tcp_connections") == 0
    assert m.value("dnsemu_tcp_connections_accepted_total") == 2
    assert m.value("dnsemu_tcp_connections_idle_closed_total") == 1
    assert m.value("dnsemu_tcp_oversize_messages_total") == 1
    assert m.value("dnsemu_udp_replies_dropped_total") == 0


# --------------------------------------------------------------------------- topology


def test_topology_size_generation_changes_and_reloads(tmp_path: Any) -> None:
    path = tmp_path / "topology.yaml"
    original = TEST_TOPOLOGY.read_text()
    path.write_text(original)
    with Emulator(path, http=True, query_log=False) as emulator:
        m = scrape(emulator)
        stats = emulator.server.index.stats
        assert m.value("dnsemu_topology_virtual_networks") == 2 == stats["virtual_networks"]
        assert m.value("dnsemu_topology_on_premises_sites") == 0
        assert m.value("dnsemu_topology_private_endpoints") == 1
        assert m.value("dnsemu_topology_zones", kind="private") == 2
        assert m.value("dnsemu_topology_zones", kind="public") == stats["public_zones"] > 0
        assert m.value("dnsemu_topology_records", kind="private") == stats["records"] == 3
        assert m.value("dnsemu_topology_records", kind="public") == stats["public_records"] > 0
        assert m.value("dnsemu_topology_generation") == 1
        assert m.value("dnsemu_topology_reloads_total", result="success") == 0
        started = m.value("dnsemu_topology_last_reload_success_timestamp_seconds")
        assert started is not None and abs(started - time.time()) < 60

        emulator.add_private_endpoint("pe-second", {
            "virtual_network": "alpha", "subnet": "snet-pe", "private_ip_addresses": ["127.0.1.7"],
            "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "second"}, "group_id": "blob",
            "private_dns_zone_group": ["privatelink.blob.core.windows.net"]})
        with pytest.raises(ValueError, match="outside"):
            emulator.add_private_endpoint("pe-bad", virtual_network="alpha", private_ip_addresses=["10.9.9.9"])
        m = scrape(emulator)
        assert m.value("dnsemu_topology_private_endpoints") == 2
        assert m.value("dnsemu_topology_records", kind="private") == 4
        assert m.value("dnsemu_topology_generation") == 2
        assert m.value("dnsemu_topology_changes_total", result="applied") == 1
        assert m.value("dnsemu_topology_changes_total", result="rejected") == 1
        assert m.value("dnsemu_topology_changes_active") == 1

        path.write_text(original.replace("app 60 A 127.0.1.10", "app 60 A 127.0.1.11"))
        assert emulator.reload()
        path.write_text(original.replace("virtual_networks:", "virtual_networks: [", 1))
        assert not emulator.reload()
        m = scrape(emulator)
        assert m.value("dnsemu_topology_reloads_total", result="success") == 1
        assert m.value("dnsemu_topology_reloads_total", result="failure") == 1
        assert m.value("dnsemu_topology_last_reload_success_timestamp_seconds") >= started
        assert m.value("dnsemu_topology_changes_active") == 1  # re-applied on the reloaded file
        assert m.value("dnsemu_topology_generation") == 3
        emulator.reset()
        m = scrape(emulator)
        assert m.value("dnsemu_topology_changes_active") == 0
        assert m.value("dnsemu_topology_private_endpoints") == 1


def test_build_info_and_process_metrics(emulator: Emulator) -> None:
    m = scrape(emulator)
    (info,) = m.samples("dnsemu_build_info")
    assert info.value == 1 and info.labels["version"] and info.labels["python"].count(".") == 2
    if Path("/proc/self/stat").exists():
        assert m.value("process_resident_memory_bytes") > 0


def test_openmetrics_on_request(emulator: Emulator) -> None:
    ask(emulator, "www.example.test", source=ALPHA)
    request = urllib.request.Request(emulator.http_url + "/metrics",
                                     headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    families = {f.name: f for f in openmetrics_families(text)}
    assert families["dnsemu_dns_queries"].samples[0].value == 1


# --------------------------------------------------------------------------- response size


def test_response_size_histogram_from_the_counters() -> None:
    """The exporter, fed counters as the handler would keep them (``Stats.sizes``/``size_sum``)."""
    stats = Stats()
    stats.sizes = {"udp": [0] * (len(RESPONSE_SIZE_BUCKETS) + 1), "tcp": [0] * (len(RESPONSE_SIZE_BUCKETS) + 1)}
    stats.sizes["udp"][2] = 3  # three replies of 129-256 octets
    stats.sizes["tcp"][-1] = 1  # one over 65535 (impossible, but the last bucket is +Inf)
    stats.size_sum = {"udp": 600, "tcp": 70000}
    server = SimpleNamespace(stats=stats, state=ServerState(),
                             upstream_stats=UpstreamStats(), http_errors=0, generation=1, last_reload_success=None,
                             change_counts={}, active_changes=0, handler=None)
    server.counters = lambda: Counters(stats.snapshot(), server.upstream_stats)  # as DnsServer.counters() reads them
    registry = _registry(server)
    m = Scrape(generate_latest(registry).decode())
    assert m.value("dnsemu_dns_response_size_bytes_bucket", proto="udp", le="128.0") == 0
    assert m.value("dnsemu_dns_response_size_bytes_bucket", proto="udp", le="256.0") == 3
    assert m.value("dnsemu_dns_response_size_bytes_count", proto="udp") == 3
    assert m.value("dnsemu_dns_response_size_bytes_sum", proto="udp") == 600
    assert m.value("dnsemu_dns_response_size_bytes_bucket", proto="tcp", le="+Inf") == 1
    # two cache hits of a 100-octet reply, counted in their cell: folded in at scrape time
    cell = stats.cell(("udp", "vnet:alpha", "A", "NOERROR", "public"), 100, False)
    cell[0] += 2
    m = Scrape(generate_latest(registry).decode())
    assert m.value("dnsemu_dns_response_size_bytes_bucket", proto="udp", le="128.0") == 2
    assert m.value("dnsemu_dns_response_size_bytes_sum", proto="udp") == 800
    assert m.value("dnsemu_cache_hits_total", proto="udp") == 2


def _registry(server: Any) -> Any:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(DnsemuCollector(server))
    return registry


def test_response_size_after_real_queries(emulator: Emulator) -> None:
    reply = ask(emulator, "www.example.test", source=ALPHA)
    m = scrape(emulator)
    assert m.value("dnsemu_dns_response_size_bytes_count", proto="udp") == 1
    assert m.value("dnsemu_dns_response_size_bytes_sum", proto="udp") == len(reply.to_wire())


# --------------------------------------------------------------------------- naming and cardinality

_BASE_UNITS = ("seconds", "bytes", "ratio", "total", "info", "timestamp_seconds")
_NON_BASE = re.compile(r"_(milliseconds|microseconds|nanoseconds|minutes|hours|days|kilobytes|megabytes|ms|us|ns|"
                       r"sec|secs|kb|mb|percent)(_|$)")


def lint(name: str, kind: str, help_text: str, labels: tuple[str, ...]) -> list[str]:
    """promlint's checks, for one family as the registry names it (counters without _total)."""
    problems = []
    if not re.fullmatch(r"dnsemu_[a-z][a-z0-9_]*", name) or "__" in name:
        problems.append("not dnsemu_ snake_case")
    if kind == "counter" and name.endswith("_total"):
        problems.append("counter named with _total (the client adds it)")
    if kind != "counter" and name.endswith("_total"):
        problems.append("_total on a non-counter")
    if kind == "histogram" and not name.endswith(("_seconds", "_bytes")):
        problems.append("histogram without a base unit suffix")
    if "timestamp" in name and not name.endswith("_timestamp_seconds"):
        problems.append("timestamps are _timestamp_seconds")
    if _NON_BASE.search(name):
        problems.append("non-base or abbreviated unit")
    if not help_text or not help_text[0].isupper() or not help_text.endswith("."):
        problems.append("help text missing, or not a sentence")
    for label in labels:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", label) or label in ("le", "quantile") or label.startswith("__"):
            problems.append(f"label {label!r}")
        if label in ("qname", "name", "client", "client_address", "source", "address"):
            problems.append(f"label {label!r}: unbounded")
    return problems


def test_every_family_follows_the_naming_rules() -> None:
    problems = {name: p for name, spec in FAMILIES.items() if (p := lint(name, *spec))}
    assert not problems, problems
    assert lint("dnsemu_dnsQueries_total", "counter", "x", ("qname",))  # the linter itself catches things


def test_scraped_families_are_the_documented_ones_with_their_types(emulator: Emulator) -> None:
    ask(emulator, "www.example.test", source=ALPHA)
    m = scrape(emulator)
    ours = {name: f for name, f in m.families.items() if name.startswith("dnsemu_")}
    for name, family in ours.items():
        assert name in FAMILIES, name
        assert family.type == FAMILIES[name][0]
        assert family.documentation == FAMILIES[name][1]
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name == name + "_total"
            extra = {"le"} if family.type == "histogram" else set()
            assert set(sample.labels) - extra == set(FAMILIES[name][2]), sample
    # the families a fresh server without upstreams or size counters does not show yet
    missing = set(FAMILIES) - set(ours)
    assert missing <= {"dnsemu_upstream_requests", "dnsemu_upstream_failures",  # no upstream configured
                       "dnsemu_upstream_request_duration_seconds", "dnsemu_dns_response_size_bytes",
                       "dnsemu_firewall_dns_proxy_cache_lookups",  # no firewall cache emulated
                       "dnsemu_dns_policy_matches",  # no DNS security policy in the topology
                       "dnsemu_workers", "dnsemu_worker_restarts"}, missing  # one process: no workers
    docs = (TEST_TOPOLOGY.parent.parent.parent / "docs" / "fixture.md").read_text()
    for name, (kind, _, _) in FAMILIES.items():
        shown = name + "_total" if kind == "counter" else name
        assert f"`{shown}`" in docs, f"{shown} is not in docs/fixture.md"


def test_no_label_grows_with_names_or_clients(emulator: Emulator) -> None:
    ask(emulator, "www.example.test", source=ALPHA)
    before = len(scrape(emulator).samples("dnsemu_dns_queries_total"))
    for i in range(60):
        ask(emulator, f"random-{i}.corp.test", source=f"127.0.1.{10 + i}")
    m = scrape(emulator)
    after = m.samples("dnsemu_dns_queries_total")
    assert len(after) == before + 1  # one new series: (udp, alpha, A, NXDOMAIN, nxdomain_private)
    values = {v for s in after for v in s.labels.values()}
    assert not any("random" in v or v.startswith("127.0.1.") for v in values)
    assert "random-" not in m.text and "127.0.1.1" not in m.text


def test_two_servers_in_one_process_do_not_mix() -> None:
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False) as one, \
            Emulator(TEST_TOPOLOGY, http=True, query_log=False) as two:
        assert one.app.registry is not two.app.registry
        for _ in range(3):
            ask(one, "www.example.test", source=ALPHA)
        ask(two, "www.example.test", source=BETA)
        m1, m2 = scrape(one), scrape(two)
    total = "dnsemu_dns_queries_total"
    assert sum(s.value for s in m1.samples(total)) == 3
    assert sum(s.value for s in m2.samples(total)) == 1
    assert {s.labels["view"] for s in m2.samples(total)} == {"vnet:beta"}
    assert "dnsemu_" not in generate_latest(REGISTRY).decode()  # never the global registry
