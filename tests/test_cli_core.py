"""`dnsemu check` and `dnsemu explain`: exit codes, findings, traces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dnsemu.cli import main

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "zones" / "topology.yaml"
MISTAKES = ROOT / "docs" / "examples" / "mistakes.yaml"
OVERLAPPING = ROOT / "docs" / "examples" / "overlapping-zones.yaml"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_bundled_estate_is_clean(capsys) -> None:
    code, out, _ = run(capsys, "check", str(BUNDLED))
    assert code == 0, out
    assert "valid, no findings" in out


def test_check_finds_every_mistake(capsys) -> None:
    code, out, _ = run(capsys, "check", str(MISTAKES))
    assert code == 1
    expected = {
        "endpoint-resolves-public [spoke-peered:privatelink.blob.core.windows.net]": "links do not follow peering",
        "endpoint-resolves-public [datacenter:privatelink.blob.core.windows.net]": "forward the public zone",
        "privatelink-forwarder [datacenter:privatelink.blob.core.windows.net]": "blob.core.windows.net",
        "duplicate-endpoint [appdata@privatelink.blob.core.windows.net]": "overwrites",
        "foreign-nxdomain [hub:partnerdata.blob.core.windows.net]": "NxDomainRedirect",
        "custom-dns-bypass [spoke-custom]": "never consulted",
        "ruleset-loop [loop-rules:contoso.com]": "loops",
        "pls-no-record [pe-partner]": "10.0.1.10",
        "connection-not-approved [pe-pending]": "Pending",
        "ruleset-rule-shadowed [spoke-rules/corp:spoke-ruled]": "linked zones come first",
        "security-rule-unreachable [spoke-policy/block-bad]": "first matching rule decides",
    }
    for head, words in expected.items():
        line = next((x for x in out.splitlines() if x.startswith(f"- {head}")), None)
        assert line is not None, f"missing {head}:\n{out}"
        block = out[out.index(line) :].split("\n- ")[0]
        assert words in block, block
    # the link that custom DNS bypasses does not produce a NXDOMAIN finding of its own
    assert "foreign-nxdomain [spoke-custom" not in out


def test_check_invalid_exits_2_with_file_and_line(capsys) -> None:
    code, _, err = run(capsys, "check", str(OVERLAPPING))
    assert code == 2
    assert f"{OVERLAPPING}:8: private_dns_zones.PrivateLink.VaultCore.Azure.Net" in err
    assert "overlapping namespaces" in err


def test_check_accept_patterns(tmp_path, capsys) -> None:
    text = MISTAKES.read_text() + "\ncheck:\n  accept: ['*']\n"
    path = tmp_path / "t.yaml"
    path.write_text(text)
    code, out, _ = run(capsys, "check", str(path))
    assert code == 0, out


def test_explain_by_network_name(capsys) -> None:
    code, out, _ = run(
        capsys, "explain", "mystorage.blob.core.windows.net", "--from", "hub", "--topology", str(BUNDLED)
    )
    assert code == 0
    assert "10.0.2.4 is in virtual network 'hub'" in out  # the hub's first VM stands in for the network
    assert "status: NOERROR" in out
    assert "mystorage.privatelink.blob.core.windows.net.\t\t10\tIN\tA\t10.0.1.4" in out


def test_explain_nxdomain_shows_authority(capsys) -> None:
    code, out, _ = run(
        capsys, "explain", "fabrikamstore.blob.core.windows.net", "--from", "10.0.5.5", "--topology", str(BUNDLED)
    )
    assert code == 0
    assert "status: NXDOMAIN" in out
    assert ";; AUTHORITY SECTION:" in out
    assert "azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10" in out


def test_explain_json(capsys) -> None:
    code, out, _ = run(
        capsys, "explain", "contoso-kv.vault.azure.net", "--from", "onprem", "--json", "--topology", str(BUNDLED)
    )
    assert code == 0
    data = json.loads(out)
    assert data["answer_kind"] == "private"
    assert data["view"] == "vnet:hub"
    assert [s["step"] for s in data["trace"]][:3] == ["source", "client-dns", "forwarder"]


def test_explain_forward_and_type(capsys) -> None:
    code, out, _ = run(
        capsys, "explain", "pypi.org", "--type", "AAAA", "--from", "internet", "--topology", str(BUNDLED)
    )
    assert code == 0
    assert "status: forwarded" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "x.example", "--from", "nowhere"], "neither an address nor a network"),
        (["explain", "x.example", "--type", "BOGUS", "--from", "hub"], "unknown record type"),
    ],
)
def test_explain_errors(capsys, argv, message) -> None:
    code, _, err = run(capsys, *argv, "--topology", str(BUNDLED))
    assert code == 2
    assert message in err


def test_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dnsemu", "check", str(BUNDLED)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
