"""Quoting user input in messages: short and escaped, so an error never replays what it was sent.

Every message that names an offending value (a token of a master file, a field of a
topology, a key of an API body) shows it through :func:`excerpt` (quoted) or
:func:`clip` (bare, for names inside a field path): at most :data:`EXCERPT_LIMIT`
characters of it, non-printing characters escaped, and ``…`` when it was cut. A
message therefore stays one short line whatever the input, and a log line or an
API reply never carries more than a few dozen characters of what a client sent.
"""

from __future__ import annotations

__all__ = ["EXCERPT_LIMIT", "clip", "excerpt"]

#: the most characters of an input a message shows (escapes count as the characters they print)
EXCERPT_LIMIT = 40


def _escaped(text: str, limit: int, quote: str) -> tuple[str, bool]:
    out: list[str] = []
    used = 0
    for ch in text:
        if ch == "\\" or ch == quote:
            piece = "\\" + ch
        elif ch.isprintable():
            piece = ch
        else:
            piece = ch.encode("unicode_escape").decode("ascii")
        if used + len(piece) > limit:
            return "".join(out), True
        out.append(piece)
        used += len(piece)
    return "".join(out), False


def excerpt(value: object, limit: int = EXCERPT_LIMIT) -> str:
    """``value`` quoted like :func:`repr`, escaped, and cut to ``limit`` characters (``…`` marks a cut)."""
    text = value if isinstance(value, str) else str(value)
    body, cut = _escaped(text, limit, "'")
    return f"'{body}'" + ("…" if cut else "")


def clip(value: object, limit: int = EXCERPT_LIMIT) -> str:
    """``value`` escaped and cut like :func:`excerpt`, without quotes (for names inside field paths)."""
    text = value if isinstance(value, str) else str(value)
    body, cut = _escaped(text, limit, "")
    return body + ("…" if cut else "")
