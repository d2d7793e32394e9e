"""Routes, one entry each, and the OpenAPI document built from them.

A :class:`Route` says in one place what a request reaches and what it may get
back: method, path, handler, who may call it (``auth``, ``mutating``), and its
documentation (:class:`Doc`: summary, query parameters, request body, the answer,
and the errors only its handler gives). :func:`openapi` builds the document from
a list of routes; there is no other description of the API. A route cannot be
declared without its ``Doc``, a path parameter must be documented (and a
documented one must be in the path), and the document lists exactly the routes
served (``tests/test_api.py`` holds both, ``tests/test_api_fuzz.py`` holds the
server to what the document says).

What the layers in front of a handler answer is added to every route they can
answer for, from the route's own flags (:meth:`Route.implied_errors`), so no
route forgets them: the listener's refusals (:mod:`dnsemu.http.listener`: 400
malformed, 408, 413, 421 Host not this listener's, 431, 501, 503 busy, 505; 403
for another page's ``Origin`` on an unsafe method) and the dispatcher's
(:meth:`dnsemu.http.api.Api.handle`: 401 without the token, 403 changes off, 409
on a replica, 503 not ready, 404 for a path that names no route).

Request bodies come from the pydantic models that validate them
(:mod:`dnsemu.topology.model`), less the fields the path gives or the API
refuses, so the document cannot drift from what a change is checked against.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dnsemu.http.listener import Response

__all__ = ["SAFE_METHODS", "Answer", "Body", "Doc", "Param", "Route", "error", "json_answer", "openapi"]

Handler = Callable[..., Awaitable[Response]]

#: methods a browser sends across origins without asking (RFC 9110 §9.2.1): the listener checks Origin on the rest
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
STRING = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@dataclasses.dataclass(frozen=True)
class Param:
    """A path or query parameter."""

    name: str
    where: Literal["path", "query"]
    description: str
    schema: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"type": "string", "minLength": 1})
    required: bool = True

    def document(self) -> dict[str, Any]:
        schema = dict(self.schema)
        if self.where == "query" and not self.required and schema.get("type") != "string":
            # the listener reads an optional parameter given empty (``collapse=``) as not given: say so
            default = schema.pop("default", None)
            schema = {"anyOf": [schema, {"const": ""}], **({"default": default} if default is not None else {})}
        return {"name": self.name, "in": self.where, "required": self.required or self.where == "path",
                "description": self.description, "schema": schema}


@dataclasses.dataclass(frozen=True)
class Body:
    """A JSON request body: a pydantic model's schema (less ``omit``), or a schema of its own."""

    description: str
    model: type[BaseModel] | None = None
    #: the model's fields this route's body does not take (the path gives them, or the API refuses them)
    omit: tuple[str, ...] = ()
    #: the component's name when ``omit`` makes a new one (``RecordSetBody``)
    name: str | None = None
    schema: Mapping[str, Any] | None = None
    required: bool = True


@dataclasses.dataclass(frozen=True)
class Answer:
    """A response: its description, its content (media type -> schema), its headers."""

    description: str
    content: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    #: shared by many operations: written once under components/responses and referred to by this name
    name: str = ""

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description}
        if self.content:
            out["content"] = {media: {"schema": dict(schema)} for media, schema in self.content.items()}
        if self.headers:
            out["headers"] = {name: dict(header) for name, header in self.headers.items()}
        return out


def json_answer(description: str, schema: str | Mapping[str, Any]) -> Answer:
    """A JSON answer whose schema is a component (by name) or given inline."""
    return Answer(description, {"application/json": _ref(schema) if isinstance(schema, str) else schema})


def error(description: str, *, headers: Mapping[str, Mapping[str, Any]] | None = None, name: str = "") -> Answer:
    """An error answer: ``{"error": CODE, "message": TEXT}`` (the ``Error`` schema)."""
    return Answer(description, {"application/json": _ref("Error")}, headers or {}, name)


@dataclasses.dataclass(frozen=True)
class Doc:
    """What a route's documentation says: everything but what :meth:`Route.implied_errors` adds."""

    summary: str
    ok: Answer
    #: path parameters (each placeholder of the path, exactly) and query parameters
    params: tuple[Param, ...] = ()
    body: Body | None = None
    #: statuses the handler itself answers: a description (an ``Error`` body) or a whole Answer
    errors: Mapping[int, str | Answer] = dataclasses.field(default_factory=dict)
    description: str = ""


# The statuses the layers in front of every handler answer (dnsemu.http.listener and Api.handle).
_LISTENER: dict[int, Answer] = {
    400: error("A malformed HTTP request: the request line, a header, Host, Content-Length, the query string "
               "or the path's encoding.", name="BadRequest"),
    408: error("The request did not arrive within http-timeout.", name="RequestTimeout"),
    413: error("The body is over http-max-body.", name="BodyTooLarge"),
    421: error("The Host header does not name this listener (see http-allowed-hosts): DNS rebinding is refused.",
               name="MisdirectedRequest"),
    431: error("The request line and headers are over the limit.", name="HeadersTooLarge"),
    501: error("Transfer-Encoding (a chunked body) is not supported; send Content-Length.", name="ChunkedBody"),
    503: error("Every HTTP connection slot is taken (only the health probes are answered over the cap), or the "
               "server is stopping; try again.",
               headers={"Retry-After": {"description": "Seconds to wait (over the connection cap).",
                                        "required": False, "schema": {"type": "integer"}}}, name="Busy"),
    505: error("Only HTTP/1.0 and HTTP/1.1 are served.", name="HttpVersion"),
}
_ORIGIN = error("The request carries the Origin of another web page: changes are not taken from other pages.")
_UNAUTHORIZED = error("Missing or wrong bearer token (only when api-token is set).",
                      headers={"WWW-Authenticate": {"description": "The bearer challenge (RFC 6750).",
                                                    "required": True, "schema": STRING}}, name="Unauthorized")
_NOT_READY = error("The server is not serving (starting or stopping).", name="NotReady")
_CHANGES_OFF = error("Run-time changes are turned off (api-changes).")
_REPLICATED = error("This server is one of several replicas (the replicated setting): change the topology file "
                    "(its ConfigMap) instead.")
_NO_ROUTE = error("The path names no route: a path parameter that is empty, or a dot segment a client folded.")
_BAD_BODY = error("The body is not JSON (UTF-8), not an object, holds a field the path gives, or names a file "
                  "(zone_file: the API never opens a path it is sent).")
_BAD_MEDIA = error("The body is not application/json (UTF-8).")


@dataclasses.dataclass(frozen=True)
class Route:
    """One route: method, path (``/v1/private-dns-zones/{zone}``), handler, who may call it, its documentation.

    ``auth``: wants the bearer token when ``api-token`` is set; ``mutating``: answered only with
    ``api-changes`` on, and refused on a replica unless ``replicated_ok`` (reload reads the file
    every replica shares). The handler is called ``handler(request, params)``; declared on a class
    (``Api.healthz``), it is bound to an instance with :meth:`bind`.
    """

    method: str
    path: str
    handler: Handler
    doc: Doc
    auth: bool = True
    mutating: bool = False
    replicated_ok: bool = False
    pattern: tuple[str, ...] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.doc, Doc):
            raise TypeError(f"{self.method} {self.path}: a route needs its Doc")
        if self.method != self.method.upper() or not self.path.startswith("/"):
            raise ValueError(f"{self.method} {self.path}: an upper-case method and a path from /")
        object.__setattr__(self, "pattern", tuple(self.path.split("/")[1:]))
        placeholders = [segment[1:-1] for segment in self.pattern if segment.startswith("{")]
        if any(not _PLACEHOLDER.fullmatch(segment) for segment in self.pattern if segment.startswith("{")):
            raise ValueError(f"{self.method} {self.path}: a path parameter is a whole segment, {{lower_case}}")
        documented = [p.name for p in self.doc.params if p.where == "path"]
        if sorted(placeholders) != sorted(documented) or len(set(documented)) != len(documented):
            raise ValueError(f"{self.method} {self.path}: path parameters {placeholders} but documented "
                             f"{documented}")

    def bind(self, owner: object) -> Route:
        """This route with its handler bound to ``owner`` (the instance whose method it is)."""
        return dataclasses.replace(self, handler=self.handler.__get__(owner))  # type: ignore[attr-defined]

    @property
    def needs_ready(self) -> bool:
        """A guarded /v1 route: 503 while the server is not serving."""
        return self.pattern[0] == "v1" and self.auth

    @property
    def operation_id(self) -> str:
        return getattr(self.handler, "__name__", self.path)

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

    def implied_errors(self) -> dict[int, list[Answer]]:
        """What the listener and the dispatcher may answer for this route before (or instead of) its handler."""
        out: dict[int, list[Answer]] = {status: [answer] for status, answer in _LISTENER.items()}

        def add(status: int, answer: Answer) -> None:
            out.setdefault(status, []).append(answer)

        if self.method not in SAFE_METHODS:
            add(403, _ORIGIN)
        if any(p.where == "path" for p in self.doc.params):
            add(404, _NO_ROUTE)
        if self.auth:
            add(401, _UNAUTHORIZED)
        if self.needs_ready:
            add(503, _NOT_READY)
        if self.mutating:
            add(403, _CHANGES_OFF)
            if not self.replicated_ok:
                add(409, _REPLICATED)
        if self.doc.body is not None:
            add(400, _BAD_BODY)
            add(415, _BAD_MEDIA)
        return out


# --------------------------------------------------------------------------- the document


def _untitled(node: Any) -> Any:
    """pydantic's schema without the titles it makes up from field names."""
    if isinstance(node, dict):
        return {k: _untitled(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_untitled(v) for v in node]
    return node


def _add_schema(schemas: dict[str, Any], name: str, schema: Any) -> None:
    if schemas.setdefault(name, schema) != schema:
        raise ValueError(f"two schemas named {name}")


def _body_schema(body: Body, schemas: dict[str, Any]) -> dict[str, Any]:
    if body.model is None:
        assert body.schema is not None, "a Body needs a model or a schema"
        return {**body.schema, "description": body.description}
    _, generated = models_json_schema([(body.model, "validation")], ref_template="#/components/schemas/{model}")
    for name, schema in _untitled(generated.get("$defs", {})).items():
        _add_schema(schemas, name, schema)
    model = body.model.__name__
    if not body.omit:
        return _ref(model)
    derived = copy.deepcopy(schemas[model])
    missing = [key for key in body.omit if key not in derived["properties"]]
    if missing:
        raise ValueError(f"{model} has no field(s) {missing} to omit")
    for key in body.omit:
        del derived["properties"][key]
    derived["required"] = [k for k in derived.get("required", []) if k not in body.omit]
    if not derived["required"]:
        del derived["required"]
    derived["description"] = body.description
    _add_schema(schemas, body.name or f"{model}Body", derived)
    return _ref(body.name or f"{model}Body")


def _merged(answers: list[Answer], shared: dict[str, Any]) -> dict[str, Any]:
    """One response from several reasons for one status: the first's content, every description.

    A single shared answer is written once in ``shared`` (components/responses) and referred to.
    """
    first = answers[0]
    if len(answers) == 1 and first.name:
        if shared.setdefault(first.name, first.document()) != first.document():
            raise ValueError(f"two responses named {first.name}")
        return {"$ref": f"#/components/responses/{first.name}"}
    out = first.document()
    out["description"] = " Or: ".join(dict.fromkeys(a.description for a in answers))
    headers: dict[str, Any] = {}
    for answer in answers:
        for name, header in answer.headers.items():
            headers.setdefault(name, {**header, "required": False} if len(answers) > 1 else dict(header))
    if headers:
        out["headers"] = headers
    return out


def _operation(route: Route, schemas: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    doc = route.doc
    op: dict[str, Any] = {"operationId": route.operation_id, "summary": doc.summary}
    if doc.description:
        op["description"] = doc.description
    if route.auth:
        op["security"] = [{}, {"bearer": []}]  # no token unless api-token is set
    if doc.params:
        op["parameters"] = [p.document() for p in doc.params]
    if doc.body is not None:
        op["requestBody"] = {"required": doc.body.required, "description": doc.body.description,
                             "content": {"application/json": {"schema": _body_schema(doc.body, schemas)}}}
    statuses = route.implied_errors()
    for status, given in doc.errors.items():
        answer = error(given) if isinstance(given, str) else given
        statuses[status] = [answer, *statuses.get(status, [])]  # the route's own first: its body schema wins
    if 200 in statuses:
        raise ValueError(f"{route.method} {route.path}: 200 is the route's answer (Doc.ok)")
    responses = {"200": doc.ok.document()}
    responses.update({str(status): _merged(statuses[status], shared) for status in sorted(statuses)})
    op["responses"] = responses
    return op


def openapi(routes: Iterable[Route], *, info: Mapping[str, Any], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``: one operation per route, nothing else.

    ``schemas`` are the components the answers refer to by name; request bodies add their models'.
    """
    components = {name: copy.deepcopy(schema) for name, schema in schemas.items()}
    shared: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    ids: set[str] = set()
    for route in routes:
        item = paths.setdefault(route.path, {})
        method = route.method.lower()
        if method in item:
            raise ValueError(f"{route.method} {route.path} is declared twice")
        op = _operation(route, components, shared)
        if op["operationId"] in ids:
            op["operationId"] = f"{method}_{op['operationId']}"
        if op["operationId"] in ids:
            raise ValueError(f"{route.method} {route.path}: operationId {op['operationId']} is taken")
        ids.add(op["operationId"])
        item[method] = op
    return {
        "openapi": "3.1.0",
        "info": dict(info),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Required on guarded routes when api-token is set."}},
            "schemas": components,
            "responses": dict(sorted(shared.items())),
        },
        "paths": paths,
    }
