#!/usr/bin/env bash
# A long load and soak run by hand: the compliance soak and TCP abuse tests with DNSEMU_LONG=1
# (each dnsperf phase 120 s, reload-under-load 300 s), then a long fuzz run.
# Needs dnsperf (Debian package) like CI. Usage: scripts/soak.sh [FUZZ_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DNSEMU_LONG=1 python -m pytest tests/compliance/test_soak.py tests/compliance/test_tcp_abuse.py -q -s -p no:cacheprovider
python scripts/fuzz_long.py --seconds "${1:-600}"
