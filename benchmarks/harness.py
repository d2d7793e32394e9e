"""Servers, dnsperf and /proc: the parts of the benchmark that touch processes.

Every child is started by :class:`Server` or :func:`dnsperf` with a time bound, and
stopped by its own pid. Traffic goes to 127.0.0.1 only (from 127.0.0.1 or 127.0.0.2).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- /proc


def children_of(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its descendants (all threads), in seconds."""
    total = 0
    for p in children_of(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    """``VmRSS`` (or ``VmHWM``) of ``pid`` and its descendants, in KiB."""
    total = 0
    for p in children_of(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def proc_stat_cpu() -> list[int]:
    """Busy jiffies per CPU in process context (user + nice + system) from /proc/stat.

    Interrupt and softirq time (the loopback delivery, part of the work) and idle are left out, so
    that what remains after the server's and dnsperf's own CPU is other processes: foreign load.
    """
    out = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            out.append(sum(int(x) for x in line.split()[1:4]))
    return out


# --------------------------------------------------------------------------- a tiny DNS client


def build_query(name: str, qtype: int = 1, ident: int | None = None, ecs: bytes | None = None) -> bytes:
    ident = random.randrange(65536) if ident is None else ident
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    arcount = 1 if ecs is not None else 0
    msg = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, arcount) + qname + struct.pack("!HH", qtype, 1)
    if ecs is not None:
        option = struct.pack("!HH", 8, len(ecs)) + ecs
        msg += b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    return msg


def _skip_name(data: bytes, pos: int) -> int:
    while True:
        n = data[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            return pos + 2
        pos += n + 1


@dataclass
class Reply:
    rcode: int
    size: int
    answers: list[tuple[int, bytes]]

    def addresses(self) -> list[str]:
        return [socket.inet_ntoa(rdata) for rtype, rdata in self.answers if rtype == 1]


def parse_reply(data: bytes) -> Reply:
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    pos = 12
    for _ in range(qd):
        pos = _skip_name(data, pos) + 4
    answers = []
    for _ in range(an):
        pos = _skip_name(data, pos)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[pos : pos + 10])
        answers.append((rtype, data[pos + 10 : pos + 10 + rdlen]))
        pos += 10 + rdlen
    return Reply(flags & 0xF, len(data), answers)


def ask(port: int, name: str, *, src: str = "127.0.0.2", qtype: int = 1, ecs: bytes | None = None,
        timeout: float = 1.0) -> Reply | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(timeout)
        q = build_query(name, qtype, ecs=ecs)
        s.sendto(q, ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(65535)
        except OSError:
            return None
    return parse_reply(data)


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """One server process on 127.0.0.1:``port``; ``argv`` runs it in the foreground."""

    name: str
    label: str
    port: int
    argv: list[str]
    log: Path
    probe: str = "acct1.blob.core.windows.net"
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, pin: str | None = "0", timeout: float = 60.0) -> None:
        if port_in_use(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already in use on 127.0.0.1")
        argv = (["taskset", "-c", pin] if pin is not None else []) + self.argv
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, **(self.env or {}))
        t0 = time.perf_counter()
        with self.log.open("wb") as logf:
            self.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, cwd=self.cwd, start_new_session=True)
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {tail(self.log)}")
            if ask(self.port, self.probe, timeout=0.2) is not None:
                self.ready_s = time.perf_counter() - t0
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s: {tail(self.log)}")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        pids = children_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for p in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            proc.wait(5)
        for p in pids[1:]:  # workers that outlived their parent
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- dnsperf


@dataclass
class PerfResult:
    server: str
    qps: float = 0.0
    sent: int = 0
    completed: int = 0
    lost: int = 0
    avg_ms: float = 0.0
    max_ms: float = 0.0
    srv_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    runtime_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    rcodes: str = ""
    response_size: float = 0.0
    foreign_cpu_pct: float = 0.0
    error: str = ""

    @property
    def us_per_query(self) -> float | None:
        return self.srv_cpu_s / self.completed * 1e6 if self.completed else None

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["us_per_query"] = self.us_per_query
        return d


_NUM = r"([0-9.]+)"


def parse_summary(text: str, result: PerfResult) -> None:
    def grab(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, text)

    if m := grab(r"Queries sent:\s+(\d+)"):
        result.sent = int(m.group(1))
    if m := grab(r"Queries completed:\s+(\d+)"):
        result.completed = int(m.group(1))
    if m := grab(r"Queries lost:\s+(\d+)"):
        result.lost = int(m.group(1))
    if m := grab(r"Queries per second:\s+" + _NUM):
        result.qps = float(m.group(1))
    if m := grab(r"Run time \(s\):\s+" + _NUM):
        result.runtime_s = float(m.group(1))
    if m := grab(r"Average Latency \(s\):\s+" + _NUM + r" \(min " + _NUM + r", max " + _NUM):
        result.avg_ms = float(m.group(1)) * 1000
        result.max_ms = float(m.group(3)) * 1000
    if m := grab(r"Response codes:\s+(.*)"):
        result.rcodes = m.group(1).strip()
    if m := grab(r"Average packet size:\s+request \d+, response (\d+)"):
        result.response_size = float(m.group(1))


def percentiles(path: Path) -> tuple[float | None, float | None, float | None]:
    """p50 / p99 / p99.9 in ms from dnsperf -v lines (``> RCODE name type SECONDS``)."""
    lat: list[float] = []
    with path.open("rb") as f:
        for line in f:
            if line.startswith(b"> "):
                with contextlib.suppress(ValueError, IndexError):
                    lat.append(float(line.rsplit(None, 1)[1]))
    if not lat:
        return None, None, None
    lat.sort()

    def at(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000

    return at(0.50), at(0.99), at(0.999)


def dnsperf(server: Server | None, port: int, queries: Path, out_dir: Path, tag: str, *, clients: int = 10,
            outstanding: int = 100, limit: float = 10, qps: int | None = None, mode: str = "udp",
            edns_option: str | None = None, verbose: bool = False, pin: str | None = "1",
            src: str = "127.0.0.2", extra: list[str] | None = None) -> PerfResult:
    """One dnsperf run against 127.0.0.1:``port``; server CPU from /proc, latency percentiles with ``verbose``."""
    argv = (["taskset", "-c", pin] if pin is not None else []) + [
        "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-a", src, "-d", str(queries), "-c", str(clients),
        "-q", str(outstanding), "-t", "2", "-l", f"{limit:g}"]
    if mode != "udp":
        argv += ["-m", mode]
    if qps:
        argv += ["-Q", str(qps)]
    if edns_option:
        argv += ["-E", edns_option]
    if verbose:
        argv += ["-v"]
    argv += extra or []
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = out_dir / f"{tag}.out"
    result = PerfResult(server.name if server else str(port))
    cpu0 = server.cpu() if server else 0.0
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    stat0 = proc_stat_cpu()
    t0 = time.perf_counter()
    with stdout_path.open("wb") as f:
        try:
            subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=limit + 30, check=False)
        except subprocess.TimeoutExpired:
            result.error = "dnsperf timed out"
    wall = time.perf_counter() - t0
    stat1 = proc_stat_cpu()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1 = server.cpu() if server else 0.0
    result.srv_cpu_s = cpu1 - cpu0
    result.client_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    busy = sum(b - a for a, b in zip(stat0, stat1, strict=False)) / CLK_TCK
    result.foreign_cpu_pct = max(0.0, (busy - result.srv_cpu_s - result.client_cpu_s) / wall * 100)
    # the summary is at the end; with -v the file can be large, so read the tail only
    size = stdout_path.stat().st_size
    with stdout_path.open("rb") as f:
        f.seek(max(0, size - 8192))
        parse_summary(f.read().decode(errors="replace"), result)
    if verbose:
        result.p50_ms, result.p99_ms, result.p999_ms = percentiles(stdout_path)
        stdout_path.unlink()  # hundreds of MB: keep only the numbers
    if not result.completed and not result.error:
        result.error = "no query completed"
    return result


def version(argv: list[str], pattern: str = r"(\d+\.\d+[.\d\w~+-]*)") -> str:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        out = done.stdout + done.stderr
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, out)
    return m.group(1) if m else out.strip().splitlines()[0] if out.strip() else "?"
