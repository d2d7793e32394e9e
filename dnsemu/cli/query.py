"""``dnsemu query``: send one DNS query, print a one-line summary of the reply.

::

    $ dnsemu query mystorage.blob.core.windows.net --server 127.0.0.1:5390 --subnet 10.0.2.4/32
    NOERROR mystorage.blob.core.windows.net. A: CNAME mystorage.privatelink.blob.core.windows.net., A 10.0.1.4 \
(udp 127.0.0.1:5390, 2 ms)

Exit status: 0 when a reply with our ID and question arrives, whatever its
rcode (a server that answers REFUSED is alive); 1 on timeout, a network error
or a reply that does not parse; 2 on bad arguments. ``NAME`` may be an IP
address: the query is then for its reverse name, type PTR. ``--server HOST``
without a port asks port 5390, where ``dnsemu serve`` listens by default.

``--from SOURCE`` asks as ``dnsemu explain --from`` does: an address, or the name of
a VNet, on-premises site or VM, which the topology maps to an address (its VM's, or
the network's ``.4``). A loopback address is sent from (bound); any other is sent as
EDNS Client Subnet ``ADDRESS/32`` from 127.0.0.1, which the server honours from
loopback by default. Mapping a name needs the topology (``--topology``, as the other
commands find it); the ``dnsemu`` command hands that lookup in as ``resolve_source``,
so this module itself never loads a topology.

A truncated UDP reply is asked again over TCP, as dig does. It is the
container's health check, so it imports nothing but the standard library and
dnsemu's own client (:mod:`dnsemu.dns.client`, whose event-loop half it never
loads): no dig, no dnspython, no dnslib.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from collections.abc import Callable, Sequence

from dnsemu.dns.addresses import DEFAULT_LISTEN, DEFAULT_PORT, format_hostport, parse_hostport
from dnsemu.dns.client import DnsClient, ExchangeError
from dnsemu.dns.message import MessageError, Reply, type_code, type_text
from dnsemu.dns.names import to_wire

DEFAULT_SERVER = DEFAULT_LISTEN  # where `dnsemu serve` listens by default
DEFAULT_TIMEOUT = 2.0

#: ``(source name, topology path or None) -> address text``; raises ValueError with a message to print
SourceResolver = Callable[[str, "str | None"], str]


def parse_server(text: str) -> tuple[str, int]:
    """``HOST[:PORT]``, ``[IPv6]:PORT`` or a bare IPv6 address; dnsemu's port (5390) when left out, a host name
    allowed."""
    return parse_hostport(text, default_port=DEFAULT_PORT, names=True)


def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer + "."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsemu query",
        description="Send one DNS query and print a one-line summary of the reply. Exit status: 0 when a reply "
        "arrives (whatever its rcode), 1 on timeout or a malformed reply, 2 on bad arguments. Needs nothing "
        "but Python: it is the container's health check.",
    )
    parser.add_argument("name", help="the name to ask for; an IP address asks for its reverse name (PTR)")
    parser.add_argument("qtype", nargs="?", metavar="TYPE", help="query type, like dig's (same as --type)")
    parser.add_argument("--type", "-t", dest="type_option", metavar="TYPE", help="query type (default A)")
    parser.add_argument(
        "--server",
        "-s",
        default=DEFAULT_SERVER,
        help=f"HOST[:PORT] or [IPv6]:PORT of the server (default {DEFAULT_SERVER}, "
        f"where 'dnsemu serve' listens by default; port {DEFAULT_PORT} when left out)",
    )
    parser.add_argument("--tcp", action="store_true", help="ask over TCP (default UDP, TCP after a truncated reply)")
    parser.add_argument(
        "--subnet",
        metavar="CIDR",
        help="send EDNS Client Subnet: the emulator answers as if asked from this subnet "
        "(when the query comes from a trusted source)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="ask as this source: an address, or the name of a VNet, on-premises site or VM of the topology "
        "(sent from a loopback address, or as EDNS Client Subnet ADDRESS/32)",
    )
    parser.add_argument(
        "--topology",
        metavar="PATH",
        help="the topology that maps --from names to addresses (default: DNSEMU_TOPOLOGY, else "
        "zones/topology.yaml of the working directory, else the bundled example estate)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the whole exchange (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="also print the flags and the authority section")
    return parser


def main(argv: Sequence[str] | None = None, resolve_source: SourceResolver | None = None) -> int:
    """Run ``dnsemu query``; ``resolve_source`` maps a ``--from`` name to an address (None: addresses only)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help (0) or a usage error (2): return, never exit
        return int(exc.code or 0)

    def usage(message: str) -> int:
        print(f"dnsemu query: {message}", file=sys.stderr)
        return 2

    if args.qtype and args.type_option and type_code(args.qtype) != type_code(args.type_option):
        return usage(f"two different types: {args.qtype} and --type {args.type_option}")
    name = args.name
    try:
        ipaddress.ip_address(name)
    except ValueError:
        default_type = "A"
    else:
        name, default_type = reverse_name(name), "PTR"
    try:
        qtype = type_code(args.type_option or args.qtype or default_type)
        to_wire(name)
        host, port = parse_server(args.server)
        if args.subnet:
            ipaddress.ip_network(args.subnet, strict=False)
    except ValueError as exc:
        return usage(str(exc))
    if not 0 < args.timeout <= 3600:
        return usage("--timeout must be more than 0 and at most 3600 seconds")
    subnet, bind = args.subnet, None
    if args.source is not None:
        if args.subnet:
            return usage("--from and --subnet both choose who asks: give one")
        try:
            subnet, bind = source_route(args.source, args.topology, resolve_source)
        except ValueError as exc:
            return usage(str(exc))
    elif args.topology:
        return usage("--topology maps --from names: give --from too")
    if not name.endswith("."):
        name += "."
    server = format_hostport(host, port)
    client = DnsClient(timeout=args.timeout, source=bind)
    started = time.monotonic()
    try:
        response = client.exchange((host, port), client.make_query(name, qtype, subnet=subnet), tcp=args.tcp)
        reply = response.parse()
    except (ExchangeError, MessageError) as exc:
        print(f"dnsemu query: no usable reply from {server} for {name} {type_text(qtype)}: {exc}", file=sys.stderr)
        return 1
    elapsed = (time.monotonic() - started) * 1000
    print(f"{summary(name, qtype, reply)} ({response.transport} {server}, {elapsed:.0f} ms)")
    if args.verbose:
        print(f";; flags: {reply.flag_text}")
        for rr in reply.authority:
            print(f";; authority: {rr.name} {rr.ttl} {rr.short()}")
    return 0


def source_route(source: str, topology: str | None,
                 resolve_source: SourceResolver | None) -> tuple[str | None, str | None]:
    """``(ECS subnet, address to send from)`` for ``--from source``: one of them is None.

    A loopback address is sent from (Linux lets a socket bind any 127.x.y.z); any other address goes as
    ECS ``ADDRESS/32`` (``/128``) from the default source, as the test fixture sends it.
    """
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        if resolve_source is None:
            raise ValueError(f"--from {source!r} is not an IP address, and naming a network needs the topology "
                             "(run it as 'dnsemu query')") from None
        address = ipaddress.ip_address(resolve_source(source, topology))
    if address.is_loopback:
        return None, str(address)
    return f"{address}/{address.max_prefixlen}", None


def summary(name: str, qtype: int, reply: Reply) -> str:
    """``NOERROR name. A: CNAME target., A 10.0.1.4`` (the answer section, short form)."""
    head = f"{reply.rcode_text} {name} {type_text(qtype)}"
    if reply.answer:
        return f"{head}: " + ", ".join(rr.short() for rr in reply.answer)
    soa = next((rr for rr in reply.authority if rr.rtype == 6), None)
    return f"{head}: no answer" + (f" (SOA {soa.name})" if soa else "")
