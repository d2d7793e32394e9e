"""The zone-file reader's fast path for the common line (issue 18) reads exactly what the general path reads.

Each text is read twice, once as shipped and once with the fast path turned off; the records,
their lines and every problem reported must be the same.
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
]


def read(text: str, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(zonefile._Parser, "plain_record", lambda self, ln, ctx: False)
        try:
            entries = zonefile.parse_zone_text(text, origin="corp.example.", default_ttl=3600)
        except TopologyError as exc:
            return [], [str(p) for p in exc.problems]
    return [(e.record, e.line, e.file) for e in entries], []


@pytest.mark.parametrize("line", LINES)
def test_each_line_reads_the_same_either_way(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + "first A 10.9.9.9\n" + line + "\nlast A 10.9.9.8\n"
    assert read(text, True, monkeypatch) == read(text, False, monkeypatch)


def test_a_whole_file_reads_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + "\n".join(LINES) + "\n"
    fast, slow = read(text, True, monkeypatch), read(text, False, monkeypatch)
    assert fast == slow and slow[1]  # problems, and the same ones


def test_without_a_ttl_the_default_and_then_the_soa_minimum_apply() -> None:
    text = "$ORIGIN corp.example.\n@ 3600 SOA ns hostmaster 1 2 3 4 42\nwww A 10.0.0.1\n"
    for default in (None, 120):
        entries = zonefile.parse_zone_text(text, origin="corp.example.", default_ttl=default)
        assert entries[-1].record.ttl == (42 if default is None else 120)
