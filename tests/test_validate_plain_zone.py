"""Validation counts the common private zone in bulk (issue 18), with the same outcome as record by record.

A private zone whose every record is a plain one inside it (A, AAAA, MX, PTR, SRV, TXT; no CNAME,
no SOA, no owner with an escape) is counted over the whole zone at once (``_Checker.plain_zone``).
Each estate here is loaded as shipped and with that path off (every record then goes through the
loop of ``_Checker.records``): the records kept and every problem reported, with its file, line
and field, must be the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dnsemu.topology import validate
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology


def estate(tmp_path: Path, zone_file: str | None = None, records: list | None = None,
           zone_text: str | None = None) -> Path:
    zone: dict = {"virtual_network_links": [{"virtual_network": "hub"}]}
    if zone_file is not None:
        (tmp_path / "corp.zone").write_text(zone_file)
        zone["zone_file"] = "corp.zone"
    if records is not None:
        zone["records"] = records
    if zone_text is not None:
        zone["zone_text"] = zone_text
    data = {"virtual_networks": {"hub": {"address_space": ["10.0.0.0/16"]}},
            "private_dns_zones": {"corp.example": zone}}
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def load(path: Path, bulk: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, list[str]]:
    with monkeypatch.context() as patch:
        if not bulk:
            patch.setattr(validate._Checker, "plain_zone", lambda self, loc, zone, placed: None)
        try:
            loaded = load_topology(path)
        except TopologyError as exc:
            return {}, [str(p) for p in exc.problems]
    return dict(loaded.zone_records), []


def same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, list[str]]:
    bulk, one_by_one = load(path, True, monkeypatch), load(path, False, monkeypatch)
    assert bulk == one_by_one
    return bulk


def addresses(owner: str, count: int, ttl: str = "") -> str:
    return "".join(f"{owner} {ttl} A 10.0.{n // 200}.{n % 200 + 1}\n" for n in range(count))


MIXED = ("$TTL 60\n@ A 10.0.0.1\n@ TXT \"apex\"\nwww A 10.0.0.2\nwww AAAA fd00::2\nmail MX 10 www\n"
         "_sip._tcp SRV 1 2 5060 www\nptr PTR www\nWWW.corp.example. A 10.0.0.3\n"
         + "".join(addresses(f"h{n}", 1) for n in range(40)))

CASES = {
    "addresses": "$TTL 60\n" + "".join(addresses(f"h{n}", 1) for n in range(50)),
    "mixed-types": MIXED,
    "twenty": "$TTL 60\n" + addresses("big", 20) + addresses("big", 20),
    "twenty-one": "$TTL 60\n" + addresses("big", 21) + addresses("small", 3),
    "twenty-one-twice": "$TTL 60\n" + addresses("big", 25) + addresses("other", 22) + "big TXT \"x\"\n",
    "cname-beside-a": MIXED + "www CNAME elsewhere.example.\n",
    "cname-alone": MIXED + "alias CNAME www\n",
    "soa": "$TTL 60\n@ SOA ns hostmaster 1 2 3 4 5\n" + addresses("h", 3),
    "escaped-owner": "$TTL 60\n" + addresses("h", 3) + "a\\.b A 10.0.0.9\n",
    "escaped-dot-outside": "$TTL 60\n" + addresses("h", 3) + "x\\.corp.example. A 10.0.0.9\n",
    "ns": "$TTL 60\n" + addresses("h", 3) + "sub NS ns.elsewhere.example.\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_a_zone_file_validates_the_same_both_ways(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    same_both_ways(estate(tmp_path, text), monkeypatch)


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_inline_records_zone_text_and_a_zone_file_validate_the_same_both_ways(
        text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = ["inline 60 A 10.0.1.1", {"name": "big", "type": "A", "values": ["10.0.1.2", "10.0.1.3"]},
               "inline 60 TXT hello"]
    same_both_ways(estate(tmp_path, text, records, zone_text=addresses("big", 10, "60")), monkeypatch)


def test_the_records_of_a_plain_zone_are_kept_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zones, problems = same_both_ways(estate(tmp_path, CASES["mixed-types"], ["first 60 A 10.0.2.1"]), monkeypatch)
    records = zones["corp.example."]
    assert not problems and len(records) == 1 + 8 + 40
    assert records[0].name == "first.corp.example." and records[1].name == "corp.example."
    assert records[-1].name == "h39.corp.example." and records[-1].rdata == ("10.0.0.1",)


def test_a_record_set_over_twenty_is_reported_at_its_file_and_line(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _, problems = same_both_ways(estate(tmp_path, CASES["twenty-one-twice"], zone_text=addresses("zt", 21, "60")),
                                 monkeypatch)
    assert [p.split(": record[")[0] for p in problems] == [
        f"{tmp_path / 'corp.zone'}:{1 + 21}", f"{tmp_path / 'corp.zone'}:{1 + 25 + 21}",
        f"{tmp_path / 'topology.yaml'}: private_dns_zones.corp.example.zone_text:21"]
    assert [p.split("]: ")[1].split(":")[0] for p in problems] == [
        "big.corp.example. A", "other.corp.example. A", "zt.corp.example. A"]
    assert all("more than 20 records in one record set" in p for p in problems)


def test_too_many_record_sets_are_reported_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_RECORD_SETS_PER_ZONE", 30)
    for text, sets in ((CASES["addresses"], 50), (MIXED, 45), (CASES["cname-alone"], 46)):
        _, problems = same_both_ways(estate(tmp_path, text), monkeypatch)
        assert problems == [f"{tmp_path / 'topology.yaml'}:2: private_dns_zones.corp.example: "
                            f"{sets} record sets is over Azure's 30 per zone"]


def test_the_bulk_count_is_taken_for_a_plain_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not vacuous: a plain zone is counted in bulk, a zone with a CNAME is left to the loop."""
    taken: list[bool] = []
    real = validate._Checker.plain_zone

    def spy(self: validate._Checker, loc: object, zone: str, placed: object) -> object:
        out = real(self, loc, zone, placed)  # type: ignore[arg-type]
        taken.append(out is not None)
        return out

    monkeypatch.setattr(validate._Checker, "plain_zone", spy)
    load_topology(estate(tmp_path, CASES["mixed-types"]))
    load_topology(estate(tmp_path, CASES["cname-alone"]))
    assert taken == [True, False]


def test_an_owner_whose_escaped_dot_only_looks_inside_the_zone_is_reported(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``x\\.corp.example.`` is one label below the root, not a name in corp.example. (its text ends alike)."""
    path = estate(tmp_path, CASES["addresses"], ["x\\.corp.example. 60 A 10.0.1.1", "a\\.b 60 A 10.0.1.2"])
    _, problems = same_both_ways(path, monkeypatch)
    assert len(problems) == 1 and "x\\.corp.example. is not inside zone corp.example." in problems[0]
