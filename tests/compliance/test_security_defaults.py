"""Security defaults: not an open resolver, unknown sources per the setting, nothing but DNS listening,
and no traceback or internal path in any reply.

The forwarding rules can only be seen from a source that is neither loopback
(trusted by design: a local client) nor in a modelled network, so that part
runs netns_security_probe.py inside ``unshare --net``: the namespace's own
loopback link carries a stranger (198.18.0.2), a VNet client (198.18.1.5,
estate/security.yaml) and dnsemu (198.18.0.1); a fake upstream on the namespace's loopback counts what reaches it.
With upstreams configured and defaults otherwise:

* a stranger asking for a name outside the topology gets REFUSED and the
  upstream sees nothing (not an open resolver); an ECS option claiming a VNet
  address changes nothing for a stranger (ECS is trusted from loopback only);
* a VNet client and a loopback client are forwarded;
* ``open_resolver`` on forwards for the stranger too;
* ``unknown_sources=refuse`` refuses the stranger everything, public names
  included, while the VNet client is answered; the default ``internet`` gives
  the stranger public answers and never private ones.

The rest runs on loopback: ``unknown_sources`` with 127.0.0.1 as the unknown
source, the listening sockets of a default server, and replies to failing
and hostile queries scanned for anything that looks like a traceback or a path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from dnsemu.core.compile import compile_topology
from dnsemu.server.handler import Handler
from dnsemu.server.settings import load_settings
from dnsemu.topology.load import load_topology

from .corpus import ENTRIES
from .helpers import ESTATE, HERE, ServeProcess, ask, need_tool, query, udp_exchange, unavailable, unshare_works

LEAKS = (b"Traceback", b"File \"", b".py", b"/work/", b"/home/", b"/usr/", b"site-packages", b"dnsemu/",
         b"Error:", b"Exception")


def leaks(reply: bytes) -> list[bytes]:
    return [marker for marker in LEAKS if marker in reply]


# --------------------------------------------------------------------------- inside a namespace


@pytest.fixture(scope="module")
def netns_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[dict[str, object]]]]:
    reason = unshare_works()
    if reason is not None:
        unavailable(f"{reason}: the stranger's address only exists inside a private network namespace")
    need_tool("ip", "iproute2", "/usr/sbin/ip", "/sbin/ip")
    out = tmp_path_factory.mktemp("security")
    done = subprocess.run(["unshare", "--net", sys.executable, str(HERE / "netns_security_probe.py"), str(out)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    yield json.loads(done.stdout.strip().splitlines()[-1])


def row(results: dict[str, list[dict[str, object]]], profile: str, who: str, name: str) -> dict[str, object]:
    return next(r for r in results[profile] if r["who"] == who and r["name"] == name)


def test_not_an_open_resolver_by_default(netns_results: dict) -> None:
    stranger = row(netns_results, "default", "stranger", "outside.example.net.")
    assert stranger["rcode"] == "REFUSED" and stranger["upstream_queries"] == 0, stranger
    spoofed = row(netns_results, "default", "stranger-ecs-inside", "outside.example.net.")
    assert spoofed["rcode"] == "REFUSED" and spoofed["upstream_queries"] == 0, spoofed


def test_modelled_networks_and_loopback_are_forwarded(netns_results: dict) -> None:
    for who in ("inside", "loopback"):
        answer = row(netns_results, "default", who, "outside.example.net.")
        assert answer["rcode"] == "NOERROR" and answer["answer"] == ["192.0.2.99"], answer
        assert answer["upstream_queries"] == 1, answer


def test_open_resolver_is_an_explicit_choice(netns_results: dict) -> None:
    answer = row(netns_results, "open-resolver", "stranger", "outside.example.net.")
    assert answer["rcode"] == "NOERROR" and answer["upstream_queries"] == 1, answer


def test_strangers_get_public_answers_only_by_default(netns_results: dict) -> None:
    assert row(netns_results, "default", "stranger", "www.contoso.com.")["answer"] == ["198.51.100.80"]
    for who in ("stranger", "stranger-ecs-inside"):
        private = row(netns_results, "default", who, "www.corp.example.")
        assert private["rcode"] == "REFUSED" and not private["answer"], private
    assert row(netns_results, "default", "inside", "www.corp.example.")["answer"] == ["10.30.0.80"]


def test_unknown_sources_refuse(netns_results: dict) -> None:
    for name in ("www.contoso.com.", "outside.example.net.", "www.corp.example."):
        refused = row(netns_results, "refuse-unknown", "stranger", name)
        assert refused["rcode"] == "REFUSED" and refused["upstream_queries"] == 0, refused
    inside = row(netns_results, "refuse-unknown", "inside", "www.contoso.com.")
    assert inside["answer"] == ["198.51.100.80"], inside


def test_no_leak_in_namespace_replies(netns_results: dict) -> None:
    for rows in netns_results.values():
        for r in rows:
            assert not leaks(bytes.fromhex(str(r.get("raw", "")))), r


# --------------------------------------------------------------------------- on loopback


def test_unknown_sources_setting_on_loopback(tmp_path: Path) -> None:
    """127.0.0.1 is in no modelled network: public answers by default, REFUSED with unknown_sources=refuse."""
    for setting, want in (("internet", dns.rcode.NOERROR), ("refuse", dns.rcode.REFUSED)):
        with ServeProcess(tmp_path / setting, settings={"unknown_sources": setting}) as server:
            public = ask(query("www.contoso.com."), server.udp, source="127.0.0.1")
            assert public is not None and public.rcode() == want, public
            inside = ask(query("www.corp.example."), server.udp, source="127.0.1.20")
            assert inside is not None and inside.rcode() == dns.rcode.NOERROR and inside.answer
            private = ask(query("mystorage.blob.core.windows.net."), server.udp, source="127.0.0.1")
            assert private is not None and "127.0.1.4" not in private.to_text()


def _listening_inodes() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                out.setdefault(fields[9], set()).add(fields[1])
    return out


def test_only_dns_listens_by_default(dnsemu_proc: ServeProcess) -> None:
    """A default server listens on its DNS port and nothing else: no HTTP API, no metrics port."""
    inodes = set()
    for fd in os.listdir(f"/proc/{dnsemu_proc.pid}/fd"):
        target = os.readlink(f"/proc/{dnsemu_proc.pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = {inode: addrs for inode, addrs in _listening_inodes().items() if inode in inodes}
    ports = {int(addr.rsplit(":", 1)[1], 16) for addrs in listening.values() for addr in addrs}
    assert ports == {dnsemu_proc.tcp[1]}, f"listening on {ports}, the DNS port is {dnsemu_proc.tcp[1]}"


def test_no_traceback_or_path_in_any_reply(dnsemu_proc: ServeProcess) -> None:
    """Every reply to the hostile corpus, scanned: nothing that looks like a traceback or a file path."""
    scanned = 0
    for entry in ENTRIES:
        reply = udp_exchange(entry.wire, dnsemu_proc.udp, timeout=0.3) if entry.expect != "DROP" else None
        if reply is not None:
            scanned += 1
            assert not leaks(reply), (entry.name, reply)
    assert scanned > 100


def test_an_internal_error_answers_servfail_without_detail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the resolver to raise: the client gets a bare SERVFAIL, the log gets the traceback."""
    import dnsemu.server.handler.handler as handler_module

    secret = "boom at /work/secret/dnsemu/core/resolver.py line 42"

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError(secret)

    logged: list[tuple[str, dict]] = []

    class Logger:
        def exception(self, event: str, **kw: object) -> None:
            logged.append((event, kw))

        def __getattr__(self, name: str) -> object:
            return lambda *a, **k: None

    patched = [name for name, value in vars(handler_module).items()  # whatever the handler calls the resolver by
               if callable(value) and getattr(value, "__module__", "") == "dnsemu.core.resolver"]
    assert patched, "the handler no longer imports a resolver function"
    for name in patched:
        monkeypatch.setattr(handler_module, name, explode)
    settings = load_settings({"topology": str(ESTATE), "query_log": False}, env={})
    handler = Handler(settings, compile_topology(load_topology(ESTATE)), logger=Logger())
    for tcp in (False, True):
        message = query("www.contoso.com.")
        reply = handler.handle(message.to_wire(), ("127.0.0.1", 5353), tcp)
        assert isinstance(reply, bytes)
        parsed = dns.message.from_wire(reply)
        assert parsed.id == message.id and parsed.rcode() == dns.rcode.SERVFAIL
        assert not parsed.answer and not parsed.authority
        assert not leaks(reply) and b"boom" not in reply
    assert handler.stats.errors["internal"] == 2
    assert logged and logged[0][0] == "internal_error"
