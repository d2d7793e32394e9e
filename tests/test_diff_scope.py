"""``dnsemu diff`` prunes what it asks (dnsemu/analysis/diffscope.py): the pruning must never lose a change.

For each generated change to the bundled estate (a zone link added or removed, a record
changed, a resolution policy flipped, a ruleset rule added, custom DNS changed, a DNS
security policy rule added, a peering changed, …), the pruned comparison must give
exactly the changes of the brute-force one, which resolves every (network, name, type)
in both estates (``prune=False``), down to the trace step where the two resolutions part
— and so must the comparison shared with a forked process.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dnsemu.analysis.diff import diff, questions, sources
from dnsemu.analysis.diffscope import Comparer, Scope, zone_scope
from dnsemu.analysis.namelist import parse_names
from dnsemu.cli.estate import read_estate
from dnsemu.core.zone import Zone, soa_record
from dnsemu.dns.records import Record, RRType

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = yaml.safe_load((ROOT / "zones" / "topology.yaml").read_text())

#: names no estate holds, asked too: an empty non-terminal, names below a wildcard, below a record
EXTRA = parse_names(
    "\n".join(
        [
            "deep.below.azure.contoso.com",
            "x.newnode.azure.contoso.com",
            "other.azure.contoso.com",
            "nosuch.corp.contoso.com",
            "app.corp.contoso.com TXT",
            "dl.malware.example",
            "x.dl.malware.example",
            "mystorage.blob.core.windows.net MX",
            "www.example.com",
        ]
    )
)


def _zone(data: dict, name: str) -> dict:
    return data["private_dns_zones"][name]


def link_added(data: dict) -> None:
    _zone(data, "corp.contoso.com")["virtual_network_links"].append({"virtual_network": "hub"})


def link_removed(data: dict) -> None:
    zone = _zone(data, "privatelink.blob.core.windows.net")
    zone["virtual_network_links"] = [x for x in zone["virtual_network_links"] if x["virtual_network"] != "sandbox"]


def record_changed(data: dict) -> None:
    _zone(data, "corp.contoso.com")["records"] = ["app 300 A 10.2.0.51"]


def record_added_below(data: dict) -> None:
    # a new owner two labels down: its parent becomes an empty non-terminal
    _zone(data, "azure.contoso.com")["records"].append("x.newnode 300 A 10.0.9.9")


def wildcard_added(data: dict) -> None:
    _zone(data, "azure.contoso.com")["records"].append("* 300 A 10.0.9.8")


def cname_target_moved(data: dict) -> None:
    _zone(data, "azure.contoso.com")["records"] = ["build 300 CNAME app.corp.contoso.com."]


def policy_flipped(data: dict) -> None:
    for link in _zone(data, "privatelink.blob.core.windows.net")["virtual_network_links"]:
        link["resolution_policy"] = "Default" if link.get("resolution_policy") == "NxDomainRedirect" else (
            "NxDomainRedirect"
        )


def rule_added(data: dict) -> None:
    data["dns_forwarding_rulesets"]["spoke-rules"]["forwarding_rules"]["svc"] = {
        "domain_name": "svc.contoso.internal.",
        "target_dns_servers": ["10.0.0.4"],
    }


def rule_disabled(data: dict) -> None:
    data["dns_forwarding_rulesets"]["spoke-rules"]["forwarding_rules"]["blob"]["state"] = "Disabled"


def ruleset_linked(data: dict) -> None:
    data["dns_forwarding_rulesets"]["spoke-rules"]["virtual_network_links"].append("sandbox")


def custom_dns_changed(data: dict) -> None:
    data["virtual_networks"]["spoke1"]["dns_servers"] = ["168.63.129.16"]


def custom_dns_removed(data: dict) -> None:
    del data["virtual_networks"]["spoke3"]["dns_servers"]


def security_rule_added(data: dict) -> None:
    data["dns_resolver_domain_lists"]["more-blocked"] = {"domains": ["corp.contoso.com"]}
    data["dns_resolver_policies"]["spoke2-policy"]["dns_security_rules"]["block-corp"] = {
        "priority": 200,
        "action": "Block",
        "dns_resolver_domain_lists": ["more-blocked"],
    }


def security_domain_added(data: dict) -> None:
    data["dns_resolver_domain_lists"]["blocked-domains"]["domains"].append("mystorage.blob.core.windows.net")


def peering_changed(data: dict) -> None:
    data["virtual_networks"]["sandbox"]["peerings"] = ["hub"]
    data["virtual_networks"]["spoke1"]["peerings"] = []


def endpoint_moved(data: dict) -> None:
    data["private_endpoints"]["pe-keyvault"]["private_ip_addresses"] = ["10.0.1.16"]


def endpoint_removed(data: dict) -> None:
    del data["private_endpoints"]["pe-mystorage-file"]


def public_record_changed(data: dict) -> None:
    data["public_dns"]["zones"]["malware.example"]["records"] = ["dl 300 A 198.51.100.67", "x.dl 300 A 198.51.100.1"]


def onprem_forwarder_changed(data: dict) -> None:
    del data["on_premises"]["onprem"]["conditional_forwarders"]["azure.contoso.com"]


def vnet_added(data: dict) -> None:
    data["virtual_networks"]["spoke9"] = {
        "address_space": ["10.9.0.0/16"],
        "subnets": {"snet-app": {"address_prefix": "10.9.0.0/24"}},
        "peerings": ["hub"],
    }
    _zone(data, "corp.contoso.com")["virtual_network_links"].append({"virtual_network": "spoke9"})


CHANGES: list[Callable[[dict], None]] = [
    link_added,
    link_removed,
    record_changed,
    record_added_below,
    wildcard_added,
    cname_target_moved,
    policy_flipped,
    rule_added,
    rule_disabled,
    ruleset_linked,
    custom_dns_changed,
    custom_dns_removed,
    security_rule_added,
    security_domain_added,
    peering_changed,
    endpoint_moved,
    endpoint_removed,
    public_record_changed,
    onprem_forwarder_changed,
    vnet_added,
]


#: changes that move no answer (the model resolves the same across a peering, or without one)
NO_EFFECT = {peering_changed}


def write(folder: Path, name: str, data: dict) -> Path:
    if not (folder / "svc.contoso.internal.zone").exists():
        shutil.copy(ROOT / "zones" / "svc.contoso.internal.zone", folder)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory):
    return read_estate(write(tmp_path_factory.mktemp("before"), "before", copy.deepcopy(BUNDLED)))


def rows(report) -> set[tuple]:
    """Each change with what a client receives on each side and where the traces part."""
    out = set()
    for c in report.changes:
        sig = [(r.outcome, r.answer, r.authority, r.authoritative, r.forward) for r in (c.before, c.after)]
        out.add((c.source.label, c.name, c.qtype, *map(repr, sig), c.step, c.text_before, c.text_after))
    return out


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_pruned_diff_equals_brute_force(tmp_path: Path, before, change: Callable[[dict], None]) -> None:
    data = copy.deepcopy(BUNDLED)
    change(data)
    after = read_estate(write(tmp_path, "after", data))
    for one, other in ((before, after), (after, before)):
        asked = questions(one, other, EXTRA)
        who = sources(one, other)
        brute = diff(one, other, asked=asked, who=who, prune=False, workers=1)
        pruned = diff(one, other, asked=asked, who=who, workers=1)
        forked = diff(one, other, asked=asked, who=who, workers=2)
        if change in NO_EFFECT:
            assert brute.changes == ()
        else:
            assert brute.changes, f"{change.__name__} changes no answer: it tests nothing"
        assert rows(pruned) == rows(brute)
        assert rows(forked) == rows(brute)
        assert [(c.source.label, c.name, c.qtype) for c in pruned.changes] == [
            (c.source.label, c.name, c.qtype) for c in brute.changes
        ]
        assert pruned.resolved < brute.resolved  # it does prune


def test_an_estate_against_itself_asks_nothing(before) -> None:
    report = diff(before, before)
    assert report.changes == () and report.resolved == 0


def test_scope_of_a_record_change_is_the_record_and_its_aliases(tmp_path: Path, before) -> None:
    data = copy.deepcopy(BUNDLED)
    record_changed(data)
    cname_target_moved(data)
    after = read_estate(write(tmp_path, "after", data))
    comparer = Comparer(before[1], after[1])
    spoke2 = comparer.close(comparer.group_scope(before[1].networks["spoke2"], after[1].networks["spoke2"]))
    assert spoke2.covers("app.corp.contoso.com.")
    assert spoke2.covers("build.azure.contoso.com.")  # its CNAME now leads there
    assert not spoke2.covers("mystorage.blob.core.windows.net.")
    sandbox = comparer.close(comparer.group_scope(before[1].networks["sandbox"], after[1].networks["sandbox"]))
    assert not sandbox.covers("app.corp.contoso.com.")  # the corp zone is not linked there


def _zone_of(*records: tuple[str, int, tuple]) -> Zone:
    return Zone(
        "z.example.",
        soa_record("z.example."),
        [Record(n, t, 300, rdata) for n, t, rdata in records],
        kind="public",
    )


def test_zone_scope_rules() -> None:
    a = ("a.z.example.", RRType.A, ("10.0.0.1",))
    base = _zone_of(a)
    # a record changed: its name and below, and its ancestors exactly
    changed = zone_scope(base, _zone_of(("a.z.example.", RRType.A, ("10.0.0.2",))))
    assert changed.subtrees == {"a.z.example."} and changed.exact == {"z.example."}
    # a new name two labels down: the empty non-terminal between appears, so its subtree
    deeper = zone_scope(base, _zone_of(a, ("x.b.z.example.", RRType.A, ("10.0.0.3",))))
    assert deeper.subtrees == {"x.b.z.example.", "b.z.example."}
    # a wildcard: everything below its parent
    wild = zone_scope(base, _zone_of(a, ("*.z.example.", RRType.A, ("10.0.0.4",))))
    assert wild.covers("anything.z.example.") and wild.covers("deep.a.z.example.")
    # a delegation below the apex: everything below the cut
    cut = zone_scope(base, _zone_of(a, ("sub.z.example.", RRType.NS, ("ns.elsewhere.",))))
    assert cut.covers("x.sub.z.example.") and not cut.covers("a.z.example.")
    # the same zone: nothing
    assert not zone_scope(base, _zone_of(a)).covers("a.z.example.")


def test_scope_covers_subtrees_and_names() -> None:
    scope = Scope()
    scope.exact.add("a.example.")
    scope.subtree("b.example.")
    assert scope.covers("a.example.") and not scope.covers("x.a.example.")
    assert scope.covers("b.example.") and scope.covers("x.y.b.example.") and not scope.covers("example.")
    scope.subtree(".")
    assert scope.covers("anything.")
