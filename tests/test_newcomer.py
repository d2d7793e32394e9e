"""From an install to a first answer, as a newcomer meets it (issue 16): each friction, closed.

The bundled estate and the ``dnsemu init`` templates, the default topology and what the first
log line says about it, the default port, ``--version``, the CLI seams (``check --topology``,
``explain`` defaults, ``query --from``, ``:PORT``, a closed pipe, a privileged port), the errors
that say what to do, the query log's order and reasons, ``ecs_ignored``, and two metrics.
Everything runs real commands and real servers on loopback.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import dns.query
import pytest
import yaml
from conftest import make_settings

import dnsemu
from dnsemu.cli import main
from dnsemu.cli.serve import listen_hint
from dnsemu.core.compile import compile_topology
from dnsemu.estates import DEFAULT_TEMPLATE, EXAMPLE, TEMPLATES, estate_dir, estate_files, example_topology
from dnsemu.server.handler import Handler
from dnsemu.server.settings import SettingsError, load_settings
from dnsemu.testing import Emulator
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology, load_topology_text

ROOT = Path(__file__).resolve().parent.parent
HUB_ANSWER = ["10.0.1.4"]  # mystorage.blob.core.windows.net from the bundled estate's hub


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    env.update(extra)
    return env


def dnsemu_cmd(*args: str, cwd: Path, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dnsemu", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env or clean_env())


class Serve:
    """``dnsemu serve`` in a subprocess in any folder; ready once its readiness line is out."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60,
                 logs: Path | None = None) -> None:
        self.err_path = (logs or cwd) / f".serve-{time.monotonic_ns()}.err"
        self._err = open(self.err_path, "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen([sys.executable, "-m", "dnsemu", "serve", *args], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=self._err, env=env or clean_env())
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout)
        self.line = self.proc.stdout.readline().decode().strip() if ready else ""
        match = re.search(r"udp://([0-9.]+):(\d+)", self.line)
        if match is None:
            self.close()
            raise AssertionError(f"no readiness line in {timeout} s: {self.line!r}; stderr:\n{self.stderr()}")
        self.host, self.port = match.group(1), int(match.group(2))

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.err_path.read_text(errors="replace")

    def close(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()
        return self.proc.returncode


def ask(port: int, name: str, rdtype: str = "A", subnet: str | None = None, host: str = "127.0.0.1",
        source: str | None = None) -> dns.message.Message:
    options = [dns.edns.ECSOption.from_text(subnet)] if subnet else None
    query = dns.message.make_query(name, rdtype, use_edns=0, options=options)
    return dns.query.udp(query, host, port=port, timeout=10, source=source)


def addresses(reply: dns.message.Message) -> list[str]:
    return [d.to_text() for r in reply.answer if r.rdtype == 1 for d in r]


# --------------------------------------------------------------------------- the bundled estate


def test_the_checkout_zones_are_the_bundled_example_itself() -> None:
    """zones/ (the README's, compose's, the graph's) is a link to the package's example estate: one copy, no drift."""
    zones = ROOT / "zones"
    assert zones.is_symlink(), "zones/ must stay a link to dnsemu/estates/example, not a second copy"
    assert zones.resolve() == estate_dir(EXAMPLE).resolve() == (ROOT / "dnsemu" / "estates" / "example").resolve()
    local = {str(p.relative_to(zones)): p.read_bytes() for p in zones.rglob("*") if p.is_file()}
    assert local == estate_files(EXAMPLE) and "topology.yaml" in local


def test_serve_from_an_empty_folder_answers_from_the_bundled_estate_and_says_so(tmp_path: Path) -> None:
    server = Serve("--listen", "127.0.0.1:0", "--no-watch", "--log-format", "json", cwd=tmp_path)
    try:
        reply = ask(server.port, "mystorage.blob.core.windows.net", subnet="10.0.2.4/32")  # a hub client, by ECS
        assert addresses(reply) == HUB_ANSWER
    finally:
        server.close()
    first = json.loads(server.stderr().splitlines()[0])
    assert first["event"] == "topology_selected"
    assert first["topology"] == str(example_topology())
    assert "bundled example estate" in first["why"] and str(tmp_path) in first["why"]


def test_serve_prefers_the_working_directory_zones_and_says_so(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path), "--template", "hub-spoke-resolver"]) == 0
    server = Serve("--listen", "127.0.0.1:0", "--no-watch", "--log-format", "json", cwd=tmp_path)
    try:
        reply = ask(server.port, "appstore.blob.core.windows.net", subnet="10.1.0.4/32")
        assert addresses(reply) == ["10.0.1.4"]
    finally:
        server.close()
    first = json.loads(server.stderr().splitlines()[0])
    assert (first["event"], first["topology"]) == ("topology_selected", "zones/topology.yaml")
    assert first["why"] == "zones/topology.yaml of the working directory"


def test_check_and_explain_without_a_topology_use_the_bundled_estate_and_say_so(tmp_path: Path) -> None:
    check = dnsemu_cmd("check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(f"{example_topology()}: valid, no findings")
    assert "using the bundled example estate" in check.stderr
    explain = dnsemu_cmd("explain", "mystorage.blob.core.windows.net", "--from", "hub", cwd=tmp_path)
    assert explain.returncode == 0 and "A\t10.0.1.4" in explain.stdout
    assert "using the bundled example estate" in explain.stderr
    # from the checkout (zones/ there): nothing said, the README's outputs stay as they are
    quiet = dnsemu_cmd("explain", "mystorage.blob.core.windows.net", "--from", "hub", cwd=ROOT)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_emulator_without_a_topology_serves_the_working_directory_or_the_bundled_estate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Emulator() as dns_:
        assert dns_.server.topology_path == example_topology()
        assert dns_.query("mystorage.blob.core.windows.net", source="hub").addresses == HUB_ANSWER
    assert main(["init", "--template", "firewall-dns-proxy"]) == 0
    with Emulator() as dns_:
        assert dns_.server.topology_path == Path("zones/topology.yaml")
        assert dns_.query("shopdata.blob.core.windows.net", source="spoke1").addresses == ["10.0.2.4"]


def test_dnsemu_topology_in_the_environment_is_honoured_by_check_and_explain(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.yaml"
    shutil.copy(estate_dir("vwan-dns-spoke") / "topology.yaml", path)
    result = dnsemu_cmd("check", cwd=tmp_path, env=clean_env(DNSEMU_TOPOLOGY=str(path)))
    assert result.returncode == 0 and result.stdout.startswith(f"{path}: valid"), result.stderr


@pytest.mark.parametrize("command", [["serve", "--topology", "missing.yaml"], ["check", "--topology", "missing.yaml"],
                                     ["explain", "x.test", "--topology", "missing.yaml"]])
def test_a_missing_topology_names_the_flag_and_the_environment_variable(tmp_path: Path, command: list[str]) -> None:
    result = dnsemu_cmd(*command, cwd=tmp_path)
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr and "cannot read the topology" in result.stderr
    assert "--topology PATH" in result.stderr and "DNSEMU_TOPOLOGY" in result.stderr
    assert "dnsemu init" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "cloud: AzureCloud\nregion: eastus\n",
                                  "virtual_networks: {}\n"])
def test_an_empty_topology_is_an_error_not_an_empty_estate_served(tmp_path: Path, text: str) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError, match="the topology is empty") as caught:
        load_topology(path)
    assert "dnsemu init" in str(caught.value)
    check = dnsemu_cmd("check", str(path), cwd=tmp_path)
    assert check.returncode == 2 and "the topology is empty" in check.stderr
    serve = dnsemu_cmd("serve", "--topology", str(path), "--listen", "127.0.0.1:0", cwd=tmp_path)
    assert serve.returncode == 2 and "the topology is empty" in serve.stderr and "dnsemu ready" not in serve.stdout


# --------------------------------------------------------------------------- dnsemu init and its templates


def test_every_template_is_listed_and_passes_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in TEMPLATES:
        assert f"{name}" in listed
        target = tmp_path / name
        assert main(["init", str(target), "--template", name]) == 0
        capsys.readouterr()
        written = {str(p.relative_to(target / "zones")) for p in (target / "zones").rglob("*") if p.is_file()}
        assert written == set(estate_files(name)), name
        # `dnsemu check` from the folder, as init's last line says: valid and clean
        result = dnsemu_cmd("check", cwd=target)
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        assert result.stdout.startswith("zones/topology.yaml: valid, no findings"), name
        # each is commented for the reader, and says how to try it
        text = (target / "zones" / "topology.yaml").read_text()
        assert text.startswith("# ") and "dnsemu check" in text, name


def test_init_refuses_to_overwrite_and_force_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'zones' / 'topology.yaml'} ({DEFAULT_TEMPLATE}" in out
    edited = tmp_path / "zones" / "topology.yaml"
    edited.write_text(edited.read_text() + "# my edit\n")
    assert main(["init", str(tmp_path), "--template", "vwan-dns-spoke"]) == 1
    assert "exists already: nothing written" in capsys.readouterr().err
    assert edited.read_text().endswith("# my edit\n")
    assert main(["init", str(tmp_path), "--template", "vwan-dns-spoke", "--force"]) == 0
    assert "virtual hub extension" in edited.read_text()


def test_init_does_not_write_through_a_symbolic_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "site" / "zones").mkdir(parents=True)
    (tmp_path / "site" / "zones" / "topology.yaml").symlink_to(victim)
    assert main(["init", str(tmp_path / "site")]) == 1
    assert main(["init", str(tmp_path / "site"), "--force"]) == 0
    assert victim.read_text() == "keep me\n"
    assert not (tmp_path / "site" / "zones" / "topology.yaml").is_symlink()


def resolve(template: str, name: str, source: str) -> tuple[list[str], list[str]]:
    """(the answer's A values, the trace's lines) of ``name`` asked from ``source`` in a template."""
    from dnsemu.analysis.explain import question, source_address
    from dnsemu.core.resolver import resolve as core_resolve

    loaded = load_topology(estate_dir(template) / "topology.yaml")
    index = compile_topology(loaded)
    result = core_resolve(index, question(name), source_address(loaded.topology, index, source))
    values = [r.text().split()[-1] for r in result.answer if r.text().split()[3] == "A"]
    return values, [s.text for s in result.trace]


def test_template_hub_spoke_resolver_centralized_and_distributed() -> None:
    """§4.2: a spoke whose DNS server is the inbound endpoint (centralized) and one with a ruleset to it
    (distributed) both resolve in the hub, which alone links the zone; the internet gets the public chain."""
    for spoke in ("spoke-app", "spoke-data"):
        values, trace = resolve("hub-spoke-resolver", "appstore.blob.core.windows.net", spoke)
        assert values == ["10.0.1.4"], spoke
        assert any("in VNet 'hub'" in line for line in trace), trace
    values, _ = resolve("hub-spoke-resolver", "appstore.blob.core.windows.net", "internet")
    assert values and values != ["10.0.1.4"]


def test_template_vwan_dns_spoke_resolves_every_spoke_and_the_branch_in_the_dns_spoke() -> None:
    """§12.4: the virtual hub cannot be linked; the DNS spoke holds resolver and links, every spoke and
    the branch ask its inbound endpoint (§11.5: resolved as the resolver's VNet)."""
    for source in ("spoke-web", "spoke-api", "branch"):
        for name, address in (("webdata.blob.core.windows.net", "10.100.1.4"),
                              ("api-sql.database.windows.net", "10.102.1.4")):
            values, trace = resolve("vwan-dns-spoke", name, source)
            assert values == [address], (source, name, trace)
            assert any("in VNet 'dns-spoke'" in line for line in trace), trace


def test_template_vwan_dns_spoke_declares_its_hub_and_the_secured_variant_it_describes(tmp_path: Path) -> None:
    """§12.4: the virtual hub is modelled (connections, no DNS of its own); the comment's secured hub, a
    firewall in it whose DNS servers are the DNS spoke's inbound endpoint, stays clean, and without those
    servers the firewall asks Azure DNS in the hub and check finds the spokes' public answers."""
    text = (estate_dir("vwan-dns-spoke") / "topology.yaml").read_text()
    topology = load_topology(estate_dir("vwan-dns-spoke") / "topology.yaml").topology
    assert sorted(topology.virtual_hubs["vhub-westeurope"].virtual_network_connections) == [
        "dns-spoke", "spoke-api", "spoke-web"]
    secured = text.replace("dns_servers: [10.100.0.4]", "dns_servers: [10.200.0.132]") + (
        "\nazure_firewalls:\n  fw:\n    virtual_hub: vhub-westeurope\n    private_ip_address: 10.200.0.132\n"
        "    dns_settings: {enable_proxy: true, servers: [10.100.0.4]}\n")
    for servers, status in (("[10.100.0.4]", 0), ("[]", 1)):
        (tmp_path / "zones").mkdir(exist_ok=True)
        variant = secured.replace("servers: [10.100.0.4]}", f"servers: {servers}}}")
        (tmp_path / "zones" / "topology.yaml").write_text(variant)
        result = dnsemu_cmd("check", cwd=tmp_path)
        assert result.returncode == status, (servers, result.stdout, result.stderr)
        if status:
            assert "endpoint-resolves-public [spoke-web:privatelink.blob.core.windows.net]" in result.stdout
            assert "virtual hub extension" in result.stdout


def test_template_hybrid_forwarders_on_premises_to_the_inbound_endpoint() -> None:
    """§4.3: the datacenter forwards the public zones (not privatelink) to the inbound endpoint; the
    ruleset linked to the hub sends corp.contoso.com to the datacenter's servers (out of the model)."""
    values, trace = resolve("hybrid-forwarders", "erpfiles.file.core.windows.net", "datacenter")
    assert values == ["10.0.1.4"], trace
    values, _ = resolve("hybrid-forwarders", "erpdb.database.windows.net", "spoke")
    assert values == ["10.0.1.5"]
    _, trace = resolve("hybrid-forwarders", "host.corp.contoso.com", "spoke")
    assert any("forwards to 192.168.1.10" in line for line in trace), trace


def test_template_firewall_dns_proxy_resolves_with_the_hub_links() -> None:
    """§12.1-12.2: spokes point at the firewall; its proxy asks Azure DNS from the hub, whose links apply.

    The firewall is the model's own (``azure_firewalls``, its DNS proxy hop), not a stand-in custom DNS server."""
    loaded = load_topology(estate_dir("firewall-dns-proxy") / "topology.yaml")
    topology = loaded.topology
    assert not topology.custom_dns_servers
    firewall = topology.azure_firewalls["hub-firewall"]
    assert firewall.virtual_network == "hub" and firewall.dns_settings.enable_proxy
    assert not firewall.dns_settings.servers
    for spoke in ("spoke1", "spoke2"):
        assert [str(server) for server in topology.virtual_networks[spoke].dns_servers] == ["10.0.1.4"]
        assert str(firewall.private_ip_address) == "10.0.1.4"
        values, trace = resolve("firewall-dns-proxy", "shopdata.blob.core.windows.net", spoke)
        assert values == ["10.0.2.4"], trace
        assert any("Azure Firewall 'hub-firewall' (DNS proxy) forwards it to 168.63.129.16" in line
                   and "firewall's VNet 'hub'" in line for line in trace), trace
    # the internet, which the proxy does not serve, gets the public chain
    values, _ = resolve("firewall-dns-proxy", "shopdata.blob.core.windows.net", "internet")
    assert values and values != ["10.0.2.4"]


def test_template_firewall_dns_proxy_turned_off_leaves_the_spokes_without_answers(tmp_path: Path) -> None:
    """§12.1: the proxy is off by default; spokes that name the firewall then get no answer, and check says so."""
    text = (estate_dir("firewall-dns-proxy") / "topology.yaml").read_text()
    assert text.count("enable_proxy: true") == 1
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "topology.yaml").write_text(text.replace("enable_proxy: true", "enable_proxy: false"))
    result = dnsemu_cmd("check", cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "firewall-proxy-off" in result.stdout
    from dnsemu.analysis.explain import question, source_address
    from dnsemu.core.resolver import resolve as core_resolve

    loaded = load_topology(tmp_path / "zones" / "topology.yaml")
    index = compile_topology(loaded)
    result_off = core_resolve(index, question("shopdata.blob.core.windows.net"),
                              source_address(loaded.topology, index, "spoke1"))
    assert not result_off.answer and result_off.rcode.name == "SERVFAIL", [s.text for s in result_off.trace]


# --------------------------------------------------------------------------- version, port, first commands


def test_version_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    expected = importlib.metadata.version("dnsemu")
    assert dnsemu.__version__ == expected
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dnsemu {expected}"
    result = dnsemu_cmd("--version", cwd=ROOT)
    assert (result.returncode, result.stdout.strip()) == (0, f"dnsemu {expected}")


def test_the_default_port_is_no_desktop_service_and_everything_says_it() -> None:
    settings = load_settings({}, env={})
    assert settings.listen == ["127.0.0.1:5390"]
    # 53: resolvers; 5353: mDNS (avahi, mDNSResponder); 5354: mDNSResponder IPC; 5355: LLMNR (systemd-resolved)
    assert settings.listen_addresses[0][1] not in (53, 5353, 5354, 5355)
    stale = []
    for path in [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "Dockerfile", ROOT / "compose.yaml",
                 *ROOT.glob("docs/**/*.md"), *ROOT.glob("zones/*"), *ROOT.glob("dnsemu/estates/*/*.yaml"),
                 *ROOT.glob("dnsemu/cli/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(-p |:|port )5353\b", line):
                stale.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not stale, "the old default port is still written:\n" + "\n".join(stale)
    assert "5390" in (ROOT / "README.md").read_text().split("## A walk through")[1].split("```")[0]


def test_the_readme_first_commands_work_while_something_holds_5353(tmp_path: Path) -> None:
    """avahi (and mDNSResponder) hold UDP 5353 on every address; dnsemu serve's default must not care."""
    mdns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mdns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):  # something holds it already: the condition of the test holds too
        mdns.bind(("0.0.0.0", 5353))
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", 5390))
    except OSError:
        mdns.close()
        pytest.skip("port 5390 is in use on this machine (another dnsemu?): the default cannot be tried here")
    finally:
        probe.close()
    try:
        server = Serve("--no-watch", cwd=ROOT, logs=tmp_path)  # the README's first command, its defaults
        try:
            assert (server.host, server.port) == ("127.0.0.1", 5390)
            if shutil.which("dig"):
                dig = subprocess.run(["dig", "@127.0.0.1", "-p", "5390", "mystorage.blob.core.windows.net",
                                      "+subnet=10.0.2.4/32", "+short"], capture_output=True, text=True, timeout=60)
                assert dig.stdout.split()[-1] == "10.0.1.4", dig.stdout
            else:
                assert addresses(ask(5390, "mystorage.blob.core.windows.net", subnet="10.0.2.4/32")) == HUB_ANSWER
        finally:
            assert server.close() == 0
    finally:
        mdns.close()


# --------------------------------------------------------------------------- CLI seams


def test_check_takes_topology_as_the_other_commands_do(capsys: pytest.CaptureFixture[str]) -> None:
    mistakes = str(ROOT / "docs" / "examples" / "mistakes.yaml")
    assert main(["check", "--topology", mistakes]) == 1
    by_flag = capsys.readouterr().out
    assert by_flag.startswith(f"{mistakes}: valid, ") and " finding(s) " in by_flag.splitlines()[0]
    assert main(["check", mistakes]) == 1  # the positional stays, and says the same
    assert capsys.readouterr().out == by_flag
    assert main(["check", mistakes, "--topology", str(ROOT / "zones" / "topology.yaml")]) == 2
    assert "two topologies" in capsys.readouterr().err


def test_explain_asks_from_the_internet_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    topology = str(ROOT / "zones" / "topology.yaml")
    assert main(["explain", "mystorage.blob.core.windows.net", "--topology", topology]) == 0
    out = capsys.readouterr().out
    assert main(["explain", "mystorage.blob.core.windows.net", "--from", "internet", "--topology", topology]) == 0
    assert capsys.readouterr().out == out
    assert "view: internet; answer: public" in out


def test_explain_reverses_an_address_as_query_does(capsys: pytest.CaptureFixture[str]) -> None:
    topology = str(ROOT / "zones" / "topology.yaml")
    for argv in (["10.0.2.4", "-t", "PTR"], ["10.0.2.4"]):
        assert main(["explain", *argv, "--from", "hub", "--topology", topology]) == 0
        out = capsys.readouterr().out
        assert out.startswith("; 4.2.0.10.in-addr.arpa. PTR asked from 10.0.2.4"), out
        assert "PTR\thub-vm1.internal.cloudapp.net." in out
    assert main(["explain", "--json", "fd00::4", "--topology", topology]) == 0
    assert json.loads(capsys.readouterr().out)["question"]["name"].endswith(".ip6.arpa.")


@pytest.fixture(scope="module")
def bundled_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    server = Serve("--listen", "127.0.0.1:0", "--no-watch", "--log-format", "console",
                   "--topology", str(ROOT / "zones" / "topology.yaml"), cwd=tmp_path_factory.mktemp("serve"))
    yield server
    server.close()


def test_query_from_a_network_or_vm_asks_as_it(bundled_serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    server = f"127.0.0.1:{bundled_serve.port}"
    topology = str(ROOT / "zones" / "topology.yaml")
    for source in ("hub", "hub-vm1", "10.0.2.4", "spoke2", "onprem"):
        assert main(["query", "mystorage.blob.core.windows.net", "--server", server, "--from", source,
                     "--topology", topology]) == 0, source
        assert "A 10.0.1.4" in capsys.readouterr().out, source
    assert main(["query", "mystorage.blob.core.windows.net", "--server", server, "--from", "branch",
                 "--topology", topology]) == 0
    assert "A 203.0.113.111" in capsys.readouterr().out  # the classic mistake, as explain shows it
    assert main(["query", "10.0.2.4", "--server", server, "--from", "hub", "--topology", topology]) == 0
    assert "PTR hub-vm1.internal.cloudapp.net." in capsys.readouterr().out
    # wrong uses say what is wrong
    assert main(["query", "x.test", "--server", server, "--from", "nowhere", "--topology", topology]) == 2
    assert "neither an address nor a network" in capsys.readouterr().err
    assert main(["query", "x.test", "--server", server, "--from", "hub", "--subnet", "10.0.2.4/32"]) == 2
    assert "give one" in capsys.readouterr().err


def test_query_from_a_loopback_address_binds_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A VNet whose address space holds a loopback range is reached from this machine with dig -b (README)."""
    topology = {"virtual_networks": {"lab": {"address_space": ["10.9.0.0/16", "127.0.9.0/24"]}},
                "private_dns_zones": {"lab.internal": {"records": ["web 60 A 10.9.0.80"],
                                                       "virtual_network_links": [{"virtual_network": "lab"}]}}}
    with Emulator(topology, ecs=False) as emulator:  # no ECS: only the bound source can pick the VNet
        server = f"127.0.0.1:{emulator.port}"
        assert main(["query", "web.lab.internal", "--server", server, "--from", "127.0.9.5"]) == 0
        assert "NOERROR web.lab.internal. A: A 10.9.0.80" in capsys.readouterr().out
        assert main(["query", "web.lab.internal", "--server", server]) == 0
        # from 127.0.0.1, the internet: the zone is not linked there, and the name is outside everything
        assert capsys.readouterr().out.startswith("REFUSED web.lab.internal. A")
        if shutil.which("dig"):
            dig = subprocess.run(["dig", "@127.0.0.1", "-p", str(emulator.port), "-b", "127.0.9.5",
                                  "web.lab.internal", "+short"], capture_output=True, text=True, timeout=60)
            assert dig.stdout.strip() == "10.9.0.80"
        assert emulator.queries[0]["client"] == "127.0.9.5" and emulator.queries[0]["view"] == "vnet:lab"


def test_query_server_without_a_port_asks_the_default_port() -> None:
    from dnsemu.cli.query import DEFAULT_SERVER, parse_server

    assert parse_server("127.0.0.1") == ("127.0.0.1", 5390) and DEFAULT_SERVER == "127.0.0.1:5390"
    assert parse_server("127.0.0.1:53") == ("127.0.0.1", 53)


def test_listen_colon_port_listens_on_loopback(tmp_path: Path) -> None:
    settings = load_settings({"listen": [":0", ":5390"], "http_listen": ":0"}, env={})
    assert settings.listen == ["127.0.0.1:0", "127.0.0.1:5390"] and settings.http_listen == "127.0.0.1:0"
    server = Serve("--listen", ":0", "--no-watch", cwd=tmp_path)
    try:
        assert server.host == "127.0.0.1"
    finally:
        server.close()


@pytest.mark.parametrize("argv", [["serve", "--help"], ["completion", "bash"], ["check", "--topology",
                                                                               "docs/examples/mistakes.yaml"]])
def test_a_closed_pipe_ends_quietly(argv: list[str]) -> None:
    """`dnsemu ... | head -1`: the reader is gone before we write; no BrokenPipeError traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, as after head exits
    try:
        result = subprocess.run([sys.executable, "-m", "dnsemu", *argv], cwd=ROOT, stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=120, env=clean_env())
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    # 141 as after SIGPIPE; --help may end 0: argparse swallows the failed write of its text itself
    assert result.returncode == 141 or (argv[-1] == "--help" and result.returncode == 0)
    if shutil.which("head") and shutil.which("sh"):
        piped = subprocess.run(["sh", "-c", f"{sys.executable} -m dnsemu completion zsh | head -1"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120, env=clean_env())
        assert piped.stdout == "#compdef dnsemu\n" and "Traceback" not in piped.stderr


def test_a_port_in_use_says_what_to_do_and_logs_no_stop(tmp_path: Path) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        result = dnsemu_cmd("serve", "--listen", f"127.0.0.1:{port}", "--log-format", "json", cwd=tmp_path)
    finally:
        holder.close()
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "hint: another program holds port" in result.stderr and "--listen 127.0.0.1:5390" in result.stderr
    events = [json.loads(line)["event"] for line in result.stderr.splitlines() if line.startswith("{")]
    assert "server_started" not in events and "server_stopping" not in events and "server_stopped" not in events


def test_privileged_port_hints() -> None:
    denied = listen_hint(OSError(errno.EACCES, "Permission denied"), "127.0.0.1:53")
    assert denied is not None and "ports below 1024" in denied and "5390" in denied
    assert "cap_net_bind_service" in denied and "ip_unprivileged_port_start" in denied
    assert listen_hint(OSError(errno.EADDRNOTAVAIL, "x"), "10.9.9.9:53") is not None
    http = listen_hint(OSError(errno.EADDRINUSE, "x"), "127.0.0.1:9153 (HTTP)")
    assert http is not None and "--http-listen" in http


def _without_bind_privilege() -> None:
    """A preexec_fn: drop CAP_NET_BIND_SERVICE from the bounding set, so that after exec even root binds
    no port below 1024, as an ordinary user (prctl PR_CAPBSET_DROP)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 10, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_NET_BIND_SERVICE
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_port_53_as_a_user_without_privileges(tmp_path: Path) -> None:
    unprivileged = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if unprivileged <= 53:
        pytest.skip(f"this machine lets any user bind port 53 (ip_unprivileged_port_start={unprivileged})")
    preexec = _without_bind_privilege if os.getuid() == 0 else None
    try:
        result = subprocess.run([sys.executable, "-m", "dnsemu", "serve", "--listen", "127.0.0.1:53",
                                 "--log-format", "json"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=120, env=clean_env(), preexec_fn=preexec)
    except subprocess.SubprocessError as exc:  # the prctl was refused (a sandbox without CAP_SETPCAP)
        pytest.skip(f"cannot drop the bind privilege here: {exc}")
    assert result.returncode == 1, result.stderr
    assert "cannot listen on 127.0.0.1:53: Permission denied" in result.stderr
    assert "hint: ports below 1024 need privileges" in result.stderr
    assert "server_stopped" not in result.stderr and "server_stopping" not in result.stderr


# --------------------------------------------------------------------------- errors that say what to do


def test_an_unknown_key_gets_did_you_mean() -> None:
    with pytest.raises(TopologyError) as caught:
        load_topology_text("virtual_networks:\n  hub:\n    adress_space: [10.0.0.0/16]\n", "t.yaml")
    problem = next(p for p in caught.value.problems if p.path == "virtual_networks.hub.adress_space")
    assert problem.line == 3
    assert problem.hint is not None and problem.hint.startswith("did you mean 'address_space'? allowed here:")
    with pytest.raises(TopologyError) as caught:
        load_topology_text("virtual_network:\n  hub: {address_space: [10.0.0.0/16]}\n", "t.yaml")
    assert "did you mean 'virtual_networks'?" in str(caught.value)


def test_a_network_with_host_bits_gets_the_network_it_meant() -> None:
    with pytest.raises(TopologyError) as caught:
        load_topology_text("virtual_networks:\n  hub: {address_space: [10.0.0.1/16]}\n", "t.yaml")
    text = str(caught.value)
    assert "t.yaml:2: virtual_networks.hub.address_space[0]: not a valid IPv4 or IPv6 network" in text
    assert "host bits are set" in text and "write 10.0.0.0/16" in text
    with pytest.raises(TopologyError) as caught:  # no hint where none helps
        load_topology_text("virtual_networks:\n  hub: {address_space: [10.0.0.300/16]}\n", "t.yaml")
    assert "host bits" not in str(caught.value)


def test_settings_file_errors_name_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "dnsemu.toml"
    broken.write_text('workers = 2\nlisten = ["127.0.0.1:0"\nlog_level = "info"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(env={}, config_file=broken)
    assert re.match(rf"config: {re.escape(str(broken))}:\d+: not valid TOML: ", caught.value.problems[0])
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('# settings\nworkers = "two"\nlog-levle = "debug"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(env={}, config_file=wrong)
    problems = "\n".join(caught.value.problems)
    assert f"[from {wrong}:2]" in problems and f"[from {wrong}:3]" in problems
    assert "did you mean 'log-level'?" in problems


# --------------------------------------------------------------------------- the query log


def test_console_query_lines_in_a_fixed_order_and_refusals_with_their_reason(bundled_serve: Serve) -> None:
    ask(bundled_serve.port, "mystorage.blob.core.windows.net", subnet="10.0.2.4/32")
    for _ in range(2):  # the second is a cache hit: its line is the same, and still says why
        ask(bundled_serve.port, "pypi.org")
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = [line for line in bundled_serve.stderr().splitlines() if "dns_query" in line]
        if len([line for line in lines if "pypi.org" in line]) >= 2 and any("mystorage" in line for line in lines):
            break
        time.sleep(0.1)
    assert lines
    order = ["client=", "qname=", "qtype=", "rcode=", "answer=", "view=", "duration_ms="]
    for line in lines:
        positions = [line.index(key) for key in order]
        assert positions == sorted(positions), line
    refused = [line for line in lines if "pypi.org" in line]
    assert len(refused) >= 2 and all("rcode=REFUSED" in line for line in refused)
    assert all("reason='the name is outside the topology and no upstream server is set (--upstream ADDRESS)'"
               in line for line in refused), refused
    assert "cached=True" in refused[-1]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def _log(self, level: str, event: str, **fields: Any) -> None:
        self.events.append((level, event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log("exception", event, **fields)


def test_an_ignored_ecs_option_is_logged_with_the_source_and_the_trusted_list_rate_limited() -> None:
    """A container's queries arrive from the bridge gateway, outside ecs_trusted: say so, once a minute."""
    settings = make_settings(topology=str(ROOT / "zones" / "topology.yaml"), query_log=True)
    index = compile_topology(load_topology(settings.topology), generation=1)
    log = Recorder()
    handler = Handler(settings, index, logger=log)
    gateway = "172.17.0.1"  # Docker's default bridge, as seen from the container
    for i in range(5):
        query = dns.message.make_query(f"n{i}.mystorage.blob.core.windows.net", "A", use_edns=0,
                                       options=[dns.edns.ECSOption.from_text("10.0.2.4/32")])
        assert dns.message.from_wire(handler.handle(query.to_wire(), (gateway, 5000 + i))).answer is not None
    warned = [fields for level, event, fields in log.events if event == "ecs_ignored"]
    assert len(warned) == 1, warned
    assert warned[0]["client"] == gateway and warned[0]["ecs"] == "10.0.2.4/32"
    assert warned[0]["trusted"] == "127.0.0.0/8,::1/128" and "DNSEMU_ECS_TRUSTED" in warned[0]["fix"]
    queries = [fields for _, event, fields in log.events if event == "dns_query"]
    assert queries and all(q["view"] == "internet" and "ecs" not in q for q in queries)  # answered as the source
    # another source warns too; trusting the bridge makes the option count
    handler.handle(dns.message.make_query("x.blob.core.windows.net", "A", use_edns=0, options=[
        dns.edns.ECSOption.from_text("10.0.2.4/32")]).to_wire(), ("172.18.0.1", 5000))
    assert len([e for _, e, _ in log.events if e == "ecs_ignored"]) == 2
    trusting = Handler(make_settings(topology=settings.topology, ecs_trusted=["127.0.0.0/8", "172.16.0.0/12"]),
                       index, logger=Recorder())
    query = dns.message.make_query("mystorage.blob.core.windows.net", "A", use_edns=0,
                                   options=[dns.edns.ECSOption.from_text("10.0.2.4/32")])
    reply = dns.message.from_wire(trusting.handle(query.to_wire(), (gateway, 5000)))
    assert "10.0.1.4" in [d.to_text() for r in reply.answer for d in r]


# --------------------------------------------------------------------------- metrics


def test_refusals_from_the_cache_count_as_forwarded_refused() -> None:
    with Emulator(ROOT / "zones" / "topology.yaml") as emulator:
        for _ in range(5):
            assert emulator.query("pypi.org").rcode == "REFUSED"
        refused_queries = sum(
            emulator.metric("dnsemu_dns_queries_total", {"proto": "udp", "view": view, "type": "A",
                                                         "rcode": "REFUSED", "kind": "refused"}) or 0
            for view in ("internet",))
        assert refused_queries == 5
        assert emulator.metric("dnsemu_cache_hits_total", {"proto": "udp"}) >= 4  # the refusals were cached
        assert emulator.metric("dnsemu_forwarded_queries_total", {"result": "refused"}) == 5


def test_requests_in_flight_counts_every_query_not_answered_yet() -> None:
    """Five pipelined TCP queries for names outside the topology, an upstream that never answers, at most
    two in flight per connection: two wait for the upstream and three for a pipeline slot. All five count."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    upstream = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        with Emulator(ROOT / "zones" / "topology.yaml", upstreams=[upstream], upstream_timeout=30,
                      tcp_max_pipelined=2, shutdown_grace=0.5) as emulator, \
                socket.create_connection(("127.0.0.1", emulator.port), timeout=30) as conn:
            wire = b""
            for i in range(5):
                message = dns.message.make_query(f"n{i}.example.org", "A").to_wire()
                wire += len(message).to_bytes(2, "big") + message
            conn.sendall(wire)
            deadline = time.monotonic() + 60
            value = None
            while time.monotonic() < deadline:
                value = emulator.metric("dnsemu_dns_requests_in_flight")
                if value == 5:
                    break
                time.sleep(0.05)
            assert value == 5
            assert len(emulator.server.state.tasks) == 2  # only two wait for the upstream
    finally:
        silent.close()


# --------------------------------------------------------------------------- compose and docs


def test_compose_builds_its_images_instead_of_pulling_them() -> None:
    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())
    built = {name: svc for name, svc in spec["services"].items() if "build" in svc}
    assert built
    for name, service in built.items():
        assert service.get("pull_policy") == "build", name


def test_docs_list_every_record_type_the_loader_accepts() -> None:
    from dnsemu.dns.records import PRIVATE_ZONE_TYPES, SUPPORTED_TYPES, RRType, type_name

    text = (ROOT / "docs" / "topology.md").read_text()
    listed = re.findall(r"Types: ([A-Z]+(?:(?:, | and )[A-Z]+)*)", text)
    assert len(listed) == 2, listed

    def names(found: str) -> set[str]:
        return {w for w in re.split(r"[ ,]+", found) if w and w != "and"}

    private = {type_name(t) for t in PRIVATE_ZONE_TYPES - {RRType.SOA}}  # the SOA of a private zone is Azure's
    assert names(listed[0]) == private
    assert names(listed[1]) == {type_name(t) for t in SUPPORTED_TYPES}
