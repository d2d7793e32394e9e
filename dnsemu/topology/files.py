"""Reading the files dnsemu is told about: confined, bounded, regular files only, never echoed.

Every file dnsemu reads on a user's behalf (a topology, the zone files it names and
the files they ``$INCLUDE``, a settings file) goes through :func:`read_text`:

* Only a regular file is read. The path is resolved (symbolic links included) and
  checked with ``stat`` before it is opened: a device, a FIFO, a socket or a
  directory is refused without being opened, and so is anything on ``/proc``,
  ``/sys`` or ``/dev``, whose "regular" files are the kernel's. The file is then
  opened non-blocking and without following a last symbolic link, and checked
  again on the open descriptor (same file, still regular).
* At most ``max_bytes`` + 1 octets are read: a larger file is refused, never read
  whole. The default, :data:`DEFAULT_MAX_FILE_BYTES` (64 MiB), is the
  ``max_file_bytes`` setting's default too.
* With a ``root``, the resolved file must lie inside ``root``'s directory tree;
  :func:`confined` turns a name written in a file (a ``zone_file``, an
  ``$INCLUDE``) into a path and refuses absolute names outright.
* The text must be UTF-8. Errors (:class:`FileProblem`) say what is wrong and
  where (a line), never what the file holds.
"""

from __future__ import annotations

import hashlib
import os
import stat

from dnsemu.text import excerpt

__all__ = ["DEFAULT_MAX_FILE_BYTES", "FileProblem", "confined", "read_bytes", "read_text", "where"]

#: the default limit on any one file read (the ``max_file_bytes`` setting)
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024

_KERNEL_TREES = ("/proc", "/sys", "/dev")
_CHUNK = 1 << 20


class FileProblem(ValueError):
    """Why a file was not read: a message, a hint, and the line when the text itself is at fault."""

    def __init__(self, message: str, hint: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


def _within(root: str, path: str) -> bool:
    return path == root or os.path.commonpath([root, path]) == root


def confined(name: str, base: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """The path of ``name``, written relative to ``base``, when it stays inside ``root``'s tree.

    ``name`` comes from a file (a ``zone_file`` value, an ``$INCLUDE`` argument). An
    absolute name is refused; so is one that leads out of ``root`` with ``..`` or
    through a symbolic link (resolved paths are compared). Returns ``base/name`` as
    written (for messages and reload watching); :func:`read_text` resolves it again.
    """
    root_text = os.fspath(root)
    hint = (f"files named in a topology live in {root_text or '.'!s} or below, given relative to the "
            "file that names them; absolute paths, '..' out of that tree and symbolic links out of it "
            "are refused")
    if not name:
        raise FileProblem("the file name is empty", hint)
    if "\x00" in name:
        raise FileProblem(f"the file name {excerpt(name)} holds a NUL character", hint)
    if os.path.isabs(name):
        raise FileProblem(f"absolute path {excerpt(name)} is not allowed", hint)
    path = os.path.join(os.fspath(base), name)
    real_root = os.path.realpath(root_text or ".")
    if not _within(real_root, os.path.abspath(os.path.join(os.path.realpath(os.fspath(base) or "."), name))):
        raise FileProblem(f"{excerpt(name)} leads outside {root_text or '.'}", hint)
    if not _within(real_root, os.path.realpath(path)):
        raise FileProblem(f"{excerpt(name)} is a symbolic link (or passes through one) that leads outside "
                          f"{root_text or '.'}", hint)
    return path


def _kernel_file(real: str, st: os.stat_result) -> bool:
    if any(_within(tree, real) for tree in _KERNEL_TREES):
        return True
    for tree in _KERNEL_TREES[:2]:
        try:
            if os.stat(tree).st_dev == st.st_dev:
                return True
        except OSError:
            continue
    return False


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def read_bytes(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES,
               root: str | os.PathLike[str] | None = None) -> bytes:
    """The octets of the regular file at ``path``, read to at most ``max_bytes``, checked as :func:`read_text` does.

    Raises :class:`FileProblem`; its message never quotes the file's content.
    """
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be 0 or more, not {max_bytes}")
    text_path = os.fspath(path)
    if "\x00" in text_path:
        raise FileProblem("the file name holds a NUL character")
    real = os.path.realpath(text_path)
    if root is not None and not _within(os.path.realpath(os.fspath(root) or "."), real):
        raise FileProblem(f"{os.fspath(root) or '.'} does not hold this file (it leads outside through "
                          "'..' or a symbolic link)", "keep the files a topology names inside its folder")
    try:
        st = os.stat(real)
    except OSError as exc:
        raise FileProblem(f"cannot read it: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"{_kind(st.st_mode)}, not a regular file: refused without opening it",
                          "name a regular text file")
    if _kernel_file(real, st):
        raise FileProblem(f"{real} is a kernel file (/proc, /sys or /dev): refused without opening it",
                          "name a regular text file of your own")
    if st.st_size > max_bytes:
        raise FileProblem(_too_large(max_bytes), _LIMIT_HINT)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise FileProblem(f"cannot read it: {exc.strerror}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            raise FileProblem("the file changed while it was being opened: refused", "try again")
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            except OSError as exc:
                raise FileProblem(f"cannot read it: {exc.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise FileProblem(_too_large(max_bytes), _LIMIT_HINT)
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES,
              root: str | os.PathLike[str] | None = None, digests: dict[str, str] | None = None) -> str:
    """The UTF-8 text of the regular file at ``path`` (newlines made ``\\n``), read to at most ``max_bytes``.

    With ``root``, the file (symbolic links resolved) must lie inside ``root``'s tree.
    With ``digests``, the SHA-256 of the octets read is put there under ``path`` as given
    (what a compiled-index cache is keyed by: the very octets that were parsed).
    Raises :class:`FileProblem`; its message never quotes the file's content.
    """
    data = read_bytes(path, max_bytes=max_bytes, root=root)
    if digests is not None:
        digests[os.fspath(path)] = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileProblem(f"not UTF-8 text (an invalid octet on line {line})",
                          "save the file as UTF-8 text", line=line) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


_LIMIT_HINT = "raise the max-file-bytes setting (DNSEMU_MAX_FILE_BYTES), or split the file"


def _too_large(max_bytes: int) -> str:
    return f"larger than the limit of {max_bytes} octets (max-file-bytes): refused"


def where(path: str | os.PathLike[str], problem: FileProblem) -> str:
    """``path: message`` or, when the text itself is at fault, ``path:line: message`` (without the line)."""
    if problem.line is None:
        return f"{os.fspath(path)}: {problem.message}"
    message = problem.message.split(" (an invalid octet on line", 1)[0]
    return f"{os.fspath(path)}:{problem.line}: {message}"
