"""Run inside ``unshare --net`` by test_security_defaults.py: who gets forwarded, who gets answered.

Not a test module. In the fresh namespace it brings up loopback and gives it
198.18.0.1 (dnsemu), 198.18.0.2 (a stranger: in no modelled network) and
198.18.1.5 (a client of VNet inside, estate/security.yaml), addresses that
are not loopback addresses but exist only in this namespace;
starts a fake upstream DNS server on 127.0.0.1 that counts what reaches it,
runs ``dnsemu serve`` with several settings in turn, asks the questions, and
prints one JSON object: for each (settings, client, question) the rcode, the
answer's addresses and how many queries the upstream saw because of it.
Every packet stays inside the namespace.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

ESTATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "estate", "security.yaml")
SERVER, STRANGER, INSIDE = "198.18.0.1", "198.18.0.2", "198.18.1.5"
UPSTREAM_ANSWER = "192.0.2.99"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class FakeUpstream(threading.Thread):
    """Answers every A query with 192.0.2.99 and counts them."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.count = 0

    def run(self) -> None:
        while True:
            data, peer = self.sock.recvfrom(65535)
            self.count += 1
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            question = query.question[0]
            if question.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", UPSTREAM_ANSWER))
            self.sock.sendto(reply.to_wire(), peer)


def start_dnsemu(env_settings: dict[str, str], log: str) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    env.update({f"DNSEMU_{k.upper()}": v for k, v in env_settings.items()})
    env.update({"DNSEMU_QUERY_LOG": "false", "DNSEMU_WATCH": "false", "PYTHONUNBUFFERED": "1"})
    with open(log, "a") as err:
        proc = subprocess.Popen([sys.executable, "-m", "dnsemu", "serve", "--topology", ESTATE,
                                 "--listen", f"{SERVER}:0"], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if "dnsemu ready" not in line:
        proc.kill()
        raise SystemExit(f"dnsemu did not start: {line!r}")
    port = int(line.split()[2].rsplit(":", 1)[1])
    return proc, port


def ask(source: str, port: int, name: str, *, ecs: str | None = None) -> dict[str, object]:
    options = [dns.edns.ECSOption(ecs, 32)] if ecs else []
    message = dns.message.make_query(name, "A", use_edns=0, options=options)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(3.0)
        sock.sendto(message.to_wire(), (SERVER, port))
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return {"rcode": "TIMEOUT", "answer": []}
    reply = dns.message.from_wire(data)
    return {"rcode": dns.rcode.to_text(reply.rcode()),
            "answer": sorted(rd.to_text() for rrset in reply.answer for rd in rrset if rrset.rdtype == 1),
            "raw": data.hex()}


QUESTIONS = [("stranger", STRANGER, "outside.example.net.", None),
             ("stranger", STRANGER, "www.contoso.com.", None),
             ("stranger", STRANGER, "www.corp.example.", None),
             ("stranger-ecs-inside", STRANGER, "www.corp.example.", "198.18.1.5"),
             ("stranger-ecs-inside", STRANGER, "outside.example.net.", "198.18.1.5"),
             ("inside", INSIDE, "outside.example.net.", None),
             ("inside", INSIDE, "www.corp.example.", None),
             ("inside", INSIDE, "www.contoso.com.", None),
             ("loopback", "127.0.0.1", "outside.example.net.", None)]

PROFILES = {"default": {}, "open-resolver": {"open_resolver": "true"}, "refuse-unknown": {"unknown_sources": "refuse"}}


def main(out_dir: str) -> None:
    sh("ip", "link", "set", "lo", "up")
    for address in (SERVER, STRANGER, INSIDE):  # the namespace's own loopback: no dummy module needed
        sh("ip", "addr", "add", f"{address}/32", "dev", "lo")
    upstream = FakeUpstream()
    upstream.start()
    results: dict[str, list[dict[str, object]]] = {}
    for profile, settings in PROFILES.items():
        proc, port = start_dnsemu({"upstreams": f"127.0.0.1:{upstream.port}", **settings},
                                  os.path.join(out_dir, f"dnsemu-{profile}.log"))
        try:
            rows = []
            for who, source, name, ecs in QUESTIONS:
                before = upstream.count
                row = ask(source, port, name, ecs=ecs)
                time.sleep(0.05)
                row.update({"who": who, "name": name, "upstream_queries": upstream.count - before})
                rows.append(row)
            results[profile] = rows
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
