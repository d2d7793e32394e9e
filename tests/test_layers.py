"""The architecture holds: imports flow one way, and a library user's process is left alone.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``.ci/run`` runs
``lint-imports`` too, and this test keeps a developer's ``pytest`` honest.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dnsemu.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
TEST_TOPOLOGY = Path(__file__).resolve().parent / "data" / "topology.yaml"


def test_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]' brings import-linter")
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " 0 broken." in done.stdout


def test_a_library_server_leaves_the_process_tuning_alone() -> None:
    """gc.freeze, gc.disable and the switch interval are ``dnsemu serve``'s business, not a library's."""
    interval, frozen, enabled = sys.getswitchinterval(), gc.get_freeze_count(), gc.isenabled()
    with Emulator(TEST_TOPOLOGY) as dns:
        assert dns.reload()
        assert sys.getswitchinterval() == interval and gc.isenabled() == enabled
    assert gc.get_freeze_count() == frozen
