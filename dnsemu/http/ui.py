"""The ``/ui`` page of ``dnsemu serve --http``, and the routes it draws from.

==========  =======================  ===========================================================
method      path                     what
==========  =======================  ===========================================================
GET         /ui                      the page (HTML; its script and stylesheet below)
GET         /ui/{asset}              ``ui.js``, ``ui.css``, ``graph.css``: shipped in the package
GET         /v1/graph                the estate: ``format=svg|json|path``, ``from=``, ``collapse=``,
                                     ``name=`` and ``type=`` (a query's path over it)
GET         /v1/sources              what ``from`` takes: networks, VMs, ``internet``
GET         /v1/queries/stream       the server's queries as Server-Sent Events
==========  =======================  ===========================================================

The page uses only these, ``/v1/explain``, and ``/v1/diff`` with ``/v1/changes`` for its
Changes panel (:mod:`dnsemu.http.diffview`); nothing comes from elsewhere (no CDN, no
font, no fetch to another origin; the Content-Security-Policy says so). ``/ui`` and
its assets hold no data and need no token; the ``/v1`` routes want the bearer token
when ``api-token`` is set, which the page asks for (and keeps for the tab only).

The stream is one ``queries`` event per 100 ms carrying a JSON array of the
``dns_query`` fields of each query (client, view, network, qname, qtype, rcode, kind,
answer …), a comment every 10 s to keep proxies (and dead clients) honest, and a
``dropped`` count when a slow client fell more than :data:`BACKLOG` queries behind.
While nobody listens, the DNS handler is not observed at all.

Drawings are built in a worker thread (a large estate takes a second) and the last
few are kept per topology generation.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import TYPE_CHECKING, Any

from dnsemu.analysis.explain import UnknownSource, question, source_address
from dnsemu.core.resolver import resolve
from dnsemu.http.listener import HttpError, Request, Response, json_response, query_params
from dnsemu.http.routes import Answer, Doc, Param, Route, json_answer

if TYPE_CHECKING:
    from dnsemu.graph.model import Graph
    from dnsemu.graph.overlay import Overlay
    from dnsemu.server.server import DnsServer

BACKLOG = 2000  # queries kept per slow subscriber before dropping the oldest
BATCH_SECONDS = 0.1
KEEPALIVE_SECONDS = 10.0
CACHE = 8  # drawings kept

ASSET_TYPES = {
    "ui.js": "text/javascript; charset=utf-8",
    "ui.css": "text/css; charset=utf-8",
    "graph.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
]
TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _asset(name: str) -> bytes:
    if name == "graph.css":
        from dnsemu.graph import svg

        return svg.stylesheet(themed=True).encode()
    return (resources.files("dnsemu.http") / "assets" / name).read_bytes()


class Subscriber:
    """One stream: the queries not sent yet (the oldest dropped past :data:`BACKLOG`)."""

    def __init__(self) -> None:
        self.queue: collections.deque[dict[str, Any]] = collections.deque(maxlen=BACKLOG)
        self.dropped = 0
        self.ready = asyncio.Event()

    def push(self, event: dict[str, Any]) -> None:
        if len(self.queue) == BACKLOG:
            self.dropped += 1
        self.queue.append(event)
        self.ready.set()


class LiveQueries:
    """Fans the DNS handler's query events out to the streams that are open."""

    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.subscribers: set[Subscriber] = set()

    def _observe(self, event: dict[str, Any]) -> None:
        event["time"] = time.time()
        for subscriber in self.subscribers:
            subscriber.push(event)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        self.server.observe_queries(self._observe)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            self.server.observe_queries(None)

    async def stream(self, subscriber: Subscriber) -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n: dnsemu queries\n\n"
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_SECONDS):
                        await subscriber.ready.wait()
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                await asyncio.sleep(BATCH_SECONDS)  # let a burst gather into one message
                subscriber.ready.clear()
                batch = list(subscriber.queue)
                subscriber.queue.clear()
                out = f"event: queries\ndata: {json.dumps(batch, separators=(',', ':'))}\n\n"
                if subscriber.dropped:
                    out += f"event: dropped\ndata: {subscriber.dropped}\n\n"
                    subscriber.dropped = 0
                yield out.encode()
        finally:
            self.unsubscribe(subscriber)


class Ui:
    """The page, its assets, and the /v1 routes it draws from, for one :class:`~dnsemu.server.server.DnsServer`."""

    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.live = LiveQueries(server)
        self._drawings: collections.OrderedDict[tuple[Any, ...], tuple[str, str]] = collections.OrderedDict()

    # -- the page

    async def page(self, request: Request, params: dict[str, str]) -> Response:
        _params(request, {})
        return Response(200, _asset("ui.html"), "text/html; charset=utf-8", list(SECURITY_HEADERS))

    async def asset(self, request: Request, params: dict[str, str]) -> Response:
        content_type = ASSET_TYPES.get(params["asset"])
        if content_type is None:
            raise HttpError(404, "not_found", f"no asset {params['asset']!r} (the page has {', '.join(ASSET_TYPES)})")
        return Response(200, _asset(params["asset"]), content_type, list(SECURITY_HEADERS))

    # -- what it draws

    async def sources(self, request: Request, params: dict[str, str]) -> Response:
        _params(request, {})
        loaded, index = self.server.loaded, self.server.index
        assert loaded is not None
        t = loaded.topology
        out = []
        for kind, names in (("vnet", t.virtual_networks), ("on_premises", t.on_premises), ("vm", t.virtual_machines)):
            for name in names:
                out.append({"name": name, "kind": kind, "address": str(source_address(t, index, name))})
        out.append({"name": "internet", "kind": "internet", "address": str(source_address(t, index, "internet"))})
        return json_response(200, {"generation": self.server.generation, "sources": out})

    async def graph(self, request: Request, params: dict[str, str]) -> Response:
        args = _params(request, {"format": False, "from": False, "collapse": False, "name": False, "type": False})
        fmt = args.get("format", "json")
        if fmt not in ("json", "svg", "path"):
            raise HttpError(400, "bad_parameter", f"format must be json, svg or path (got {fmt!r})")
        collapsed = _flag(args.get("collapse", "false"), "collapse")
        name, source = args.get("name"), args.get("from")
        if (name is not None or fmt == "path") and source is None:
            raise HttpError(400, "missing_parameter", "a path needs the query parameter 'from' (and 'name')")
        if fmt == "path" and name is None:
            raise HttpError(400, "missing_parameter", "format=path needs the query parameter 'name'")
        server = self.server
        loaded, index, generation = server.loaded, server.index, server.generation
        assert loaded is not None
        key = (generation, fmt, source, collapsed, name, (args.get("type") or "A").upper())
        cached = self._drawings.get(key)
        if cached is None:
            try:
                cached = await asyncio.to_thread(
                    _draw, loaded, index, fmt, source, collapsed, name, args.get("type") or "A"
                )
            except UnknownSource as exc:
                raise HttpError(400, "unknown_source", str(exc).replace("--from", "from")) from None
            except ValueError as exc:
                raise HttpError(400, "bad_parameter", str(exc)) from None
            self._drawings[key] = cached
            while len(self._drawings) > CACHE:
                self._drawings.popitem(last=False)
        else:
            self._drawings.move_to_end(key)
        body, content_type = cached
        return Response(200, body.encode(), content_type, [("Cache-Control", "no-store")])

    async def queries(self, request: Request, params: dict[str, str]) -> Response:
        _params(request, {})
        subscriber = self.live.subscribe()
        headers = [("Cache-Control", "no-store"), ("X-Accel-Buffering", "no")]
        return Response(200, b"", "text/event-stream; charset=utf-8", headers, stream=self.live.stream(subscriber))


def _params(request: Request, allowed: dict[str, bool]) -> dict[str, str]:

    return query_params(request, allowed)


def _flag(value: str, name: str) -> bool:
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise HttpError(400, "bad_parameter", f"{name} must be true or false (got {value!r})")


def _draw(
    loaded: Any, index: Any, fmt: str, source: str | None, collapsed: bool, name: str | None, qtype: str
) -> tuple[str, str]:
    """(body, content type) of a drawing; runs in a worker thread (everything it reads is immutable)."""
    # the drawing code is imported by the first drawing, not when the HTTP listener starts (issue 18)
    from dnsemu.graph import draw, svg
    from dnsemu.graph.model import build_graph, collapse, reached_from
    from dnsemu.graph.overlay import path_overlay, project

    graph: Graph = build_graph(loaded, index)
    overlay: Overlay | None = None
    if source is not None and name is None:
        graph = reached_from(graph, draw.start_node(loaded, index, source), f"DNS estate reached from {source}")
    if name is not None:
        assert source is not None
        q = question(name, qtype)
        address = source_address(loaded.topology, index, source)
        result = resolve(index, q, address)
        if fmt != "path":  # a picture of the path: what the query's network reaches, as `explain --format svg`
            graph, overlay = draw.explain_graph(loaded, index, q, address, result)
        else:
            overlay = path_overlay(graph, loaded, index, q, address, result)
    if collapsed:
        whole, graph = graph, collapse(graph)
        if overlay is not None:
            overlay = project(overlay, whole, graph)
    if fmt == "svg":
        return svg.render(graph, overlay), "image/svg+xml; charset=utf-8"
    if fmt == "path":
        assert overlay is not None
        data = overlay.as_dict()
        ids = {*overlay.nodes, *overlay.edges}
        data["svg_ids"] = {i: svg.xml_id("node-" if i in overlay.nodes else "edge-", i) for i in ids}
        data["deciding_node"], data["deciding_edge"] = overlay.deciding_node, overlay.deciding_edge
        return json.dumps(data, indent=1) + "\n", "application/json"
    return draw.render(graph, "json", overlay), "application/json"


# --------------------------------------------------------------------------- the routes, one entry each

_NO_QUERY = "A query parameter was given: this route takes none."
_SOURCES = {
    "type": "object",
    "required": ["generation", "sources"],
    "properties": {
        "generation": {"type": "integer"},
        "sources": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "kind", "address"],
                "properties": {"name": {"type": "string"}, "kind": {"type": "string"}, "address": {"type": "string"}},
            },
        },
    },
}

#: the page, its assets and the /v1 routes it draws from; dnsemu.http.api serves them and documents them
UI_ROUTES: list[Route] = [
    Route(
        "GET",
        "/ui",
        Ui.page,
        Doc(
            "The page: the estate drawn, a query form with the path over the drawing, the live queries.",
            Answer("HTML.", {"text/html": {"type": "string"}}),
            errors={400: _NO_QUERY},
        ),
        auth=False,
    ),
    Route(
        "GET",
        "/ui/{asset}",
        Ui.asset,
        Doc(
            "The page's script and stylesheets (shipped in the package).",
            Answer("The asset.", {"text/javascript": {"type": "string"}, "text/css": {"type": "string"}}),
            params=(Param("asset", "path", "The asset's name.", {"enum": sorted(ASSET_TYPES)}),),
            errors={404: "No such asset."},
        ),
        auth=False,
    ),
    Route(
        "GET",
        "/v1/graph",
        Ui.graph,
        Doc(
            "The estate as a graph (`dnsemu graph`): JSON with places, SVG, or a query's path.",
            Answer(
                "The drawing.",
                {"application/json": {"type": "object"}, "image/svg+xml": {"type": "string"}},
            ),
            params=(
                Param(
                    "format",
                    "query",
                    "json (default), svg, or path: which nodes and edges each step of the query's trace went "
                    "through.",
                    {"enum": ["json", "svg", "path"], "default": "json"},
                    required=False,
                ),
                Param(
                    "from",
                    "query",
                    "Only what this source reaches (an address, VNet, site or VM name, 'internet'); with name: "
                    "where the query comes from.",
                    {"type": "string"},
                    required=False,
                ),
                Param("collapse", "query", "Fold places of one kind together.", {"type": "boolean", "default": False},
                      required=False),
                Param("name", "query", "Draw the path of this query (needs from).", {"type": "string"},
                      required=False),
                Param("type", "query", "The query's type (A by default).", {"type": "string", "default": "A"},
                      required=False),
            ),
            errors={400: "A parameter is missing, repeated, unknown or not valid (an unknown source, a name that is "
                         "not a DNS name)."},
        ),
    ),
    Route(
        "GET",
        "/v1/sources",
        Ui.sources,
        Doc(
            "What `from` takes: the networks, on-premises sites and VMs, and the address each stands for.",
            json_answer("The sources.", _SOURCES),
            errors={400: _NO_QUERY},
        ),
    ),
    Route(
        "GET",
        "/v1/queries/stream",
        Ui.queries,
        Doc(
            "The server's queries as Server-Sent Events: `queries` events, each a JSON array of dns_query fields, "
            "every 100 ms while queries come; a comment every 10 s; `dropped` when a slow client fell behind.",
            Answer("An event stream (it does not end while the server serves).",
                   {"text/event-stream": {"type": "string"}}),
            errors={400: _NO_QUERY},
        ),
    ),
]
