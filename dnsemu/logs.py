"""Logging for the server: structlog, one canonical line per query, lifecycle events.

:func:`configure_logging` is called by ``dnsemu serve`` only (never at import):
JSON lines when the stream is not a terminal, coloured console output when it
is; the level filters in the bound logger itself, so a disabled level costs one
method call that returns ``None``.

Events (snake_case keys):

* ``dns_query`` — client, proto, view, network, qname (client's case), qtype,
  rcode, answer (a short summary), kind (private/public/nxdomain_private/
  fallback/internal/forwarded/refused/error/blocked), duration_ms, cached; ``ecs`` when
  an ECS option routed the query.
* ``dns_policy`` — a DNS security policy rule matched a query: client, qname, qtype,
  policy, vnet, rule, priority, action (Allow at info, Alert and Block at warning),
  domain_list, domain, matched (the name of the chain), context, rcode.
* lifecycle — ``server_started`` (addresses, generation), ``server_stopping``,
  ``server_stopped``, ``topology_loaded``, ``topology_reload_failed`` (error),
  ``worker_started``/``worker_exited``, ``internal_error`` (with traceback).

The server writes logs to stderr: stdout carries the readiness line only, so a
script can read it without parsing logs. Console lines (a terminal) keep the order
the event gives its fields: a ``dns_query`` line reads client, qname, qtype, rcode,
answer, view, duration first.

In a library user's process (the test fixture, :class:`dnsemu.testing.Emulator`)
nothing is printed on its own: lines go to the standard ``logging`` logger
``dnsemu`` (and its children), which the host application configures. The switch
to see them without touching ``logging``: ``DNSEMU_LOG=info`` (or ``debug``,
``warning``, ``error``) in the environment adds one stderr handler at that level
(:data:`LOG_ENV`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from dnsemu.dns.records import Record, rdata_text, type_name

__all__ = ["LOG_ENV", "answer_summary", "configure_logging", "get_logger"]

#: the environment variable that turns a library user's dnsemu logs on (a level name)
LOG_ENV = "DNSEMU_LOG"

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None,
                      *, cache: bool = True) -> str:
    """Configure structlog for the process; returns the format chosen (``json`` or ``console``).

    ``cache=False`` keeps loggers reconfigurable (what tests want, see
    ``structlog.testing.capture_logs``).
    """
    stream = stream if stream is not None else sys.stderr
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        fmt = "console" if isatty is not None and isatty() else "json"
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        # tracebacks as data, without frame locals: rendering an index's repr is slow, and locals can hold secrets
        tracebacks = structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        processors += [tracebacks, structlog.processors.JSONRenderer()]
    else:
        # sort_keys=False: fields in the order the event gives them (a dns_query line starts with who asked what)
        processors += [structlog.dev.ConsoleRenderer(
            colors=_colors(stream), exception_formatter=structlog.dev.plain_traceback, sort_keys=False)]
    global _QUERY_LOG, _CONFIGURED
    _CONFIGURED = True
    level_ok = _LEVELS.get(level, logging.INFO) <= logging.INFO
    _QUERY_LOG = QueryLog(stream) if fmt == "json" and level_ok else None
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=stream),  # writes and flushes each line
        cache_logger_on_first_use=cache,
    )
    return fmt


def _colors(stream: TextIO) -> bool:
    """Colours only on a terminal (and on Windows only with colorama)."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return False
    if sys.platform == "win32":
        try:
            import colorama  # noqa: F401
        except ImportError:
            return False
    return True


#: set by :func:`configure_logging`: the process is ``dnsemu serve`` (or asked for structlog's output)
_CONFIGURED = False


def get_logger(name: str = "dnsemu") -> Any:
    """A logger for ``name``: structlog's, as :func:`configure_logging` set it up, in ``dnsemu serve``;
    in a library user's process (the test fixture), structlog's as the host configured it if it did,
    else a plain stdlib ``logging`` logger of that name.

    A library never prints on its own: its lines go to ``logging.getLogger("dnsemu…")``, which the host
    application configures (``logging.getLogger("dnsemu").setLevel(logging.INFO)`` and a handler to see
    them; by default only warnings and errors reach stderr, through logging's last-resort handler).
    The choice is made at each call, so a logger made before :func:`configure_logging` follows it.
    """
    return _Logger(name)


class _Logger:
    """Picks structlog (configured by ``dnsemu serve``) or stdlib logging (a library) at each call."""

    __slots__ = ("_name", "_plain")

    def __init__(self, name: str) -> None:
        self._name = name
        self._plain: Any = None

    def _target(self) -> Any:
        if _CONFIGURED or structlog.is_configured():  # dnsemu serve, or a host application that uses structlog
            return structlog.get_logger(self._name)
        if self._plain is None:
            _library_switch()
            # key=value lines and plain tracebacks: no colours, no locals, nothing slow on an error path
            self._plain = structlog.wrap_logger(
                logging.getLogger(self._name),
                processors=[structlog.processors.format_exc_info, structlog.processors.KeyValueRenderer(
                    key_order=["event"], sort_keys=False)],
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        return self._plain

    def __getattr__(self, method: str) -> Any:
        return getattr(self._target(), method)


_SWITCHED = False


def _library_switch() -> None:
    """``DNSEMU_LOG=LEVEL``: show a library user's dnsemu lines on stderr at that level (once per process).

    Nothing happens when the variable is unset or empty, or names no level: the host's logging rules.
    """
    global _SWITCHED
    if _SWITCHED:
        return
    _SWITCHED = True
    level = _LEVELS.get(os.environ.get(LOG_ENV, "").strip().lower())
    if level is None:
        return
    logger = logging.getLogger("dnsemu")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


def answer_summary(records: Sequence[Record], limit: int = 4) -> str:
    """``"CNAME a.privatelink.x., A 10.0.1.4"``: the answer section in a few words, for logs."""
    if not records:
        return ""
    parts = [f"{type_name(r.rtype)} {rdata_text(r.rtype, r.rdata)}" for r in records[:limit]]
    if len(records) > limit:
        parts.append(f"+{len(records) - limit} more")
    return ", ".join(parts)


_QUERY_LOG: QueryLog | None = None


def query_log() -> QueryLog | None:
    """The buffered writer of ``dns_query`` lines (JSON format at INFO or below), else None."""
    return _QUERY_LOG


class QueryLog:
    """``dns_query`` lines written the way structlog's JSON renderer writes them (same keys, same order,
    same timestamp format), without its processor chain, and buffered: one ``write`` per batch of lines
    instead of a write and a flush per query. The server calls :meth:`flush` every 100 ms and on stop.
    """

    __slots__ = ("_batch", "_flush", "_lines", "_prefix", "_sec", "_write")

    def __init__(self, stream: TextIO, batch: int = 256) -> None:
        self._write = stream.write
        self._flush = getattr(stream, "flush", None)
        self._lines: list[str] = []
        self._batch = batch
        self._sec = -1
        self._prefix = ""

    def stamp(self) -> str:
        """Now, as structlog's ISO timestamps in UTC: ``2026-12-02T13:36:29.030900Z`` (the second's text is
        made once per second; the microseconds are an integer's digits, not a format spec)."""
        sec, micro = divmod(time.time_ns() // 1000, 1_000_000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec))
        return self._prefix + str(micro + 1_000_000)[1:] + "Z"

    def emit(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._write("".join(self._lines))
            self._lines.clear()
            if self._flush is not None:
                self._flush()


#: the digits after the point of 0 to 999 thousandths, as a float's repr writes them ("0", "5", "05", "123")
_THOUSANDTHS = [f"{n:03d}".rstrip("0") or "0" for n in range(1000)]


def milliseconds(seconds: float) -> str:
    """``seconds`` in milliseconds with at most three decimals, the text of ``round(seconds * 1000, 3)`` (what
    the structlog lines log), in a fifth of its time: from whole microseconds, the thousandths from a table."""
    whole, thousandths = divmod(int(seconds * 1e6 + 0.5), 1000)
    return f"{whole}.{_THOUSANDTHS[thousandths]}"


def json_str(text: str) -> str:
    """A JSON string literal; the common case (no quote, backslash or control character) without json.dumps."""
    if text.isprintable() and '"' not in text and "\\" not in text and text.isascii():
        return f'"{text}"'
    return json.dumps(text)
