"""Load and compile one topology in a fresh process; print one JSON line (seconds, KiB).

    python benchmarks/scale_probe.py TOPOLOGY

``load_s`` is reading and validating the YAML and its zone files, ``compile_s`` building
the index; ``rss_kib`` / ``hwm_kib`` come from /proc/self/status after the compile (the
index still alive), ``base_rss_kib`` before loading (the interpreter and the imports).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path


def status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    from dnsemu.core.compile import compile_topology
    from dnsemu.topology.load import load_topology

    path = sys.argv[1]
    gc.collect()
    base = status("VmRSS")
    t0 = time.perf_counter()
    loaded = load_topology(path)
    t1 = time.perf_counter()
    index = compile_topology(loaded)
    t2 = time.perf_counter()
    del loaded
    gc.collect()
    records = sum(len(z) for z in index.private_zones.values())
    print(json.dumps({"load_s": t1 - t0, "compile_s": t2 - t1, "records": records, "base_rss_kib": base,
                      "rss_kib": status("VmRSS"), "hwm_kib": status("VmHWM")}))


if __name__ == "__main__":
    main()
