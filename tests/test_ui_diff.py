"""``GET /v1/diff`` over the real listener: the files against the live estate, ``--compare``, bounds, hostile input.

The test estate (tests/data/topology.yaml): alpha (127.0.1.0/24) links
privatelink.blob.core.windows.net and corp.test, beta (127.0.2.0/24) links corp.test
only. Every answer the route reports as changed is checked against what the running
server answers over DNS (dnspython, from a source address in the network), never
against the route itself.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import jsonschema
import pytest
import test_ui
import yaml
from conftest import ALPHA, BETA, ROOT, TEST_TOPOLOGY
from test_ui import ARTIFACTS, BUNDLED, by_id, console_errors, css, wait

from dnsemu.analysis import diff as analysis_diff
from dnsemu.http import diffview
from dnsemu.http.api import OPENAPI
from dnsemu.testing import Emulator
from dnsemu.topology.errors import TopologyError

HOST = "127.0.0.1"
SCHEMA = OPENAPI["paths"]["/v1/diff"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def call(emulator: Emulator, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = emulator.app.http_address
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        send = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            send["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=send)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def diff_of(emulator: Emulator, query: str = "") -> dict[str, Any]:
    status, headers, body = call(emulator, "GET", "/v1/diff" + (f"?{query}" if query else ""))
    assert status == 200, (status, body)
    assert headers["content-type"] == "application/json" and headers["cache-control"] == "no-store"
    data = json.loads(body)
    jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)
    return data


def error(emulator: Emulator, query: str, status: int, code: str, method: str = "GET") -> dict[str, Any]:
    got, _, body = call(emulator, method, "/v1/diff" + query)
    assert got == status, (got, body)
    data = json.loads(body)
    assert data["error"] == code, data
    return data


def put(emulator: Emulator, path: str, body: Any) -> None:
    status, _, reply = call(emulator, "PUT", path, body)
    assert status == 200, reply


def dig(emulator: Emulator, name: str, source: str, rdtype: str = "A") -> tuple[str, list[str]]:
    """What the running server answers (dnspython): the rcode and the address records."""
    reply = dns.query.udp(dns.message.make_query(name, rdtype), HOST, port=emulator.port, source=source, timeout=5)
    return dns.rcode.to_text(reply.rcode()), [r.to_text() for rrset in reply.answer for r in rrset
                                              if rrset.rdtype in (1, 28)]


def entry(data: dict[str, Any], name: str, rdtype: str = "A") -> dict[str, Any]:
    found = [e for e in data["entries"] if e["name"] == name and e["type"] == rdtype]
    assert len(found) == 1, [(e["name"], e["type"]) for e in data["entries"]]
    return found[0]


def addresses(answer: dict[str, Any]) -> list[str]:
    return [r["data"] for r in answer["answer"] if r["type"] in ("A", "AAAA")]


def sources(item: dict[str, Any]) -> set[str]:
    return {s["source"] for s in item["sources"]}


@pytest.fixture(scope="module")
def shared():
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False) as running:
        yield running


@pytest.fixture
def api(shared: Emulator):
    shared.reset()
    yield shared
    shared.check()


def write_estate(folder: Path, edit) -> Path:
    """The test estate with ``edit`` applied to its data, written as a topology file of its own."""
    data = yaml.safe_load(TEST_TOPOLOGY.read_text(encoding="utf-8"))
    edit(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "topology.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def link_beta(data: dict[str, Any]) -> None:
    data["private_dns_zones"]["privatelink.blob.core.windows.net"]["virtual_network_links"].append(
        {"virtual_network": "beta", "name": "beta-link"})


# --------------------------------------------------------------------------- the files against the live estate


def test_without_changes_no_answer_changes(api: Emulator) -> None:
    data = diff_of(api)
    assert data["identical"] is True and data["entries"] == [] and data["total"] == 0
    assert data["compare_available"] is False
    assert data["against"] == "files" and data["generation"] == api.server.generation
    assert data["before"]["estate"] == "files" and data["after"] == {
        "estate": "live", "label": f"served now (generation {api.server.generation})", "changes": 0}
    assert str(TEST_TOPOLOGY.parent) not in json.dumps(data)  # the file's name, never where it lives


def test_a_record_put_through_the_api_shows_before_and_after(api: Emulator) -> None:
    assert dig(api, "new.corp.test", ALPHA)[0] == "NXDOMAIN"
    put(api, "/v1/private-dns-zones/corp.test/records/A/new", {"ttl": 60, "values": ["127.0.1.77"]})
    data = diff_of(api)
    assert data["identical"] is False and data["after"]["changes"] == 1
    item = entry(data, "new.corp.test.")
    # both linked VNets see the new record; the internet does not (corp.test is private): no change there
    assert sources(item) == {"alpha", "beta"} and item["sources_total"] == 2
    assert item["before"]["rcode"] == "NXDOMAIN" and item["before"]["answer"] == []
    assert item["before"]["authority"][0]["type"] == "SOA" and item["before"]["short"].startswith("NXDOMAIN")
    assert item["after"]["rcode"] == "NOERROR" and addresses(item["after"]) == ["127.0.1.77"]
    assert item["after"]["answer"][0] == {"name": "new.corp.test.", "type": "A", "ttl": 60, "data": "127.0.1.77"}
    assert item["parts_at"]["step"] >= 1 and item["parts_at"]["before"] != item["parts_at"]["after"]
    # the server really answers so, from each network
    assert dig(api, "new.corp.test", ALPHA) == ("NOERROR", ["127.0.1.77"])
    assert dig(api, "new.corp.test", BETA) == ("NOERROR", ["127.0.1.77"])
    assert {e["name"] for e in data["entries"]} == {"new.corp.test."}  # nothing else changed
    assert data["summary"]["changes"] == 2 * len(data["entries"]) and data["summary"]["sources_changed"] == 2


def test_a_link_put_through_the_api_turns_the_public_chain_private(api: Emulator) -> None:
    name = "teststore.blob.core.windows.net."
    before_dns = dig(api, name, BETA)
    put(api, "/v1/private-dns-zones/privatelink.blob.core.windows.net/virtual-network-links/beta", {})
    data = diff_of(api, "match=teststore.blob")
    item = entry(data, name)
    assert sources(item) == {"beta"}
    assert item["before"]["answer_kind"] == "public" and item["after"]["answer_kind"] == "private"
    assert addresses(item["before"]) == before_dns[1] and addresses(item["before"])[0].startswith("203.0.113.")
    assert addresses(item["after"]) == ["127.0.1.4"] == dig(api, name, BETA)[1]
    chain = [(r["type"], r["data"]) for r in item["after"]["answer"]]
    assert chain[0] == ("CNAME", "teststore.privatelink.blob.core.windows.net.")
    assert all(name in e["name"] or "teststore" in e["name"] for e in data["entries"])


def test_results_are_kept_per_generation(api: Emulator) -> None:
    put(api, "/v1/private-dns-zones/corp.test/records/A/kept", {"values": ["127.0.1.78"]})
    first = diff_of(api)
    view = view_of(api)
    computed = view.computed
    again = diff_of(api, "limit=5")
    assert view.computed == computed and again["generation"] == first["generation"]
    put(api, "/v1/private-dns-zones/corp.test/records/A/kept2", {"values": ["127.0.1.79"]})
    later = diff_of(api)
    assert view.computed == computed + 1 and later["generation"] == first["generation"] + 1
    assert {"kept.corp.test.", "kept2.corp.test."} <= {e["name"] for e in later["entries"]}
    status, _, _ = call(api, "POST", "/v1/reset")
    assert status == 200
    reset = diff_of(api)
    assert reset["identical"] is True and reset["entries"] == []


def view_of(emulator: Emulator) -> diffview.DiffView:
    """The route's DiffView inside the running listener (to count the comparisons it made)."""
    assert emulator.app.api is not None
    return emulator.app.api.diff


def test_paging_and_match(api: Emulator) -> None:
    for i in range(5):
        put(api, f"/v1/private-dns-zones/corp.test/records/A/page{i}", {"values": [f"127.0.1.{90 + i}"]})
    whole = diff_of(api)
    names = [e["name"] for e in whole["entries"]]
    assert whole["total"] == len(names) and len(names) >= 5
    assert names == sorted(names, key=lambda n: tuple(reversed(n.rstrip(".").split("."))))  # DNS order
    page = diff_of(api, "offset=1&limit=2")
    assert [e["name"] for e in page["entries"]] == names[1:3] and page["total"] == len(names)
    assert page["offset"] == 1 and page["limit"] == 2
    assert diff_of(api, f"offset={len(names)}")["entries"] == []
    picked = diff_of(api, "match=PAGE3")
    assert [(e["name"], e["type"]) for e in picked["entries"]] == [
        ("page3.corp.test.", "A"), ("page3.corp.test.", "AAAA"), ("page3.corp.test.", "CNAME")]  # as diff asks
    assert picked["match"] == "page3"
    # NXDOMAIN before; after, the A record, and NODATA with the zone's SOA for the other types
    assert [e["after"]["outcome"] for e in picked["entries"]] == ["answer", "nodata", "nodata"]
    assert diff_of(api, "match=127.0.1.92")["total"] == 1  # an answer's address matches too
    assert diff_of(api, "match=beta")["total"] == len(names)  # a source matches
    assert diff_of(api, "match=nothing-like-this")["total"] == 0


# --------------------------------------------------------------------------- hostile and malformed requests


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?against=/etc/passwd", "bad_parameter"),
        ("?against=..%2F..%2Fzones%2Ftopology.yaml", "bad_parameter"),
        ("?against=file:///etc/passwd", "bad_parameter"),
        ("?compare=/etc/passwd", "unknown_parameter"),
        ("?path=/etc/passwd", "unknown_parameter"),
        ("?topology=/etc/passwd", "unknown_parameter"),
        ("?file=tests/data/topology.yaml", "unknown_parameter"),
        ("?against=files&against=compare", "repeated_parameter"),
        ("?limit=0", "bad_parameter"),
        ("?limit=501", "bad_parameter"),
        ("?limit=-1", "bad_parameter"),
        ("?limit=1e3", "bad_parameter"),
        ("?limit=%EF%BC%91", "bad_parameter"),  # a full-width digit is not a number here
        ("?limit=" + "9" * 5000, "bad_parameter"),
        ("?offset=-5", "bad_parameter"),
        ("?offset=99999999999", "bad_parameter"),
        ("?match=" + "x" * 201, "bad_parameter"),
    ],
)
def test_hostile_parameters_are_refused(api: Emulator, query: str, code: str) -> None:
    data = error(api, query, 400, code)
    assert "root:" not in data["message"] and len(data["message"]) < 400


def test_the_route_never_reads_a_path(api: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        opened.append(str(args[0]))
        raise AssertionError("the route loaded a topology")

    monkeypatch.setattr("dnsemu.topology.load.load_topology", refuse)
    monkeypatch.setattr("dnsemu.app.load_topology", refuse)
    error(api, "?against=" + str(TEST_TOPOLOGY), 400, "bad_parameter")
    assert error(api, "?against=compare", 404, "no_compare")["message"].endswith("--compare OTHER_TOPOLOGY")
    put(api, "/v1/private-dns-zones/corp.test/records/A/nopath", {"values": ["127.0.1.80"]})
    assert diff_of(api)["total"] >= 1
    assert opened == []


def test_methods_routes_and_token(api: Emulator) -> None:
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = call(api, method, "/v1/diff")
        assert status == 405 and headers["allow"] == "GET, HEAD"
    assert call(api, "GET", "/v1/diff/compare")[0] == 404
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, api_token="s3cret") as guarded:
        assert call(guarded, "GET", "/v1/diff")[0] == 401
        status, _, body = call(guarded, "GET", "/v1/diff", headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and json.loads(body)["identical"] is True


# --------------------------------------------------------------------------- off the event loop, bounded


def test_a_long_comparison_leaves_dns_answering(api: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = threading.Event()
    real = diffview.diff

    def slow(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(120), "never released"
        return real(*args, **kwargs)

    monkeypatch.setattr(diffview, "diff", slow)
    monkeypatch.setattr(diffview, "WAIT_SECONDS", 0.5)
    put(api, "/v1/private-dns-zones/corp.test/records/A/slow", {"values": ["127.0.1.81"]})
    try:
        status, headers, body = call(api, "GET", "/v1/diff")
        assert status == 202 and headers["retry-after"] == "2", body
        assert json.loads(body)["status"] == "computing"
        assert started.wait(60)
        # the comparison is running (in its thread): DNS and the rest of the API answer meanwhile
        assert dig(api, "slow.corp.test", ALPHA) == ("NOERROR", ["127.0.1.81"])
        assert call(api, "GET", "/healthz")[0] == 200
        assert call(api, "GET", "/v1/diff")[0] == 202  # the same comparison, still running: not a second one
    finally:
        release.set()
    deadline = time.monotonic() + 120
    while (reply := call(api, "GET", "/v1/diff"))[0] == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert reply[0] == 200 and "slow.corp.test." in {e["name"] for e in json.loads(reply[2])["entries"]}


def test_a_bug_in_the_comparison_is_a_500_and_not_kept(api: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the comparison")

    put(api, "/v1/private-dns-zones/corp.test/records/A/bug", {"values": ["127.0.1.82"]})
    monkeypatch.setattr(diffview, "diff", broken)
    status, _, body = call(api, "GET", "/v1/diff")
    assert status == 500 and b"a bug" not in body  # no detail to the client
    with pytest.raises(RuntimeError, match="a bug in the comparison"):
        api.check()
    monkeypatch.undo()
    assert "bug.corp.test." in {e["name"] for e in diff_of(api)["entries"]}  # the same generation, computed again


def test_the_reply_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    many = 200  # new names, each asked A, AAAA and CNAME: 600 entries

    def grow(data: dict[str, Any]) -> None:
        data["private_dns_zones"]["corp.test"]["records"] += [f"h{i} 60 A 127.0.1.{i % 250 + 1}"
                                                             for i in range(many)]

    other = write_estate(tmp_path / "other", grow)
    monkeypatch.setattr(diffview, "MAX_SOURCES", 1)
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, compare=str(other)) as emulator:
        first = diff_of(emulator, "against=compare")
        assert first["total"] == 3 * many and len(first["entries"]) == diffview.DEFAULT_LIMIT
        largest = diff_of(emulator, "against=compare&limit=500")
        assert len(largest["entries"]) == 500 and largest["total"] == 3 * many
        assert len(diff_of(emulator, "against=compare&limit=500&offset=500")["entries"]) == 3 * many - 500
        # an entry lists at most MAX_SOURCES sources, and says how many there are
        assert all(len(e["sources"]) == 1 and e["sources_total"] == 2 for e in largest["entries"])
        status, _, body = call(emulator, "GET", "/v1/diff?against=compare&limit=500")
        assert status == 200 and len(body) < 4 * 1024 * 1024
        error(emulator, "?against=compare&limit=1000", 400, "bad_parameter")


# --------------------------------------------------------------------------- --compare


def test_compare_with_another_estate(tmp_path: Path) -> None:
    other = write_estate(tmp_path / "proposed", link_beta)
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, compare=str(other)) as emulator:
        data = diff_of(emulator, "against=compare")
        assert data["compare_available"] is True
        assert data["before"]["estate"] == "live" and data["after"] == {
            "estate": "compare", "label": "--compare topology.yaml", "changes": 0}
        item = entry(data, "teststore.blob.core.windows.net.")
        assert sources(item) == {"beta"} and addresses(item["after"]) == ["127.0.1.4"]
        assert addresses(item["before"]) == dig(emulator, "teststore.blob.core.windows.net", BETA)[1]
        # what dnsemu diff itself reports for the two files: the same questions change
        report = analysis_diff.as_json(analysis_diff.diff(_estate(TEST_TOPOLOGY), _estate(other)))
        assert {(c["name"], c["type"], c["source"]) for c in report["changes"]} == {
            (e["name"], e["type"], s["source"]) for e in data["entries"] for s in e["sources"]}
        # the files against the live estate stay a comparison of their own
        assert diff_of(emulator)["identical"] is True
        # a run-time change that does what the other estate does: the two agree about teststore
        put(emulator, "/v1/private-dns-zones/privatelink.blob.core.windows.net/virtual-network-links/beta",
            {"name": "beta-link"})
        assert diff_of(emulator, "against=compare")["identical"] is True
        assert entry(diff_of(emulator), "teststore.blob.core.windows.net.")["after"]["answer_kind"] == "private"


def _estate(path: Path) -> Any:
    from dnsemu.cli.estate import read_estate

    return read_estate(str(path))


def test_compare_is_read_confined_like_the_topology(tmp_path: Path) -> None:
    (tmp_path / "secret.zone").write_text("$ORIGIN corp.test.\nleak 60 A 127.0.1.99\n", encoding="utf-8")

    def outside(data: dict[str, Any]) -> None:
        zone = data["private_dns_zones"]["corp.test"]
        zone.pop("records")
        zone["zone_file"] = "../secret.zone"

    other = write_estate(tmp_path / "other", outside)
    with pytest.raises(TopologyError) as caught:
        Emulator(TEST_TOPOLOGY, http=True, query_log=False, compare=str(other)).start()
    text = str(caught.value) + " ".join(str(p) for p in caught.value.problems)
    assert "secret.zone" in text and "127.0.1.99" not in text


def test_serve_compare_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    broken = tmp_path / "broken.yaml"
    broken.write_text("virtual_networks:\n  alpha: {address_space: [not-a-cidr]}\n", encoding="utf-8")
    base = [sys.executable, "-m", "dnsemu", "serve", "--topology", str(TEST_TOPOLOGY), "--listen", "127.0.0.1:0",
            "--http", "--http-listen", "127.0.0.1:0", "--no-watch", "--log-format", "json"]
    result = subprocess.run([*base, "--compare", str(broken)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2 and not result.stdout
    assert f"--compare {broken}: invalid topology" in result.stderr and "broken.yaml" in result.stderr
    other = write_estate(tmp_path / "proposed", link_beta)
    proc = subprocess.Popen([*base, "--compare", str(other)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:2] == ["dnsemu", "ready"], line
        port = int(line[-1].rsplit(":", 1)[1])
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        conn.request("GET", "/v1/diff?against=compare")
        response = conn.getresponse()
        data = json.loads(response.read())
        conn.close()
        assert response.status == 200
        assert "teststore.blob.core.windows.net." in {e["name"] for e in data["entries"]}
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_compare_in_a_settings_file_is_relative_to_it(tmp_path: Path) -> None:
    from dnsemu.server.settings import load_settings

    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "dnsemu.yaml"
    config.write_text("compare: ../proposed/topology.yaml\n", encoding="utf-8")
    settings = load_settings({}, env={}, config_file=config)
    assert settings.compare == tmp_path / "conf" / ".." / "proposed" / "topology.yaml"


# --------------------------------------------------------------------------- the Changes panel, in Chromium

driver = test_ui.driver  # the module's headless Chromium (a fixture), as tests/test_ui.py starts it
NEW_NAME = "newacct.privatelink.blob.core.windows.net."


def panel_rows(driver) -> list:
    return css(driver, "#diff-table tbody tr")


def row_for(driver, name: str, rdtype: str = "A"):
    for row in panel_rows(driver):
        cells = row.find_elements("css selector", "td")
        if cells[1].text == name and cells[2].text == rdtype:
            return row
    return None


def test_the_changes_panel_in_chromium(driver) -> None:
    with Emulator(BUNDLED, http=True) as emulator:
        host, port = emulator.app.http_address
        driver.set_window_size(1280, 800)
        driver.get(f"http://{host}:{port}/ui")
        wait(driver, lambda d: by_id(d, "diff-empty").is_displayed(), message="no empty state")
        assert by_id(driver, "diff-empty").text == "no answer changes"
        assert "No answer changes" in by_id(driver, "diff-status").text
        # the server has no --compare: the page does not offer it
        assert driver.execute_script("return document.querySelector('#diff-against option[value=compare]').hidden")

        # a change through the API: the panel sees it without a reload of the page
        put(emulator, "/v1/private-dns-zones/privatelink.blob.core.windows.net/records/A/newacct",
            {"ttl": 10, "values": ["10.0.1.99"]})
        row = wait(driver, lambda d: row_for(d, NEW_NAME), message="the change did not reach the panel")
        cells = row.find_elements("css selector", "td")
        assert "hub" in cells[0].text.split(", ")
        before, after = cells[3], cells[4]
        assert ";; status: NXDOMAIN" in before.text and "10.0.1.99" not in before.text
        assert ";; status: NOERROR, private" in after.text
        added = [line.text for line in after.find_elements("css selector", ".line.added")]
        assert added == [f"{NEW_NAME}\t10\tIN\tA\t10.0.1.99".replace("\t", " ")] or any(
            "10.0.1.99" in text and "IN A" in " ".join(text.split()) for text in added)
        # side by side: before on the left, after on the right, on one line
        b, a = before.rect, after.rect
        assert a["x"] >= b["x"] + b["width"] - 1 and abs(a["y"] - b["y"]) < 2
        assert "before: the topology files (topology.yaml)" in by_id(driver, "diff-before").text
        assert "after: served now (generation 2)" in by_id(driver, "diff-after").text
        driver.save_screenshot(str(ARTIFACTS / "changes-desktop.png"))

        # filtered
        by_id(driver, "diff-filter").send_keys("no-such-name")
        wait(driver, lambda d: by_id(d, "diff-empty").is_displayed(), message="the filter did not empty the panel")
        assert "no answer changes match" in by_id(driver, "diff-empty").text
        by_id(driver, "diff-filter").clear()
        by_id(driver, "diff-filter").send_keys("newacct")
        wait(driver, lambda d: panel_rows(d) and all("newacct" in r.text for r in panel_rows(d)))

        # the keyboard alone: choose the first change and ask it from its first source, in the live estate
        by_id(driver, "diff-wrap").send_keys("\ue015")  # ArrowDown
        by_id(driver, "diff-wrap").send_keys("\ue007")  # Enter
        wait(driver, lambda d: by_id(d, "q-name").get_attribute("value") == NEW_NAME)
        first = panel_rows(driver)[0]
        assert by_id(driver, "q-type").get_attribute("value") == first.find_elements("css selector", "td")[2].text
        assert by_id(driver, "q-from").get_attribute("value") == first.get_attribute("data-from")
        wait(driver, lambda d: "10.0.1.99" in by_id(d, "dig").text, message="the live estate did not answer")
        # a click does the same
        by_id(driver, "q-name").clear()
        row_for(driver, NEW_NAME).click()
        wait(driver, lambda d: by_id(d, "q-name").get_attribute("value") == NEW_NAME)

        # dark, and phone width: still side by side, nothing wider than the screen
        driver.execute_script("document.documentElement.dataset.theme = 'dark'")
        driver.save_screenshot(str(ARTIFACTS / "changes-desktop-dark.png"))
        driver.set_window_size(390, 844)
        wait(driver, lambda d: d.execute_script("return window.innerWidth") <= 400)
        width, screen = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= screen, "the page is wider than a phone"
        row = row_for(driver, NEW_NAME)
        driver.execute_script("arguments[0].scrollIntoView()", row)
        before, after = row.find_elements("css selector", "td")[3:5]
        assert after.rect["x"] > before.rect["x"] and abs(after.rect["y"] - before.rect["y"]) < 2
        driver.save_screenshot(str(ARTIFACTS / "changes-phone-dark.png"))
        driver.execute_script("delete document.documentElement.dataset.theme")
        driver.save_screenshot(str(ARTIFACTS / "changes-phone-light.png"))
        driver.set_window_size(1280, 800)

        # back to the files: the panel empties again
        by_id(driver, "diff-filter").clear()
        assert call(emulator, "POST", "/v1/reset")[0] == 200
        wait(driver, lambda d: by_id(d, "diff-empty").is_displayed() and not panel_rows(d),
             message="the reset did not reach the panel")
        assert console_errors(driver) == []


def test_the_changes_panel_compares_with_the_operators_estate(driver, tmp_path: Path) -> None:
    proposed = write_estate(tmp_path / "proposed", link_beta)
    with Emulator(TEST_TOPOLOGY, http=True, compare=str(proposed)) as emulator:
        host, port = emulator.app.http_address
        driver.set_window_size(1280, 800)
        driver.get(f"http://{host}:{port}/ui")
        wait(driver, lambda d: by_id(d, "diff-empty").is_displayed(), message="no empty state")
        option = wait(driver, lambda d: next(iter(css(d, '#diff-against option[value="compare"]:not([hidden])')), None),
                      message="the page does not offer the --compare estate")
        from selenium.webdriver.support.ui import Select

        Select(by_id(driver, "diff-against")).select_by_value(option.get_attribute("value"))
        row = wait(driver, lambda d: row_for(d, "teststore.blob.core.windows.net."), message="no change shown")
        cells = row.find_elements("css selector", "td")
        assert cells[0].text == "beta" and "after: --compare topology.yaml" in by_id(driver, "diff-after").text
        assert "203.0.113." in cells[3].text and "127.0.1.4" in cells[4].text
        driver.save_screenshot(str(ARTIFACTS / "changes-compare.png"))
        assert console_errors(driver) == []
