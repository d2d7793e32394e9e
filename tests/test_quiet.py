"""A library is quiet: ``Emulator`` and the pytest plugin write nothing to stdout (file descriptor 1).

Each check runs a fresh Python process (nothing configured logging before) and reads its fd 1 and
fd 2 as the operating system sees them. Logs reach the standard ``logging`` logger ``dnsemu``,
which the host configures, or ``DNSEMU_LOG=LEVEL`` shows on stderr. ``dnsemu serve`` keeps its
output: the readiness line on stdout, logs on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY = ROOT / "zones" / "topology.yaml"

SCRIPT = textwrap.dedent(f"""
    from dnsemu.testing import Emulator

    with Emulator({str(TOPOLOGY)!r}) as dns:
        reply = dns.query("mystorage.blob.core.windows.net", source="hub")
        dns.query("pypi.org")                       # REFUSED: a line with a reason in the query log
        dns.reload()
    print("the program's own output:", reply.addresses)
""")


def run(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=180,
                          env=environment)


def test_an_emulator_in_a_plain_script_prints_nothing(tmp_path: Path) -> None:
    result = run(SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the program's own output: ['10.0.1.4']\n"
    assert result.stderr == ""  # nothing at INFO reaches the last-resort handler either


def test_dnsemu_log_shows_the_lines_on_stderr_only(tmp_path: Path) -> None:
    result = run(SCRIPT, tmp_path, DNSEMU_LOG="info")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the program's own output: ['10.0.1.4']\n"
    assert "dns_query" in result.stderr and "server_started" in result.stderr
    assert "reason='the name is outside the topology" in result.stderr


def test_the_host_application_configures_logging_as_usual(tmp_path: Path) -> None:
    code = "import logging, sys\n" \
           "logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format='%(name)s %(message)s')\n" \
           "logging.getLogger('dnsemu').setLevel(logging.INFO)\n" + SCRIPT
    result = run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the program's own output: ['10.0.1.4']\n"
    lines = result.stderr.splitlines()
    assert any(line.startswith("dnsemu event='dns_query' client='127.0.0.1'") for line in lines), result.stderr
    assert any(line.startswith("dnsemu.server event='server_started'") for line in lines), result.stderr


def test_the_pytest_plugin_prints_nothing_even_without_capture(tmp_path: Path) -> None:
    (tmp_path / "test_uses_dnsemu.py").write_text(textwrap.dedent(f"""
        import pytest

        @pytest.fixture
        def dnsemu_topology():
            return {str(TOPOLOGY)!r}

        def test_private_answer(dnsemu):
            assert dnsemu.query("mystorage.blob.core.windows.net", source="hub").addresses == ["10.0.1.4"]
            assert dnsemu.query("pypi.org").rcode == "REFUSED"
            print("MARK from the test")
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider",
                             "test_uses_dnsemu.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if not k.startswith(("DNSEMU_", "PYTEST_"))})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "MARK from the test" in out and "1 passed" in out
    for noise in ("dns_query", "server_started", "server_stopped", "topology_loaded", "event="):
        assert noise not in out and noise not in result.stderr, noise


def test_serve_keeps_its_output(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "dnsemu", "serve", "--listen", "127.0.0.1:0", "--no-watch",
                             "--topology", str(TOPOLOGY)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dnsemu ready udp://127.0.0.1:")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert out == ""  # nothing but the readiness line
    assert '"event": "server_started"' in err and '"event": "server_stopped"' in err
