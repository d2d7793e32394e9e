"""The benchmark's data: the reference peer-bench workload, peer configurations and dnsemu topologies.

Everything is written under ``benchmarks/out/`` (gitignored). The records, views and
query file are those of ``shared/reference/peer-bench`` (``gen.py`` / ``gen_conf.py``):
200 names ``acctN.blob.core.windows.net`` CNAME ``acctN.privatelink.blob.core.windows.net``,
whose A record is 10.1.0.N for the client 127.0.0.2 (the internal view) and 20.150.0.N
for everyone else; 2000 type-A queries, 90 % existing names (each 9 times) and 10 % ``nosuchN``
names, shuffled with seed 42.

dnsemu gets the same work as a topology (:func:`bench_topology`): a VNet whose address
space holds 127.0.0.2/32 (and 10.1.0.0/24 for the endpoints' NICs), one private endpoint
per storage account ``acctN`` with IP 10.1.0.N in the linked ``privatelink.blob`` zone, and
the ``nosuchN`` accounts as resources that someone else holds an endpoint for: Azure's
public chain sends them into the privatelink zone, which the VNet links and which lacks
them, so the internal view answers NXDOMAIN from the linked zone (as Azure does).
Everyone else (127.0.0.1, …) is on the internet and gets the public chain.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml

N = 200
BASE = "blob.core.windows.net"
PL = "privatelink.blob.core.windows.net"
TTL = 300
SOA = "ns1.example.net. hostmaster.example.net. 2024010101 3600 600 86400 60"
PORTS = {"bind": 25311, "knot": 25312, "unbound": 25313, "dnsmasq": 25314, "dnsemu": 25315,
         "dnsemu-log": 25316, "dnsemu-2w": 25317, "dnsemu-1w": 25318, "dnsemu-reload": 25319,
         "bind-2t": 25320, "dnsemu-hostile": 25321, "dnsemu-single": 25322, "dnsemu-2w-metrics": 25323,
         "dnsemu-2w-metrics-http": 25324, "dnsemu-hostile-http": 25325, "dnsemu-scale": 25330}
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "peer-bench"
#: ECS option (RFC 7871) for dnsperf -E: family 1, source /24, scope 0, 10.1.0.0
ECS_OPTION = "8:000118000a0100"


def _ip(view: str, n: int) -> str:
    return f"10.1.0.{n}" if view == "internal" else f"20.150.0.{n}"


def _zone(path: Path, origin: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"$ORIGIN {origin}.\n$TTL {TTL}\n@ IN SOA {SOA}\n@ IN NS ns1.example.net.\n{body}")


def write_zones(out: Path) -> None:
    """The reference's zone files (both views) plus Knot's split zone."""
    for view in ("internal", "external"):
        cnames = "".join(f"acct{n} IN CNAME acct{n}.{PL}.\n" for n in range(1, N + 1))
        addrs = "".join(f"acct{n}.privatelink IN A {_ip(view, n)}\n" for n in range(1, N + 1))
        _zone(out / "zones" / view / f"combined-{BASE}.zone", BASE, cnames + addrs)
    # Knot has no views: mod-geoip (matching the QNAME only) picks a CNAME target per client subnet,
    # and both targets live in one zone: acctN.privatelink (internal data) and acctN.public (external data).
    body = "".join(f"acct{n}.privatelink IN A {_ip('internal', n)}\n" for n in range(1, N + 1))
    body += "".join(f"acct{n}.public IN A {_ip('external', n)}\n" for n in range(1, N + 1))
    _zone(out / "zones" / "knot" / f"{BASE}.zone", BASE, body)


def write_queries(out: Path) -> Path:
    """The reference query file (copied when present, else regenerated the same way)."""
    path = out / "queries.txt"
    ref = REFERENCE / "queries.txt"
    if ref.is_file():
        path.write_bytes(ref.read_bytes())
        return path
    rng = random.Random(42)
    q = [f"acct{n}.{BASE} A" for n in range(1, N + 1) for _ in range(9)]
    q += [f"nosuch{n}.{BASE} A" for n in range(1, N + 1)]
    rng.shuffle(q)
    path.write_text("\n".join(q) + "\n")
    return path


def write_hostile_queries(out: Path, total: int = 100_000, positive: int = 10_000) -> Path:
    """100,000 distinct names asked straight in the privatelink zone: 90 % absent (NXDOMAIN), 10 % present."""
    rng = random.Random(7)
    q = [f"nx{n}.{PL} A" for n in range(1, total - positive + 1)]
    q += [f"host{n}.{PL} A" for n in range(1, positive + 1)]
    rng.shuffle(q)
    path = out / "queries-hostile.txt"
    path.write_text("\n".join(q) + "\n")
    return path


# --------------------------------------------------------------------------- peers


def write_peer_confs(out: Path, udp_threads: int = 1) -> dict[str, Path]:
    """Configurations of BIND, Knot, Unbound and dnsmasq, as in the reference (with real paths)."""
    conf = out / "conf"
    run = out / "run"
    for d in ("bind", "knot", "unbound", "bind-2t"):
        (run / d).mkdir(parents=True, exist_ok=True)
    conf.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def named(port: int, rundir: Path) -> str:
        zones = {v: f'    zone "{BASE}" {{ type primary; file "{out}/zones/{v}/combined-{BASE}.zone"; }};\n'
                 for v in ("internal", "external")}
        return f"""options {{
    directory "{rundir}";
    pid-file "{rundir}/named.pid";
    session-keyfile "{rundir}/session.key";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    minimal-responses yes;
    notify no;
    tcp-clients 1000;
}};
controls {{ }};
view "internal" {{
    match-clients {{ 127.0.0.2/32; }};
{zones['internal']}}};
view "external" {{
    match-clients {{ any; }};
{zones['external']}}};
"""

    paths["bind"] = conf / "named.conf"
    paths["bind"].write_text(named(PORTS["bind"], run / "bind"))
    paths["bind-2t"] = conf / "named-2t.conf"
    paths["bind-2t"].write_text(named(PORTS["bind-2t"], run / "bind-2t"))

    geo = "".join(
        f"acct{n}.{BASE}:\n  - net: 127.0.0.2/32\n    CNAME: acct{n}.{PL}.\n"
        f"  - net: 0.0.0.0/0\n    CNAME: acct{n}.public.{BASE}.\n"
        for n in range(1, N + 1)
    )
    (conf / "knot-geoip.conf").write_text(geo)
    paths["knot"] = conf / "knot.conf"
    paths["knot"].write_text(f"""server:
    rundir: "{run}/knot"
    listen: 127.0.0.1@{PORTS['knot']}
    udp-workers: {udp_threads}
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{run}/knot"
log:
  - target: stderr
    any: warning
mod-geoip:
  - id: split
    config-file: "{conf}/knot-geoip.conf"
    ttl: {TTL}
    mode: subnet
template:
  - id: default
    storage: "{out}/zones/knot"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: {BASE}
    module: mod-geoip/split
""")

    def ub_view(view: str) -> str:
        lines = [f'    local-zone: "{BASE}." static\n', f'    local-zone: "{PL}." static\n']
        for n in range(1, N + 1):
            lines.append(f'    local-data: "acct{n}.{BASE}. {TTL} IN CNAME acct{n}.{PL}."\n')
            lines.append(f'    local-data: "acct{n}.{PL}. {TTL} IN A {_ip(view, n)}"\n')
        lines.append(f'    local-data: "{BASE}. {TTL} IN SOA {SOA}"\n')
        lines.append(f'    local-data: "{PL}. {TTL} IN SOA {SOA}"\n')
        return "".join(lines)

    paths["unbound"] = conf / "unbound.conf"
    paths["unbound"].write_text(f"""server:
    interface: 127.0.0.1@{PORTS['unbound']}
    port: {PORTS['unbound']}
    do-ip6: no
    num-threads: {udp_threads}
    so-reuseport: yes
    username: ""
    chroot: ""
    directory: "{run}/unbound"
    pidfile: "{run}/unbound/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    access-control-view: 127.0.0.2/32 internal
    access-control-view: 127.0.0.0/8 external
    minimal-responses: yes
    incoming-num-tcp: 1000
remote-control:
    control-enable: no
view:
    name: "internal"
    view-first: no
{ub_view('internal')}
view:
    name: "external"
    view-first: no
{ub_view('external')}
""")

    dm = [f"port={PORTS['dnsmasq']}\n", "listen-address=127.0.0.1\n", "bind-interfaces\n",
          "no-resolv\n", "no-hosts\n", "no-poll\n", f"local=/{BASE}/\n", "cache-size=10000\n",
          f"local-ttl={TTL}\n", f"pid-file={run}/dnsmasq.pid\n", "user=root\n"]
    for n in range(1, N + 1):
        dm.append(f"cname=acct{n}.{BASE},acct{n}.{PL}\n")
        dm.append(f"host-record=acct{n}.{PL},{_ip('internal', n)}\n")
    paths["dnsmasq"] = conf / "dnsmasq.conf"
    paths["dnsmasq"].write_text("".join(dm))
    return paths


# --------------------------------------------------------------------------- dnsemu topologies


def bench_topology(extra_zone_file: str | None = None, extra_records: list[str] | None = None) -> dict:
    """The reference workload as a dnsemu topology (see the module docstring)."""
    zone: dict = {"virtual_network_links": [{"virtual_network": "bench"}]}
    if extra_zone_file:
        zone["zone_file"] = extra_zone_file
    if extra_records:
        zone["records"] = extra_records
    return {
        "virtual_networks": {"bench": {"address_space": ["127.0.0.2/32", "10.1.0.0/24"]}},
        "private_dns_zones": {PL: zone},
        "private_endpoints": {
            f"pe-acct{n}": {
                "virtual_network": "bench",
                "private_ip_addresses": [f"10.1.0.{n}"],
                "resource": {"type": "Microsoft.Storage/storageAccounts", "name": f"acct{n}"},
                "group_id": "blob",
                "private_dns_zone_group": [PL],
            }
            for n in range(1, N + 1)
        },
        "resources": {
            f"nosuch{n}": {"type": "Microsoft.Storage/storageAccounts", "private_endpoint_groups": ["blob"]}
            for n in range(1, N + 1)
        },
        "check": {"accept": ["foreign-nxdomain"]},
    }


def write_topology(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_bench_topologies(out: Path) -> dict[str, Path]:
    """``bench.yaml`` (the main workload) and ``hostile.yaml`` (plus 10,000 privatelink records)."""
    topo = out / "topologies"
    hostile_zone = topo / "hostile-privatelink.zone"
    hostile_zone.parent.mkdir(parents=True, exist_ok=True)
    hostile_zone.write_text(f"$ORIGIN {PL}.\n$TTL 300\n" + "".join(
        f"host{n} A 10.2.{n // 256 % 256}.{n % 256}\n" for n in range(1, 10_001)))
    return {
        "bench": write_topology(topo / "bench.yaml", bench_topology()),
        "hostile": write_topology(topo / "hostile.yaml", bench_topology(extra_zone_file=hostile_zone.name)),
    }


def write_scale_topology(out: Path, records: int, per_zone: int = 10_000) -> Path:
    """A topology with ``records`` A records in zone files of ``per_zone`` records, all linked to one VNet.

    Zone files (RFC 1035) are how a large estate's records come in; one VNet per 100 zones.
    """
    d = out / "topologies" / f"scale-{records}"
    d.mkdir(parents=True, exist_ok=True)
    zones = max(1, (records + per_zone - 1) // per_zone)
    vnets = max(1, (zones + 99) // 100)
    data: dict = {"virtual_networks": {f"vnet{v}": {"address_space": [f"10.{v}.0.0/16"]} for v in range(vnets)},
                  "private_dns_zones": {}}
    left = records
    for z in range(zones):
        count = min(per_zone, left)
        left -= count
        name = f"z{z}.scale.internal"
        path = d / f"{name}.zone"
        if not path.is_file() or path.stat().st_size == 0:
            with path.open("w") as f:
                f.write(f"$ORIGIN {name}.\n$TTL 300\n")
                f.writelines(f"h{r} A 10.{200 + r // 65536 % 50}.{r // 256 % 256}.{r % 256}\n" for r in range(count))
        data["private_dns_zones"][name] = {"zone_file": path.name,
                                           "virtual_network_links": [{"virtual_network": f"vnet{z // 100}"}]}
    return write_topology(d / "topology.yaml", data)


def write_reload_topology(out: Path, flip: int, records: int = 100_000, per_zone: int = 20_000) -> Path:
    """The main workload plus ``records`` more records (zones of ``per_zone``, Azure allows 25,000 record sets
    per zone) linked to the same VNet; ``flip`` changes one record, so every rewrite is a real change."""
    topo = out / "topologies"
    topo.mkdir(parents=True, exist_ok=True)
    data = bench_topology(extra_records=[f"flip 300 A 10.9.9.{flip % 250 + 1}"])
    for z in range((records + per_zone - 1) // per_zone):
        name = f"bulk{z}.reload.internal"
        zone = topo / f"reload-{name}.zone"
        if not zone.is_file():
            with zone.open("w") as f:
                f.write(f"$ORIGIN {name}.\n$TTL 300\n")
                f.writelines(f"h{n} A 10.3.{n // 256 % 256}.{n % 256}\n" for n in range(per_zone))
        link = [{"virtual_network": "bench"}]
        data["private_dns_zones"][name] = {"zone_file": zone.name, "virtual_network_links": link}
    return write_topology(topo / "reload.yaml", data)


def write_all(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    write_zones(out)
    files = {"queries": write_queries(out), "hostile_queries": write_hostile_queries(out)}
    files.update({f"conf:{k}": v for k, v in write_peer_confs(out).items()})
    files.update(write_bench_topologies(out))
    return files
