"""``dnsemu diff``: variants of the bundled estate, compared end to end, with the exact rows that change.

Each variant is one change an infrastructure pull request makes: a private endpoint
that gets a new address (facts §1.5: the zone group's A record follows the NIC), a
virtual network link removed (§3.1: only linked VNets see a zone; §1.4: without the
NxDomainRedirect link the public chain answers), a forwarding ruleset rule added
(§4.2, §11.1: a rule sends the domain to the hub's inbound endpoint).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dnsemu.analysis.diff import as_json, diff, questions, sources
from dnsemu.analysis.namelist import parse_names
from dnsemu.analysis.replies import short
from dnsemu.cli import main
from dnsemu.cli.estate import read_estate as load_estate
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = yaml.safe_load((ROOT / "zones" / "topology.yaml").read_text())


def write(tmp_path: Path, name: str, change: Callable[[dict], None] | None = None) -> Path:
    data = copy.deepcopy(BUNDLED)
    if change is not None:
        change(data)
    if not (tmp_path / "svc.contoso.internal.zone").exists():
        shutil.copy(ROOT / "zones" / "svc.contoso.internal.zone", tmp_path)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def new_ip(data: dict) -> None:
    data["private_endpoints"]["pe-keyvault"]["private_ip_addresses"] = ["10.0.1.16"]


def unlink_sandbox(data: dict) -> None:
    links = data["private_dns_zones"]["privatelink.blob.core.windows.net"]["virtual_network_links"]
    data["private_dns_zones"]["privatelink.blob.core.windows.net"]["virtual_network_links"] = [
        link for link in links if link["virtual_network"] != "sandbox"
    ]


def svc_rule(data: dict) -> None:
    data["dns_forwarding_rulesets"]["spoke-rules"]["forwarding_rules"]["svc"] = {
        "domain_name": "svc.contoso.internal.",
        "target_dns_servers": ["10.0.0.4"],
    }


def rows(report) -> list[tuple[str, str, str]]:
    return [(c.source.label, c.name, RRType(c.qtype).name) for c in report.changes]


def run_diff(tmp_path: Path, change: Callable[[dict], None]):
    before = load_estate(write(tmp_path, "before"))
    after = load_estate(write(tmp_path, "after", change))
    return diff(before, after)


def test_new_endpoint_address_changes_exactly_the_endpoints_names_where_the_zone_is_seen(tmp_path: Path) -> None:
    report = run_diff(tmp_path, new_ip)
    kv, kv_private = "contoso-kv.vault.azure.net.", "contoso-kv.privatelink.vaultcore.azure.net."
    # the hub sees the zone; spoke1 through the inbound endpoint, spoke2 through a rule, spoke3 through
    # the firewall's DNS proxy, onprem by a forwarder of the public zone; sandbox, branch and the internet
    # never saw the private address
    assert rows(report) == [
        (source, name, "A") for source in ("hub", "spoke1", "spoke2", "spoke3", "onprem") for name in (kv, kv_private)
    ]
    first = report.changes[0]
    assert short(first.before) == f"NOERROR: CNAME {kv_private}, A 10.0.1.6"
    assert short(first.after) == f"NOERROR: CNAME {kv_private}, A 10.0.1.16"
    assert first.step == 5
    assert first.text_before == f"{kv_private}: private zone privatelink.vaultcore.azure.net. answers A 10.0.1.6"
    assert first.text_after == f"{kv_private}: private zone privatelink.vaultcore.azure.net. answers A 10.0.1.16"
    # spoke2's trace has the rule step, spoke3's the firewall's, so the resolutions part one step later
    assert [c.step for c in report.changes if c.name == kv] == [5, 5, 6, 6, 6]


def test_removed_link_changes_only_the_sandbox(tmp_path: Path) -> None:
    report = run_diff(tmp_path, unlink_sandbox)
    mystorage, private = "mystorage.blob.core.windows.net.", "mystorage.privatelink.blob.core.windows.net."
    pending = "pendingstore.privatelink.blob.core.windows.net."
    assert rows(report) == [
        ("sandbox", mystorage, "A"),
        ("sandbox", mystorage, "AAAA"),
        ("sandbox", private, "A"),
        ("sandbox", private, "AAAA"),
        ("sandbox", private, "CNAME"),
        ("sandbox", pending, "A"),
        ("sandbox", pending, "AAAA"),
        ("sandbox", pending, "CNAME"),
    ]
    first = report.changes[0]
    assert short(first.before) == f"NOERROR: CNAME {private}, A 10.0.1.4"
    assert short(first.after) == (
        f"NOERROR: CNAME {private}, CNAME blob.eusprdstr01a.store.core.windows.net., A 203.0.113.111"
    )
    assert first.text_after == f"{private}: public DNS holds CNAME blob.eusprdstr01a.store.core.windows.net."
    # a name only the zone had: from the sandbox it now goes to the upstream forwarder
    assert short(report.changes[5].after) == f"forwarded: {pending} A goes to upstream"
    # fabrikamstore answered publicly through NxDomainRedirect before, and publicly without the link: no row
    assert not [c for c in report.changes if c.name.startswith("fabrikamstore")]


def test_added_rule_sends_the_zone_to_the_hub_for_spoke2_only(tmp_path: Path) -> None:
    report = run_diff(tmp_path, svc_rule)
    zone_names = {
        "svc.contoso.internal.": ("A", "AAAA", "CNAME", "TXT"),
        "_https._tcp.svc.contoso.internal.": ("A", "AAAA", "CNAME", "SRV"),
        "api.svc.contoso.internal.": ("A", "AAAA", "CNAME"),
        "api-v2.svc.contoso.internal.": ("A", "AAAA", "CNAME"),
    }
    assert rows(report) == [("spoke2", name, t) for name, types in zone_names.items() for t in types]
    api = next(c for c in report.changes if c.name == "api.svc.contoso.internal." and c.qtype == RRType.A)
    assert short(api.before) == "forwarded: api.svc.contoso.internal. A goes to upstream"
    assert short(api.after) == "NOERROR: A 10.0.1.10"
    assert api.step == 3
    # the rule fires because no zone linked to spoke2 holds the name (linked zones come first, facts-2 §11.1)
    assert api.text_after.startswith(
        "api.svc.contoso.internal. is outside every private zone linked to VNet 'spoke2', so forwarding ruleset "
        "'spoke-rules' is consulted (facts-2 §11.1): rule spoke-rules/svc"
    )


def test_no_change_between_an_estate_and_itself(tmp_path: Path) -> None:
    path = write(tmp_path, "before")
    report = diff(load_estate(path), load_estate(path))
    assert report.changes == ()
    assert report.question_count > 90


def test_what_is_asked(tmp_path: Path) -> None:
    estate = load_estate(write(tmp_path, "before"))
    asked = dict(questions(estate, estate))
    a, aaaa, cname = RRType.A, RRType.AAAA, RRType.CNAME
    assert asked["mystorage.blob.core.windows.net."] == (a, aaaa, cname)  # public name of an endpoint
    assert asked["mystorage.privatelink.blob.core.windows.net."] == (a, aaaa, cname)
    assert asked["contosoacr.eastus.data.azurecr.io."] == (a, aaaa, cname)  # the registry's data endpoint
    assert asked["legacystore.blob.core.windows.net."] == (a, aaaa, cname)  # resources: the type's first group
    assert asked["fabrikamstore.blob.core.windows.net."] == (a, aaaa, cname)  # another tenant's endpoint group
    assert asked["hub-vm1.internal.cloudapp.net."] == (a, aaaa, cname)  # a VM's Azure-provided name
    assert asked["hub-vm1.azure.contoso.com."] == (a, aaaa, cname)  # autoregistered
    assert asked["4.2.0.10.in-addr.arpa."] == (RRType.PTR,)  # reverse names: PTR only
    assert asked["_https._tcp.svc.contoso.internal."] == (a, aaaa, cname, RRType.SRV)  # the types held there
    assert not [n for n in asked if "eusprdstr" in n]  # synthesised cluster hosts are not names the estate knows
    names = [n for n, _ in questions(estate, estate)]
    assert names == sorted(names, key=lambda n: n.split(".")[::-1])  # zone by zone
    assert "azure.contoso.com." not in names  # an apex that holds only its SOA
    # --names: a name of one's own, with its own types
    extra = parse_names("www.example.com TXT\nmystorage.blob.core.windows.net MX\n")
    asked = dict(questions(estate, estate, extra))
    assert asked["www.example.com."] == (RRType.TXT,)
    assert asked["mystorage.blob.core.windows.net."] == (a, aaaa, cname, RRType.MX)


def test_sources_are_every_network_and_the_internet(tmp_path: Path) -> None:
    estate = load_estate(write(tmp_path, "before"))
    found = sources(estate, estate)
    assert [(s.label, str(s.address)) for s in found] == [
        ("hub", "10.0.2.4"),
        ("spoke1", "10.1.0.4"),
        ("spoke2", "10.2.0.4"),
        ("spoke3", "10.4.0.4"),
        ("sandbox", "10.3.0.4"),
        ("onprem", "192.168.0.4"),
        ("branch", "172.16.0.4"),
        ("internet", "198.51.100.1"),
    ]
    assert [s.label for s in sources(estate, estate, ["app-vm2", "10.0.9.9"])] == ["app-vm2", "10.0.9.9"]


MUTATIONS: dict[str, Callable[[dict], None]] = {
    "new-ip": new_ip,
    "unlink-sandbox": unlink_sandbox,
    "rule": svc_rule,
    "unlink-hub": lambda d: d["private_dns_zones"]["privatelink.blob.core.windows.net"]["virtual_network_links"].pop(0),
    "redirect-hub": lambda d: d["private_dns_zones"]["privatelink.blob.core.windows.net"]["virtual_network_links"][
        0
    ].update(resolution_policy="NxDomainRedirect"),
    "remove-endpoint": lambda d: d["private_endpoints"].pop("pe-mystorage-blob"),
    "approve": lambda d: d["private_endpoints"]["pe-pendingstore"].update(connection_state="Approved"),
    "cname-moves": lambda d: d["private_dns_zones"]["azure.contoso.com"].update(
        records=["build 300 CNAME app.azure.contoso.com.", "app 300 A 10.0.2.99"]
    ),
    "vm-moves": lambda d: d["virtual_machines"]["hub-vm1"].update(private_ip_address="10.0.2.5"),
    "custom-dns": lambda d: d["virtual_networks"]["spoke2"].update(dns_servers=["10.0.0.4"]),
    "branch-fixed": lambda d: d["on_premises"]["branch"]["conditional_forwarders"].update(
        {"blob.core.windows.net": ["10.0.0.4"]}
    ),
    "new-service": lambda d: d["private_endpoints"].update(
        {
            "pe-cosmos": {
                "virtual_network": "hub",
                "subnet": "snet-private-endpoints",
                "private_ip_addresses": ["10.0.1.40"],
                "resource": {"type": "Microsoft.DocumentDB/databaseAccounts", "name": "cosmo"},
                "group_id": "Sql",
            }
        }
    ),
}


def seen(result) -> tuple:
    """What a client receives."""
    return (result.outcome, result.answer, result.authority, result.authoritative, result.forward)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_grouped_comparison_finds_what_asking_everything_finds(tmp_path: Path, mutation: str) -> None:
    """The one shortcut (sources grouped by their networks, each question resolved once a group) changes nothing."""
    before = load_estate(write(tmp_path, "before"))
    after = load_estate(write(tmp_path, "after", MUTATIONS[mutation]))
    asked = questions(before, after)
    who = sources(before, after)
    for b, a in ((before, after), (after, before)):
        naive = []
        for source in who:
            for name, types in asked:
                for qtype in types:
                    rb = resolve(b[1], Question(name, qtype), source.address)
                    ra = resolve(a[1], Question(name, qtype), source.address)
                    if seen(rb) != seen(ra):
                        naive.append((source.label, name, RRType(qtype).name))
        grouped = diff(b, a, asked=asked, who=who)
        assert naive, "the mutation changes nothing: it tests nothing"
        assert sorted(rows(grouped)) == sorted(naive)
        for change in grouped.changes:  # each source's trace is exactly what explain prints for it
            q = Question(change.name, change.qtype)
            for estate, got in ((b, change.before), (a, change.after)):
                assert got == resolve(estate[1], q, change.source.address)


# --------------------------------------------------------------------------- the command


def test_cli_exit_codes_and_text(tmp_path: Path, capsys) -> None:
    before = write(tmp_path, "before")
    assert main(["diff", str(before), str(before)]) == 0
    out = capsys.readouterr().out
    assert "no answer changes (" in out
    after = write(tmp_path, "after", new_ip)
    assert main(["diff", str(before), str(after)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:9] == [
        f"--- {before}",
        f"+++ {after}",
        "contoso-kv.vault.azure.net. A",
        "  from hub, spoke1 (step 5); spoke2, spoke3, onprem (step 6)",
        "  - NOERROR: CNAME contoso-kv.privatelink.vaultcore.azure.net., A 10.0.1.6",
        "  + NOERROR: CNAME contoso-kv.privatelink.vaultcore.azure.net., A 10.0.1.16",
        "  where the resolutions part:",
        "  - contoso-kv.privatelink.vaultcore.azure.net.: private zone privatelink.vaultcore.azure.net. answers A "
        "10.0.1.6",
        "  + contoso-kv.privatelink.vaultcore.azure.net.: private zone privatelink.vaultcore.azure.net. answers A "
        "10.0.1.16",
    ]
    assert out[-1].startswith("10 answers change, for 5 of 8 sources (")


def test_cli_json(tmp_path: Path, capsys) -> None:
    before, after = write(tmp_path, "before"), write(tmp_path, "after", new_ip)
    assert main(["diff", str(before), str(after), "--json", "--from", "spoke2", "--from", "internet"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["format", "before", "after", "sources", "questions", "changes", "summary"]
    assert doc["format"] == "dnsemu-diff/1"
    assert doc["sources"] == [
        {"source": "spoke2", "address": "10.2.0.4", "network_before": "spoke2", "network_after": "spoke2"},
        {"source": "internet", "address": "198.51.100.1", "network_before": "internet", "network_after": "internet"},
    ]
    assert doc["summary"] == {
        "changes": 2,
        "sources_changed": 1,
        "sources": 2,
        "questions": sum(len(q["types"]) for q in doc["questions"]),
    }
    change = doc["changes"][0]
    assert list(change) == ["source", "address", "name", "type", "before", "after", "parts_at"]
    assert change["before"]["answer"][1] == {
        "name": "contoso-kv.privatelink.vaultcore.azure.net.",
        "type": "A",
        "ttl": 10,
        "data": "10.0.1.6",
    }
    assert change["after"]["rcode"] == "NOERROR"
    assert change["parts_at"]["step"] == 6
    assert change["parts_at"]["after"]["step"] == "private"
    assert change["parts_at"]["after"]["zone"] == "privatelink.vaultcore.azure.net."
    # same input, same bytes
    assert main(["diff", str(before), str(after), "--json", "--from", "spoke2", "--from", "internet"]) == 1
    assert json.loads(capsys.readouterr().out) == doc


def test_cli_names_file_adds_questions(tmp_path: Path, capsys) -> None:
    before, after = write(tmp_path, "before"), write(tmp_path, "after", svc_rule)
    names = tmp_path / "names.txt"
    names.write_text("# asked besides what the estates know\nnewhost.svc.contoso.internal  A\n")
    assert main(["diff", str(before), str(after), "--names", str(names), "--from", "spoke2", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    row = next(c for c in doc["changes"] if c["name"] == "newhost.svc.contoso.internal.")
    assert row["type"] == "A"
    assert row["before"]["outcome"] == "forward"
    assert row["after"]["rcode"] == "NXDOMAIN"
    assert [c["type"] for c in doc["changes"] if c["name"] == "newhost.svc.contoso.internal."] == ["A"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad-yaml", "{before}: invalid topology, 1 problem(s):"),
        ("bad-field", "{after}: invalid topology, 1 problem(s):"),
        ("missing", "{before}: invalid topology, 1 problem(s):"),
        ("directory", "{tmp}: is a directory; give a topology file"),
        ("names", "{names}:2: '-bad-..name' is not a domain name"),
        ("names-type", "{names}:1: unknown record type 'BOGUS'"),
        ("from", "dnsemu diff: --from 'nowhere' is in neither estate"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_file(tmp_path: Path, capsys, case: str, expected: str) -> None:
    before, after = write(tmp_path, "before"), write(tmp_path, "after")
    names = tmp_path / "names.txt"
    argv = [str(before), str(after)]
    if case == "bad-yaml":
        before.write_text("virtual_networks:\n  hub: {address_space: [10.0.0.0/16]\n")
    elif case == "bad-field":
        after.write_text("virtual_networks:\n  hub:\n    address_space: [10.0.0.0/33]\n")
    elif case == "missing":
        before.unlink()
    elif case == "directory":
        argv = [str(tmp_path), str(after)]
    elif case == "names":
        names.write_text("ok.example.com\n-bad-..name\n")
        argv += ["--names", str(names)]
    elif case == "names-type":
        names.write_text("ok.example.com BOGUS\n")
        argv += ["--names", str(names)]
    elif case == "from":
        argv += ["--from", "nowhere"]
    assert main(["diff", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected.format(before=before, after=after, names=names, tmp=tmp_path) in captured.err
    assert "Traceback" not in captured.err
    if case == "bad-field":
        assert f"{after}:3: virtual_networks.hub.address_space[0]" in captured.err


def test_json_matches_the_documented_format(tmp_path: Path) -> None:
    """docs/diff.md describes every key the JSON document has."""
    doc_text = (ROOT / "docs" / "diff.md").read_text()
    before, after = load_estate(write(tmp_path, "before")), load_estate(write(tmp_path, "after", unlink_sandbox))
    doc = as_json(diff(before, after))
    keys: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                keys.add(key)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk({k: v for k, v in doc.items()})
    step_keys = {"zone", "link", "policy", "kind", "values", "target", "name", "type", "why", "text"}
    undocumented = sorted(k for k in keys - step_keys if f"`{k}`" not in doc_text)
    assert not undocumented, f"keys of the JSON output missing from docs/diff.md: {undocumented}"
