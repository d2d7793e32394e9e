"""The pytest plugin, exercised in inner pytest sessions (pytester) the way a user's suite would use it.

Until the ``pytest11`` entry point is installed the plugin is loaded with
``-p dnsemu.testing.pytest_plugin``; once it is, the inner sessions load it by themselves.
"""

from __future__ import annotations

import importlib.metadata
import shutil

import pytest
from conftest import TEST_TOPOLOGY

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    installed = any(ep.value == "dnsemu.testing.pytest_plugin"
                    for ep in importlib.metadata.entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "dnsemu.testing.pytest_plugin"]
    return pytester.runpytest(*plugin, "--strict-markers", "-p", "no:cacheprovider", "-p", "no:asyncio",
                              "-p", "no:hypothesispytest", "-p", "no:benchmark", *args)


@pytest.fixture
def estate(pytester: pytest.Pytester) -> pytest.Pytester:
    """An inner project with the test topology next to its tests."""
    shutil.copy(TEST_TOPOLOGY, pytester.path / "topology.yaml")
    return pytester


def test_fixture_override_one_server_and_reset_between_tests(estate: pytest.Pytester) -> None:
    estate.makeconftest("""
        from pathlib import Path
        import pytest

        @pytest.fixture(scope="session")
        def dnsemu_topology():
            return Path(__file__).parent / "topology.yaml"
    """)
    estate.makepyfile(test_inner_one="""
        PORTS = []

        def test_change(dnsemu):
            PORTS.append(dnsemu.port)
            dnsemu.add_record("corp.test", "leak 60 A 127.0.1.66")
            assert dnsemu.query("leak.corp.test", source="alpha").addresses == ["127.0.1.66"]
            assert len(dnsemu.queries) == 1

        def test_no_leak(dnsemu):
            PORTS.append(dnsemu.port)
            assert dnsemu.queries == []  # the log was reset too
            assert dnsemu.query("leak.corp.test", source="alpha").rcode == "NXDOMAIN"
            assert PORTS[0] == PORTS[1]  # one server for the session
    """)
    run(estate).assert_outcomes(passed=2)


def test_markers_on_tests_classes_and_modules(estate: pytest.Pytester) -> None:
    (estate.path / "lab.yaml").write_text(
        "virtual_networks:\n  lab: {address_space: [127.0.9.0/24]}\n"
        "private_dns_zones:\n  lab.test:\n    virtual_network_links: [{virtual_network: lab}]\n"
        "    records: ['www 60 A 127.0.9.80']\n")
    estate.makeconftest("""
        import pytest

        @pytest.fixture
        def dnsemu_topology():
            return {"virtual_networks": {"other": {"address_space": ["127.0.5.0/24"]}}}
    """)
    estate.makepyfile(test_inner_marked="""
        import pytest

        SEEN = {}

        @pytest.mark.dnsemu_topology("topology.yaml")  # relative to this file
        def test_marked_path(dnsemu):
            SEEN["path"] = dnsemu.port
            assert dnsemu.query("app.corp.test", source="alpha").addresses == ["127.0.1.10"]

        def test_fixture_topology(dnsemu):
            SEEN["fixture"] = dnsemu.port
            assert dnsemu.topology()["stats"]["virtual_networks"] == 1

        @pytest.mark.dnsemu_topology("lab.yaml")
        class TestLab:
            def test_a(self, dnsemu):
                SEEN["lab"] = dnsemu.port
                assert dnsemu.query("www.lab.test", source="lab").addresses == ["127.0.9.80"]

            def test_b(self, dnsemu):
                assert dnsemu.port == SEEN["lab"]  # the same topology: the same server

        def test_servers_are_distinct():
            assert len({SEEN["path"], SEEN["fixture"], SEEN["lab"]}) == 3
    """)
    estate.makepyfile(test_inner_module_marker="""
        import pytest

        pytestmark = pytest.mark.dnsemu_topology({"virtual_networks": {"m": {"address_space": ["127.0.7.0/24"]}},
                                                  "private_dns_zones": {"m.test": {
                                                      "virtual_network_links": [{"virtual_network": "m"}],
                                                      "records": ["x 60 A 127.0.7.7"]}}})

        def test_module_marker(dnsemu):
            assert dnsemu.query("x.m.test", source="m").addresses == ["127.0.7.7"]
    """)
    run(estate).assert_outcomes(passed=6)


def test_per_module_topology_fixtures_get_their_own_servers(estate: pytest.Pytester) -> None:
    estate.makepyfile(test_inner_first="""
        import pytest

        @pytest.fixture(scope="module")
        def dnsemu_topology():
            return {"virtual_networks": {"first": {"address_space": ["127.0.3.0/24"]}}}

        def test_first(dnsemu):
            assert [n["name"] for n in dnsemu.topology()["networks"]] == ["first"]
    """, test_inner_second="""
        import pytest

        @pytest.fixture(scope="module")
        def dnsemu_topology():
            return {"virtual_networks": {"second": {"address_space": ["127.0.4.0/24"]}}}

        def test_second(dnsemu):
            assert [n["name"] for n in dnsemu.topology()["networks"]] == ["second"]
    """)
    run(estate).assert_outcomes(passed=2)


def test_settings_fixture(estate: pytest.Pytester) -> None:
    estate.makepyfile(test_inner_settings="""
        import pytest

        @pytest.fixture
        def dnsemu_topology():
            return "topology.yaml"

        @pytest.fixture
        def dnsemu_settings():
            return {"unknown_sources": "refuse"}

        def test_refused(dnsemu):
            assert dnsemu.settings.unknown_sources == "refuse"
            assert dnsemu.query("www.example.test").rcode == "REFUSED"
    """)
    run(estate).assert_outcomes(passed=1)


def test_without_a_topology_the_error_says_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner_none="""
        def test_needs_one(dnsemu):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a 'dnsemu_topology' fixture*@pytest.mark.dnsemu_topology*"])


def test_a_bad_marker_says_so(estate: pytest.Pytester) -> None:
    estate.makepyfile(test_inner_bad="""
        import pytest

        @pytest.mark.dnsemu_topology("topology.yaml", "second.yaml")
        def test_two_args(dnsemu):
            pass
    """)
    result = run(estate)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*takes one argument*"])


def test_a_server_error_fails_the_test_at_teardown(estate: pytest.Pytester) -> None:
    estate.makepyfile(test_inner_error="""
        import pytest
        import dnsemu.server.handler.handler as handler_module

        @pytest.fixture
        def dnsemu_topology():
            return "topology.yaml"

        def test_breaks_the_resolver(dnsemu, monkeypatch):
            def explode(*args):
                raise RuntimeError("the resolver broke")
            name = "resolve_classified" if hasattr(handler_module, "resolve_classified") else "resolve"
            monkeypatch.setattr(handler_module, name, explode)
            # a long timeout: the traceback is logged before the SERVFAIL goes out (slow on a busy machine)
            assert dnsemu.query("nothing.corp.test", source="alpha", timeout=30).rcode == "SERVFAIL"

        def test_next_one_is_clean(dnsemu):
            dnsemu.check()
            assert dnsemu.query("app.corp.test", source="alpha").rcode == "NOERROR"
    """)
    result = run(estate)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_breaks_the_resolver*", "*the resolver broke*"])


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.dnsemu_topology(topology):*"])
