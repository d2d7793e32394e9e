"""RFC 1035 master files ("zone files") turned into :class:`~dnsemu.dns.records.Record` values.

Pure: no logging, no network, no DNS library. :func:`parse_zone_text` reads text;
:func:`load_zone_file` reads a file and lets it ``$INCLUDE`` files beside it.

Supported: ``$ORIGIN``, ``$TTL`` (seconds or BIND units such as ``1h30m``),
``$INCLUDE file [origin]``, ``@``, relative and absolute owners, a blank owner meaning
the previous owner, TTL and class in either order (class IN only), parentheses over
several lines, ``;`` comments, quoted strings and ``\\DDD`` escapes. Every problem in
the file is collected and raised at the end as one :class:`TopologyError`.

Choices where the RFC leaves room:

* A record without a TTL takes ``$TTL``, else the ``default_ttl`` argument, else the
  MINIMUM of the last SOA read before it (an SOA without a TTL takes its own MINIMUM);
  there is no "last explicitly stated TTL" rule.
* ``$INCLUDE`` does not change the includer's origin, ``$TTL`` or previous owner; the
  included file starts with the includer's origin (or the one given) and ``$TTL``, and
  without a previous owner. Relative paths are relative to the including file's folder.
* Files stay inside a root folder's tree (``root``: the topology's folder when a topology
  names the zone file, else the zone file's own folder): an absolute ``$INCLUDE`` path,
  ``..`` out of the tree and a symbolic link out of it are errors. Every file is read
  through :func:`dnsemu.topology.files.read_text` (regular files only, at most
  ``max_bytes`` octets, UTF-8).
* Messages quote input only as short escaped excerpts (:mod:`dnsemu.text`), and at
  most :data:`MAX_PROBLEMS` problems are reported for one zone (then a count). A file
  in which no line reads as a record or a directive is reported as "not a zone file",
  once, without any of its content; so is a file that holds control characters.
* Directives are recognised wherever they start a line (indented or not).
* The generic ``TYPEnnn`` and ``\\# len hex`` forms are rejected.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import partial
from itertools import repeat
from operator import itemgetter

from dnsemu.dns import names
from dnsemu.dns.records import (
    SUPPORTED_TYPES,
    RdataError,
    Record,
    RRType,
    parse_rdata,
    trusted_record,
    trusted_records,
    type_name,
)
from dnsemu.text import clip, excerpt
from dnsemu.topology.errors import Problem, TopologyError
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES, FileProblem, confined, read_text

MAX_TTL = 2**31 - 1
MAX_INCLUDE_DEPTH = 8
#: problems reported for one zone (its files or text) at most; the rest are counted
MAX_PROBLEMS = 100

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TTL_UNITS = re.compile(r"(?:[0-9]+[wdhms])+", re.IGNORECASE)
_TTL_HINT = "a TTL is a number of seconds (3600) or BIND units such as 1h, 30m, 1d2h"
_CLASSES = frozenset({"IN", "CH", "CHAOS", "HS", "HESIOD", "CS", "NONE", "ANY"})
_SUPPORTED = sorted(type_name(t) for t in SUPPORTED_TYPES)
_SHAPES = {
    RRType.A: "one IPv4 address such as 10.0.0.4",
    RRType.AAAA: "one IPv6 address such as fd00::4",
    RRType.CNAME: "one target name",
    RRType.NS: "one name server name",
    RRType.DNAME: "one target name",
    RRType.PTR: "one target name",
    RRType.MX: "'preference exchange'",
    RRType.SRV: "'priority weight port target'",
    RRType.TXT: "one or more character-strings such as \"v=spf1 -all\"",
    RRType.SOA: "'mname rname serial refresh retry expire minimum'",
    RRType.CAA: "'flags tag \"value\"'",
}
# blanks, a comment, a parenthesis, a quoted string, a lone quote, or a run of other characters
_TOKEN = re.compile(r'\s+|;.*|[()]|"(?:[^"\\]|\\.)*"|"|(?:[^\s;()"\\]|\\.?)+')
_TYPE_CODES = {name: int(code) for name, code in RRType.__members__.items()}
#: types whose data is one field, as most files write them (upper case): :meth:`_Parser.plain_record`
_ONE_FIELD = {"A": int(RRType.A), "AAAA": int(RRType.AAAA), "CNAME": int(RRType.CNAME), "PTR": int(RRType.PTR)}
#: type names as most files write them (upper case) that no class or TTL can be mistaken for
_PLAIN_TYPES = frozenset(name for name in _TYPE_CODES if name not in _CLASSES)
# C0 controls but the blanks, and DEL: no master file holds them raw (they are written \\DDD)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_CONTROL_CHARS = tuple(chr(c) for c in (*range(0x00, 0x09), *range(0x0e, 0x20), 0x7f))
_NOT_A_ZONE_HINT = ("a zone file holds lines such as '$TTL 3600' and 'www 3600 IN A 10.0.0.4'; "
                    "check that the right file is named")


class _Path:
    """``record[owner TYPE]``, formatted only when a problem needs it."""

    __slots__ = ("owner", "rtype")

    def __init__(self, owner: str, rtype: str) -> None:
        self.owner, self.rtype = owner, rtype

    def __str__(self) -> str:
        return f"record[{clip(self.owner)} {clip(self.rtype)}]"


# characters that need the tokenizer (comments, parentheses, quotes, escapes)
_SPECIAL = re.compile(r'[;()"\\]')
#: ``label [ttl] A address``: one plain label (RFC 952 letters, digits and hyphens, and underscores), a TTL in
#: seconds, type A in upper case, an IPv4 address in canonical form (no leading zeros: what ipaddress prints)
_ADDRESS_LINE = re.compile(
    r"([A-Za-z0-9_-]{1,63})[ \t]+(?:([0-9]{1,10})[ \t]+)?A[ \t]+"
    r"((?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9]))"
    r"[ \t]*\r?")
#: a run of such lines, each ended by a newline (or the end of the text): :meth:`_Parser.address_block`
_ADDRESS_BLOCK = re.compile(
    r"(?:[A-Za-z0-9_-]{1,63}+[ \t]++(?:[0-9]{1,10}+[ \t]++)?+A[ \t]++"
    r"(?:(?:1[0-9][0-9]|2[0-4][0-9]|25[0-5]|[1-9]?[0-9])\.){3}"  # (the same octets, the faster order)
    r"(?:1[0-9][0-9]|2[0-4][0-9]|25[0-5]|[1-9]?[0-9])"
    r"[ \t]*+\r?(?:\n|\Z))*+")
#: the same line's fields, for a run in which some lines give a TTL and some do not
_ADDRESS_FIELDS = re.compile(r"^([a-z0-9_-]+)[ \t]+(?:([0-9]+)[ \t]+)?a[ \t]+([0-9.]+)", re.MULTILINE)
#: fewer lines than this in a run are read one at a time (:meth:`_Parser.address_line`): not worth a block
MIN_BLOCK = 16
#: the lines of a run read one at a time before the rest is offered to :meth:`_Parser.address_block`
BLOCK_AFTER = 4
_A = int(RRType.A)
_UNBALANCED = {
    ")": ("unbalanced parentheses: ')' without '('",
          "remove the ')' or add a '(' before the fields it closes"),
    '"': ("unbalanced quotes: a quoted string is not closed on this line",
          "close it with '\"'; write a quote inside a string as \\\""),
}
_BAD = ""  # previous owner that was already reported as wrong: skip its blank-owner lines


@dataclass(frozen=True, slots=True)
class ZoneEntry:
    """One record of a master file and where its text starts."""

    record: Record
    line: int
    file: str = "<zone>"


_SET_ENTRY = tuple(ZoneEntry.__dict__[f].__set__ for f in ("record", "line", "file"))


def _entry(record: Record, line: int, file: str) -> ZoneEntry:
    """``ZoneEntry(record, line, file)`` without the frozen dataclass's ``__init__``."""
    entry = object.__new__(ZoneEntry)
    set_record, set_line, set_file = _SET_ENTRY
    set_record(entry, record)
    set_line(entry, line)
    set_file(entry, file)
    return entry


_FIRST = itemgetter(0)


@dataclass(frozen=True, slots=True)
class ZoneRecords:
    """The records of a zone's master file(s) in file order, and where each was written, without an object
    per record: ``runs`` holds (index of a record, its line, its file) for each record that does not sit on
    the line after the one before it in the same file. :meth:`entry` is the :class:`ZoneEntry` of one."""

    records: list[Record]
    runs: tuple[tuple[int, int, str], ...]

    def __len__(self) -> int:
        return len(self.records)

    def entry(self, index: int) -> ZoneEntry:
        first, line, file = self.runs[bisect_right(self.runs, index, key=_FIRST) - 1]
        return _entry(self.records[index], line + index - first, file)

    def entries(self) -> list[ZoneEntry]:
        """One :class:`ZoneEntry` per record, in file order."""
        out: list[ZoneEntry] = []
        runs = self.runs
        for k, (first, line, file) in enumerate(runs):
            end = runs[k + 1][0] if k + 1 < len(runs) else len(self.records)
            out.extend(map(_entry, self.records[first:end], range(line, line + end - first), repeat(file)))
        return out


@dataclass(slots=True)
class _Line:
    tokens: list[str]  # quoted strings keep their quotes
    line: int
    blank_owner: bool


@dataclass(slots=True)
class _Ctx:
    """What one file being read knows; a fresh one per ``$INCLUDE``."""

    filename: str
    base_dir: str | None
    origin: str
    ttl: int | None
    depth: int
    owner: str | None = None
    recognised: int = 0  # lines that read as a directive or a record of a known type


def parse_ttl(text: str) -> int:
    """Seconds from ``3600`` or ``1h``, ``1d2h`` …; ValueError(message, hint) otherwise."""
    if text.isascii() and text.isdigit():
        value = int(text)
    elif _TTL_UNITS.fullmatch(text):
        value = sum(int(n) * _UNITS[u.lower()] for n, u in re.findall(r"([0-9]+)(\w)", text))
    else:
        raise ValueError(f"{excerpt(text)} is not a TTL", _TTL_HINT)
    if value > MAX_TTL:
        raise ValueError(f"TTL {clip(value)} is over the maximum {MAX_TTL} (2^31-1)",
                         f"use at most {MAX_TTL} seconds; a day is 86400")
    return value


def _lines(text: str, filename: str, problems: list[Problem],
           plain: Callable[[str, int], bool] | None = None,
           block: Callable[[str, int, int], tuple[int, int]] | None = None) -> Iterator[_Line]:
    """Logical lines: comments dropped, parenthesised continuations joined, tokens split.

    A generator, so that problems are appended in file order with the caller's own, and so that
    ``plain(raw, lineno)`` (any line outside parentheses) sees every directive before it applied:
    when it returns True it has read the line itself (one with nothing to tokenize but blanks).
    ``block(text, offset, lineno)`` is offered the text from a line on (at ``offset``), before
    ``plain``, once ``plain`` has taken the :data:`BLOCK_AFTER` lines before it (so that a zone of
    other lines pays nothing for it): (n, end) when it has read n lines itself, up to ``end``;
    (-n, 0) when the next n lines are to be read one at a time (it is not asked again before
    them); (0, 0) when it reads nothing there.
    """
    tokens: list[str] = []
    start = open_line = depth = 0
    blank = False
    size = len(text)
    offset = 0  # where the line read next starts in text (lines found one by one: most are in blocks)
    alone = 0  # lines still to read one at a time before block() is asked again
    streak = 0  # lines in a row that plain() took (block() is asked once BLOCK_AFTER have: a run has begun)
    lineno = 0
    while offset <= size:
        if streak >= BLOCK_AFTER and block is not None:  # (depth is 0: plain() took the line before)
            if alone <= 0:
                taken, end = block(text, offset, lineno + 1)
                if taken > 0:
                    lineno += taken
                    if end == size and not text.endswith("\n"):
                        break  # the block ran to the end of the text: no line after it
                    offset = end
                    continue
                alone = -taken
            alone -= 1
        cut = text.find("\n", offset)
        if cut < 0:
            cut = size
        raw = text[offset:cut]
        offset = cut + 1
        lineno += 1
        if depth == 0:
            tokens, start, blank = [], lineno, raw[:1] in (" ", "\t")
        error = None
        if depth == 0 and plain is not None and plain(raw, lineno):
            streak += 1
            continue  # (what plain() takes holds nothing to tokenize: no quote, parenthesis, comment or escape)
        streak = 0
        if depth == 0 and _SPECIAL.search(raw) is None:  # the common line: nothing to tokenize but blanks
            tokens = raw.split()
            if tokens:
                yield _Line(tokens, start, blank)
            continue
        for match in _TOKEN.finditer(raw):
            token = match.group()
            if token == "(":
                open_line, depth = (open_line if depth else lineno), depth + 1
            elif token == ")" and depth:
                depth -= 1
            elif token in (")", '"'):
                error = _UNBALANCED[token]
                break
            elif not token[0].isspace() and token[0] != ";":
                tokens.append(token)
        if error:
            problems.append(Problem(error[0], filename, lineno, hint=error[1]))
            depth, tokens = 0, []
        elif depth == 0 and tokens:
            yield _Line(tokens, start, blank)
    if depth:
        problems.append(Problem("unbalanced parentheses: '(' is never closed", filename,
                                open_line, hint="add ')' after the last field of the record"))


def _distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _type_problem(text: str) -> tuple[str, str]:
    upper = text.upper()
    if upper.startswith("TYPE") and upper[4:].isdigit():
        return (f"generic type syntax {excerpt(text)} is not supported",
                "write the type by name: " + ", ".join(_SUPPORTED))
    if upper in RRType.__members__:
        return f"record type {upper} is not supported", "supported: " + ", ".join(_SUPPORTED)

    def closeness(t: str) -> tuple[int, bool, float]:
        return _distance(upper, t), t[0] != upper[:1], -SequenceMatcher(None, upper, t).ratio()

    best = min(_SUPPORTED, key=closeness)
    if _distance(upper, best) <= min(2 if len(best) > 3 else 1, len(upper) - 1):
        return f"unknown type {excerpt(text)}", f"did you mean {best}?"
    return f"unknown type {excerpt(text)}", "supported: " + ", ".join(_SUPPORTED)


class _Parser:
    def __init__(self, origin: str, default_ttl: int | None, root: str | None = None,
                 max_bytes: int = DEFAULT_MAX_FILE_BYTES, digests: dict[str, str] | None = None) -> None:
        if default_ttl is not None and not 0 <= default_ttl <= MAX_TTL:
            raise ValueError(f"default_ttl must be between 0 and {MAX_TTL}, not {default_ttl}")
        try:
            self.zone = names.parse(origin, names.ROOT)
        except names.NameError_ as exc:
            raise TopologyError(Problem(f"bad zone origin {excerpt(origin)}: {exc}", path="origin",
                                        hint="give the zone name such as example.com.")) from None
        self.default_ttl = default_ttl
        self.root = root  # the tree that included files must stay in
        self.max_bytes = max_bytes
        self.digests = digests  # file read -> SHA-256 of its octets, when the caller keeps them
        self.soa_minimum: int | None = None
        self.problems: list[Problem] = []
        self.records: list[Record] = []
        #: (index of a record, its line, its file) where a record is not on the line after the one before it
        self.runs: list[tuple[int, int, str]] = []
        self.reading: list[str] = []  # real paths of the files being read, outermost first

    def keep(self, record: Record, line: int, file: str) -> None:
        """Keep ``record``, written on ``line`` of ``file``."""
        records, runs = self.records, self.runs
        if runs:
            first, first_line, first_file = runs[-1]
            if first_line + len(records) - first != line or first_file != file:
                runs.append((len(records), line, file))
        else:
            runs.append((0, line, file))
        records.append(record)

    def problem(self, ctx: _Ctx, line: int, message: str, hint: str | None = None,
                path: object = None) -> None:
        self.problems.append(Problem(message, ctx.filename, line, None if path is None else str(path), hint))

    def run(self, text: str, ctx: _Ctx, *, judge: bool = False) -> None:
        """Read ``text``; with ``judge`` (a file), a text with no DNS line in it is "not a zone file"."""
        # (a search for each control character is a tenth of the time of one regular expression for them all)
        control = _CONTROL.search(text) if any(map(text.__contains__, _CONTROL_CHARS)) else None
        if control is not None:
            line = text.count("\n", 0, control.start()) + 1
            self.problems.append(Problem(f"not a zone file: a control character (U+{ord(control.group()):04X}) "
                                         f"on line {line}", ctx.filename, line,
                                         hint="master files are text; write a non-printing octet in a name or "
                                              "string as \\DDD"))
            return
        first = len(self.problems)
        for ln in _lines(text, ctx.filename, self.problems, partial(self.address_line, ctx),
                         partial(self.address_block, ctx)):
            if ln.tokens[0].startswith("$"):
                self.directive(ln, ctx)
            else:
                self.record(ln, ctx)
        if judge and not ctx.recognised and len(self.problems) > first:
            # Nothing here reads as DNS data: say so once, and quote none of it.
            line = self.problems[first].line or 1
            self.problems[first:] = [Problem("not a zone file: no line reads as a record or a directive",
                                             ctx.filename, line, hint=_NOT_A_ZONE_HINT)]

    def directive(self, ln: _Line, ctx: _Ctx) -> None:
        name, args = ln.tokens[0].upper(), ln.tokens[1:]
        if name in ("$ORIGIN", "$TTL", "$INCLUDE"):
            ctx.recognised += 1
        if name == "$ORIGIN" and len(args) == 1:
            try:
                ctx.origin = names.parse(args[0], ctx.origin)
            except names.NameError_ as exc:
                self.problem(ctx, ln.line, f"bad $ORIGIN {excerpt(args[0])}: {exc}",
                             "give a domain name such as example.com.", "$ORIGIN")
        elif name == "$TTL" and len(args) == 1:
            try:
                ctx.ttl = parse_ttl(args[0])
            except ValueError as exc:
                self.problem(ctx, ln.line, f"bad $TTL: {exc.args[0]}", exc.args[1], "$TTL")
        elif name == "$INCLUDE" and 1 <= len(args) <= 2:
            self.include(ln, args, ctx)
        elif name in ("$ORIGIN", "$TTL", "$INCLUDE"):
            shape = {"$ORIGIN": "one domain name", "$TTL": "one TTL",
                     "$INCLUDE": "a file name and an optional origin"}[name]
            self.problem(ctx, ln.line, f"{name} takes {shape}, got {len(args)} field(s)",
                         f"write '{name} <{shape}>'", name)
        else:
            self.problem(ctx, ln.line, f"unknown directive {excerpt(ln.tokens[0])}",
                         "supported directives: $ORIGIN, $TTL, $INCLUDE", clip(ln.tokens[0]))

    def include(self, ln: _Line, args: list[str], ctx: _Ctx) -> None:
        def fail(message: str, hint: str) -> None:
            self.problem(ctx, ln.line, message, hint, "$INCLUDE")

        origin = ctx.origin
        if len(args) == 2:
            try:
                origin = names.parse(args[1], ctx.origin)
            except names.NameError_ as exc:
                return fail(f"bad $INCLUDE origin {excerpt(args[1])}: {exc}",
                            "give a domain name such as sub.example.com.")
        if ctx.base_dir is None:
            return fail("$INCLUDE is not allowed in zone text without a directory",
                        "use load_zone_file(path, ...) so included files can be found")
        target = args[0][1:-1] if args[0].startswith('"') else args[0]
        root = self.root if self.root is not None else ctx.base_dir
        try:
            path = confined(target, ctx.base_dir, root)
        except FileProblem as exc:
            return fail(exc.message, exc.hint or "")
        real = os.path.realpath(path)
        if real in self.reading:
            chain = " -> ".join(os.path.basename(p) for p in [*self.reading, real])
            return fail(f"include loop: {chain}", "remove the $INCLUDE that leads back")
        if ctx.depth >= MAX_INCLUDE_DEPTH:
            return fail(f"$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep",
                        "flatten the chain of included files")
        try:
            text = read_text(path, max_bytes=self.max_bytes, root=root, digests=self.digests)
        except FileProblem as exc:
            what = "not a zone file: " if exc.line else "cannot read included file "
            return fail(f"{what}{excerpt(target)}: {exc.message}",
                        exc.hint or f"paths are relative to {ctx.base_dir or '.'}; files must be UTF-8")
        self.reading.append(real)
        self.run(text, _Ctx(path, os.path.dirname(path), origin, ctx.ttl, ctx.depth + 1), judge=True)
        self.reading.pop()

    def owner(self, ln: _Line, toks: list[str], ctx: _Ctx) -> tuple[str | None, str]:
        """The record's owner (``_BAD`` once reported) and how to show it; eats its token."""
        if ln.blank_owner:
            if ctx.owner is None:
                self.problem(ctx, ln.line, "record has a blank owner but no record before it",
                             "start the line with an owner name or '@'", "record")
            return ctx.owner or _BAD, ctx.owner or "-"
        text = toks.pop(0)
        try:
            owner = names.parse(text, ctx.origin)
        except names.NameError_ as exc:
            self.problem(ctx, ln.line, f"bad owner name {excerpt(text)}: {exc}",
                         "write a name such as www, www.example.com. or @", f"record[{clip(text)}]")
            ctx.owner = _BAD
            return _BAD, text
        ctx.owner = owner
        if not names.is_subdomain(owner, self.zone):
            self.problem(ctx, ln.line, f"{clip(owner)} is not inside zone {self.zone}",
                         f"owner names must be {self.zone} or end in .{self.zone}",
                         f"record[{clip(owner)}]")
            ctx.owner = _BAD
        return ctx.owner, owner

    def address_line(self, ctx: _Ctx, raw: str, lineno: int) -> bool:
        """The commonest line of a large zone, ``label [ttl] A address`` with one plain label, read with one
        regular expression and nothing else; False (nothing done) for anything else, which the tokenizer and
        :meth:`record` then read. What it keeps is what :meth:`plain_record` would keep for the line."""
        match = _ADDRESS_LINE.fullmatch(raw)
        if match is None:
            return False
        label, ttl_text, address = match.groups()
        origin = ctx.origin
        zone = self.zone
        if origin != zone and not origin.endswith("." + zone):
            return False  # an $ORIGIN outside the zone: plain_record reports what it must
        owner = f"{label.lower()}.{origin}" if origin != names.ROOT else f"{label.lower()}."
        if len(owner) > 254:  # presentation length + 1 = wire length for plain names (RFC 1035 §2.3.4)
            return False
        ttl = self.plain_ttl(ttl_text, ctx)
        if ttl is None:
            return False
        ctx.owner = owner
        ctx.recognised += 1
        self.keep(trusted_record(owner, _A, ttl, (address,)), lineno, ctx.filename)
        return True

    def address_block(self, ctx: _Ctx, text: str, offset: int, lineno: int) -> tuple[int, int]:
        """A run of lines from ``offset`` on that :meth:`address_line` would each take, read as one: (lines
        read, where they end); (-n, 0) when the n lines of a run are for it to read one at a time (one of
        them it would leave to the general path, or too few to be worth a block); (0, 0) when the line at
        ``offset`` does not start a run. The same records, lines and context as line by line."""
        end = _ADDRESS_BLOCK.match(text, offset).end()
        if end == offset:
            return 0, 0
        block = text[offset:end]
        count = block.count("\n") + (not block.endswith("\n"))
        origin = ctx.origin
        zone = self.zone
        if count < MIN_BLOCK or (origin != zone and not origin.endswith("." + zone)):
            return -count, 0
        fields = block.lower().split()  # each line: label [ttl] a address (3 or 4 fields)
        if len(fields) == 3 * count:
            labels, texts, addresses = fields[0::3], None, fields[2::3]
        elif len(fields) == 4 * count:
            labels, texts, addresses = fields[0::4], fields[1::4], fields[3::4]
        else:
            labels, texts, addresses = (list(f) for f in zip(*_ADDRESS_FIELDS.findall(block.lower()), strict=True))
        suffix = "." + origin if origin != names.ROOT else "."
        if max(map(len, labels)) + len(suffix) > 254:  # as address_line: a long owner is for the general path
            return -count, 0
        if texts is None or not all(texts):
            ttl: int | list[int] | None = self.plain_ttl(None, ctx)
            if ttl is None:
                return -count, 0
            if texts is not None:  # some lines give their own TTL
                ttl = [int(t) if t else ttl for t in texts]
        else:
            ttl = list(map(int, texts))
        if not isinstance(ttl, int) and max(ttl) > MAX_TTL:
            return -count, 0
        owners = list(map(str.__add__, labels, repeat(suffix)))
        ctx.owner = owners[-1]
        ctx.recognised += count
        records = self.records
        if not self.runs or self.runs[-1][1] + len(records) - self.runs[-1][0] != lineno \
                or self.runs[-1][2] != ctx.filename:
            self.runs.append((len(records), lineno, ctx.filename))
        records += trusted_records(owners, _A, ttl, zip(addresses))
        return count, end

    def plain_ttl(self, text: str | None, ctx: _Ctx) -> int | None:
        """A fast-path line's TTL: its own (``text``, ASCII digits), else the one that applies ($TTL, the
        default, the SOA's minimum); None when the general path must read the line (over the maximum, none)."""
        if text is not None:
            ttl = int(text)
        elif ctx.ttl is not None:
            ttl = ctx.ttl
        elif self.default_ttl is not None:
            ttl = self.default_ttl
        elif self.soa_minimum is not None:
            ttl = self.soa_minimum  # (up to 2^32-1: the general path reports one over the maximum)
        else:
            return None
        return ttl if ttl <= MAX_TTL else None

    def plain_record(self, ln: _Line, ctx: _Ctx) -> bool:
        """The common line, ``owner [ttl] TYPE value`` with a plain owner inside the zone and a one-field type
        (A, AAAA, CNAME, PTR), read without the general path's bookkeeping; False (nothing done) for anything
        else, which :meth:`record` then reads and judges."""
        toks = ln.tokens
        count = len(toks)
        if ln.blank_owner or not 3 <= count <= 4:
            return False
        rtype = _ONE_FIELD.get(toks[count - 2])
        if rtype is None:
            return False
        text = toks[1] if count == 4 else None
        if text is not None and (not (text.isascii() and text.isdigit()) or len(text) > 10):
            return False
        ttl = self.plain_ttl(text, ctx)
        if ttl is None:
            return False
        try:
            owner = names.parse(toks[0], ctx.origin)
            rdata = parse_rdata(rtype, toks[count - 1:], ctx.origin)
        except (names.NameError_, RdataError):
            return False
        zone = self.zone
        if owner != zone and (not owner.endswith(zone) or not owner.endswith("." + zone) or "\\" in owner):
            return False
        ctx.owner = owner
        ctx.recognised += 1
        self.keep(Record(owner, rtype, ttl, rdata), ln.line, ctx.filename)
        return True

    def record(self, ln: _Line, ctx: _Ctx) -> None:
        if self.plain_record(ln, ctx):
            return
        before = len(self.problems)
        toks = list(ln.tokens)
        owner, shown = self.owner(ln, toks, ctx)
        ttl: int | None = None
        klass: str | None = None
        # TTL and class, both optional, in either order; most lines have neither (the type comes next)
        head = toks[0] if toks else ""
        fields = 0 if head in _PLAIN_TYPES else 2
        if len(toks) >= 2 and fields and head.isascii() and head.isdigit() and toks[1] in _PLAIN_TYPES:
            del toks[0]  # "owner 300 A …": a TTL, then the type
            fields = 0
            try:
                ttl = parse_ttl(head)
            except ValueError as exc:
                ttl = -1  # reported; the record will not be kept
                self.problem(ctx, ln.line, *exc.args, f"record[{shown}]")
        for _ in range(fields):
            if toks and ttl is None and (toks[0][:1].isdigit() or toks[0][:2].lstrip("-")[:1].isdigit()):
                try:
                    ttl = parse_ttl(toks.pop(0))
                except ValueError as exc:
                    ttl = -1  # reported; the record will not be kept
                    self.problem(ctx, ln.line, *exc.args, f"record[{shown}]")
            elif toks and klass is None and (toks[0].upper() in _CLASSES or (
                    toks[0][:5].upper() == "CLASS" and re.fullmatch(r"(?i)CLASS[0-9]+", toks[0]))):
                klass = toks.pop(0).upper()
                if klass != "IN":
                    self.problem(ctx, ln.line, f"class {clip(klass)} is not supported",
                                 "only class IN is allowed; or leave the class out",
                                 f"record[{shown}]")
        if not toks:
            self.problem(ctx, ln.line, "record has no type", "write e.g. 'www 3600 IN A 10.0.0.4'",
                         f"record[{shown}]")
            return
        type_text = toks.pop(0)
        upper = type_text.upper()
        rtype = _TYPE_CODES.get(upper)
        if rtype is not None or (upper.startswith("TYPE") and upper[4:].isdigit()):
            ctx.recognised += 1
        path = _Path(shown, upper)
        if rtype is None or rtype not in SUPPORTED_TYPES:
            self.problem(ctx, ln.line, *_type_problem(type_text), path)
            return
        rdata = None
        if toks and toks[0] == "\\#":
            self.problem(ctx, ln.line, "generic rdata '\\# length hex' is not supported",
                         f"write the {upper} data in its usual form: {_SHAPES[rtype]}", path)
        else:
            try:
                rdata = parse_rdata(rtype, toks, ctx.origin)
            except RdataError as exc:
                self.problem(ctx, ln.line, f"bad {upper} data: {exc}",
                             f"{upper} needs {_SHAPES[rtype]}", path)
        if rtype == RRType.SOA and rdata is not None:
            self.soa_minimum = rdata[6]
        if ttl is None:
            ttl = ctx.ttl
            if ttl is None:
                ttl = self.default_ttl if self.default_ttl is not None else self.soa_minimum
            if ttl is None:
                self.problem(ctx, ln.line, "record has no TTL and there is no default",
                             "add '$TTL 3600' at the top, give the record a TTL, "
                             "or put the SOA first", path)
            elif ttl > MAX_TTL:
                self.problem(ctx, ln.line, f"default TTL {ttl} is over the maximum {MAX_TTL}",
                             "set $TTL or give the record a TTL", path)
        if len(self.problems) == before and owner and rdata is not None and ttl is not None:
            self.keep(Record(owner, rtype, ttl, rdata), ln.line, ctx.filename)


def _finish(parser: _Parser) -> ZoneRecords:
    problems = parser.problems
    if len(problems) > MAX_PROBLEMS:
        last = problems[MAX_PROBLEMS - 1]
        problems = [*problems[:MAX_PROBLEMS],
                    Problem(f"{len(parser.problems) - MAX_PROBLEMS} more problem(s) not shown", last.file, last.line,
                            hint="fix these first, or check that the right file is named")]
    if problems:
        raise TopologyError(problems)
    return ZoneRecords(parser.records, tuple(parser.runs))


def parse_zone_text(text: str, *, origin: str, filename: str = "<zone>",
                    default_ttl: int | None = None,
                    base_dir: str | os.PathLike[str] | None = None,
                    root: str | os.PathLike[str] | None = None,
                    max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[ZoneEntry]:
    """Records of master-file ``text`` for zone ``origin``, in file order.

    ``$INCLUDE`` is refused unless ``base_dir`` says where included files live; they
    must stay inside ``root``'s tree (default: ``base_dir``) and hold at most
    ``max_bytes`` octets each. Raises :class:`TopologyError` listing every problem found.
    """
    return zone_text_records(text, origin=origin, filename=filename, default_ttl=default_ttl, base_dir=base_dir,
                             root=root, max_bytes=max_bytes).entries()


def zone_text_records(text: str, *, origin: str, filename: str = "<zone>",
                      default_ttl: int | None = None,
                      base_dir: str | os.PathLike[str] | None = None,
                      root: str | os.PathLike[str] | None = None,
                      max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> ZoneRecords:
    """:func:`parse_zone_text` as :class:`ZoneRecords` (no object per record but the record)."""
    base = None if base_dir is None else os.fspath(base_dir)
    tree = os.fspath(root) if root is not None else base
    parser = _Parser(origin, default_ttl, tree, max_bytes)
    parser.run(text, _Ctx(filename, base, parser.zone, None, 0))
    return _finish(parser)


def load_zone_file(path: str | os.PathLike[str], *, origin: str,
                   default_ttl: int | None = None,
                   root: str | os.PathLike[str] | None = None,
                   max_bytes: int = DEFAULT_MAX_FILE_BYTES,
                   digests: dict[str, str] | None = None) -> list[ZoneEntry]:
    """Records of the master file at ``path`` (UTF-8), following its ``$INCLUDE``s.

    The file and everything it includes must lie inside ``root``'s tree (default: the
    file's own folder), be regular files, and hold at most ``max_bytes`` octets each.
    With ``digests``, the SHA-256 of every file read (this one and its includes) goes there.
    """
    return zone_file_records(path, origin=origin, default_ttl=default_ttl, root=root, max_bytes=max_bytes,
                             digests=digests).entries()


def zone_file_records(path: str | os.PathLike[str], *, origin: str,
                      default_ttl: int | None = None,
                      root: str | os.PathLike[str] | None = None,
                      max_bytes: int = DEFAULT_MAX_FILE_BYTES,
                      digests: dict[str, str] | None = None) -> ZoneRecords:
    """:func:`load_zone_file` as :class:`ZoneRecords` (no object per record but the record): what
    validation reads a large estate's zone files with."""
    filename = os.fspath(path)
    tree = os.fspath(root) if root is not None else (os.path.dirname(filename) or ".")
    try:
        text = read_text(filename, max_bytes=max_bytes, root=tree, digests=digests)
    except FileProblem as exc:
        what = "not a zone file: " if exc.line else "cannot read zone file: "
        raise TopologyError(Problem(what + exc.message, filename, exc.line,
                                    hint=exc.hint or "give the path of a UTF-8 text file")) from None
    parser = _Parser(origin, default_ttl, tree, max_bytes, digests)
    parser.reading.append(os.path.realpath(filename))
    parser.run(text, _Ctx(filename, os.path.dirname(filename), parser.zone, None, 0), judge=True)
    return _finish(parser)
