"""The UDP receive paths in process: microseconds per datagram, kernel included, no dnsperf.

    python benchmarks/udp_bench.py [--rounds 400] [--batch 64]

A client socket on 127.0.0.2 sends a burst of ``--batch`` queries from the
benchmark's query file; the timer covers only the server's side of the burst:

* ``recvmmsg``  — :class:`dnsemu.server.mmsg.Batch`: one recvmmsg and one sendmmsg per burst;
* ``recvfrom``  — the one-datagram-per-call loop (``recvfrom_into`` + ``sendto``),
  as the transport's add_reader path does;

each with the real handler (cache hits after a warm-up pass), with an echo
handler (the I/O alone) and with a handler that drops everything (receiving alone).
dnsperf's numbers include the client's wake-ups and loopback delivery on both
sides; this isolates what the server's process pays for each path.

``--python-only`` measures what is left of the ``recvmmsg`` path without the kernel:
the batch's slots are filled with 64 queries of a mix at a time and its two system
calls stubbed out, so the figure is the interpreter's work per datagram (the batch
loop and the handler): the hit mix, the cache-hostile mix (its handler with a reply
cache of 5,000 entries, as ``run.py`` serves it, warmed by one pass), echo and drop.
"""

from __future__ import annotations

import argparse
import gc
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))

from handler_bench import OUT, make_handler, queries  # noqa: E402

from dnsemu.server import mmsg  # noqa: E402

Handler = Callable[[bytes, Any, bool], Any]


def drain(sock: socket.socket) -> None:
    while True:
        try:
            sock.recv(65535)
        except BlockingIOError:
            return


def one_at_a_time(server: socket.socket) -> Callable[[Handler], int]:
    buf = bytearray(65535)
    view = memoryview(buf)

    def run(handler: Handler) -> int:
        n = 0
        while True:
            try:
                size, addr = server.recvfrom_into(buf)
            except BlockingIOError:
                return n
            n += 1
            reply = handler(view[:size].tobytes(), addr, False)
            if reply is not None:
                server.sendto(reply, addr)

    return run


def batched(server: socket.socket, size: int) -> Callable[[Handler], int]:
    batch = mmsg.Batch(server, size=size)

    def run(handler: Handler) -> int:
        n = 0
        while True:
            got = batch.run(handler, lambda r, a, anc: None, lambda r, a, anc: server.sendto(r, a))
            n += got
            if got < size:
                return n

    return run


def python_only(rounds: int) -> None:
    """The batch loop and the handler per datagram, recvmmsg and sendmmsg stubbed (see the module's docstring)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.2", 0))
    size = 64
    batch = mmsg.Batch(server, size=size)
    for _ in range(size):  # one real batch: every slot's sockaddr is the client's
        client.sendto(b"x", server.getsockname())
    time.sleep(0.05)
    assert batch.run(lambda d, a, t: None, print, print) == size
    # the batch's own memory, written as the kernel would: the datagram and its msg_len (private: a benchmark)
    batch._recv = lambda fd, at, n, flags, timeout: size  # type: ignore[method-assign]
    batch._send = lambda fd, at, n, flags: n  # type: ignore[method-assign]
    rmap, rlens, stride = batch._rmap, batch._rlens, mmsg._MMSG_U32

    def fill(data: list[bytes], k: int) -> None:
        for i in range(size):
            q = data[(k + i) % len(data)]
            rmap[i * mmsg._DATAGRAM:i * mmsg._DATAGRAM + len(q)] = q
            rlens[i * stride + mmsg._LEN_U32] = len(q)

    hits = make_handler(OUT / "topologies" / "bench.yaml")
    hostile = make_handler(OUT / "topologies" / "hostile.yaml")
    hostile.cache_size = 5000
    mixes = {"hits": (hits.handle, queries(OUT / "queries.txt")),
             "hostile": (hostile.handle, queries(OUT / "queries-hostile.txt"))}
    reply = b"\0" * 100
    mixes |= {"echo": (lambda d, a, t: reply, mixes["hits"][1]), "drop": (lambda d, a, t: None, mixes["hits"][1])}
    print(f"{'mix':8} µs/datagram of Python, recvmmsg and sendmmsg stubbed (median of 5 runs of {rounds} batches "
          f"of {size})")
    for name, (handler, data) in mixes.items():
        for k in range(0, len(data), size):  # one pass: the reply cache, the lane's sets, shapes and routes
            fill(data, k)
            batch.run(handler, print, print)
        gc.collect()
        gc.freeze()  # as serve does once its index is built
        samples = []
        k = 0
        for _ in range(5):
            total = 0.0
            for _ in range(rounds):
                fill(data, k)
                k += size
                t = time.perf_counter()
                batch.run(handler, print, print)
                total += time.perf_counter() - t
            samples.append(total / (rounds * size) * 1e6)
        print(f"{name:8} {statistics.median(samples):.2f}")
    server.close()
    client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--python-only", action="store_true", help="the batch loop and the handler, system calls stubbed")
    args = ap.parse_args()
    if not mmsg.available():
        print("recvmmsg/sendmmsg are not available here", file=sys.stderr)
        return 1
    if args.python_only:
        python_only(args.rounds)
        return 0
    topology = OUT / "topologies" / "bench.yaml"
    if not topology.exists():
        import workload

        workload.write_all(OUT)
    handler = make_handler(topology)
    qs = queries(OUT / "queries.txt")
    for q in qs:  # warm the reply cache
        handler.handle(q, ("127.0.0.2", 5300), False)

    def server_socket() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.setblocking(False)
        return s

    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.2", 0))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    client.setblocking(False)
    paths = {"recvmmsg": batched, "recvfrom": lambda s, _size: one_at_a_time(s)}
    handlers: dict[str, Handler] = {"handler": handler.handle, "echo": lambda d, a, t: d,
                                    "drop": lambda d, a, t: None}
    print(f"{'path':10} {'handler':8} µs/datagram (median of 5 runs of {args.rounds} bursts of {args.batch})")
    for pname, make in paths.items():
        server = server_socket()
        run = make(server, args.batch)
        dest = server.getsockname()
        for hname, fn in handlers.items():
            samples = []
            k = 0
            for _ in range(5):
                total, count = 0.0, 0
                for _ in range(args.rounds):
                    for _ in range(args.batch):
                        client.sendto(qs[k % len(qs)], dest)
                        k += 1
                    t = time.perf_counter()
                    count += run(fn)
                    total += time.perf_counter() - t
                    drain(client)
                samples.append(total / count * 1e6)
            print(f"{pname:10} {hname:8} {statistics.median(samples):.2f}")
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
