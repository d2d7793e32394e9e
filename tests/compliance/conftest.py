"""Fixtures of the compliance suite: the test estate, a running ``dnsemu serve``, the tools.

The suite proves dnsemu's behaviour with tools nobody here wrote (Knot DNS,
dnspython, dnsperf, dnsviz, zonemaster) and with hostile input. Everything runs
on loopback (127.0.0.0/8) or inside a network namespace a test creates. The
whole directory runs in CI in well under three minutes on two cores; the long
fuzz and soak runs need ``DNSEMU_LONG=1`` (see test_fuzz.py and test_soak.py,
and scripts/fuzz_long.py, scripts/soak.sh for runs by hand).

Debian packages CI installs for it: knot, dnsperf, dnsviz, zonemaster-cli
(plus dnsutils, knot-dnsutils, iproute2 already there), and util-linux for unshare.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index
from dnsemu.topology.load import load_topology

from .helpers import ESTATE, ServeProcess


@pytest.fixture(scope="session")
def estate_index() -> Index:
    return compile_topology(load_topology(ESTATE))


@pytest.fixture(scope="module")
def dnsemu_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``dnsemu serve`` on the test estate with default settings, port 0 on 127.0.0.1, one per module."""
    workdir: Path = tmp_path_factory.mktemp("dnsemu")
    proc = ServeProcess(workdir).start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"dnsemu serve exited {code} on SIGTERM:\n{proc.log_text()[-3000:]}"
