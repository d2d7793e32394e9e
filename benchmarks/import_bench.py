"""How long ``dnsemu import`` takes on a large estate: 10,000 private endpoints.

Generates, in a temporary folder, an estate dumped the way docs/import.md says:
Resource Graph pages of 1000 rows (``resources``: VNets, NICs, zones, links, private
endpoints; ``dnsresources``: each endpoint's A record) and one ``az network
private-endpoint dns-zone-group list`` file per endpoint. Then it imports it, in
process, and prints the time of each step and of the whole (target: 5 s or less on 2
cores). It prints; it asserts nothing.

    python benchmarks/import_bench.py [--endpoints 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUB = "0b5e1c2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e"
ZONE = "privatelink.blob.core.windows.net"
PER_VNET = 2000
#: issue 14: import of an estate with 10,000 private endpoints in 5 s or less
TARGET = 5.0


def rid(rg: str, *parts: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/" + "/".join(parts)


def row(id_: str, type_: str, name: str, props: dict, location: str = "westeurope") -> dict:
    return {
        "id": id_,
        "name": name,
        "type": type_.lower(),
        "tenantId": "t",
        "location": location,
        "resourceGroup": id_.split("/")[4],
        "subscriptionId": SUB,
        "properties": props,
        "tags": {},
    }


def generate(folder: Path, endpoints: int) -> int:
    """Writes the dump; returns the number of files."""
    folder.mkdir(parents=True, exist_ok=True)
    vnets = -(-endpoints // PER_VNET)
    rows: list[dict] = []
    zone_id = rid("rg-dns", "privateDnsZones", ZONE)
    rows.append(row(zone_id, "Microsoft.Network/privateDnsZones", ZONE, {"numberOfRecordSets": endpoints}, "global"))
    for v in range(vnets):
        vid = rid("rg-net", "virtualNetworks", f"vnet-{v:02d}")
        space = f"10.{v}.0.0/16"
        rows.append(
            row(
                vid,
                "Microsoft.Network/virtualNetworks",
                f"vnet-{v:02d}",
                {
                    "addressSpace": {"addressPrefixes": [space]},
                    "dhcpOptions": {"dnsServers": []},
                    "subnets": [
                        {
                            "name": "snet-pe",
                            "id": f"{vid}/subnets/snet-pe",
                            "properties": {"addressPrefix": f"10.{v}.0.0/20"},
                        }
                    ],
                    "virtualNetworkPeerings": [],
                },
            )
        )
        rows.append(
            row(
                f"{zone_id}/virtualNetworkLinks/vnet-{v:02d}",
                "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
                f"vnet-{v:02d}",
                {"virtualNetwork": {"id": vid}, "registrationEnabled": False, "resolutionPolicy": "Default"},
                "global",
            )
        )
    records: list[dict] = []
    files = 0
    for i in range(endpoints):
        v, n = divmod(i, PER_VNET)
        vid = rid("rg-net", "virtualNetworks", f"vnet-{v:02d}")
        ip = str(ipaddress.ip_address(f"10.{v}.0.0") + 4 + n)
        name, account = f"pe-{i:05d}", f"st{i:05d}bench"
        pe_id = rid("rg-pe", "privateEndpoints", name)
        nic_id = rid("rg-pe", "networkInterfaces", f"{name}.nic")
        rows.append(
            row(
                pe_id,
                "Microsoft.Network/privateEndpoints",
                name,
                {
                    "subnet": {"id": f"{vid}/subnets/snet-pe"},
                    "networkInterfaces": [{"id": nic_id}],
                    "privateLinkServiceConnections": [
                        {
                            "name": name,
                            "properties": {
                                "privateLinkServiceId": f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/"
                                f"Microsoft.Storage/storageAccounts/{account}",
                                "groupIds": ["blob"],
                                "privateLinkServiceConnectionState": {"status": "Approved", "actionsRequired": "None"},
                            },
                        }
                    ],
                    "manualPrivateLinkServiceConnections": [],
                    "customDnsConfigs": [],
                    "provisioningState": "Succeeded",
                },
            )
        )
        rows.append(
            row(
                nic_id,
                "Microsoft.Network/networkInterfaces",
                f"{name}.nic",
                {
                    "ipConfigurations": [
                        {
                            "name": "cfg",
                            "properties": {
                                "privateIPAddress": ip,
                                "privateIPAllocationMethod": "Dynamic",
                                "primary": True,
                                "subnet": {"id": f"{vid}/subnets/snet-pe"},
                                "privateLinkConnectionProperties": {
                                    "groupId": "blob",
                                    "requiredMemberName": "blob",
                                    "fqdns": [f"{account}.blob.core.windows.net"],
                                },
                            },
                        }
                    ],
                    "privateEndpoint": {"id": pe_id},
                    "dnsSettings": {"dnsServers": []},
                    "provisioningState": "Succeeded",
                },
            )
        )
        records.append(
            {
                "id": f"{zone_id}/a/{account}".lower(),
                "name": account,
                "type": "microsoft.network/privatednszones/a",
                "resourceGroup": "rg-dns",
                "subscriptionId": SUB,
                "managedBy": ZONE,
                "properties": {"ttl": 10, "records": [{"ipv4Address": ip}]},
            }
        )
        group = {
            "id": f"{pe_id}/privateDnsZoneGroups/default",
            "name": "default",
            "resourceGroup": "rg-pe",
            "provisioningState": "Succeeded",
            "privateDnsZoneConfigs": [
                {
                    "name": "blob",
                    "privateDnsZoneId": zone_id,
                    "recordSets": [
                        {
                            "recordType": "A",
                            "recordSetName": account,
                            "ttl": 10,
                            "fqdn": f"{account}.{ZONE}",
                            "ipAddresses": [ip],
                        }
                    ],
                }
            ],
        }
        (folder / f"zg.rg-pe.{name}.json").write_text(json.dumps([group]))
        files += 1
    for table, items in (("resources", rows), ("dnsresources", records)):
        for page, start in enumerate(range(0, len(items), 1000)):
            chunk = items[start : start + 1000]
            token = "t" if start + 1000 < len(items) else None
            (folder / f"{table}.{page}.json").write_text(
                json.dumps({"count": len(chunk), "data": chunk, "skip_token": token, "total_records": len(items)})
            )
            files += 1
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--keep", metavar="DIR", help="write the dump and the topology here and keep them")
    parser.add_argument("--load", action="store_true", help="also time loading the written topology file")
    args = parser.parse_args()

    from dnsemu.importer.arm import Context
    from dnsemu.importer.files import collect
    from dnsemu.importer.pipeline import from_facts, read_files, validate_written, write
    from dnsemu.topology.load import load_topology

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dnsemu-import-bench-"))
    try:
        t0 = time.perf_counter()
        files = generate(work / "dump", args.endpoints)
        print(
            f"generated {args.endpoints:,} private endpoints in {files:,} files "
            f"({sum(p.stat().st_size for p in (work / 'dump').iterdir()) / 2**20:.1f} MiB) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        output = work / "estate" / "topology.yaml"
        timings = {}
        cpu = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        found, _notes = collect([str(work / "dump")])
        ctx = Context()
        facts, _labels = read_files(found, ctx)
        timings["read and detect"] = time.perf_counter() - start
        mark = time.perf_counter()
        result = from_facts(facts, ctx, output, sources=["dump"])
        timings["merge, build and render"] = time.perf_counter() - mark
        mark = time.perf_counter()
        write(result)
        timings["write"] = time.perf_counter() - mark
        total = time.perf_counter() - start
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        total_cpu = time.process_time() - cpu + (
            after_children.ru_utime + after_children.ru_stime - children.ru_utime - children.ru_stime
        )
        mark = time.perf_counter()
        loaded = validate_written(result)  # what `dnsemu import` does after writing
        check_time = time.perf_counter() - mark
        for step, seconds in timings.items():
            print(f"  {step:<26} {seconds:6.2f} s")
        print(
            f"import of {len(loaded.topology.private_endpoints):,} private endpoints: {total:.2f} s "
            f"({total_cpu:.2f} s of CPU; target <= 5 s), {len(result.findings)} finding(s), "
            f"{output.stat().st_size / 2**20:.1f} MiB of YAML"
        )
        print(
            f"  then `dnsemu import` validates what it wrote: {check_time:.2f} s "
            f"(end to end {total + check_time:.2f} s)"
        )
        if args.load:
            mark = time.perf_counter()
            load_topology(output)
            print(f"  loading the written file (dnsemu check, serve): {time.perf_counter() - mark:.2f} s")
        print(
            f"  (load average while measuring: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} cores)"
        )
        # the command's time: what `dnsemu import` takes, its check of what it wrote included
        command = total + check_time
        verdict = "met" if command <= TARGET else "NOT met"
        print(f"result: import {command:.2f} s wall end to end ({total:.2f} s to write, {check_time:.2f} s to check), "
              f"{total_cpu:.2f} s CPU to write; target <= {TARGET:g} s: {verdict}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
