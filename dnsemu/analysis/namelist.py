"""Names files: the questions ``dnsemu capture`` asks and the extra names ``dnsemu diff --names`` adds.

One question per line: a name, then optionally one or more types::

    # what the app servers resolve
    mystorage.blob.core.windows.net
    contoso-kv.vault.azure.net  A AAAA
    10.0.2.4                    # an address stands for its reverse name, type PTR

Names are absolute whether or not they end with a dot; ``#`` starts a comment;
blank lines are skipped. A line without a type takes the command's default
types. Every error names the file, the line and what is wrong.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from dnsemu.dns import names
from dnsemu.dns.records import RRType, type_name
from dnsemu.topology.files import FileProblem, read_text, where

__all__ = ["MAX_BYTES", "MAX_ENTRIES", "NameEntry", "NamesFileError", "parse_names", "read_names"]

MAX_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 100_000


class NamesFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class NameEntry:
    text: str  #: the name as written, made absolute (what capture sends: case is kept)
    name: str  #: canonical (lower case, absolute)
    types: tuple[int, ...]  #: empty: the command's default types
    line: int

    def type_names(self) -> tuple[str, ...]:
        return tuple(type_name(t) for t in self.types)


def parse_names(text: str, filename: str = "<names>") -> list[NameEntry]:
    out: list[NameEntry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{filename}:{number}"
        written = fields[0]
        types: list[int] = []
        try:
            ipaddress.ip_address(written)
        except ValueError:
            pass
        else:
            written, types = ipaddress.ip_address(written).reverse_pointer + ".", [RRType.PTR]
        if not written.endswith("."):
            written += "."
        try:
            canonical = names.parse(written)
        except names.NameError_ as exc:
            raise NamesFileError(f"{where}: {fields[0]!r} is not a domain name ({exc})") from None
        if len(fields) > 1:
            types = []
            for field in fields[1:]:
                try:
                    code = RRType.make(field)
                except ValueError as exc:
                    raise NamesFileError(f"{where}: {exc} (a type such as A, AAAA, CNAME, TXT or TYPE65)") from None
                if code in (RRType.OPT, RRType.AXFR, RRType.IXFR, 0):
                    raise NamesFileError(f"{where}: {field} is not a question type")
                if code not in types:
                    types.append(code)
        out.append(NameEntry(written, canonical, tuple(types), number))
        if len(out) > MAX_ENTRIES:
            raise NamesFileError(f"{filename}: more than {MAX_ENTRIES} names")
    return out


def read_names(path: str | os.PathLike[str]) -> list[NameEntry]:
    """The entries of a names file, which must be UTF-8 text of at most :data:`MAX_BYTES`."""
    try:
        text = read_text(path, max_bytes=MAX_BYTES)
    except FileProblem as exc:
        raise NamesFileError(where(path, exc)) from None
    return parse_names(text, str(path))
