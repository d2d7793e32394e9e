#!/usr/bin/env bash
# A long load and soak run by hand: the compliance soak and TCP abuse tests with DNSEMU_LONG=1
# (each dnsperf phase 120 s, reload-under-load 300 s), the HTTP API fuzzed from its OpenAPI document
# (schemathesis, hundreds of examples per operation, a fresh seed), then a long fuzz run of the packet path.
# Needs dnsperf (Debian package) like CI. Usage: scripts/soak.sh [FUZZ_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DNSEMU_LONG=1 python -m pytest tests/compliance/test_soak.py tests/compliance/test_tcp_abuse.py -q -s -p no:cacheprovider
DNSEMU_LONG=1 python -m pytest tests/test_api_fuzz.py -q -p no:cacheprovider
python scripts/fuzz_long.py --seconds "${1:-600}"
