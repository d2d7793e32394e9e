"""``dnsemu capture --names FILE -o capture.jsonl``: ask a real resolver the listed questions, record the answers.

Run on a VM of the real estate, with nothing but dnsemu installed, then feed the
file to ``dnsemu verify`` to check the model against reality. The DNS client is
:mod:`dnsemu.dns.client`'s (the standard library only): one query per question, UDP,
then TCP when a reply is truncated.

Exit status: 0 when every question got a reply (whatever its rcode), 1 when some
got none (each is recorded with the reason), 2 on invalid input.

Each question becomes one JSON line (format ``dnsemu-capture/1``, docs/verify.md)::

    {"v": 1, "time": "2026-12-01T21:40:02.118Z", "source": "10.2.0.4", "server": "168.63.129.16:53",
     "name": "mystorage.blob.core.windows.net.", "type": "A", "rcode": "NOERROR",
     "flags": ["qr", "rd", "ra"], "answer": [{"name": ..., "type": "CNAME", "ttl": 60, "data": ...}, ...],
     "authority": [], "transport": "udp", "ecs": null, "ecs_scope": null, "error": null}

``source`` is the address the query left from (the VM's own address, as Azure DNS
sees it). A question that gets no usable reply is recorded with ``rcode`` null and
the reason in ``error``.

The capture talks to the one server it is given and to nothing else: ``--server``
must be an IP address (a name would itself need DNS), and the default is read from
``/etc/resolv.conf`` (behind systemd-resolved's stub, from the file that lists its
upstream servers).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnsemu.analysis.namelist import NameEntry
from dnsemu.dns.addresses import format_hostport
from dnsemu.dns.client import DnsClient, ExchangeError
from dnsemu.dns.message import RR, MessageError, type_text

__all__ = ["FORMAT", "CaptureSummary", "add_arguments", "capture", "questions", "resolv_conf_servers", "run",
           "system_resolver"]

FORMAT = "dnsemu-capture/1"
RESOLV_CONF = Path("/etc/resolv.conf")
#: where systemd-resolved lists the servers behind its stub listener
RESOLVED_UPSTREAMS = Path("/run/systemd/resolve/resolv.conf")
RESOLVED_STUB = "127.0.0.53"
_MAX_RESOLV_CONF = 64 * 1024
DEFAULT_RATE = 100.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--names", required=True, metavar="FILE", help="the questions: one name per line, optionally with types"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to write the JSON lines ('-' for stdout)"
    )
    parser.add_argument(
        "--server",
        metavar="ADDR[:PORT]",
        help="the resolver to ask, an IP address (default: this machine's, from /etc/resolv.conf)",
    )
    parser.add_argument(
        "--type",
        "-t",
        dest="types",
        action="append",
        metavar="TYPE",
        help="types for the lines that name none (repeatable; default A)",
    )
    parser.add_argument("--bind", metavar="ADDR", help="send from this local address (default: the system's choice)")
    parser.add_argument(
        "--subnet",
        metavar="CIDR",
        help="send EDNS Client Subnet, for rehearsals against a dnsemu server (which then answers as that "
        "address); Azure DNS ignores it",
    )
    parser.add_argument("--tcp", action="store_true", help="ask over TCP (default UDP, TCP after a truncated reply)")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for each reply (default 2)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"questions per second at most (default {DEFAULT_RATE:g}; Azure DNS drops a VM's queries past 1000/s)",
    )


def resolv_conf_servers(text: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf, in order (lines that are not an address skipped)."""
    servers = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                ipaddress.ip_address(fields[1].split("%", 1)[0])
            except ValueError:
                continue
            servers.append(fields[1])
    return servers


def _read_small(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(_MAX_RESOLV_CONF).decode("utf-8", "replace")
    except OSError:
        return None


def system_resolver(
    resolv_conf: Path = RESOLV_CONF, upstreams: Path = RESOLVED_UPSTREAMS
) -> tuple[str, str]:
    """(address, how it was found) of the resolver this machine uses; ValueError when there is none.

    Behind systemd-resolved's stub (127.0.0.53) the query would leave from loopback
    and the stub would ask upstream from the VM's address: the upstream is asked
    directly instead, so that the capture records the address Azure DNS sees.
    """
    text = _read_small(resolv_conf)
    if text is None:
        raise ValueError(f"cannot read {resolv_conf}: give --server")
    servers = resolv_conf_servers(text)
    if not servers:
        raise ValueError(f"{resolv_conf} lists no nameserver: give --server")
    if servers[0] == RESOLVED_STUB:
        behind = [s for s in resolv_conf_servers(_read_small(upstreams) or "") if s != RESOLVED_STUB]
        if behind:
            return behind[0], f"the first upstream of systemd-resolved in {upstreams}"
    return servers[0], f"the first nameserver in {resolv_conf}"


def questions(entries: Iterable[NameEntry], default_types: Iterable[int]) -> list[tuple[str, int]]:
    """(name as written, type) for each entry and each of its types (the defaults for a line without)."""
    defaults = tuple(default_types)
    return [(entry.text, qtype) for entry in entries for qtype in (entry.types or defaults)]


@dataclass
class CaptureSummary:
    asked: int = 0
    answered: int = 0
    failed: int = 0


def _rr(rr: RR) -> dict[str, Any]:
    return {"name": rr.name, "type": type_text(rr.rtype), "ttl": rr.ttl, "data": rr.data}


def _timestamp(now: float) -> str:
    moment = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def capture(
    asked: Iterable[tuple[str, int]],
    host: str,
    port: int,
    write: Callable[[dict[str, Any]], None],
    *,
    bind: str | None = None,
    subnet: str | None = None,
    tcp: bool = False,
    timeout: float = 2.0,
    rate: float = 100.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> CaptureSummary:
    """Ask each question of ``host:port`` in turn, at most ``rate`` per second, and ``write`` one record each."""
    summary = CaptureSummary()
    server = format_hostport(host, port)
    client = DnsClient(timeout=timeout, source=bind)
    interval = 1.0 / rate if rate > 0 else 0.0
    next_at = monotonic()
    for name, qtype in asked:
        wait = next_at - monotonic()
        if wait > 0:
            sleep(wait)
        next_at = max(next_at, monotonic()) + interval
        record: dict[str, Any] = {
            "v": 1,
            "time": _timestamp(clock()),
            "source": bind,
            "server": server,
            "name": name,
            "type": type_text(qtype),
            "rcode": None,
            "flags": [],
            "answer": [],
            "authority": [],
            "transport": None,
            "ecs": subnet,
            "ecs_scope": None,
            "error": None,
        }
        summary.asked += 1
        try:
            response = client.exchange((host, port), client.make_query(name, qtype, subnet=subnet), tcp=tcp)
            reply = response.parse()
        except ExchangeError as exc:
            record["source"] = exc.local or bind
            record["error"] = str(exc)
            summary.failed += 1
        except MessageError as exc:
            record.update(source=response.local or bind, transport=response.transport, error=str(exc))
            summary.failed += 1
        else:
            record.update(
                source=response.local,
                rcode=reply.rcode_text,
                flags=reply.flag_text.split(),
                answer=[_rr(rr) for rr in reply.answer],
                authority=[_rr(rr) for rr in reply.authority],
                transport=response.transport,
                ecs_scope=reply.client_subnet[2] if subnet and reply.client_subnet else None,
            )
            summary.answered += 1
        write(record)
    return summary


def run(args: argparse.Namespace) -> int:
    import json

    from dnsemu.analysis.namelist import NamesFileError, read_names
    from dnsemu.cli.query import parse_server
    from dnsemu.dns.message import type_code

    def usage(message: str) -> int:
        print(f"dnsemu capture: {message}", file=sys.stderr)
        return 2

    try:
        entries = read_names(args.names)
    except NamesFileError as exc:
        return usage(str(exc))
    try:
        default_types = [type_code(t) for t in (args.types or ["A"])]
    except ValueError as exc:
        return usage(str(exc))
    if args.server:
        try:
            host, port = parse_server(args.server)
        except ValueError as exc:
            return usage(f"--server {exc}")
    else:
        try:
            host, how = system_resolver()
        except ValueError as exc:
            return usage(str(exc))
        port = 53
        print(f"dnsemu capture: asking {host}, {how}", file=sys.stderr)
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return usage(f"--server {host!r} is not an IP address (a name would itself need DNS)")
    for option, value, parse in (
        ("--bind", args.bind, ipaddress.ip_address),
        ("--subnet", args.subnet, lambda v: ipaddress.ip_network(v, strict=False)),
    ):
        if value is not None:
            try:
                parse(value)
            except ValueError as exc:
                return usage(f"{option} {exc}")
    if args.bind is not None:
        family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.bind((args.bind, 0))  # binding sends nothing
        except OSError as exc:
            return usage(f"--bind {args.bind}: cannot send from this address ({exc.strerror or exc})")
    if not 0 < args.timeout <= 60:
        return usage("--timeout must be more than 0 and at most 60 seconds")
    if not 0 < args.rate <= 100_000:
        return usage("--rate must be more than 0 and at most 100000")
    asked = questions(entries, default_types)
    try:
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        return usage(f"cannot write {args.output}: {exc.strerror or exc}")
    try:
        summary = capture(
            asked,
            host,
            port,
            lambda record: out.write(json.dumps(record, separators=(",", ":")) + "\n"),
            bind=args.bind,
            subnet=args.subnet,
            tcp=args.tcp,
            timeout=args.timeout,
            rate=args.rate,
        )
    finally:
        if out is not sys.stdout:
            out.close()
    where = "" if args.output == "-" else f" to {args.output}"
    print(
        f"dnsemu capture: {summary.asked} questions, {summary.answered} answered, {summary.failed} without a "
        f"reply{where}",
        file=sys.stderr,
    )
    return 1 if summary.failed else 0
