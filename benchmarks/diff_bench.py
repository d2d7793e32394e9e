"""How long ``dnsemu diff`` takes on two large estates (issue 14: 10,000 private endpoints each, <= 30 s on 2 cores).

    python benchmarks/diff_bench.py [--endpoints 10000] [--spokes 100]

Writes two topology files under ``benchmarks/out/diff/`` (gitignored) and runs
``dnsemu diff`` on them the way the command does (load, validate and compile
both, enumerate the questions, compare, render), printing each phase's wall and
CPU time. Then it runs the real command in a fresh process and prints its wall
time: that is the figure the target is about.

The estate (:func:`estate`): a hub with a DNS Private Resolver and one private
zone per service (blob, file, vault, SQL) linked to it; ``--spokes`` spokes,
odd ones using the hub's inbound endpoint as custom DNS, even ones Azure DNS
with a forwarding ruleset; the private endpoints spread over the spokes; a VM
per spoke; two on-premises sites, one forwarding the public service zones to the
inbound endpoint and one the privatelink zones (the classic mistake); a corp
zone of hand-written records with CNAMEs between them, and a small apps zone.

The change (:func:`change`), what an infrastructure pull request does: 1 % of
the endpoints get a new address, 0.5 % are removed and as many added, one
ruleset rule is added (the apps zone, for the spokes on the ruleset), one zone
is linked to one more spoke, one record's CNAME target moves. The comparison
resolves each question once per group of networks the resolver reads alike, and
only the names whose answers the differences between the two compiled estates can
reach (dnsemu/analysis/diffscope.py, docs/diff.md); half of it in a second
process. The last line says whether the fresh process met the target.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: issue 14: diff of two estates of 10,000 private endpoints in 30 s or less on 2 cores
TARGET = 30.0

SERVICES = (
    ("Microsoft.Storage/storageAccounts", "blob", "privatelink.blob.core.windows.net", "blob.core.windows.net"),
    ("Microsoft.Storage/storageAccounts", "file", "privatelink.file.core.windows.net", "file.core.windows.net"),
    ("Microsoft.KeyVault/vaults", "vault", "privatelink.vaultcore.azure.net", "vault.azure.net"),
    ("Microsoft.Sql/servers", "sqlServer", "privatelink.database.windows.net", "database.windows.net"),
)


def estate(endpoints: int = 10_000, spokes: int = 100, corp_records: int = 1000) -> dict:
    """A hub-and-spoke estate with ``endpoints`` private endpoints, as topology data."""
    hub = {
        "address_space": ["10.0.0.0/16"],
        "subnets": {
            "snet-in": {"address_prefix": "10.0.0.0/28"},
            "snet-out": {"address_prefix": "10.0.0.16/28"},
            "snet-vms": {"address_prefix": "10.0.2.0/24"},
        },
    }
    data: dict = {
        "region": "eastus",
        "virtual_networks": {"hub": hub},
        "on_premises": {
            "dc": {
                "address_space": ["192.168.0.0/16"],
                "dns_servers": ["192.168.1.10"],
                "conditional_forwarders": {public: ["10.0.0.4"] for *_, public in SERVICES},
            },
            "branch": {
                "address_space": ["172.16.0.0/16"],
                "dns_servers": ["172.16.0.10"],
                "conditional_forwarders": {private: ["10.0.0.4"] for _, _, private, _ in SERVICES},
            },
        },
        "dns_private_resolvers": {
            "hub-resolver": {
                "virtual_network": "hub",
                "inbound_endpoints": {"in1": {"private_ip_address": "10.0.0.4", "subnet": "snet-in"}},
                "outbound_endpoints": ["out1"],
            }
        },
        "dns_forwarding_rulesets": {
            "spoke-rules": {
                "dns_resolver_outbound_endpoints": ["hub-resolver/out1"],
                "virtual_network_links": [],
                "forwarding_rules": {
                    group.lower(): {"domain_name": public + ".", "target_dns_servers": ["10.0.0.4"]}
                    for _, group, _, public in SERVICES
                }
                | {"corp": {"domain_name": "corp.contoso.com.", "target_dns_servers": ["192.168.1.10"]}},
            }
        },
        "private_dns_zones": {
            private: {"virtual_network_links": [{"virtual_network": "hub"}]} for _, _, private, _ in SERVICES
        },
        "private_endpoints": {},
        "virtual_machines": {"hub-vm1": {"virtual_network": "hub", "private_ip_address": "10.0.2.4"}},
        "check": {"accept": ["*"]},
    }
    records = [f"app{i} 300 A 10.0.3.{i % 250 + 4}" for i in range(corp_records)]
    records += [f"alias{i} 300 CNAME app{i}.azure.contoso.com." for i in range(0, corp_records, 10)]
    data["private_dns_zones"]["azure.contoso.com"] = {
        "records": records,
        "virtual_network_links": [{"virtual_network": "hub", "registration_enabled": True}],
    }
    data["private_dns_zones"]["apps.contoso.net"] = {
        "records": [f"api{i} 300 A 10.0.4.{i + 4}" for i in range(20)],
        "virtual_network_links": [{"virtual_network": "hub"}],
    }
    per_spoke = -(-endpoints // spokes)
    made = 0
    for s in range(1, spokes + 1):
        vnet = f"spoke{s}"
        spoke: dict = {
            "address_space": [f"10.{s}.0.0/16"],
            "subnets": {
                "snet-pe": {"address_prefix": f"10.{s}.0.0/20"},
                "snet-app": {"address_prefix": f"10.{s}.16.0/24"},
            },
            "peerings": ["hub"],
        }
        if s % 2:
            spoke["dns_servers"] = ["10.0.0.4"]
        else:
            data["dns_forwarding_rulesets"]["spoke-rules"]["virtual_network_links"].append(vnet)
        data["virtual_networks"][vnet] = spoke
        data["virtual_machines"][f"app-vm{s}"] = {
            "virtual_network": vnet,
            "subnet": "snet-app",
            "private_ip_address": f"10.{s}.16.4",
        }
        for j in range(per_spoke):
            if made == endpoints:
                break
            rtype, group, private, _ = SERVICES[made % len(SERVICES)]
            data["private_endpoints"][f"pe-{s}-{j}"] = {
                "virtual_network": vnet,
                "subnet": "snet-pe",
                "private_ip_addresses": [f"10.{s}.{j // 250}.{j % 250 + 4}"],
                "resource": {"type": rtype, "name": f"res{s}x{j}"},
                "group_id": group,
                "private_dns_zone_group": [private],
            }
            made += 1
    return data


def change(data: dict) -> dict:
    """What a pull request does to the estate (see the module docstring)."""
    after = copy.deepcopy(data)
    pes = after["private_endpoints"]
    names = list(pes)
    for name in names[3::100]:
        ip = pes[name]["private_ip_addresses"][0].split(".")
        pes[name]["private_ip_addresses"] = [".".join([*ip[:2], "15", ip[3]])]
    removed = names[7 :: 200]
    for name in removed:
        template = pes.pop(name)
        moved = copy.deepcopy(template)
        moved["resource"]["name"] += "new"
        moved["private_ip_addresses"] = [moved["private_ip_addresses"][0].rsplit(".", 2)[0] + ".14.9"]
        pes[name + "-new"] = moved
    rules = after["dns_forwarding_rulesets"]["spoke-rules"]["forwarding_rules"]
    rules["apps"] = {"domain_name": "apps.contoso.net.", "target_dns_servers": ["10.0.0.4"]}
    after["private_dns_zones"]["privatelink.vaultcore.azure.net"]["virtual_network_links"].append(
        {"virtual_network": "spoke3"}
    )
    zone = after["private_dns_zones"]["azure.contoso.com"]
    zone["records"] = [r.replace("CNAME app0.", "CNAME app1.") for r in zone["records"]]
    return after


class Clock:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def __call__(self, label: str, fn, *args, **kwargs):
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.rows.append((label, time.perf_counter() - w, time.process_time() - c))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--spokes", type=int, default=100)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "diff"))
    args = parser.parse_args()

    from dnsemu.analysis.diff import diff, questions, render, sources
    from dnsemu.cli.estate import read_estate as load_estate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    before_data = estate(args.endpoints, args.spokes)
    after_data = change(before_data)
    paths = []
    for label, data in (("before", before_data), ("after", after_data)):
        path = out / f"{label}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, width=200))
        paths.append(path)
    print(
        f"estates: {args.endpoints} private endpoints, {args.spokes + 1} VNets, 2 on-premises sites "
        f"({paths[0].stat().st_size // 1024} KiB of YAML each) in {out}"
    )

    clock = Clock()
    gc.collect()
    gc.disable()  # as the command does
    before = clock("load + compile BEFORE", load_estate, paths[0])
    after = clock("load + compile AFTER", load_estate, paths[1])
    asked = clock("questions", questions, before, after)
    who = clock("sources", sources, before, after)
    report = clock("compare", diff, before, after, asked=asked, who=who)
    text = clock("render", render, report)
    total_wall = sum(r[1] for r in clock.rows)
    total_cpu = sum(r[2] for r in clock.rows)
    gc.enable()
    print(f"{'phase':<28}{'wall s':>9}{'cpu s':>9}")
    for label, wall, cpu in clock.rows:
        print(f"{label:<28}{wall:>9.2f}{cpu:>9.2f}")
    print(f"{'in process, total':<28}{total_wall:>9.2f}{total_cpu:>9.2f}")
    print(
        f"{len(asked)} names, {report.question_count} questions from each of {len(who)} sources "
        f"({report.question_count * len(who)} answers per estate); {report.resolved} resolutions computed; "
        f"{len(report.changes)} answers change; {len(text.splitlines())} lines of output; {report.stats}"
    )
    load = os.getloadavg()[0]
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "dnsemu", "diff", str(paths[0]), str(paths[1])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children.ru_utime - before_children.ru_utime) + (children.ru_stime - before_children.ru_stime)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    verdict = "within" if wall <= TARGET else "OVER"
    print(
        f"dnsemu diff, fresh process: {wall:.2f} s wall, {cpu:.2f} s CPU, exit {result.returncode} "
        f"({verdict} the 30 s target; load average {load:.1f} on {cpus} CPUs when it started)"
    )
    met = "met" if wall <= TARGET and result.returncode == 1 else "NOT met"
    print(f"result: diff {wall:.2f} s wall, {cpu:.2f} s CPU; target <= {TARGET:g} s on 2 cores: {met}")


if __name__ == "__main__":
    main()
