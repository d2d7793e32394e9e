"""compose.yaml without a Docker engine: the Compose schema, and agreement with zones/.

* the file validates against the Compose specification's JSON schema;
* every Docker network is a subnet of the estate network it is named after, and
  every address on it (dnsemu's, the client's, the gateway) classifies there with
  the real core, so dnsemu answers each container as a machine of that network;
* each client's DNS server is dnsemu's address on the client's own network;
* every ``docker compose run ... dig`` line in the file's comments is resolved with
  ``dnsemu.core.resolver.resolve`` from that client's address, and the answer
  matches what the comment claims after ``->``; the address table agrees too.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index
from dnsemu.core.resolution import Outcome
from dnsemu.core.resolver import resolve
from dnsemu.dns import names
from dnsemu.dns.records import Question, RRType, rdata_text
from dnsemu.topology.load import load_topology
from dnsemu.topology.loaded import LoadedTopology

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
SCHEMA = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "compose-spec.json"
TOPOLOGY = ROOT / "zones" / "topology.yaml"
EMULATOR = "dnsemu"
INTERNET = "internet"

COMPOSE_TEXT = COMPOSE.read_text(encoding="utf-8")
SPEC: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = SPEC["services"]
NETWORKS: dict[str, Any] = SPEC["networks"]
CLIENTS = {name: service for name, service in SERVICES.items() if name != EMULATOR}


@cache
def estate() -> tuple[LoadedTopology, Index]:
    loaded = load_topology(TOPOLOGY)
    return loaded, compile_topology(loaded)


def network_of(address: ipaddress.IPv4Address | str) -> str:
    """The estate network that dnsemu puts ``address`` in ("internet" for none)."""
    network, _ = estate()[1].classify(str(address))
    return INTERNET if network is None else network.name


def subnet(network: str) -> ipaddress.IPv4Network:
    (config,) = NETWORKS[network]["ipam"]["config"]
    return ipaddress.ip_network(config["subnet"])


def address_on(service: str, network: str) -> ipaddress.IPv4Address:
    return ipaddress.ip_address(SERVICES[service]["networks"][network]["ipv4_address"])


# --------------------------------------------------------------------------- schema


def test_validates_against_the_compose_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (the test extra)")
    if not SCHEMA.is_file():
        pytest.skip(f"the Compose schema is not at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(SPEC), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_mistakes() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (the test extra)")
    if not SCHEMA.is_file():
        pytest.skip(f"the Compose schema is not at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(SPEC))
    broken["services"]["hub-client"]["networks"]["hub"]["ipv4_addr"] = "10.0.2.4"  # a typo
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


# --------------------------------------------------------------------------- networks and addresses


def test_every_estate_network_has_a_docker_network_and_a_client() -> None:
    topology = estate()[0].topology
    expected = {*topology.virtual_networks, *topology.on_premises, INTERNET}
    assert set(NETWORKS) == expected
    assert set(CLIENTS) == {f"{network}-client" for network in expected}


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_docker_subnet_lies_inside_its_estate_network(network: str) -> None:
    prefix = subnet(network)
    assert prefix.prefixlen >= 16 and prefix.prefixlen <= 29
    wrong = [
        str(a) for a in (prefix.network_address, *prefix.hosts(), prefix.broadcast_address) if network_of(a) != network
    ]
    assert not wrong, f"{prefix}: {wrong[:3]} ... are not in {network}"
    (config,) = NETWORKS[network]["ipam"]["config"]
    gateway = ipaddress.ip_address(config["gateway"])
    assert gateway in prefix
    assert not NETWORKS[network].get("internal"), "clients reach everything else through Docker's DNS"


def test_docker_subnets_do_not_overlap() -> None:
    prefixes = [subnet(n) for n in NETWORKS]
    for i, a in enumerate(prefixes):
        for b in prefixes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_emulator_has_a_fixed_address_on_every_network(network: str) -> None:
    address = address_on(EMULATOR, network)
    assert address in subnet(network)
    assert network_of(address) == network


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_client_sits_in_the_network_it_is_named_after(client: str) -> None:
    network = client.removesuffix("-client")
    assert list(SERVICES[client]["networks"]) == [network], "one network per client"
    address = address_on(client, network)
    assert address in subnet(network)
    assert network_of(address) == network


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_client_asks_the_emulator_on_its_own_network(client: str) -> None:
    network = client.removesuffix("-client")
    service = SERVICES[client]
    assert service["dns"] == [str(address_on(EMULATOR, network))]
    assert service["depends_on"][EMULATOR]["condition"] == "service_healthy"
    assert "clients" in service.get("profiles", []), "`docker compose up` starts dnsemu alone"


def test_fixed_addresses_are_unique_and_not_the_gateway() -> None:
    seen: dict[str, str] = {}
    gateways = {c["gateway"] for n in NETWORKS.values() for c in n["ipam"]["config"]}
    for name, service in SERVICES.items():
        for network, attachment in service["networks"].items():
            address = attachment["ipv4_address"]
            assert address not in seen, f"{address}: {seen.get(address)} and {name}"
            assert address not in gateways, f"{name} on {network} has the gateway's address"
            seen[address] = name


def test_vm_addresses_match_the_estate() -> None:
    """A client that borrows a VM's address is that VM: its PTR answers in its VNet name it."""
    vms = {str(vm.private_ip_address): vm.virtual_network for vm in estate()[0].topology.virtual_machines.values()}
    for client in CLIENTS:
        network = client.removesuffix("-client")
        address = str(address_on(client, network))
        if address in vms:
            assert vms[address] == network


# --------------------------------------------------------------------------- the emulator service


def test_emulator_forwards_outside_names_to_dockers_embedded_dns() -> None:
    from dnsemu.server.settings import load_settings

    environment = {k: str(v) for k, v in SERVICES[EMULATOR]["environment"].items()}
    settings = load_settings({}, env=environment)
    assert settings.upstream_addresses == [("127.0.0.11", 53)]


def test_emulator_reads_the_zones_volume() -> None:
    service = SERVICES[EMULATOR]
    assert "./zones:/zones:ro" in service["volumes"]
    assert service.get("build") == "." and service.get("image") == "dnsemu"
    assert "command" not in service and "entrypoint" not in service, "the image's defaults serve /zones on :53"
    assert str(service["sysctls"]["net.ipv4.ip_unprivileged_port_start"]) == "0"


def test_healthcheck_is_the_images() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    (command,) = re.findall(r"^HEALTHCHECK .*?CMD (\[.*\])$", dockerfile, re.M)
    assert SERVICES[EMULATOR]["healthcheck"]["test"] == ["CMD", *json.loads(command)]


def test_client_image_has_dig() -> None:
    builds = {json.dumps(c["build"], sort_keys=True) for c in CLIENTS.values()}
    assert len(builds) == 1, "every client runs the same image"
    build = next(iter(CLIENTS.values()))["build"]
    dockerfile = ROOT / build["context"] / build["dockerfile"]
    text = dockerfile.read_text(encoding="utf-8")
    assert re.search(r"^FROM alpine:\d+\.\d+", text, re.M), "a pinned base image"
    assert "bind-tools" in text, "bind-tools ships dig"


# --------------------------------------------------------------------------- the walk-through in the comments


@dataclass(frozen=True)
class Claim:
    line: str
    client: str
    question: Question
    expected: str


DIG_LINE = re.compile(r"^#\s+docker compose run --rm (?P<client>\S+) dig (?P<args>.+?)\s+# -> (?P<expected>.+)$")


def claims() -> list[Claim]:
    found = []
    for line in COMPOSE_TEXT.splitlines():
        match = DIG_LINE.match(line)
        if not match:
            assert "docker compose run" not in line or "dig" not in line or "->" not in line, f"unparsed: {line}"
            continue
        words = [w for w in shlex.split(match["args"]) if not w.startswith("+") and not w.startswith("@")]
        if words[0] == "-x":
            name, qtype = ipaddress.ip_address(words[1]).reverse_pointer + ".", "PTR"
        else:
            name, qtype = words[0], (words[1] if len(words) > 1 else "A")
        question = Question(names.parse(name if name.endswith(".") else name + "."), RRType.make(qtype))
        found.append(Claim(line.strip("# "), match["client"], question, match["expected"].strip()))
    return found


CLAIMS = claims()


def test_the_walk_through_covers_every_client_and_the_issue_examples() -> None:
    assert {c.client for c in CLAIMS} == set(CLIENTS)
    by_client = {(c.client, c.question.name): c.expected for c in CLAIMS}
    assert by_client[("hub-client", "mystorage.blob.core.windows.net.")] == "10.0.1.4"
    assert by_client[("branch-client", "mystorage.blob.core.windows.net.")].startswith("203.0.113.")


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.client}:{c.question}")
def test_walk_through_line_resolves_as_claimed(claim: Claim) -> None:
    assert claim.client in CLIENTS, claim.line
    network = claim.client.removesuffix("-client")
    address = address_on(claim.client, network)
    result = resolve(estate()[1], claim.question, address)
    assert result.network == network or (network == INTERNET and result.network == INTERNET)
    if claim.expected in ("NXDOMAIN", "NODATA", "REFUSED", "SERVFAIL"):
        assert result.outcome is Outcome[claim.expected], claim.line
    elif claim.expected == "forwarded":
        assert result.outcome is Outcome.FORWARD, claim.line
    else:
        assert result.outcome is Outcome.ANSWER, claim.line
        final = [rdata_text(r.rtype, r.rdata) for r in result.answer if r.rtype == claim.question.qtype]
        assert final == [part.strip() for part in claim.expected.split(",")], claim.line


TABLE_ROW = re.compile(
    r"^#\s+(?P<network>[a-z0-9]+)\s+(?P<prefix>\S+)\s+(?P<subnet>\d\S+/\d+)\s+(?P<emulator>\S+)\s+"
    r"(?P<client>\S+-client)\s+(?P<address>\S+)"
)


def test_address_table_in_the_comments_is_true() -> None:
    rows = [m for m in map(TABLE_ROW.match, COMPOSE_TEXT.splitlines()) if m]
    assert {row["network"] for row in rows} == set(NETWORKS)
    topology = estate()[0].topology
    for row in rows:
        network = row["network"]
        site = topology.virtual_networks.get(network) or topology.on_premises.get(network)
        if site is None:
            assert row["prefix"] == "(none)"
        else:
            assert row["prefix"] in [str(p) for p in site.address_space]
        assert row["subnet"] == str(subnet(network))
        assert row["emulator"] == str(address_on(EMULATOR, network))
        assert row["client"] == f"{network}-client"
        assert row["address"] == str(address_on(row["client"], network))
