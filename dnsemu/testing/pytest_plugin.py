"""pytest fixtures for dnsemu, registered through the ``pytest11`` entry point (or ``-p dnsemu.testing.pytest_plugin``).

* ``dnsemu`` (function scope): a running :class:`dnsemu.testing.Emulator`, reset
  before each test (no run-time changes, an empty query log) and checked after
  it (an error the server hit fails the test at teardown).
* ``dnsemu_topology``: the topology to serve; override it in ``conftest.py``
  or a test module (any scope), returning a path, a dict or a LoadedTopology.
* ``@pytest.mark.dnsemu_topology(path_or_dict)``: a topology for one test,
  class or module (as ``pytestmark``); it wins over the fixture. A relative
  path is relative to the test file.
* ``dnsemu_settings``: keyword settings for the emulators (default ``{}``),
  e.g. ``{"upstreams": ["127.0.0.1:5300"]}``; override it like the topology.
* ``dnsemu_pool`` (session scope): the servers. Starting a server costs a
  compile and a bind, so there is one per distinct (topology, settings) for the
  whole session: tests that share a topology share its server (reset between
  them), and a marker with another topology gets a server of its own, started
  the first time a test asks for it and kept for the others that use the same.
  All stop at the end of the session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from dnsemu.testing import Emulator

__all__ = ["EmulatorPool"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dnsemu_topology(topology): serve this topology (a path, a dict or a LoadedTopology) to the dnsemu "
        "fixture of the marked tests",
    )


def _key(topology: Any, settings: Mapping[str, Any]) -> tuple[Any, ...]:
    if isinstance(topology, (str, os.PathLike)):
        which: Any = ("path", str(Path(topology).resolve()))
    elif isinstance(topology, Mapping):
        which = ("data", json.dumps(topology, sort_keys=True, default=str))
    else:
        which = ("object", id(topology))
    return (which, json.dumps(dict(settings), sort_keys=True, default=str))


class EmulatorPool:
    """Running emulators of a session, one per distinct (topology, settings)."""

    def __init__(self) -> None:
        self._emulators: dict[tuple[Any, ...], Emulator] = {}
        self._keep: list[Any] = []  # objects keyed by id() stay alive

    def get(self, topology: Any, settings: Mapping[str, Any] | None = None) -> Emulator:
        settings = dict(settings or {})
        key = _key(topology, settings)
        emulator = self._emulators.get(key)
        if emulator is None:
            emulator = Emulator(topology, **settings).start()
            self._emulators[key] = emulator
            self._keep.append(topology)
        return emulator

    def stop(self) -> None:
        for emulator in self._emulators.values():
            emulator.stop()
        self._emulators.clear()
        self._keep.clear()


@pytest.fixture
def dnsemu_topology() -> Any:
    """Override me: the topology the ``dnsemu`` fixture serves (a path, a dict or a LoadedTopology)."""
    pytest.fail("the dnsemu fixture needs a topology: define a 'dnsemu_topology' fixture (in conftest.py or the "
                "test module) returning a path, a dict or a LoadedTopology, or mark the test with "
                "@pytest.mark.dnsemu_topology(...)", pytrace=False)


@pytest.fixture
def dnsemu_settings() -> Mapping[str, Any]:
    """Override me: keyword settings of the emulator (``dnsemu.server.settings.Settings`` fields)."""
    return {}


@pytest.fixture(scope="session")
def dnsemu_pool() -> Iterator[EmulatorPool]:
    pool = EmulatorPool()
    yield pool
    pool.stop()


@pytest.fixture
def dnsemu(request: pytest.FixtureRequest, dnsemu_pool: EmulatorPool,
           dnsemu_settings: Mapping[str, Any]) -> Iterator[Emulator]:
    """A running dnsemu for this test: reset before it, checked after it."""
    marker = request.node.get_closest_marker("dnsemu_topology")
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs:
            pytest.fail("@pytest.mark.dnsemu_topology takes one argument: a path, a dict or a LoadedTopology",
                        pytrace=False)
        topology = marker.args[0]
        if isinstance(topology, (str, os.PathLike)) and not Path(topology).is_absolute():
            topology = Path(request.path).parent / topology  # relative to the test file
    else:
        topology = request.getfixturevalue("dnsemu_topology")
    emulator = dnsemu_pool.get(topology, dnsemu_settings)
    emulator.reset()
    yield emulator
    emulator.check()
