"""``HOST:PORT`` as text, both ways, for every address dnsemu reads or prints.

One spelling everywhere: ``10.0.0.4:53``, and an IPv6 address in brackets,
``[fd00::4]:53`` (RFC 3986's authority syntax, what dig, CoreDNS and Knot
print). What differs between the places that read one is a choice, passed as
arguments to :func:`parse_hostport`:

==========================  ============  ==========  ==============
where                       port missing  port range  host
==========================  ============  ==========  ==============
``listen``, ``http_listen``  an error     0-65535     an IP address
upstreams, topology targets  53           1-65535     an IP address
``dnsemu query --server``    53           1-65535     a name too
==========================  ============  ==========  ==============

Without a default port, an unbracketed IPv6 address cannot carry one, so
``::1:53`` is refused with the bracketed spelling as the fix; with a default,
``fd00::4`` is an address on port 53. Standard library only: ``dnsemu query``
(the container's health check) imports it.
"""

from __future__ import annotations

import ipaddress

__all__ = ["Address", "format_hostport", "parse_hostport"]

Address = tuple[str, int]


def format_hostport(host: str, port: int) -> str:
    """``10.0.0.4:53``, or ``[fd00::4]:53`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_hostport(text: str, *, default_port: int | None = None, port_zero: bool = False,
                   names: bool = False) -> Address:
    """``HOST:PORT``, ``[IPv6]:PORT`` (or, with ``default_port``, the host alone) → (host, port).

    An IP address comes back in its normal form (``fd00:0::4`` → ``fd00::4``).
    ``port_zero`` allows port 0 (a listener asking the kernel for a free port);
    ``names`` allows a host name besides an IP address. Raises :class:`ValueError`
    naming the text and what is wrong with it.
    """
    text = str(text).strip()
    host, port_text = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":"):
            port_text = rest[1:]
        elif rest:
            raise ValueError(f"{text!r}: expected ':PORT' after ']'")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text and default_port is None:
        raise ValueError(f"{text!r}: write an IPv6 address with a port as [ADDRESS]:PORT")
    if not host:
        raise ValueError(f"{text!r}: no host")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if not names or ":" in host or any(c.isspace() for c in host):
            kind = "an IP address or a host name" if names else "an IP address"
            raise ValueError(f"{text!r}: {host!r} is not {kind} (HOST:PORT, or [IPv6]:PORT)") from None
    if port_text is None:
        if default_port is None:
            raise ValueError(f"{text!r}: a port is required (HOST:PORT)")
        return host, default_port
    low = 0 if port_zero else 1
    if not port_text.isdigit() or not low <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from {low} to 65535")
    return host, int(port_text)
