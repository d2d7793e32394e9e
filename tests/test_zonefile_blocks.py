"""The zone-file reader's block path (issue 18) reads exactly what the line-by-line readers read.

In a run of ``label [ttl] A address`` lines, the lines after the first
:data:`~dnsemu.topology.zonefile.BLOCK_AFTER`, when there are at least
:data:`~dnsemu.topology.zonefile.MIN_BLOCK` of them, are read as one block
(``_Parser.address_block``). Every text here is read as shipped, without the block reader,
without it and the one-line reader (``_Parser.address_line``), and without any fast path (nor
``_Parser.plain_record``): the records, their lines and files, and every problem reported
must be the same. Each odd line sits between two blocks, so that it is where a block
stops, starts, or is handed back line by line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsemu.topology import zonefile
from dnsemu.topology.errors import TopologyError

HEAD = "$ORIGIN corp.example.\n$TTL 300\n"
#: the shortest run read as a block: its first lines one at a time, the rest (MIN_BLOCK of them) as one
N = zonefile.BLOCK_AFTER + zonefile.MIN_BLOCK


def run(prefix: str, count: int = N, ttl: str = "", start: int = 0) -> str:
    """``count`` address lines of owners ``prefix<n>``, each with ``ttl`` when given."""
    gap = f" {ttl}" if ttl else ""
    return "".join(f"{prefix}{n}{gap} A 10.1.{n // 250}.{n % 250}\n" for n in range(start, start + count))


#: lines that stop a block, or that a block must not take, or that it takes but must read right
ODD = [
    "www A 10.0.0.1",
    "UPPER A 10.0.0.2",
    "A A 10.0.0.3",
    "300 A 10.0.0.4",
    "big 2147483648 A 10.0.0.5",
    "max 2147483647 A 10.0.0.6",
    "zeros 0060 A 10.0.0.7",
    "zero A 010.0.0.8",
    "over A 256.0.0.9",
    "short A 10.0.0",
    "long A 10.0.0.10.11",
    "five A 10.0.0.1000",
    "low a 10.0.0.12",
    "cls IN A 10.0.0.13",
    "tabs\t5\tA\t10.0.0.14\t",
    "crlf A 10.0.0.15\r",
    "trail A 10.0.0.16   ",
    "comment A 10.0.0.17 ; note",
    "\tA 10.0.0.18",
    "    A 10.0.0.19",
    "",
    "; a comment line",
    "two A 10.0.0.20 10.0.0.21",
    "x" * 63 + " A 10.0.0.22",
    "y" * 64 + " A 10.0.0.23",
    "bad..name A 10.0.0.24",
    "esc\\.aped A 10.0.0.25",
    "v6 AAAA fd00::1",
    "alias CNAME www",
    "paren ( A 10.0.0.26 )",
    "@ SOA ns hostmaster (\n inside A 10.0.0.27\n 1 2 3 4 5 )",
    "$TTL 1h",
    "$TTL 2147483648",
    "$ORIGIN sub.corp.example.",
    "$ORIGIN elsewhere.example.",
    "$ORIGIN " + ".".join(["z" * 60] * 3) + ".corp.example.",
    "$ORIGIN " + ".".join(["z" * 63] * 3) + ".corp.example.",
    "neg -1 A 10.0.0.28",
    "odd 1h A 10.0.0.29",
    "mx MX 10 www",
    "txt TXT \"A 10.0.0.30\"",
    "\x00 A 10.0.0.31",
]


def read(text: str, fast: int, monkeypatch: pytest.MonkeyPatch, default_ttl: int | None = 3600,
         origin: str = "corp.example.") -> tuple[list, list]:
    """``fast``: 3 as shipped, 2 without blocks, 1 nor the address-line reader, 0 without any fast path."""
    with monkeypatch.context() as patch:
        if fast < 3:
            patch.setattr(zonefile._Parser, "address_block", lambda self, ctx, text, offset, lineno: (0, 0))
        if fast < 2:
            patch.setattr(zonefile._Parser, "address_line", lambda self, ctx, raw, lineno: False)
        if fast < 1:
            patch.setattr(zonefile._Parser, "plain_record", lambda self, ln, ctx: False)
        try:
            entries = zonefile.parse_zone_text(text, origin=origin, default_ttl=default_ttl)
        except TopologyError as exc:
            return [], [str(p) for p in exc.problems]
    return [(e.record, e.line, e.file) for e in entries], []


def same_every_way(text: str, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> tuple[list, list]:
    ways = [read(text, fast, monkeypatch, **kwargs) for fast in (3, 2, 1, 0)]  # type: ignore[arg-type]
    assert ways[0] == ways[1] == ways[2] == ways[3]
    return ways[0]


@pytest.mark.parametrize("line", ODD)
def test_an_odd_line_between_two_blocks_reads_the_same_every_way(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + run("a") + line + "\n" + run("b")
    same_every_way(text, monkeypatch)


@pytest.mark.parametrize("line", ODD)
def test_an_odd_line_inside_a_block_reads_the_same_every_way(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the block ends before the odd line, or takes it; what follows may be a block or too short for one
    text = HEAD + run("a", N + 3) + line + "\n" + run("b", N - 1) + run("c", 2 * N, ttl="60")
    same_every_way(text, monkeypatch)


def test_a_whole_file_of_odd_lines_and_blocks_reads_the_same_every_way(monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + "".join(run(f"r{i}-", N + i % 3) + line + "\n" for i, line in enumerate(ODD))
    _, problems = same_every_way(text, monkeypatch)
    assert problems  # some of them are wrong, and the same problems are reported every way


@pytest.mark.parametrize("ttls", [("", ""), ("60", "60"), ("", "60"), ("60", ""), ("0", "2147483647")])
def test_blocks_with_and_without_ttls_read_the_same_every_way(ttls: tuple[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # every line with a TTL, none, or some: the block reads each the way its own line says
    text = HEAD + "".join(run("a", 1, ttl=ttls[n % 2], start=n) for n in range(3 * N))
    records, problems = same_every_way(text, monkeypatch)
    assert not problems and len(records) == 3 * N
    assert {r.ttl for r, _, _ in records} == {int(t) if t else 300 for t in ttls}


@pytest.mark.parametrize("ending", ["", "\n", "\r\n", "\n\n", "  "])
def test_a_block_at_the_end_of_the_text_reads_the_same_every_way(ending: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + run("a").rstrip("\n").replace("\n", ending if ending.strip(" ") else "\n") + ending
    records, problems = same_every_way(text, monkeypatch)
    assert not problems and len(records) == N


@pytest.mark.parametrize("count", [N - 1, N, N + 1])
def test_short_and_long_runs_read_the_same_every_way(count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + run("a", count) + "mx MX 10 a0\n" + run("b", count)
    records, problems = same_every_way(text, monkeypatch)
    assert not problems and [line for _, line, _ in records] == [*range(3, 3 + 2 * count + 1)]


def test_without_any_ttl_a_block_is_left_to_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "$ORIGIN corp.example.\n" + run("a")  # no $TTL, no default: each line is a problem, the same ones
    records, problems = same_every_way(text, monkeypatch, default_ttl=None)
    assert len(problems) == N and not records


def test_without_a_ttl_the_soa_minimum_applies_unless_it_is_over_the_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    for minimum, ok in ((42, True), (2**31 - 1, True), (2**31, False), (2**32 - 1, False)):
        text = f"$ORIGIN corp.example.\n@ 3600 SOA ns hostmaster 1 2 3 4 {minimum}\n" + run("a")
        records, problems = same_every_way(text, monkeypatch, default_ttl=None)
        if ok:
            assert not problems and records[-1][0].ttl == minimum
        else:  # the general path's "default TTL ... is over the maximum", for every line
            assert len(problems) == N and "over the maximum" in problems[0]


def test_a_blank_owner_after_a_block_is_the_blocks_last_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEAD + run("a") + "\tTXT \"hello\"\n"
    records, _ = same_every_way(text, monkeypatch)
    assert records[-1][0].name == f"a{N - 1}.corp.example." and records[-1][1] == 3 + N


def test_the_root_zone_reads_the_same_every_way(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "$TTL 60\n" + run("host") + "$ORIGIN example.\n" + run("www")
    records, problems = same_every_way(text, monkeypatch, origin=".")
    assert not problems and records[0][0].name == "host0." and records[-1][0].name == f"www{N - 1}.example."


def test_the_block_reader_reads_the_runs_of_a_large_zone() -> None:
    """Not vacuous: the runs of the common line go through the block reader, each as one."""
    seen: list[tuple[int, int]] = []
    real = zonefile._Parser.address_block

    def spy(self: zonefile._Parser, ctx: object, text: str, offset: int, lineno: int) -> tuple[int, int]:
        taken, end = real(self, ctx, text, offset, lineno)  # type: ignore[arg-type]
        if taken > 0:
            seen.append((lineno, taken))
        return taken, end

    text = HEAD + run("a", 40) + "mx MX 10 a0\n" + run("b", 20, ttl="60") + "$TTL 5\n" + run("c", 30)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zonefile._Parser, "address_block", spy)
        entries = zonefile.parse_zone_text(text, origin="corp.example.")
    assert seen == [(7, 36), (48, 16), (69, 26)]  # each run's first 4 lines one at a time
    assert [(e.record.name, e.record.ttl, e.line) for e in entries][::30] == [
        ("a0.corp.example.", 300, 3), ("a30.corp.example.", 300, 33), ("b19.corp.example.", 60, 63),
        ("c29.corp.example.", 5, 94)]
    assert entries[0].record.rdata == ("10.1.0.0",)


def test_included_files_keep_their_own_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records of several files in one reading: each has its own file and line, whichever reader read it."""
    (tmp_path / "inc.zone").write_text("$TTL 60\n" + run("i") + "mx MX 10 i0\n" + run("j", 2))
    (tmp_path / "main.zone").write_text(HEAD + run("a", N + 1) + "$INCLUDE inc.zone\n" + run("b"))
    ways = []
    for fast in (3, 0):
        with monkeypatch.context() as patch:
            if fast < 3:
                patch.setattr(zonefile._Parser, "address_block", lambda self, ctx, text, offset, lineno: (0, 0))
                patch.setattr(zonefile._Parser, "address_line", lambda self, ctx, raw, lineno: False)
                patch.setattr(zonefile._Parser, "plain_record", lambda self, ln, ctx: False)
            entries = zonefile.load_zone_file(tmp_path / "main.zone", origin="corp.example.")
            records = zonefile.zone_file_records(tmp_path / "main.zone", origin="corp.example.")
        ways.append([(e.record, e.line, Path(e.file).name) for e in entries])
        assert [records.entry(i) for i in range(len(records))] == entries == records.entries()
    assert ways[0] == ways[1]
    where = [(name, line) for _, line, name in ways[0]]
    assert where[0] == ("main.zone", 3) and where[N] == ("main.zone", 3 + N)
    assert where[N + 1] == ("inc.zone", 2) and where[2 * N + 1] == ("inc.zone", 2 + N)
    assert where[2 * N + 2] == ("inc.zone", 3 + N) and where[2 * N + 4] == ("main.zone", 5 + N)
    assert ways[0][N + 1][0].ttl == 60 and ways[0][-1][0].ttl == 300  # $TTL of the included file stays there


def test_a_file_of_blocks_alone_is_a_zone_file(tmp_path: Path) -> None:
    """The "not a zone file" judgement counts the lines a block reads as records."""
    (tmp_path / "z.zone").write_text(run("a") + "this is not a record\n")  # no directive: the block alone
    with pytest.raises(TopologyError) as caught:
        zonefile.load_zone_file(tmp_path / "z.zone", origin="corp.example.", default_ttl=60)
    assert "not a zone file" not in str(caught.value) and "unknown type" in str(caught.value)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_an_owner_over_the_longest_name_is_left_to_the_general_path(extra: int,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The longest name is 254 characters with its final dot (255 octets on the wire): a block whose owners
    would be longer is read line by line, and the general path says what is wrong."""
    origin = ".".join(["z" * 63] * 3) + "." + "z" * 36 + ".corp.example."  # 242 characters
    width = 254 - len(origin) - 1 + extra  # a label that makes the owner 254 + extra characters long
    lines = "".join(f"{n:0{width}d} A 10.0.0.{n}\n" for n in range(N))
    records, problems = same_every_way(f"$ORIGIN {origin}\n$TTL 60\n" + lines, monkeypatch)
    if extra <= 0:
        assert not problems and len(records) == N and len(records[0][0].name) == 254 + extra
    else:
        assert not records and len(problems) == N and "over 255 octets" in problems[0]


def test_a_run_whose_later_owners_grow_too_long_is_read_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The block is offered a run after its first lines were read one at a time: its own owners decide."""
    origin = ".".join(["z" * 63] * 3) + "." + "z" * 36 + ".corp.example."  # 242 characters
    lines = "".join(f"h{n} A 10.0.0.{n}\n" for n in range(N)) + "".join(f"{n:012d} A 10.0.1.{n}\n" for n in range(N))
    records, problems = same_every_way(f"$ORIGIN {origin}\n$TTL 60\n" + lines, monkeypatch)
    assert not records and len(problems) == N and "over 255 octets" in problems[0]


def direct(text: str, origin: str = "corp.example.", before: int = 0) -> tuple[tuple[int, int], zonefile._Parser,
                                                                              zonefile._Ctx]:
    """``_Parser.address_block`` asked at the start of ``text`` (its line 10), ``before`` records kept already."""
    parser = zonefile._Parser("corp.example.", 3600)
    ctx = zonefile._Ctx("f.zone", None, origin, None, 0)
    for n in range(before):
        parser.keep(zonefile.Record(f"k{n}.corp.example.", 1, 60, ("10.9.9.9",)), 1 + n, "f.zone")
    return parser.address_block(ctx, text, 0, 10), parser, ctx


def test_the_block_reader_alone_reads_a_run_as_its_lines_say() -> None:
    text = run("a", zonefile.MIN_BLOCK) + "mx MX 10 a0\n"
    (taken, end), parser, ctx = direct(text)
    assert (taken, text[end:]) == (zonefile.MIN_BLOCK, "mx MX 10 a0\n")
    assert ctx.recognised == zonefile.MIN_BLOCK and ctx.owner == f"a{zonefile.MIN_BLOCK - 1}.corp.example."
    assert parser.runs == [(0, 10, "f.zone")] and len(parser.records) == zonefile.MIN_BLOCK
    (taken, end), parser, _ = direct(text, before=2)  # kept on lines 1 and 2: the block's line 10 starts a run
    assert taken == zonefile.MIN_BLOCK and parser.runs == [(0, 1, "f.zone"), (2, 10, "f.zone")]
    assert zonefile.ZoneRecords(parser.records, tuple(parser.runs)).entry(3).line == 11


@pytest.mark.parametrize(("origin", "count", "expected"), [
    ("elsewhere.example.", zonefile.MIN_BLOCK, -zonefile.MIN_BLOCK),  # $ORIGIN outside the zone: line by line
    ("sub.corp.example.", zonefile.MIN_BLOCK, zonefile.MIN_BLOCK),
    ("corp.example.", zonefile.MIN_BLOCK - 1, 1 - zonefile.MIN_BLOCK),  # too short to be worth a block
])
def test_the_block_reader_alone_hands_back_what_it_does_not_read(origin: str, count: int, expected: int) -> None:
    (taken, end), parser, ctx = direct(run("a", count) + "mx MX 10 a0\n", origin)
    assert taken == expected and (end > 0) == (taken > 0)
    assert len(parser.records) == max(taken, 0) and ctx.recognised == max(taken, 0)
    if taken > 0:
        assert parser.records[0].name == f"a0.{origin}"
