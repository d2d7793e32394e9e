"""Domain names as the core sees them.

A name in the core is a ``str`` in canonical presentation form: lower case,
absolute (ending in a dot), with any byte outside ``[a-z0-9-_*]`` written as
``\\DDD`` and a literal dot inside a label written as ``\\.``. The root is
``"."``. Canonical names compare and hash as plain strings, so every lookup in
the compiled topology is one dictionary probe.

Only the edges (the wire codec, the topology loader) turn other spellings into
canonical names; the resolver never has to think about case or escapes.
"""

from __future__ import annotations

from collections.abc import Iterator

from dnsemu.text import excerpt

ROOT = "."

_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_*/")


class NameError_(ValueError):
    """A name that cannot be a DNS name (empty label, label over 63 octets, name over 255)."""


def _escape_label(label: bytes) -> str:
    out = []
    for b in label:
        if b in _PLAIN:
            out.append(chr(b))
        elif 0x41 <= b <= 0x5A:  # A-Z: fold case
            out.append(chr(b + 32))
        elif b == 0x2E:
            out.append("\\.")
        elif b == 0x5C:
            out.append("\\\\")
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


_PLAIN_OR_UPPER = bytes(_PLAIN) + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def from_labels(labels: list[bytes] | tuple[bytes, ...]) -> str:
    """Canonical name from wire-format labels (without the root label)."""
    if not labels:
        return ROOT
    joined = b".".join(labels)
    if joined.count(b".") == len(labels) - 1 and not joined.translate(None, _PLAIN_OR_UPPER).replace(b".", b""):
        # only letters, digits, '-', '_', '*', '/' (and the dots we put): no escapes needed
        return joined.decode("ascii").lower() + "."
    return ".".join(_escape_label(label) for label in labels) + "."


def to_labels(name: str) -> list[bytes]:
    """Wire-format labels (lower case, without the root label) of a canonical name."""
    if name == ROOT:
        return []
    if "\\" not in name:
        return [label.encode("ascii") for label in name[:-1].split(".")]
    labels: list[bytes] = []
    current = bytearray()
    i = 0
    body = name[:-1] if name.endswith(".") else name
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1 : i + 4]
            if len(nxt) == 3 and nxt.isdigit():
                current.append(int(nxt))
                i += 4
                continue
            current.extend(body[i + 1].encode("latin-1"))
            i += 2
            continue
        if c == ".":
            labels.append(bytes(current))
            current = bytearray()
        else:
            current.extend(c.encode("latin-1"))
        i += 1
    labels.append(bytes(current))
    return labels


def _ends_with_unescaped_dot(text: str) -> bool:
    if not text.endswith("."):
        return False
    backslashes = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 0


_PLAIN_TEXT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_*/.")


def _parse_plain(text: str, origin: str | None) -> str | None:
    """:func:`parse` for the common spelling (letters, digits, '-', '_', '*', dots): None otherwise."""
    lower = text.lower()
    if not _PLAIN_TEXT.issuperset(lower) or lower.startswith(".") or ".." in lower:
        return None
    if lower == ".":
        return None
    absolute = lower.endswith(".")
    body = lower[:-1] if absolute else lower
    if not body or (len(body) > 63 and max(map(len, body.split("."))) > 63):
        return None  # let the full parser say what is wrong
    if absolute:
        name = lower
    elif origin is None:
        return None
    else:
        name = body + "." + origin if origin != ROOT else body + "."
    if len(name) + 1 > 255:  # presentation length + 1 = wire length for plain names
        return None
    return name


def parse(text: str, origin: str | None = None) -> str:
    """Canonical name from presentation text, relative names completed with ``origin``.

    Raises :class:`NameError_` with a reason for anything that is not a valid name.
    """
    if not text:
        raise NameError_("empty name")
    fast = _parse_plain(text, origin)
    if fast is not None:
        return fast
    if text == "@":
        if origin is None:
            raise NameError_("'@' needs an origin")
        return origin
    if text == ".":
        return ROOT
    labels, absolute = _split(text)
    _check_lengths(labels, text)
    if not absolute:
        if origin is None:
            raise NameError_(f"relative name {text!r} without an origin")
        labels.extend(to_labels(origin))
        _check_lengths(labels, text)
    return from_labels(labels)


def to_wire(name: str) -> bytes:
    """``name`` in wire form, uncompressed, its case kept: the one name encoder of dnsemu.

    ``name`` is a canonical name or any presentation text: absolute whether or
    not it ends with a dot, ``""`` and ``"."`` the root, ``\\DDD`` and ``\\X``
    escapes read, and a label outside ASCII sent in its IDNA form (``xn--``), as
    dig sends it. Raises :class:`NameError_` for an empty label, a label over 63
    octets or a name over 255.
    """
    text = name.strip()
    if text in ("", "."):
        return b"\x00"
    if "\\" not in text and text.isascii():
        body = text[:-1] if text.endswith(".") else text
        labels = [label.encode("ascii") for label in body.split(".")]
        if not all(labels):
            raise NameError_(f"empty label in {name!r}")
    else:
        if not text.isascii():
            try:
                text = ".".join(part if part.isascii() else part.encode("idna").decode("ascii")
                                for part in text.split("."))
            except UnicodeError as exc:
                raise NameError_(f"{name!r} is not a valid internationalized name ({exc})") from None
        labels, _ = _split(text)
    _check_lengths(labels, name)
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


def _split(text: str) -> tuple[list[bytes], bool]:
    """The labels of presentation text (escapes read, case kept) and whether it ends with a dot."""
    absolute = _ends_with_unescaped_dot(text)
    labels: list[bytes] = []
    current = bytearray()
    i = 0
    body = text[:-1] if absolute else text
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1 : i + 4]
            if len(nxt) == 3 and nxt.isdigit():
                value = int(nxt)
                if value > 255:
                    raise NameError_(f"escape \\{nxt} is not a byte")
                current.append(value)
                i += 4
                continue
            if i + 1 >= len(body):
                raise NameError_("name ends with a lone backslash")
            current.extend(body[i + 1].encode("utf-8"))
            i += 2
            continue
        if c == ".":
            if not current:
                raise NameError_(f"empty label in {excerpt(text)}")
            labels.append(bytes(current))
            current = bytearray()
        else:
            current.extend(c.encode("utf-8"))
        i += 1
    if not current:
        raise NameError_(f"empty label in {excerpt(text)}")
    labels.append(bytes(current))
    return labels, absolute


def _check_lengths(labels: list[bytes], text: str) -> None:
    for label in labels:
        if len(label) > 63:
            raise NameError_(f"label {label[:20]!r}... is {len(label)} octets, over 63")
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        raise NameError_(f"name {excerpt(text)} is over 255 octets")


def parent(name: str) -> str:
    """The name with its first label removed (the root's parent is the root)."""
    if name == ROOT:
        return ROOT
    if "\\" not in name:
        cut = name.find(".")
        rest = name[cut + 1 :]
        return rest or ROOT
    return from_labels(to_labels(name)[1:])


def suffixes(name: str) -> Iterator[str]:
    """``name`` and each of its ancestors, most specific first, ending with the root."""
    while True:
        yield name
        if name == ROOT:
            return
        name = parent(name)


def is_subdomain(name: str, zone: str) -> bool:
    """True when ``name`` is ``zone`` or lies below it."""
    if zone == ROOT or name == zone:
        return True
    return name.endswith("." + zone) and (
        "\\" not in name or to_labels(name)[-len(to_labels(zone)) :] == to_labels(zone)
    )


def relativize(name: str, zone: str) -> str:
    """``name`` relative to ``zone`` ("@" for the apex)."""
    if name == zone:
        return "@"
    if zone == ROOT:
        return name[:-1]
    return name[: -len(zone) - 1]


def label_count(name: str) -> int:
    return len(to_labels(name))


def first_label(name: str) -> str:
    if name == ROOT:
        return ""
    if "\\" not in name:
        return name[: name.find(".")]
    return from_labels(to_labels(name)[:1])[:-1]


def wire_length(name: str) -> int:
    """Octets of ``name`` in wire format (labels with their length octets, and the root)."""
    if "\\" not in name:
        return 1 if name == ROOT else len(name) + 1
    return sum(len(label) + 1 for label in to_labels(name)) + 1


def replace_suffix(name: str, owner: str, target: str) -> str:
    """``name`` with its suffix ``owner`` replaced by ``target``: the DNAME substitution of RFC 6672 §2.2.

    ``name`` must lie strictly below ``owner``. Raises :class:`NameError_` when the result
    would be over 255 octets (the server then answers YXDOMAIN).
    """
    prefix = name[: len(name) - len(owner)] if owner != ROOT else name  # "x.y." of "x.y.owner."
    result = prefix + target if target != ROOT else prefix
    if wire_length(result) > 255:
        raise NameError_(f"the substituted name would be {wire_length(result)} octets, over 255")
    return result
