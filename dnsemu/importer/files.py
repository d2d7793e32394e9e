"""Reading export files safely: regular files only, bounded in size and number, JSON with a path on error.

A SOURCE is a file or a folder. Folders are walked (symbolic links inside them are not
followed) for ``*.json`` files, in sorted order so that the same folder always gives
the same bytes. Each file is opened once, checked to be a regular file on the open
descriptor, and read up to the size bound: a 50 MB export is refused with the bound
in the message, not read into memory.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnsemu.importer.common import InputError

#: Default bound on one input file. Resource Graph pages (1000 rows) and per-command CLI dumps stay far below it.
MAX_FILE_BYTES = 32 * 1024 * 1024
#: Bound on the number of files one import reads.
MAX_FILES = 20_000


@dataclass(frozen=True)
class InputFile:
    path: Path
    display: str  # the path as the user would recognise it


def collect(sources: list[str], max_files: int = MAX_FILES) -> tuple[list[InputFile], list[str]]:
    """The files to read, and notes about what a folder walk skipped."""
    out: list[InputFile] = []
    notes: list[str] = []
    seen: set[tuple[int, int]] = set()
    for source in sources:
        path = Path(source)
        try:
            st = path.stat()
        except OSError as exc:
            raise InputError(source, f"cannot read: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            skipped = 0
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs.sort()
                base = Path(root)
                for name in sorted(files):
                    full = base / name
                    try:  # one look at the link itself: for anything but a link, that is its stat too
                        link_st = os.lstat(full)
                    except OSError:
                        link_st = None
                    if link_st is not None and stat.S_ISLNK(link_st.st_mode):
                        notes.append(f"{full}: a symbolic link inside a folder, not followed")
                        continue
                    if not name.lower().endswith(".json"):
                        skipped += 1
                        continue
                    _add(out, seen, full, str(full), max_files, link_st)
            if skipped:
                notes.append(f"{source}: {skipped} file(s) not ending in .json skipped")
        elif stat.S_ISREG(st.st_mode):
            _add(out, seen, path, source, max_files)
        else:
            raise InputError(source, "not a regular file or a folder")
    return out, notes


def _add(
    out: list[InputFile],
    seen: set[tuple[int, int]],
    path: Path,
    display: str,
    max_files: int,
    st: os.stat_result | None = None,
) -> None:
    """``st``: the file's stat when the caller has it (not a link, so lstat and stat agree)."""
    if st is None:
        try:
            st = path.stat()
        except OSError as exc:
            raise InputError(display, f"cannot read: {exc.strerror or exc}") from None
    key = (st.st_dev, st.st_ino)
    if key in seen:  # the same file named twice (or through a folder and by name): read once
        return
    seen.add(key)
    if len(out) >= max_files:
        raise InputError(display, f"more than {max_files} input files; import fewer folders at once")
    out.append(InputFile(path, display))


def read_bytes(file: InputFile, limit: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes; refuses anything but a regular file, and anything over ``limit``."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(file.path, flags)
    except OSError as exc:
        raise InputError(file.display, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(file.display, "not a regular file")
        if st.st_size > limit:
            raise InputError(
                file.display,
                f"{st.st_size:,} bytes is over the {limit:,}-byte bound on one input file "
                "(split the export: page Resource Graph queries with --first 1000, dump one command per file; "
                "or raise the bound with --max-file-size)",
            )
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InputError(file.display, f"grew over the {limit:,}-byte bound while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode(data: bytes, display: str) -> str:
    """Text from UTF-8 (with or without BOM) or UTF-16 with a BOM (PowerShell's ``>`` writes that)."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise InputError(display, f"not valid {codec} text ({exc.reason} at byte {exc.start})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            display, f"not UTF-8 text ({exc.reason} at byte {exc.start}): is this a JSON export?"
        ) from None


#: keys seen, lowered once (exports repeat the same few hundred keys); bounded
_LOWER: dict[str, str] = {}


def _lower_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    lower = _LOWER
    try:
        return {lower[k]: v for k, v in pairs}
    except KeyError:
        if len(lower) > 65536:
            lower.clear()
        for k, _ in pairs:
            lower[k] = k.lower()
        return {lower[k]: v for k, v in pairs}


def load_json(text: str, display: str) -> Any:
    """The document, every object key in lower case (exports disagree on casing, facts §15.5;
    lowering while parsing is the cheapest place to do it)."""
    if not text.strip():
        raise InputError(display, "empty file (an export prints at least [] or {})")
    try:
        return json.loads(text, object_pairs_hook=_lower_pairs)
    except json.JSONDecodeError as exc:
        path = json_path_at(text, exc.pos)
        if exc.pos >= len(text.rstrip()):
            what = "the JSON ends early: the file looks truncated"
        else:
            what = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise InputError(display, what, path or "$") from None
    except RecursionError:
        raise InputError(display, "JSON nested too deeply to be an export") from None


def read_json(file: InputFile, limit: int = MAX_FILE_BYTES) -> Any:
    return load_json(decode(read_bytes(file, limit), file.display), file.display)


def json_path_at(text: str, pos: int) -> str:
    """The JSON path of the value being read at character ``pos`` (for messages about broken JSON).

    A small scanner: it tracks the open objects and arrays, the current key and index,
    and skips strings; it does not validate.
    """
    stack: list[list[Any]] = []  # [kind, key-or-index, expecting_key]
    i = 0
    end = min(pos, len(text))
    while i < end:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if stack and stack[-1][0] == "{" and stack[-1][2]:
                stack[-1][1] = text[i + 1 : j]
                stack[-1][2] = False
            i = j + 1
            continue
        if c == "{":
            stack.append(["{", None, True])
        elif c == "[":
            stack.append(["[", 0, False])
        elif c in "}]":
            if stack:
                stack.pop()
        elif c == "," and stack:
            if stack[-1][0] == "[":
                stack[-1][1] += 1
            else:
                stack[-1][2] = True
        i += 1
    out = ""
    for kind, key, _expecting in stack:
        if kind == "[":
            out += f"[{key}]"
        elif key is not None:
            out += f".{key}" if out else str(key)
    return out
