"""HOST:PORT, read and written one way everywhere (dnsemu.dns.addresses): listen addresses, upstreams and
topology targets, ``dnsemu query --server``, log lines and metric labels."""

from __future__ import annotations

import pytest

from dnsemu.dns.addresses import format_hostport, parse_hostport


@pytest.mark.parametrize(("host", "port", "text"), [
    ("10.0.0.4", 53, "10.0.0.4:53"),
    ("fd00::4", 5353, "[fd00::4]:5353"),
    ("localhost", 0, "localhost:0"),
])
def test_format_and_read_back(host: str, port: int, text: str) -> None:
    assert format_hostport(host, port) == text
    assert parse_hostport(text, port_zero=True, names=True) == (host, port)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    (" [::1]:0 ", ("::1", 0)),
    ("[fd00:0:0::1]:53", ("fd00::1", 53)),  # the address's normal form
])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text, port_zero=True) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.4", ("10.0.0.4", 53)),
    ("10.0.0.4:5300", ("10.0.0.4", 5300)),
    ("fd00::4", ("fd00::4", 53)),  # a bare IPv6 address: the default port
    ("[fd00::4]", ("fd00::4", 53)),
    ("[fd00::4]:5353", ("fd00::4", 5353)),
])
def test_targets_default_to_port_53(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text, default_port=53) == expected


@pytest.mark.parametrize(("text", "options", "message"), [
    ("127.0.0.1", {}, "a port is required (HOST:PORT)"),
    ("::1:53", {}, "write an IPv6 address with a port as [ADDRESS]:PORT"),
    ("[::1:53", {}, "missing ']' after the IPv6 address"),
    ("[::1]53", {}, "expected ':PORT' after ']'"),
    ("localhost:53", {}, "'localhost' is not an IP address"),
    ("localhost:53", {"default_port": 53, "names": False}, "'localhost' is not an IP address"),
    ("no such:53", {"names": True}, "'no such' is not an IP address or a host name"),
    ("127.0.0.1:0", {}, "the port must be a number from 1 to 65535"),
    ("127.0.0.1:65536", {"port_zero": True}, "the port must be a number from 0 to 65535"),
    ("127.0.0.1:x", {"default_port": 53}, "the port must be a number from 1 to 65535"),
    (":53", {}, "no host"),
])
def test_mistakes_are_named(text: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_hostport(text, **options)  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"{text.strip()!r}: ") and message in str(caught.value)


def test_a_host_name_only_where_asked_for() -> None:
    assert parse_hostport("localhost:53", names=True) == ("localhost", 53)
    assert parse_hostport("dns.example", default_port=53, names=True) == ("dns.example", 53)
