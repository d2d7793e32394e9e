"""A small HTTP/1.1 server for the metrics endpoint and the JSON API, on the DNS server's event loop.

Only what a scraper, ``curl``, a browser and a test-suite client need: requests
with a ``Content-Length`` body (or none), keep-alive (HTTP/1.1 default; HTTP/1.0
with ``Connection: keep-alive``), pipelined requests answered in order,
``Expect: 100-continue``, ``HEAD``, and streamed responses (``Response.stream``,
for Server-Sent Events: written as they come, the connection closed after). Everything else is refused with a
status and a one-line JSON error, never a 500: chunked request bodies (501), a
body over ``max_body`` (413), headers over ``max_header`` (431), a malformed
request line or header (400: anything outside the ASCII grammar of RFC 9112,
a control character in a header value, a ``Content-Length`` that is not ASCII
digits), a request that takes longer than ``timeout`` to arrive (408). A
connection idle for ``timeout`` between requests is closed quietly.

Who may ask (:class:`HostPolicy`): an HTTP/1.1 request without exactly one
valid ``Host`` is 400 (RFC 9112 §3.2); a ``Host`` that does not name this
listener is 421 Misdirected Request, so a web page that reaches a loopback
listener through DNS rebinding (its own name, resolved to 127.0.0.1) is
answered nothing; a request with an unsafe method (anything but GET, HEAD,
OPTIONS, TRACE) whose ``Origin`` is not this listener's own origin is 403, so
a page elsewhere cannot post to it either.

At most ``max_connections`` are served at once. A connection over the cap is
still accepted, but only for the ``priority_paths`` (the health probes): its
request must arrive within a couple of seconds, a GET or HEAD of one of those
paths is answered, anything else is 503, and the connection closes. At most
``max_overflow`` such connections are held; a new one pushes out the oldest, so
slow clients holding every slot cannot starve a probe.

The application is one coroutine, ``app(request) -> Response``; an exception
it lets through is a bug: answered 500, logged with its traceback, counted, and
handed to ``on_error`` (so a test fixture can re-raise it).

No new dependency: h11 would do the parsing, but the subset here is a few dozen
lines, and the server is not on the DNS hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dnsemu.dns.addresses import Authority, normalise_host, parse_authority
from dnsemu.logs import get_logger
from dnsemu.text import clip

__all__ = ["Authority", "HostPolicy", "HttpError", "HttpServer", "Request", "Response", "json_response",
           "parse_authority"]

# Every pattern is matched whole (fullmatch) and spells its characters out: no \d or \w, which in a str
# pattern would take any Unicode digit or letter.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([!-~]+) HTTP/([0-9])\.([0-9])")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB: never in a field value (RFC 9110 §5.5)
_DIGITS = re.compile(r"[0-9]{1,18}")
_ORIGIN = re.compile(r"(https?)://([^/?#\s]+)", re.IGNORECASE)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # RFC 9110 §9.2.1
_OVERFLOW_TIMEOUT = 2.0  # seconds a connection over the cap has to send its (health) request
_OVERFLOW_MAX_HEADER = 8192
_READ_CHUNK_PAUSE = 256 * 1024  # pause reading when this much is buffered beyond what a request may hold


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    peer: Any = None
    #: the path's segments, each percent-decoded on its own (so an encoded "/" stays inside its segment)
    segments: tuple[str, ...] = ()

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: a body written as it comes (Server-Sent Events): no Content-Length, the connection closes after it
    stream: AsyncIterator[bytes] | None = None


class HttpError(Exception):
    """A 4xx/5xx answered as ``{"error": code, "message": message, ...extra}``."""

    def __init__(self, status: int, code: str, message: str, *, headers: list[tuple[str, str]] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []
        self.extra = extra

    def response(self) -> Response:
        return json_response(self.status, {"error": self.code, "message": self.message, **self.extra},
                             headers=self.headers)


def json_response(status: int, data: Any, *, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"
    return Response(status, body, "application/json", [("Cache-Control", "no-store"), *(headers or [])])


def excerpt(text: str | bytes, limit: int = 40) -> str:
    """A short, escaped quotation of untrusted input, fit for an error message or a log line."""
    shown = text[:limit]
    quoted = ascii(shown) if isinstance(shown, str) else repr(shown)
    return quoted + ("..." if len(text) > limit else "")


# --------------------------------------------------------------------------- Host and Origin


class HostPolicy:
    """Which ``Host`` values name this listener (see :meth:`for_listener`)."""

    LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

    def __init__(self, names: Iterable[str] = (), *, ip_literals: bool = False, any_host: bool = False) -> None:
        self.names = frozenset(normalise_host(n) for n in names)
        self.ip_literals = ip_literals
        self.any_host = any_host or "*" in self.names

    @classmethod
    def for_listener(cls, address: str, allowed: Iterable[str] = ()) -> HostPolicy:
        """The policy of a listener bound to ``address``, plus the names in ``allowed`` (``*``: any Host).

        Bound to loopback: ``localhost``, ``127.0.0.1``, ``::1`` and the bound address. Bound elsewhere (a
        wildcard included): ``localhost``, the bound address and every IP address literal, because such a
        listener is reached under addresses it cannot know (NAT, published ports). Either way no other *name*
        passes unless listed: DNS rebinding needs a name the attacker owns, and an IP literal in Host means the
        browser connected to that very address, so its page came from there.
        """
        ip = ipaddress.ip_address(address)
        names = {"localhost", *allowed}
        if ip.is_loopback:
            return cls({*names, *cls.LOOPBACK_NAMES, str(ip)})
        if not ip.is_unspecified:
            names.add(str(ip))
        return cls(names, ip_literals=True)

    def allows(self, authority: Authority) -> bool:
        return (self.any_host or authority.host in self.names
                or (self.ip_literals and authority.ip is not None))

    def describe(self) -> str:
        if self.any_host:
            return "any"
        shown = sorted(f"[{n}]" if ":" in n else n for n in self.names)
        return ", ".join(shown) + (" or an IP address" if self.ip_literals else "")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _check_origin(origin: str, authority: Authority, policy: HostPolicy) -> None:
    """A browser sends ``Origin`` with every cross-origin request and with every POST/PUT/DELETE/PATCH: refuse
    any origin but this listener's own (the one the request's Host names), and any ``null`` or malformed one."""
    refused = HttpError(403, "origin_not_allowed", f"Origin {excerpt(origin)} is not this server's origin; "
                                                   "changes are not accepted from other web pages")
    match = _ORIGIN.fullmatch(origin)
    if match is None:
        raise refused
    scheme = match.group(1).lower()
    try:
        other = parse_authority(match.group(2))
    except ValueError:
        raise refused from None
    if not policy.allows(other) or other.host != authority.host:
        raise refused
    origin_port = other.port if other.port is not None else _default_port(scheme)
    if authority.port is not None and origin_port != authority.port:
        raise refused
    if authority.port is None and origin_port != _default_port(scheme):
        raise refused


App = Callable[[Request], Awaitable[Response]]


class _Closed(Exception):
    """The peer went away, or we are stopping: end the connection without a word."""


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None
        self.closed = False
        self.paused = False
        self.task: asyncio.Task[None] | None = None
        self._data = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self.busy = False  # between the first octet of a request and its response
        self.overflow = False  # accepted over the cap: one request, for the priority paths only

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        server = self.server
        if server.closing:
            response = HttpError(503, "busy", "the server is stopping").response()
            transport.write(_encode(response, keep_alive=False, head=False))  # type: ignore[attr-defined]
            transport.close()
            self.closed = True
            return
        if len(server.connections) >= server.max_connections:
            self.overflow = True
            server.overflow[self] = None
            while len(server.overflow) > server.max_overflow:  # the oldest makes room: a probe is never starved
                oldest = next(iter(server.overflow))
                del server.overflow[oldest]
                oldest.closed = True
                oldest._data.set()
                if oldest.transport is not None:
                    oldest.transport.abort()
        else:
            server.connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._data.set()
        if len(self.buf) > self.server.max_header + self.server.max_body + _READ_CHUNK_PAUSE and not self.paused:
            self.paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.closed = True
        self._data.set()
        return True  # let us finish writing; we close after the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._data.set()
        self._writable.set()
        self.server.connections.discard(self)
        self.server.overflow.pop(self, None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- reading

    def _resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    async def _wait_data(self, deadline: float) -> None:
        """Wait for more octets until ``deadline`` (loop time); raise TimeoutError or _Closed."""
        if self.closed:
            raise _Closed
        self._data.clear()
        self._resume()
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            await self._data.wait()

    async def _run(self) -> None:
        server = self.server
        loop = asyncio.get_running_loop()
        timeout = min(server.timeout, _OVERFLOW_TIMEOUT) if self.overflow else server.timeout
        try:
            while not server.closing:
                # wait for the first octet of a request: an idle connection just closes
                idle_deadline = loop.time() + timeout
                while not self.buf:
                    try:
                        await self._wait_data(idle_deadline)
                    except (TimeoutError, _Closed):
                        return
                self.busy = True
                deadline = loop.time() + timeout
                try:
                    request, keep_alive = await self._read_request(deadline)
                except HttpError as exc:
                    server.log.info("http_request", method="-", path="-", status=exc.status, error=exc.code)
                    await self._send(exc.response(), keep_alive=False, head=False)
                    await self._linger()
                    return
                except TimeoutError:
                    await self._send(HttpError(408, "timeout", f"the request did not arrive within "
                                                               f"{timeout:g} s").response(),
                                     keep_alive=False, head=False)
                    await self._linger()
                    return
                response = await server.dispatch(request)
                if response.stream is not None:
                    await self._stream(response, head=request.method == "HEAD")
                    return
                keep_alive = keep_alive and not server.closing and not self.overflow
                await self._send(response, keep_alive=keep_alive, head=request.method == "HEAD")
                self.busy = False
                if not keep_alive:
                    return
        except _Closed:
            return
        except Exception:  # a bug in this module: never leave the connection hanging
            server.log.exception("http_connection_failed", peer=str(self.peer))
            server.errors += 1
        finally:
            self.busy = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()

    async def _read_request(self, deadline: float) -> tuple[Request, bool]:
        server = self.server
        max_header = min(server.max_header, _OVERFLOW_MAX_HEADER) if self.overflow else server.max_header
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > max_header:
                raise HttpError(431, "headers_too_large", f"the request line and headers exceed "
                                                          f"{max_header} octets")
            try:
                await self._wait_data(deadline)
            except _Closed:
                raise _Closed from None
        if end > max_header:
            raise HttpError(431, "headers_too_large", f"the request line and headers exceed {max_header} octets")
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        method, target, version, headers = _parse_head(head)
        path, segments, query, target_authority = _parse_target(target)
        if "transfer-encoding" in headers:
            raise HttpError(501, "chunked_not_supported", "request bodies must be sent with Content-Length; "
                                                          "Transfer-Encoding is not supported")
        length_text = headers.get("content-length", "0")
        if not _DIGITS.fullmatch(length_text):
            raise HttpError(400, "bad_content_length", f"Content-Length {excerpt(length_text)} is not a number of "
                                                       "octets in ASCII digits")
        length = int(length_text)
        if length > server.max_body:
            raise HttpError(413, "body_too_large", f"the body has {length} octets; the limit is {server.max_body}")
        _check_host(method, version, headers, target_authority, server.host_policy)
        if self.overflow and (length or method not in ("GET", "HEAD") or path not in server.priority_paths):
            raise HttpError(503, "busy", f"too many HTTP connections ({server.max_connections}); only "
                                         f"{', '.join(sorted(server.priority_paths)) or 'nothing'} is answered "
                                         "until one closes; try again", headers=[("Retry-After", "1")])
        if length and headers.get("expect", "").lower() == "100-continue" and len(self.buf) < length:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while len(self.buf) < length:
            try:
                await self._wait_data(deadline)
            except _Closed:
                raise _Closed from None
        body = bytes(self.buf[:length])
        del self.buf[:length]
        connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep_alive = "keep-alive" in connection if version == (1, 0) else "close" not in connection
        return Request(method, target, path, query, headers, body, self.peer, segments), keep_alive

    async def _linger(self, seconds: float = 2.0) -> None:
        """Close our side, then read and discard what the client still sends (a body we refused) for a while.

        Closing with unread data makes the kernel send a reset, which can destroy
        the error response before the client reads it.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(Exception):
            if transport.can_write_eof():
                transport.write_eof()
        deadline = asyncio.get_running_loop().time() + seconds
        with contextlib.suppress(TimeoutError, _Closed):
            while True:
                self.buf.clear()
                await self._wait_data(deadline)

    # -- writing

    async def _stream(self, response: Response, *, head: bool) -> None:
        """Write the head, then each chunk of ``response.stream`` until it ends, the peer leaves or we stop."""
        assert response.stream is not None
        self.busy = False  # a stream never holds up a shutdown
        try:
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.write(_encode(response, keep_alive=False, head=True, length=False))
            if head:
                return
            async for chunk in response.stream:
                if self.closed or self.server.closing or self.transport.is_closing():
                    return
                self.transport.write(chunk)
                if not self._writable.is_set():
                    await self._writable.wait()
        finally:
            await response.stream.aclose()  # type: ignore[attr-defined]

    async def _send(self, response: Response, *, keep_alive: bool, head: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_encode(response, keep_alive=keep_alive, head=head))
        if not self._writable.is_set():
            await self._writable.wait()


def _parse_head(head: bytes) -> tuple[str, str, tuple[int, int], dict[str, str]]:
    lines = head.split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise HttpError(400, "bad_request_line", "the request line is not METHOD TARGET HTTP/1.x (in printable "
                                                 "ASCII, one space apart)")
    method, target, major, minor = match.groups()
    if major != b"1":
        raise HttpError(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line or line[:1] in (b" ", b"\t"):
            raise HttpError(400, "bad_header", "folded or empty header lines are not allowed")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise HttpError(400, "bad_header", f"malformed header line {excerpt(line, 60)}")
        value = value.strip(b" \t")
        if _CONTROL.search(value):
            raise HttpError(400, "bad_header", f"the value of {excerpt(name)} holds a control character")
        text = value.decode("latin-1")  # obs-text (0x80-0xff) stays as it came: never a digit, a name or a token
        key = name.decode("ascii").lower()
        if key in headers and key in ("content-length", "host"):
            if key == "host":
                raise HttpError(400, "bad_host", "more than one Host header (RFC 9112 §3.2)")
            if headers[key] != text:
                raise HttpError(400, "bad_content_length", "conflicting Content-Length headers")
        headers[key] = f"{headers[key]}, {text}" if key in headers and key != "content-length" else text
    return method.decode("ascii"), target.decode("ascii"), (int(major), int(minor)), headers


def _parse_target(target: str) -> tuple[str, tuple[str, ...], dict[str, list[str]], Authority | None]:
    """The request target (ASCII, no controls) → path, its percent-decoded segments, the query, and the authority
    of an absolute-form target (RFC 9112 §3.2: origin-form ``/path?query`` or absolute-form ``http://host/path``)."""
    authority = None
    if target.startswith("/"):
        raw_path, _, raw_query = target.partition("?")
        if "#" in target:
            raise HttpError(400, "bad_request_line", "a request target has no fragment (#)")
    elif target[:8].lower().startswith(("http://", "https://")):
        try:
            parts = urlsplit(target)
            if parts.fragment or "@" in parts.netloc or not parts.netloc:
                raise ValueError("fragment, userinfo or no host")
            authority = parse_authority(parts.netloc)
        except ValueError:
            raise HttpError(400, "bad_request_line", f"the request target {excerpt(target)} is not an absolute "
                                                     "http URL") from None
        raw_path, raw_query = parts.path or "/", parts.query
    else:
        raise HttpError(400, "bad_request_line", f"the request target {excerpt(target)} is neither a path (/...) "
                                                 "nor an absolute http URL")
    try:
        query = parse_qs(raw_query, keep_blank_values=True, strict_parsing=False, max_num_fields=100)
    except ValueError as exc:
        raise HttpError(400, "bad_query", f"the query string does not parse: {exc}") from None
    try:
        path = unquote(raw_path, errors="strict")
        segments = tuple(unquote(s, errors="strict") for s in raw_path.split("/")[1:])
    except UnicodeDecodeError:
        raise HttpError(400, "bad_request_line", "the path is not UTF-8 once percent-decoded") from None
    return path, segments, query, authority


def _check_host(method: str, version: tuple[int, int], headers: dict[str, str], target_authority: Authority | None,
                policy: HostPolicy) -> None:
    """400 without one valid Host on HTTP/1.1; 421 when the Host (or an absolute target's host) does not name this
    listener; 403 when an unsafe method comes with an Origin other than this listener's own."""
    host_text = headers.get("host")
    if host_text is None:
        if version >= (1, 1):
            raise HttpError(400, "bad_host", "an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)")
        authority = target_authority  # HTTP/1.0 without Host: not a browser's request
    else:
        try:
            authority = parse_authority(host_text)
        except ValueError as exc:
            raise HttpError(400, "bad_host", f"Host {excerpt(host_text)} is not host[:port]: {exc}") from None
        if target_authority is not None:  # RFC 9112 §3.2.2: the absolute target's authority wins
            authority = target_authority
    if authority is not None and not policy.allows(authority):
        raise HttpError(421, "host_not_allowed", f"this server does not answer for Host {excerpt(authority.host)} "
                                                 f"(it answers {policy.describe()}; see the http-allowed-hosts "
                                                 "setting)")
    origin = headers.get("origin")
    if origin is not None and method not in _SAFE_METHODS:
        if authority is None:
            raise HttpError(403, "origin_not_allowed", "a request with an Origin needs a Host")
        _check_origin(origin, authority, policy)


def _encode(response: Response, *, keep_alive: bool, head: bool, length: bool = True) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}",
             f"Content-Type: {response.content_type}",
             *([f"Content-Length: {len(response.body)}"] if length else []),
             f"Connection: {'keep-alive' if keep_alive else 'close'}",
             "Server: dnsemu"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head else out + response.body


class HttpServer:
    """Serve ``app`` on a bound listening socket; see the module docstring."""

    def __init__(self, app: App, *, max_body: int = 65536, max_header: int = 16384, timeout: float = 10.0,
                 max_connections: int = 128, on_error: Callable[[BaseException], None] | None = None,
                 logger: Any = None, host_policy: HostPolicy | None = None,
                 priority_paths: Iterable[str] = (), max_overflow: int = 64) -> None:
        self.app = app
        self.max_body = max_body
        self.max_header = max_header
        self.timeout = timeout
        self.max_connections = max_connections
        self.on_error = on_error
        self.log = logger if logger is not None else get_logger("dnsemu.http")
        #: whose Host is answered; the default (any) is for an embedding that checks it itself
        self.host_policy = host_policy if host_policy is not None else HostPolicy(any_host=True)
        #: paths answered (GET/HEAD) on a connection over ``max_connections``: the health probes
        self.priority_paths = frozenset(priority_paths)
        self.max_overflow = max(1, max_overflow)
        self.connections: set[_Connection] = set()
        self.overflow: dict[_Connection, None] = {}  # connections over the cap, oldest first
        self.closing = False
        self.errors = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self, sock: Any) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), sock=sock)

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def dispatch(self, request: Request) -> Response:
        start = time.perf_counter()
        try:
            response = await self.app(request)
        except HttpError as exc:
            response = exc.response()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            self.log.exception("http_internal_error", method=request.method, path=request.path)
            if self.on_error is not None:
                with contextlib.suppress(Exception):
                    self.on_error(exc)
            response = HttpError(500, "internal_error", "an internal error; it was logged").response()
        self.log.info("http_request", method=request.method, path=request.path, status=response.status,
                      duration_ms=round((time.perf_counter() - start) * 1000, 3))
        return response

    async def close(self, grace: float = 1.0) -> None:
        """Stop accepting; let requests being answered finish (``grace`` seconds), close the rest."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for conn in [*self.connections, *self.overflow]:
            if not conn.busy and conn.transport is not None:
                conn.transport.close()
        while any(c.busy for c in [*self.connections, *self.overflow]) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        everyone = [*self.connections, *self.overflow]
        for conn in everyone:
            if conn.transport is not None:
                conn.transport.abort()
            if conn.task is not None:
                conn.task.cancel()
        tasks = [c.task for c in everyone if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

def query_params(request: Request, allowed: dict[str, bool]) -> dict[str, str]:
    """Query parameters: each at most once, only the ``allowed`` ones (name -> required)."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise HttpError(400, "unknown_parameter", f"unknown query parameter(s) {clip(', '.join(unknown))}; "
                                                  f"allowed: {', '.join(allowed)}")
    out = {}
    for name, required in allowed.items():
        values = request.query.get(name)
        if not values or values == [""]:
            if required:
                raise HttpError(400, "missing_parameter", f"the query parameter {excerpt(name)} is required")
            continue
        if len(values) > 1:
            raise HttpError(400, "repeated_parameter", f"the query parameter {excerpt(name)} is given more than once")
        out[name] = values[0]
    return out
