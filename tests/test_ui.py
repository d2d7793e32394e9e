"""The /ui page and the routes it draws from: over HTTP, then in a real headless Chromium.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them): they skip with that reason where they are missing, and fail under CI
(tests/conftest.py need_tool). Their screenshots are kept in
``$DNSEMU_ARTIFACTS/ui`` (default ``test-artifacts/ui``): desktop and phone widths,
light and dark.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest
from conftest import need_tool

from dnsemu.http.api import OPENAPI
from dnsemu.http.ui import BACKLOG, Subscriber
from dnsemu.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "zones" / "topology.yaml"
ARTIFACTS = Path(os.environ.get("DNSEMU_ARTIFACTS", ROOT / "test-artifacts")) / "ui"
HUB_VM = "10.0.2.4"


@pytest.fixture(scope="module")
def emulator():
    with Emulator(BUNDLED, http=True) as emulator:
        yield emulator


def get(emulator: Emulator, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = emulator.app.http_address
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def ask(emulator: Emulator, name: str, subnet: str | None = None) -> dns.message.Message:
    """A query from 127.0.0.1 sent by dnspython; with ``subnet``, as ECS says (dnsemu trusts loopback)."""
    options = [dns.edns.ECSOption(subnet, 32)] if subnet else []
    query = dns.message.make_query(name, "A", use_edns=0, options=options)
    return dns.query.udp(query, "127.0.0.1", port=emulator.port, timeout=5)


# -- the routes ---------------------------------------------------------------------------------------------------


def test_page_and_assets_come_from_the_package(emulator) -> None:
    status, headers, body = get(emulator, "/ui")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    page = body.decode()
    # nothing from another origin: every script, stylesheet and link is this server's own
    for attribute in ("src=", "href="):
        for value in page.split(attribute)[1:]:
            target = value.split('"')[1]
            assert target.startswith(("/", "#", "data:")), target
    for asset, kind in (("ui.js", "text/javascript"), ("ui.css", "text/css"), ("graph.css", "text/css")):
        status, headers, body = get(emulator, f"/ui/{asset}")
        assert status == 200 and headers["content-type"].startswith(kind) and body
        assert b"http://" not in body and b"https://" not in body
    status, _, body = get(emulator, "/ui/ui.html")
    assert status == 404 and json.loads(body)["error"] == "not_found"
    for path in ("/ui/..%2Fapi.py", "/ui/%2E%2E/%2E%2E/pyproject.toml", "/ui/ui.js/x"):
        assert get(emulator, path)[0] == 404


def test_every_route_is_described(emulator) -> None:
    from dnsemu.http.api import Api

    served = {("/" + "/".join(r.pattern), r.method.lower()) for r in Api(emulator.server).routes}
    for route in ("/ui", "/ui/{asset}", "/v1/graph", "/v1/sources", "/v1/queries/stream"):
        assert (route, "get") in served
        assert "get" in OPENAPI["paths"][route]


def test_graph_route_formats(emulator) -> None:
    status, headers, body = get(emulator, "/v1/graph")
    assert status == 200 and headers["content-type"] == "application/json"
    data = json.loads(body)
    assert {"vnet:hub", "inbound:hub-resolver/in1", "ruleset:spoke-rules"} <= {n["id"] for n in data["nodes"]}
    status, headers, body = get(emulator, "/v1/graph?format=svg&from=spoke1")
    assert status == 200 and headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(body)
    drawn = {g.get("data-node") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-node")}
    assert "vnet:spoke1" in drawn and "vnet:hub" not in drawn
    status, _, body = get(emulator, "/v1/graph?format=path&name=mystorage.blob.core.windows.net&from=spoke1")
    path = json.loads(body)
    assert status == 200 and path["deciding_node"] == "zone:privatelink.blob.core.windows.net."
    assert path["svg_ids"]["vnet:spoke1"] == "node-vnet_3Aspoke1"
    assert [s["code"] for s in path["steps"]][:2] == ["source", "client-dns"]
    status, _, body = get(
        emulator, "/v1/graph?format=path&name=mystorage.blob.core.windows.net&from=spoke1&collapse=true"
    )
    collapsed = json.loads(body)
    assert status == 200 and collapsed["deciding_node"] == "zone:privatelink.blob.core.windows.net."
    assert "zones:privatelink.file.core.windows.net." not in collapsed["svg_ids"]  # the path does not go there


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("format=png", "bad_parameter"),
        ("collapse=maybe", "bad_parameter"),
        ("name=x.example.com", "missing_parameter"),
        ("format=path&from=hub", "missing_parameter"),
        ("from=nowhere", "unknown_source"),
        ("name=bad..name&from=hub", "bad_parameter"),
        ("colour=red", "unknown_parameter"),
        ("format=svg&format=json", "repeated_parameter"),
    ],
)
def test_graph_route_refuses_bad_parameters(emulator, query: str, code: str) -> None:
    status, _, body = get(emulator, f"/v1/graph?{query}")
    assert status == 400 and json.loads(body)["error"] == code


def test_sources_for_the_form(emulator) -> None:
    status, _, body = get(emulator, "/v1/sources")
    sources = {s["name"]: s for s in json.loads(body)["sources"]}
    assert status == 200
    assert sources["hub"] == {"name": "hub", "kind": "vnet", "address": HUB_VM}
    assert sources["onprem"]["kind"] == "on_premises" and sources["hub-vm1"]["kind"] == "vm"
    assert sources["internet"]["kind"] == "internet"


def read_events(sock: socket.socket, until: str, timeout: float = 30.0) -> list[dict]:
    """Server-sent ``queries`` events until one carries ``until`` as its qname."""
    buffer, events = b"", []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            message, buffer = buffer.split(b"\n\n", 1)
            lines = message.decode().split("\n")
            if "event: queries" in lines:
                data = json.loads("\n".join(line[6:] for line in lines if line.startswith("data: ")))
                events.extend(data)
                if any(e["qname"] == until for e in data):
                    return events
    pytest.fail(f"no event for {until} in {timeout} s (got {events})")


def open_stream(emulator: Emulator) -> socket.socket:
    sock = socket.create_connection(emulator.app.http_address, timeout=30)
    sock.sendall(b"GET /v1/queries/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    assert headers["content-type"] == "text/event-stream; charset=utf-8" and "content-length" not in headers
    return sock


def test_query_stream_carries_each_query(emulator) -> None:
    sock = open_stream(emulator)
    try:
        deadline = time.monotonic() + 10
        while emulator.server.handler.observer is None and time.monotonic() < deadline:
            time.sleep(0.05)
        ask(emulator, "fabrikamstore.blob.core.windows.net", subnet=HUB_VM)
        ask(emulator, "fabrikamstore.blob.core.windows.net", subnet=HUB_VM)  # a reply-cache hit
        ask(emulator, "mystorage.blob.core.windows.net")
        events = read_events(sock, "mystorage.blob.core.windows.net.")
        hub = [e for e in events if e["qname"] == "fabrikamstore.blob.core.windows.net."]
        assert len(hub) == 2 and [e["cached"] for e in hub] == [False, True]
        assert {(e["view"], e["network"], e["rcode"], e["kind"], e["client"]) for e in hub} == {
            ("vnet:hub", "hub", "NXDOMAIN", "nxdomain_private", "127.0.0.1")
        }
        internet = events[-1]
        assert (internet["view"], internet["rcode"], internet["kind"]) == ("internet", "NOERROR", "public")
        assert isinstance(internet["time"], float)
    finally:
        sock.close()
    # the stream notices the client left (at its next write) and stops observing the handler
    deadline = time.monotonic() + 30
    while emulator.server.handler.observer is not None and time.monotonic() < deadline:
        ask(emulator, "mystorage.blob.core.windows.net")
        time.sleep(0.2)
    assert emulator.server.handler.observer is None


def test_stream_without_the_query_log() -> None:
    with Emulator(BUNDLED, http=True, query_log=False) as emulator:
        sock = open_stream(emulator)
        try:
            deadline = time.monotonic() + 10
            while emulator.server.handler.observer is None and time.monotonic() < deadline:
                time.sleep(0.05)
            ask(emulator, "contoso-kv.vault.azure.net", subnet=HUB_VM)
            events = read_events(sock, "contoso-kv.vault.azure.net.")
            assert events[-1]["kind"] == "private" and events[-1]["answer"].endswith("10.0.1.6")
            assert not emulator.server.handler.write_log
            assert not [q for q in emulator.queries if q.get("qname") == "contoso-kv.vault.azure.net."]
        finally:
            sock.close()


def test_a_slow_subscriber_drops_the_oldest() -> None:
    subscriber = Subscriber()
    for i in range(BACKLOG + 5):
        subscriber.push({"qname": f"q{i}."})
    assert subscriber.dropped == 5 and len(subscriber.queue) == BACKLOG
    assert subscriber.queue[0]["qname"] == "q5."


def test_stream_needs_the_token_and_the_page_does_not() -> None:
    with Emulator(BUNDLED, http=True, api_token="s3cret") as emulator:
        assert get(emulator, "/ui")[0] == 200 and get(emulator, "/ui/ui.js")[0] == 200
        for path in ("/v1/queries/stream", "/v1/graph", "/v1/sources"):
            assert get(emulator, path)[0] == 401
        status, _, body = get(emulator, "/v1/sources", {"Authorization": "Bearer s3cret"})
        assert status == 200 and json.loads(body)["sources"]


# -- in a browser ---------------------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def driver():
    # skipped on a developer's machine without them; a failure under CI, where .ci/run installs them
    chromium = need_tool("chromium", "chromium", *([CHROMIUM] if CHROMIUM else []))
    chromedriver = need_tool("chromedriver", "chromium-driver")
    from selenium import webdriver  # in the test extra
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for a browser online
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(chromedriver), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield chrome
    finally:
        chrome.quit()


def wait(driver, condition, timeout: float = 30.0, message: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver, selector: str) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def explain_in_page(driver, name: str, source: str) -> str:
    for field, value in (("q-name", name), ("q-from", source)):
        element = by_id(driver, field)
        element.clear()
        element.send_keys(value)
    before = by_id(driver, "dig").text
    by_id(driver, "q-submit").click()
    wait(
        driver,
        lambda d: by_id(d, "dig").text not in ("", before) and source_line(d, source),
        30,
        f"no answer for {name} from {source}",
    )
    return by_id(driver, "dig").text


def source_line(driver, source: str) -> bool:
    text = by_id(driver, "answer-summary").text
    return bool(text) and not text.startswith("Asking")


def test_the_page_in_chromium(emulator, driver) -> None:
    host, port = emulator.app.http_address
    driver.set_window_size(1280, 800)
    driver.get(f"http://{host}:{port}/ui")
    wait(driver, lambda d: len(css(d, "#drawing svg .node")) >= 30, message="the estate is not drawn")
    wait(driver, lambda d: "Connected" in by_id(d, "status").text, message="the live stream did not connect")
    assert by_id(driver, "token-form").is_displayed() is False

    # a private endpoint's name from a linked VNet: its private address, and the path over the drawing
    dig = explain_in_page(driver, "mystorage.blob.core.windows.net", "hub")
    assert "status: NOERROR" in dig and "10.0.1.4" in dig and "view: vnet:hub; answer: private" in dig
    wait(driver, lambda d: css(d, '#drawing .node.deciding[data-node="zone:privatelink.blob.core.windows.net."]'))
    on_path = {e.get_attribute("data-node") for e in css(driver, "#drawing .node.on-path")}
    assert {"vnet:hub", "azure:hub", "pe:pe-mystorage-blob"} <= on_path
    assert "vnet:spoke1" not in on_path
    assert css(driver, "#trace li.deciding")[0].text.endswith("answers A 10.0.1.4 — the deciding step")
    driver.save_screenshot(str(ARTIFACTS / "desktop-private.png"))

    # the same name from the internet: the public chain, no private address
    dig = explain_in_page(driver, "mystorage.blob.core.windows.net", "internet")
    assert "status: NOERROR" in dig and "answer: public" in dig
    words = " ".join(dig.split())
    assert "mystorage.blob.core.windows.net. 60 IN CNAME mystorage.privatelink.blob.core.windows.net." in words
    assert "IN CNAME blob." in words and " IN A 203.0.113." in words
    assert "10.0.1.4" not in dig
    on_path = {e.get_attribute("data-node") for e in css(driver, "#drawing .node.on-path")}
    assert on_path == {"internet", "public"}
    driver.save_screenshot(str(ARTIFACTS / "desktop-internet.png"))

    # a query sent by dnspython shows in the live stream
    ask(emulator, "fabrikamstore.blob.core.windows.net", subnet=HUB_VM)
    row = wait(
        driver,
        lambda d: next(
            (r for r in css(d, "#queries tbody tr") if "fabrikamstore.blob.core.windows.net." in r.text), None
        ),
        message="the query did not reach the live table",
    )
    cells = [c.text for c in row.find_elements("css selector", "td")]
    assert cells[1:] == [
        "127.0.0.1",
        "hub",
        "fabrikamstore.blob.core.windows.net.",
        "A",
        "nxdomain_private",
        "NXDOMAIN",
    ]
    driver.save_screenshot(str(ARTIFACTS / "desktop-live.png"))

    # filter and pause
    by_id(driver, "filter").send_keys("fabrikam")
    ask(emulator, "contoso-sql.database.windows.net", subnet=HUB_VM)
    wait(driver, lambda d: any("contoso-sql" in r.get_attribute("textContent") for r in css(d, "#queries tbody tr")))
    visible = [r.text for r in css(driver, "#queries tbody tr") if r.is_displayed()]
    assert visible and all("fabrikam" in text for text in visible)
    by_id(driver, "filter").clear()
    driver.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    by_id(driver, "pause").click()
    assert by_id(driver, "pause").get_attribute("aria-pressed") == "true"
    ask(emulator, "contoso-web.azurewebsites.net", subnet=HUB_VM)
    wait(driver, lambda d: "1 waiting" in by_id(d, "live-count").text, message="the paused table shows no backlog")
    assert not any("contoso-web" in r.text for r in css(driver, "#queries tbody tr"))
    by_id(driver, "pause").click()
    wait(driver, lambda d: any("contoso-web" in r.text for r in css(d, "#queries tbody tr")))

    # the keyboard alone: choose the newest query and explain it
    by_id(driver, "queries-wrap").send_keys("\ue015")  # ArrowDown
    by_id(driver, "queries-wrap").send_keys("\ue007")  # Enter
    wait(driver, lambda d: by_id(d, "q-name").get_attribute("value") == "contoso-web.azurewebsites.net.")
    wait(driver, lambda d: "10.0.1.11" in by_id(d, "dig").text)
    driver.find_element("tag name", "body").send_keys("/")
    assert driver.switch_to.active_element.get_attribute("id") == "q-name"

    # dark, then phone width: nothing wider than the screen
    by_id(driver, "theme").click()
    by_id(driver, "theme").click()
    assert driver.execute_script("return document.documentElement.dataset.theme") == "dark"
    background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    driver.save_screenshot(str(ARTIFACTS / "desktop-dark.png"))
    driver.set_window_size(390, 844)
    wait(driver, lambda d: d.execute_script("return window.innerWidth") <= 400)
    width, screen = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= screen, "the page is wider than a phone"
    driver.save_screenshot(str(ARTIFACTS / "phone-dark.png"))
    by_id(driver, "theme").click()  # back to automatic (light here)
    driver.save_screenshot(str(ARTIFACTS / "phone-light.png"))

    assert console_errors(driver) == []


def test_the_page_asks_for_the_token(driver) -> None:
    with Emulator(BUNDLED, http=True, api_token="s3cret") as emulator:
        host, port = emulator.app.http_address
        driver.set_window_size(1280, 800)
        driver.get(f"http://{host}:{port}/ui")
        wait(driver, lambda d: by_id(d, "token-form").is_displayed(), message="no token form")
        by_id(driver, "token").send_keys("s3cret\n")
        wait(driver, lambda d: len(css(d, "#drawing svg .node")) >= 30, message="the estate is not drawn")
        wait(driver, lambda d: "Connected" in by_id(d, "status").text, message="the stream did not reconnect")
        driver.get_log("browser")  # the 401s before the token are the server's answers, not page errors
        dig = explain_in_page(driver, "mystorage.blob.core.windows.net", "spoke1")
        assert "10.0.1.4" in dig
        assert console_errors(driver) == []
        driver.execute_script("sessionStorage.clear()")
