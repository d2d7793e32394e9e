"""The whole HTTP API fuzzed from its own OpenAPI document, with schemathesis, against ``dnsemu serve``.

A real server in a subprocess (``dnsemu serve --http --api-changes``, the real
listener over loopback), the schema loaded from its live ``/v1/openapi.json``
(the document built from the route table, :mod:`dnsemu.http.routes`), and every
operation driven with requests generated from that schema: data the document
calls valid ("positive") and, where a route takes a body or query parameters,
data it calls invalid ("negative"). Every response must be no 5xx, carry a status
the document lists for that operation, with the content type, body schema and
headers it lists for that status; valid data must not be refused as malformed
(only what the document cannot express may refuse it: the topology's own
validation, 422, a target that does not exist, 404, a name or source that does
not resolve, 400) and a valid body must load as the topology model its route
validates against; invalid data must not be accepted.

Three ways in: a server without a token ("open"); a server with ``api-token``
and a client that sends it ("token": no 401 may come back); the same server and
a client that does not, or sends a generated one ("no-token": every guarded
route answers 401 with its challenge). Invalid data goes to the open server
(and, in the long run, the token server too). Each operation starts from
``POST /v1/reset``; at the end each server must still be ready, answer DNS from
its file, stop cleanly and have logged no internal error.

Besides generated data, each operation gets hand-picked edge values in its path
and query (labels over 63 octets, names over 255, empty labels, non-ASCII,
control characters, an encoded slash ...), with valid bodies, so that the
bounded CI run reaches them every time. The query stream (Server-Sent Events)
never ends: it is read up to its first event and closed, its head held to the
document like every other answer.

The CI run is bounded and derandomized (the same examples on every run; about
half a minute on a busy two-core machine); ``DNSEMU_LONG=1`` runs hundreds of
examples per operation with a fresh seed each sitting (about twenty minutes), by
hand::

    DNSEMU_LONG=1 .venv/bin/python -m pytest tests/test_api_fuzz.py

schemathesis is driven through its strategy API (``schema[path][method]
.as_strategy()`` under Hypothesis); its pytest plugin stays out of the run
(``-p no:schemathesis`` in pyproject.toml).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import hypothesis
import pytest
from conftest import ALPHA, TEST_TOPOLOGY, ServeProcess

schemathesis = pytest.importorskip("schemathesis")
requests = pytest.importorskip("requests")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis import checks as st_checks  # noqa: E402

from dnsemu.http.api import OPENAPI, ROUTES  # noqa: E402

TOKEN = "fuzz-token-7d0c41"
LONG = os.environ.get("DNSEMU_LONG", "") not in ("", "0", "false", "no")
#: generated examples per operation and kind of data: the open server gets the most, the token modes check auth
EXAMPLES = {"open": 400, "token": 150, "no-token": 40} if LONG else {"open": 5, "token": 2, "no-token": 1}
METHODS = ("get", "put", "post", "delete")
OPERATIONS = [(path, method.upper()) for path, item in OPENAPI["paths"].items() for method in item
              if method in METHODS]
STREAMS = {("/v1/queries/stream", "GET")}  # answers that never end: read up to the first event

CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance, st_checks.content_type_conformance,
          st_checks.response_schema_conformance, st_checks.response_headers_conformance,
          st_checks.positive_data_acceptance, st_checks.negative_data_rejection]

#: why a request the document calls valid may still be refused: what no schema can say (the error codes)
REFUSALS = {
    "invalid_change",  # the topology's own validation: a VNet named must exist, a zone needs two labels ...
    "not_found",  # the change's target does not exist
    "bad_parameter", "unknown_source", "missing_parameter",  # explain, graph: not a DNS name, unknown source ...
    "unauthorized",  # no token, or a generated one
    "no_compare",  # diff against=compare, and the server was not started with --compare
}
#: the PUT bodies' models, from the route table; the fields the path gives are filled in to load one
MODELS = {route.path: route.doc.body for route in ROUTES
          if route.method == "PUT" and route.doc.body is not None and route.doc.body.model is not None}
PATH_FIELDS = {"name": "n", "type": "A", "virtual_network": "v"}

CONFIG = {
    "cache": {"enabled": False},
    "generation": {"database": "none"},
    "operations": [
        # a change is validated against the whole topology (a VNet named must exist, a zone needs two labels,
        # a record's values must parse as its type ...): 422; a target that does not exist: 404
        {"include-path-regex": "^/v1/(private-|public-)", "checks": {
            "positive_data_acceptance": {"expected-statuses": ["200", "401", "404", "422"]}}},
        # a name or type is checked as DNS data, a source against the topology's networks and VMs: 400
        {"include-path-regex": "^/v1/(explain|graph)$", "checks": {
            "positive_data_acceptance": {"expected-statuses": ["200", "400", "401"]}}},
        # still comparing: 202; against=compare on a server started without --compare: 404
        {"include-path": "/v1/diff", "checks": {
            "positive_data_acceptance": {"expected-statuses": ["200", "202", "401", "404"]}}},
    ],
}


@dataclass
class Server:
    proc: ServeProcess
    url: str
    token: str | None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def reset(self) -> None:
        assert requests.post(f"{self.url}/v1/reset", headers=self.auth, timeout=30).status_code == 200


@dataclass
class Target:
    mode: str
    server: Server
    schema: Any
    session: Any  # a requests.Session: one keep-alive connection, as a client would hold

    @property
    def headers(self) -> dict[str, str] | None:
        return self.server.auth if self.mode == "token" else None


def _start(tmp_path: Path, token: str | None) -> Server:
    env = {"DNSEMU_API_TOKEN": token} if token else {}
    proc = ServeProcess(["--topology", str(TEST_TOPOLOGY), "--listen", "127.0.0.1:0", "--http", "--http-listen",
                         "127.0.0.1:0", "--api-changes", "--no-watch", "--log-format", "json"], tmp_path, env)
    return Server(proc, next(w for w in proc.line.split() if w.startswith("http://")), token)


def _still_serving(server: Server) -> None:
    """Ready, changes dropped, DNS answered from the file's topology; then a clean stop with no bug logged."""
    server.reset()
    assert requests.get(f"{server.url}/readyz", timeout=30).json()["status"] == "ready"
    reply = dns.query.udp(dns.message.make_query("app.corp.test", "A"), "127.0.0.1", port=server.proc.port,
                          source=ALPHA, timeout=5)
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.to_text() for rrset in reply.answer for r in rrset] == ["127.0.1.10"]
    assert server.proc.terminate() == 0
    bugs = []
    for line in server.proc.stderr().splitlines():
        try:
            event = json.loads(line).get("event")
        except ValueError:
            bugs.append(line[:500])  # not a log line: something printed past the logger
            continue
        if event in ("http_internal_error", "http_connection_failed"):
            bugs.append(line[:2000])
    assert not bugs, "\n".join(bugs)


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    """The open server and the token server (started side by side), and the three ways in."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(_start, tmp_path_factory.mktemp(f"fuzz-{name}"), token)
                    for name, token in (("open", None), ("token", TOKEN))]
        started = [future.exception() or future.result() for future in starting]
    try:
        for server in started:
            if isinstance(server, BaseException):
                raise server
        open_server, token_server = started
        # one schema, loaded from the open server's live document (each call names the server it goes to)
        schema = schemathesis.openapi.from_url(f"{open_server.url}/v1/openapi.json",
                                               config=schemathesis.Config.from_dict(CONFIG))
        assert schema.raw_schema == json.loads(json.dumps(OPENAPI))  # the route table's document
        assert requests.get(f"{token_server.url}/v1/openapi.json", timeout=30).json() == schema.raw_schema
        with requests.Session() as one, requests.Session() as two, requests.Session() as three:
            yield {"open": Target("open", open_server, schema, one),
                   "token": Target("token", token_server, schema, two),
                   "no-token": Target("no-token", token_server, schema, three)}
        for server in started:
            _still_serving(server)
    finally:
        for server in started:
            if isinstance(server, Server):
                server.proc.close()


def _definition(path: str, method: str) -> dict[str, Any]:
    return OPENAPI["paths"][path][method.lower()]


def _parameters(path: str, method: str) -> list[dict[str, Any]]:
    return [*OPENAPI["paths"][path].get("parameters", []), *_definition(path, method).get("parameters", [])]


def _generations(mode: str, path: str, method: str) -> list[str]:
    """Negative data needs something to break: a body or a query parameter (a path parameter is any string).

    Without the token every guarded route answers 401 before it reads anything: valid data says all there is.
    With it, invalid data meets the same code as on the open server: only the long run sends it there too.
    """
    breakable = "requestBody" in _definition(path, method) or any(p["in"] == "query"
                                                                    for p in _parameters(path, method))
    return ["positive", "negative"] if breakable and (mode == "open" or (mode == "token" and LONG)) else ["positive"]


def _expect_auth(target: Target, path: str, method: str, response: Any) -> None:
    """The token opens every route; without it every guarded route answers 401 with a bearer challenge."""
    if target.mode == "token":
        assert response.status_code != 401, response.text
    elif target.mode == "no-token" and "security" in _definition(path, method):
        if response.status_code == 404 and response.json()["message"].startswith("no route"):
            return  # the client sent a path that is no route (an empty segment): that answer comes first
        assert response.status_code == 401, (response.status_code, response.text)
        assert response.headers["www-authenticate"][0].startswith("Bearer "), response.headers


def _valid_data_is_valid(path: str, method: str, case: Any, response: Any) -> None:
    """What the document calls valid is valid: its bodies load as the topology's models, and a refusal is
    never for the request's shape (a missing parameter, a malformed body ...), only for what a schema cannot say."""
    if response.status_code >= 400:
        assert response.json()["error"] in REFUSALS, response.text
    body = MODELS.get(path)
    if method == "PUT" and body is not None and isinstance(case.body, dict):
        filled = {key: PATH_FIELDS[key] for key in body.omit if key in PATH_FIELDS}
        assert body.model is not None
        # JSON Schema's integer takes 60.0; the API's strict reader (like the topology file's) takes 60 only and
        # answers 422 to 60.0, which the document allows: the model is asked about the number, not its spelling
        body.model.model_validate({**filled, **_integral(case.body)})  # a ValidationError names the field


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _call_stream(case: Any, target: Target) -> None:
    """The query stream: its head as documented, the first event read, then closed (it never ends by itself)."""
    url = target.server.url + case.formatted_path
    with requests.get(url, params=case.query, headers={**(case.headers or {}), **(target.headers or {})},
                      stream=True, timeout=30) as response:
        documented = _definition(case.path, "GET")["responses"]
        assert str(response.status_code) in documented, (response.status_code, response.text)
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("text/event-stream")
            first = response.raw.read(len(b"retry: "))  # as soon as these octets came (the stream goes on)
            assert first == b"retry: ", first
        else:
            data = response.json()
            assert response.headers["content-type"].startswith("application/json")
            assert set(data) >= {"error", "message"}, data


def _stream_case(target: Target, path: str, method: str, generation: str) -> None:
    operation = target.schema[path][method]

    @hypothesis.settings(max_examples=EXAMPLES[target.mode], derandomize=not LONG, database=None, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck), print_blob=LONG)
    @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode(generation)))
    def fuzz(case: Any) -> None:
        _call_stream(case, target)

    fuzz()


CASES = [(mode, path, method, generation) for mode in EXAMPLES for path, method in OPERATIONS
         for generation in _generations(mode, path, method)]


@pytest.mark.parametrize(("mode", "path", "method", "generation"), CASES,
                         ids=[f"{mode}-{m} {p} {g}" for mode, p, m, g in CASES])
def test_generated_requests_conform(targets: dict[str, Target], mode: str, path: str, method: str,
                                    generation: str) -> None:
    target = targets[mode]
    target.server.reset()
    if (path, method) in STREAMS:
        _stream_case(target, path, method, generation)
        return
    operation = target.schema[path][method]
    statuses: set[int] = set()

    @hypothesis.settings(max_examples=EXAMPLES[target.mode], derandomize=not LONG, database=None, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck), print_blob=LONG)
    @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode(generation)))
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(base_url=target.server.url, session=target.session, headers=target.headers,
                                          checks=CHECKS, timeout=30)
        _expect_auth(target, path, method, response)
        if generation == "positive":
            _valid_data_is_valid(path, method, case, response)
        statuses.add(response.status_code)

    fuzz()
    assert statuses


# --------------------------------------------------------------------------- hand-picked edges

#: values for any path or query parameter that names something: each is tried in every such place
EDGES = [
    "a" * 64 + ".test",  # a label over 63 octets
    ".".join(["b" * 63] * 4) + ".test",  # a name over 255 octets
    "a..test", ".", "*.corp.test",  # an empty label, the root, a wildcard
    "zoné.test", "nul\x00\n\u202e.test",  # non-ASCII; control characters and a bidi control
    "a/b.test", "a\\.b.test",  # an encoded slash, an escape
    "CORP.TEST.", "x" * 2000,  # case and a trailing dot; a long segment
]
#: a value that names something real in tests/data/topology.yaml, so one parameter at a time is the odd one
REAL = {"zone": "corp.test", "vnet": "beta", "type": "A", "name": "app", "asset": "ui.js"}
REAL_BY_PATH = {"/v1/private-endpoints/{name}": {"name": "pe-edge"},
                "/v1/public-dns-zones/{zone}/records/{type}/{name}": {"zone": "example.test", "name": "www"}}
#: query parameters that work together, so one at a time is the odd one
QUERIES = {"/v1/explain": {"name": "app.corp.test", "type": "A", "from": "alpha"},
           "/v1/graph": {"format": "path", "name": "app.corp.test", "type": "A", "from": "alpha"},
           "/v1/diff": {"against": "files", "offset": "0", "limit": "10", "match": "corp"}}
#: bodies the document calls valid, so the request reaches the part of the route that reads the path
BODIES = {
    "PrivateEndpoint": {"virtual_network": "alpha", "subnet": "snet-pe", "private_ip_addresses": ["127.0.1.41"],
                        "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "edgestore"},
                        "group_id": "blob", "private_dns_zone_group": ["privatelink.blob.core.windows.net"]},
    "PrivateDnsZoneBody": {"records": ["www 60 A 127.0.1.9"],
                           "virtual_network_links": [{"virtual_network": "alpha"}]},
    "RecordSetBody": {"ttl": 60, "values": ["127.0.1.9"]},
    "LinkBody": {"registration_enabled": False, "resolution_policy": "NxDomainRedirect"},
}


def _body(path: str, method: str) -> Any:
    body = _definition(path, method).get("requestBody")
    if body is None:
        return None
    ref = body["content"]["application/json"]["schema"].get("$ref", "")
    return BODIES.get(ref.rsplit("/", 1)[-1], {})


def _edge_requests(path: str, method: str) -> list[dict[str, Any]]:
    """Every parameter at every edge value, the others real: path parameters and query parameters."""
    real = {**REAL, **REAL_BY_PATH.get(path, {})}
    names = {p["name"]: p["in"] for p in _parameters(path, method)}
    out = []
    for name, where in names.items():
        for value in EDGES:
            if where == "path":
                values = {n: real[n] for n, w in names.items() if w == "path"}
                out.append({"path_parameters": {**values, name: value}})
            elif where == "query":
                out.append({"query": {**QUERIES.get(path, {}), name: value}})
    if not names:  # no parameter: the route itself, with a body when it takes one
        out.append({})
    return out


EDGE_OPERATIONS = [(path, method) for path, method in OPERATIONS if (path, method) not in STREAMS]


@pytest.mark.parametrize(("path", "method"), EDGE_OPERATIONS, ids=[f"{m} {p}" for p, m in EDGE_OPERATIONS])
def test_edge_values_conform(targets: dict[str, Target], path: str, method: str) -> None:
    """On the open server: the edges are about paths and queries; the token modes fuzz the same routes."""
    target = targets["open"]
    target.server.reset()
    operation = target.schema[path][method]
    body = _body(path, method)
    for request in _edge_requests(path, method):
        if body is not None:
            request["body"] = body
            request["media_type"] = "application/json"
        operation.Case(**request).call_and_validate(base_url=target.server.url, session=target.session, checks=CHECKS,
                                                    timeout=30)


# --------------------------------------------------------------------------- what generation does not reach

#: values of the wrong JSON type that a lax reader would coerce (the document says integer, boolean)
WRONG_TYPES = [
    ("/v1/private-dns-zones/{zone}/records/{type}/{name}", {"zone": "corp.test", "type": "A", "name": "lax"},
     {"ttl": "60", "values": ["127.0.1.9"]}),
    ("/v1/private-dns-zones/{zone}/records/{type}/{name}", {"zone": "corp.test", "type": "A", "name": "lax"},
     {"ttl": True, "values": ["127.0.1.9"]}),
    ("/v1/private-dns-zones/{zone}/records/{type}/{name}", {"zone": "corp.test", "type": "A", "name": "lax"},
     {"ttl": 60.0, "values": ["127.0.1.9"]}),  # JSON Schema's integer takes it; the strict reader does not
    ("/v1/private-dns-zones/{zone}/virtual-network-links/{vnet}", {"zone": "corp.test", "vnet": "beta"},
     {"registration_enabled": "yes"}),
    ("/v1/private-dns-zones/{zone}/virtual-network-links/{vnet}", {"zone": "corp.test", "vnet": "beta"},
     {"registration_enabled": 1}),
    ("/v1/public-dns-zones/{zone}/records/{type}/{name}", {"zone": "example.test", "type": "CNAME", "name": "two"},
     {"values": ["a.example.test.", "b.example.test."]}),
]


def test_values_of_the_wrong_type_are_refused(targets: dict[str, Target]) -> None:
    """Schemathesis rarely generates these: a string of digits for an integer, true for one, 60.0 for one, "yes"
    for a boolean, two values in a CNAME set. Each is refused (422, naming the field), as the document says, and
    nothing changes."""
    target = targets["open"]
    target.server.reset()
    for path, parameters, body in WRONG_TYPES:
        case = target.schema[path]["PUT"].Case(path_parameters=parameters, body=body, media_type="application/json")
        response = case.call_and_validate(base_url=target.server.url, session=target.session, checks=CHECKS,
                                          timeout=30)
        assert response.status_code == 422, (body, response.text)
        field = next(iter(k for k in body if k != "values" or len(body["values"]) > 1))
        assert field in response.text, (field, response.text)
    assert requests.get(f"{target.server.url}/v1/changes", timeout=30).json()["changes"] == []
