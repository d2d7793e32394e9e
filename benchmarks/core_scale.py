"""How the core scales: compile time and resolution cost, small topology against a large one.

    python benchmarks/core_scale.py [--vnets 1000] [--zones 200] [--records 100000]

Prints the time to validate and compile each topology, resident memory, and the
cost of one resolution (median of several timeit runs) for the same kinds of
question on both, with the ratio. A resolution should cost the same whatever the
size of the topology: each step is a dictionary probe.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
import timeit

from dnsemu.core.compile import compile_topology
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.load import load_topology_data


def build(vnets: int, zones: int, records: int) -> dict:
    per_zone = max(1, records // zones)
    data: dict = {"virtual_networks": {}, "private_dns_zones": {}}
    for v in range(vnets):
        data["virtual_networks"][f"vnet{v}"] = {"address_space": [f"10.{v // 250}.{v % 250}.0/24"]}
    for z in range(zones):
        # each zone linked to a tenth of the VNets, round robin
        links = [{"virtual_network": f"vnet{v}"} for v in range(z % 10, vnets, 10)]
        data["private_dns_zones"][f"z{z}.example.internal"] = {
            "records": [
                f"host{r} 300 A 10.{200 + r // 65536 % 50}.{r // 256 % 256}.{r % 256}" for r in range(per_zone)
            ],
            "virtual_network_links": links,
        }
    return data


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(label: str, data: dict, zones: int) -> dict:
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    loaded = load_topology_data(data)
    t1 = time.perf_counter()
    index = compile_topology(loaded)
    t2 = time.perf_counter()
    last_zone = zones - 1
    questions = {
        "private hit": (Question(f"host7.z{last_zone}.example.internal.", RRType.A), f"10.0.{last_zone % 10}.5"),
        "private NXDOMAIN": (Question(f"nosuch.z{last_zone}.example.internal.", RRType.A), f"10.0.{last_zone % 10}.5"),
        "unlinked → forward": (
            Question(f"host7.z{last_zone}.example.internal.", RRType.A),
            f"10.0.{(last_zone + 1) % 10}.5",
        ),
        "internet": (Question("www.example.com.", RRType.A), "198.51.100.1"),
    }
    costs = {}
    for name, (q, source) in questions.items():
        assert resolve(index, q, source) is not None
        runs = timeit.repeat(lambda q=q, s=source: resolve(index, q, s), number=20000, repeat=5)
        costs[name] = statistics.median(runs) / 20000 * 1e6
    return {
        "label": label,
        "load_s": t1 - t0,
        "compile_s": t2 - t1,
        "rss_mb": rss_mb() - before,
        "records": sum(len(z) for z in index.private_zones.values()),
        "costs": costs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vnets", type=int, default=1000)
    parser.add_argument("--zones", type=int, default=200)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    small = measure("small (10 VNets, 2 zones, 100 records)", build(10, 2, 100), 2)
    large = measure(
        f"large ({args.vnets} VNets, {args.zones} zones, {args.records} records)",
        build(args.vnets, args.zones, args.records),
        args.zones,
    )
    for result in (small, large):
        print(
            f"{result['label']}: validate {result['load_s']:.2f} s, compile {result['compile_s']:.2f} s, "
            f"{result['records']} records, +{result['rss_mb']:.0f} MB max RSS"
        )
    print(f"{'resolution':<22}{'small µs':>10}{'large µs':>10}{'large/small':>13}")
    for name in small["costs"]:
        a, b = small["costs"][name], large["costs"][name]
        print(f"{name:<22}{a:>10.2f}{b:>10.2f}{b / a:>13.2f}")


if __name__ == "__main__":
    main()
