"""`dnsemu import --azure`, offline: the Azure SDKs talk to an azure-core HttpTransport that replays
responses recorded in-house (the bundled estate's Azure side, paged), never to Azure (facts §15.3, §15.7)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("azure.mgmt.resourcegraph", reason="needs the azure extra: pip install -e '.[azure]'")

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl

from dnsemu.analysis.explain import source_address
from dnsemu.core.compile import compile_topology
from dnsemu.importer import live
from dnsemu.importer.arm import Context
from dnsemu.importer.pipeline import import_files, write
from dnsemu.topology.load import load_topology
from tests.test_import import BUNDLED, DATA, answers, known_names, with_overlay

ARM = "https://management.azure.com"


class _Response(HttpResponseImpl):
    def __init__(self, request: Any, status: int, body: Any) -> None:
        content = json.dumps(body).encode()
        super().__init__(
            request=request,
            internal_response=None,
            status_code=status,
            reason="OK" if status == 200 else "Error",
            content_type="application/json",
            headers={"Content-Type": "application/json", "Content-Length": str(len(content))},
            stream_download_generator=None,
        )
        self._content = content
        self._is_stream_consumed = True

    def close(self) -> None:
        self._is_closed = True


class ReplayTransport(HttpTransport):
    """Answers each request from ``routes``: path (lower case) → handler(request) → (status, JSON)."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, Any] | None, str | None]] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url, body, request.headers.get("Authorization")))
        parts = urlsplit(request.url)
        handler = self.routes.get(parts.path.lower())
        if handler is None:
            return _Response(request, 404, {"error": {"code": "NotFound", "message": f"no recording for {parts.path}"}})
        status, payload = handler(request, body, parse_qs(parts.query))
        return _Response(request, status, payload)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> ReplayTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass


class FakeCredential:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken("recorded-token", int(time.time()) + 3600)


def _graph_pages() -> tuple[list[dict], list[dict]]:
    folder = DATA / "resource-graph"
    rows = []
    for name in ("resources.0.json", "resources.1.json"):
        rows += json.loads((folder / name).read_text())["data"]
    records = json.loads((folder / "dnsresources.0.json").read_text())["data"]
    return rows, records


def recorded_estate(fail: set[str] | None = None) -> ReplayTransport:
    """Recordings of the bundled estate: Resource Graph in pages of 20 rows, zone groups per endpoint,
    rules in two pages (nextLink), ruleset links; ``fail`` names paths that answer 403."""
    rows, records = _graph_pages()
    fail = fail or set()

    def graph(request: Any, body: dict, query: dict) -> tuple[int, Any]:
        table = rows if body["query"].startswith("resources") else records
        assert body["options"]["resultFormat"] == "objectArray"
        top = body["options"]["$top"]
        start = int(body["options"].get("$skipToken") or 0)
        page = table[start : start + top]
        token = str(start + top) if start + top < len(table) else None
        out: dict[str, Any] = {"totalRecords": len(table), "count": len(page), "resultTruncated": "false", "data": page}
        if token:
            out["$skipToken"] = token
        return 200, out

    routes: dict[str, Any] = {"/providers/microsoft.resourcegraph/resources": graph}
    groups = json.loads((DATA / "arm" / "privateDnsZoneGroups.json").read_text())["value"]
    for row in rows:
        if row["type"] == "microsoft.network/privateendpoints":
            path = f"{row['id']}/privateDnsZoneGroups".lower()
            mine = [g for g in groups if g["id"].lower().startswith(row["id"].lower() + "/")]
            if path in fail:
                routes[path] = lambda r, b, q: (403, {"error": {"code": "AuthorizationFailed", "message": "no read"}})
            else:
                routes[path] = lambda r, b, q, mine=mine: (200, {"value": mine})
    rules = json.loads((DATA / "arm" / "forwardingRules.json").read_text())["value"]
    links = json.loads((DATA / "arm" / "rulesetVirtualNetworkLinks.json").read_text())["value"]
    ruleset = next(r["id"] for r in rows if r["type"] == "microsoft.network/dnsforwardingrulesets")
    rules_path = f"{ruleset}/forwardingRules".lower()

    def rule_pages(request: Any, body: Any, query: dict) -> tuple[int, Any]:
        if "page" in query:
            return 200, {"value": rules[5:]}
        return 200, {"value": rules[:5], "nextLink": f"{ARM}{ruleset}/forwardingRules?api-version=2022-07-01&page=2"}

    routes[rules_path] = rule_pages
    routes[f"{ruleset}/virtualNetworkLinks".lower()] = lambda r, b, q: (200, {"value": links})
    return ReplayTransport(routes)


def test_live_import_answers_as_the_bundled_estate(tmp_path: Path) -> None:
    transport = recorded_estate()
    credential = FakeCredential()
    ctx = Context()
    facts = live.read_estate(
        ctx, ["6f1c2b7e-3d4a-4e5f-9a8b-1c2d3e4f5a6b"], credential=credential, transport=transport, page_size=20
    )
    result = import_files([], tmp_path / "estate.yaml", extra_facts=facts, ctx=ctx, extra_sources=["Azure"])
    write(result)
    assert not result.findings, result.findings
    # paging: Resource Graph was asked until its skip token ran out, the rules' nextLink was followed
    graph_calls = [body for method, url, body, _ in transport.requests if "Microsoft.ResourceGraph" in url]
    rows, records = _graph_pages()
    assert len(graph_calls) == -(-len(rows) // 20) + -(-len(records) // 20)
    assert [c["options"].get("$skipToken") for c in graph_calls[:3]] == [None, "20", "40"]
    assert all(c["subscriptions"] == ["6f1c2b7e-3d4a-4e5f-9a8b-1c2d3e4f5a6b"] for c in graph_calls)
    assert any("page=2" in url for _, url, _, _ in transport.requests)
    # only Azure Resource Manager, always with the credential's token, only reads
    assert {urlsplit(url).netloc for _, url, _, _ in transport.requests} == {"management.azure.com"}
    assert all(auth == "Bearer recorded-token" for *_, auth in transport.requests)
    assert {m for m, *_ in transport.requests} <= {"GET", "POST"}
    assert all(m == "GET" for m, url, *_ in transport.requests if "ResourceGraph" not in url)
    assert set(credential.scopes) == {"https://management.azure.com/.default"}
    # and the estate answers as the bundled one does
    bundled = load_topology(BUNDLED)
    index = compile_topology(bundled)
    t = bundled.topology
    sources = {n: source_address(t, index, n) for n in [*t.virtual_networks, *t.on_premises, "internet"]}
    imported = load_topology(with_overlay(tmp_path / "estate.yaml"))
    names_ = known_names(index) | known_names(compile_topology(imported))
    assert answers(imported, sources, names_) == answers(bundled, sources, names_)
    assert "# Imported by dnsemu import from: Azure" in (tmp_path / "estate.yaml").read_text()


def test_a_parent_the_reader_cannot_list_is_a_finding(tmp_path: Path) -> None:
    rows, _ = _graph_pages()
    pe = next(r["id"] for r in rows if r["name"] == "pe-sql")
    transport = recorded_estate(fail={f"{pe}/privateDnsZoneGroups".lower()})
    ctx = Context()
    facts = live.read_estate(ctx, [], credential=FakeCredential(), transport=transport)
    assert [str(f) for f in ctx.findings] == [
        f"live-read [{pe}]: listing its privateDnsZoneGroups failed (403): no read; they are missing"
    ]
    result = import_files([], tmp_path / "t.yaml", extra_facts=facts, ctx=ctx)
    assert "private_dns_zone_group" not in result.built.data["private_endpoints"]["pe-sql"]
    # an empty subscription list asks Resource Graph for every subscription the caller can read
    body = next(b for _, url, b, _ in transport.requests if "ResourceGraph" in url)
    assert "subscriptions" not in body


def test_resource_graph_refusing_is_a_clear_error() -> None:
    transport = ReplayTransport(
        {
            "/providers/microsoft.resourcegraph/resources": lambda r, b, q: (
                403,
                {"error": {"code": "AuthorizationFailed", "message": "The client has no access"}},
            )
        }
    )
    with pytest.raises(live.LiveError, match=r"Resource Graph refused the resources query \(403\)"):
        live.read_estate(Context(), [], credential=FakeCredential(), transport=transport)


def test_the_cli_says_which_extra_is_missing(tmp_path: Path, monkeypatch, capsys) -> None:
    from dnsemu.cli import main

    monkeypatch.setitem(sys.modules, "azure.mgmt.resourcegraph", None)
    code = main(["import", "--azure", "-o", str(tmp_path / "t.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "dnsemu import --azure: the live import needs the azure extra: pip install 'dnsemu[azure]'" in err
    assert not (tmp_path / "t.yaml").exists()


def test_virtual_hub_connections_are_listed_per_hub(tmp_path: Path) -> None:
    """Resource Graph lists the hub; its virtual network connections come from one list call per hub (§12.4)."""
    sub = "6f1c2b7e-3d4a-4e5f-9a8b-1c2d3e4f5a6b"
    hub = f"/subscriptions/{sub}/resourceGroups/rg-wan/providers/Microsoft.Network/virtualHubs/vhub-eastus"
    vnet = f"/subscriptions/{sub}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/app"

    def row(rid: str, rtype: str, props: dict[str, Any]) -> dict[str, Any]:
        rg = rid.split("/")[4]
        return {
            "id": rid,
            "name": rid.rsplit("/", 1)[1],
            "type": rtype,
            "location": "eastus",
            "resourceGroup": rg,
            "subscriptionId": sub,
            "properties": props,
        }

    rows = [
        row(hub, "microsoft.network/virtualhubs", {"addressPrefix": "10.100.0.0/23"}),
        row(vnet, "microsoft.network/virtualnetworks", {"addressSpace": {"addressPrefixes": ["10.51.0.0/16"]}}),
    ]
    connection = {
        "id": f"{hub}/hubVirtualNetworkConnections/app-conn",
        "name": "app-conn",
        "type": "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
        "properties": {"remoteVirtualNetwork": {"id": vnet}, "enableInternetSecurity": True},
    }
    routes: dict[str, Any] = {
        "/providers/microsoft.resourcegraph/resources": lambda r, b, q: (
            200,
            {"totalRecords": 2, "count": 2, "data": rows if b["query"].startswith("resources") else []},
        ),
        f"{hub}/hubVirtualNetworkConnections".lower(): lambda r, b, q: (200, {"value": [connection]}),
    }
    transport = ReplayTransport(routes)
    ctx = Context()
    facts = live.read_estate(ctx, [sub], credential=FakeCredential(), transport=transport)
    result = import_files([], tmp_path / "t.yaml", extra_facts=facts, ctx=ctx)
    assert not result.findings, result.findings
    assert result.built.data["virtual_hubs"]["vhub-eastus"]["virtual_network_connections"] == ["app"]
    assert any(
        url.lower().split("?")[0].endswith("/hubvirtualnetworkconnections") for _, url, _, _ in transport.requests
    )
