"""Host names and addresses as people write them: ``host[:port]`` authorities and allowed-host entries.

Used by the HTTP listener (``Host``, ``Origin``, absolute URLs) and by the
settings that configure it, so it sits below both.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["Authority", "normalise_host", "parse_authority"]

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
        raise ValueError(f"{name!r} is not a host name or an IP address (no port: any port is accepted)")
    return authority.host
