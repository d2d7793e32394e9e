"""What ``dnsemu serve`` imports before its first answer (issue 18: an unchanged restart ready in seconds).

A restart from the index cache reads no YAML, builds no index and serves no HTTP, so the modules that do
those are imported where they are first needed: the HTTP side (:mod:`dnsemu.http`, prometheus-client)
when HTTP starts or ``App.registry`` is first read, and behind it the drawing and comparing code
(:mod:`dnsemu.graph`, :mod:`dnsemu.analysis.diff`) by the first route that draws or compares; PyYAML
and the cross-reference checks by the first topology parsed; the compiler by the first build; the
topology's pydantic models build their validators on first use. These tests name the modules, so that a
change importing one of them eagerly again fails here. Speed itself is measured in benchmarks
(``benchmarks/run.py --only startup``), never here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Options
from dnsemu.server.indexcache import IndexCache
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES
from dnsemu.topology.load import load_topology

ROOT = Path(__file__).resolve().parents[1]

#: imported by neither ``dnsemu.cli.serve`` nor ``dnsemu.app``: each is needed only by something a restart
#: from the cache does not do before its first answer (a name ending in "." stands for its submodules too)
LAZY = (
    "dnsemu.http.", "prometheus_client", "dnsemu.analysis.", "dnsemu.graph.",  # HTTP, the API, the UI, the diff
    "yaml", "dnsemu.topology.validate", "dnsemu.topology.zonefile", "dnsemu.cli.estate",  # parsing a topology
    "dnsemu.core.compile", "dnsemu.catalog",  # building an index
)


def _lazy_ones(modules: list[str]) -> list[str]:
    return sorted(m for m in modules for lazy in LAZY
                  if m == lazy.rstrip(".") or (lazy.endswith(".") and m.startswith(lazy)))


def _python(code: str) -> Any:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_modules_serve_starts_with_leave_the_lazy_ones_out() -> None:
    found = _python("import json, sys\n"
                    "import dnsemu.cli.serve, dnsemu.app\n"
                    "from dnsemu.topology.model import RecordSet, Topology\n"
                    "print(json.dumps({'modules': sorted(sys.modules),\n"
                    "                  'built': [Topology.__pydantic_complete__, RecordSet.__pydantic_complete__]}))")
    assert _lazy_ones(found["modules"]) == []
    assert found["built"] == [False, False], "the topology's models build their validators on first use"


def test_the_lazy_modules_are_imported_when_needed() -> None:
    """The same names, once HTTP is served and a topology parsed (the list above names real imports); the
    drawing and comparing code only once a route draws or compares, and those routes answer as ever."""
    found = _python("import json, sys, urllib.request\n"
                    "from dnsemu.testing import Emulator\n"
                    f"with Emulator({str(ROOT / 'zones' / 'topology.yaml')!r}, http=True, query_log=False) as emu:\n"
                    "    host, port = emu.app.http_address\n"
                    "    def get(path):\n"
                    "        with urllib.request.urlopen(f'http://{host}:{port}{path}', timeout=60) as reply:\n"
                    "            return reply.status, json.loads(reply.read())\n"
                    "    ready = get('/readyz')\n"
                    "    emu.app.registry\n"
                    "    started = sorted(sys.modules)\n"
                    "    graph, diff = get('/v1/graph?format=json'), get('/v1/diff')\n"
                    "print(json.dumps({'started': started, 'after': sorted(sys.modules), 'ready': ready,\n"
                    "                  'graph': [graph[0], bool(graph[1]['nodes'])],\n"
                    "                  'diff': [diff[0], diff[1]['identical']]}))")
    assert found["ready"][0] == 200 and found["ready"][1]["status"] == "ready"
    assert found["graph"] == [200, True] and found["diff"] == [200, True]
    started = _lazy_ones(found["started"])
    for name in ("dnsemu.http.api", "dnsemu.http.diffview", "dnsemu.http.ui", "dnsemu.http.metrics",
                 "prometheus_client", "yaml", "dnsemu.topology.validate", "dnsemu.core.compile"):
        assert name in started, name
    on_use = ("dnsemu.graph.draw", "dnsemu.graph.svg", "dnsemu.analysis.diff", "dnsemu.analysis.diffscope")
    assert [m for m in on_use if m in started] == []
    # the graph drawn; the diff answered without comparing (no change in effect: tests/test_ui_diff.py compares)
    assert [m for m in on_use if m not in found["after"]] == ["dnsemu.analysis.diff", "dnsemu.analysis.diffscope"]


# --------------------------------------------------------------------------- a real restart from the cache

TOPOLOGY = """\
virtual_networks:
  spoke:
    address_space: [10.20.0.0/16, 127.0.0.0/8]
private_dns_zones:
  corp.example:
    zone_file: corp.example.zone
    virtual_network_links:
      - virtual_network: spoke
"""
ZONE = "$ORIGIN corp.example.\n$TTL 300\napp A 10.20.0.4\n"

#: ``dnsemu serve`` as ``python -m dnsemu serve`` runs it, noting every module imported when it is ready
PROBE = """\
import json, sys
from pathlib import Path
import dnsemu.cli.serve as serve
announce = serve._announce
def noting(settings, line):
    Path(sys.argv[1]).write_text(json.dumps(sorted(sys.modules)))
    announce(settings, line)
serve._announce = noting
sys.exit(serve.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_restart_from_the_cache_answers_before_importing_them(tmp_path: Path, log_format: str) -> None:
    (tmp_path / "estate").mkdir()
    topology = tmp_path / "estate" / "topology.yaml"
    topology.write_text(TOPOLOGY)
    (tmp_path / "estate" / "corp.example.zone").write_text(ZONE)
    directory = tmp_path / "cache"
    # the entry `dnsemu serve` looks for with its default settings (what an unchanged restart finds)
    cache = IndexCache(directory, options=Options(), max_file_bytes=DEFAULT_MAX_FILE_BYTES, min_records=0)
    loaded = load_topology(topology)
    assert cache.store(loaded, compile_topology(loaded, cache.options))
    noted = tmp_path / "modules.json"
    stderr = tmp_path / "serve.err"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, str(noted), "--topology", str(topology), "--listen", "127.0.0.1:0",
             "--no-watch", "--log-format", log_format, "--index-cache-dir", str(directory),
             "--index-cache-min-records", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err, env=_environment())  # the cache key holds the cwd
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()  # blocks until ready (or the process ends)
            assert line.startswith("dnsemu ready udp://127.0.0.1:"), stderr.read_text(errors="replace")
            port = int(line.split()[2].rsplit(":", 1)[1])
            reply = dns.query.udp(dns.message.make_query("app.corp.example.", "A"), "127.0.0.1", port=port,
                                  source="127.0.0.1", timeout=10)
            assert [rr.to_text() for rrset in reply.answer for rr in rrset] == ["10.20.0.4"]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    log = stderr.read_text(errors="replace")
    assert "index_cache_hit" in log, log  # a restart: nothing parsed, nothing built
    modules = json.loads(noted.read_text())
    assert _lazy_ones(modules) == []
    assert "dnsemu.topology.load" in modules  # the control: the probe saw serve's own imports


def _environment() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
