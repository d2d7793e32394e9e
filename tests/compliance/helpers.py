"""Shared machinery of the compliance suite: the dnsemu process, raw DNS clients, tools.

Nothing here sends a packet anywhere but loopback (127.0.0.0/8) or into a
network namespace that a test created itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
from conftest import need_tool, unavailable

__all__ = ["need_tool", "unavailable"]  # re-exported: one helper for the whole suite (tests/conftest.py)

HERE = Path(__file__).resolve().parent
ESTATE = HERE / "estate" / "topology.yaml"
CORPUS_DIR = HERE / "corpus"
REPO = HERE.parent.parent

#: DNSEMU_LONG=1 turns on the long fuzz and soak runs (by hand, never in CI).
LONG = os.environ.get("DNSEMU_LONG", "") not in ("", "0", "false", "no")

_READY = re.compile(r"dnsemu ready (.*)")
_URL = re.compile(r"(udp|tcp)://\[?([0-9a-fA-F.:]+?)\]?:(\d+)")


# --------------------------------------------------------------------------- tools


def raise_nofile(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit); the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard if hard != resource.RLIM_INFINITY else wanted)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port(host: str = "127.0.0.1", *, tries: int = 50) -> int:
    """A port free for both UDP and TCP on ``host`` right now (bound, then released).

    For servers that cannot bind port 0 themselves (knotd); the caller retries
    with another port if the server then fails to bind.
    """
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise OSError("no free UDP+TCP port")


# --------------------------------------------------------------------------- the server process


class ServeProcess:
    """``python -m dnsemu serve`` in a child process, ready when it prints its readiness line.

    Settings go in through ``DNSEMU_*`` environment variables (the documented
    second source of settings), so the tests do not depend on flag spellings.
    Its logs (stderr) go to a file that tests read back (tracebacks, reloads).
    """

    def __init__(self, workdir: Path, topology: Path = ESTATE, *, listen: Sequence[str] = ("127.0.0.1:0",),
                 settings: Mapping[str, str] | None = None, netns_prefix: Sequence[str] = ()) -> None:
        self.workdir = Path(workdir)
        self.topology = Path(topology)
        self.listen = list(listen)
        self.settings = {"query_log": "false", "watch": "false", "log_format": "json", **(settings or {})}
        self.prefix = list(netns_prefix)
        self.proc: subprocess.Popen[str] | None = None
        self.udp: tuple[str, int] = ("", 0)
        self.tcp: tuple[str, int] = ("", 0)
        self.log_path = self.workdir / "dnsemu.log"
        self.ready_line = ""

    def start(self, timeout: float = 30.0) -> ServeProcess:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DNSEMU_")}
        env.update({f"DNSEMU_{k.upper()}": str(v) for k, v in self.settings.items()})
        env["PYTHONUNBUFFERED"] = "1"
        args = [*self.prefix, sys.executable, "-m", "dnsemu", "serve", "--topology", str(self.topology)]
        for address in self.listen:
            args += ["--listen", address]
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                         text=True, env=env, cwd=self.workdir, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if not line and self.proc.poll() is not None:
                    break
                match = _READY.search(line)
                if match:
                    self.ready_line = line.strip()
                    for kind, host, port in _URL.findall(match.group(1)):
                        if kind == "udp" and not self.udp[1]:
                            self.udp = (host, int(port))
                        if kind == "tcp" and not self.tcp[1]:
                            self.tcp = (host, int(port))
                    return self
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"dnsemu serve did not become ready; its log:\n{self.log_text()[-4000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def rss_kib(self) -> int:
        """Resident memory of the server process, KiB (from /proc)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- raw clients


def udp_exchange(wire: bytes, server: tuple[str, int], *, source: str = "127.0.0.1",
                 timeout: float = 2.0) -> bytes | None:
    """Send one datagram from ``source`` and return the reply with its ID, or None after ``timeout``.

    A datagram with another ID is a late reply to an earlier socket that had the same
    port (ports are reused quickly under load): it is skipped, as a resolver would.
    """
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(wire, server)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                return None
            if peer[:2] == server[:2] and (len(wire) < 2 or data[:2] == wire[:2]):
                return data


def recv_exact(sock: socket.socket, count: int) -> bytes | None:
    out = bytearray()
    while len(out) < count:
        chunk = sock.recv(count - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def tcp_exchange(wire: bytes, server: tuple[str, int], *, source: str = "127.0.0.1",
                 timeout: float = 2.0) -> bytes | None:
    """One length-prefixed message on a fresh connection; its reply, or None (closed or timed out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect(server)
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        try:
            head = recv_exact(sock, 2)
            if head is None:
                return None
            return recv_exact(sock, struct.unpack("!H", head)[0])
        except (TimeoutError, ConnectionResetError):
            return None


def query(name: str, rdtype: str = "A", *, edns: bool = True, **kwargs: object) -> dns.message.QueryMessage:
    """A recursive query as dig would send it (RD set; EDNS 0 with 1232 octets unless ``edns`` is off)."""
    message = dns.message.make_query(name, rdtype, use_edns=0 if edns else False, payload=1232, **kwargs)
    return message


def ask(message: dns.message.Message, server: tuple[str, int], *, source: str = "127.0.0.1", tcp: bool = False,
        timeout: float = 2.0) -> dns.message.Message | None:
    wire = message.to_wire()
    reply = (tcp_exchange if tcp else udp_exchange)(wire, server, source=source, timeout=timeout)
    return None if reply is None else dns.message.from_wire(reply)


def assert_healthy(server: ServeProcess, *, source: str = "127.0.0.1") -> None:
    """The server is alive and answers a normal query over UDP and TCP, promptly."""
    assert server.alive(), f"dnsemu died:\n{server.log_text()[-3000:]}"
    for tcp in (False, True):
        started = time.monotonic()
        reply = ask(query("www.contoso.com."), server.tcp if tcp else server.udp, source=source, tcp=tcp)
        assert reply is not None, f"no {'TCP' if tcp else 'UDP'} answer from a live server"
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer, reply.to_text()
        assert time.monotonic() - started < 1.0


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    box = [0.0]
    start = time.monotonic()
    try:
        yield box
    finally:
        box[0] = time.monotonic() - start


def traceback_lines(text: str) -> list[str]:
    """Lines of a log that show a Python traceback (in JSON logs the traceback is one escaped field)."""
    return [line for line in text.splitlines() if "Traceback (most recent call last)" in line]


def unshare_works() -> str | None:
    """None when ``unshare -n`` (a fresh network namespace) works here; otherwise why not."""
    tool = shutil.which("unshare")
    if tool is None:
        return "unshare(1) is not installed"
    try:
        done = subprocess.run([tool, "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare -n failed: {exc}"
    if done.returncode != 0:
        return f"unshare -n is not permitted here: {done.stderr.decode(errors='replace').strip()}"
    return None


def flags_text(message: dns.message.Message) -> str:
    return dns.flags.to_text(message.flags)
