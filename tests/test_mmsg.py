"""recvmmsg/sendmmsg batches (dnsemu.server.mmsg) on real loopback sockets, and the server on both UDP paths."""

from __future__ import annotations

import ctypes
import errno
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import TEST_TOPOLOGY

from dnsemu.server import mmsg
from dnsemu.testing import Emulator

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value (the socket module of 3.11 lacks the name)

pytestmark = pytest.mark.skipif(not mmsg.available(), reason="recvmmsg/sendmmsg need Linux (ctypes, 64-bit libc)")


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def bound(host: str) -> Iterator[socket.socket]:
    """A non-blocking IPv4 UDP socket on ``host``, an ephemeral port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
def server() -> Iterator[socket.socket]:
    yield from bound("127.0.0.1")


@pytest.fixture
def wildcard() -> Iterator[socket.socket]:
    """On 0.0.0.0 (the tests only send to loopback addresses)."""
    yield from bound("0.0.0.0")


def clients(count: int, family: int = socket.AF_INET) -> list[socket.socket]:
    out = []
    for i in range(count):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((f"127.0.{i // 200 + 1}.{i % 200 + 1}", 0) if family == socket.AF_INET else ("::1", 0))
        s.settimeout(2)
        out.append(s)
    return out


def wait_readable(sock: socket.socket, count: int) -> None:
    """Until ``count`` datagrams wait on ``sock`` (loopback delivery is synchronous, but be patient)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            if len(sock.recv(65535, socket.MSG_PEEK)) >= 0:
                return
        except BlockingIOError:
            time.sleep(0.001)


def echo(data: bytes, addr: Any, tcp: bool) -> bytes:
    """Replies that name their sender, so that a reply sent to the wrong client shows."""
    return data + b"|" + f"{addr[0]}:{addr[1]}".encode()


class Recorder:
    """The batch's two callbacks: what it deferred and what it handed back unsent."""

    def __init__(self) -> None:
        self.later: list[tuple[Any, Any]] = []
        self.leftover: list[tuple[bytes, Any]] = []
        self.ancillary: list[Any] = []

    def defer(self, result: Any, addr: Any, ancillary: Any) -> None:
        self.later.append((result, addr))
        self.ancillary.append(ancillary)

    def keep(self, reply: bytes, addr: Any, ancillary: Any) -> None:
        self.leftover.append((reply, addr))
        self.ancillary.append(ancillary)


def sent(server: socket.socket, count: int, word: Callable[[int], str] = "q{}".format) -> list[socket.socket]:
    """``count`` clients, each of which has sent ``server`` one datagram (``word(i)``), waiting there."""
    senders = clients(count)
    for i, s in enumerate(senders):
        s.sendto(word(i).encode(), server.getsockname())
    wait_readable(server, count)
    return senders


def test_every_reply_goes_back_to_its_own_sender(server: socket.socket) -> None:
    batch = mmsg.Batch(server, size=16)
    senders = sent(server, 40)
    rec = Recorder()
    assert batch.run(echo, rec.defer, rec.keep) == 16  # a full batch
    assert batch.run(echo, rec.defer, rec.keep) == 16
    assert batch.run(echo, rec.defer, rec.keep) == 8
    assert batch.run(echo, rec.defer, rec.keep) == 0  # nothing waiting: no error, no block
    assert rec.later == [] and rec.leftover == []
    for i, s in enumerate(senders):
        host, port = s.getsockname()
        data, peer = s.recvfrom(65535)
        assert data == f"q{i}|{host}:{port}".encode()
        assert peer == server.getsockname()
        s.close()


def test_replies_after_dropped_datagrams_and_in_the_next_batch_reach_their_senders(server: socket.socket) -> None:
    """A send slot answers its own receive slot's sender, unless an earlier datagram of the batch got no reply
    (then it is pointed at the right one); the next batch, every datagram answered, must not inherit that."""
    batch = mmsg.Batch(server, size=8)
    senders = sent(server, 16, lambda i: f"{'drop' if i in (0, 3, 4) else 'q'}{i}")
    rec = Recorder()

    def handler(data: bytes, addr: Any, tcp: bool) -> bytes | None:
        return None if data.startswith(b"drop") else echo(data, addr, tcp)

    assert batch.run(handler, rec.defer, rec.keep) == 8  # five replies in slots 0-4 for datagrams 1, 2, 5, 6, 7
    assert batch.run(handler, rec.defer, rec.keep) == 8  # eight replies, each in its own datagram's slot
    for i, s in enumerate(senders):
        host, port = s.getsockname()
        if i in (0, 3, 4):
            with pytest.raises(TimeoutError):
                s.settimeout(0.05)
                s.recvfrom(65535)
        else:
            assert s.recvfrom(65535)[0] == f"q{i}|{host}:{port}".encode()
        s.close()


def test_datagrams_of_every_size_are_read_whole(server: socket.socket) -> None:
    batch = mmsg.Batch(server, size=4)
    (client,) = clients(1)
    sizes = [0, 1, 512, 4096, 65507]
    seen: list[bytes] = []
    for n in sizes:
        client.sendto(bytes([n % 251]) * n, server.getsockname())
    wait_readable(server, len(sizes))
    rec = Recorder()
    while batch.run(lambda d, a, t: seen.append(d), rec.defer, rec.keep):
        pass
    assert [len(d) for d in seen] == sizes
    assert all(d == bytes([len(d) % 251]) * len(d) for d in seen)
    client.close()


def test_no_reply_an_awaitable_and_an_oversize_reply(server: socket.socket) -> None:
    batch = mmsg.Batch(server, size=8, buffer=512)
    (client,) = clients(1)
    for word in (b"drop", b"later", b"big", b"small"):
        client.sendto(word, server.getsockname())
    wait_readable(server, 4)
    marker = object()

    def handler(data: bytes, addr: Any, tcp: bool) -> Any:
        return {b"drop": None, b"later": marker, b"big": b"B" * 513, b"small": b"ok"}[data]

    rec = Recorder()
    assert batch.run(handler, rec.defer, rec.keep) == 4
    assert rec.later == [(marker, client.getsockname())]
    assert rec.leftover == [(b"B" * 513, client.getsockname())]  # did not fit a 512-octet send slot
    assert client.recv(65535) == b"ok"
    client.close()


def test_a_reply_the_kernel_refuses_is_skipped_and_the_rest_sent(server: socket.socket) -> None:
    """sendmmsg stops at the first datagram it cannot send; the batch skips it and sends the others."""
    batch = mmsg.Batch(server, size=4)
    a, b = clients(2)
    for s in (a, b):
        s.sendto(b"x", server.getsockname())
    wait_readable(server, 2)
    broadcast = socket.inet_aton("255.255.255.255")  # EACCES without SO_BROADCAST
    real = batch._send
    calls: list[int] = []

    def send(fd: int, at: int, count: int, flags: int) -> int:
        if not calls:  # point the first reply at the broadcast address, as if a query had come from there
            name = batch._sname_ptrs[0] - batch._rnames_at
            batch._names[name + 4:name + 8] = broadcast
        calls.append(count)
        return real(fd, at, count, flags)

    batch._send = send
    rec = Recorder()
    assert batch.run(lambda d, addr, t: b"reply", rec.defer, rec.keep) == 2
    assert calls == [2, 1]  # refused at the first, then the second alone
    assert rec.leftover == []
    assert b.recv(65535) == b"reply"
    a.settimeout(0.2)
    with pytest.raises(TimeoutError):
        a.recv(65535)
    a.close()
    b.close()


def test_a_full_socket_buffer_hands_the_unsent_replies_back(server: socket.socket) -> None:
    batch = mmsg.Batch(server, size=8)
    senders = clients(3)
    for s in senders:
        s.sendto(b"x", server.getsockname())
    wait_readable(server, 3)
    real = batch._send

    def send(fd: int, at: int, count: int, flags: int) -> int:
        if count == 3:
            return real(fd, at, 1, flags)  # the kernel took one
        ctypes.set_errno(errno.EAGAIN)
        return -1

    batch._send = send
    rec = Recorder()
    assert batch.run(lambda d, addr, t: f"to {addr[0]}".encode(), rec.defer, rec.keep) == 3
    assert rec.leftover == [(f"to {s.getsockname()[0]}".encode(), s.getsockname()) for s in senders[1:]]
    assert senders[0].recv(65535) == b"to 127.0.1.1"
    for s in senders:
        s.close()


def test_replies_made_before_a_handler_raised_still_go_out(server: socket.socket) -> None:
    batch = mmsg.Batch(server, size=8)
    a, b, c = clients(3)
    for s in (a, b, c):
        s.sendto(b"x", server.getsockname())
    wait_readable(server, 3)
    calls = []

    def handler(data: bytes, addr: Any, tcp: bool) -> bytes:
        calls.append(addr)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return b"ok"

    rec = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        batch.run(handler, rec.defer, rec.keep)
    assert a.recv(65535) == b"ok"
    for s in (a, b, c):
        s.close()


def test_pktinfo_replies_leave_from_the_address_asked(wildcard: socket.socket) -> None:
    """Without it the kernel would answer all three from 127.0.0.1."""
    batch = mmsg.Batch(wildcard, size=8, pktinfo=True)
    port = wildcard.getsockname()[1]
    rec = Recorder()
    senders = clients(6)
    for _ in range(2):  # twice: the second batch reuses slots whose control length the kernel shortened
        for i, s in enumerate(senders):
            s.sendto(b"q", (f"127.0.0.{2 + i % 3}", port))
        wait_readable(wildcard, len(senders))
        drop_first = iter([True, False, True, False, False, False])  # some slots never staged
        assert batch.run(lambda d, a, t, drops=drop_first: None if next(drops) else b"r", rec.defer, rec.keep) == 6
        for i, s in enumerate(senders):
            if i in (0, 2):
                continue
            data, peer = s.recvfrom(65535)
            assert (data, peer) == (b"r", (f"127.0.0.{2 + i % 3}", port))
    for s in senders:
        s.close()


def test_pktinfo_for_replies_sent_later(wildcard: socket.socket) -> None:
    """Deferred and oversize replies get ancillary data that socket.sendmsg sends from the address asked."""
    batch = mmsg.Batch(wildcard, size=4, buffer=512, pktinfo=True)
    port = wildcard.getsockname()[1]
    a, b = clients(2)
    a.sendto(b"later", ("127.0.0.5", port))
    b.sendto(b"big", ("127.0.0.6", port))
    wait_readable(wildcard, 2)
    rec = Recorder()
    marker = object()
    assert batch.run(lambda d, addr, t: marker if d == b"later" else b"B" * 600, rec.defer, rec.keep) == 2
    for (_, where), ancillary, dest in zip(rec.later + rec.leftover, rec.ancillary, ("127.0.0.5", "127.0.0.6"),
                                           strict=True):
        ((level, kind, data),) = ancillary
        assert (level, kind, len(data)) == (socket.IPPROTO_IP, IP_PKTINFO, 12)
        assert data[:4] == bytes(4) and data[4:8] == socket.inet_aton(dest)  # any interface; from dest
        wildcard.sendmsg([b"late"], ancillary, 0, where)
    assert a.recvfrom(65535) == (b"late", ("127.0.0.5", port))
    assert b.recvfrom(65535) == (b"late", ("127.0.0.6", port))
    a.close()
    b.close()


def test_without_pktinfo_there_is_no_ancillary_data(server: socket.socket) -> None:
    batch = mmsg.Batch(server, size=4)
    (client,) = clients(1)
    client.sendto(b"x", server.getsockname())
    wait_readable(server, 1)
    rec = Recorder()
    batch.run(lambda d, a, t: object(), rec.defer, rec.keep)
    assert rec.ancillary == [[]]
    client.close()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_ipv6() -> None:
    server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    server.bind(("::1", 0))
    server.setblocking(False)
    batch = mmsg.Batch(server, size=4)
    senders = clients(3, socket.AF_INET6)
    for i, s in enumerate(senders):
        s.sendto(f"q{i}".encode(), server.getsockname())
    wait_readable(server, 3)
    rec = Recorder()
    assert batch.run(echo, rec.defer, rec.keep) == 3
    for i, s in enumerate(senders):
        host, port, _, _ = s.getsockname()
        assert s.recv(65535) == f"q{i}|{host}:{port}".encode()
        s.close()
    server.close()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_pktinfo_on_an_ipv6_wildcard() -> None:
    server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    server.bind(("::", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    batch = mmsg.Batch(server, size=4, pktinfo=True)
    (client,) = clients(1, socket.AF_INET6)
    client.sendto(b"now", ("::1", port))
    client.sendto(b"later", ("::1", port))
    wait_readable(server, 2)
    rec = Recorder()
    assert batch.run(lambda d, a, t: b"r" if d == b"now" else object(), rec.defer, rec.keep) == 2
    data, peer = client.recvfrom(65535)
    assert (data, peer[:2]) == (b"r", ("::1", port))
    ((level, kind, info),) = rec.ancillary[0]  # in6_pktinfo: the address asked, then the interface
    assert (level, kind, info[:16]) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, socket.inet_pton(socket.AF_INET6,
                                                                                                  "::1"))
    server.sendmsg([b"late"], rec.ancillary[0], 0, rec.later[0][1])
    data, peer = client.recvfrom(65535)
    assert (data, peer[:2]) == (b"late", ("::1", port))
    client.close()
    server.close()


def test_other_families_are_refused() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s, pytest.raises(OSError, match="IPv4 and IPv6"):
        mmsg.Batch(s)


# --------------------------------------------------------------------------- the server on both paths


def answers_a_burst(host: str, port: int) -> None:
    """50 clients at once, half in VNet alpha, half in beta: every reply right for its own view (dnspython)."""
    socks: list[socket.socket] = []
    for i in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.{1 + i % 2}.{10 + i}", 0))
        s.settimeout(3)
        query = dns.message.make_query("TestStore.blob.core.windows.net", "A")
        query.id = i
        s.sendto(query.to_wire(), (host, port))
        socks.append(s)
    for i, s in enumerate(socks):
        reply = dns.message.from_wire(s.recv(65535))
        assert reply.id == i and reply.rcode() == dns.rcode.NOERROR
        assert reply.question[0].name.to_text() == "TestStore.blob.core.windows.net."  # case kept
        addresses = [rr.address for rrset in reply.answer if rrset.rdtype == 1 for rr in rrset]
        if i % 2 == 0:
            assert addresses == ["127.0.1.4"]  # 127.0.1.x: alpha, linked to the privatelink zone
        else:
            assert len(addresses) == 1 and addresses[0].startswith("203.0.113.")  # beta: the public chain
        s.close()


@pytest.mark.parametrize("batch, mode", [(64, "recvmmsg"), (1, "add_reader"), (0, "add_reader")])
def test_in_process_server_on_each_udp_path(batch: int, mode: str) -> None:
    """The fixture's server runs the stock asyncio loop: batches, or the add_reader drain loop."""
    with Emulator(TEST_TOPOLOGY, udp_batch=batch, query_log=False) as emu:
        assert emu.server._udp[0].mode == mode
        answers_a_burst(*emu.address)


@pytest.mark.parametrize("batch", [64, 0])
def test_dnsemu_serve_on_each_udp_path(serve_process: Any, batch: int) -> None:
    """``dnsemu serve`` runs uvloop where installed: batches, or its DatagramProtocol."""
    proc = serve_process("--topology", str(TEST_TOPOLOGY), "--listen", "127.0.0.1:0", "--no-watch",
                         "--no-query-log", "--log-format", "json", "--udp-batch", str(batch))
    answers_a_burst("127.0.0.1", proc.port)
    proc.terminate()
    started = next(json.loads(line) for line in proc.stderr().splitlines() if '"server_started"' in line)
    expected = "recvmmsg" if batch else ("protocol" if started["loop"].startswith("uvloop") else "add_reader")
    assert started["udp"] == expected
