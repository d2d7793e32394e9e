"""A small HTTP/1.1 server for the metrics endpoint and the JSON API, on the DNS server's event loop.

Only what a scraper, ``curl``, a browser and a test-suite client need: requests
with a ``Content-Length`` body (or none), keep-alive (HTTP/1.1 default; HTTP/1.0
with ``Connection: keep-alive``), pipelined requests answered in order,
``Expect: 100-continue``, ``HEAD``, and streamed responses (``Response.stream``,
for Server-Sent Events: written as they come, the connection closed after). Everything else is refused with a
status and a one-line JSON error, never a 500: chunked request bodies (501), a
body over ``max_body`` (413), headers over ``max_header`` (431), a malformed
request line or header (400), a request that takes longer than ``timeout`` to
arrive (408). A connection idle for ``timeout`` between requests is closed
quietly, and at most ``max_connections`` are served at once (more get 503).

The application is one coroutine, ``app(request) -> Response``; an exception
it lets through is a bug: answered 500, logged with its traceback, counted, and
handed to ``on_error`` (so a test fixture can re-raise it).

No new dependency: h11 would do the parsing, but the subset here is a few dozen
lines, and the server is not on the DNS hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dnsemu.logs import get_logger

__all__ = ["HttpError", "HttpServer", "Request", "Response", "json_response"]

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(\d)\.(\d)$")
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

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        server = self.server
        if server.closing or len(server.connections) >= server.max_connections:
            response = HttpError(503, "busy", "too many HTTP connections; try again").response()
            transport.write(_encode(response, keep_alive=False, head=False))  # type: ignore[attr-defined]
            transport.close()
            self.closed = True
            return
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
        try:
            while not server.closing:
                # wait for the first octet of a request: an idle connection just closes
                idle_deadline = loop.time() + server.timeout
                while not self.buf:
                    try:
                        await self._wait_data(idle_deadline)
                    except (TimeoutError, _Closed):
                        return
                self.busy = True
                deadline = loop.time() + server.timeout
                try:
                    request, keep_alive = await self._read_request(deadline)
                except HttpError as exc:
                    server.log.info("http_request", method="-", path="-", status=exc.status, error=exc.code)
                    await self._send(exc.response(), keep_alive=False, head=False)
                    await self._linger()
                    return
                except TimeoutError:
                    await self._send(HttpError(408, "timeout", f"the request did not arrive within "
                                                               f"{server.timeout:g} s").response(),
                                     keep_alive=False, head=False)
                    await self._linger()
                    return
                response = await server.dispatch(request)
                if response.stream is not None:
                    await self._stream(response, head=request.method == "HEAD")
                    return
                keep_alive = keep_alive and not server.closing
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
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > server.max_header:
                raise HttpError(431, "headers_too_large", f"the request line and headers exceed "
                                                          f"{server.max_header} octets")
            try:
                await self._wait_data(deadline)
            except _Closed:
                raise _Closed from None
        if end > server.max_header:
            raise HttpError(431, "headers_too_large", f"the request line and headers exceed {server.max_header} octets")
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        method, target, version, headers = _parse_head(head)
        if "transfer-encoding" in headers:
            raise HttpError(501, "chunked_not_supported", "request bodies must be sent with Content-Length; "
                                                          "Transfer-Encoding is not supported")
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit() or len(length_text) > 18:
            raise HttpError(400, "bad_content_length", f"Content-Length {length_text!r} is not a number of octets")
        length = int(length_text)
        if length > server.max_body:
            raise HttpError(413, "body_too_large", f"the body has {length} octets; the limit is {server.max_body}")
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
        parts = urlsplit(target)
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False, max_num_fields=100)
        except ValueError as exc:
            raise HttpError(400, "bad_query", f"the query string does not parse: {exc}") from None
        try:
            path = unquote(parts.path, errors="strict")
            segments = tuple(unquote(s, errors="strict") for s in parts.path.split("/")[1:])
        except UnicodeDecodeError:
            raise HttpError(400, "bad_request_line", "the path is not UTF-8 once percent-decoded") from None
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
    match = _REQUEST_LINE.match(lines[0])
    if match is None:
        raise HttpError(400, "bad_request_line", "the request line is not METHOD TARGET HTTP/1.x")
    method, target, major, minor = match.groups()
    if major != b"1":
        raise HttpError(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line or line[:1] in (b" ", b"\t"):
            raise HttpError(400, "bad_header", "folded or empty header lines are not allowed")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise HttpError(400, "bad_header", f"malformed header line {line[:60]!r}")
        try:
            text = value.strip().decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
            raise HttpError(400, "bad_header", "undecodable header") from None
        key = name.decode("ascii").lower()
        if key == "content-length" and key in headers and headers[key] != text:
            raise HttpError(400, "bad_content_length", "conflicting Content-Length headers")
        headers[key] = f"{headers[key]}, {text}" if key in headers and key != "content-length" else text
    try:
        target_text = target.decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(400, "bad_request_line", "the request target must be ASCII (percent-encode it)") from None
    return method.decode("ascii"), target_text, (int(major), int(minor)), headers


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
                 logger: Any = None) -> None:
        self.app = app
        self.max_body = max_body
        self.max_header = max_header
        self.timeout = timeout
        self.max_connections = max_connections
        self.on_error = on_error
        self.log = logger if logger is not None else get_logger("dnsemu.http")
        self.connections: set[_Connection] = set()
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
        for conn in list(self.connections):
            if not conn.busy and conn.transport is not None:
                conn.transport.close()
        while any(c.busy for c in self.connections) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
            if conn.task is not None:
                conn.task.cancel()
        tasks = [c.task for c in self.connections if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
