"""Multi-host end-to-end: the real server and the real dig, one network namespace per site.

From the bundled estate (zones/topology.yaml) the test builds one network
namespace per network (every VNet, every on-premises site, and the internet),
each holding one client address of that network, and one namespace for the
emulator. Each client namespace is wired to the emulator's namespace by its own
veth pair, a /24 (or the VM's subnet) of that network on which the emulator holds
an address too:

    hub ns  10.0.2.4/24 ──veth── 10.0.2.254/24 ┐
    spoke1  10.1.0.4/24 ──veth── 10.1.0.254/24 ├── emulator ns: dnsemu serve --listen each :53
    ...                                        │
    internet 198.51.100.4/24 ─── 198.51.100.254┘

So dnsemu sees each client's real source address (no NAT, no ECS) and answers it
as a machine of that network; dig runs inside each client namespace. Every
answer is checked twice: against what the issue says each site sees, and against
``dnsemu.core.resolver.resolve`` from the same address.

Nothing leaves the namespaces: no default route anywhere, no upstreams (names
outside the estate are REFUSED), veth ends are created directly inside the
namespaces, and every namespace (taking its veths with it) is deleted in the
fixture's teardown, whatever happened. Names carry a random run id, so parallel
runs do not collide.

Skips, with the reason, where it cannot run: not Linux, not root, no ``ip``,
no ``dig``, or namespaces/veths that the kernel refuses.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import unavailable

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index
from dnsemu.core.resolution import Outcome, Resolution
from dnsemu.core.resolver import resolve
from dnsemu.dns import names
from dnsemu.dns.records import Question, RRType, rdata_text, type_name
from dnsemu.topology.load import load_topology
from dnsemu.topology.model import Topology

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "zones" / "topology.yaml"
INTERNET_LINK = ipaddress.ip_network("198.51.100.0/24")  # TEST-NET-2: in no network of the estate
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
PRIVATE = "10.0.1.4"  # pe-mystorage-blob
PUBLIC_POOL = ipaddress.ip_network("203.0.113.0/24")  # the estate's public_dns.address_pool

IPv4Address = ipaddress.IPv4Address
IPv4Net = ipaddress.IPv4Network


# --------------------------------------------------------------------------- the sites, from the estate


@dataclass(frozen=True)
class Site:
    network: str  # the estate's name for it ("internet" for none)
    link: IPv4Net  # the prefix on the veth between the client and the emulator
    client: IPv4Address
    emulator: IPv4Address


def _client_on(prefix: IPv4Net) -> tuple[IPv4Net, IPv4Address]:
    """A /24 (or the prefix itself when smaller) and its .4, the first address Azure hands out."""
    link = prefix if prefix.prefixlen >= 24 else next(prefix.subnets(new_prefix=24))
    return link, link.network_address + 4


def sites_of(topology: Topology) -> list[Site]:
    """One site per VNet (a VM's address when it has one), per on-premises site, and the internet."""
    sites = []
    for name, vnet in topology.virtual_networks.items():
        vm = next((v for v in topology.virtual_machines.values() if v.virtual_network == name), None)
        if vm is not None and isinstance(vm.private_ip_address, IPv4Address):
            client = vm.private_ip_address
            subnet = vnet.subnets.get(vm.subnet) if vm.subnet else None
            link = subnet.address_prefix if subnet is not None else ipaddress.ip_network(f"{client}/24", strict=False)
        else:
            prefixes = [s.address_prefix for s in vnet.subnets.values()] or list(vnet.address_space)
            link, client = _client_on(next(p for p in prefixes if p.version == 4))
        sites.append(Site(name, link, client, link.broadcast_address - 1))
    for name, onprem in topology.on_premises.items():
        link, client = _client_on(next(p for p in onprem.address_space if p.version == 4))
        sites.append(Site(name, link, client, link.broadcast_address - 1))
    link, client = _client_on(INTERNET_LINK)
    sites.append(Site("internet", link, client, link.broadcast_address - 1))
    return sites


# --------------------------------------------------------------------------- namespaces


def run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


class Lab:
    """Namespaces and veth pairs named after a random run id; :meth:`close` deletes them all."""

    def __init__(self) -> None:
        self.run_id = secrets.token_hex(3)
        self.namespaces: list[str] = []

    def namespace(self, role: str) -> str:
        name = f"dnsemu-{self.run_id}-{role}"
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def wire(self, number: int, client_ns: str, client: str, emulator_ns: str, emulator: str) -> None:
        """A veth pair created directly inside both namespaces (it never exists in ours)."""
        client_if, emulator_if = f"de{self.run_id}c{number}", f"de{self.run_id}e{number}"
        run("ip", "link", "add", client_if, "netns", client_ns, "type", "veth",
            "peer", "name", emulator_if, "netns", emulator_ns)  # fmt: skip
        run("ip", "-n", client_ns, "addr", "add", client, "dev", client_if)
        run("ip", "-n", emulator_ns, "addr", "add", emulator, "dev", emulator_if)
        # no DAD delay, no IPv6 link-local chatter: only the addresses we gave
        for ns, ifname in ((client_ns, client_if), (emulator_ns, emulator_if)):
            run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1", check=False)
            run("ip", "-n", ns, "link", "set", ifname, "up")

    def close(self) -> list[str]:
        problems = []
        for name in reversed(self.namespaces):
            done = run("ip", "netns", "delete", name, check=False)
            if done.returncode != 0:
                problems.append(f"{name}: {done.stderr.strip()}")
        self.namespaces.clear()
        return problems

    def leftovers(self) -> list[str]:
        listing = run("ip", "netns", "list", check=False).stdout
        return [line.split()[0] for line in listing.splitlines() if self.run_id in line]


def why_not() -> str | None:
    """The reason this machine cannot run the test, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to create network namespaces and veth pairs (CI runs as root)"
    for tool, package in (("ip", "iproute2"), ("dig", "dnsutils / bind-tools")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (package {package})"
    if importlib.util.find_spec("dnsemu.cli.serve") is None:
        return "dnsemu serve is not there yet"
    lab = Lab()
    try:
        a, b = lab.namespace("probe-a"), lab.namespace("probe-b")
        lab.wire(0, a, "192.0.2.1/30", b, "192.0.2.2/30")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create network namespaces or veth pairs here: {exc}"
    finally:
        lab.close()
    return None


# --------------------------------------------------------------------------- the server


@dataclass
class Emulator:
    process: subprocess.Popen[str]
    ready_line: str
    log_path: Path
    exit_code: int | None = None

    def log(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def stop(self) -> int:
        """SIGTERM (what `docker stop` sends), then wait; SIGKILL only if it hangs."""
        try:
            return self._stop()
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()

    def _stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                self.exit_code = -9
                return self.exit_code
        self.exit_code = self.process.returncode
        return self.exit_code


def start_emulator(namespace: str, sites: list[Site], log_path: Path) -> Emulator:
    """``python -m dnsemu serve`` inside ``namespace``; returns once it printed its readiness line."""
    command = ["ip", "netns", "exec", namespace, sys.executable, "-m", "dnsemu", "serve",
               "--topology", str(TOPOLOGY), "--log-format", "json", "--no-watch"]  # fmt: skip
    for site in sites:
        command += ["--listen", f"{site.emulator}:53"]
    command += ["--listen", "127.0.0.1:53"]
    command += ["--http", "--http-listen", "0.0.0.0:9153"]  # as in the image: where its health check asks
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("DNSEMU_")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            text=True,
        )  # fmt: skip
    emulator = Emulator(process, "", log_path)
    assert process.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                emulator.stop()
                raise AssertionError(f"dnsemu serve printed no readiness line in {READY_TIMEOUT:.0f} s:\n"
                                     f"{log_path.read_text(errors='replace')[-3000:]}")  # fmt: skip
            line = process.stdout.readline()
            if not line:  # stdout closed: the server exited
                code = emulator.stop()
                raise AssertionError(f"dnsemu serve exited ({code}) before it was ready:\n"
                                     f"{log_path.read_text(errors='replace')[-3000:]}")  # fmt: skip
            if line.startswith("dnsemu ready "):
                emulator.ready_line = line.strip()
                return emulator


# --------------------------------------------------------------------------- dig


@dataclass
class Dig:
    status: str
    answer: list[tuple[str, str, str]] = field(default_factory=list)  # (owner, type, rdata)
    server: str = ""
    output: str = ""

    def values(self, rtype: str) -> list[str]:
        return [rdata for _, t, rdata in self.answer if t == rtype]


def dig(namespace: str, server: IPv4Address, *query: str) -> Dig:
    done = run("ip", "netns", "exec", namespace, "dig", f"@{server}", *query,
               "+time=3", "+tries=1", "+nocookie", "+nottlid", check=False)  # fmt: skip
    output = done.stdout
    header = re.search(r"->>HEADER<<- opcode: \w+, status: (\w+), id:", output)
    if done.returncode != 0 or header is None:
        raise AssertionError(f"dig {' '.join(query)} in {namespace} failed ({done.returncode}):\n{output}{done.stderr}")
    result = Dig(header.group(1), output=output)
    served = re.search(r";; SERVER: (\S+)", output)
    result.server = served.group(1) if served else ""
    section = re.search(r";; ANSWER SECTION:\n(.*?)(?:\n\n|\Z)", output, re.S)
    for line in section.group(1).splitlines() if section else []:
        owner, _cls, rtype, rdata = line.split(None, 3)
        result.answer.append((owner.lower(), rtype, rdata.strip()))
    return result


def expected(index: Index, site: Site, name: str, qtype: str) -> Resolution:
    question = Question(names.parse(name if name.endswith(".") else name + "."), RRType.make(qtype))
    return resolve(index, question, site.client)


def same_as_core(result: Dig, resolution: Resolution) -> None:
    """dig's rcode and answer section are what the core resolved from the same address."""
    rcode = "REFUSED" if resolution.outcome is Outcome.FORWARD else resolution.rcode.name  # no upstreams here
    assert result.status == rcode, result.output
    core = [(r.name, type_name(r.rtype), rdata_text(r.rtype, r.rdata)) for r in resolution.answer]
    assert sorted(result.answer) == sorted(core), result.output


# --------------------------------------------------------------------------- fixture


@dataclass
class Estate:
    sites: dict[str, Site]
    namespaces: dict[str, str]  # network -> its client's namespace
    emulator_ns: str
    index: Index
    emulator: Emulator

    def dig(self, network: str, *query: str) -> Dig:
        site = self.sites[network]
        return dig(self.namespaces[network], site.emulator, *query)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    reason = why_not()
    if reason is not None:
        unavailable(reason)
    loaded = load_topology(TOPOLOGY)
    index = compile_topology(loaded)
    sites = sites_of(loaded.topology)
    lab = Lab()
    emulator: Emulator | None = None
    try:
        emulator_ns = lab.namespace("emulator")
        namespaces = {}
        for number, site in enumerate(sites):
            namespaces[site.network] = lab.namespace(site.network[:20])
            lab.wire(number, namespaces[site.network], f"{site.client}/{site.link.prefixlen}",
                     emulator_ns, f"{site.emulator}/{site.link.prefixlen}")  # fmt: skip
        emulator = start_emulator(emulator_ns, sites, tmp_path_factory.mktemp("netns") / "dnsemu.log")
        yield Estate({s.network: s for s in sites}, namespaces, emulator_ns, index, emulator)
        code = emulator.stop()
        assert code == 0, f"dnsemu serve did not stop cleanly on SIGTERM (exit {code})"
    finally:
        if emulator is not None:
            emulator.stop()
        problems = lab.close()
        left = lab.leftovers()
        assert not problems and not left, f"teardown left namespaces behind: {problems} {left}"


# --------------------------------------------------------------------------- the plan itself (no root needed)


SITES = sites_of(load_topology(TOPOLOGY).topology)
NETWORKS = [s.network for s in SITES]


def test_plan_puts_every_address_in_its_own_network() -> None:
    index = compile_topology(load_topology(TOPOLOGY))
    assert set(NETWORKS) == {"hub", "spoke1", "spoke2", "spoke3", "sandbox", "onprem", "branch", "internet"}
    for site in SITES:
        for address in (site.client, site.emulator):
            assert address in site.link and address != site.link.network_address
            network, _ = index.classify(address)
            assert (network.name if network else "internet") == site.network, (site, address)
    links = [s.link for s in SITES]
    assert not any(a.overlaps(b) for i, a in enumerate(links) for b in links[i + 1 :]), links
    assert {s.network: str(s.client) for s in SITES}["hub"] == "10.0.2.4"  # hub-vm1: its PTR is tested


# --------------------------------------------------------------------------- what each site sees


def test_ready_line_lists_every_link(estate: Estate) -> None:
    for site in estate.sites.values():
        assert f"udp://{site.emulator}:53" in estate.emulator.ready_line
        assert f"tcp://{site.emulator}:53" in estate.emulator.ready_line


def test_no_route_leads_out(estate: Estate) -> None:
    for network, namespace in estate.namespaces.items():
        routes = run("ip", "-n", namespace, "-4", "route", "show").stdout.strip().splitlines()
        assert len(routes) == 1 and routes[0].startswith(str(estate.sites[network].link)), routes
        assert not run("ip", "-n", namespace, "-6", "route", "show", "default").stdout.strip()
    routes = run("ip", "-n", estate.emulator_ns, "-4", "route", "show").stdout.strip().splitlines()
    assert sorted(r.split()[0] for r in routes) == sorted(str(s.link) for s in estate.sites.values()), routes


def test_the_images_health_check_passes_against_the_real_server(estate: Estate) -> None:
    """The Dockerfile's HEALTHCHECK command, run as is (python → this interpreter) next to the server."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    (command,) = re.findall(r"^HEALTHCHECK .*?CMD (\[.*\])$", dockerfile, re.M)
    argv = json.loads(command)
    assert argv[0] == "python"
    done = subprocess.run(
        ["ip", "netns", "exec", estate.emulator_ns, sys.executable, *argv[1:]],
        capture_output=True, text=True, timeout=30, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.match(r"200 ready \(generation 1\)", done.stdout), done.stdout


def test_sites_reach_only_their_own_link(estate: Estate) -> None:
    """The hub client has no route to the emulator's address on the branch link (or anywhere else)."""
    done = run("ip", "netns", "exec", estate.namespaces["hub"], "dig", f"@{estate.sites['branch'].emulator}",
               "mystorage.blob.core.windows.net", "+time=1", "+tries=1", check=False)  # fmt: skip
    assert done.returncode != 0
    assert "unreachable" in done.stdout + done.stderr


@pytest.mark.parametrize("network", ["hub", "spoke1", "spoke2", "spoke3", "sandbox", "onprem"])
def test_private_endpoint_resolves_privately(estate: Estate, network: str) -> None:
    result = estate.dig(network, "mystorage.blob.core.windows.net", "A")
    assert result.status == "NOERROR"
    assert result.values("CNAME") == ["mystorage.privatelink.blob.core.windows.net."]
    assert result.values("A") == [PRIVATE]
    assert result.server.startswith(f"{estate.sites[network].emulator}#53")


@pytest.mark.parametrize("network", ["branch", "internet"])
def test_private_endpoint_resolves_publicly(estate: Estate, network: str) -> None:
    result = estate.dig(network, "mystorage.blob.core.windows.net", "A")
    assert result.status == "NOERROR"
    (address,) = result.values("A")
    assert ipaddress.ip_address(address) in PUBLIC_POOL
    assert result.values("CNAME")[0] == "mystorage.privatelink.blob.core.windows.net."


def test_foreign_endpoint_is_nxdomain_in_the_hub(estate: Estate) -> None:
    result = estate.dig("hub", "fabrikamstore.blob.core.windows.net", "A")
    assert result.status == "NXDOMAIN"
    assert result.values("CNAME") == ["fabrikamstore.privatelink.blob.core.windows.net."]
    assert not result.values("A")


def test_foreign_endpoint_falls_back_to_public_in_the_sandbox(estate: Estate) -> None:
    result = estate.dig("sandbox", "fabrikamstore.blob.core.windows.net", "A")
    assert result.status == "NOERROR"
    (address,) = result.values("A")
    assert ipaddress.ip_address(address) in PUBLIC_POOL


def test_vm_reverse_lookup_in_its_own_vnet(estate: Estate) -> None:
    result = estate.dig("hub", "-x", str(estate.sites["hub"].client))
    assert result.status == "NOERROR"
    assert sorted(result.values("PTR")) == ["hub-vm1.azure.contoso.com.", "hub-vm1.internal.cloudapp.net."]


def test_tcp_gives_the_same_answer(estate: Estate) -> None:
    udp = estate.dig("hub", "mystorage.blob.core.windows.net", "A")
    tcp = estate.dig("hub", "mystorage.blob.core.windows.net", "A", "+tcp")
    assert "(TCP)" in tcp.output
    assert tcp.answer == udp.answer


def test_outside_names_are_refused_without_upstreams(estate: Estate) -> None:
    """Hermetic: with no upstreams configured, nothing is forwarded anywhere."""
    assert estate.dig("hub", "example.com", "A").status == "REFUSED"


QUESTIONS = [
    ("mystorage.blob.core.windows.net", "A"),
    ("mystorage.blob.core.windows.net", "AAAA"),
    ("fabrikamstore.blob.core.windows.net", "A"),
    ("mystorage.file.core.windows.net", "A"),
    ("contoso-kv.vault.azure.net", "A"),
    ("contosoacr.azurecr.io", "A"),
    ("contosoacr.eastus.data.azurecr.io", "A"),
    ("contoso-web.scm.azurewebsites.net", "A"),
    ("legacystore.blob.core.windows.net", "A"),
    ("api.svc.contoso.internal", "A"),
    ("hub-vm1.azure.contoso.com", "A"),
    ("-x", "SELF"),  # the client's own address, reversed
]


@pytest.mark.parametrize("network", NETWORKS)
def test_every_answer_is_the_cores(estate: Estate, network: str) -> None:
    site = estate.sites[network]
    for name, qtype in QUESTIONS:
        if name == "-x":
            result = estate.dig(network, "-x", str(site.client))
            resolution = expected(estate.index, site, site.client.reverse_pointer, "PTR")
        else:
            result = estate.dig(network, name, qtype)
            resolution = expected(estate.index, site, name, qtype)
        same_as_core(result, resolution)


def test_emulator_saw_each_client_address(estate: Estate) -> None:
    """No NAT: the server logged every site's queries under the client's own address and network."""
    for site in estate.sites.values():
        estate.dig(site.network, "mystorage.blob.core.windows.net", "A")
    # the log is written by another process: read until every site's line is there (bounded, no sleep-for-ready)
    deadline = time.monotonic() + 10
    while True:
        seen = {(e.get("client"), e.get("network")) for e in estate.emulator.log() if e.get("event") == "dns_query"}
        missing = [s for s in estate.sites.values() if (str(s.client), s.network) not in seen]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not missing, f"no dns_query from {[(str(s.client), s.network) for s in missing]}; seen {sorted(seen)}"
    clients = {str(s.client) for s in estate.sites.values()} | {"127.0.0.1"}  # and the health check
    strangers = {c for c, _ in seen} - clients
    assert not strangers, f"queries from addresses no client has: {strangers}"
