"""``dnsemu capture`` against a second dnsemu playing "Azure", then ``dnsemu verify`` against the bundled model.

The "Azure" estate is the bundled one with four things the model does not know:

* the branch office forwards the public zone ``blob.core.windows.net`` to the hub's inbound
  endpoint (facts §4.3: the forwarder that works) — an on-premises forwarder the model lacks;
* the sandbox links ``privatelink.vaultcore.azure.net`` (§3.1) — a link the export lacked;
* spoke2 uses a custom DNS server that forwards everything to the internet (§4.1: custom DNS
  bypasses the VNet's Azure DNS, ruleset included) — a custom DNS server the model lacks;
* the file endpoint's NIC has another address (§1.5: the zone group's record follows it).

A capture "from a VNet" is a query whose source Azure DNS sees in that VNet. On a VM it is
the VM's own address; here the capture sends EDNS Client Subnet from loopback, which dnsemu
honours (and echoes) from trusted sources, and ``verify`` replays from the echoed ECS
address. A second test binds the capture socket to a loopback address that both estates
place in a VNet, which is exactly the VM case.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest
import yaml

from dnsemu.analysis.verify import CaptureRecord, parse_capture, verify
from dnsemu.cli import main
from dnsemu.cli.capture import capture, resolv_conf_servers, system_resolver
from dnsemu.cli.estate import read_estate as load_estate
from dnsemu.dns.client import DnsClient, ExchangeTimeout
from dnsemu.dns.message import build_query
from dnsemu.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = yaml.safe_load((ROOT / "zones" / "topology.yaml").read_text())
NAMES = [
    "mystorage.blob.core.windows.net",
    "contoso-kv.vault.azure.net",
    "mystorage.file.core.windows.net",
    "fabrikamstore.blob.core.windows.net",
]
SOURCES = {  # who captures, and the ECS subnet that places the capture there
    "hub": "10.0.2.4/32",
    "spoke2": "10.2.0.4/32",
    "sandbox": "10.3.0.4/32",
    "branch": "172.16.0.4/32",
    "onprem": "192.168.0.4/32",
    "internet": "198.51.100.1/32",
}


def azure_estate() -> dict:
    data = copy.deepcopy(BUNDLED)
    data["on_premises"]["branch"]["conditional_forwarders"] = {"blob.core.windows.net": ["10.0.0.4"]}
    data["private_dns_zones"]["privatelink.vaultcore.azure.net"]["virtual_network_links"].append(
        {"virtual_network": "sandbox"}
    )
    data["private_endpoints"]["pe-mystorage-file"]["private_ip_addresses"] = ["10.0.1.15"]
    data["custom_dns_servers"] = {
        "spoke2-dns": {"virtual_network": "spoke2", "private_ip_address": "10.2.0.53", "default_forwarding": "internet"}
    }
    data["virtual_networks"]["spoke2"]["dns_servers"] = ["10.2.0.53"]
    data["check"] = {"accept": ["*"]}
    return data


def write_estate(directory: Path, name: str, data: dict) -> Path:
    shutil.copy(ROOT / "zones" / "svc.contoso.internal.zone", directory)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, Path]:
    """One capture per source, made against the 'Azure' dnsemu on 127.0.0.1."""
    directory = tmp_path_factory.mktemp("azure")
    names = directory / "names.txt"
    names.write_text("# what the applications resolve\n" + "\n".join(NAMES) + "\n")
    out = {}
    with Emulator(write_estate(directory, "azure", azure_estate())) as azure:
        for label, subnet in SOURCES.items():
            path = directory / f"{label}.jsonl"
            argv = ["capture", "--names", str(names), "--server", f"127.0.0.1:{azure.port}", "-o", str(path)]
            assert main([*argv, "--subnet", subnet, "--rate", "1000", "--timeout", "10"]) == 0
            out[label] = path
        azure.check()
    return out


def test_capture_records_what_the_server_said(captures: dict[str, Path]) -> None:
    lines = [json.loads(line) for line in captures["hub"].read_text().splitlines()]
    assert [(r["name"], r["type"]) for r in lines] == [(n + ".", "A") for n in NAMES]
    first = lines[0]
    assert list(first) == [
        "v", "time", "source", "server", "name", "type", "rcode", "flags", "answer", "authority", "transport", "ecs",
        "ecs_scope", "error",
    ]  # fmt: skip
    assert first["source"] == "127.0.0.1"  # the address the query left from
    assert first["ecs"] == "10.0.2.4/32" and first["ecs_scope"] == 16  # echoed: the server answered as 10.0.2.4
    assert first["rcode"] == "NOERROR" and first["flags"] == ["qr", "rd", "ra"] and first["transport"] == "udp"
    assert first["answer"] == [
        {
            "name": "mystorage.blob.core.windows.net.",
            "type": "CNAME",
            "ttl": 60,
            "data": "mystorage.privatelink.blob.core.windows.net.",
        },
        {"name": "mystorage.privatelink.blob.core.windows.net.", "type": "A", "ttl": 10, "data": "10.0.1.4"},
    ]
    assert first["time"].endswith("Z") and first["error"] is None
    fabrikam = lines[3]
    assert fabrikam["rcode"] == "NXDOMAIN"
    assert fabrikam["authority"][0]["name"] == "privatelink.blob.core.windows.net."


def test_verify_finds_each_difference_and_its_likeliest_cause(captures: dict[str, Path], capsys) -> None:
    files = [str(p) for p in captures.values()]
    assert main(["verify", "--topology", str(ROOT / "zones" / "topology.yaml"), "--json", *files]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "dnsemu-verify/1"
    found = {(Path(r["file"]).stem, r["name"]): (r["verdict"], r["cause"]["code"] if r["cause"] else None)
             for r in doc["results"]}  # fmt: skip
    differ = {key: value for key, value in found.items() if value[0] == "differ"}
    assert differ == {
        # the NIC's address changed: every source that sees the zone says so
        ("hub", "mystorage.file.core.windows.net."): ("differ", "stale-record"),
        ("onprem", "mystorage.file.core.windows.net."): ("differ", "stale-record"),
        # spoke2's custom DNS server goes to the internet: every private answer of the model came back public
        ("spoke2", "mystorage.blob.core.windows.net."): ("differ", "custom-dns"),
        ("spoke2", "contoso-kv.vault.azure.net."): ("differ", "custom-dns"),
        ("spoke2", "mystorage.file.core.windows.net."): ("differ", "custom-dns"),
        ("spoke2", "fabrikamstore.blob.core.windows.net."): ("differ", "custom-dns"),
        # the sandbox sees the vault zone through a link the model lacks
        ("sandbox", "contoso-kv.vault.azure.net."): ("differ", "missing-link"),
        # the branch forwards blob.core.windows.net to the hub: a private answer, and the partner's NXDOMAIN
        ("branch", "mystorage.blob.core.windows.net."): ("differ", "missing-forwarder"),
        ("branch", "fabrikamstore.blob.core.windows.net."): ("differ", "missing-forwarder"),
    }
    assert {value for key, value in found.items() if key not in differ} == {("agree", None)}
    assert doc["summary"] == {"agree": 15, "approximate": 0, "outside": 0, "differ": 9, "no-reply": 0,
                              "unplaceable": 0}  # fmt: skip
    sandbox = next(r for r in doc["results"] if r["file"].endswith("sandbox.jsonl") and r["name"].startswith("contoso"))
    assert sandbox["replayed_from"] == "10.3.0.4" and sandbox["network"] == "sandbox"
    assert "privatelink.vaultcore.azure.net." in sandbox["cause"]["message"]
    assert "does not link to VNet 'sandbox'" in sandbox["cause"]["message"]
    assert sandbox["trace"][-1]["text"].endswith("public DNS answers A 203.0.113.141")
    branch = next(r for r in doc["results"] if r["file"].endswith("branch.jsonl") and r["name"].startswith("mystorage"))
    assert "forwards blob.core.windows.net to Azure" in branch["cause"]["message"]
    assert "10.0.0.4" in branch["cause"]["message"]


def test_verify_text_names_file_line_trace_and_cause(captures: dict[str, Path], capsys) -> None:
    assert main(["verify", "--topology", str(ROOT / "zones" / "topology.yaml"), str(captures["sandbox"])]) == 1
    out = capsys.readouterr().out
    assert f"{captures['sandbox']}:2: contoso-kv.vault.azure.net. A from 10.3.0.4 (sandbox): differ" in out
    assert "  observed: NOERROR: CNAME contoso-kv.privatelink.vaultcore.azure.net., A 10.0.1.6" in out
    assert "  likeliest missing piece (missing-link): " in out
    assert "    1. 10.3.0.4 is in virtual network 'sandbox'" in out
    assert out.rstrip().endswith(": 3 agree, 1 differ")


def test_verify_agrees_with_the_estate_that_answered(captures: dict[str, Path], tmp_path: Path, capsys) -> None:
    model = write_estate(tmp_path, "azure-model", azure_estate())
    assert main(["verify", "--topology", str(model), *map(str, captures.values())]) == 0
    assert capsys.readouterr().out.strip().endswith(": 24 agree")


def test_capture_from_a_bound_address_is_the_vm_case(tmp_path: Path) -> None:
    """No ECS: the source address itself places the query, as a VM's does (loopback stands in for the VNet)."""
    data = copy.deepcopy(BUNDLED)
    data["virtual_networks"]["hub"]["address_space"].append("127.0.10.0/24")
    data["virtual_networks"]["hub"]["subnets"]["snet-loop"] = {"address_prefix": "127.0.10.0/24"}
    model = write_estate(tmp_path, "model", data)
    names = tmp_path / "names.txt"
    names.write_text("mystorage.blob.core.windows.net\n10.0.2.4\n")
    out = tmp_path / "capture.jsonl"
    with Emulator(model) as azure:
        argv = ["capture", "--names", str(names), "--server", f"127.0.0.1:{azure.port}", "--bind", "127.0.10.4"]
        assert main([*argv, "-o", str(out), "--type", "A"]) == 0
        assert {q["client"] for q in azure.queries} == {"127.0.10.4"}
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["source"] for r in records] == ["127.0.10.4", "127.0.10.4"]
    assert [r["ecs"] for r in records] == [None, None]
    assert records[0]["answer"][-1]["data"] == "10.0.1.4"  # the hub's private answer
    assert records[1]["type"] == "PTR" and records[1]["name"] == "4.2.0.10.in-addr.arpa."
    report = verify(load_estate(model), parse_capture(out.read_text(), str(out)))
    assert [(r.verdict, r.network) for r in report.results] == [("agree", "hub"), ("agree", "hub")]


def test_capture_talks_only_to_the_server_it_is_given(tmp_path: Path, monkeypatch) -> None:
    names = tmp_path / "names.txt"
    names.write_text("mystorage.blob.core.windows.net A AAAA\ncontoso-kv.vault.azure.net\n")
    destinations: list[object] = []
    lookups: list[object] = []
    for method in ("connect", "connect_ex", "sendto", "sendmsg"):
        original = getattr(socket.socket, method)

        def spy(self, *args, _original=original, _method=method):
            if _method in ("connect", "connect_ex"):
                destinations.append(args[0])
            elif _method == "sendto":
                destinations.append(args[-1])
            else:
                destinations.append(args[3] if len(args) > 3 else None)
            return _original(self, *args)

        monkeypatch.setattr(socket.socket, method, spy)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    with Emulator(ROOT / "zones" / "topology.yaml") as server:
        destinations.clear()  # the emulator's own start-up is not the capture
        lookups.clear()
        before = len(server.queries)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        thread_names = {t.name for t in threading.enumerate()}
        argv = ["capture", "--names", str(names), "--server", f"127.0.0.1:{server.port}", "-o", "-"]
        assert main([*argv, "--rate", "1000", "--timeout", "10"]) == 0
        monkeypatch.undo()
        assert {t.name for t in threading.enumerate()} <= thread_names
        asked = [(q["qname"], q["qtype"]) for q in server.queries[before:]]
        port = server.port
    assert destinations == [("127.0.0.1", port)] * 3
    assert lookups == ["127.0.0.1"] * 3  # a literal address: no name is looked up
    assert asked == [
        ("mystorage.blob.core.windows.net.", "A"),
        ("mystorage.blob.core.windows.net.", "AAAA"),
        ("contoso-kv.vault.azure.net.", "A"),
    ]


def test_capture_records_a_server_that_does_not_answer(tmp_path: Path, capsys) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # a socket of ours that never replies
    try:
        names = tmp_path / "names.txt"
        names.write_text("mystorage.blob.core.windows.net\n")
        out = tmp_path / "capture.jsonl"
        port = silent.getsockname()[1]
        argv = ["capture", "--names", str(names), "--server", f"127.0.0.1:{port}", "-o", str(out), "--timeout", "0.3"]
        assert main(argv) == 1
        silent.settimeout(5)
        data, _ = silent.recvfrom(4096)
        assert build_query("mystorage.blob.core.windows.net.", 1, int.from_bytes(data[:2], "big")) == data
    finally:
        silent.close()
    record = json.loads(out.read_text())
    assert record["rcode"] is None and record["answer"] == []
    assert record["error"] == "timed out"
    assert record["source"] == "127.0.0.1"
    assert "1 questions, 0 answered, 1 without a reply" in capsys.readouterr().err
    report = verify(load_estate(ROOT / "zones" / "topology.yaml"), parse_capture(out.read_text(), "c.jsonl"))
    assert [r.verdict for r in report.results] == ["no-reply"]


@pytest.mark.parametrize(
    ("extra", "names_text", "expected"),
    [
        (["--server", "dns.example.com"], "a.example.com\n", "is not an IP address (a name would itself need DNS)"),
        (["--server", "127.0.0.1:99999"], "a.example.com\n", "--server '127.0.0.1:99999': the port must be"),
        (["--server", "127.0.0.1:53", "--bind", "192.0.2.77"], "a.example.com\n", "--bind 192.0.2.77: cannot send"),
        (["--server", "127.0.0.1:53", "--type", "BOGUS"], "a.example.com\n", "unknown query type 'BOGUS'"),
        (["--server", "127.0.0.1:53"], "ok.example.com\nbad..name\n", "names.txt:2: 'bad..name' is not a domain"),
    ],
)
def test_capture_bad_input_exits_2_before_asking_anything(
    tmp_path: Path, capsys, extra: list[str], names_text: str, expected: str
) -> None:
    names = tmp_path / "names.txt"
    names.write_text(names_text)
    assert main(["capture", "--names", str(names), "-o", str(tmp_path / "c.jsonl"), *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "c.jsonl").exists()


def test_system_resolver_from_resolv_conf(tmp_path: Path) -> None:
    """The default server is read from files; no packet is sent to find it."""
    conf, upstreams = tmp_path / "resolv.conf", tmp_path / "upstreams.conf"
    conf.write_text("# generated\nsearch reddog.microsoft.com\nnameserver 168.63.129.16\nnameserver 10.0.0.4\n")
    assert system_resolver(conf, upstreams) == ("168.63.129.16", f"the first nameserver in {conf}")
    conf.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\n")
    upstreams.write_text("nameserver 10.0.0.4\nnameserver 168.63.129.16\n")
    assert system_resolver(conf, upstreams) == ("10.0.0.4", f"the first upstream of systemd-resolved in {upstreams}")
    upstreams.unlink()
    assert system_resolver(conf, upstreams)[0] == "127.0.0.53"
    conf.write_text("search example.com\n")
    with pytest.raises(ValueError, match="lists no nameserver: give --server"):
        system_resolver(conf, upstreams)
    assert resolv_conf_servers("nameserver fe80::1%eth0\nnameserver not-an-ip\n") == ["fe80::1%eth0"]


# --------------------------------------------------------------------------- verify, record by record


def record(name: str, answer: list[tuple[str, str, str]], *, rcode: str = "NOERROR", type: str = "A",
           source: str = "10.0.2.4", server: str | None = None, authority=()) -> CaptureRecord:  # fmt: skip
    return CaptureRecord(
        file="c.jsonl",
        line=1,
        name=name,
        type=type,
        rcode=rcode,
        answer=tuple({"name": n, "type": t, "ttl": 5, "data": d} for n, t, d in answer),
        authority=tuple({"name": n, "type": t, "ttl": 5, "data": d} for n, t, d in authority),
        source=source,
        server=server,
    )


@pytest.fixture(scope="module")
def bundled():
    return load_estate(ROOT / "zones" / "topology.yaml")


def one(bundled, rec: CaptureRecord):
    (result,) = verify(bundled, [rec]).results
    return result


def test_real_public_chains_agree_approximately(bundled) -> None:
    """Azure's public cluster hosts and addresses are not dnsemu's: the chain must only go on from the same name."""
    rec = record(
        "MyStorage.blob.core.windows.net.",
        [
            ("mystorage.blob.core.windows.net.", "CNAME", "mystorage.privatelink.blob.core.windows.net."),
            ("mystorage.privatelink.blob.core.windows.net.", "CNAME", "blob.bl5prdstr19c.store.core.windows.net."),
            ("blob.bl5prdstr19c.store.core.windows.net.", "A", "20.60.153.33"),
        ],
        source="198.51.100.7",
    )
    result = one(bundled, rec)
    assert (result.verdict, result.network) == ("approximate", "internet")
    assert "the same up to mystorage.privatelink.blob.core.windows.net." in result.detail
    # a private address in that tail is no public chain
    private = record(rec.name, [*[(a["name"], a["type"], a["data"]) for a in rec.answer[:2]],
                                ("blob.bl5prdstr19c.store.core.windows.net.", "A", "10.9.9.9")], source="198.51.100.7")
    assert one(bundled, private).verdict == "differ"


def test_forwarded_names_are_outside_the_model_unless_private(bundled) -> None:
    public = record("www.example.com.", [("www.example.com.", "A", "93.184.215.14")])
    result = one(bundled, public)
    assert result.verdict == "outside"
    assert "hands the rest to upstream" in result.detail
    # spoke2 links its own corp.contoso.com zone, which comes before the ruleset's corp rule (facts-2 §11.1):
    # an answer other than the zone's is a record that changed since the export
    corp = record("app.corp.contoso.com.", [("app.corp.contoso.com.", "A", "192.168.40.12")], source="10.2.0.4")
    result = one(bundled, corp)
    assert result.verdict == "differ"
    assert result.cause.code == "stale-record"
    assert "zone corp.contoso.com. answers 192.168.40.12 where the model has 10.2.0.50" in result.cause.message
    # the same from the hub, which the model sends to the internet: the zone exists, linked to spoke2 only
    other = record("app.corp.contoso.com.", [("app.corp.contoso.com.", "A", "192.168.40.12")], source="10.0.2.4")
    assert one(bundled, other).cause.code == "missing-link"
    # a zone no model has
    unknown = record("app.plant.contoso.com.", [("app.plant.contoso.com.", "A", "192.168.40.12")], source="10.0.2.4")
    assert one(bundled, unknown).cause.code == "unmodelled-zone"


def test_an_unknown_server_is_a_custom_dns_server(bundled) -> None:
    """The VM asked a DNS server the model does not know, and the model's private answer did not come back."""
    rec = record(
        "contoso-kv.vault.azure.net.",
        [
            ("contoso-kv.vault.azure.net.", "CNAME", "contoso-kv.privatelink.vaultcore.azure.net."),
            ("contoso-kv.privatelink.vaultcore.azure.net.", "CNAME", "data-prod-eus.vaultcore.azure.net."),
            ("data-prod-eus.vaultcore.azure.net.", "A", "52.168.109.101"),
        ],
        source="10.0.2.4",
        server="10.0.2.53:53",
    )
    result = one(bundled, rec)
    assert result.verdict == "differ"
    assert result.cause.code == "custom-dns"
    assert result.cause.message.startswith("asked 10.0.2.53, a DNS server the model does not know")
    assert "(asked 10.0.2.53, a DNS server the model does not know)" in result.detail


def test_a_link_the_estate_lacks(bundled) -> None:
    """One zone comes back public from the hub while the others stay private: that link is gone (§3.1)."""
    public = record(
        "contosoacr.azurecr.io.",
        [
            ("contosoacr.azurecr.io.", "CNAME", "contosoacr.privatelink.azurecr.io."),
            ("contosoacr.privatelink.azurecr.io.", "CNAME", "eus.azurecr.io."),
            ("eus.azurecr.io.", "A", "20.62.128.1"),
        ],
    )
    private = record(
        "mystorage.blob.core.windows.net.",
        [
            ("mystorage.blob.core.windows.net.", "CNAME", "mystorage.privatelink.blob.core.windows.net."),
            ("mystorage.privatelink.blob.core.windows.net.", "A", "10.0.1.4"),
        ],
    )
    report = verify(bundled, [public, private])
    assert [(r.verdict, r.cause.code if r.cause else None) for r in report.results] == [
        ("differ", "extra-link"),
        ("agree", None),
    ]
    assert "zone privatelink.azurecr.io., linked to VNet 'hub'" in report.results[0].cause.message


def test_connection_state_and_server_failure(bundled) -> None:
    # pendingstore's connection is Pending in the model (§1.1: no alias); reality has the alias
    approved = record(
        "pendingstore.blob.core.windows.net.",
        [
            ("pendingstore.blob.core.windows.net.", "CNAME", "pendingstore.privatelink.blob.core.windows.net."),
            ("pendingstore.privatelink.blob.core.windows.net.", "CNAME", "blob.x.store.core.windows.net."),
            ("blob.x.store.core.windows.net.", "A", "20.1.2.3"),
        ],
        source="198.51.100.7",
    )
    assert one(bundled, approved).cause.code == "connection-state"
    failed = record("mystorage.blob.core.windows.net.", [], rcode="SERVFAIL")
    assert one(bundled, failed).cause.code == "server-failure"


def test_the_server_asked_decides_where_the_query_enters(bundled) -> None:
    """spoke1 uses the inbound endpoint; a VM there that asks 168.63.129.16 meets spoke1's own Azure DNS (§4.1)."""
    rec = record(
        "mystorage.blob.core.windows.net.",
        [
            ("mystorage.blob.core.windows.net.", "CNAME", "mystorage.privatelink.blob.core.windows.net."),
            ("mystorage.privatelink.blob.core.windows.net.", "CNAME", "blob.bl5prdstr19c.store.core.windows.net."),
            ("blob.bl5prdstr19c.store.core.windows.net.", "A", "20.60.153.33"),
        ],
        source="10.1.0.4",
        server="168.63.129.16:53",
    )
    result = one(bundled, rec)
    assert result.verdict == "approximate"
    assert result.model.view == "vnet:spoke1"
    assert "asked 168.63.129.16 directly" in result.model.trace[1].text


def test_unplaceable_and_from(bundled, tmp_path: Path, capsys) -> None:
    rec = record("mystorage.blob.core.windows.net.", [], rcode="NXDOMAIN", source="127.0.0.1")
    assert one(bundled, rec).verdict == "unplaceable"
    path = tmp_path / "c.jsonl"
    line = {"name": "mystorage.blob.core.windows.net.", "type": "A", "rcode": "NOERROR", "source": "127.0.0.1",
            "answer": [{"name": "mystorage.blob.core.windows.net.", "type": "CNAME", "ttl": 60,
                        "data": "mystorage.privatelink.blob.core.windows.net."},
                       {"name": "mystorage.privatelink.blob.core.windows.net.", "type": "A", "ttl": 10,
                        "data": "10.0.1.4"}]}  # fmt: skip
    path.write_text(json.dumps(line) + "\n")
    topology = str(ROOT / "zones" / "topology.yaml")
    assert main(["verify", "--topology", topology, str(path)]) == 1  # unplaceable fails: nothing was checked
    assert "1 unplaceable" in capsys.readouterr().out
    assert main(["verify", "--topology", topology, "--from", "hub-vm1", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith(": 1 agree")
    assert main(["verify", "--topology", topology, "--from", "nowhere", str(path)]) == 2
    assert "--from 'nowhere' is neither an address nor" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"name": "a.example.com", "type": "A", "rcode": "NOERROR"}\n', "c.jsonl:1: field 'answer': required"),
        ('\n\n{"name": "a.example.com", "type": "A", "answer": 5}\n', "c.jsonl:3: field 'answer': expected a list"),
        ('{"name": "a.example.com", "type": "A", "answer": [{"name": 1}]}\n', "c.jsonl:1: field answer[0].name"),
        ('{"name": "a..b", "type": "A", "answer": []}\n', "c.jsonl:1: field 'name': 'a..b' is not a domain name"),
        ('{"name": "a.example.com", "type": "NOPE", "answer": []}\n', "c.jsonl:1: field 'type': unknown record"),
        ('{"name": "a.example.com", "type": "A", "answer": [], "source": "x"}\n', "c.jsonl:1: field 'source'"),
        ('{"name": "a.example.com", "type": "A", "answer": [], "v": 2}\n', "c.jsonl:1: field 'v': format version 2"),
        ('{"name": "a.example.com", "type": "A", "answer": []\n', "c.jsonl:1: not JSON"),
        ("[1, 2]\n", "c.jsonl:1: expected a JSON object, got list"),
        ("\xff\n", "c.jsonl:1: not UTF-8 text"),
    ],
)
def test_verify_bad_capture_exits_2_naming_file_line_and_field(tmp_path: Path, capsys, content, expected) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(content.encode("latin-1"))
    assert main(["verify", "--topology", str(ROOT / "zones" / "topology.yaml"), str(path)]) == 2
    err = capsys.readouterr().err
    assert expected.replace("c.jsonl", str(path)) in err
    assert "Traceback" not in err


def test_verify_bad_topology_exits_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("")
    bad = tmp_path / "t.yaml"
    bad.write_text("virtual_networks: [\n")
    assert main(["verify", "--topology", str(bad), str(path)]) == 2
    assert f"{bad}: invalid topology" in capsys.readouterr().err


def test_capture_function_paces_its_questions(monkeypatch) -> None:
    """At most ``rate`` questions a second (Azure DNS drops a VM's queries past 1000/s, §13)."""
    slept: list[float] = []
    sent: list[dict] = []

    def no_reply(*args, **kwargs):
        raise ExchangeTimeout()

    monkeypatch.setattr(DnsClient, "exchange", no_reply)
    now = [100.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    summary = capture(
        [("a.example.", 1)] * 3, "127.0.0.1", 9, sent.append, rate=2.0, sleep=sleep, monotonic=lambda: now[0]
    )
    assert (summary.asked, summary.failed) == (3, 3)
    assert slept == [0.5, 0.5]
    assert [r["error"] for r in sent] == ["timed out"] * 3


def test_records_added_and_removed_since_the_export(bundled) -> None:
    """The hub's zone has a record the model lacks, and lacks one the model has (§1.5: zone groups write them)."""
    added = record(
        "newstore.privatelink.blob.core.windows.net.",
        [("newstore.privatelink.blob.core.windows.net.", "A", "10.0.1.30")],
    )
    result = one(bundled, added)
    assert (result.verdict, result.cause.code) == ("differ", "missing-record")
    assert "zone privatelink.blob.core.windows.net. holds a record" in result.cause.message
    soa = ("privatelink.vaultcore.azure.net.", "SOA",
           "azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10")  # fmt: skip
    removed = record(
        "contoso-kv.vault.azure.net.",
        [("contoso-kv.vault.azure.net.", "CNAME", "contoso-kv.privatelink.vaultcore.azure.net.")],
        rcode="NXDOMAIN",
        authority=[soa],
    )
    result = one(bundled, removed)
    assert (result.verdict, result.cause.code) == ("differ", "extra-record")
    assert result.cause.message.startswith("zone privatelink.vaultcore.azure.net. denies contoso-kv.vault.azure.net.")


@pytest.mark.parametrize("command", ["verify", "capture"])
def test_a_fifo_or_device_given_as_capture_or_names_file_is_refused_without_reading(
        tmp_path: Path, capsys, command) -> None:
    """A FIFO would block the reader forever and /dev/zero never ends: both are refused before reading."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    topology = str(ROOT / "zones" / "topology.yaml")
    for path, reason in ((str(fifo), "a FIFO, not a regular file"), ("/dev/zero", "a character device")):
        if command == "verify":
            argv = ["verify", "--topology", topology, path]
        else:
            argv = ["capture", "--names", path, "--server", "127.0.0.1:9", "-o", str(tmp_path / "out.jsonl")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{path}: {reason}" in err
        assert "Traceback" not in err
