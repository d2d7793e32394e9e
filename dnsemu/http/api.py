"""The HTTP API of a running server: health, metrics, the compiled topology, explain, run-time changes.

Served by :class:`dnsemu.http.listener.HttpServer` on the DNS server's own event loop
(the ``http`` setting). JSON everywhere but ``/metrics``; versioned under
``/v1``; described by OpenAPI 3.1 at ``/v1/openapi.json`` (:data:`OPENAPI`), a document built
from the route table at the end of this module (:data:`API_ROUTES`, and
:data:`dnsemu.http.ui.UI_ROUTES`): one entry per route, its documentation beside its handler
(:mod:`dnsemu.http.routes`). A new route is one more entry; it cannot be served undocumented.

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
setting: change the topology file, e.g. its ConfigMap, instead; or nothing to reload), 413 body too large,
415 not ``application/json``, 422 refused change, 503 not ready; and from the listener,
before any route runs, 400 malformed, 403 another page's ``Origin``, 408, 413, 421 a ``Host``
that does not name it, 431, 501, 503 (too many connections) and 505. A 500 is a bug (logged,
counted). The document lists each of these on every operation that can answer it, and
``tests/test_api_fuzz.py`` holds the server to it.

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
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from dnsemu.analysis.explain import UnknownSource
from dnsemu.analysis.views import explain_json, topology_json
from dnsemu.core.resolution import Outcome
from dnsemu.core.resolution import Source as AnswerSource
from dnsemu.http.diffview import DIFF_ROUTES, DiffView
from dnsemu.http.listener import HttpError, Request, Response, json_response, query_params
from dnsemu.http.metrics import create_registry
from dnsemu.http.routes import Answer, Body, Doc, Param, Route, json_answer, openapi
from dnsemu.http.ui import UI_ROUTES, Ui
from dnsemu.text import clip, excerpt
from dnsemu.topology import changes
from dnsemu.topology.changes import Change, ChangeError
from dnsemu.topology.model import PrivateDnsZone, PrivateEndpoint, RecordSet, VirtualNetworkLink

if TYPE_CHECKING:
    from dnsemu.server.server import DnsServer
    from dnsemu.topology.loaded import LoadedTopology

__all__ = ["API_ROUTES", "OPENAPI", "ROUTES", "Api", "Route", "document", "explain_json", "topology_json"]


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
        self.diff = DiffView(server, compare)  # GET /v1/diff (dnsemu.http.diffview); compare: --compare's estate
        self.ui = Ui(server)  # the /ui page, and the /v1 routes it draws from (dnsemu.http.ui)
        #: the routes served: the table below, dnsemu.http.diffview's and dnsemu.http.ui's, each bound to its owner
        self.routes: list[Route] = [*(r.bind(self) for r in API_ROUTES), *(r.bind(self.diff) for r in DIFF_ROUTES),
                                    *(r.bind(self.ui) for r in UI_ROUTES)]
        #: the OpenAPI document served at /v1/openapi.json: built from exactly these routes
        self.document = document(self.routes)

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
        if route.mutating and self.settings.replicated and not route.replicated_ok:
            raise HttpError(409, "replicated", "this server is one of several replicas serving the same estate (the "
                                               "replicated setting): a run-time change would reach this replica "
                                               "only. Change the topology file instead: in Kubernetes, edit the "
                                               "ConfigMap that holds it (kubectl edit configmap dnsemu-topology, or "
                                               "kubectl apply -k with the new file); every replica reloads it when "
                                               "the mounted file changes")
        if route.mutating and not self.settings.api_changes:
            raise HttpError(403, "changes_disabled", "run-time changes are turned off; start dnsemu with "
                                                     "--api-changes (DNSEMU_API_CHANGES=true)")
        if route.needs_ready and not self.server.ready:
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
        return json_response(200, self.document)

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



# --------------------------------------------------------------------------- the routes and their document
#
# One entry per route: method, path, handler, who may call it, and its documentation. The OpenAPI document is
# built from this table (dnsemu.http.routes), so a route is never served undocumented and the document lists
# nothing that is not served; tests/test_api_fuzz.py holds the server to it. The /ui routes are in
# dnsemu.http.ui (UI_ROUTES).

_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


#: the answers' schemas, by name (request bodies add their pydantic models': dnsemu.http.routes)
SCHEMAS: dict[str, Any] = {
    "Error": _object(["error", "message"], {"error": _STRING, "message": _STRING, "problems": _array(_STRING)}),
    "Change": _object(["op", "target", "body"], {"op": _STRING, "target": _STRING, "body": {"type": "object"}}),
    "ChangeResult": _object(["applied", "generation", "changes"], {
        "applied": _schema_ref("Change"), "generation": _INTEGER,
        "changes": {"type": "integer", "description": "changes in effect"}}),
    "Changes": _object(["generation", "changes"], {"generation": _INTEGER, "changes": _array(_schema_ref("Change"))}),
    "Health": _object(["status"], {"status": {"const": "ok"}}),
    "Ready": _object(["status", "generation"], {"status": {"enum": ["ready", "not_ready"]}, "generation": _INTEGER,
                                                "dns": _array(_STRING), "changes": _INTEGER}),
    "Record": _object(["name", "type", "ttl", "data"],
                      {"name": _STRING, "type": _STRING, "ttl": _INTEGER, "data": _STRING}),
    "Topology": _object(
        ["generation", "file", "changes", "stats", "networks", "views", "private_zones", "public_zones"], {
            "generation": _INTEGER,
            "file": {"type": ["string", "null"]},
            "changes": _array(_schema_ref("Change")),
            "stats": {"type": "object", "additionalProperties": _INTEGER},
            "networks": _array(_object(["name", "kind", "view", "address_space", "subnets", "dns"], {
                "name": _STRING,
                "kind": {"enum": ["vnet", "virtual_hub", "on_premises", "internet"]},
                "view": {"type": ["string", "null"]},
                "address_space": _array(_STRING),
                "subnets": _array(_object(["name", "address_prefix", "service_endpoints"], {
                    "name": _STRING, "address_prefix": _STRING, "service_endpoints": _array(_STRING)})),
                "dns": _STRING})),
            "views": _array(_object(["name", "virtual_network", "zones"], {
                "name": _STRING, "virtual_network": _STRING,
                "zones": _array(_object(["zone", "kind", "link", "resolution_policy", "registration_enabled"], {
                    "zone": _STRING, "kind": _STRING, "link": _STRING, "resolution_policy": _STRING,
                    "registration_enabled": {"type": "boolean"}}))})),
            "private_zones": _array(_object(["name", "records"], {"name": _STRING,
                                                                  "records": _array(_schema_ref("Record"))})),
            "public_zones": _array(_object(["name", "kind", "authoritative", "records"], {
                "name": _STRING, "kind": _STRING, "authoritative": {"type": "boolean"},
                "records": _array(_schema_ref("Record"))})),
        }),
    "Explain": _object(
        ["question", "from", "outcome", "rcode", "view", "answer_kind", "answer", "authority", "trace"], {
            "question": _object(["name", "type"], {"name": _STRING, "type": _STRING}),
            "from": _STRING,
            "outcome": {"enum": [o.value for o in Outcome]},
            "rcode": _STRING,
            "view": _STRING,
            "answer_kind": {"enum": [s.value for s in AnswerSource]},
            "authoritative": {"type": "boolean",
                              "description": "AA: a DNS server answered from its own zone, asked directly"},
            "answer": _array(_STRING),
            "authority": _array(_STRING),
            "trace": _array(_object(["step", "text"], {"step": _STRING, "text": _STRING})),
            "policy": {**_array(_object(
                ["policy", "vnet", "rule", "priority", "action", "domain_list", "domain", "name", "context"], {
                    "policy": _STRING, "vnet": _STRING, "rule": _STRING, "priority": _INTEGER,
                    "action": {"enum": ["Allow", "Alert", "Block"]}, "domain_list": _STRING, "domain": _STRING,
                    "name": _STRING, "context": _STRING})),
                       "description": "DNS security policy rules that matched"},
        }),
}

_NO_QUERY = "A query parameter was given: this route takes none."
_TARGET_GONE = "The change's target does not exist (no such endpoint, zone, record set or link)."
_REFUSED = ("The change leaves a topology that does not validate (the file's own rules); nothing changed. "
            "`problems` lists every reason, each naming its field.")
_CHANGED = json_answer("Applied: the next DNS query sees it.", "ChangeResult")
_CHANGE_ERRORS = {404: _TARGET_GONE, 422: _REFUSED}
_ZONE = Param("zone", "path", "Zone name, e.g. privatelink.blob.core.windows.net.")
_RECORD = (_ZONE, Param("type", "path", "Record type, e.g. A, CNAME, TXT."),
           Param("name", "path", "Record name relative to the zone; @ for the apex."))
_LINK = (_ZONE, Param("vnet", "path", "Virtual network name."))
_ENDPOINT = (Param("name", "path", "Private endpoint name."),)
_RECORD_SET = Body("A record set as in the topology file; name and type come from the path. Replaces the set. "
                   "A CNAME set holds one value.", RecordSet, omit=("name", "type"), name="RecordSetBody")
_IGNORED = Body("Optional and ignored (a JSON object when given).", schema={"type": "object"}, required=False)

API_ROUTES: list[Route] = [
    Route("GET", "/healthz", Api.healthz, Doc("Alive: the event loop answers.", json_answer("Alive.", "Health")),
          auth=False),
    Route("GET", "/readyz", Api.readyz, Doc(
        "Ready: topology loaded, every socket bound, not stopping.", json_answer("Ready.", "Ready"),
        errors={503: Answer("Not ready (a Ready body).", {"application/json": {
            "anyOf": [_schema_ref("Ready"), _schema_ref("Error")]}})}), auth=False),
    Route("GET", "/metrics", Api.metrics, Doc(
        "Prometheus metrics (text format 0.0.4, or OpenMetrics when Accept asks for it).",
        Answer("Metrics.", {"text/plain": _STRING, "application/openmetrics-text": _STRING}),
        errors={404: "Metrics are turned off (the metrics setting)."}), auth=False),
    Route("GET", "/v1/openapi.json", Api.openapi, Doc(
        "This document: built from the route table, the API's contract.",
        json_answer("OpenAPI 3.1.", {"type": "object"})), auth=False),
    Route("GET", "/v1/topology", Api.topology, Doc(
        "The topology as compiled: networks, views and their linked zones, zones with their records, counts, and "
        "the run-time changes in effect.", json_answer("The topology.", "Topology"), errors={400: _NO_QUERY})),
    Route("GET", "/v1/explain", Api.explain, Doc(
        "How a name resolves from a source: the resolver's trace, as `dnsemu explain --json`.",
        json_answer("The resolution.", "Explain"),
        params=(Param("name", "query", "The name asked for."),
                Param("type", "query", "A record type, e.g. AAAA or TYPE65; empty means A.",
                      {"type": "string", "default": "A"}, required=False),
                Param("from", "query", "An address, or a VNet, on-premises site or VM name, or 'internet'.")),
        errors={400: "A parameter is missing, repeated, unknown or not valid (a name that is not a DNS name, an "
                     "unknown type or source)."})),
    Route("GET", "/v1/changes", Api.list_changes, Doc(
        "The run-time changes in effect, oldest first.", json_answer("The changes.", "Changes"),
        errors={400: _NO_QUERY})),
    Route("PUT", "/v1/private-endpoints/{name}", Api.put_endpoint, Doc(
        "Create or replace a private endpoint (its zone group records follow).", _CHANGED, _ENDPOINT,
        Body("A private endpoint as under private_endpoints: in the topology file.", PrivateEndpoint),
        _CHANGE_ERRORS), mutating=True),
    Route("DELETE", "/v1/private-endpoints/{name}", Api.delete_endpoint, Doc(
        "Remove a private endpoint.", _CHANGED, _ENDPOINT, errors=_CHANGE_ERRORS), mutating=True),
    Route("PUT", "/v1/private-dns-zones/{zone}", Api.put_zone, Doc(
        "Create or replace a private DNS zone.", _CHANGED, (_ZONE,),
        Body("A private DNS zone as under private_dns_zones: in the topology file, its data in the body: records, "
             "and/or master-file text in zone_text (at most max-file-bytes octets, no $INCLUDE). zone_file is "
             "refused (400 field_not_allowed): the API never opens a file it is sent.",
             PrivateDnsZone, omit=("zone_file",), name="PrivateDnsZoneBody", required=False),
        _CHANGE_ERRORS), mutating=True),
    Route("DELETE", "/v1/private-dns-zones/{zone}", Api.delete_zone, Doc(
        "Remove a private DNS zone.", _CHANGED, (_ZONE,), errors=_CHANGE_ERRORS), mutating=True),
    Route("PUT", "/v1/private-dns-zones/{zone}/records/{type}/{name}", Api.put_private_record, Doc(
        "Create or replace a record set in a private DNS zone.", _CHANGED, _RECORD, _RECORD_SET, _CHANGE_ERRORS),
        mutating=True),
    Route("DELETE", "/v1/private-dns-zones/{zone}/records/{type}/{name}", Api.delete_private_record, Doc(
        "Remove a record set from a private DNS zone.", _CHANGED, _RECORD, errors=_CHANGE_ERRORS), mutating=True),
    Route("PUT", "/v1/private-dns-zones/{zone}/virtual-network-links/{vnet}", Api.put_link, Doc(
        "Link a private DNS zone to a virtual network, or change the link.", _CHANGED, _LINK,
        Body("A virtual network link; the virtual network comes from the path.", VirtualNetworkLink,
             omit=("virtual_network",), name="LinkBody", required=False), _CHANGE_ERRORS), mutating=True),
    Route("DELETE", "/v1/private-dns-zones/{zone}/virtual-network-links/{vnet}", Api.delete_link, Doc(
        "Unlink a private DNS zone from a virtual network.", _CHANGED, _LINK, errors=_CHANGE_ERRORS),
        mutating=True),
    Route("PUT", "/v1/public-dns-zones/{zone}/records/{type}/{name}", Api.put_public_record, Doc(
        "Create or replace a record set in public DNS (the zone is created when missing).", _CHANGED, _RECORD,
        _RECORD_SET, _CHANGE_ERRORS), mutating=True),
    Route("DELETE", "/v1/public-dns-zones/{zone}/records/{type}/{name}", Api.delete_public_record, Doc(
        "Remove a record set from public DNS.", _CHANGED, _RECORD, errors=_CHANGE_ERRORS), mutating=True),
    Route("POST", "/v1/reset", Api.reset, Doc(
        "Drop every run-time change: serve the topology files again.",
        json_answer("Reset.", _object(["reset", "dropped", "generation"], {
            "reset": {"type": "boolean"}, "dropped": _INTEGER, "generation": _INTEGER})),
        body=_IGNORED), mutating=True),
    Route("POST", "/v1/reload", Api.reload, Doc(
        "Read the topology files again and re-apply the changes in effect (what SIGHUP does; answered on a "
        "replica too: every replica reads the same file).",
        json_answer("Reloaded.", _object(["reloaded", "generation", "changes"], {
            "reloaded": {"const": True}, "generation": _INTEGER, "changes": _INTEGER})),
        body=_IGNORED,
        errors={409: "The topology was given as data: there is no file to read.",
                422: "The files do not load, or the changes no longer hold on them; the old topology keeps "
                     "serving."}), mutating=True, replicated_ok=True),
]

INFO = {
    "title": "dnsemu",
    "version": "1",
    "description": "Health, metrics, the compiled topology, explain, run-time changes and the /ui page of a running "
                   "dnsemu. Change bodies use the topology file's own shapes and are validated like a file load. "
                   "Every GET route also answers HEAD; a method a path does not serve gets 405 with Allow; a path "
                   "that names no route gets 404. A query parameter given empty (name=) is as if not given. Errors are "
                   "{\"error\": CODE, \"message\": TEXT}; a 500 is a bug. "
                   "This document is built from the server's route table and is its contract: the test suite "
                   "fuzzes the server from it (tests/test_api_fuzz.py).",
}


def document(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (see :func:`dnsemu.http.routes.openapi`)."""
    return openapi(routes, info=INFO, schemas=SCHEMAS)


#: every route served, unbound (what :class:`Api` binds), and their document
ROUTES: list[Route] = [*API_ROUTES, *DIFF_ROUTES, *UI_ROUTES]
OPENAPI: dict[str, Any] = document(ROUTES)
