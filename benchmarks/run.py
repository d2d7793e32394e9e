"""dnsemu against BIND, Knot, Unbound and dnsmasq on the same split-horizon work, side by side (issue 6).

    python benchmarks/run.py            # the full suite, about 20 minutes on 2 cores
    python benchmarks/run.py --quick    # short runs, 1 pass, scale up to 100k records (about 6 minutes)
    python benchmarks/run.py --only main,hostile --update-readme

Installs the peers from Debian packages when they are missing (as root, services kept
from starting), writes the workload of ``shared/reference/peer-bench`` under
``benchmarks/out/``, starts every server on 127.0.0.1 (server pinned to CPU0, dnsperf to
CPU1) and prints Markdown tables: throughput, mean and p99 latency, server CPU per query
and dnsemu's ratio to each peer; then a cache-hostile mix, ECS, TCP, ``--workers 2``,
topology scale (compile time and memory), reload under load and query logging, and
which issue-6 targets are met. Results also go to ``benchmarks/out/results.{md,json}``.
Traffic goes to 127.0.0.1 only; every child process has a time bound.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import workload  # noqa: E402
from harness import PerfResult, Server, ask, dnsperf, rss_kib, tail, version  # noqa: E402

OUT = HERE / "out"
DNSEMU_SRC = REPO  # --dnsemu-src: the tree whose dnsemu package is measured
X = "\u00d7"  # the multiplication sign
FOREIGN_LIMIT = 20.0  # % of a core used by other processes during a run before it is repeated
PEERS = ("bind", "knot", "unbound", "dnsmasq")
PACKAGES = {"bind": ("bind9", "/usr/sbin/named"), "knot": ("knot", "/usr/sbin/knotd"),
            "unbound": ("unbound", "/usr/sbin/unbound"), "dnsmasq": ("dnsmasq-base", "/usr/sbin/dnsmasq"),
            "dnsperf": ("dnsperf", "/usr/bin/dnsperf")}
LABELS = {
    "dnsemu": "dnsemu (1 worker, uvloop, recvmmsg)",
    "dnsemu-single": "dnsemu, one datagram per call (--udp-batch 0)",
    "bind": "BIND 9 (2 views)",
    "knot": "Knot + mod-geoip (QNAME split)",
    "unbound": "Unbound views (CNAME only)",
    "dnsmasq": "dnsmasq (no split)",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- install and environment


def install(notes: list[str]) -> None:
    """apt-get install what is missing (root only); services are kept from starting by policy-rc.d."""
    missing = [pkg for pkg, path in PACKAGES.values() if not Path(path).exists()]
    if not any(Path(p).exists() for p in ("/usr/lib/x86_64-linux-gnu/knot/modules-3.2/geoip.so",)) and \
            not list(Path("/usr/lib").glob("*/knot/modules-*/geoip.so")):
        missing.append("knot-module-geoip")
    if not missing:
        return
    if os.geteuid() != 0:
        notes.append(f"not root: cannot install {', '.join(missing)}")
        return
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        made_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        log(f"apt-get install {' '.join(missing)}")
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, timeout=900,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:  # one at a time, so one missing package does not block the others
            for pkg in missing:
                one = subprocess.run(["apt-get", "install", "-y", "-qq", pkg], env=env, timeout=600,
                                     capture_output=True, text=True, check=False)
                if one.returncode != 0:
                    notes.append(f"package {pkg} could not be installed: {one.stderr.strip().splitlines()[-1:]}")
    finally:
        if made_policy:
            policy.unlink()


def machine_info() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        import uvloop

        uv = uvloop.__version__
    except ImportError:
        uv = "not installed"
    commit = subprocess.run(["git", "-C", str(DNSEMU_SRC), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    if DNSEMU_SRC != REPO:
        commit = f"{commit} of {DNSEMU_SRC}"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": uv,
        "dnsperf": version(["dnsperf", "-h"], r"Version (\S+)"),
        "bind": version(["/usr/sbin/named", "-v"], r"BIND (\S+)"),
        "knot": version(["/usr/sbin/knotd", "-V"], r"\(Knot DNS\),? version (\S+)|(\d+\.\d+\.\d+)"),
        "unbound": version(["/usr/sbin/unbound", "-V"], r"Version (\S+)"),
        "dnsmasq": version(["/usr/sbin/dnsmasq", "-v"], r"version (\S+)"),
        "dnsemu_commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# --------------------------------------------------------------------------- servers


def dnsemu_server(name: str, topology: Path, port: int, *, workers: int = 1, query_log: bool = False,
                  extra: Iterable[str] = ()) -> Server:
    argv = [sys.executable, "-m", "dnsemu", "serve", "--topology", str(topology), "--listen", f"127.0.0.1:{port}",
            "--workers", str(workers), "--no-watch", "--log-format", "json"]
    argv += ["--query-log", "--log-level", "info"] if query_log else ["--no-query-log", "--log-level", "info"]
    argv += list(extra)
    if not any(a.startswith("--index-cache") for a in argv) and (DNSEMU_SRC / "dnsemu/server/indexcache.py").exists():
        # every section measures the build, but the startup one (issue 18); a tree from before the cache has
        # no such flag and would not start (--dnsemu-src on an older commit)
        argv.append("--no-index-cache")
    env = {"PYTHONPATH": str(DNSEMU_SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # cwd: out/, so that `python -m` finds dnsemu on PYTHONPATH (DNSEMU_SRC), not in the current directory
    return Server(name, LABELS.get(name, name), port, argv, OUT / "logs" / f"{name}.log", env=env, cwd=OUT)


def peer_server(name: str, conf: Path, port: int, threads: int = 1) -> Server:
    argv = {
        "bind": ["/usr/sbin/named", "-g", "-n", str(threads), "-c", str(conf)],
        "knot": ["/usr/sbin/knotd", "-c", str(conf)],
        "unbound": ["/usr/sbin/unbound", "-d", "-c", str(conf)],
        "dnsmasq": ["/usr/sbin/dnsmasq", "-k", "-C", str(conf)],
    }[name]
    return Server(name, LABELS[name], port, argv, OUT / "logs" / f"{name}.log")


class Fleet:
    """The servers of one sitting; all stopped on exit, each by its own pid."""

    def __init__(self) -> None:
        self.servers: dict[str, Server] = {}

    def start(self, server: Server, pin: str | None = "0", timeout: float = 120) -> Server | None:
        try:
            server.start(pin=pin, timeout=timeout)
        except RuntimeError as exc:
            log(f"cannot start {server.name}: {exc}")
            return None
        self.servers[server.name] = server
        log(f"{server.name} ready on 127.0.0.1:{server.port} in {server.ready_s:.2f} s (pid {server.pid})")
        return server

    def stop(self, name: str) -> None:
        server = self.servers.pop(name, None)
        if server is not None:
            server.stop()

    def stop_all(self) -> None:
        for name in list(self.servers):
            self.stop(name)


# --------------------------------------------------------------------------- measurements


def median_result(runs: list[PerfResult]) -> PerfResult:
    """The run with the median q/s, its CPU per query replaced by the median of the runs."""
    good = [r for r in runs if r.completed]
    if not good:
        return runs[0] if runs else PerfResult("?", error="no run")
    ordered = sorted(good, key=lambda r: r.qps)
    mid = ordered[(len(ordered) - 1) // 2]
    out = PerfResult(**{k: v for k, v in mid.__dict__.items()})
    cpus = [r.us_per_query for r in good if r.us_per_query is not None]
    if cpus:
        med = statistics.median(cpus)
        out.srv_cpu_s = med * out.completed / 1e6
    out.error = ""
    return out


def answer_check(servers: dict[str, Server]) -> dict[str, dict[str, str]]:
    """What each server answers: internal view, external view, a nonexistent name, ECS (10.1.0.0/24)."""
    ecs = bytes.fromhex(workload.ECS_OPTION.split(":")[1])
    out = {}
    for name, s in servers.items():
        row = {}
        for key, qname, src, opt in (("internal", "acct7.blob.core.windows.net", "127.0.0.2", None),
                                     ("external", "acct7.blob.core.windows.net", "127.0.0.1", None),
                                     ("nonexistent", "nosuch7.blob.core.windows.net", "127.0.0.2", None),
                                     ("ecs", "acct7.blob.core.windows.net", "127.0.0.1", ecs)):
            reply = ask(s.port, qname, src=src, ecs=opt)
            if reply is None:
                row[key] = "no reply"
            else:
                rcode = {0: "NOERROR", 3: "NXDOMAIN", 5: "REFUSED", 2: "SERVFAIL"}.get(reply.rcode, str(reply.rcode))
                row[key] = f"{rcode} {','.join(reply.addresses()) or '-'} ({len(reply.answers)} RR, {reply.size} B)"
        out[name] = row
    return out


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.limit = args.limit or (3 if self.quick else 10)
        self.runs = args.runs or (1 if self.quick else 3)
        self.fleet = Fleet()
        self.files: dict[str, Path] = {}
        self.results: dict[str, Any] = {"notes": []}
        self.md: list[str] = []
        self.raw = OUT / "raw"

    @property
    def notes(self) -> list[str]:
        return self.results["notes"]

    def perf(self, server: Server, tag: str, **kw: Any) -> PerfResult:
        """One dnsperf run; repeated (twice at most) when other processes took over 20 % of a core."""
        kw.setdefault("limit", self.limit)
        queries = kw.pop("queries", self.files["queries"])
        for attempt in range(3):
            r = dnsperf(server, server.port, queries, self.raw, tag, **kw)
            if r.foreign_cpu_pct <= FOREIGN_LIMIT or kw["limit"] <= 2 or attempt == 2:
                break
            self.results.setdefault("repeated", []).append(f"{tag}: other processes {r.foreign_cpu_pct:.0f} %")
            log(f"  {tag}: other processes used {r.foreign_cpu_pct:.0f} % of a core, run again "
                f"({attempt + 1}/2)")
            time.sleep(3)
        srv = f"{r.us_per_query:.2f} µs/q" if r.us_per_query else "-"
        p99 = f", p99 {r.p99_ms:.3f} ms" if r.p99_ms is not None else ""
        log(f"  {tag}: {r.qps:,.0f} q/s, lost {r.lost}, avg {r.avg_ms:.3f} ms{p99}, srv {srv}, "
            f"other {r.foreign_cpu_pct:.0f} %{', ' + r.error if r.error else ''}")
        return r

    # -- sections

    def main_table(self) -> None:
        """Pinned: every server on CPU0, dnsperf on CPU1; interleaved passes; then -v latency runs."""
        fleet = self.fleet
        order = ["dnsemu", "dnsemu-single", *[p for p in PEERS if p in fleet.servers]]
        order = [n for n in order if n in fleet.servers]
        for name in order:  # warm-up
            self.perf(fleet.servers[name], f"warmup-{name}", limit=2)
        runs: dict[str, list[PerfResult]] = {n: [] for n in order}
        for i in range(self.runs):
            for name in order:
                runs[name].append(self.perf(fleet.servers[name], f"main-{name}-{i}"))
        lat_sat, lat_5k = {}, {}
        for name in order:
            lat_sat[name] = self.perf(fleet.servers[name], f"lat-sat-{name}", verbose=True)
            lat_5k[name] = self.perf(fleet.servers[name], f"lat-5k-{name}", verbose=True, qps=5000)
        table = {}
        for name in order:
            m = median_result(runs[name])
            table[name] = {
                "qps": m.qps, "qps_runs": [r.qps for r in runs[name]], "avg_ms": m.avg_ms, "max_ms": m.max_ms,
                "us_per_query": m.us_per_query, "lost": m.lost, "response_size": m.response_size,
                "rcodes": m.rcodes, "client_cpu_pct": m.client_cpu_s / m.runtime_s * 100 if m.runtime_s else None,
                "srv_cpu_pct": m.srv_cpu_s / m.runtime_s * 100 if m.runtime_s else None,
                "foreign_cpu_pct": m.foreign_cpu_pct,
                "p50_sat_ms": lat_sat[name].p50_ms, "p99_sat_ms": lat_sat[name].p99_ms,
                "p50_5k_ms": lat_5k[name].p50_ms, "p99_5k_ms": lat_5k[name].p99_ms,
                "p999_5k_ms": lat_5k[name].p999_ms, "lost_5k": lat_5k[name].lost,
            }
        self.results["main"] = table
        self.section_md_main(table)

    def section_md_main(self, table: dict[str, dict[str, Any]]) -> None:
        d = table.get("dnsemu")
        lines = [
            f"### Pinned, one worker: server on CPU0, dnsperf on CPU1 (`-c 10 -q 100`, {self.limit:g} s runs, "
            f"median of {self.runs})",
            "",
            "| server | q/s (runs) | mean ms | p99 ms @sat | p99 ms @5k | srv CPU µs/q | srv / dnsperf / other CPU % "
            "| reply B | dnsemu q/s ÷ | dnsemu µs/q ÷ | dnsemu p99 ÷ |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, row in table.items():
            ratios = ["", "", ""]
            if d and name != "dnsemu":
                ratios = [ratio(d["qps"], row["qps"]), ratio(d["us_per_query"], row["us_per_query"]),
                          ratio(d["p99_sat_ms"], row["p99_sat_ms"])]
            lines.append(
                f"| {LABELS.get(name, name)} | **{row['qps']:,.0f}** ({runs_text(row['qps_runs'])}) | "
                f"{fmt(row['avg_ms'], 3)} | {fmt(row['p99_sat_ms'], 3)} | {fmt(row['p99_5k_ms'], 3)} | "
                f"{fmt(row['us_per_query'], 2)} | {fmt(row['srv_cpu_pct'], 0)} / {fmt(row['client_cpu_pct'], 0)} / "
                f"{fmt(row['foreign_cpu_pct'], 0)} | {row['response_size']:.0f} | "
                f"{' | '.join(ratios)} |")
        lines += ["", "Ratios are dnsemu's value divided by the peer's (q/s: higher is better for dnsemu; "
                  "µs/q and p99: lower is better). p99 comes from separate `-v` runs (per-query latencies), "
                  "one at saturation and one at `-Q 5000`."]
        self.md += [*lines, ""]

    def answers(self) -> None:
        check = answer_check(self.fleet.servers)
        self.results["answers"] = check
        lines = ["### What each server answers", "",
                 "| server | acct7 from 127.0.0.2 (internal) | acct7 from 127.0.0.1 (external) | "
                 "nosuch7 from 127.0.0.2 | acct7 from 127.0.0.1 with ECS 10.1.0.0/24 |",
                 "| --- | --- | --- | --- | --- |"]
        for name, row in check.items():
            lines.append(f"| {LABELS.get(name, name)} | {row['internal']} | {row['external']} | "
                         f"{row['nonexistent']} | {row['ecs']} |")
        self.md += [*lines, ""]

    def variant(self, key: str, title: str, servers: list[Server], dnsemu_runs: int, note: str,
                **kw: Any) -> dict[str, Any]:
        """One workload against several servers (dnsemu gets ``dnsemu_runs`` runs, peers one)."""
        rows: dict[str, Any] = {}
        for s in servers:
            n = dnsemu_runs if s.name.startswith("dnsemu") else 1
            runs = [self.perf(s, f"{key}-{s.name}-{i}", **kw) for i in range(n)]
            m = median_result(runs)
            rows[s.name] = {"qps": m.qps, "avg_ms": m.avg_ms, "max_ms": m.max_ms, "us_per_query": m.us_per_query,
                            "lost": m.lost, "sent": m.sent, "rcodes": m.rcodes, "runs": len(runs),
                            "error": m.error}
        self.results[key] = rows
        d = next((v for k, v in rows.items() if k.startswith("dnsemu")), None)
        lines = [f"### {title}", "", note, "",
                 "| server | q/s | mean ms | max ms | srv CPU µs/q | lost | dnsemu q/s ÷ | rcodes |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for name, row in rows.items():
            r = ratio(d["qps"], row["qps"]) if d and not name.startswith("dnsemu") else ""
            lines.append(f"| {LABELS.get(name, name)} | {row['qps']:,.0f} | {fmt(row['avg_ms'], 3)} | "
                         f"{fmt(row['max_ms'], 2)} | {fmt(row['us_per_query'], 2)} | {row['lost']} | {r} | "
                         f"{row['rcodes'][:80]} |")
        self.md += [*lines, ""]
        return rows

    def hostile(self) -> None:
        http_port = workload.PORTS["dnsemu-hostile-http"]
        s = dnsemu_server("dnsemu-hostile", self.files["hostile"], workload.PORTS["dnsemu-hostile"],
                          extra=("--cache-size", str(HOSTILE_CACHE),
                                 "--http", "--http-listen", f"127.0.0.1:{http_port}"))
        server = self.fleet.start(s)
        servers = ([server] if server else []) + [self.fleet.servers[p] for p in PEERS if p in self.fleet.servers]
        rows = self.variant(
            "hostile", "Cache-hostile mix: 100,000 distinct names", servers, self.runs,
            "Every query is a different name asked straight in the linked `privatelink.blob` zone from "
            "127.0.0.2: 90,000 absent (NXDOMAIN from the linked zone) and 10,000 present (dnsemu's "
            "topology adds them to the zone; the peers have only the 200 names, so they answer NXDOMAIN "
            "to all). dnsperf cycles through the file in order, so no name repeats within 100,000 "
            f"queries. dnsemu runs with a reply cache of {HOSTILE_CACHE:,} entries, fewer than the 10,000 present "
            "names, so that none is still cached when it comes round again (the default 10,000 holds exactly "
            "the 10,000, and every present name would be a cache hit from the second pass on); its own hit "
            "counter, read from /metrics after the runs, is in the last line (a few thousand: each dnsperf run "
            "starts again from the top of the file, where the last run's most recent names may still be).",
            queries=self.files["hostile_queries"])
        if server and "dnsemu-hostile" in rows:
            hits = cache_hits(http_port)
            rows["dnsemu-hostile"]["cache_hits"] = hits
            self.md.insert(len(self.md) - 1, f"dnsemu's reply cache hits over these runs (`dnsemu_cache_hits`): "
                           f"{'unknown (/metrics did not answer)' if hits is None else f'{hits:,}'}.\n")
        self.fleet.stop("dnsemu-hostile")

    def ecs(self) -> None:
        servers = [self.fleet.servers[n] for n in ("dnsemu", *PEERS) if n in self.fleet.servers]
        self.variant("ecs", "ECS: every query carries EDNS Client Subnet 10.1.0.0/24", servers, self.runs,
                     "Sent from 127.0.0.1 (the external view by source) with `-E 8:000118000a0100`; dnsemu trusts "
                     "ECS from 127.0.0.0/8 and answers as the VNet (10.1.0.N), so every answer depends on the "
                     "option. The peers ignore ECS for their view choice (answers from their external view).",
                     src="127.0.0.1", edns_option=workload.ECS_OPTION)

    def tcp(self) -> None:
        servers = [self.fleet.servers[n] for n in ("dnsemu", *PEERS) if n in self.fleet.servers]
        clients = 50 if self.quick else 100
        self.variant("tcp", f"TCP: {clients} connections, pipelined", servers, self.runs,
                     f"`dnsperf -m tcp -c {clients} -q 500`: {clients} connections, up to 500 queries outstanding "
                     "in all (several in flight per connection). dnsmasq forks a process per TCP connection "
                     "(at most 20): it is not built for this.",
                     mode="tcp", clients=clients, outstanding=500)

    def workers(self) -> None:
        """Unpinned: --workers 2 vs one worker, and --workers 2 with /metrics scraped vs without, dnsperf -c 40."""
        topo = self.files["bench"]
        rows: dict[str, Any] = {}
        servers = []
        http_port = workload.PORTS["dnsemu-2w-metrics-http"]
        for name, n, extra in (("dnsemu-1w", 1, ()), ("dnsemu-2w", 2, ()),
                               ("dnsemu-2w-metrics", 2, ("--http", "--http-listen", f"127.0.0.1:{http_port}"))):
            s = self.fleet.start(dnsemu_server(name, topo, workload.PORTS[name], workers=n, extra=extra), pin=None)
            if s:
                servers.append(s)
        scrapes: list[float] = []
        if len(servers) == 3:
            for s in servers:
                self.perf(s, f"warmup-{s.name}", limit=2, pin=None, clients=40)
            runs: dict[str, list[PerfResult]] = {s.name: [] for s in servers}
            for i in range(self.runs):
                for s in servers:
                    with Scraper(http_port if s.name == "dnsemu-2w-metrics" else None, SCRAPE_EVERY) as scraper:
                        runs[s.name].append(self.perf(s, f"workers-{s.name}-{i}", pin=None, clients=40))
                    scrapes += scraper.seconds
            for s in servers:
                m = median_result(runs[s.name])
                rows[s.name] = {"qps": m.qps, "qps_runs": [r.qps for r in runs[s.name]], "avg_ms": m.avg_ms,
                                "us_per_query": m.us_per_query, "lost": m.lost,
                                "srv_cpu_pct": m.srv_cpu_s / m.runtime_s * 100 if m.runtime_s else None,
                                "client_cpu_pct": m.client_cpu_s / m.runtime_s * 100 if m.runtime_s else None}
        for s in servers:
            self.fleet.stop(s.name)
        self.results["workers"] = rows
        shown = {"dnsemu-1w": "one worker", "dnsemu-2w": "`--workers 2`, metrics off",
                 "dnsemu-2w-metrics": f"`--workers 2 --http`, /metrics scraped every {SCRAPE_EVERY:g} s"}
        lines = ["### Unpinned: `--workers 2` against one worker, metrics on and off (`dnsperf -c 40`, nothing pinned)",
                 "", "| dnsemu | q/s (runs) | mean ms | srv CPU µs/q | srv / dnsperf CPU % | lost |",
                 "| --- | --- | ---: | ---: | ---: | ---: |"]
        for name, row in rows.items():
            runs_text = ", ".join(f"{q:,.0f}" for q in row["qps_runs"])
            lines.append(f"| {shown.get(name, name)} | **{row['qps']:,.0f}** ({runs_text}) | {fmt(row['avg_ms'], 3)} | "
                         f"{fmt(row['us_per_query'], 2)} | {fmt(row['srv_cpu_pct'], 0)} / "
                         f"{fmt(row['client_cpu_pct'], 0)} | {row['lost']} |")
        if "dnsemu-1w" in rows and "dnsemu-2w" in rows:
            lines += ["", f"2 workers ÷ 1 worker: **{ratio(rows['dnsemu-2w']['qps'], rows['dnsemu-1w']['qps'])}**"]
            off, on = rows["dnsemu-2w"], rows.get("dnsemu-2w-metrics")
            if on and off["qps"] and on["qps"]:
                cost = 1 - on["qps"] / off["qps"]
                rows["metrics_cost"] = {"qps": cost, "scrape_ms": statistics.median(scrapes) * 1000 if scrapes
                                        else None, "scrapes": len(scrapes)}
                scrape = (f"; one scrape (the parent asks both workers and adds up) took "
                          f"{statistics.median(scrapes) * 1000:.1f} ms (median of {len(scrapes)})" if scrapes else "")
                verdict = (f"{cost * 100:.1f} % of throughput lost to scraping every {SCRAPE_EVERY:g} s" if cost > 0
                           else "no throughput lost to scraping (on was the faster: run-to-run noise)")
                lines += ["", f"Metrics on ÷ off (`--workers 2`): **{ratio(on['qps'], off['qps'])}**, {verdict}"
                          f"{scrape}. Prometheus scrapes every 15 to 60 s; a difference smaller than the spread of "
                          "the runs is noise."]
            one = rows["dnsemu-1w"]
            if one["us_per_query"] and one["client_cpu_pct"] and one["qps"]:
                # dnsperf shares the machine: every answered query costs the server's CPU and dnsperf's
                client_us = one["client_cpu_pct"] / 100 * 1e6 / one["qps"]
                ceiling = (os.cpu_count() or 1) * 1e6 / (one["us_per_query"] + client_us)
                rows["ceiling"] = {"qps": ceiling, "client_us_per_query": client_us}
                lines += ["", f"Ceiling on this machine, whatever the number of workers: {os.cpu_count()} cores ÷ "
                          f"({one['us_per_query']:.2f} µs of server + {client_us:.2f} µs of dnsperf per query) = "
                          f"{ceiling:,.0f} q/s, {ratio(ceiling, one['qps'])} one worker."]
        self.md += [*lines, ""]

    def logging(self) -> None:
        """Query log at INFO (JSON lines) to a file vs off, pinned, interleaved."""
        s = self.fleet.start(dnsemu_server("dnsemu-log", self.files["bench"], workload.PORTS["dnsemu-log"],
                                           query_log=True))
        base = self.fleet.servers.get("dnsemu")
        if s is None or base is None:
            return
        self.perf(s, "warmup-dnsemu-log", limit=2)
        runs: dict[str, list[PerfResult]] = {"off": [], "on": []}
        log_bytes = []
        for i in range(self.runs):
            runs["off"].append(self.perf(base, f"log-off-{i}"))
            size0 = s.log.stat().st_size
            runs["on"].append(self.perf(s, f"log-on-{i}"))
            log_bytes.append(s.log.stat().st_size - size0)
        off, on = median_result(runs["off"]), median_result(runs["on"])
        lines_logged = 0
        with s.log.open("rb") as f:
            for line in f:
                if b'"dns_query"' in line:
                    lines_logged += 1
        sample = ""
        with s.log.open("rb") as f:
            for line in f:
                if b'"dns_query"' in line:
                    sample = line.decode(errors="replace").strip()
                    break
        self.fleet.stop("dnsemu-log")
        with contextlib.suppress(OSError):
            s.log.unlink()  # hundreds of MB
        self.results["logging"] = {"off_qps": off.qps, "on_qps": on.qps, "off_us": off.us_per_query,
                                   "on_us": on.us_per_query, "log_bytes_per_run": log_bytes,
                                   "lines_logged": lines_logged, "sample": sample}
        cost = 1 - on.qps / off.qps if off.qps else None
        self.results["logging"]["cost"] = cost
        self.md += ["### Per-query logging: INFO, JSON lines to a file, against off (pinned)", "",
                    "| query log | q/s | srv CPU µs/q | bytes logged per run |", "| --- | ---: | ---: | ---: |",
                    f"| off (`--no-query-log`) | {off.qps:,.0f} | {fmt(off.us_per_query, 2)} | 0 |",
                    f"| on (`--query-log --log-level info`, stderr to a file) | {on.qps:,.0f} | "
                    f"{fmt(on.us_per_query, 2)} | {statistics.median(log_bytes) / 1e6:,.0f} MB |", "",
                    f"Throughput cost of logging: **{fmt(cost * 100 if cost is not None else None, 1)} %**. "
                    f"A line: `{sample[:300]}`", ""]

    def scale(self) -> None:
        sizes = [1_000, 10_000, 100_000] + ([] if self.quick else [1_000_000])
        rows = {}
        for size in sizes:
            topo = workload.write_scale_topology(OUT, size)
            log(f"scale: {size:,} records: load + compile in a fresh process")
            row: dict[str, Any] = {}
            try:
                done = subprocess.run([sys.executable, str(HERE / "scale_probe.py"), str(topo)], capture_output=True,
                                      text=True, timeout=900, cwd=OUT,
                                      env=dict(os.environ, PYTHONPATH=str(DNSEMU_SRC)), check=False)
                row.update(json.loads(done.stdout.strip().splitlines()[-1]))
            except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
                row["error"] = f"probe failed: {exc!r}"
            log(f"  {row}")
            server = dnsemu_server(f"dnsemu-scale-{size}", topo, workload.PORTS["dnsemu-scale"])
            server.probe = "h1.z0.scale.internal"
            s = self.fleet.start(server, pin="0", timeout=900)
            if s is not None:
                row["serve_ready_s"] = s.ready_s
                row["serve_rss_kib"] = rss_kib(s.pid)
                self.fleet.stop(s.name)
            else:
                row.setdefault("error", "serve did not start")
            rows[size] = row
        self.results["scale"] = rows
        lines = ["### Topology scale: load (YAML + zone files, validation) and compile, then `dnsemu serve`", "",
                 "| records | load s | compile s | load + compile s | RSS after compile MB | peak RSS MB "
                 "| `dnsemu serve` ready s | serve RSS MB | RSS per 100k records MB |",
                 "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for size, row in rows.items():
            if "load_s" not in row:
                lines.append(f"| {size:,} | {row.get('error', '?')} | | | | | | | |")
                continue
            # per 100k records: only meaningful once the records outweigh the interpreter's own noise
            per100k = (row["rss_kib"] - row["base_rss_kib"]) / 1024 / size * 100_000 if size >= 100_000 else None
            lines.append(
                f"| {size:,} | {row['load_s']:.2f} | {row['compile_s']:.2f} | {row['load_s'] + row['compile_s']:.2f} | "
                f"{row['rss_kib'] / 1024:,.0f} | {row['hwm_kib'] / 1024:,.0f} | {fmt(row.get('serve_ready_s'), 2)} | "
                f"{fmt(row.get('serve_rss_kib', 0) / 1024 if row.get('serve_rss_kib') else None, 0)} | "
                f"{fmt(per100k, 0)} |")
        lines += ["", "One VNet per 100 zones, zones of 10,000 A records each in RFC 1035 zone files; every number "
                  "from a fresh process (`benchmarks/scale_probe.py`, /proc/self/status). \"ready\" is from exec to "
                  "the first answered query."]
        self.md += [*lines, ""]

    def startup(self) -> None:
        """Issue 18: `dnsemu serve` on 1M records, first start (nothing cached) and unchanged restart (cached)."""
        size = 100_000 if self.quick else 1_000_000
        topo = workload.write_scale_topology(OUT, size)
        cache = OUT / "index-cache"
        shutil.rmtree(cache, ignore_errors=True)
        extra = ["--index-cache-dir", str(cache)]
        rows: dict[str, Any] = {"records": size}
        for label in ("first", "restart"):
            log(f"startup: {size:,} records, {label} start")
            server = dnsemu_server(f"dnsemu-startup-{label}", topo, workload.PORTS["dnsemu-scale"], extra=extra)
            server.probe = "h1.z0.scale.internal"
            s = self.fleet.start(server, pin="0", timeout=900)
            if s is None:
                rows[label] = {"error": "serve did not start"}
                continue
            row = {"ready_s": s.ready_s}
            if label == "first":  # the entry is written after the first answer, by a child process
                deadline = time.monotonic() + 600
                while not list(cache.glob("*.idx")) and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(2)  # the child leaves once its entry is in place
                row["cache_mb"] = sum(p.stat().st_size for p in cache.glob("*.idx")) / 2**20
            # the serving process alone (rss_kib adds descendants: none are left by now)
            row["rss_kib"], row["hwm_kib"] = rss_kib(s.pid), rss_kib(s.pid, "VmHWM")
            text = (OUT / "logs" / f"{s.name}.log").read_text(errors="replace")
            row["cache_hit"] = '"index_cache_hit"' in text
            self.fleet.stop(s.name)
            rows[label] = row
            log(f"  {row}")
        self.results["startup"] = rows
        first, restart = rows.get("first", {}), rows.get("restart", {})
        lines = [f"### Start-up: `dnsemu serve` on {size:,} records (issue 18)", "",
                 "| start | ready s | RSS MB | peak RSS MB | from the cache |",
                 "| --- | ---: | ---: | ---: | --- |"]
        for label, row in (("first (nothing cached; writes the cache after it is ready)", first),
                           ("unchanged restart", restart)):
            if "ready_s" not in row:
                lines.append(f"| {label} | {row.get('error', '?')} | | | |")
                continue
            lines.append(f"| {label} | {row['ready_s']:.2f} | {row['rss_kib'] / 1024:,.0f} | "
                         f"{row['hwm_kib'] / 1024:,.0f} | {'yes' if row['cache_hit'] else 'no'} |")
        lines += ["", "Zone files as in the scale section; \"ready\" is from exec to the first answered query, the "
                  "server pinned to CPU0. The compiled-index cache (docs/index-cache.md) lives in "
                  f"`out/index-cache` ({first.get('cache_mb', 0):,.0f} MB for this estate), emptied before the "
                  "first start.", ""]
        self.md += lines

    def policy(self) -> None:
        """Issue 18: the security-policy check per query, in process (benchmarks/policy_bench.py)."""
        log("policy: handler with and without 100 rules x 10 lists of 1,000 names")
        passes = "3" if self.quick else "5"
        row = _script_json([sys.executable, str(HERE / "policy_bench.py"), "--json", "--passes", passes])
        self.results["policy"] = row
        log(f"  {row}")
        if "error" in row:
            self.md += ["### Security policy check per query (issue 18)", "", f"Not measured: {row['error']}", ""]
            return
        self.md += [
            "### Security policy check per query (issue 18)", "",
            f"A DNS security policy of {row['rules']} rules over {row['lists']} domain lists of "
            f"{row['per_list']:,} names, linked to the querying VNet, none naming a queried name; in process "
            f"(`benchmarks/policy_bench.py`, CPU µs per query, medians of {row['passes']} alternated passes).", "",
            "| path | without a policy µs | with it µs | ratio |", "| --- | ---: | ---: | ---: |",
            f"| cache hits | {row['hit_us']:.2f} | {row['hit_policy_us']:.2f} | {row['hit_ratio']:.2f}{X} |",
            f"| misses (cache-hostile names) | {row['miss_us']:.2f} | {row['miss_policy_us']:.2f} | "
            f"{row['miss_ratio']:.2f}{X} |", "",
            "Nine misses in ten are NXDOMAINs from the linked zone, which the handler answers from a precompiled "
            "reply. With a security policy it still does, for every name no rule can match "
            "(`SecurityPolicy.covers`, one lookup per label below the zone's apex); a name a rule could match "
            "takes the full path (parse, resolve, policy, encode), so that Block, Alert and Allow are applied and "
            "logged. The hit path does not look at the policy: its ratio is the sitting's noise.", ""]

    def commands(self) -> None:
        """Issue 18: `dnsemu import` of 10,000 private endpoints and `dnsemu diff` of two such estates."""
        rows: dict[str, Any] = {}
        endpoints = "1000" if self.quick else "10000"
        log(f"commands: import of {endpoints} private endpoints")
        rows["import"] = _script_figure(
            [sys.executable, str(HERE / "import_bench.py"), "--endpoints", endpoints],
            r"result: import ([0-9.]+) s wall end to end")
        log(f"  {rows['import']}")
        log(f"commands: diff of two estates of {endpoints} private endpoints")
        spokes = ["--spokes", "10"] if self.quick else []
        rows["diff"] = _script_figure(
            [sys.executable, str(HERE / "diff_bench.py"), "--endpoints", endpoints, *spokes],
            r"dnsemu diff, fresh process: ([0-9.]+) s wall")
        log(f"  {rows['diff']}")
        rows["endpoints"] = int(endpoints)
        self.results["commands"] = rows
        lines = ["### New commands at scale (issue 18)", "", "| command | seconds | note |", "| --- | ---: | --- |"]
        for key, what in (("import", f"`dnsemu import` of {int(endpoints):,} private endpoints "
                                     "(`benchmarks/import_bench.py`, in process, its check of what it wrote included)"),
                          ("diff", f"`dnsemu diff` of two estates of {int(endpoints):,} private endpoints "
                                   "(`benchmarks/diff_bench.py`, fresh process)")):
            row = rows[key]
            lines.append(f"| {what} | {fmt(row.get('seconds'), 2)} | {row.get('error', '')} |")
        self.md += [*lines, ""]

    def reload(self) -> None:
        """SIGHUP every second with a 100k-record topology while dnsperf runs: p99 with and without."""
        flip = [0]
        topo = workload.write_reload_topology(OUT, flip[0])
        s = self.fleet.start(dnsemu_server("dnsemu-reload", topo, workload.PORTS["dnsemu-reload"]), timeout=300)
        if s is None:
            return
        rate = 20_000
        limit = max(self.limit, 5)
        stop = threading.Event()

        sent = [0]

        def hup_every_second() -> None:
            while not stop.wait(1.0):
                flip[0] += 1
                workload.write_reload_topology(OUT, flip[0])
                s.signal(signal.SIGHUP)
                sent[0] += 1

        def settle(loaded_before: int, budget: float = 180, quiet: float = 15) -> int:
            """Wait until every SIGHUP sent has produced its reload (they may queue), or no reload has
            finished for ``quiet`` s (a server may coalesce them), at most ``budget`` s."""
            deadline = time.time() + budget
            last, since = -1, time.time()
            while time.time() < deadline:
                done = count_in(s.log, b"topology_loaded") + count_in(s.log, b"topology_reload_failed")
                if done - loaded_before >= sent[0]:
                    break
                if done != last:
                    last, since = done, time.time()
                elif time.time() - since > quiet:
                    break
                time.sleep(0.5)
            return count_in(s.log, b"topology_loaded")

        def with_reloads(fn: Callable[[], PerfResult]) -> PerfResult:
            stop.clear()
            t = threading.Thread(target=hup_every_second, daemon=True)
            t.start()
            try:
                return fn()
            finally:
                stop.set()
                t.join()

        self.perf(s, "warmup-reload", limit=2)
        rows = {}
        loaded0 = count_in(s.log, b"topology_loaded")
        rows["fixed"] = self.perf(s, "reload-fixed-none", verbose=True, qps=rate, limit=limit)
        during: dict[str, int] = {}
        sent[0] = 0
        rows["fixed_hup"] = with_reloads(lambda: self.perf(s, "reload-fixed-hup", verbose=True, qps=rate,
                                                           limit=limit))
        during["fixed_hup"] = count_in(s.log, b"topology_loaded") - loaded0
        hups = {"fixed_hup": sent[0]}
        loaded1 = settle(loaded0)
        rows["sat"] = self.perf(s, "reload-sat-none", verbose=True, limit=limit)
        sent[0] = 0
        rows["sat_hup"] = with_reloads(lambda: self.perf(s, "reload-sat-hup", verbose=True, limit=limit))
        during["sat_hup"] = count_in(s.log, b"topology_loaded") - loaded1
        hups["sat_hup"] = sent[0]
        t_settle = time.time()
        loaded2 = settle(loaded1)
        backlog_s = time.time() - t_settle
        failed = count_in(s.log, b"topology_reload_failed")
        self.fleet.stop(s.name)
        self.results["reload"] = {k: v.as_dict() for k, v in rows.items()}
        self.results["reload"]["sighups"] = hups
        self.results["reload"]["reloads_during_run"] = during
        self.results["reload"]["reloads_total"] = [loaded1 - loaded0, loaded2 - loaded1]
        self.results["reload"]["backlog_s"] = backlog_s
        self.results["reload"]["failed"] = failed
        lines = [f"### Reload under load: 100,200-record topology, SIGHUP every second ({limit:g} s runs)", "",
                 "| load | SIGHUPs sent | reloads done during the run | q/s | lost | p50 ms | p99 ms | p99.9 ms "
                 "| max ms |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        names = {"fixed": f"-Q {rate}, no reload", "fixed_hup": f"-Q {rate}, SIGHUP every 1 s",
                 "sat": "saturation, no reload", "sat_hup": "saturation, SIGHUP every 1 s"}
        for key, r in rows.items():
            lines.append(f"| {names[key]} | {hups.get(key, 0)} | {during.get(key, 0)} | {r.qps:,.0f} | {r.lost} | "
                         f"{fmt(r.p50_ms, 3)} | {fmt(r.p99_ms, 3)} | {fmt(r.p999_ms, 3)} | {fmt(r.max_ms, 1)} |")
        lines += ["", "Each SIGHUP follows a rewrite of the topology (one record changes), so each is a real reload: "
                  "the YAML and five 20,000-record zone files read, validated and compiled again (in a thread), then "
                  "swapped in. After the saturation run the server went on reloading for another "
                  f"{backlog_s:.0f} s (reloads still queued). Failed reloads: {failed}."]
        self.md += [*lines, ""]

    # -- targets

    def targets(self) -> None:
        r = self.results
        main = r.get("main", {})
        d, bind, knot = main.get("dnsemu"), main.get("bind"), main.get("knot")
        rows: list[tuple[str, str, bool | None]] = []

        def add(target: str, measured: str, ok: bool | None) -> None:
            rows.append((target, measured, ok))

        if d and bind:
            bound = ""
            if (d.get("client_cpu_pct") or 0) >= 95:  # dnsperf's core is full: the rig, not dnsemu, sets q/s
                top = max(row["qps"] for row in main.values())
                bound = (f" (dnsperf at {d['client_cpu_pct']:.0f} % of its core: client-bound; the fastest "
                         f"server here does {top:,.0f})")
            add(f"q/s ≥ 1.2 {X} BIND's views (pinned)", f"{d['qps']:,.0f} vs {bind['qps']:,.0f}: "
                f"{ratio(d['qps'], bind['qps'])}{bound}", d["qps"] >= 1.2 * bind["qps"])
            if d["us_per_query"] and bind["us_per_query"]:
                mine, theirs = 1e6 / d["us_per_query"], 1e6 / bind["us_per_query"]
                add(f"(the same, per server core: 10⁶ ÷ server µs/q ≥ 1.2 {X} BIND's)",
                    f"{mine:,.0f} vs {theirs:,.0f}: {ratio(mine, theirs)}", mine >= 1.2 * theirs)
            if d["p99_sat_ms"] is not None and bind["p99_sat_ms"] is not None:
                add("p99 at saturation ≤ BIND's", f"{d['p99_sat_ms']:.3f} vs {bind['p99_sat_ms']:.3f} ms",
                    d["p99_sat_ms"] <= bind["p99_sat_ms"])
        if d and knot and d["us_per_query"] and knot["us_per_query"]:
            add(f"server CPU per query ≤ 1.6 {X} Knot's", f"{d['us_per_query']:.2f} vs {knot['us_per_query']:.2f} µs: "
                f"{ratio(d['us_per_query'], knot['us_per_query'])}", d["us_per_query"] <= 1.6 * knot["us_per_query"])
        if d and d.get("p99_5k_ms") is not None:
            add("p99 at 5k q/s ≤ 0.3 ms", f"{d['p99_5k_ms']:.3f} ms", d["p99_5k_ms"] <= 0.3)
        hostile = r.get("hostile", {})
        h = hostile.get("dnsemu-hostile")
        if h:
            add("cache-hostile mix ≥ 50,000 q/s", f"{h['qps']:,.0f} q/s", h["qps"] >= 50_000)
            for peer, label, factor in (("bind", "BIND's", 1.2), ("knot", "Knot's", 0.8)):  # issue 18
                other = hostile.get(peer)
                if not other:
                    continue
                add(f"cache-hostile mix ≥ {factor} {X} {label} q/s", f"{h['qps']:,.0f} vs {other['qps']:,.0f}: "
                    f"{ratio(h['qps'], other['qps'])}", h["qps"] >= factor * other["qps"])
                if h.get("us_per_query") and other.get("us_per_query"):
                    mine, theirs = 1e6 / h["us_per_query"], 1e6 / other["us_per_query"]
                    add(f"(the same, per server core: 10⁶ ÷ server µs/q ≥ {factor} {X} {label})",
                        f"{mine:,.0f} vs {theirs:,.0f}: {ratio(mine, theirs)}", mine >= factor * theirs)
        w = r.get("workers", {})
        if "dnsemu-1w" in w and "dnsemu-2w" in w:
            add(f"--workers 2 (unpinned, -c 40) ≥ 1.4 {X} one worker",
                f"{w['dnsemu-2w']['qps']:,.0f} vs {w['dnsemu-1w']['qps']:,.0f}: "
                f"{ratio(w['dnsemu-2w']['qps'], w['dnsemu-1w']['qps'])}"
                + (f" (ceiling on this machine with dnsperf's own CPU: "
                   f"{ratio(w['ceiling']['qps'], w['dnsemu-1w']['qps'])})" if "ceiling" in w else ""),
                w["dnsemu-2w"]["qps"] >= 1.4 * w["dnsemu-1w"]["qps"])
        big = r.get("scale", {}).get(1_000_000)
        if big and "load_s" in big:
            total = big["load_s"] + big["compile_s"]
            add("1M records compile in ≤ 20 s", f"{total:.1f} s (load {big['load_s']:.1f} + compile "
                f"{big['compile_s']:.1f})", total <= 20)
            add("1M records ≤ 1.5 GB resident", f"{big['hwm_kib'] / 1024:,.0f} MB peak, "
                f"{big['rss_kib'] / 1024:,.0f} MB after", big["hwm_kib"] <= 1.5 * 1024 * 1024)
        st = r.get("startup", {})
        if st:
            first, restart, size = st.get("first", {}), st.get("restart", {}), st["records"]
            big = f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1000}k"
            if "ready_s" in first:
                add(f"{big} records: first start ready ≤ 10 s", f"{first['ready_s']:.1f} s", first["ready_s"] <= 10)
            if "ready_s" in restart:
                how = "from the cache" if restart["cache_hit"] else "NOT from the cache"
                add(f"{big} records: unchanged restart ready ≤ 2 s", f"{restart['ready_s']:.1f} s ({how})",
                    restart["ready_s"] <= 2 and restart["cache_hit"])
            peaks = [row["hwm_kib"] for row in (first, restart) if "hwm_kib" in row]
            if peaks:
                add(f"{big} records: ≤ 1.5 GB resident (peak of the serving process, cache written)",
                    f"{max(peaks) / 1024:,.0f} MB peak", max(peaks) <= 1.5 * 1024 * 1024)
        po = r.get("policy", {})
        if "hit_ratio" in po:
            add(f"security policy ({po['rules']} rules, {po['lists']} lists of {po['per_list']:,}): hits unchanged "
                f"(≤ 1.10{X})", f"{po['hit_us']:.2f} → {po['hit_policy_us']:.2f} µs: {po['hit_ratio']:.2f}{X}",
                po["hit_ratio"] <= 1.10)
            add(f"security policy: misses ≤ 1.1{X} without", f"{po['miss_us']:.2f} → {po['miss_policy_us']:.2f} µs: "
                f"{po['miss_ratio']:.2f}{X}", po["miss_ratio"] <= 1.10)
        cm = r.get("commands", {})
        if cm:
            n = cm["endpoints"]
            for key, limit, what in (("import", 5, f"import of {n:,} private endpoints"),
                                     ("diff", 30, f"diff of two estates of {n:,} private endpoints")):
                seconds = cm[key].get("seconds")
                add(f"{what} ≤ {limit} s", f"{seconds:.1f} s" if seconds is not None else cm[key].get("error", "?"),
                    seconds <= limit if seconds is not None else None)
        rl = r.get("reload")
        if rl:
            base, hup = rl["fixed"], rl["fixed_hup"]
            if base["p99_ms"] is not None and hup["p99_ms"] is not None:
                added = hup["p99_ms"] - base["p99_ms"]
                add("reload of 100k records under load adds ≤ 50 ms to p99 and loses nothing",
                    f"p99 {base['p99_ms']:.3f} → {hup['p99_ms']:.3f} ms (+{added:.1f} ms), lost {hup['lost']}",
                    added <= 50 and hup["lost"] == 0)
        lg = r.get("logging")
        if lg and lg.get("cost") is not None:
            add("query logging at INFO to a file costs ≤ 30 % of throughput", f"{lg['cost'] * 100:.1f} %",
                lg["cost"] <= 0.30)
        r["targets"] = [{"target": t, "measured": m, "met": ok} for t, m, ok in rows]
        lines = ["### Targets (issues 6 and 18)", "", "| target | measured | met |", "| --- | --- | --- |"]
        for t, m, ok in rows:
            lines.append(f"| {t} | {m} | {'**yes**' if ok else '**no**' if ok is not None else '?'} |")
        self.md = [*lines, "", *self.md]


#: the hostile section's reply cache: below its 10,000 present names, which dnsperf asks in a cycle (FIFO: no hit)
HOSTILE_CACHE = 5000


def cache_hits(port: int) -> int | None:
    """dnsemu's ``dnsemu_cache_hits`` over both transports, from its /metrics; None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("dnsemu_cache_hits_total{")))


SCRAPE_EVERY = 1.0  # seconds between scrapes of /metrics in the metrics-on runs (Prometheus: 15-60 s)


class Scraper:
    """GET /metrics every ``every`` seconds while a run lasts (``port`` None: nothing); times each scrape."""

    def __init__(self, port: int | None, every: float) -> None:
        self.port = port
        self.every = every
        self.seconds: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as reply:
                    body = reply.read()
                if b"dnsemu_dns_queries_total" not in body:
                    self.failures += 1
                    continue
            except OSError:
                self.failures += 1
                continue
            self.seconds.append(time.perf_counter() - t0)

    def __enter__(self) -> Scraper:
        if self.port is not None:
            self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.failures:
            log(f"  /metrics: {self.failures} scrape(s) failed")


def count_in(path: Path, needle: bytes) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for line in f if needle in line)
    except OSError:
        return 0


def runs_text(values: list[float]) -> str:
    return ", ".join(f"{v / 1000:.0f}k" for v in values)


def fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}{X}"


SECTIONS = ("main", "hostile", "ecs", "tcp", "workers", "logging", "reload", "scale", "startup", "policy",
            "commands")


def _script_json(argv: list[str], timeout: float = 1800) -> dict[str, Any]:
    """The last line of a benchmark script's output, as JSON; {"error": …} when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=OUT,
                              env=dict(os.environ, PYTHONPATH=str(DNSEMU_SRC)), check=False)
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"error": f"{Path(argv[1]).name} failed: {exc!r}"[:300]}


def _script_figure(argv: list[str], pattern: str, timeout: float = 1800) -> dict[str, Any]:
    """The seconds a benchmark script prints (``pattern``'s group), and its output's last line."""
    import re

    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=OUT,
                              env=dict(os.environ, PYTHONPATH=str(DNSEMU_SRC)), check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{Path(argv[1]).name}: over {timeout:.0f} s"}
    found = re.search(pattern, done.stdout)
    last = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or [""])[-1]
    if found is None:
        return {"error": f"{Path(argv[1]).name} printed no figure (exit {done.returncode}): {last[:200]}"}
    return {"seconds": float(found.group(1)), "last": last[:300]}


def run(args: argparse.Namespace) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    suite = Suite(args)
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = only - set(SECTIONS)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    if not args.skip_install:
        install(suite.notes)
    if shutil.which("dnsperf") is None:
        print("dnsperf is not installed (Debian package dnsperf)", file=sys.stderr)
        return 1
    suite.results["machine"] = machine_info()
    suite.files = workload.write_all(OUT)
    fleet = suite.fleet
    t0 = time.time()
    try:
        if fleet.start(dnsemu_server("dnsemu", suite.files["bench"], workload.PORTS["dnsemu"])) is None:
            print(f"dnsemu did not start: {tail(OUT / 'logs' / 'dnsemu.log')}", file=sys.stderr)
            return 1
        if "main" in only:  # the same server reading one datagram per system call: what batching buys
            fleet.start(dnsemu_server("dnsemu-single", suite.files["bench"], workload.PORTS["dnsemu-single"],
                                      extra=["--udp-batch", "0"]))
        peers_needed = only & {"main", "hostile", "ecs", "tcp"}
        if peers_needed:
            for name in PEERS:
                if not Path(PACKAGES[name][1]).exists():
                    suite.notes.append(f"{name}: not installed, skipped")
                    continue
                if fleet.start(peer_server(name, suite.files[f"conf:{name}"], workload.PORTS[name])) is None:
                    suite.notes.append(f"{name}: did not start ({tail(OUT / 'logs' / f'{name}.log', 3)}), skipped")
            suite.answers()
        for section in SECTIONS:
            if section in only:
                log(f"== {section}")
                getattr(suite, {"main": "main_table"}.get(section, section))()
        suite.targets()
    finally:
        fleet.stop_all()
    m = suite.results["machine"]
    header = [
        f"Run {m['date']} ({'--quick' if args.quick else 'full'}, {time.time() - t0:.0f} s) on {m['nproc']} {X} "
        f"{m['cpu']}, kernel {m['kernel']}; dnsemu {m['dnsemu_commit']}, Python {m['python']}, uvloop {m['uvloop']}, "
        f"dnsperf {m['dnsperf']}, BIND {m['bind']}, Knot {m['knot']}, Unbound {m['unbound']}, dnsmasq {m['dnsmasq']}.",
        "",
    ]
    if suite.notes:
        header += [f"Note: {n}" for n in suite.notes] + [""]
    repeated = suite.results.get("repeated", [])
    if repeated:
        header += [f"{len(repeated)} run(s) were repeated because other processes used over {FOREIGN_LIMIT:.0f} % "
                   f"of a core during them: {'; '.join(repeated)}.", ""]
    text = "\n".join(header + suite.md)
    (OUT / "results.md").write_text(text)
    (OUT / "results.json").write_text(json.dumps(suite.results, indent=1, default=str))
    print(text)
    if args.update_readme:
        update_readme(text)
    return 0


def update_readme(text: str) -> None:
    readme = HERE / "README.md"
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    body = readme.read_text() if readme.exists() else f"{start}\n{end}\n"
    if start not in body or end not in body:
        body += f"\n{start}\n{end}\n"
    head, rest = body.split(start, 1)
    _, tail_text = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail_text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, one pass, scale up to 100k records")
    parser.add_argument("--only", help=f"comma-separated sections ({','.join(SECTIONS)})")
    parser.add_argument("--runs", type=int, help="passes per measurement (default 3, 1 with --quick)")
    parser.add_argument("--limit", type=float, help="seconds per dnsperf run (default 10, 3 with --quick)")
    parser.add_argument("--skip-install", action="store_true", help="do not apt-get install missing peers")
    parser.add_argument("--update-readme", action="store_true", help="put the tables in benchmarks/README.md")
    parser.add_argument("--dnsemu-src", type=Path, help="measure the dnsemu package of this tree instead "
                        "(a patched copy holding dnsemu/), e.g. to weigh a hot-path change")
    args = parser.parse_args(argv)
    if args.dnsemu_src:
        global DNSEMU_SRC
        DNSEMU_SRC = args.dnsemu_src.resolve()
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
