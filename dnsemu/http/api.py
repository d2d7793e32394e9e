"""The HTTP API of a running server: health, metrics, the compiled topology, explain, run-time changes.

Served by :class:`dnsemu.http.listener.HttpServer` on the DNS server's own event loop
(the ``http`` setting). JSON everywhere but ``/metrics``; versioned under
``/v1``; described by OpenAPI 3.1 at ``/v1/openapi.json`` (:data:`OPENAPI`).

==========  ===============================================================  =====================
method      path                                                             what
==========  ===============================================================  =====================
GET         /healthz                                                         alive
GET         /readyz                                                          topology loaded,
                                                                             sockets bound
GET         /metrics                                                         Prometheus text
GET         /v1/openapi.json                                                 this API, described
GET         /v1/topology                                                     as compiled
GET         /v1/explain?name=&type=&from=                                    the resolver's trace
GET         /v1/changes                                                      changes in effect
GET         /v1/diff?against=&offset=&limit=&match=                          changed answers: files
                                                                             vs live, or vs
                                                                             --compare
PUT/DELETE  /v1/private-endpoints/{name}                                     a private endpoint
PUT/DELETE  /v1/private-dns-zones/{zone}                                     a private DNS zone
PUT/DELETE  /v1/private-dns-zones/{zone}/records/{type}/{name}               a record set
PUT/DELETE  /v1/private-dns-zones/{zone}/virtual-network-links/{vnet}        a link and its policy
PUT/DELETE  /v1/public-dns-zones/{zone}/records/{type}/{name}                a public record set
POST        /v1/reset                                                        back to the files
POST        /v1/reload                                                       read the files again
==========  ===============================================================  =====================

The ``/ui`` page and the routes it draws from (``/v1/graph``, ``/v1/sources``,
``/v1/queries/stream``) live in :mod:`dnsemu.http.ui`, ``/v1/diff`` in
:mod:`dnsemu.http.diffview`; they are mounted here.

Bodies are the topology file's own shapes (a private endpoint as under
``private_endpoints:``, a record set's ``ttl`` and ``values``, a link's
``resolution_policy`` and ``registration_enabled``), so a change is validated
exactly like a file, with the file's strict types (``"ttl": "60"`` or
``"registration_enabled": "yes"`` is refused, never converted; a CNAME set holds
one value): a change that does not hold gets 422 with every problem, each
naming its field, and changes nothing; a target that does not exist gets 404.
The API never opens a file it is sent: a zone's data comes in the body
(``records``, or master-file text in ``zone_text``), and a ``zone_file``
anywhere in a body gets 400 ``field_not_allowed`` before anything else is looked at.

Errors are ``{"error": CODE, "message": TEXT}`` (422 adds ``problems``):
400 malformed (bad JSON, not an object, bad or unknown query parameter),
401 missing or wrong bearer token, 403 changes turned off, 404 no such route or
target, 405 wrong method, 409 a change to one of several replicas (the ``replicated``
setting: change the topology file, e.g. its ConfigMap, instead), 413 body too large,
415 not ``application/json``, 422 refused change, 503 not ready. A 500 is a bug
(logged, counted).

With ``dnsemu serve --workers N`` this API is served by the parent process, which
holds the topology; a change or reload is answered once every worker serves it
(:mod:`dnsemu.workers`).

Security: mutating routes answer 403 unless ``api_changes`` is on; with
``api_token`` every ``/v1`` route but the OpenAPI document wants
``Authorization: Bearer TOKEN``; ``/healthz``, ``/readyz`` and ``/metrics``
stay open (probes and scrapers). The listener binds loopback by default.
Before a request reaches these routes, :mod:`dnsemu.http.listener` has refused a ``Host``
that does not name the listener (421) and a change sent from another web page's
``Origin`` (403), and answers ``/healthz`` and ``/readyz`` even over its
connection cap.
"""

from __future__ import annotations

import copy
import dataclasses
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from dnsemu.analysis.explain import UnknownSource
from dnsemu.analysis.views import explain_json, topology_json
from dnsemu.http.diffview import OPENAPI_PATH as DIFF_PATH
from dnsemu.http.diffview import DiffView
from dnsemu.http.listener import HttpError, Request, Response, json_response, query_params
from dnsemu.http.metrics import create_registry
from dnsemu.http.ui import OPENAPI_PATHS as UI_PATHS
from dnsemu.http.ui import Ui
from dnsemu.text import clip, excerpt
from dnsemu.topology import changes
from dnsemu.topology.changes import Change, ChangeError

if TYPE_CHECKING:
    from dnsemu.server.server import DnsServer
    from dnsemu.topology.loaded import LoadedTopology

__all__ = ["OPENAPI", "Api", "explain_json", "topology_json"]

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]
    handler: Handler
    auth: bool = True
    mutating: bool = False

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params = {}
        for want, got in zip(self.pattern, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


# --------------------------------------------------------------------------- request helpers


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {excerpt(key)}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(request: Request, *, required: bool) -> dict[str, Any] | None:
    """The body as a JSON object: 415 for another media type, 400 for bad JSON or not an object."""
    if not request.body:
        if required:
            raise HttpError(400, "body_required", "this route takes a JSON object body")
        return None
    content_type = request.header("content-type")
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise HttpError(415, "unsupported_media_type",
                        f"send the body as application/json (got {content_type or 'no Content-Type'})")
    charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in params.split(";")
                    if p.strip().lower().startswith("charset=")), "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise HttpError(415, "unsupported_media_type", f"JSON bodies are UTF-8 (got charset={charset})")
    try:
        data = json.loads(request.body.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise HttpError(400, "invalid_json", f"the body is not UTF-8: {exc.reason} at octet {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise HttpError(400, "invalid_json", f"the body is not JSON: {exc.msg} (line {exc.lineno}, column "
                                             f"{exc.colno})") from None
    except ValueError as exc:
        raise HttpError(400, "invalid_json", f"the body is not acceptable JSON: {exc}") from None
    except RecursionError:
        raise HttpError(400, "invalid_json", "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise HttpError(400, "not_an_object", f"the body must be a JSON object, not {type(data).__name__}")
    _refuse_paths(data)
    return data



#: body keys that name a file on the server's host: never accepted over HTTP
_PATH_FIELDS = ("zone_file",)


def _refuse_paths(body: dict[str, Any]) -> None:
    """400 when a change body names a file anywhere in it: the API never opens a path it is sent.

    The topology file may name zone files (inside its own folder); a client sends the data itself.
    """
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                field = f"{where}.{key}" if where else str(key)
                if key in _PATH_FIELDS:
                    raise HttpError(400, "field_not_allowed",
                                    f"{clip(field, 80)}: the API does not take file paths (it never opens a file it "
                                    "is sent); send the zone's data instead, as records or as master-file text in "
                                    "zone_text", problems=[f"{clip(field, 80)}: not accepted over the API"])
                stack.append((field, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def _reserved(body: dict[str, Any], keys: tuple[str, ...]) -> None:
    taken = [k for k in keys if k in body]
    if taken:
        raise HttpError(400, "field_in_path", f"{', '.join(taken)} come(s) from the path, not the body")


# --------------------------------------------------------------------------- the application


class Api:
    """Routes requests to one :class:`~dnsemu.server.server.DnsServer`."""

    def __init__(self, server: DnsServer, registry: CollectorRegistry | None = None, *,
                 compare: LoadedTopology | None = None) -> None:
        self.server = server
        #: the Prometheus registry ``/metrics`` exposes (one of the server's own by default)
        self.registry = registry if registry is not None else create_registry(server)
        self.settings = server.settings
        token = self.settings.api_token
        self._token = token.get_secret_value().encode() if token is not None else None
        zone = ("v1", "private-dns-zones", "{zone}")
        self.diff = DiffView(server, compare)  # GET /v1/diff (dnsemu.http.diffview); compare: --compare's estate
        self.routes = [
            Route("GET", ("healthz",), self.healthz, auth=False),
            Route("GET", ("readyz",), self.readyz, auth=False),
            Route("GET", ("metrics",), self.metrics, auth=False),
            Route("GET", ("v1", "openapi.json"), self.openapi, auth=False),
            Route("GET", ("v1", "topology"), self.topology),
            Route("GET", ("v1", "explain"), self.explain),
            Route("GET", ("v1", "changes"), self.list_changes),
            Route("GET", ("v1", "diff"), self.diff.handle),
            Route("PUT", ("v1", "private-endpoints", "{name}"), self.put_endpoint, mutating=True),
            Route("DELETE", ("v1", "private-endpoints", "{name}"), self.delete_endpoint, mutating=True),
            Route("PUT", zone, self.put_zone, mutating=True),
            Route("DELETE", zone, self.delete_zone, mutating=True),
            Route("PUT", (*zone, "records", "{type}", "{name}"), self.put_private_record, mutating=True),
            Route("DELETE", (*zone, "records", "{type}", "{name}"), self.delete_private_record, mutating=True),
            Route("PUT", (*zone, "virtual-network-links", "{vnet}"), self.put_link, mutating=True),
            Route("DELETE", (*zone, "virtual-network-links", "{vnet}"), self.delete_link, mutating=True),
            Route("PUT", ("v1", "public-dns-zones", "{zone}", "records", "{type}", "{name}"), self.put_public_record,
                  mutating=True),
            Route("DELETE", ("v1", "public-dns-zones", "{zone}", "records", "{type}", "{name}"),
                  self.delete_public_record, mutating=True),
            Route("POST", ("v1", "reset"), self.reset, mutating=True),
            Route("POST", ("v1", "reload"), self.reload, mutating=True),
        ]
        self.ui = Ui(server)  # the /ui page, and the /v1 routes it draws from (dnsemu.http.ui)
        self.routes += self.ui.routes(Route)

    async def handle(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        matched = [(route, params) for route in self.routes
                   if (params := route.match(request.segments)) is not None]
        if not matched:
            raise HttpError(404, "not_found", f"no route {excerpt(request.path)}; see /v1/openapi.json")
        for candidate, candidate_params in matched:
            if candidate.method == method:
                route, params = candidate, candidate_params
                break
        else:
            allowed = sorted({r.method for r, _ in matched} | ({"HEAD"} if any(r.method == "GET" for r, _ in matched)
                                                                  else set()))
            raise HttpError(405, "method_not_allowed", f"{request.method} is not allowed on {excerpt(request.path)}; "
                                                       f"allowed: {', '.join(allowed)}",
                            headers=[("Allow", ", ".join(allowed))])
        if route.auth and self._token is not None:
            self._authorize(request)
        if route.mutating and self.settings.replicated and route.handler != self.reload:
            raise HttpError(409, "replicated", "this server is one of several replicas serving the same estate (the "
                                               "replicated setting): a run-time change would reach this replica "
                                               "only. Change the topology file instead: in Kubernetes, edit the "
                                               "ConfigMap that holds it (kubectl edit configmap dnsemu-topology, or "
                                               "kubectl apply -k with the new file); every replica reloads it when "
                                               "the mounted file changes")
        if route.mutating and not self.settings.api_changes:
            raise HttpError(403, "changes_disabled", "run-time changes are turned off; start dnsemu with "
                                                     "--api-changes (DNSEMU_API_CHANGES=true)")
        if route.pattern[0] == "v1" and route.auth and not self.server.ready:
            raise HttpError(503, "not_ready", "the server is not serving (starting or stopping)")
        return await route.handler(request, params)

    def _authorize(self, request: Request) -> None:
        challenge = 'Bearer realm="dnsemu"'
        scheme, _, credentials = request.header("authorization").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise HttpError(401, "unauthorized", "this route needs Authorization: Bearer TOKEN (the api-token "
                                                 "setting)", headers=[("WWW-Authenticate", challenge)])
        assert self._token is not None
        if not hmac.compare_digest(credentials.strip().encode(), self._token):
            raise HttpError(401, "unauthorized", "the bearer token is not the one configured",
                            headers=[("WWW-Authenticate", f'{challenge}, error="invalid_token"')])

    # -- probes and metrics

    async def healthz(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, {"status": "ok"})

    async def readyz(self, request: Request, params: dict[str, str]) -> Response:
        server = self.server
        if not server.ready:
            return json_response(503, {"status": "not_ready", "generation": server.generation})
        return json_response(200, {"status": "ready", "generation": server.generation,
                                   "dns": [f"{'[' + h + ']' if ':' in h else h}:{p}" for h, p in server.addresses],
                                   "changes": server.active_changes})

    async def metrics(self, request: Request, params: dict[str, str]) -> Response:
        if not self.settings.metrics:
            raise HttpError(404, "metrics_disabled", "metrics are turned off (the metrics setting)")
        encoder, content_type = choose_encoder(request.header("accept"))
        await self.server.refresh_counters()  # workers: their counters, asked for now
        return Response(200, encoder(self.registry), content_type, [("Cache-Control", "no-store")])

    async def openapi(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, OPENAPI)

    # -- reads

    async def topology(self, request: Request, params: dict[str, str]) -> Response:
        query_params(request, {})
        server = self.server
        applied = list(server.changes.changes) if server.changes is not None else []
        return json_response(200, topology_json(server.index, server.loaded, server.generation, applied))

    async def explain(self, request: Request, params: dict[str, str]) -> Response:
        args = query_params(request, {"name": True, "type": False, "from": True})
        server = self.server
        assert server.loaded is not None
        try:
            data = explain_json(server.index, server.loaded, args["name"], args.get("type", "A"), args["from"])
        except UnknownSource as exc:
            raise HttpError(400, "unknown_source", str(exc).replace("--from", "from")) from None
        except ValueError as exc:
            raise HttpError(400, "bad_parameter", str(exc)) from None
        return json_response(200, data)

    async def list_changes(self, request: Request, params: dict[str, str]) -> Response:
        query_params(request, {})
        applied = list(self.server.changes.changes) if self.server.changes is not None else []
        return json_response(200, {"generation": self.server.generation,
                                   "changes": [dataclasses.asdict(c) for c in applied]})

    # -- changes

    async def _apply(self, change: Change) -> Response:
        server = self.server
        assert server.changes is not None
        trial = copy.deepcopy(dict(server.changes.current.data))
        try:
            change.apply(trial)  # only to tell "no such target" (404) from "invalid result" (422)
        except ChangeError as exc:
            problems = [p.message for p in exc.problems]
            raise HttpError(404, "not_found", "; ".join(problems), problems=problems) from None
        except (KeyError, TypeError, AttributeError):
            pass  # malformed: the change set says how (422)
        try:
            await server.apply_change(change)
        except ChangeError as exc:
            problems = [str(p) for p in exc.problems]
            raise HttpError(422, "invalid_change", "the change was refused, nothing changed: " + "; ".join(problems),
                            problems=problems) from None
        return json_response(200, {"applied": dataclasses.asdict(change), "generation": server.generation,
                                   "changes": server.active_changes})

    async def put_endpoint(self, request: Request, params: dict[str, str]) -> Response:
        body = json_body(request, required=True)
        assert body is not None
        return await self._apply(changes.put_private_endpoint(params["name"], body))

    async def delete_endpoint(self, request: Request, params: dict[str, str]) -> Response:
        return await self._apply(changes.delete_private_endpoint(params["name"]))

    async def put_zone(self, request: Request, params: dict[str, str]) -> Response:
        body = json_body(request, required=False)
        return await self._apply(changes.put_private_dns_zone(params["zone"], body))

    async def delete_zone(self, request: Request, params: dict[str, str]) -> Response:
        return await self._apply(changes.delete_private_dns_zone(params["zone"]))

    async def _put_record(self, request: Request, params: dict[str, str], public: bool) -> Response:
        body = json_body(request, required=True)
        assert body is not None
        _reserved(body, ("name", "type"))
        record = {"name": params["name"], "type": params["type"].upper(), **body}
        return await self._apply(changes.add_record(params["zone"], record, public=public))

    async def put_private_record(self, request: Request, params: dict[str, str]) -> Response:
        return await self._put_record(request, params, public=False)

    async def put_public_record(self, request: Request, params: dict[str, str]) -> Response:
        return await self._put_record(request, params, public=True)

    async def delete_private_record(self, request: Request, params: dict[str, str]) -> Response:
        return await self._apply(changes.delete_record(params["zone"], params["name"], params["type"].upper()))

    async def delete_public_record(self, request: Request, params: dict[str, str]) -> Response:
        return await self._apply(changes.delete_record(params["zone"], params["name"], params["type"].upper(),
                                                       public=True))

    async def put_link(self, request: Request, params: dict[str, str]) -> Response:
        body = json_body(request, required=False) or {}
        _reserved(body, ("virtual_network",))
        default = changes.put_virtual_network_link(params["zone"], params["vnet"])
        return await self._apply(Change(default.op, default.target, {**default.body, **body}))

    async def delete_link(self, request: Request, params: dict[str, str]) -> Response:
        return await self._apply(changes.delete_virtual_network_link(params["zone"], params["vnet"]))

    async def reset(self, request: Request, params: dict[str, str]) -> Response:
        json_body(request, required=False)
        dropped = self.server.active_changes
        await self.server.reset_changes()
        return json_response(200, {"reset": bool(dropped), "dropped": dropped, "generation": self.server.generation})

    async def reload(self, request: Request, params: dict[str, str]) -> Response:
        json_body(request, required=False)
        server = self.server
        if server.topology_path is None:
            raise HttpError(409, "no_file", "the topology was given as data, not read from a file: nothing to reload")
        if not await server.reload(reason="POST /v1/reload"):
            problems = server.last_reload_problems
            raise HttpError(422, "invalid_topology", "the files do not load (the old topology keeps serving): "
                                                     + "; ".join(problems), problems=problems)
        return json_response(200, {"reloaded": True, "generation": server.generation,
                                   "changes": server.active_changes})


# --------------------------------------------------------------------------- OpenAPI


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_READ_ERRORS = {"401": _error("Missing or wrong bearer token (only when api-token is set)."),
                "503": _error("Not serving (starting or stopping).")}
_CHANGE_ERRORS = {
    "400": _error("Malformed: bad JSON, not an object, a path field repeated in the body, or a field that "
                  "names a file (zone_file)."),
    "401": _error("Missing or wrong bearer token (only when api-token is set)."),
    "403": _error("Run-time changes are turned off (api-changes)."),
    "409": _error("This server is one of several replicas (replicated): change the topology file instead."),
    "404": _error("The target does not exist (no such endpoint, zone, record set or link)."),
    "413": _error("The body is over http-max-body."),
    "415": _error("The body is not application/json."),
    "422": _error("The change leaves a topology that does not validate; nothing changed. `problems` lists why."),
}


def _change_op(summary: str, body: dict[str, Any] | None = None, body_required: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "security": [{}, {"bearer": []}],
                          "responses": {"200": _ok("Applied: the next DNS query sees it.", "ChangeResult"),
                                        **_CHANGE_ERRORS}}
    if body is not None:
        op["requestBody"] = _json_body(body, body_required)
    return op


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


_ZONE = _path_param("zone", "Zone name, e.g. privatelink.blob.core.windows.net")
_RECORD_PARAMS = [_path_param("type", "Record type, e.g. A, CNAME, TXT"),
                  _path_param("name", "Record name relative to the zone; @ for the apex")]
_RECORD_SET = {"type": "object", "description": "A record set as in the topology file (name and type come from "
                                                "the path); replaces the set. A CNAME set holds one value.",
               "properties": {"ttl": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                              "values": {"type": "array", "minItems": 1, "maxItems": 20,
                                         "items": {"type": "string"}}},
               "required": ["values"]}

_ZONE_BODY = {
    "type": "object",
    "description": "As under private_dns_zones: in the topology file, but the zone's data comes in the body: "
                   "records, and/or master-file text in zone_text (at most max-file-bytes octets, within "
                   "http-max-body; no $INCLUDE). zone_file is refused (400 field_not_allowed): the API never "
                   "opens a file it is sent.",
    "properties": {
        "records": {"type": "array", "items": {"oneOf": [
            {"type": "string", "description": "A master-file line relative to the zone: 'name [ttl] TYPE value'."},
            {"type": "object", "required": ["name", "type", "values"],
             "properties": {"name": {"type": "string"}, "type": {"type": "string"},
                            "ttl": {"type": "integer", "minimum": 0},
                            "values": {"type": "array", "minItems": 1, "items": {"type": "string"}}}},
        ]}},
        "zone_text": {"type": "string", "description": "RFC 1035 master-file text ($ORIGIN, $TTL, parentheses, "
                                                       "comments; names relative to the zone)."},
        "virtual_network_links": {"type": "array", "items": {"type": "object", "required": ["virtual_network"]}},
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "dnsemu",
        "version": "1",
        "description": "Health, metrics, the compiled topology, explain, and run-time changes of a running dnsemu. "
                       "Change bodies use the topology file's own shapes and are validated like a file load.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "Required on /v1 routes when api-token is set."}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                     "problems": {"type": "array", "items": {"type": "string"}}}},
            "Change": {"type": "object", "required": ["op", "target", "body"],
                       "properties": {"op": {"type": "string"}, "target": {"type": "string"},
                                      "body": {"type": "object"}}},
            "ChangeResult": {"type": "object", "required": ["applied", "generation", "changes"],
                             "properties": {"applied": {"$ref": "#/components/schemas/Change"},
                                            "generation": {"type": "integer"},
                                            "changes": {"type": "integer",
                                                        "description": "changes in effect"}}},
            "Changes": {"type": "object", "required": ["generation", "changes"],
                        "properties": {"generation": {"type": "integer"},
                                       "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}}}},
            "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
            "Ready": {"type": "object", "required": ["status", "generation"],
                      "properties": {"status": {"enum": ["ready", "not_ready"]}, "generation": {"type": "integer"},
                                     "dns": {"type": "array", "items": {"type": "string"}},
                                     "changes": {"type": "integer"}}},
            "Record": {"type": "object", "required": ["name", "type", "ttl", "data"],
                       "properties": {"name": {"type": "string"}, "type": {"type": "string"},
                                      "ttl": {"type": "integer"}, "data": {"type": "string"}}},
            "Topology": {
                "type": "object",
                "required": ["generation", "file", "changes", "stats", "networks", "views", "private_zones",
                             "public_zones"],
                "properties": {
                    "generation": {"type": "integer"},
                    "file": {"type": ["string", "null"]},
                    "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
                    "stats": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "networks": {"type": "array", "items": {
                        "type": "object", "required": ["name", "kind", "view", "address_space", "subnets", "dns"],
                        "properties": {"name": {"type": "string"},
                                       "kind": {"enum": ["vnet", "virtual_hub", "on_premises", "internet"]},
                                       "view": {"type": ["string", "null"]},
                                       "address_space": {"type": "array", "items": {"type": "string"}},
                                       "subnets": {"type": "array", "items": {"type": "object"}},
                                       "dns": {"type": "string"}}}},
                    "views": {"type": "array", "items": {
                        "type": "object", "required": ["name", "virtual_network", "zones"],
                        "properties": {"name": {"type": "string"}, "virtual_network": {"type": "string"},
                                       "zones": {"type": "array", "items": {
                                           "type": "object",
                                           "required": ["zone", "kind", "link", "resolution_policy",
                                                        "registration_enabled"],
                                           "properties": {"zone": {"type": "string"}, "kind": {"type": "string"},
                                                          "link": {"type": "string"},
                                                          "resolution_policy": {"type": "string"},
                                                          "registration_enabled": {"type": "boolean"}}}}}}},
                    "private_zones": {"type": "array", "items": {
                        "type": "object", "required": ["name", "records"],
                        "properties": {"name": {"type": "string"}, "records": {
                            "type": "array", "items": {"$ref": "#/components/schemas/Record"}}}}},
                    "public_zones": {"type": "array", "items": {
                        "type": "object", "required": ["name", "kind", "authoritative", "records"],
                        "properties": {"name": {"type": "string"}, "kind": {"type": "string"},
                                       "authoritative": {"type": "boolean"},
                                       "records": {"type": "array",
                                                   "items": {"$ref": "#/components/schemas/Record"}}}}},
                },
            },
            "Explain": {
                "type": "object",
                "required": ["question", "from", "outcome", "rcode", "view", "answer_kind", "answer", "authority",
                             "trace"],
                "properties": {
                    "question": {"type": "object", "required": ["name", "type"],
                                 "properties": {"name": {"type": "string"}, "type": {"type": "string"}}},
                    "from": {"type": "string"},
                    "outcome": {"enum": ["answer", "nodata", "nxdomain", "yxdomain", "refused", "servfail", "forward"]},
                    "rcode": {"type": "string"},
                    "view": {"type": "string"},
                    "answer_kind": {"enum": ["private", "public", "nxdomain_private", "fallback", "internal",
                                             "hosted", "forwarded", "refused", "error", "blocked"]},
                    "authoritative": {"type": "boolean",
                                      "description": "AA: a DNS server answered from its own zone, asked directly"},
                    "answer": {"type": "array", "items": {"type": "string"}},
                    "authority": {"type": "array", "items": {"type": "string"}},
                    "trace": {"type": "array", "items": {"type": "object", "required": ["step", "text"],
                                                         "properties": {"step": {"type": "string"},
                                                                        "text": {"type": "string"}}}},
                    "policy": {"type": "array", "description": "DNS security policy rules that matched",
                               "items": {"type": "object",
                                         "required": ["policy", "vnet", "rule", "priority", "action", "domain_list",
                                                      "domain", "name", "context"],
                                         "properties": {"policy": {"type": "string"}, "vnet": {"type": "string"},
                                                        "rule": {"type": "string"}, "priority": {"type": "integer"},
                                                        "action": {"enum": ["Allow", "Alert", "Block"]},
                                                        "domain_list": {"type": "string"},
                                                        "domain": {"type": "string"}, "name": {"type": "string"},
                                                        "context": {"type": "string"}}}},
                },
            },
        },
    },
    "paths": {
        "/healthz": {"get": {"summary": "Alive: the event loop answers.",
                             "responses": {"200": _ok("Alive.", "Health")}}},
        "/readyz": {"get": {"summary": "Ready: topology loaded, every socket bound, not stopping.",
                            "responses": {"200": _ok("Ready.", "Ready"), "503": _ok("Not ready.", "Ready")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4, or OpenMetrics on request).",
                             "responses": {"200": {"description": "Metrics.",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}},
                                           "404": _error("Metrics are turned off.")}}},
        "/v1/openapi.json": {"get": {"summary": "This document.",
                                     "responses": {"200": {"description": "OpenAPI 3.1.",
                                                           "content": {"application/json": {
                                                               "schema": {"type": "object"}}}}}}},
        "/v1/topology": {"get": {"summary": "The topology as compiled: networks, views and their linked zones, "
                                            "zones with their records, counts, and the run-time changes in effect.",
                                 "security": [{}, {"bearer": []}],
                                 "responses": {"200": _ok("The topology.", "Topology"),
                                               "400": _error("A query parameter was given."), **_READ_ERRORS}}},
        "/v1/explain": {"get": {
            "summary": "How a name resolves from a source: the resolver's trace, as `dnsemu explain --json`.",
            "security": [{}, {"bearer": []}],
            "parameters": [
                {"name": "name", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "type", "in": "query", "required": False, "schema": {"type": "string", "default": "A"}},
                {"name": "from", "in": "query", "required": True, "schema": {"type": "string"},
                 "description": "An address, or a VNet, on-premises site or VM name, or 'internet'."},
            ],
            "responses": {"200": _ok("The resolution.", "Explain"),
                          "400": _error("A parameter is missing, repeated, unknown or invalid."), **_READ_ERRORS}}},
        "/v1/changes": {"get": {"summary": "The run-time changes in effect, oldest first.",
                                "security": [{}, {"bearer": []}],
                                "responses": {"200": _ok("The changes.", "Changes"), **_READ_ERRORS}}},
        "/v1/diff": DIFF_PATH,
        "/v1/private-endpoints/{name}": {
            "parameters": [_path_param("name", "Private endpoint name")],
            "put": _change_op("Create or replace a private endpoint (its zone group records follow).",
                              {"type": "object", "description": "As under private_endpoints: in the topology file.",
                               "required": ["virtual_network", "private_ip_addresses"]}),
            "delete": _change_op("Remove a private endpoint."),
        },
        "/v1/private-dns-zones/{zone}": {
            "parameters": [_ZONE],
            "put": _change_op("Create or replace a private DNS zone.", _ZONE_BODY, body_required=False),
            "delete": _change_op("Remove a private DNS zone."),
        },
        "/v1/private-dns-zones/{zone}/records/{type}/{name}": {
            "parameters": [_ZONE, *_RECORD_PARAMS],
            "put": _change_op("Create or replace a record set in a private DNS zone.", _RECORD_SET),
            "delete": _change_op("Remove a record set from a private DNS zone."),
        },
        "/v1/private-dns-zones/{zone}/virtual-network-links/{vnet}": {
            "parameters": [_ZONE, _path_param("vnet", "Virtual network name")],
            "put": _change_op("Link a private DNS zone to a virtual network, or change the link.",
                              {"type": "object", "properties": {
                                  "name": {"type": "string"},
                                  "registration_enabled": {"type": "boolean", "default": False},
                                  "resolution_policy": {"enum": ["Default", "NxDomainRedirect"],
                                                        "default": "Default"}}}, body_required=False),
            "delete": _change_op("Unlink a private DNS zone from a virtual network."),
        },
        "/v1/public-dns-zones/{zone}/records/{type}/{name}": {
            "parameters": [_ZONE, *_RECORD_PARAMS],
            "put": _change_op("Create or replace a record set in public DNS (the zone is created when missing).",
                              _RECORD_SET),
            "delete": _change_op("Remove a record set from public DNS."),
        },
        "/v1/reset": {"post": {
            "summary": "Drop every run-time change: serve the topology files again.",
            "security": [{}, {"bearer": []}],
            "responses": {"200": {"description": "Reset.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["reset", "dropped", "generation"],
                "properties": {"reset": {"type": "boolean"}, "dropped": {"type": "integer"},
                               "generation": {"type": "integer"}}}}}},
                          **{k: v for k, v in _CHANGE_ERRORS.items()
                             if k in ("400", "401", "403", "409", "413", "415")}}}},
        "/v1/reload": {"post": {
            "summary": "Read the topology files again and re-apply the changes in effect (what SIGHUP does).",
            "security": [{}, {"bearer": []}],
            "responses": {"200": {"description": "Reloaded.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["reloaded", "generation", "changes"],
                "properties": {"reloaded": {"const": True}, "generation": {"type": "integer"},
                               "changes": {"type": "integer"}}}}}},
                          "409": _error("The topology was given as data: there is no file."),
                          "422": _error("The files do not load, or the changes no longer hold on them; the old "
                                        "topology keeps serving."),
                          **{k: v for k, v in _CHANGE_ERRORS.items() if k in ("400", "401", "403", "413", "415")}}}},
    },
}
OPENAPI["paths"].update(UI_PATHS)
