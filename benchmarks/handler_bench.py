"""The handler alone, no sockets: microseconds per query on each path, and where they go (cProfile).

    python benchmarks/handler_bench.py [--profile] [--paths hit,miss,miss-pos,miss-nx,ecs,log]

Calls ``Handler.handle(data, ("127.0.0.2", port), False)`` in a loop with the
benchmark's own queries (``benchmarks/out``, written by ``run.py`` or here):

* ``hit``  — the reference query file, after a warm-up pass (reply cache hits);
* ``miss`` — the cache-hostile file: 100,000 distinct names, every one a miss;
* ``miss-pos`` — its 10,000 names the privatelink zone holds (a positive miss: parse, resolve, encode);
* ``miss-nx`` — its 90,000 names the linked zone lacks (a linked-zone NXDOMAIN miss);
* ``ecs``  — the reference file with ECS 10.1.0.0/24, asked from 127.0.0.1;
* ``log``  — hits with the query log on, JSON lines to a file.

This isolates the Python cost from the kernel's (sendto/recvfrom on loopback) that
dominates the dnsperf numbers on a cache hit.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # after PYTHONPATH: PYTHONPATH=/a/patched/copy measures that copy

import workload  # noqa: E402
from harness import build_query  # noqa: E402

OUT = HERE / "out"


def queries(path: Path, ecs: bytes | None = None, limit: int | None = None, prefix: str = "") -> list[bytes]:
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        if limit is not None and i >= limit:
            break
        name, qtype = line.split()
        if not name.startswith(prefix):
            continue
        out.append(build_query(name, {"A": 1, "AAAA": 28}[qtype], ident=i & 0xFFFF, ecs=ecs))
    return out


def make_handler(topology: Path, query_log: bool = False, log_path: Path | None = None):
    from dnsemu.core.compile import compile_topology
    from dnsemu.logs import configure_logging
    from dnsemu.server.handler import Handler
    from dnsemu.server.settings import load_settings
    from dnsemu.topology.load import load_topology

    settings = load_settings({"topology": topology, "query_log": query_log}, env={})
    stream = log_path.open("w") if log_path is not None else open(os.devnull, "w")  # noqa: SIM115
    configure_logging("info", "json", stream=stream, cache=False)
    return Handler(settings, compile_topology(load_topology(topology)))


def run(handler, data: list[bytes], src: str, rounds: int) -> float:
    handle = handler.handle
    addr = (src, 40000)
    t0 = time.process_time()  # CPU time of this process: less sensitive to other load than wall time
    for _ in range(rounds):
        for q in data:
            handle(q, addr, False)
    return (time.process_time() - t0) / (rounds * len(data)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print the top functions of each path")
    parser.add_argument("--paths", default="hit,miss,miss-pos,miss-nx,ecs,log")
    parser.add_argument("--top", type=int, default=18)
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the handler is built (what serve could do after each compile)")
    args = parser.parse_args()
    files = workload.write_all(OUT) if not (OUT / "queries-hostile.txt").is_file() else {
        "queries": OUT / "queries.txt", "hostile_queries": OUT / "queries-hostile.txt",
        "bench": OUT / "topologies" / "bench.yaml", "hostile": OUT / "topologies" / "hostile.yaml"}
    ecs = bytes.fromhex(workload.ECS_OPTION.split(":")[1])
    cases = {
        "hit": (files["bench"], queries(files["queries"]), "127.0.0.2", False, 20),
        "miss": (files["hostile"], queries(files["hostile_queries"]), "127.0.0.2", False, 1),
        "miss-pos": (files["hostile"], queries(files["hostile_queries"], prefix="host"), "127.0.0.2", False, 1),
        "miss-nx": (files["hostile"], queries(files["hostile_queries"], prefix="nx"), "127.0.0.2", False, 1),
        "ecs": (files["bench"], queries(files["queries"], ecs=ecs), "127.0.0.1", False, 3),
        "log": (files["bench"], queries(files["queries"]), "127.0.0.2", True, 5),
    }
    for name in args.paths.split(","):
        topology, data, src, query_log, rounds = cases[name]
        log_path = OUT / "handler-bench.log" if query_log else None
        handler = make_handler(topology, query_log, log_path)
        run(handler, data[:2000], src, 1)  # warm-up (fills the cache for hits; the lane's label sets and shapes)
        if name.startswith("miss"):  # a cold reply cache again, as in a server that has been answering a while
            handler._state.exact.clear()
            handler._state.cache.clear()
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        us = run(handler, data, src, rounds)
        print(f"{name:8} {us:7.2f} µs/query  ({len(data) * rounds:,} queries)")
        if args.profile:
            if name.startswith("miss"):
                handler._state.exact.clear()
                handler._state.cache.clear()
            prof = cProfile.Profile()
            prof.enable()
            run(handler, data, src, max(1, rounds // 4))
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.top)
            print("\n".join(line for line in buf.getvalue().splitlines() if line.strip())[:6000])
        if log_path is not None:
            log_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
