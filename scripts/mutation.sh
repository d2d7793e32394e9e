#!/usr/bin/env bash
# Mutation testing by hand (too slow for CI): mutmut mutates the resolver, the compiler, the wire
# codec and the query handler one token at a time and runs, for each mutant, the fast in-process
# tests that reach the mutated function ([tool.mutmut] in pyproject.toml). A mutant the tests do
# not notice "survives": either a test is missing, or the change cannot be seen (docs/testing.md
# lists the survivors of the last run and why each is harmless).
#
#   scripts/mutation.sh                  # every configured module, one after the other
#   scripts/mutation.sh resolver wire    # some of them: resolver compile wire handler
#   JOBS=1 scripts/mutation.sh resolver  # fewer parallel workers on a busy machine (default 2)
#
# Needs the mutation extra: .venv/bin/pip install -e '.[test,mutation]'. The first run writes
# mutants/ (git-ignored; delete it after changing tests in ways mutmut cannot see, such as data
# files); later runs only test what changed. On two cores, the resolver takes about half an hour.
set -euo pipefail
cd "$(dirname "$0")/.."

MUTMUT=.venv/bin/mutmut
if [ ! -x "$MUTMUT" ]; then
  echo "mutmut is not installed: .venv/bin/pip install -e '.[test,mutation]'" >&2
  exit 2
fi

declare -A MODULE=(
  [resolver]="dnsemu.core.resolver*"
  [compile]="dnsemu.core.compile*"
  [wire]="dnsemu.dns.wire*"
  [handler]="dnsemu.server.handler*"
)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(resolver compile wire handler)

for target in "${targets[@]}"; do
  pattern=${MODULE[$target]:-}
  if [ -z "$pattern" ]; then
    echo "unknown module $target (one of: ${!MODULE[*]})" >&2
    exit 2
  fi
  echo "== mutmut: $target ($pattern)"
  "$MUTMUT" run --max-children "${JOBS:-2}" "$pattern" || true
done

# The score per module: killed / (killed + survived); "no tests" and timeouts are listed apart.
.venv/bin/python - "${targets[@]}" <<'EOF'
import subprocess
import sys

MODULES = {"resolver": "dnsemu.core.resolver.", "compile": "dnsemu.core.compile.",
           "wire": "dnsemu.dns.wire.", "handler": "dnsemu.server.handler"}
lines = subprocess.run([".venv/bin/mutmut", "results", "--all", "true"], capture_output=True, text=True).stdout
for target in sys.argv[1:]:
    prefix = MODULES[target]
    counts: dict[str, int] = {}
    survivors = []
    for line in lines.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name.startswith(prefix):
            continue
        counts[status] = counts.get(status, 0) + 1
        if status == "survived":
            survivors.append(name)
    killed, survived = counts.get("killed", 0), counts.get("survived", 0)
    total = killed + survived
    score = f"{100 * killed / total:.1f} %" if total else "n/a"
    print(f"{target}: {score} killed ({killed} of {total}); all states: {counts}")
    for name in survivors:
        print(f"  survived: {name}")
EOF
