"""Strict types in topology files and API bodies: no silent coercion, one CNAME per name, errors that point.

A topology is a configuration format: ``ttl: true`` is not TTL 1, ``ttl: "60"`` is not
60, ``registration_enabled: "yes"`` is not a boolean, and an integer is not an IP
address. Each mistake is refused with the file, the line and the field (YAML), or a
4xx naming the field (the HTTP API of ``dnsemu serve --http --api-changes``).

A CNAME record set holds one value (RFC 2181 §10.1; Azure's record set has a single
``cnameRecord``, facts-2 §15 resource table), and a name with a CNAME holds nothing
else (RFC 1034 §3.6.2): in record sets, in inline master-file lines and in zone files,
whose problems name the zone file and its line.

TTLs are integers from 0 to 2147483647 (2^31-1) seconds: RFC 2181 §8 caps a TTL at
2^31-1, and Azure accepts that whole range on private DNS record sets, 0 included
(hashicorp/terraform-provider-azurerm#23917, fixed by #23933 to validate 0-2147483647).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import ALPHA, ROOT, TEST_TOPOLOGY

from dnsemu.topology.errors import Problem, TopologyError
from dnsemu.topology.load import load_topology

AZURE_MAX_TTL = 2147483647  # 2^31-1: RFC 2181 §8, and Azure's record-set TTL bound (module docstring)

ZONE = "private_dns_zones.corp.example"

TOPOLOGY = textwrap.dedent("""\
    virtual_networks:
      hub:
        address_space: [10.0.0.0/16]
    virtual_machines:
      vm1: {virtual_network: hub, private_ip_address: 10.0.1.10}
    private_dns_zones:
      corp.example:
        virtual_network_links:
          - virtual_network: hub
            registration_enabled: false
        records:
          - name: app
            type: A
            ttl: 60
            values: [10.0.1.4]
          - name: alias
            type: CNAME
            values: [app.corp.example.]
          - "web 60 A 10.0.1.5"
    public_dns:
      ttl: 60
    """)


def write(tmp_path: Path, text: str, **files: str) -> Path:
    for name, content in files.items():
        (tmp_path / name.replace("_", ".")).write_text(textwrap.dedent(content))
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    return info.value.problems


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of the only line that holds ``fragment``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(hits) == 1, (fragment, hits)
    return hits[0]


def assert_reported(problems: list[Problem], prefix: str, *fragments: str) -> None:
    """One problem reads ``prefix...`` (file:line: field: ...) and holds every fragment."""
    texts = [str(p) for p in problems]
    assert any(t.startswith(prefix) and all(f in t for f in fragments) for t in texts), (prefix, fragments, texts)


# --------------------------------------------------------------------------- YAML: no coercion

COERCIONS = [
    # (id, text replaced, replacement, field path, fragment of the message)
    ("ttl-true", "ttl: 60\n        values", "ttl: true\n        values", f"{ZONE}.records[0].ttl", "whole number"),
    ("ttl-string", "ttl: 60\n        values", 'ttl: "60"\n        values', f"{ZONE}.records[0].ttl", "whole number"),
    ("ttl-float", "ttl: 60\n        values", "ttl: 60.0\n        values", f"{ZONE}.records[0].ttl", "whole number"),
    ("registration-string", "registration_enabled: false", 'registration_enabled: "yes"',
     f"{ZONE}.virtual_network_links[0].registration_enabled", "true or false"),
    ("registration-integer", "registration_enabled: false", "registration_enabled: 1",
     f"{ZONE}.virtual_network_links[0].registration_enabled", "true or false"),
    ("public-ttl-true", "public_dns:\n  ttl: 60", "public_dns:\n  ttl: true", "public_dns.ttl", "whole number"),
    ("address-as-integer", "private_ip_address: 10.0.1.10", "private_ip_address: 167772426",
     "virtual_machines.vm1.private_ip_address", "IP address"),
    ("prefix-as-integer", "address_space: [10.0.0.0/16]", "address_space: [167772160]",
     "virtual_networks.hub.address_space[0]", "network"),
]


@pytest.mark.parametrize(("old", "new", "field", "fragment"), [c[1:] for c in COERCIONS],
                         ids=[c[0] for c in COERCIONS])
def test_yaml_values_of_the_wrong_type_are_refused(tmp_path: Path, old: str, new: str, field: str,
                                                   fragment: str) -> None:
    assert old in TOPOLOGY
    text = TOPOLOGY.replace(old, new, 1)
    path = write(tmp_path, text)
    line = next(i for i, (a, b) in enumerate(zip(TOPOLOGY.splitlines(), text.splitlines(), strict=True), 1) if a != b)
    assert_reported(problems_of(path), f"{path}:{line}: {field}: ", fragment)


def test_the_base_topology_loads_and_keeps_its_types(tmp_path: Path) -> None:
    loaded = load_topology(write(tmp_path, TOPOLOGY))
    link = loaded.topology.private_dns_zones["corp.example"].virtual_network_links[0]
    assert link.registration_enabled is False
    assert str(loaded.topology.virtual_machines["vm1"].private_ip_address) == "10.0.1.10"
    assert loaded.topology.private_dns_zones["corp.example"].records[0].ttl == 60


# --------------------------------------------------------------------------- YAML: TTL range


def test_ttl_range_is_azures_in_record_sets_and_lines(tmp_path: Path) -> None:
    """0 and 2^31-1 load; -1 and 2^31 are refused, in a record set and in a master-file line alike."""
    for ttl in (0, AZURE_MAX_TTL):
        text = TOPOLOGY.replace("ttl: 60\n        values", f"ttl: {ttl}\n        values").replace(
            '"web 60 A', f'"web {ttl} A')
        loaded = load_topology(write(tmp_path, text))
        assert {r.ttl for r in loaded.zone_records["corp.example."] if r.name.startswith(("app.", "web."))} == {ttl}
    for ttl in (-1, AZURE_MAX_TTL + 1):
        text = TOPOLOGY.replace("ttl: 60\n        values", f"ttl: {ttl}\n        values")
        path = write(tmp_path, text)
        assert_reported(problems_of(path), f"{path}:{line_of(text, f'ttl: {ttl}')}: {ZONE}.records[0].ttl: ")
    text = TOPOLOGY.replace('"web 60 A', f'"web {AZURE_MAX_TTL + 1} A')
    path = write(tmp_path, text)
    assert_reported(problems_of(path), f"{path}:{line_of(text, 'web ')}: {ZONE}.records[2]: ",
                    "over the maximum 2147483647")


# --------------------------------------------------------------------------- one CNAME per name


def test_cname_record_set_with_two_values_is_refused(tmp_path: Path) -> None:
    text = TOPOLOGY.replace("values: [app.corp.example.]", "values: [app.corp.example., web.corp.example.]")
    path = write(tmp_path, text)
    assert_reported(problems_of(path), f"{path}:{line_of(text, 'web.corp.example.]')}: {ZONE}.records[1].values: ",
                    "one value", "RFC 2181 §10.1")


def test_two_cname_lines_for_one_name_are_refused(tmp_path: Path) -> None:
    text = TOPOLOGY.replace('  - "web 60 A 10.0.1.5"\n',
                            '  - "two 60 CNAME app.corp.example."\n      - "two 60 CNAME web.corp.example."\n')
    path = write(tmp_path, text)
    assert_reported(problems_of(path), f"{path}:{line_of(text, 'CNAME web.corp')}: {ZONE}.records[3]: ",
                    "two.corp.example.", "one value")


def test_a_repeated_identical_cname_line_is_one_record(tmp_path: Path) -> None:
    """A record set is a set: the same CNAME written twice is one CNAME, not two values."""
    text = TOPOLOGY.replace('  - "web 60 A 10.0.1.5"\n',
                            '  - "two 60 CNAME app.corp.example."\n      - "two 60 CNAME APP.corp.example."\n')
    load_topology(write(tmp_path, text))


def with_zone_file(text: str) -> str:
    assert text.count("\n  corp.example:\n") == 1
    return text.replace("\n  corp.example:\n", "\n  corp.example:\n    zone_file: corp.zone\n")


def test_two_cnames_in_a_zone_file_name_the_file_and_line(tmp_path: Path) -> None:
    text = with_zone_file(TOPOLOGY)
    path = write(tmp_path, text, corp_zone="""\
        $TTL 60
        db    A     10.0.1.20
        data  CNAME db
        data  CNAME app
        """)
    assert_reported(problems_of(path), f"{tmp_path / 'corp.zone'}:4: record[data.corp.example. CNAME]: ",
                    "one value", "db.corp.example.")


def test_cname_beside_other_data_in_a_zone_file_names_the_file_and_line(tmp_path: Path) -> None:
    text = with_zone_file(TOPOLOGY)
    path = write(tmp_path, text, corp_zone="""\
        $TTL 60
        db    CNAME app
        db    TXT   "also here"
        """)
    assert_reported(problems_of(path), f"{tmp_path / 'corp.zone'}:3: record[db.corp.example. TXT]: ",
                    "CNAME and other data", "RFC 1034 §3.6.2")


@pytest.mark.parametrize(("lines", "reported"), [
    (["db A 10.0.0.1", "db CNAME app"], (3, "CNAME")),  # the CNAME makes the conflict
    (["db CNAME app", "db A 10.0.0.1", "db A 10.0.0.2"], (3, "A")),  # the first other type does, once
    (["db A 10.0.0.1", "db A 10.0.0.2", "db TXT \"t\"", "db CNAME app", "db AAAA fd00::1"], (5, "CNAME")),
])
def test_a_cname_beside_other_data_is_reported_once_where_it_starts(tmp_path: Path, lines: list[str],
                                                                    reported: tuple[int, str]) -> None:
    """RFC 1034 §3.6.2, whatever the order of the lines: one problem, at the record that makes the conflict
    (line 1 is $TTL), and nothing said again for the records after it."""
    text = with_zone_file(TOPOLOGY)
    path = write(tmp_path, text, corp_zone="$TTL 60\n" + "\n".join(lines) + "\n")
    problems = [p for p in problems_of(path) if "CNAME and other data" in p.message]
    line, rtype = reported
    assert [(p.line, p.path) for p in problems] == [(line, f"record[db.corp.example. {rtype}]")]


def test_cname_beside_inline_data_points_at_the_record(tmp_path: Path) -> None:
    text = TOPOLOGY.replace('"web 60 A 10.0.1.5"', '"alias 60 TXT \\"x\\""')
    path = write(tmp_path, text)
    assert_reported(problems_of(path), f"{path}:{line_of(text, 'alias 60 TXT')}: {ZONE}.records[2]: ",
                    "CNAME and other data")


# --------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """``dnsemu serve --http --api-changes`` on the test topology: (HTTP port, DNS port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    err = tmp_path_factory.mktemp("strict") / "serve.err"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "dnsemu", "serve", "--topology", str(TEST_TOPOLOGY),
                                 "--listen", "127.0.0.1:0", "--http", "--http-listen", "127.0.0.1:0",
                                 "--api-changes", "--no-watch"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    try:
        assert proc.stdout is not None
        words = proc.stdout.readline().split()
        assert words[:2] == ["dnsemu", "ready"] and words[-1].startswith("http://"), (words, err.read_text())
        yield int(words[-1].rsplit(":", 1)[1]), int(words[2].rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def put(port: int, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("PUT", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def changes_in_effect(port: int) -> list[Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/v1/changes")
        return json.loads(conn.getresponse().read())["changes"]
    finally:
        conn.close()


API_CASES = [
    ("ttl-true", "/v1/private-dns-zones/corp.test/records/A/new", {"ttl": True, "values": ["127.0.1.50"]},
     ".ttl: ", "whole number"),
    ("ttl-string", "/v1/private-dns-zones/corp.test/records/A/new", {"ttl": "60", "values": ["127.0.1.50"]},
     ".ttl: ", "whole number"),
    ("public-ttl-true", "/v1/public-dns-zones/example.test/records/A/new", {"ttl": True, "values": ["192.0.2.7"]},
     ".ttl: ", "whole number"),
    ("registration-yes", "/v1/private-dns-zones/corp.test/virtual-network-links/beta",
     {"registration_enabled": "yes"}, ".registration_enabled: ", "true or false"),
    ("two-cname-values", "/v1/private-dns-zones/corp.test/records/CNAME/two",
     {"values": ["app.corp.test.", "alias.corp.test."]}, ".values: ", "one value"),
    ("two-public-cname-values", "/v1/public-dns-zones/example.test/records/CNAME/two",
     {"values": ["www.example.test.", "big.example.test."]}, ".values: ", "one value"),
]


@pytest.mark.parametrize(("path", "body", "field", "fragment"), [c[1:] for c in API_CASES],
                         ids=[c[0] for c in API_CASES])
def test_api_refuses_wrong_types_naming_the_field(served: tuple[int, int], path: str, body: dict[str, Any],
                                                  field: str, fragment: str) -> None:
    http_port, _ = served
    status, reply = put(http_port, path, body)
    assert status == 422, (status, reply)
    assert reply["error"] == "invalid_change"
    assert any(field in p and fragment in p for p in reply["problems"]), reply
    assert changes_in_effect(http_port) == []


def test_api_cname_with_two_values_is_never_served(served: tuple[int, int]) -> None:
    http_port, dns_port = served
    status, _ = put(http_port, "/v1/private-dns-zones/corp.test/records/CNAME/two",
                    {"values": ["app.corp.test.", "alias.corp.test."]})
    assert status == 422
    reply = dns.query.udp(dns.message.make_query("two.corp.test", "CNAME"), "127.0.0.1", port=dns_port,
                          source=ALPHA, timeout=5)
    assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer, reply
