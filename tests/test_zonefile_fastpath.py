"""The zone-file reader's fast paths for the common line (issue 18) read exactly what the general path reads.

Each text is read three times: as shipped, without the one-regex reader of ``label [ttl] A
address`` lines (``_Parser.address_line``), and without either fast path (nor
``_Parser.plain_record``); the records, their lines and every problem reported must be the same.
"""

from __future__ import annotations

import pytest

from dnsemu.topology import zonefile
from dnsemu.topology.errors import TopologyError

HEAD = "$ORIGIN corp.example.\n$TTL 300\n"
LINES = [
    "www A 10.0.0.1",
    "www 60 A 10.0.0.2",
    "www 0060 A 10.0.0.3",
    "WWW.Corp.Example. 3600 AAAA fd00::1",
    "@ A 10.0.0.4",
    "* 10 CNAME www",
    "alias CNAME target.elsewhere.example.",
    "4.0.0.10.in-addr.arpa. PTR www",
    "ptr PTR www.corp.example.",
    "low a 10.0.0.5",
    "cls IN A 10.0.0.6",
    "cls2 60 IN A 10.0.0.7",
    "big 2147483648 A 10.0.0.8",
    "odd 1h A 10.0.0.9",
    "out.other.example. A 10.0.0.10",
    "bad..name A 10.0.0.11",
    "esc\\.aped A 10.0.0.12",
    "zero A 010.0.0.13",
    "v6 AAAA 10.0.0.14",
    "v4 A fd00::2",
    "two A 10.0.0.15 10.0.0.16",
    "A A 10.0.0.17",
    "300 A 10.0.0.18",
    "    A 10.0.0.19",
    "long 99999999999 A 10.0.0.20",
    "mx MX 10 mail",
    "neg -1 A 10.0.0.21",
    "w-x_Y A 10.0.0.22",
    "tabs\t5\tA\t10.0.0.23\t",
    "crlf A 10.0.0.24\r",
    "edge A 255.255.255.255",
    "over A 256.0.0.1",
    "short A 10.0.0",
    "trail A 10.0.0.25 ; a comment",
    "x" * 63 + " A 10.0.0.26",
    "y" * 64 + " A 10.0.0.27",
    "max 2147483647 A 10.0.0.28",
    "ttl0 0 A 10.0.0.29",
    "lower a 10.0.0.30",
    "paren ( A 10.0.0.31 )",
    "@ SOA ns hostmaster (\n inside A 10.0.0.32\n 1 2 3 4 5 )",
    "$ORIGIN elsewhere.example.\nstray A 10.0.0.33\n$ORIGIN corp.example.",
    "$ORIGIN deep.corp.example.\nsub A 10.0.0.34\n$ORIGIN corp.example.",
    "$ORIGIN " + ".".join(["z" * 60] * 3) + ".corp.example.\nlong A 10.0.0.35\n$ORIGIN corp.example.",
    "$TTL 1h\nhour A 10.0.0.36\n$TTL 300",
    "\tblank-owner-follows A 10.0.0.37",
]


def read(text: str, fast: int, monkeypatch: pytest.MonkeyPatch, default_ttl: int | None = 3600) -> tuple[list, list]:
    """``fast``: 2 as shipped, 1 without the address-line reader, 0 without either fast path."""
    with monkeypatch.context() as patch:
        if fast < 2:
            patch.setattr(zonefile._Parser, "address_line", lambda self, ctx, raw, lineno: False)
        if fast < 1:
            patch.setattr(zonefile._Parser, "plain_record", lambda self, ln, ctx: False)
        try:
            entries = zonefile.parse_zone_text(text, origin="corp.example.", default_ttl=default_ttl)
        except TopologyError as exc:
            return [], [str(p) for p in exc.problems]
    return [(e.record, e.line, e.file) for e in entries], []


@pytest.mark.parametrize("line", LINES)
def test_each_line_reads_the_same_either_way(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + "first A 10.9.9.9\n" + line + "\nlast A 10.9.9.8\n"
    assert read(text, 2, monkeypatch) == read(text, 1, monkeypatch) == read(text, 0, monkeypatch)


def test_a_whole_file_reads_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + "\n".join(LINES) + "\n"
    fast, slow = read(text, 2, monkeypatch), read(text, 0, monkeypatch)
    assert fast == slow and slow[1]  # problems, and the same ones
    assert read(text, 1, monkeypatch) == slow


def test_without_any_ttl_the_address_line_is_left_to_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "$ORIGIN corp.example.\nwww A 10.0.0.1\n"  # no $TTL, no default, no SOA: a problem, the same one
    fast, slow = read(text, 2, monkeypatch, None), read(text, 0, monkeypatch, None)
    assert fast == slow and slow[1]


def test_the_address_line_reader_reads_the_common_line() -> None:
    """Not vacuous: the lines of a large generated zone go through the one-regex reader."""
    seen: list[int] = []
    real = zonefile._Parser.address_line

    def spy(self: zonefile._Parser, ctx: object, raw: str, lineno: int) -> bool:
        done = real(self, ctx, raw, lineno)  # type: ignore[arg-type]
        if done:
            seen.append(lineno)
        return done

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zonefile._Parser, "address_line", spy)
        entries = zonefile.parse_zone_text(HEAD + "a A 10.0.0.1\nB 60 A 10.0.0.2\n", origin="corp.example.")
    assert seen == [3, 4]
    assert [(e.record.name, e.record.ttl, e.record.rdata, e.line) for e in entries] == [
        ("a.corp.example.", 300, ("10.0.0.1",), 3), ("b.corp.example.", 60, ("10.0.0.2",), 4)]


def test_without_a_ttl_the_default_and_then_the_soa_minimum_apply() -> None:
    text = "$ORIGIN corp.example.\n@ 3600 SOA ns hostmaster 1 2 3 4 42\nwww A 10.0.0.1\n"
    for default in (None, 120):
        entries = zonefile.parse_zone_text(text, origin="corp.example.", default_ttl=default)
        assert entries[-1].record.ttl == (42 if default is None else 120)
