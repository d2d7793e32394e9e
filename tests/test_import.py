"""`dnsemu import`: every export format of the bundled estate imports to a topology that
answers as the bundled estate does; bad inputs get a message naming the file and JSON path;
inconsistencies are findings with the resource ID; nothing is dropped silently (facts §15)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dnsemu.analysis.explain import source_address
from dnsemu.cli import main
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.importer.pipeline import import_files, write
from dnsemu.topology.load import load_topology, load_topology_data

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "import"
BUNDLED = ROOT / "zones" / "topology.yaml"
OVERLAY = DATA / "onprem-overlay.yaml"
FORMATS = ["resource-graph", "arm", "azcli", "terraform-state.json", "terraform-plan.json"]
SUB = "6f1c2b7e-3d4a-4e5f-9a8b-1c2d3e4f5a6b"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def deep_merge(into: dict, other: dict) -> dict:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def with_overlay(path: Path) -> Path:
    """The imported topology with the stubs filled in from the overlay, beside it."""
    data = yaml.safe_load(path.read_text())
    deep_merge(data, yaml.safe_load(OVERLAY.read_text()))
    filled = path.with_name("filled.yaml")
    filled.write_text(yaml.safe_dump(data, sort_keys=False))
    return filled


# -- what the estate knows, and how it answers -----------------------------------------------------


def known_names(index) -> set[str]:
    """Every owner name of every zone the estate compiles to (private, public, Azure-provided), the
    forwarding rules' domains, and a name missing from each zone."""
    out: set[str] = set()
    zones = list(index.private_zones.values()) + list(index.public.zones.values())
    for view in index.views.values():
        zones.extend(link.zone for link in view.links.values())
    for zone in zones:
        if zone.kind == "local":
            continue
        out.add(zone.name)
        out.add("no-such-name." + zone.name)
        for record in zone.records():
            out.add(record.name)
    for hop in index.azure_dns.values():
        for domain in hop.rules:
            if domain != ".":
                out.update({domain, "host." + domain})
    return out


TYPES = [RRType.A, RRType.AAAA, RRType.CNAME, RRType.TXT, RRType.SRV, RRType.PTR, RRType.SOA]


def answers(loaded, sources: dict[str, Any], names_: set[str]) -> dict[tuple[str, str, int], tuple]:
    index = compile_topology(loaded)
    out = {}
    for source, address in sources.items():
        for name in names_:
            for qtype in TYPES:
                r = resolve(index, Question(name, qtype), address)
                forward = (r.forward.name, r.forward.qtype, str(r.forward.via)) if r.forward else None
                out[(source, name, qtype)] = (
                    r.outcome.value,
                    r.rcode.name,
                    tuple(x.text() for x in r.answer),
                    tuple(x.text() for x in r.authority),
                    r.source.value,
                    forward,
                )
    return out


@pytest.fixture(scope="module")
def bundled():
    loaded = load_topology(BUNDLED)
    index = compile_topology(loaded)
    t = loaded.topology
    sources = {n: source_address(t, index, n) for n in [*t.virtual_networks, *t.on_premises, "internet"]}
    sources.update({vm: v.private_ip_address for vm, v in t.virtual_machines.items()})
    return loaded, sources, known_names(index)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_answers_as_the_bundled_estate(fmt: str, tmp_path: Path, bundled, capsys) -> None:
    """§15: Resource Graph (+ the CLI calls for what it lacks), ARM, az CLI, terraform state (azurerm v5)
    and plan (azurerm v4, new resources without IDs): every (network, name, type) answers alike."""
    out = tmp_path / "estate.yaml"
    code, stdout, err = run(capsys, "import", str(DATA / fmt), "-o", str(out))
    assert code == 0, err
    assert "on_premises.onprem" in stdout and "to fill in" in stdout
    filled = with_overlay(out)
    loaded_bundled, sources, names_ = bundled
    imported = load_topology(filled)
    names_ |= known_names(compile_topology(imported))
    expected = answers(loaded_bundled, sources, names_)
    got = answers(imported, sources, names_)
    differences = [(k, expected[k], got[k]) for k in expected if expected[k] != got[k]]
    assert not differences, differences[:5]
    assert len(expected) > 5000  # the comparison covers the estate, not a handful of names
    # and the filled-in estate is clean under its own accept list, as the bundled one is
    code, stdout, _ = run(capsys, "check", str(filled))
    assert code == 0, stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_is_deterministic_and_checks(fmt: str, tmp_path: Path, capsys) -> None:
    first, second = tmp_path / "a" / "estate.yaml", tmp_path / "b" / "estate.yaml"
    for out in (first, second):
        code, _, err = run(capsys, "import", str(DATA / fmt), "-o", str(out))
        assert code == 0, err
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    # every entry names its Azure resource
    assert (
        f"# /subscriptions/{SUB}/resourceGroups/rg-endpoints/providers/Microsoft.Network/privateEndpoints/pe-acr"
        in text
    )
    assert "# STUB:" in text
    # without the on-premises part, check finds only what a stub site without forwarders explains, and
    # what the estate has on purpose (its accept list is no Azure resource: the overlay holds it)
    code, stdout, _ = run(capsys, "check", str(first))
    assert code in (0, 1)
    codes = {line.split(" ")[1] for line in stdout.splitlines() if line.startswith("- ")}
    assert codes <= {"endpoint-resolves-public", "connection-not-approved", "ruleset-rule-shadowed"}, stdout


def test_plan_resolves_references_of_resources_to_be_created(tmp_path: Path, capsys) -> None:
    """A plan's new resources have no ID and refer to each other through configuration references
    (through a module output indexed by for_each key): the import spells their IDs and follows them."""
    out = tmp_path / "plan.yaml"
    code, _, err = run(capsys, "import", str(DATA / "terraform-plan.json"), "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "(terraform: azurerm_private_dns_resolver_dns_forwarding_ruleset.spoke (to be created: no ID yet))" in text
    t = load_topology(out).topology
    assert t.dns_forwarding_rulesets["spoke-rules"].virtual_network_links == ["spoke2"]
    links = t.private_dns_zones["privatelink.blob.core.windows.net"].virtual_network_links
    assert [(link.virtual_network, link.resolution_policy) for link in links] == [
        ("hub", "Default"),
        ("sandbox", "NxDomainRedirect"),
    ]


def test_large_zones_go_to_zone_files_inside_the_topology_folder(tmp_path: Path, capsys, bundled) -> None:
    out = tmp_path / "estate" / "topology.yaml"
    code, stdout, err = run(
        capsys, "import", str(DATA / "arm"), "-o", str(out), "--zone-dir", "zones", "--inline-records", "2"
    )
    assert code == 0, err
    zone_file = tmp_path / "estate" / "zones" / "svc.contoso.internal.zone"
    assert zone_file.is_file()
    assert "zone_file: zones/svc.contoso.internal.zone" in out.read_text()
    assert "_https._tcp\t300\tIN\tSRV\t0 10 443 api.svc.contoso.internal." in zone_file.read_text()
    assert "1 zone file(s)" in stdout
    loaded = load_topology(with_overlay(out))
    _, sources, names_ = bundled
    assert answers(loaded, sources, names_) == answers(load_topology(BUNDLED), sources, names_)


@pytest.mark.parametrize("zone_dir", ["/tmp/zones", "../zones", "a/../../zones"])
def test_zone_dir_must_stay_inside_the_topology_folder(zone_dir: str, tmp_path: Path, capsys) -> None:
    code, _, err = run(
        capsys,
        "import",
        str(DATA / "arm"),
        "-o",
        str(tmp_path / "t.yaml"),
        "--zone-dir",
        zone_dir,
        "--inline-records",
        "0",
    )
    assert code == 2
    assert ("--zone-dir" in err and "inside" in err) or "relative" in err
    assert not (tmp_path / "t.yaml").exists()


def test_zone_dir_symlink_out_of_the_folder_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "zones").symlink_to(tmp_path / "elsewhere")
    code, _, err = run(
        capsys,
        "import",
        str(DATA / "arm"),
        "-o",
        str(tmp_path / "out" / "t.yaml"),
        "--zone-dir",
        "zones",
        "--inline-records",
        "0",
    )
    assert code == 2
    assert "symbolic link" in err
    assert not list((tmp_path / "elsewhere").iterdir())


# -- bad inputs: a message with the file and the JSON path, exit 2, nothing written ------------------


def bad(capsys, tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "t.yaml"
    code, _, err = run(capsys, "import", str(path), "-o", str(out))
    assert code == 2, err
    assert not out.exists()
    assert "Traceback" not in err
    assert str(path) in err
    return err


def test_truncated_json_names_the_file_and_the_json_path(tmp_path: Path, capsys) -> None:
    text = (DATA / "arm" / "privateEndpoints.json").read_text()
    cut = text[: text.index('"privateLinkServiceConnections"', text.index("pe-keyvault")) + 40]
    err = bad(capsys, tmp_path, "pe.json", cut)
    assert "looks truncated" in err
    assert ": value[2].properties.privateLinkServiceConnections[0]" in err


def test_invalid_json_says_where(tmp_path: Path, capsys) -> None:
    err = bad(capsys, tmp_path, "x.json", '{"value": [{"id": "a", "name": oops}]}')
    assert "not valid JSON" in err and "value[0].name" in err and "line 1" in err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"apiVersion": "v1", "kind": "List", "items": []}', "Kubernetes output?"),
        ('{"id": "0a1b2c3d", "tenantId": "t", "user": {"name": "me"}, "isDefault": true}', "az account output"),
        ('[{"SubscriptionId": "x", "Name": "y"}]', "no item has an Azure resource ID"),
        ('"just a string"', "found a JSON str"),
        ('{"Reservations": []}', "AWS CLI output?"),
    ],
)
def test_wrong_tools_output_is_named(content: str, words: str, tmp_path: Path, capsys) -> None:
    err = bad(capsys, tmp_path, "other.json", content)
    assert "not an export dnsemu reads" in err and words in err


def test_a_50_mb_export_is_refused_before_it_is_read(tmp_path: Path, capsys) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.truncate(50 * 1000 * 1000)  # sparse: nothing is written, and nothing may be read
    code, _, err = run(capsys, "import", str(path), "-o", str(tmp_path / "t.yaml"))
    assert code == 2
    assert f"{path}: 50,000,000 bytes is over the 33,554,432-byte bound" in err
    assert "--max-file-size" in err


def test_max_file_size_can_be_lowered(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "import", str(DATA / "arm"), "-o", str(tmp_path / "t.yaml"), "--max-file-size", "0.01")
    assert code == 2 and "networkInterfaces.json" in err and "bound" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_only_regular_files_are_read(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    code, _, err = run(capsys, "import", str(fifo), "-o", str(tmp_path / "t.yaml"))
    assert code == 2 and f"{fifo}: not a regular file" in err
    code, _, err = run(capsys, "import", "/dev/zero", "-o", str(tmp_path / "t.yaml"))
    assert code == 2 and "/dev/zero: not a regular file" in err


def test_encodings_and_empty_files(tmp_path: Path, capsys) -> None:
    assert "not UTF-8" in bad(capsys, tmp_path, "latin.json", b'{"value": ["caf\xe9"]}')
    assert "empty file" in bad(capsys, tmp_path, "empty.json", b"  \n")
    # PowerShell's `>` writes UTF-16 with a BOM: that is read
    text = (DATA / "arm" / "virtualNetworks.json").read_text()
    utf16 = tmp_path / "ps" / "vnets.json"
    utf16.parent.mkdir()
    utf16.write_bytes(text.encode("utf-16"))
    code, out, err = run(capsys, "import", str(utf16.parent), "-o", str(tmp_path / "t.yaml"))
    assert code == 0, err and "4 virtual networks" in out


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path, capsys) -> None:
    assert "nested too deeply" in bad(capsys, tmp_path, "deep.json", "[" * 100000 + "]" * 100000)


def test_missing_source(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "import", str(tmp_path / "nope.json"), "-o", str(tmp_path / "t.yaml"))
    assert code == 2 and "nope.json: cannot read" in err


def test_folders_skip_what_is_not_json_and_do_not_follow_links(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "dump"
    shutil.copytree(DATA / "arm", folder)
    (folder / "README.md").write_text("notes")
    (folder / "link.json").symlink_to("/etc/passwd")
    code, out, err = run(capsys, "import", str(folder), "-o", str(tmp_path / "t.yaml"))
    assert code == 0, err
    assert "1 file(s) not ending in .json skipped" in out
    assert "link.json: a symbolic link inside a folder, not followed" in out


# -- inconsistencies are findings with the resource ID ---------------------------------------------


def arm_items(name: str) -> list[dict]:
    return json.loads((DATA / "arm" / name).read_text())["value"]


def import_docs(tmp_path: Path, docs: dict[str, Any], capsys, *extra: str) -> tuple[int, str, str, Path]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for name, doc in docs.items():
        (folder / name).write_text(json.dumps(doc))
    out = tmp_path / "t.yaml"
    code, stdout, err = run(capsys, "import", str(folder), "-o", str(out), *extra)
    return code, stdout, err, out


def test_link_to_a_vnet_not_in_the_input(tmp_path: Path, capsys) -> None:
    vnets = [v for v in arm_items("virtualNetworks.json") if v["name"] != "sandbox"]
    code, out, err, path = import_docs(
        tmp_path,
        {
            "vnets.json": {"value": vnets},
            "zones.json": {"value": arm_items("privateDnsZones.json")},
            "links.json": {"value": arm_items("virtualNetworkLinks.json")},
        },
        capsys,
    )
    assert code == 0, err
    sandbox_link = next(x["id"] for x in arm_items("virtualNetworkLinks.json") if x["name"] == "sandbox-link")
    sandbox = next(x["id"] for x in arm_items("virtualNetworks.json") if x["name"] == "sandbox")
    assert (
        f"- missing-reference [{sandbox_link}]: zone link refers to virtual network {sandbox}, "
        "which is not in the input; left out" in out
    )
    load_topology(path)


def test_zone_group_naming_a_missing_zone(tmp_path: Path, capsys) -> None:
    zones = [z for z in arm_items("privateDnsZones.json") if z["name"] != "privatelink.azurecr.io"]
    docs = {
        name: {"value": arm_items(name)}
        for name in (
            "virtualNetworks.json",
            "privateEndpoints.json",
            "networkInterfaces.json",
            "privateDnsZoneGroups.json",
        )
    }
    docs["zones.json"] = {"value": zones}
    code, out, err, path = import_docs(tmp_path, docs, capsys)
    assert code == 0, err
    group = next(g["id"] for g in arm_items("privateDnsZoneGroups.json") if "/pe-acr/" in g["id"])
    assert f"- zone-group-missing-zone [{group}]: names private zone " in out
    assert "privatelink.azurecr.io, which is not in the input: that zone is left out of the group" in out
    assert "private_dns_zone_group" not in load_topology(path).data["private_endpoints"]["pe-acr"]


def test_duplicate_ids_in_one_file(tmp_path: Path, capsys) -> None:
    vnets = arm_items("virtualNetworks.json")
    code, out, err, _ = import_docs(tmp_path, {"vnets.json": {"value": [*vnets, vnets[0]]}}, capsys)
    assert code == 0, err
    assert f"- duplicate-id [{vnets[0]['id']}]: " in out and "the same resource ID at value[0] and value[5]" in out


def test_ids_merge_case_insensitively_and_conflicts_are_named(tmp_path: Path, capsys) -> None:
    vnets = arm_items("virtualNetworks.json")
    shouting = copy.deepcopy(vnets[0])
    shouting["id"] = shouting["id"].upper()
    shouting["properties"]["dhcpOptions"]["dnsServers"] = ["10.0.0.4"]
    code, out, err, path = import_docs(tmp_path, {"a.json": {"value": vnets}, "b.json": [shouting]}, capsys)
    assert code == 0, err
    assert out.count("[/subscriptions/") == 1  # one conflict, no duplicate: the IDs are the same resource
    assert f"- conflict [{vnets[0]['id']}]: dns_servers differs: () in " in out and "('10.0.0.4',) in " in out
    assert len(load_topology(path).topology.virtual_networks) == 5


def test_unrecognised_types_and_fields_are_listed(tmp_path: Path, capsys) -> None:
    vnet = copy.deepcopy(arm_items("virtualNetworks.json")[0])
    vnet["properties"]["someNewSetting"] = {"x": 1}
    other = {
        "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
        "type": "Microsoft.Storage/storageAccounts",
        "name": "acct",
        "properties": {},
    }
    wan = {
        "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualWans/w",
        "type": "Microsoft.Network/virtualWans",
        "name": "w",
        "properties": {},
    }
    code, out, err, _ = import_docs(tmp_path, {"x.json": [vnet, other, wan]}, capsys)
    assert code == 0, err
    assert "not modelled (2 resource(s)):" in out
    assert f"- microsoft.storage/storageaccounts: type not recognised by dnsemu import: {other['id']}" in out
    assert "- microsoft.network/virtualwans: Virtual WAN: holds no DNS settings (its hubs are read)" in out
    assert "- microsoft.network/virtualnetworks: somenewsetting (1)" in out


def test_rows_without_ids_and_bad_values_are_findings(tmp_path: Path, capsys) -> None:
    vnet = copy.deepcopy(arm_items("virtualNetworks.json")[0])
    vnet["properties"]["dhcpOptions"]["dnsServers"] = ["not-an-ip"]
    code, out, err, _ = import_docs(tmp_path, {"x.json": {"value": [vnet, {"name": "orphan"}]}}, capsys)
    assert code == 0, err
    assert (
        f"- bad-value [{vnet['id']}]: " in out
        and "value[0].dhcpOptions.dnsServers[0]: 'not-an-ip' is not an IP address" in out
    )
    assert "value[1]: no id: not an Azure resource; left out" in out


def test_strict_makes_findings_fail(tmp_path: Path, capsys) -> None:
    vnets = arm_items("virtualNetworks.json")
    code, _, _, _ = import_docs(tmp_path, {"x.json": {"value": [*vnets, vnets[0]]}}, capsys, "--strict")
    assert code == 1


# -- stubs for what Azure cannot tell ---------------------------------------------------------------


def test_dns_servers_known_only_by_address_become_stubs(tmp_path: Path, capsys) -> None:
    vnets = arm_items("virtualNetworks.json")
    for v in vnets:
        if v["name"] == "spoke1":
            v["properties"]["dhcpOptions"]["dnsServers"] = ["10.0.3.10"]  # a DNS VM in the hub
        if v["name"] == "spoke2":
            v["properties"]["dhcpOptions"]["dnsServers"] = ["10.50.0.53"]  # somewhere on-premises
        if v["name"] == "sandbox":
            v["properties"]["dhcpOptions"]["dnsServers"] = ["8.8.8.8"]  # the internet
    code, out, err, path = import_docs(tmp_path, {"v.json": {"value": vnets}}, capsys)
    assert code == 0, err
    assert "- custom_dns_servers.dns-10-0-3-10: what the DNS server at 10.0.3.10 in 'hub' forwards where" in out
    assert "- on_premises.onprem-10-50-0-53: the on-premises site of DNS server 10.50.0.53" in out
    assert "- external_dns_servers.external-8-8-8-8: whether 8.8.8.8 is the DNS server you expect" in out
    assert "(used by virtual_networks.sandbox.dns_servers)" in out
    t = load_topology(path).topology
    assert t.custom_dns_servers["dns-10-0-3-10"].virtual_network == "hub"
    assert [str(n) for n in t.on_premises["onprem-10-50-0-53"].address_space] == ["10.50.0.53/32"]
    assert t.external_dns_servers["external-8-8-8-8"].address == "8.8.8.8"
    text = path.read_text()
    # and spoke3's 10.0.4.4: the hub firewall, which this input lacks, is a DNS server known only by address too
    assert "- custom_dns_servers.dns-10-0-4-4: what the DNS server at 10.0.4.4 in 'hub' forwards where" in out
    assert text.count("# STUB:") == 4


# -- shapes ---------------------------------------------------------------------------------------------


def test_terraform_v3_inline_subnets_and_azapi(tmp_path: Path, capsys) -> None:
    vid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v3net"
    doc = {
        "format_version": "1.0",
        "values": {
            "root_module": {
                "resources": [
                    {
                        "address": "azurerm_virtual_network.v",
                        "mode": "managed",
                        "type": "azurerm_virtual_network",
                        "name": "v",
                        "values": {
                            "id": vid,
                            "name": "v3net",
                            "resource_group_name": "rg",
                            "location": "westeurope",
                            "address_space": ["10.9.0.0/16"],
                            "subnet": [{"name": "s1", "address_prefix": "10.9.1.0/24", "id": f"{vid}/subnets/s1"}],
                        },
                    },
                    {
                        "address": "azapi_resource.zone",
                        "mode": "managed",
                        "type": "azapi_resource",
                        "name": "zone",
                        "values": {
                            "type": "Microsoft.Network/privateDnsZones@2024-06-01",
                            "name": "corp.example",
                            "parent_id": f"/subscriptions/{SUB}/resourceGroups/rg",
                            "location": "global",
                            "body": {},
                        },
                    },
                    {
                        "address": "azapi_resource.link",
                        "mode": "managed",
                        "type": "azapi_resource",
                        "name": "link",
                        "values": {
                            "type": "Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01",
                            "name": "l",
                            "parent_id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                            "Microsoft.Network/privateDnsZones/corp.example",
                            "location": "global",
                            "body": {"properties": {"virtualNetwork": {"id": vid}, "registrationEnabled": True}},
                        },
                    },
                ]
            }
        },
    }
    code, _out, err, path = import_docs(tmp_path, {"tf.json": doc}, capsys)
    assert code == 0, err
    t = load_topology(path).topology
    assert str(t.virtual_networks["v3net"].subnets["s1"].address_prefix) == "10.9.1.0/24"
    assert t.region == "westeurope"
    link = t.private_dns_zones["corp.example"].virtual_network_links[0]
    assert (link.virtual_network, link.name, link.registration_enabled) == ("v3net", "l", True)


def test_resource_graph_table_format_and_bare_pages(tmp_path: Path, capsys) -> None:
    page = json.loads((DATA / "resource-graph" / "resources.0.json").read_text())
    columns = list(page["data"][0])
    table = {
        "totalRecords": len(page["data"]),
        "count": len(page["data"]),
        "data": {
            "columns": [{"name": c, "type": "string"} for c in columns],
            "rows": [[row.get(c) for c in columns] for row in page["data"]],
        },
    }
    code, out, err, _ = import_docs(tmp_path, {"table.json": table, "bare.json": page["data"]}, capsys)
    assert code == 0, err
    assert "Resource Graph: 2" in out


def test_same_input_different_paths_same_topology(tmp_path: Path, capsys) -> None:
    """Import of the CLI dump beside a Resource Graph dump: sources merge, nothing conflicts."""
    out = tmp_path / "both.yaml"
    code, stdout, err = run(capsys, "import", str(DATA / "resource-graph"), str(DATA / "azcli"), "-o", str(out))
    assert code == 0, err
    assert "findings" not in stdout, stdout


def test_import_in_a_subprocess_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"data": [1, 2')
    result = subprocess.run(
        [sys.executable, "-m", "dnsemu", "import", str(path), "-o", str(tmp_path / "t.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"dnsemu import: {path}: data[1]: the JSON ends early: the file looks truncated"


def test_api_without_writing(tmp_path: Path) -> None:
    result = import_files([str(DATA / "azcli")], tmp_path / "t.yaml")
    assert not (tmp_path / "t.yaml").exists()
    write(result)
    loaded = load_topology(tmp_path / "t.yaml")
    assert load_topology_data(dict(loaded.data)).topology == loaded.topology


def test_readme_walk_runs(tmp_path: Path, capsys, monkeypatch) -> None:
    """README "Bring your own estate": the import, check and explain commands, on the Resource Graph dump."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Bring your own estate", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split() for line in block.splitlines() if line.startswith("dnsemu ")]
    assert [c[1] for c in commands] == ["import", "check", "explain"]
    shutil.copytree(DATA / "resource-graph", tmp_path / "dump")
    monkeypatch.chdir(tmp_path)
    outputs = {}
    for argv in commands:
        code, out, err = run(capsys, *argv[1:])
        assert code in ((0, 1) if argv[1] == "check" else (0,)), err
        outputs[argv[1]] = out
    assert "STUB" in (tmp_path / "estate" / "topology.yaml").read_text()
    assert "private zone privatelink.blob.core.windows.net. answers A 10.0.1.4" in outputs["explain"]


# -- Azure Firewall, Virtual WAN hubs, AKS clusters, DNS security policies (facts §10, §12, §14.1) --------------


def net(rg: str, *parts: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/" + "/".join(parts)


def arm(rid: str, rtype: str, props: dict[str, Any], location: str = "eastus") -> dict[str, Any]:
    return {"id": rid, "name": rid.rsplit("/", 1)[1], "type": rtype, "location": location, "properties": props}


def vnet_doc(name: str, space: str, subnets: dict[str, str], dns: list[str] | None = None) -> dict[str, Any]:
    vid = net("rg-net", "virtualNetworks", name)
    return arm(
        vid,
        "Microsoft.Network/virtualNetworks",
        {
            "addressSpace": {"addressPrefixes": [space]},
            "dhcpOptions": {"dnsServers": dns or []},
            "subnets": [
                {"name": s, "id": f"{vid}/subnets/{s}", "properties": {"addressPrefix": p}} for s, p in subnets.items()
            ],
        },
    )


def ask(path: Path, name: str, source: str, qtype: RRType = RRType.A):
    loaded = load_topology(path)
    index = compile_topology(loaded)
    return resolve(
        index,
        Question(name if name.endswith(".") else name + ".", qtype),
        source_address(loaded.topology, index, source),
    )


def test_firewall_in_a_virtual_hub_with_inherited_dns_settings(tmp_path: Path, capsys) -> None:
    """§12.4's virtual hub extension: spokes ask the secured hub's firewall, whose DNS settings (inherited from
    the base policy, §12.1) name the DNS spoke's inbound endpoint; the hub's connections come as child resources."""
    hub = net("rg-wan", "virtualHubs", "vhub-eastus")
    base = net("rg-wan", "firewallPolicies", "base-policy")
    child = net("rg-wan", "firewallPolicies", "hub-policy")
    resolver = net("rg-net", "dnsResolvers", "dns-resolver")
    docs = {
        "vnets.json": {
            "value": [
                vnet_doc("dns-spoke", "10.50.0.0/24", {"snet-in": "10.50.0.0/28"}),
                vnet_doc("app", "10.51.0.0/16", {"snet-app": "10.51.0.0/24"}, ["10.100.0.132"]),
            ]
        },
        "wan.json": [
            arm(hub, "Microsoft.Network/virtualHubs", {"addressPrefix": "10.100.0.0/23", "virtualWan": {"id": "x"}}),
            arm(
                f"{hub}/hubVirtualNetworkConnections/app-conn",
                "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
                {"remoteVirtualNetwork": {"id": net("rg-net", "virtualNetworks", "app")}},
            ),
            arm(
                net("rg-wan", "azureFirewalls", "vhub-fw"),
                "Microsoft.Network/azureFirewalls",
                {
                    "sku": {"name": "AZFW_Hub", "tier": "Standard"},
                    "virtualHub": {"id": hub},
                    "hubIPAddresses": {"privateIPAddress": "10.100.0.132", "publicIPs": {"count": 1}},
                    "firewallPolicy": {"id": child},
                },
            ),
            arm(child, "Microsoft.Network/firewallPolicies", {"basePolicy": {"id": base}}),
            arm(
                base,
                "Microsoft.Network/firewallPolicies",
                {"dnsSettings": {"enableProxy": True, "servers": ["10.50.0.4"]}},
            ),
        ],
        "resolver.json": [
            arm(
                resolver,
                "Microsoft.Network/dnsResolvers",
                {"virtualNetwork": {"id": net("rg-net", "virtualNetworks", "dns-spoke")}},
            ),
            arm(
                f"{resolver}/inboundEndpoints/in",
                "Microsoft.Network/dnsResolvers/inboundEndpoints",
                {
                    "ipConfigurations": [
                        {
                            "privateIpAddress": "10.50.0.4",
                            "subnet": {"id": net("rg-net", "virtualNetworks", "dns-spoke", "subnets", "snet-in")},
                        }
                    ]
                },
            ),
        ],
    }
    code, out, err, path = import_docs(tmp_path, docs, capsys)
    assert code == 0, err
    assert "findings" not in out and "to fill in" not in out, out
    assert "1 firewalls, 1 virtual hubs" in out
    t = load_topology(path).topology
    assert t.virtual_hubs["vhub-eastus"].virtual_network_connections == ["app"]
    fw = t.azure_firewalls["vhub-fw"]
    assert (fw.virtual_hub, str(fw.private_ip_address)) == ("vhub-eastus", "10.100.0.132")
    assert (fw.dns_settings.enable_proxy, fw.dns_settings.servers) == (True, ["10.50.0.4"])
    assert f"# DNS settings inherited from base policy {base}" in path.read_text()
    trace = [s.text for s in ask(path, "www.example.com", "app").trace]
    assert any("Azure Firewall 'vhub-fw' (DNS proxy) forwards it to 10.50.0.4" in line for line in trace), trace


def test_classic_firewall_and_a_missing_policy(tmp_path: Path, capsys) -> None:
    """A firewall with classic rules keeps its DNS settings in additionalProperties (§12.3); a firewall whose
    policy the input lacks is a finding and a stub, with the proxy off (Azure's default)."""
    hub = vnet_doc("hub", "10.0.0.0/16", {"AzureFirewallSubnet": "10.0.4.0/26", "snet-dns": "10.0.5.0/24"})
    subnet = net("rg-net", "virtualNetworks", "hub", "subnets", "AzureFirewallSubnet")

    def firewall(name: str, ip: str, **props: Any) -> dict[str, Any]:
        config = {"name": "c", "properties": {"privateIPAddress": ip, "subnet": {"id": subnet}}}
        return arm(
            net("rg-net", "azureFirewalls", name),
            "Microsoft.Network/azureFirewalls",
            {"ipConfigurations": [config], **props},
        )

    missing = net("rg-net", "firewallPolicies", "gone")
    docs = {
        "x.json": [
            hub,
            firewall(
                "classic-fw",
                "10.0.4.4",
                additionalProperties={"Network.DNS.EnableProxy": "true", "Network.DNS.Servers": "10.0.5.10, 10.0.5.11"},
            ),
            firewall("lost-policy-fw", "10.0.4.5", firewallPolicy={"id": missing}),
        ]
    }
    code, out, err, path = import_docs(tmp_path, docs, capsys)
    assert code == 0, err
    t = load_topology(path).topology
    classic = t.azure_firewalls["classic-fw"].dns_settings
    assert (classic.enable_proxy, classic.servers) == (True, ["10.0.5.10", "10.0.5.11"])
    assert (
        "- custom_dns_servers.dns-10-0-5-10: " in out
        and "(used by azure_firewalls.classic-fw.dns_settings.servers)" in out
    )
    lost = net("rg-net", "azureFirewalls", "lost-policy-fw")
    assert f"- missing-reference [{lost}]: firewall policy {missing} is not in the input" in out
    assert "- azure_firewalls.lost-policy-fw.dns_settings: the DNS settings of firewall policy gone" in out
    assert t.azure_firewalls["lost-policy-fw"].dns_settings.enable_proxy is False


def aks_cluster(name: str, subnet: str, zone: str, **extra: Any) -> dict[str, Any]:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/{name}"
    props = {
        "dnsPrefix": name,
        "agentPoolProfiles": [{"name": "system", "count": 3, "vnetSubnetID": subnet}],
        "apiServerAccessProfile": {"enablePrivateCluster": True, "privateDNSZone": zone},
        "nodeResourceGroup": f"MC_rg-aks_{name}_eastus",
        **extra,
    }
    return arm(rid, "Microsoft.ContainerService/managedClusters", props)


def test_aks_private_clusters(tmp_path: Path, capsys) -> None:
    """§14.1: a system-zone cluster takes its API server's address from the zone's record; AKS's own link and
    record are derived, a hub's link to the system zone is kept; a custom zone is named; public clusters and
    API Server VNet Integration are listed, not dropped."""
    guid = "7c1f0d2e-4b3a-4c5d-8e9f-0a1b2c3d4e5f"
    system_zone = f"{guid}.privatelink.eastus.azmk8s.io"
    private_fqdn = f"aks-prod-4f2a9c1b.{system_zone}"
    snet = net("rg-net", "virtualNetworks", "spoke", "subnets", "snet-aks")
    mc = "MC_rg-aks_aks-prod_eastus"
    zone_id = net(mc, "privateDnsZones", system_zone)
    custom_id = net("rg-dns", "privateDnsZones", "team1.privatelink.eastus.azmk8s.io")
    docs = {
        "vnets.json": {
            "value": [
                vnet_doc("hub", "10.0.0.0/16", {"snet-vms": "10.0.2.0/24"}),
                vnet_doc("spoke", "10.1.0.0/16", {"snet-aks": "10.1.0.0/22"}),
            ]
        },
        "aks.json": [
            aks_cluster(
                "aks-prod",
                snet,
                "system",
                privateFQDN=private_fqdn,
                fqdn="aks-prod-4f2a9c1b.hcp.eastus.azmk8s.io",
            ),
            aks_cluster(
                "aks-team",
                snet,
                custom_id,
                fqdnSubdomain="team-api",
                privateFQDN="team-api-1a2b3c4d.team1.privatelink.eastus.azmk8s.io",
            ),
            {
                **aks_cluster("aks-public", snet, "system"),
                "properties": {"apiServerAccessProfile": {"enablePrivateCluster": False}},
            },
            aks_cluster(
                "aks-vnetint",
                snet,
                "system",
                apiServerAccessProfile={"enablePrivateCluster": True, "enableVnetIntegration": True},
            ),
        ],
        "zones.json": [
            arm(zone_id, "Microsoft.Network/privateDnsZones", {}, "global"),
            arm(
                f"{zone_id}/virtualNetworkLinks/aks-link",
                "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
                {"virtualNetwork": {"id": net("rg-net", "virtualNetworks", "spoke")}},
                "global",
            ),
            arm(
                f"{zone_id}/virtualNetworkLinks/hub-link",
                "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
                {"virtualNetwork": {"id": net("rg-net", "virtualNetworks", "hub")}},
                "global",
            ),
            arm(
                f"{zone_id}/A/aks-prod-4f2a9c1b",
                "Microsoft.Network/privateDnsZones/A",
                {"ttl": 10, "aRecords": [{"ipv4Address": "10.1.0.10"}]},
                "global",
            ),
            arm(custom_id, "Microsoft.Network/privateDnsZones", {}, "global"),
            arm(
                f"{custom_id}/A/team-api-1a2b3c4d",
                "Microsoft.Network/privateDnsZones/A",
                {"ttl": 10, "aRecords": [{"ipv4Address": "10.1.0.11"}]},
                "global",
            ),
        ],
    }
    code, out, err, path = import_docs(tmp_path, docs, capsys)
    assert code == 0, err
    t = load_topology(path).topology
    prod = t.managed_clusters["aks-prod"]
    assert (prod.virtual_network, str(prod.private_ip_address), prod.private_dns_zone) == (
        "spoke",
        "10.1.0.10",
        "system",
    )
    assert prod.private_fqdn == private_fqdn and prod.dns_prefix == "aks-prod"
    # the system zone stays only for the hub's link; AKS's link and record are derived
    zone = t.private_dns_zones[system_zone]
    assert [link.virtual_network for link in zone.virtual_network_links] == ["hub"] and not zone.records
    team = t.managed_clusters["aks-team"]
    assert (team.private_dns_zone, team.fqdn_subdomain, str(team.private_ip_address)) == (
        "team1.privatelink.eastus.azmk8s.io",
        "team-api",
        "10.1.0.11",
    )
    assert not t.private_dns_zones["team1.privatelink.eastus.azmk8s.io"].records
    assert "aks-public" not in t.managed_clusters and "aks-vnetint" not in t.managed_clusters
    assert "AKS cluster with a public API server" in out
    assert "API Server VNet Integration (private.<region>.azmk8s.io) is not modelled" in out
    # the hub reaches the API server through its link; the spoke through AKS's
    for source in ("hub", "spoke"):
        r = ask(path, private_fqdn + ".", source)
        assert [x.text() for x in r.answer] == [f"{private_fqdn}.\t10\tIN\tA\t10.1.0.10"], source


def test_aks_without_the_api_server_address_is_a_stub(tmp_path: Path, capsys) -> None:
    """Terraform state holds no API server address (AKS makes the endpoint): a stub inside the node subnet."""
    vid = net("rg-net", "virtualNetworks", "spoke")
    doc = {
        "format_version": "1.0",
        "values": {
            "root_module": {
                "resources": [
                    {
                        "address": "azurerm_virtual_network.spoke",
                        "mode": "managed",
                        "type": "azurerm_virtual_network",
                        "name": "spoke",
                        "values": {
                            "id": vid,
                            "name": "spoke",
                            "resource_group_name": "rg-net",
                            "location": "eastus",
                            "address_space": ["10.1.0.0/16"],
                            "subnet": [
                                {
                                    "name": "snet-aks",
                                    "address_prefixes": ["10.1.0.0/22"],
                                    "id": f"{vid}/subnets/snet-aks",
                                }
                            ],
                        },
                    },
                    {
                        "address": "azurerm_kubernetes_cluster.aks",
                        "mode": "managed",
                        "type": "azurerm_kubernetes_cluster",
                        "name": "aks",
                        "values": {
                            "id": f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/"
                            "Microsoft.ContainerService/managedClusters/aks-tf",
                            "name": "aks-tf",
                            "location": "eastus",
                            "resource_group_name": "rg-aks",
                            "dns_prefix": "aks-tf",
                            "private_cluster_enabled": True,
                            "private_dns_zone_id": "System",
                            "private_cluster_public_fqdn_enabled": False,
                            "default_node_pool": [{"name": "system", "vnet_subnet_id": f"{vid}/subnets/snet-aks"}],
                        },
                    },
                ]
            }
        },
    }
    code, out, err, path = import_docs(tmp_path, {"tf.json": doc}, capsys)
    assert code == 0, err
    assert "- managed_clusters.aks-tf.private_ip_address: the API server address of AKS cluster aks-tf" in out
    cluster = load_topology(path).topology.managed_clusters["aks-tf"]
    assert str(cluster.private_ip_address) == "10.1.0.4" and cluster.enable_private_cluster_public_fqdn is False
    assert "STUB: private_ip_address" in path.read_text()


def test_security_policy_shapes_and_what_is_not_modelled(tmp_path: Path, capsys) -> None:
    """§10.2, §10.4, §10.5: the preview's SERVFAIL, a Disabled rule, chain validation off, the older
    dnsSecurityPolicies spelling; Microsoft's managed list, a large list's blob and '*.' entries are findings."""
    pol = net("rg-sec", "dnsSecurityPolicies", "legacy-policy")
    lists = {
        "bad": ["*.phish.example", "malware.example."],
        "big": None,
    }
    docs: dict[str, Any] = {
        "vnets.json": {"value": [vnet_doc("app", "10.1.0.0/16", {"snet": "10.1.0.0/24"})]},
        "lists.json": [
            arm(
                net("rg-sec", "dnsResolverDomainLists", "bad"),
                "Microsoft.Network/dnsResolverDomainLists",
                {"domains": lists["bad"]},
            ),
            arm(
                net("rg-sec", "dnsResolverDomainLists", "big"),
                "Microsoft.Network/dnsResolverDomainLists",
                {"domainsUrl": "https://example.blob.core.windows.net/lists/big.txt"},
            ),
        ],
        "policy.json": [
            arm(pol, "Microsoft.Network/dnsSecurityPolicies", {}),
            arm(
                f"{pol}/dnsSecurityRules/preview-block",
                "Microsoft.Network/dnsResolverPolicies/dnsSecurityRules",
                {
                    "priority": 100,
                    "action": {"actionType": "Block", "blockResponseCode": "SERVFAIL"},
                    "dnsResolverDomainLists": [{"id": net("rg-sec", "dnsResolverDomainLists", "bad")}],
                    "disableCnameChainValidation": True,
                },
            ),
            arm(
                f"{pol}/dnsSecurityRules/threat-intel",
                "Microsoft.Network/dnsResolverPolicies/dnsSecurityRules",
                {"priority": 200, "action": {"actionType": "Alert"}, "managedDomainLists": ["AzureDnsThreatIntel"]},
            ),
            arm(
                f"{pol}/dnsSecurityRules/off",
                "Microsoft.Network/dnsResolverPolicies/dnsSecurityRules",
                {
                    "priority": 300,
                    "action": {"actionType": "Allow"},
                    "dnsResolverDomainLists": [{"id": net("rg-sec", "dnsResolverDomainLists", "big")}],
                    "dnsSecurityRuleState": "Disabled",
                },
            ),
            arm(
                f"{pol}/virtualNetworkLinks/app",
                "Microsoft.Network/dnsSecurityPolicies/virtualNetworkLinks",
                {"virtualNetwork": {"id": net("rg-net", "virtualNetworks", "app")}},
            ),
        ],
    }
    code, out, err, path = import_docs(tmp_path, docs, capsys)
    assert code == 0, err
    t = load_topology(path).topology
    policy = t.dns_resolver_policies["legacy-policy"]
    assert [link.virtual_network for link in policy.virtual_network_links] == ["app"]
    block = policy.dns_security_rules["preview-block"]
    assert (block.action.action_type, block.action.block_response_code, block.disable_cname_chain_validation) == (
        "Block",
        "SERVFAIL",
        True,
    )
    assert policy.dns_security_rules["off"].dns_security_rule_state == "Disabled"
    assert "threat-intel" not in policy.dns_security_rules
    assert "uses Microsoft's managed domain list AzureDnsThreatIntel: dnsemu holds no copy of it" in out
    assert t.dns_resolver_domain_lists["bad"].domains == ["phish.example", "malware.example"]
    assert "dnsemu takes no '*.' prefix; phish.example (which covers every name below it) is written" in out
    assert t.dns_resolver_domain_lists["big"].domains == []
    assert (
        "- domain-list-content [" in out
        and "- dns_resolver_domain_lists.big.domains: the domains of domain list big" in out
    )
    r = ask(path, "www.phish.example.", "app")
    assert r.rcode.name == "SERVFAIL" and r.source.value == "blocked"


def test_security_policy_in_terraform_azurerm_names(tmp_path: Path, capsys) -> None:
    """The azurerm resource names a pending provider change proposes (facts §10.2 has none in v5.2) read as
    their ARM resources, their IDs spelled in a plan."""
    vid = net("rg-net", "virtualNetworks", "app")
    pid = net("rg-sec", "dnsResolverPolicies", "p")
    lid = net("rg-sec", "dnsResolverDomainLists", "l")

    def res(address: str, values: dict[str, Any]) -> dict[str, Any]:
        rtype, name = address.split(".")
        return {"address": address, "mode": "managed", "type": rtype, "name": name, "values": values}

    doc = {
        "format_version": "1.0",
        "values": {
            "root_module": {
                "resources": [
                    res(
                        "azurerm_virtual_network.app",
                        {
                            "id": vid,
                            "name": "app",
                            "resource_group_name": "rg-net",
                            "location": "eastus",
                            "address_space": ["10.1.0.0/16"],
                        },
                    ),
                    res(
                        "azurerm_private_dns_resolver_domain_list.l",
                        {"id": lid, "name": "l", "location": "eastus", "domains": ["bad.example."]},
                    ),
                    res("azurerm_private_dns_resolver_policy.p", {"id": pid, "name": "p", "location": "eastus"}),
                    res(
                        "azurerm_private_dns_resolver_security_rule.r",
                        {
                            "id": f"{pid}/dnsSecurityRules/r",
                            "name": "r",
                            "dns_resolver_policy_id": pid,
                            "action": "Block",
                            "priority": 100,
                            "dns_resolver_domain_list_ids": [lid],
                            "enabled": True,
                        },
                    ),
                    res(
                        "azurerm_private_dns_resolver_policy_virtual_network_link.k",
                        {
                            "id": f"{pid}/virtualNetworkLinks/k",
                            "name": "k",
                            "dns_resolver_policy_id": pid,
                            "virtual_network_id": vid,
                        },
                    ),
                ]
            }
        },
    }
    code, out, err, path = import_docs(tmp_path, {"tf.json": doc}, capsys)
    assert code == 0, err
    assert "findings" not in out, out
    r = ask(path, "x.bad.example.", "app")
    assert r.source.value == "blocked" and [x.text() for x in r.answer] == [
        "x.bad.example.\t60\tIN\tCNAME\tblockpolicy.azuredns.invalid."
    ]
