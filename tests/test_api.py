"""The HTTP API on a real listener: every route, every error class, auth on and off, changes seen by DNS.

Servers are :class:`dnsemu.testing.Emulator` instances with ``http=True`` (an
ephemeral port on 127.0.0.1). DNS is checked with dnspython from a source
address that picks the VNet: 127.0.1.x is alpha, 127.0.2.x beta, 127.0.0.1 the
internet (tests/data/topology.yaml).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import jsonschema
import pytest
from conftest import ALPHA, BETA, OUTSIDE, ROOT, TEST_TOPOLOGY, make_settings

from dnsemu.http.api import OPENAPI, Api
from dnsemu.http.listener import Request
from dnsemu.server.server import DnsServer
from dnsemu.server.settings import SettingsError, load_settings
from dnsemu.testing import Emulator

HOST = "127.0.0.1"
TOKEN = "s3cret-token"
NEW_PE = {
    "virtual_network": "alpha",
    "subnet": "snet-pe",
    "private_ip_addresses": ["127.0.1.40"],
    "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "newstore"},
    "group_id": "blob",
    "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
}


# --------------------------------------------------------------------------- clients


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


def call(emulator: Emulator, method: str, path: str, body: Any = None, *, token: str | None = None,
         headers: dict[str, str] | None = None) -> Reply:
    host, port = emulator.app.http_address or ("", 0)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        send_headers = dict(headers or {})
        data: bytes | None = None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            send_headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        if token is not None:
            send_headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=data, headers=send_headers)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes, bytes]:
    """One HTTP response from a raw socket: status, headers, body (by Content-Length), and what came after."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length], rest[length:]


def raw(emulator: Emulator, data: bytes) -> socket.socket:
    sock = socket.create_connection(emulator.app.http_address, timeout=5)
    sock.sendall(data)
    return sock


def ask(emulator: Emulator, name: str, source: str = ALPHA, rdtype: str = "A") -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), HOST, port=emulator.port, source=source, timeout=3)


def addresses(reply: dns.message.Message) -> list[str]:
    return [rdata.to_text() for rrset in reply.answer for rdata in rrset if rrset.rdtype in (1, 28)]


def valid(data: Any, schema: str) -> None:
    jsonschema.validate(data, {"$ref": f"#/components/schemas/{schema}", "components": OPENAPI["components"]},
                        cls=jsonschema.Draft202012Validator)


def error_of(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body)
    data = reply.json
    valid(data, "Error")
    assert data["error"] == code, data
    return data


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False) as running:
        yield running


@pytest.fixture
def api(shared: Emulator) -> Iterator[Emulator]:
    shared.reset()
    yield shared
    shared.check()


@pytest.fixture(scope="module")
def with_token() -> Iterator[Emulator]:
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, api_token=TOKEN) as running:
        yield running


# --------------------------------------------------------------------------- probes, metrics, OpenAPI


def test_health_and_readiness(api: Emulator) -> None:
    reply = call(api, "GET", "/healthz")
    assert reply.status == 200 and reply.json == {"status": "ok"}
    assert reply.headers["cache-control"] == "no-store"
    ready = call(api, "GET", "/readyz")
    assert ready.status == 200
    valid(ready.json, "Ready")
    assert ready.json["status"] == "ready" and ready.json["dns"] == [f"{HOST}:{api.port}"]
    head = call(api, "HEAD", "/healthz")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0


def test_not_ready_before_start_and_after_stop() -> None:
    server = DnsServer(make_settings(http=True, http_listen="127.0.0.1:0"))
    app = Api(server)

    def get(path: str) -> Any:
        request = Request("GET", path, path, {}, {}, segments=tuple(path.split("/")[1:]))
        return asyncio.run(_handle(app, request))

    status, body = get("/readyz")
    assert status == 503 and json.loads(body)["status"] == "not_ready"
    status, body = get("/v1/topology")
    assert status == 503 and json.loads(body)["error"] == "not_ready"
    assert get("/healthz")[0] == 200


async def _handle(app: Api, request: Request) -> tuple[int, bytes]:
    from dnsemu.http.listener import HttpError

    try:
        response = await app.handle(request)
    except HttpError as exc:
        response = exc.response()
    return response.status, response.body


def test_metrics_route_and_switch(api: Emulator) -> None:
    reply = call(api, "GET", "/metrics")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
    assert b"dnsemu_topology_generation" in reply.body
    with Emulator(TEST_TOPOLOGY, http=True, metrics=False, query_log=False) as off:
        error_of(call(off, "GET", "/metrics"), 404, "metrics_disabled")


def test_openapi_document_is_valid_and_matches_the_routes(api: Emulator) -> None:
    reply = call(api, "GET", "/v1/openapi.json")
    assert reply.status == 200
    document = reply.json
    assert document == json.loads(json.dumps(OPENAPI))
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    served = {("/" + "/".join(r.pattern), r.method.lower()) for r in Api(api.server).routes}
    described = {(path, method) for path, item in document["paths"].items() for method in item
                 if method in ("get", "put", "post", "delete")}
    assert served == described


# --------------------------------------------------------------------------- reads


def test_topology_as_compiled(api: Emulator) -> None:
    reply = call(api, "GET", "/v1/topology")
    assert reply.status == 200
    data = reply.json
    valid(data, "Topology")
    assert data["file"] == str(TEST_TOPOLOGY) and data["changes"] == []
    assert {n["name"]: n["address_space"] for n in data["networks"]} == {"alpha": ["127.0.1.0/24"],
                                                                         "beta": ["127.0.2.0/24"]}
    alpha = next(v for v in data["views"] if v["virtual_network"] == "alpha")
    linked = {z["zone"]: z for z in alpha["zones"]}
    assert linked["privatelink.blob.core.windows.net."]["link"] == "alpha-link"
    assert linked["privatelink.blob.core.windows.net."]["resolution_policy"] == "Default"
    assert "corp.test." in linked
    corp = next(z for z in data["private_zones"] if z["name"] == "corp.test.")
    assert {"name": "app.corp.test.", "type": "A", "ttl": 60, "data": "127.0.1.10"} in corp["records"]
    assert data["stats"]["virtual_networks"] == 2
    assert any(z["name"] == "example.test." for z in data["public_zones"])
    error_of(call(api, "GET", "/v1/topology?records=no"), 400, "unknown_parameter")


def test_explain_is_what_the_cli_prints(api: Emulator, capsys: Any) -> None:
    from dnsemu.cli import main

    reply = call(api, "GET", "/v1/explain?name=teststore.blob.core.windows.net&type=a&from=alpha")
    assert reply.status == 200
    valid(reply.json, "Explain")
    capsys.readouterr()  # the servers' log lines so far
    assert main(["explain", "teststore.blob.core.windows.net", "--type", "a", "--from", "alpha", "--json",
                 "--topology", str(TEST_TOPOLOGY)]) == 0
    assert reply.json == json.loads(capsys.readouterr().out)
    assert reply.json["answer_kind"] == "private" and reply.json["trace"]
    by_address = call(api, "GET", "/v1/explain?name=teststore.blob.core.windows.net&from=127.0.2.9").json
    assert by_address["view"] == "vnet:beta" and by_address["question"]["type"] == "A"


@pytest.mark.parametrize(("query", "code", "words"), [
    ("from=alpha", "missing_parameter", "'name'"),
    ("name=x.test", "missing_parameter", "'from'"),
    ("name=x.test&from=alpha&type=BOGUS", "bad_parameter", "unknown record type"),
    ("name=a..b&from=alpha", "bad_parameter", "empty label"),
    ("name=x.test&from=nowhere", "unknown_source", "known: alpha, beta"),
    ("name=x.test&from=alpha&verbose=1", "unknown_parameter", "verbose"),
    ("name=x.test&name=y.test&from=alpha", "repeated_parameter", "'name'"),
])
def test_explain_errors(api: Emulator, query: str, code: str, words: str) -> None:
    data = error_of(call(api, "GET", f"/v1/explain?{query}"), 400, code)
    assert words in data["message"]


# --------------------------------------------------------------------------- changes, seen by the next query


def test_private_endpoint_put_and_delete(api: Emulator) -> None:
    name = "newstore.blob.core.windows.net"
    assert ask(api, name).rcode() == dns.rcode.REFUSED  # nobody knows it: outside, nothing to forward to
    reply = call(api, "PUT", "/v1/private-endpoints/pe-newstore", NEW_PE)
    assert reply.status == 200
    valid(reply.json, "ChangeResult")
    assert reply.json["applied"]["op"] == "put_private_endpoint" and reply.json["changes"] == 1
    assert addresses(ask(api, name)) == ["127.0.1.40"]  # the very next UDP query
    assert call(api, "DELETE", "/v1/private-endpoints/pe-newstore").status == 200
    assert ask(api, name).rcode() == dns.rcode.REFUSED
    data = error_of(call(api, "DELETE", "/v1/private-endpoints/pe-newstore"), 404, "not_found")
    assert "no private endpoint named 'pe-newstore'" in data["message"]


def test_zone_put_and_delete(api: Emulator) -> None:
    zone = {"virtual_network_links": [{"virtual_network": "beta"}], "records": ["www 60 A 127.0.2.80"]}
    assert call(api, "PUT", "/v1/private-dns-zones/lab.test", zone).status == 200
    assert addresses(ask(api, "www.lab.test", BETA)) == ["127.0.2.80"]
    assert ask(api, "www.lab.test", ALPHA).rcode() == dns.rcode.REFUSED  # alpha is not linked
    assert call(api, "PUT", "/v1/private-dns-zones/empty.test").status == 200  # no body: an empty zone
    assert call(api, "DELETE", "/v1/private-dns-zones/LAB.test.").status == 200  # names compare without case
    assert ask(api, "www.lab.test", BETA).rcode() == dns.rcode.REFUSED
    error_of(call(api, "DELETE", "/v1/private-dns-zones/lab.test"), 404, "not_found")


def test_private_record_put_and_delete(api: Emulator) -> None:
    path = "/v1/private-dns-zones/corp.test/records/A/new"
    assert call(api, "PUT", path, {"ttl": 30, "values": ["127.0.1.50", "127.0.1.51"]}).status == 200
    reply = ask(api, "new.corp.test", BETA)
    assert sorted(addresses(reply)) == ["127.0.1.50", "127.0.1.51"] and reply.answer[0].ttl == 30
    assert call(api, "PUT", path, {"values": ["127.0.1.52"]}).status == 200  # replaces the set
    assert addresses(ask(api, "new.corp.test", BETA)) == ["127.0.1.52"]
    assert call(api, "PUT", "/v1/private-dns-zones/corp.test/records/txt/@", {"values": ['"hello"']}).status == 200
    txt = ask(api, "corp.test", BETA, "TXT")
    assert txt.answer and txt.answer[0][0].to_text() == '"hello"'
    assert call(api, "DELETE", path).status == 200
    assert ask(api, "new.corp.test", BETA).rcode() == dns.rcode.NXDOMAIN
    error_of(call(api, "DELETE", path), 404, "not_found")
    error_of(call(api, "PUT", "/v1/private-dns-zones/nozone.test/records/A/x", {"values": ["127.0.1.9"]}),
             404, "not_found")


def test_link_put_policy_and_delete(api: Emulator) -> None:
    name = "teststore.blob.core.windows.net"
    assert addresses(ask(api, name, BETA)) == ["203.0.113.111"]  # beta is not linked: public
    path = "/v1/private-dns-zones/privatelink.blob.core.windows.net/virtual-network-links/beta"
    assert call(api, "PUT", path).status == 200  # no body: Default policy
    assert addresses(ask(api, name, BETA)) == ["127.0.1.4"]
    # NxDomainRedirect: a name the private zone lacks falls back to public DNS
    assert call(api, "PUT", "/v1/public-dns-zones/privatelink.blob.core.windows.net/records/A/other",
                {"values": ["203.0.113.5"]}).status == 200
    assert ask(api, "other.privatelink.blob.core.windows.net", BETA).rcode() == dns.rcode.NXDOMAIN
    reply = call(api, "PUT", path, {"resolution_policy": "NxDomainRedirect", "name": "beta-link"})
    assert reply.status == 200 and reply.json["applied"]["body"]["resolution_policy"] == "NxDomainRedirect"
    assert addresses(ask(api, "other.privatelink.blob.core.windows.net", BETA)) == ["203.0.113.5"]
    topology = call(api, "GET", "/v1/topology").json
    beta = next(v for v in topology["views"] if v["virtual_network"] == "beta")
    link = next(z for z in beta["zones"] if z["zone"] == "privatelink.blob.core.windows.net.")
    assert (link["link"], link["resolution_policy"]) == ("beta-link", "NxDomainRedirect")
    assert call(api, "DELETE", path).status == 200
    assert addresses(ask(api, name, BETA)) == ["203.0.113.111"]
    error_of(call(api, "DELETE", path), 404, "not_found")
    data = error_of(call(api, "PUT", "/v1/private-dns-zones/corp.test/virtual-network-links/gamma"), 422,
                    "invalid_change")
    assert any("gamma" in p for p in data["problems"])


def test_public_record_put_and_delete(api: Emulator) -> None:
    path = "/v1/public-dns-zones/example.test/records/A/api"
    assert call(api, "PUT", path, {"ttl": 60, "values": ["198.51.100.20"]}).status == 200
    assert addresses(ask(api, "api.example.test", OUTSIDE)) == ["198.51.100.20"]
    assert call(api, "PUT", "/v1/public-dns-zones/brand-new.test/records/A/www",
                {"values": ["198.51.100.21"]}).status == 200  # a public zone is created when missing
    assert addresses(ask(api, "www.brand-new.test", OUTSIDE)) == ["198.51.100.21"]
    assert call(api, "DELETE", path).status == 200
    assert ask(api, "api.example.test", OUTSIDE).rcode() == dns.rcode.NXDOMAIN


def test_changes_list_and_reset(api: Emulator) -> None:
    call(api, "PUT", "/v1/private-endpoints/pe-newstore", NEW_PE)
    call(api, "PUT", "/v1/private-dns-zones/corp.test/records/A/new", {"values": ["127.0.1.50"]})
    listed = call(api, "GET", "/v1/changes").json
    valid(listed, "Changes")
    assert [c["op"] for c in listed["changes"]] == ["put_private_endpoint", "add_record"]
    assert call(api, "GET", "/v1/topology").json["changes"] == listed["changes"]
    reply = call(api, "POST", "/v1/reset")
    assert reply.status == 200 and reply.json["reset"] is True and reply.json["dropped"] == 2
    assert ask(api, "new.corp.test", BETA).rcode() == dns.rcode.NXDOMAIN
    assert ask(api, "newstore.blob.core.windows.net").rcode() == dns.rcode.REFUSED
    assert call(api, "POST", "/v1/reset", {}).json["reset"] is False  # an empty JSON body is fine too


def test_reload_reapplies_changes_and_reports_problems(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    original = TEST_TOPOLOGY.read_text()
    path.write_text(original)
    with Emulator(path, http=True, query_log=False) as emulator:
        assert call(emulator, "PUT", "/v1/private-dns-zones/corp.test/records/A/new",
                    {"values": ["127.0.1.50"]}).status == 200
        path.write_text(original.replace("app 60 A 127.0.1.10", "app 60 A 127.0.1.11"))
        reply = call(emulator, "POST", "/v1/reload")
        assert reply.status == 200 and reply.json["changes"] == 1
        assert addresses(ask(emulator, "app.corp.test")) == ["127.0.1.11"]  # the file's edit
        assert addresses(ask(emulator, "new.corp.test")) == ["127.0.1.50"]  # and the change, re-applied
        path.write_text(original.replace("virtual_networks:", "virtual_networks: [", 1))
        data = error_of(call(emulator, "POST", "/v1/reload"), 422, "invalid_topology")
        assert any("topology.yaml" in p for p in data["problems"])
        # a file the change no longer holds on: refused as well, the old topology keeps serving
        path.write_text(original.replace("  corp.test:\n", "  corp2.test:\n"))
        data = error_of(call(emulator, "POST", "/v1/reload"), 422, "invalid_topology")
        assert any("corp.test" in p for p in data["problems"])
        assert addresses(ask(emulator, "new.corp.test")) == ["127.0.1.50"]
        emulator.check()
    with Emulator(json.loads(json.dumps(_yaml(TEST_TOPOLOGY))), http=True, query_log=False) as data_only:
        error_of(call(data_only, "POST", "/v1/reload"), 409, "no_file")


def _yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text())


# --------------------------------------------------------------------------- error classes


@pytest.mark.parametrize(("body", "headers", "status", "code", "words"), [
    (b'{"virtual_network": ', {"Content-Type": "application/json"}, 400, "invalid_json", "line 1, column"),
    (b'{"a": 1, "a": 2}', {"Content-Type": "application/json"}, 400, "invalid_json", "duplicate key 'a'"),
    (b'{"a": NaN}', {"Content-Type": "application/json"}, 400, "invalid_json", "NaN"),
    (b'\xff\xfe{}', {"Content-Type": "application/json"}, 400, "invalid_json", "not UTF-8"),
    (b"[1, 2]", {"Content-Type": "application/json"}, 400, "not_an_object", "not list"),
    (b"", {}, 400, "body_required", "JSON object"),
    (b"{}", {"Content-Type": "text/plain"}, 415, "unsupported_media_type", "text/plain"),
    (b"{}", {}, 415, "unsupported_media_type", "no Content-Type"),
    (b"{}", {"Content-Type": "application/json; charset=latin-1"}, 415, "unsupported_media_type", "UTF-8"),
])
def test_bad_bodies(api: Emulator, body: bytes, headers: dict[str, str], status: int, code: str,
                    words: str) -> None:
    data = error_of(call(api, "PUT", "/v1/private-endpoints/pe-x", body, headers=headers), status, code)
    assert words in data["message"], data


def test_a_json_media_type_with_parameters_is_fine(api: Emulator) -> None:
    reply = call(api, "PUT", "/v1/private-endpoints/pe-newstore", json.dumps(NEW_PE),
                 headers={"Content-Type": "Application/JSON; charset=UTF-8"})
    assert reply.status == 200


def test_invalid_changes_are_422_and_change_nothing(api: Emulator) -> None:
    unknown = dict(NEW_PE, colour="blue")
    data = error_of(call(api, "PUT", "/v1/private-endpoints/pe-newstore", unknown), 422, "invalid_change")
    assert any("unknown key 'colour'" in p for p in data["problems"])
    outside = dict(NEW_PE, private_ip_addresses=["10.9.9.9"])
    data = error_of(call(api, "PUT", "/v1/private-endpoints/pe-newstore", outside), 422, "invalid_change")
    assert "outside virtual network 'alpha'" in data["message"]
    data = error_of(call(api, "PUT", "/v1/private-dns-zones/corp.test/records/A/x", {"values": ["nope"]}), 422,
                    "invalid_change")
    assert "not an IPv4 address" in data["message"]
    data = error_of(call(api, "PUT", "/v1/private-dns-zones/corp.test/records/A/x", {"ttl": 5, "weight": 1}), 422,
                    "invalid_change")
    assert any("weight" in p for p in data["problems"])
    error_of(call(api, "PUT", "/v1/private-dns-zones/corp.test/records/A/x", {"name": "y", "values": ["1.2.3.4"]}),
             400, "field_in_path")
    error_of(call(api, "PUT", "/v1/private-dns-zones/corp.test/virtual-network-links/beta",
                  {"virtual_network": "alpha"}), 400, "field_in_path")
    assert call(api, "GET", "/v1/changes").json["changes"] == []
    assert api.metric("dnsemu_topology_changes_total", {"result": "rejected"}) >= 4


def test_routes_and_methods(api: Emulator) -> None:
    error_of(call(api, "GET", "/nowhere"), 404, "not_found")
    error_of(call(api, "GET", "/v1/topology/"), 404, "not_found")
    error_of(call(api, "GET", "/v2/topology"), 404, "not_found")
    reply = call(api, "POST", "/healthz")
    error_of(reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == "GET, HEAD"
    reply = call(api, "GET", "/v1/private-endpoints/pe-x")
    error_of(reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == "DELETE, PUT"
    error_of(call(api, "PATCH", "/v1/topology"), 405, "method_not_allowed")


def test_changes_are_off_unless_enabled() -> None:
    with Emulator(TEST_TOPOLOGY, http=True, api_changes=False, query_log=False) as readonly:
        for method, path, body in (("PUT", "/v1/private-endpoints/pe-newstore", NEW_PE),
                                   ("DELETE", "/v1/private-endpoints/pe-teststore", None),
                                   ("POST", "/v1/reset", None), ("POST", "/v1/reload", None)):
            data = error_of(call(readonly, method, path, body), 403, "changes_disabled")
            assert "--api-changes" in data["message"]
        assert call(readonly, "GET", "/v1/topology").status == 200  # reads stay
        assert addresses(ask(readonly, "teststore.blob.core.windows.net")) == ["127.0.1.4"]


def test_bearer_token(with_token: Emulator) -> None:
    for method, path, body in (("GET", "/v1/topology", None), ("GET", "/v1/changes", None),
                               ("GET", "/v1/explain?name=x.test&from=alpha", None),
                               ("PUT", "/v1/private-endpoints/pe-newstore", NEW_PE), ("POST", "/v1/reset", None)):
        reply = call(with_token, method, path, body)
        error_of(reply, 401, "unauthorized")
        assert reply.headers["www-authenticate"] == 'Bearer realm="dnsemu"'
        reply = call(with_token, method, path, body, token="wrong")
        error_of(reply, 401, "unauthorized")
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]
        reply = call(with_token, method, path, body, headers={"Authorization": f"Basic {TOKEN}"})
        error_of(reply, 401, "unauthorized")
        assert call(with_token, method, path, body, token=TOKEN).status == 200
    for path in ("/healthz", "/readyz", "/metrics", "/v1/openapi.json"):  # probes, scrapers, the description
        assert call(with_token, "GET", path).status == 200
    assert addresses(ask(with_token, "newstore.blob.core.windows.net")) == []  # the reset above dropped it
    call(with_token, "POST", "/v1/reset", token=TOKEN)


def test_token_never_shows_in_settings_problems_or_repr() -> None:
    settings = load_settings({"api_token": TOKEN}, env={})
    assert TOKEN not in repr(settings) and settings.api_token is not None
    assert load_settings({"api_token": ""}, env={}).api_token is None
    with pytest.raises(SettingsError) as caught:
        load_settings({"api_token": TOKEN, "http_listen": "nowhere"}, env={})
    assert TOKEN not in str(caught.value)


def test_settings_rules_for_http() -> None:
    assert not load_settings(env={}).http  # only DNS listens by default
    assert load_settings(env={}).http_listen == "127.0.0.1:9153"
    with pytest.raises(SettingsError, match="needs api-token") as caught:
        load_settings({"http": True, "api_changes": True, "http_listen": "0.0.0.0:9153"}, env={})
    assert caught.value.problems[0].startswith("settings: ")  # a rule over several settings
    assert load_settings({"http": True, "api_changes": True, "http_listen": "0.0.0.0:9153", "api_token": "t"},
                         env={}).api_changes
    # the parent of the workers serves HTTP for all of them (tests/test_workers.py)
    assert load_settings({"http": True, "workers": 2}, env={}).workers == 2
    with pytest.raises(SettingsError, match="http-listen: 'localhost:1'"):
        load_settings(env={"DNSEMU_HTTP_LISTEN": "localhost:1"})


def test_a_bug_is_a_logged_500_that_check_raises(api: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in a route")

    before = api.metric("dnsemu_internal_errors_total", {"where": "http"})
    monkeypatch.setattr("dnsemu.http.api.topology_json", broken)
    reply = call(api, "GET", "/v1/topology")
    data = error_of(reply, 500, "internal_error")
    assert "bug" not in data["message"]  # no detail to the client
    assert api.metric("dnsemu_internal_errors_total", {"where": "http"}) == before + 1
    with pytest.raises(RuntimeError, match="a bug in a route"):
        api.check()
    api.check()  # raised once


# --------------------------------------------------------------------------- HTTP itself


def test_keep_alive_and_pipelining(api: Emulator) -> None:
    conn = http.client.HTTPConnection(*api.app.http_address, timeout=5)
    try:
        for path in ("/healthz", "/readyz", "/v1/changes"):
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200 and response.getheader("Connection") == "keep-alive"
            response.read()
        local = conn.sock.getsockname()
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() and conn.sock.getsockname() == local  # the same connection
    finally:
        conn.close()
    two = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
           b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    with raw(api, two) as sock:
        first = read_response(sock)
        rest = first[3]
        assert first[0] == 200 and json.loads(first[2]) == {"status": "ok"}
        data = rest + b"".join(iter(lambda: sock.recv(65536), b""))
        assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data and b'"ready"' in data


def test_http_1_0_closes_unless_asked(api: Emulator) -> None:
    with raw(api, b"GET /healthz HTTP/1.0\r\n\r\n") as sock:
        status, headers, _, _ = read_response(sock)
        assert status == 200 and headers["connection"] == "close"
        assert sock.recv(1) == b""


def test_expect_continue_and_body_limits() -> None:
    with Emulator(TEST_TOPOLOGY, http=True, http_max_body=1024, query_log=False) as small:
        body = json.dumps(dict(NEW_PE, padding="x" * 2000)).encode()
        head = (f"PUT /v1/private-endpoints/pe-x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n").encode()
        with raw(small, head + b"Expect: 100-continue\r\n\r\n") as sock:  # refused before the body is sent
            status, headers, data, _ = read_response(sock)
            assert status == 413 and json.loads(data)["error"] == "body_too_large"
            assert headers["connection"] == "close"
        error_of(call(small, "PUT", "/v1/private-endpoints/pe-x", body,
                      headers={"Content-Type": "application/json"}), 413, "body_too_large")
        ok = json.dumps(NEW_PE).encode()
        head = (f"PUT /v1/private-endpoints/pe-newstore HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(ok)}\r\nExpect: 100-continue\r\n\r\n").encode()
        with raw(small, head) as sock:
            assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(ok)
            assert read_response(sock)[0] == 200


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, "chunked_not_supported"),
    (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"x" * 20000 + b"\r\n\r\n", 431, "headers_too_large"),
    (b"HELLO\r\n\r\n", 400, "bad_request_line"),
    (b"GET /healthz HTTP/2.0\r\n\r\n", 505, "http_version_not_supported"),
    (b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "bad_header"),
    (b"GET /healthz HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n", 400, "bad_header"),
    (b"PUT /v1/reset HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400, "bad_content_length"),
    (b"PUT /v1/reset HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "bad_content_length"),
    (b"GET /v1/explain/%ff HTTP/1.1\r\n\r\n", 400, "bad_request_line"),
])
def test_malformed_requests(api: Emulator, data: bytes, status: int, code: str) -> None:
    with raw(api, data) as sock:
        got, headers, body, _ = read_response(sock)
    assert (got, json.loads(body)["error"]) == (status, code)
    assert headers["connection"] == "close"


def test_timeouts_and_connection_limits() -> None:
    with Emulator(TEST_TOPOLOGY, http=True, http_timeout=0.3, query_log=False) as quick:
        with raw(quick, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") as sock:  # the blank line never comes
            status, _, body, _ = read_response(sock)
            assert status == 408 and json.loads(body)["error"] == "timeout"
        with socket.create_connection(quick.app.http_address, timeout=5) as idle:
            assert idle.recv(1) == b""  # an idle connection is closed quietly
        assert call(quick, "GET", "/healthz").status == 200
        http_server = quick.app.http
        assert http_server is not None
        http_server.max_connections = 1
        with socket.create_connection(quick.app.http_address, timeout=5):
            busy = call(quick, "GET", "/v1/changes")
            assert busy.status == 503 and busy.json["error"] == "busy"
            assert busy.headers["connection"] == "close" and busy.headers["retry-after"] == "1"
            assert call(quick, "GET", "/healthz").status == 200  # probes pass the cap (tests/test_http_hostile.py)


def test_stop_closes_the_listener() -> None:
    emulator = Emulator(TEST_TOPOLOGY, http=True, query_log=False).start()
    address = emulator.app.http_address
    keep = http.client.HTTPConnection(*address, timeout=5)
    keep.request("GET", "/healthz")
    keep.getresponse().read()
    emulator.stop()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1).close()
    keep.close()


# --------------------------------------------------------------------------- dnsemu serve --http


def test_serve_with_http(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    env["DNSEMU_API_TOKEN"] = TOKEN
    proc = subprocess.Popen([sys.executable, "-m", "dnsemu", "serve", "--topology", str(TEST_TOPOLOGY), "--listen",
                             "127.0.0.1:0", "--http", "--http-listen", "127.0.0.1:0", "--api-changes", "--no-watch",
                             "--log-format", "json"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:2] == ["dnsemu", "ready"] and line[-1].startswith("http://127.0.0.1:"), line
        http_port = int(line[-1].rsplit(":", 1)[1])
        dns_port = int(line[2].rsplit(":", 1)[1])
        conn = http.client.HTTPConnection(HOST, http_port, timeout=5)
        conn.request("PUT", "/v1/private-dns-zones/corp.test/records/A/new", body=b'{"values": ["127.0.1.50"]}',
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        assert conn.getresponse().status == 200
        conn.close()
        reply = dns.query.udp(dns.message.make_query("new.corp.test", "A"), HOST, port=dns_port, source=ALPHA,
                              timeout=3)
        assert addresses(reply) == ["127.0.1.50"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        stderr = proc.stderr.read() if proc.stderr else ""
    assert TOKEN not in stderr


def test_serve_http_port_taken() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
        result = subprocess.run([sys.executable, "-m", "dnsemu", "serve", "--topology", str(TEST_TOPOLOGY),
                                 "--listen", "127.0.0.1:0", "--http", "--http-listen", f"{HOST}:{port}",
                                 "--no-watch"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
                                check=False)
    assert result.returncode == 1 and not result.stdout
    assert f"cannot listen on {HOST}:{port} (HTTP)" in result.stderr
