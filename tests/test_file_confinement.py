"""Files dnsemu is told about: the API opens none, a topology's stay in its tree, every read is bounded.

Issue 11, findings 1 and 2. The API half runs a real ``dnsemu serve --http --api-changes``
in a subprocess and speaks raw HTTP to it over a socket; DNS is checked with dnspython.
The server runs under an address-space limit, so that a server which did read
``/dev/zero`` would fail with an error rather than take the machine's memory.

The topology half lays files out in a temporary folder (a topology, zone files, a
secret beside the folder, FIFOs, symbolic links to devices) and loads them. Every
refusal is an error naming the file, the line and the field, and no message quotes
what a refused or unparseable file holds. Probes that would hang or exhaust memory in
a loader without these guards (a FIFO, ``/dev/zero``, an 8 GiB sparse file) run in a
child process with a memory limit and a timeout.
"""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import secrets
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml
from conftest import ROOT, parse_ready_line

from dnsemu.server.settings import SettingsError, load_settings
from dnsemu.testing import ChangeError, Emulator
from dnsemu.topology.errors import Problem, TopologyError
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES, FileProblem, read_text
from dnsemu.topology.load import load_topology, load_topology_data
from dnsemu.topology.zonefile import load_zone_file, parse_zone_text

HOST = "127.0.0.1"
CLIENT = "127.0.11.5"  # in VNet alpha of the estates below
SECRET = "i11-secret-" + secrets.token_hex(8)  # the content of a file outside the tree
ENV_MARKER = "i11-environ-" + secrets.token_hex(8)  # in the server's environment only
MEMORY_LIMIT = 2 << 30  # address space of the processes that probe devices
try:
    HOSTNAME = Path("/etc/hostname").read_text(encoding="utf-8", errors="replace").strip()
except OSError:
    HOSTNAME = ""

ESTATE = {
    "virtual_networks": {"alpha": {"address_space": ["127.0.11.0/24"]}},
    "private_dns_zones": {
        "corp.test": {"zone_file": "corp.zone", "virtual_network_links": [{"virtual_network": "alpha"}]},
    },
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def mentions_hostname(text: str) -> bool:
    """The host's name as a word of ``text`` (it may be as short as 'vm')."""
    if not HOSTNAME:
        return False
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(HOSTNAME)}(?![A-Za-z0-9])", text) is not None


def assert_no_leak(text: str, what: str) -> None:
    assert SECRET not in text, f"{what} quotes the secret file: {text[:500]}"
    assert ENV_MARKER not in text, f"{what} quotes the server's environment: {text[:500]}"
    assert not mentions_hostname(text), f"{what} quotes /etc/hostname ({HOSTNAME!r}): {text[:500]}"


# --------------------------------------------------------------------------- a real server, raw HTTP


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    dns_port: int
    http_port: int
    stderr_path: Path
    folder: Path

    def log(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Reply:
    status: int
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def http(served: Served, method: str, path: str, body: Any = None, timeout: float = 30) -> Reply:
    """One request on a fresh connection, written and read byte by byte."""
    payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{served.http_port}\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    with socket.create_connection((HOST, served.http_port), timeout=timeout) as sock:
        sock.sendall(head.encode("ascii") + b"\r\n" + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {data[:200]!r}")
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return Reply(int(lines[0].split()[1]), rest[:length])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("confined-api")
    folder = base / "estate"
    folder.mkdir()
    (base / "secret.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    (folder / "corp.zone").write_text("$TTL 60\napp A 127.0.11.10\n", encoding="utf-8")
    (folder / "leak.zone").symlink_to(base / "secret.txt")
    (folder / "zero.zone").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe")
    topology = folder / "topology.yaml"
    topology.write_text(yaml.safe_dump(ESTATE), encoding="utf-8")
    stderr_path = base / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    env["I11_MARKER"] = ENV_MARKER
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dnsemu", "serve", "--topology", str(topology), "--listen", f"{HOST}:0",
             "--http", "--http-listen", f"{HOST}:0", "--api-changes", "--no-watch", "--log-format", "json",
             "--max-file-bytes", "8192"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, preexec_fn=_limit_memory)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        assert line, f"no readiness line; log:\n{stderr_path.read_text(errors='replace')}"
        dns_port = parse_ready_line(line)[0][1]
        http_port = int(line.split()[-1].rsplit(":", 1)[1])
        yield Served(proc, dns_port, http_port, stderr_path, folder)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def ask(served: Served, name: str, rdtype: str = "A") -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    return dns.query.udp(query, HOST, port=served.dns_port, source=CLIENT, timeout=5)


def answers(reply: dns.message.Message) -> list[tuple[str, int, str]]:
    return [(dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, rdata.to_text())
            for rrset in reply.answer for rdata in rrset]


def test_zone_file_in_an_api_body_is_refused_before_any_file_is_opened(served: Served) -> None:
    depth = len(served.folder.resolve().parts)  # enough '../' to reach / from the topology's folder
    names = [
        "/etc/hostname",
        "../" * depth + "etc/hostname",
        "/proc/self/environ",
        "/dev/zero",
        str(served.folder.parent / "secret.txt"),
        "../secret.txt",
        "leak.zone",  # a symbolic link out of the tree
        "zero.zone",  # a symbolic link to /dev/zero
        "pipe",  # a FIFO: opening it for reading would wait for a writer
        "corp.zone",  # even a file the topology itself uses: the API takes data, not paths
    ]
    before = http(served, "GET", "/v1/changes").json["changes"]
    for name in names:
        body = {"zone_file": name, "virtual_network_links": [{"virtual_network": "alpha"}]}
        reply = http(served, "PUT", "/v1/private-dns-zones/corp.test", body)
        assert_no_leak(reply.body.decode("utf-8", "replace"), f"the reply to zone_file={name!r}")
        assert reply.status == 400, (name, reply.status, reply.body[:300])
        error = reply.json
        assert error["error"] == "field_not_allowed", (name, error)
        assert error["message"].startswith("zone_file:"), error
        assert "zone_text" in error["message"]  # says what to send instead
    # the FIFO was never opened: a writer finds no reader
    with pytest.raises(OSError) as info:
        os.close(os.open(served.folder / "pipe", os.O_WRONLY | os.O_NONBLOCK))
    assert info.value.errno == errno.ENXIO
    # nothing changed, the server is alive, DNS still answers from the topology's own zone file
    assert http(served, "GET", "/v1/changes").json["changes"] == before
    assert http(served, "GET", "/healthz").status == 200
    assert answers(ask(served, "app.corp.test")) == [("A", 60, "127.0.11.10")]
    log = served.log()
    assert '"http_request"' in log, log[-2000:]  # the log being read is the server's
    assert_no_leak(log, "the server's log")


def test_zone_file_is_refused_wherever_it_hides_in_a_body(served: Served) -> None:
    cases = [
        ("PUT", "/v1/public-dns-zones/example.test/records/A/www",
         {"values": ["192.0.2.1"], "zone_file": "/etc/hostname"}, "zone_file"),
        ("PUT", "/v1/private-dns-zones/corp.test/records/A/x", {"values": ["127.0.11.9"],
                                                                 "extra": [{"zone_file": "/proc/self/environ"}]},
         "extra[0].zone_file"),
    ]
    for method, path, body, field in cases:
        reply = http(served, method, path, body)
        assert reply.status == 400, (path, reply.status, reply.body[:300])
        assert reply.json["error"] == "field_not_allowed"
        assert reply.json["message"].startswith(f"{field}:"), reply.json
        assert_no_leak(reply.body.decode(), path)


def test_zone_text_in_the_body_is_served(served: Served) -> None:
    text = textwrap.dedent("""\
        $TTL 120
        ; a zone sent as master-file text
        www     A     127.0.11.20
        api 30  IN A  127.0.11.21
        @       TXT   ( "sent as"
                        "zone_text" )
        alias   CNAME www
        """)
    body = {"zone_text": text, "virtual_network_links": [{"virtual_network": "alpha"}]}
    reply = http(served, "PUT", "/v1/private-dns-zones/fresh.test", body)
    assert reply.status == 200, reply.body[:500]
    try:
        assert answers(ask(served, "www.fresh.test")) == [("A", 120, "127.0.11.20")]
        assert answers(ask(served, "api.fresh.test")) == [("A", 30, "127.0.11.21")]
        assert answers(ask(served, "fresh.test", "TXT")) == [("TXT", 120, '"sent as" "zone_text"')]
        reply_alias = ask(served, "alias.fresh.test")
        assert ("CNAME", 120, "www.fresh.test.") in answers(reply_alias)
        assert ("A", 120, "127.0.11.20") in answers(reply_alias)
    finally:
        assert http(served, "DELETE", "/v1/private-dns-zones/fresh.test").status == 200


def test_zone_text_is_bounded_never_includes_and_is_quoted_only_in_excerpts(served: Served) -> None:
    links = [{"virtual_network": "alpha"}]
    before = http(served, "GET", "/v1/changes").json["changes"]
    # over max-file-bytes (8192 for this server), within http-max-body
    big = "$TTL 60\n" + "".join(f"h{i} A 127.0.11.{i % 250 + 1}\n" for i in range(600))
    assert 8192 < len(big) < 65536
    reply = http(served, "PUT", "/v1/private-dns-zones/big.test", {"zone_text": big, "virtual_network_links": links})
    assert reply.status == 422, reply.body[:300]
    assert any("zone_text" in p and "8192" in p for p in reply.json["problems"]), reply.json
    # $INCLUDE in text opens nothing
    reply = http(served, "PUT", "/v1/private-dns-zones/inc.test",
                 {"zone_text": "$TTL 60\n$INCLUDE /etc/hostname\n$INCLUDE ../secret.txt\n",
                  "virtual_network_links": links})
    assert reply.status == 422
    problems = reply.json["problems"]
    assert len(problems) == 2 and all("$INCLUDE is not allowed in zone text" in p for p in problems), problems
    assert all("private_dns_zones.inc.test.zone_text:" in p for p in problems), problems
    assert_no_leak(reply.body.decode(), "the $INCLUDE reply")
    # a long bad token comes back as a short excerpt
    token = "Q" * 5000
    reply = http(served, "PUT", "/v1/private-dns-zones/long.test",
                 {"zone_text": f"$TTL 60\nwww A {token}\n{token} A 127.0.11.1\n", "virtual_network_links": links})
    assert reply.status == 422
    assert "Q" * 41 not in reply.body.decode(), reply.body[:600]
    assert "Q" * 41 not in served.log()
    assert http(served, "GET", "/v1/changes").json["changes"] == before


# --------------------------------------------------------------------------- topology files


def make_estate(tmp_path: Path, zone: dict[str, Any], files: dict[str, str | bytes] | None = None) -> Path:
    """``tmp_path/estate/topology.yaml`` with one private zone z.example; a secret beside the folder."""
    folder = tmp_path / "estate"
    folder.mkdir(exist_ok=True)
    (tmp_path / "secret.txt").write_text(f"{SECRET} a line\nanother {SECRET}\n", encoding="utf-8")
    for name, content in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    data = {
        "virtual_networks": {"alpha": {"address_space": ["127.0.11.0/24"]}},
        "private_dns_zones": {"z.example": {**zone, "virtual_network_links": [{"virtual_network": "alpha"}]}},
    }
    topology = folder / "topology.yaml"
    topology.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return topology


def problems_of(topology: Path, **kwargs: Any) -> list[Problem]:
    with pytest.raises(TopologyError) as info:
        load_topology(topology, **kwargs)
    assert_no_leak(str(info.value), "the error")
    return info.value.problems


def zone_file_line(topology: Path) -> int:
    lines = topology.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith("zone_file:"))


def assert_at_zone_file(problem: Problem, topology: Path, *words: str) -> None:
    assert problem.file == str(topology), problem
    assert problem.line == zone_file_line(topology), problem
    assert problem.path == "private_dns_zones.z.example.zone_file", problem
    for word in words:
        assert word in problem.message, problem


def test_zone_files_inside_the_tree_load(tmp_path: Path) -> None:
    topology = make_estate(tmp_path, {"zone_file": "zones/z.zone"}, {
        "zones/z.zone": "$TTL 60\nwww A 127.0.11.1\n$INCLUDE ../shared/more.zone\n$INCLUDE linked.zone\n",
        "shared/more.zone": "api A 127.0.11.2\n",
        "shared/real.zone": "db A 127.0.11.3\n",
    })
    (topology.parent / "zones" / "linked.zone").symlink_to(topology.parent / "shared" / "real.zone")
    loaded = load_topology(topology)
    records = sorted(r.name for r in loaded.zone_records["z.example."])
    assert records == ["api.z.example.", "db.z.example.", "www.z.example."]


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink", "symlinked-folder"])
def test_zone_file_escaping_the_tree_is_a_validation_error(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret.txt"
    name = {"absolute": str(secret), "dotdot": "../secret.txt", "symlink": "leak.zone",
            "symlinked-folder": "outside/secret.txt"}[kind]
    topology = make_estate(tmp_path, {"zone_file": name})
    (topology.parent / "leak.zone").symlink_to(secret)
    (topology.parent / "outside").symlink_to(tmp_path)
    [problem] = problems_of(topology)
    word = {"absolute": "absolute path", "dotdot": "leads outside", "symlink": "symbolic link",
            "symlinked-folder": "symbolic link"}[kind]
    assert_at_zone_file(problem, topology, word)
    assert "or below" in (problem.hint or "")


def test_include_outside_the_tree_is_a_validation_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    topology = make_estate(tmp_path, {"zone_file": "z.zone"}, {
        "z.zone": f"$TTL 60\nok A 127.0.11.1\n$INCLUDE ../secret.txt\n$INCLUDE {secret}\n$INCLUDE leak.zone\n"
                  "$INCLUDE sub/../../secret.txt\n",
    })
    (topology.parent / "leak.zone").symlink_to(secret)
    problems = problems_of(topology)
    zone = str(topology.parent / "z.zone")
    assert [(p.file, p.line, p.path) for p in problems] == [(zone, line, "$INCLUDE") for line in (3, 4, 5, 6)]
    assert "leads outside" in problems[0].message
    assert "absolute path" in problems[1].message
    assert "symbolic link" in problems[2].message
    assert "leads outside" in problems[3].message


def test_load_zone_file_alone_keeps_includes_in_its_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(f"{SECRET}\n")
    zone = tmp_path / "zones" / "z.zone"
    zone.parent.mkdir()
    zone.write_text("$TTL 60\n$INCLUDE ../secret.txt\n")
    with pytest.raises(TopologyError) as info:
        load_zone_file(zone, origin="z.example.")
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.path) == (str(zone), 2, "$INCLUDE")
    assert SECRET not in str(info.value)
    # a wider root lets it in (the topology's folder is the root when a topology names the file)
    with pytest.raises(TopologyError) as info:
        load_zone_file(zone, origin="z.example.", root=tmp_path)
    assert "not a zone file" in str(info.value) and SECRET not in str(info.value)


def test_a_file_that_is_not_a_zone_is_reported_without_its_content(tmp_path: Path) -> None:
    topology = make_estate(tmp_path, {"zone_file": "notes.txt"}, {
        "notes.txt": f"{SECRET}\nroot:x:0:0:{SECRET}:/root:/bin/sh\n\n# {SECRET}\n",
    })
    [problem] = problems_of(topology)
    assert (problem.file, problem.line) == (str(topology.parent / "notes.txt"), 1)
    assert problem.message == "not a zone file: no line reads as a record or a directive"


@pytest.mark.parametrize("content, line, words", [
    pytest.param(b"$TTL 60\nwww A 127.0.11.1\n\xff\xfe" + SECRET.encode() + b"\n", 3, "not UTF-8 text",
                 id="not-utf8"),
    pytest.param(b"$TTL 60\nwww A 127.0.11.1\n" + SECRET.encode() + b"\x00\x01\n", 3, "control character (U+0000)",
                 id="nul"),
])
def test_binary_files_are_not_zone_files(tmp_path: Path, content: bytes, line: int, words: str) -> None:
    topology = make_estate(tmp_path, {"zone_file": "blob.zone"}, {"blob.zone": content})
    [problem] = problems_of(topology)
    assert (problem.file, problem.line) == (str(topology.parent / "blob.zone"), line), problem
    assert problem.message.startswith("not a zone file") and words in problem.message, problem


def test_bad_lines_are_quoted_only_as_short_escaped_excerpts(tmp_path: Path) -> None:
    long_token = "9" * 500
    label = "x" * 300
    topology = make_estate(tmp_path, {"zone_file": "z.zone"}, {
        "z.zone": f"$TTL 60\nok A 127.0.11.1\nbad A {long_token}\n{label} A 127.0.11.2\nesc A 10.0.0.1\u200b\n"
                  f"odd {long_token} IN A 127.0.11.3\nwhat {'Z' * 200}\n",
    })
    problems = problems_of(topology)
    assert len(problems) == 5
    for problem in problems:
        text = str(problem)
        assert not re.search(r"(.)\1{40}", text), text  # no run of the input longer than an excerpt
        assert "\u200b" not in text, text  # non-printing characters come back escaped
        assert len(text) < 400, text
    assert "'10.0.0.1\\u200b'" in str(problems[2])


def test_problems_of_one_zone_are_capped() -> None:
    text = "$TTL 60\nok A 127.0.11.1\n" + "".join(f"h{i} A 10.0.0.{300 + i}\n" for i in range(500))
    with pytest.raises(TopologyError) as info:
        parse_zone_text(text, origin="z.example.")
    problems = info.value.problems
    assert len(problems) == 101
    assert problems[-1].message == "400 more problem(s) not shown" and problems[-1].line == 102


def test_oversize_zone_file_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    zone = "$TTL 60\n" + "".join(f"h{i} A 127.0.11.{i % 250 + 1}\n" for i in range(200))
    topology = make_estate(tmp_path, {"zone_file": "z.zone"}, {"z.zone": zone})
    assert len(load_topology(topology).zone_records["z.example."]) == 200  # fine under the default limit
    [problem] = problems_of(topology, max_file_bytes=2048)
    assert_at_zone_file(problem, topology, "larger than the limit of 2048 octets")
    assert "max-file-bytes" in (problem.hint or "")
    # an $INCLUDE over the limit is reported at its line in the including file
    topology = make_estate(tmp_path, {"zone_file": "main.zone"}, {"main.zone": "$TTL 60\n$INCLUDE z.zone\n"})
    [problem] = problems_of(topology, max_file_bytes=2048)
    assert (problem.file, problem.line, problem.path) == (str(topology.parent / "main.zone"), 2, "$INCLUDE")
    assert "larger than the limit of 2048 octets" in problem.message


def test_a_fifo_zone_file_is_refused_without_opening_it(tmp_path: Path) -> None:
    topology = make_estate(tmp_path, {"zone_file": "pipe.zone"})
    fifo = topology.parent / "pipe.zone"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            load_topology(topology)
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # the loader opened the FIFO and waits for a writer: release it, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("the loader blocked on a FIFO")
    [error] = outcome
    assert isinstance(error, TopologyError), error
    [problem] = error.problems
    assert_at_zone_file(problem, topology, "FIFO", "not a regular file")


def test_zone_file_needs_a_topology_folder(tmp_path: Path) -> None:
    (tmp_path / "z.zone").write_text("$TTL 60\nwww A 127.0.11.1\n")
    data = {"virtual_networks": {"alpha": {"address_space": ["127.0.11.0/24"]}},
            "private_dns_zones": {"z.example": {"zone_file": str(tmp_path / "z.zone")}}}
    with pytest.raises(TopologyError) as info:
        load_topology_data(data)
    [problem] = info.value.problems
    assert problem.path == "private_dns_zones.z.example.zone_file"
    assert "needs a topology file" in problem.message


def test_zone_text_in_a_topology_and_through_the_fixture(tmp_path: Path) -> None:
    data = {"virtual_networks": {"alpha": {"address_space": ["127.0.11.0/24"]}},
            "private_dns_zones": {"z.example": {"zone_text": "$TTL 90\nwww A 127.0.11.7\n",
                                                "virtual_network_links": [{"virtual_network": "alpha"}]}}}
    [record] = load_topology_data(data).zone_records["z.example."]
    assert (record.name, record.ttl, record.rdata) == ("www.z.example.", 90, ("127.0.11.7",))
    topology = make_estate(tmp_path, {"zone_text": "$TTL 60\nwww A 127.0.11.7\n"})
    with Emulator(topology, query_log=False) as emulator:
        assert emulator.query("www.z.example", source=CLIENT).addresses == ["127.0.11.7"]
        emulator.add_zone("more.example", {"zone_text": "x 60 A 127.0.11.8\n",
                                           "virtual_network_links": [{"virtual_network": "alpha"}]})
        assert emulator.query("x.more.example", source=CLIENT).addresses == ["127.0.11.8"]
        # a change may name a zone file, but only inside the topology's tree
        with pytest.raises(ChangeError) as info:
            emulator.add_zone("leak.example", {"zone_file": "../secret.txt"})
        assert "leads outside" in str(info.value) and SECRET not in str(info.value)


def test_zone_text_errors_name_the_field_and_line() -> None:
    data = {"private_dns_zones": {"z.example": {"zone_text": "$TTL 60\nok A 127.0.11.1\nbad A 10.0.0.300\n"}}}
    with pytest.raises(TopologyError) as info:
        load_topology_data(data)
    [problem] = info.value.problems
    assert (problem.file, problem.line) == ("private_dns_zones.z.example.zone_text", 3)
    with pytest.raises(TopologyError, match="not allowed in zone text"):
        parse_zone_text("$INCLUDE /etc/hostname\n", origin="z.example.")


# --------------------------------------------------------------------------- devices, kernel files, huge files


def probe(code: str, timeout: float = 60) -> Any:
    """Run ``code`` (which prints one JSON value) in a child with a memory limit; its output, parsed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    env["I11_MARKER"] = ENV_MARKER
    try:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory,
                                check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the probe did not finish in {timeout} s (blocked on a special file?)")
    assert result.returncode == 0, f"the probe failed:\n{result.stderr[-3000:]}"
    assert_no_leak(result.stdout, "the probe's output")
    return json.loads(result.stdout)


def test_devices_fifos_and_kernel_files_are_refused_before_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero-link").symlink_to("/dev/zero")
    out = probe(f"""
        import json
        from dnsemu.topology.files import FileProblem, read_text
        out = {{}}
        for path in ("/dev/zero", "/dev/null", {str(tmp_path / 'zero-link')!r}, {str(tmp_path / 'fifo')!r},
                     {str(tmp_path)!r}, "/proc/self/environ", "/proc/self/status",
                     "/sys/kernel/mm/transparent_hugepage/enabled"):
            try:
                read_text(path)
                out[path] = "read"
            except FileProblem as exc:
                out[path] = exc.message
        print(json.dumps(out))
        """)
    assert "character device" in out["/dev/zero"] and "refused without opening" in out["/dev/zero"]
    assert "character device" in out["/dev/null"]
    assert "character device" in out[str(tmp_path / "zero-link")]
    assert "FIFO" in out[str(tmp_path / "fifo")]
    assert "directory" in out[str(tmp_path)]
    assert "kernel file" in out["/proc/self/environ"]
    assert "kernel file" in out["/proc/self/status"]
    sys_probe = "/sys/kernel/mm/transparent_hugepage/enabled"
    assert out[sys_probe].startswith(("cannot read", "/sys")) and out[sys_probe] != "read"


def test_a_topology_rooted_at_slash_still_refuses_devices_and_proc() -> None:
    out = probe("""
        import json
        from dnsemu.topology.errors import TopologyError
        from dnsemu.topology.load import load_topology_text
        text = '''
        virtual_networks: {alpha: {address_space: [127.0.11.0/24]}}
        private_dns_zones:
          a.example: {zone_file: dev/zero}
          b.example: {zone_file: proc/self/environ}
          c.example: {zone_file: dev/stdin}
        '''
        try:
            load_topology_text(text, filename="/topology.yaml", base_dir="/")
            print(json.dumps("loaded"))
        except TopologyError as exc:
            print(json.dumps([[p.file, p.line, p.path, p.message] for p in exc.problems]))
        """)
    assert isinstance(out, list) and len(out) == 3, out
    by_path = {path: [file, line, message] for file, line, path, message in out}
    assert by_path["private_dns_zones.a.example.zone_file"][:2] == ["/topology.yaml", 4]
    assert "character device" in by_path["private_dns_zones.a.example.zone_file"][2]
    assert "kernel file" in by_path["private_dns_zones.b.example.zone_file"][2]
    assert by_path["private_dns_zones.c.example.zone_file"][2]  # stdin: a pipe or device, never read


def test_special_topology_and_settings_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "topology.yaml")
    os.mkfifo(tmp_path / "settings.toml")
    out = probe(f"""
        import json
        from dnsemu.server.settings import SettingsError, load_settings
        from dnsemu.topology.errors import TopologyError
        from dnsemu.topology.load import load_topology
        out = {{}}
        for path in ({str(tmp_path / 'topology.yaml')!r}, "/dev/zero", "/proc/self/environ"):
            try:
                load_topology(path)
                out["topology " + path] = "loaded"
            except TopologyError as exc:
                out["topology " + path] = str(exc)
        for path in ({str(tmp_path / 'settings.toml')!r}, "/dev/zero", "/proc/self/environ"):
            try:
                load_settings(env={{}}, config_file=path)
                out["settings " + path] = "loaded"
            except SettingsError as exc:
                out["settings " + path] = str(exc)
        print(json.dumps(out))
        """)
    fifo_topology, fifo_settings = str(tmp_path / "topology.yaml"), str(tmp_path / "settings.toml")
    assert "cannot read the topology: a FIFO" in out[f"topology {fifo_topology}"]
    assert "cannot read the topology: a character device" in out["topology /dev/zero"]
    assert "kernel file" in out["topology /proc/self/environ"]
    assert "a FIFO" in out[f"settings {fifo_settings}"]
    assert "a character device" in out["settings /dev/zero"]
    assert "kernel file" in out["settings /proc/self/environ"]


def test_huge_sparse_files_are_refused_without_reading(tmp_path: Path) -> None:
    """8 GiB files (sparse: no disk used) against the default 64 MiB limit, through ``dnsemu check``."""
    huge = 8 << 30
    topology = make_estate(tmp_path, {"zone_file": "huge.zone"})
    with open(topology.parent / "huge.zone", "wb") as fh:
        fh.truncate(huge)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([sys.executable, "-m", "dnsemu", "check", str(path)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory,
                                  check=False)
        except subprocess.TimeoutExpired:
            pytest.fail("dnsemu check read a huge file instead of refusing it")

    result = check(topology)
    assert result.returncode == 2, result.stderr[-2000:]
    line = zone_file_line(topology)
    assert f"{topology}:{line}: private_dns_zones.z.example.zone_file: " in result.stderr
    assert f"larger than the limit of {DEFAULT_MAX_FILE_BYTES} octets" in result.stderr
    huge_topology = tmp_path / "huge.yaml"
    with open(huge_topology, "wb") as fh:
        fh.truncate(huge)
    result = check(huge_topology)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{huge_topology}: cannot read the topology: larger than the limit" in result.stderr


def test_serve_applies_max_file_bytes_to_the_topology(tmp_path: Path) -> None:
    topology = make_estate(tmp_path, {"records": ["www 60 A 127.0.11.1"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    env["DNSEMU_MAX_FILE_BYTES"] = "1024"
    topology.write_text(topology.read_text() + "# padding\n" * 200)
    result = subprocess.run([sys.executable, "-m", "dnsemu", "serve", "--topology", str(topology), "--listen",
                             f"{HOST}:0", "--no-watch"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "larger than the limit of 1024 octets (max-file-bytes)" in result.stderr


# --------------------------------------------------------------------------- the reader itself, and settings


def test_read_text_reads_regular_files_within_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"a\r\nb\rc\n")
    assert read_text(path) == "a\nb\nc\n"  # newlines as Python's text mode makes them
    path.write_bytes(b"x" * 1024)
    assert len(read_text(path, max_bytes=1024)) == 1024
    with pytest.raises(FileProblem, match="larger than the limit of 1023 octets"):
        read_text(path, max_bytes=1023)
    assert stat.S_ISREG(path.stat().st_mode)
    with pytest.raises(FileProblem, match=r"leads outside|does not hold"):
        read_text(path, root=tmp_path / "elsewhere")


def test_settings_yaml_errors_do_not_quote_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(f"listen: [127.0.0.1:53\ncache_size: {SECRET}: nested\n")
    with pytest.raises(SettingsError) as info:
        load_settings(env={}, config_file=config)
    message = str(info.value)
    assert "not valid YAML" in message and "line" in message
    assert SECRET not in message


def test_max_file_bytes_setting() -> None:
    assert load_settings(env={}).max_file_bytes == DEFAULT_MAX_FILE_BYTES == 64 * 1024 * 1024
    assert load_settings(env={"DNSEMU_MAX_FILE_BYTES": "4096"}).max_file_bytes == 4096
    with pytest.raises(SettingsError, match="max-file-bytes"):
        load_settings({"max_file_bytes": 10}, env={})
