"""``HOST:PORT`` as text, both ways, for every address dnsemu reads or prints; ``Host`` authorities.

One spelling everywhere: ``10.0.0.4:53``, and an IPv6 address in brackets,
``[fd00::4]:53`` (RFC 3986's authority syntax, what dig, CoreDNS and Knot
print). What differs between the places that read one is a choice, passed as
arguments to :func:`parse_hostport`:

==========================  ============  ==========  ==============  ==============
where                       port missing  port range  host            host missing
==========================  ============  ==========  ==============  ==============
``listen``, ``http_listen``  an error     0-65535     an IP address   127.0.0.1
upstreams, topology targets  53           1-65535     an IP address   an error
``dnsemu query --server``    5390         1-65535     a name too      an error
==========================  ============  ==========  ==============  ==============

Without a default port, an unbracketed IPv6 address cannot carry one, so
``::1:53`` is refused with the bracketed spelling as the fix; with a default,
``fd00::4`` is an address on port 53. A listener written ``:PORT`` listens on
loopback. Standard library only: ``dnsemu query`` (the container's health check)
imports it.

:data:`DEFAULT_PORT`, 5390, is where ``dnsemu serve`` listens unless told otherwise.
It is not 53 (a privileged port, and the one systemd-resolved, dnsmasq and every
local resolver hold) nor 5353 (Multicast DNS: avahi and mDNSResponder hold it on most
desktops), nor 5354 (mDNSResponder's IPC) or 5355 (LLMNR, systemd-resolved): IANA's
registry leaves 5365-5396 unassigned, and no common desktop or DNS service listens on
5390 (5380, in the same block, is Technitium DNS Server's web console).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from dnsemu.text import excerpt

__all__ = ["DEFAULT_LISTEN", "DEFAULT_PORT", "Address", "Authority", "format_hostport", "normalise_host",
           "parse_authority", "parse_hostport"]

Address = tuple[str, int]

#: where ``dnsemu serve`` listens by default (see the module docstring for why this port)
DEFAULT_PORT = 5390
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"


def format_hostport(host: str, port: int) -> str:
    """``10.0.0.4:53``, or ``[fd00::4]:53`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_hostport(text: str, *, default_port: int | None = None, port_zero: bool = False,
                   names: bool = False, default_host: str | None = None) -> Address:
    """``HOST:PORT``, ``[IPv6]:PORT`` (or, with ``default_port``, the host alone) → (host, port).

    An IP address comes back in its normal form (``fd00:0::4`` → ``fd00::4``).
    ``port_zero`` allows port 0 (a listener asking the kernel for a free port);
    ``names`` allows a host name besides an IP address; ``default_host`` is the
    host of ``:PORT``. Raises :class:`ValueError` naming the text and what is
    wrong with it.
    """
    text = str(text).strip()
    if default_host is not None and text.startswith(":") and text.count(":") == 1:
        text = format_hostport(default_host, 0).rsplit(":", 1)[0] + text  # ":5390" -> "127.0.0.1:5390"
    host, port_text = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{excerpt(text)}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":"):
            port_text = rest[1:]
        elif rest:
            raise ValueError(f"{excerpt(text)}: expected ':PORT' after ']'")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text and default_port is None:
        raise ValueError(f"{excerpt(text)}: write an IPv6 address with a port as [ADDRESS]:PORT")
    if not host:
        raise ValueError(f"{excerpt(text)}: no host")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if not names or ":" in host or any(c.isspace() for c in host):
            kind = "an IP address or a host name" if names else "an IP address"
            raise ValueError(f"{excerpt(text)}: {excerpt(host)} is not {kind} (HOST:PORT, or [IPv6]:PORT)") from None
    if port_text is None:
        if default_port is None:
            raise ValueError(f"{excerpt(text)}: a port is required (HOST:PORT)")
        return host, default_port
    low = 0 if port_zero else 1
    if not (port_text.isascii() and port_text.isdigit()) or not low <= int(port_text) <= 65535:
        raise ValueError(f"{excerpt(text)}: the port must be a number from {low} to 65535")
    return host, int(port_text)


# --------------------------------------------------------------------------- HTTP authorities

_REG_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]*")  # RFC 3986 reg-name, ASCII only
_PORT = re.compile(r"[0-9]{0,5}")


@dataclass(frozen=True)
class Authority:
    """``host[:port]`` of a Host header, an absolute URL or an Origin: the host lower-cased, without a trailing
    dot, an IPv6 address without brackets; ``ip`` when the host is an IP address literal."""

    host: str
    port: int | None = None
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None


def parse_authority(text: str) -> Authority:
    """``host[:port]`` (RFC 3986 authority without userinfo) → :class:`Authority`; ValueError when malformed."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("an IPv6 address without its closing ']'")
        inside, rest = text[1:end], text[end + 1 :]
        if not inside.isascii():
            raise ValueError("not ASCII")
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.IPv6Address(inside)
        host = str(ip)
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not _REG_NAME.fullmatch(host):
            raise ValueError("a host name holds a character a host name cannot hold")
        host = host.lower()
        if host.endswith(".") and host != ".":
            host = host[:-1]
        try:
            ip = ipaddress.IPv4Address(host)  # the dotted quad only: "127.1" or "0x7f.0.0.1" stay names
        except ValueError:
            ip = None
    port = None
    if rest:
        if rest[0] != ":" or not _PORT.fullmatch(rest[1:]):
            raise ValueError("the port is not ASCII digits")
        if rest[1:]:
            port = int(rest[1:])
            if port > 65535:
                raise ValueError("the port is over 65535")
    return Authority(host, port, ip)


def normalise_host(name: str) -> str:
    """An entry of an allowed-hosts list as :class:`HostPolicy` compares it: ``*``, a lower-case name without a
    trailing dot, or an IP address (IPv6 with or without brackets). ValueError when it is neither."""
    name = name.strip()
    if name == "*":
        return name
    text = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    authority = parse_authority(name)
    if authority.port is not None or ":" in name or not authority.host or authority.host == ".":
        raise ValueError(f"{excerpt(name)} is not a host name or an IP address (no port: any port is accepted)")
    return authority.host
