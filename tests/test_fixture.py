"""dnsemu.testing.Emulator, and docs/fixture.md's example run exactly as the docs show it.

The example (docs/examples/test_with_dnsemu.py) is also printed verbatim in
docs/fixture.md; here it runs in a pytester session with the plugin, and the
doc's async snippet runs as written.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest
from conftest import ALPHA, BETA, ROOT, TEST_TOPOLOGY

from dnsemu.testing import AsyncEmulator, ChangeError, Emulator, EmulatorError, QueryResult
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology

pytest_plugins = ["pytester"]

DOC = ROOT / "docs" / "fixture.md"
EXAMPLE = ROOT / "docs" / "examples" / "test_with_dnsemu.py"


def plugin_args() -> list[str]:
    """``-p dnsemu.testing.pytest_plugin`` unless the installed entry point already loads it."""
    installed = any(ep.value == "dnsemu.testing.pytest_plugin"
                    for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "dnsemu.testing.pytest_plugin"]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


# --------------------------------------------------------------------------- the documented example


def test_the_doc_shows_the_example_file_verbatim() -> None:
    text = DOC.read_text()
    section = text.split("## The complete example", 1)[1]
    assert python_blocks(section)[0] == EXAMPLE.read_text()


def test_the_example_runs_as_documented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_with_dnsemu=EXAMPLE.read_text())
    result = pytester.runpytest(*plugin_args(), "--strict-markers", "-p", "no:cacheprovider", "-p", "no:asyncio",
                                "-p", "no:hypothesispytest", "-p", "no:benchmark", "-q")
    result.assert_outcomes(passed=9)


def test_the_async_snippet_runs_as_documented() -> None:
    section = DOC.read_text().split("### Async tests", 1)[1]
    code = python_blocks(section)[0]
    assert "asyncio.run(main())" in code
    namespace: dict[str, Any] = {"__name__": "doc_snippet"}
    exec(compile(code, str(DOC), "exec"), namespace)  # asyncio.run: its own loop, in this thread


# --------------------------------------------------------------------------- life cycle


def test_start_once_stop_twice() -> None:
    emulator = Emulator(TEST_TOPOLOGY)
    emulator.stop()  # never started: nothing to do
    with emulator as dns:
        assert dns is emulator and dns.address == ("127.0.0.1", dns.port) and dns.host == "127.0.0.1"
        with pytest.raises(EmulatorError, match="already running"):
            dns.start()
        with pytest.raises(EmulatorError, match="already running"), dns:
            pass
        assert "running" in repr(dns)
    emulator.stop()
    emulator.stop()
    with pytest.raises(EmulatorError, match="runs once"):
        emulator.start()
    with pytest.raises(EmulatorError, match="not running"):
        emulator.query("app.corp.test")
    with pytest.raises(EmulatorError, match="not running"):
        _ = emulator.port


def test_a_bad_topology_fails_at_construction() -> None:
    with pytest.raises(TopologyError) as caught:
        Emulator({"virtual_networks": {"a": {"address_space": ["10.0.0.0/33"]}}})
    assert caught.value.problems
    with pytest.raises(TypeError, match="a path, a dict or a LoadedTopology"):
        Emulator(42)


def test_a_failed_start_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator(TEST_TOPOLOGY, listen=["192.0.2.1:0"])  # not an address of this host
    with pytest.raises(OSError):
        emulator.start()
    with pytest.raises(EmulatorError, match="runs once"):
        emulator.start()


@pytest.mark.parametrize("kind", ["path", "str", "dict", "loaded"])
def test_topology_as_path_dict_or_loaded(kind: str) -> None:
    import yaml

    topology: Any = {"path": TEST_TOPOLOGY, "str": str(TEST_TOPOLOGY),
                     "dict": yaml.safe_load(TEST_TOPOLOGY.read_text()), "loaded": load_topology(TEST_TOPOLOGY)}[kind]
    with Emulator(topology, query_log=False) as dns:
        assert dns.query("teststore.blob.core.windows.net", source="alpha").addresses == ["127.0.1.4"]


def test_two_emulators_side_by_side() -> None:
    with Emulator(TEST_TOPOLOGY) as one, Emulator(TEST_TOPOLOGY) as two:
        assert one.port != two.port
        one.add_record("corp.test", "only-one 60 A 127.0.1.77")
        assert one.query("only-one.corp.test", source=ALPHA).addresses == ["127.0.1.77"]
        assert two.query("only-one.corp.test", source=ALPHA).rcode == "NXDOMAIN"
        assert len(one.queries) == 1 and len(two.queries) == 1
        assert one.metric("dnsemu_topology_changes_active") == 1
        assert two.metric("dnsemu_topology_changes_active") == 0


async def test_two_async_emulators_side_by_side() -> None:
    async with AsyncEmulator(TEST_TOPOLOGY) as one, Emulator(TEST_TOPOLOGY) as two:
        assert isinstance(two, AsyncEmulator) and one.port != two.port
        await two.add_record("corp.test", "only-two 60 A 127.0.1.78")
        assert (await two.query("only-two.corp.test", source=ALPHA)).addresses == ["127.0.1.78"]
        assert (await one.query("only-two.corp.test", source=ALPHA)).rcode == "NXDOMAIN"
        assert (await one.query("big.example.test", "TXT", source=ALPHA, tcp=True)).tcp


# --------------------------------------------------------------------------- queries


def test_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DNSEMU_UNKNOWN_SOURCES", "refuse")  # never read by the emulator
    with Emulator(TEST_TOPOLOGY) as dns:
        name = "teststore.blob.core.windows.net"
        assert dns.query(name, source="alpha").addresses == ["127.0.1.4"]  # a VNet's name
        assert dns.query(name, source="127.0.1.99").addresses == ["127.0.1.4"]  # a loopback address: bound
        assert dns.queries[-1]["client"] == "127.0.1.99" and "ecs" not in dns.queries[-1]
        assert dns.query(name, source="beta").addresses == ["203.0.113.111"]
        assert dns.query(name).addresses == ["203.0.113.111"]  # 127.0.0.1: the internet
        assert dns.query(name, source="internet").addresses == ["203.0.113.111"]
        assert dns.query(name, subnet="127.0.1.0/24").addresses == ["127.0.1.4"]  # ECS as given
        assert dns.queries[-1]["ecs"] == "127.0.1.0/24"
        with pytest.raises(ValueError, match="known: alpha, beta"):
            dns.query(name, source="gamma")
    with Emulator(TEST_TOPOLOGY, ecs=False) as no_ecs, pytest.raises(ValueError, match="ecs off"):
        no_ecs.query("app.corp.test", source="10.1.2.3")
    with Emulator(TEST_TOPOLOGY, unknown_sources="refuse") as refusing:  # settings as keywords
        assert refusing.query("www.example.test").rcode == "REFUSED"


def test_query_results() -> None:
    with Emulator(TEST_TOPOLOGY) as emulator:
        result = emulator.query("teststore.blob.core.windows.net", "A", source=ALPHA)
        assert isinstance(result, QueryResult) and result.rcode == "NOERROR" and not result.tcp
        assert [r.type for r in result.answer] == ["CNAME", "A"]
        assert result.cnames == ["teststore.privatelink.blob.core.windows.net."]
        record = result.answer[1]
        assert (record.name, record.type, record.value) == ("teststore.privatelink.blob.core.windows.net.", "A",
                                                            "127.0.1.4")
        assert str(record) == f"teststore.privatelink.blob.core.windows.net. {record.ttl} A 127.0.1.4"
        assert "qr" in result.flags and "ra" in result.flags
        assert dns.message.from_wire(result.wire).id == int.from_bytes(result.wire[:2], "big")
        big = emulator.query("big.example.test", "TXT", source=ALPHA)
        assert big.truncated and not big.answer
        whole = emulator.query("big.example.test", "TXT", source=ALPHA, tcp=True)
        assert whole.tcp and not whole.truncated and len(whole.answer) == 10
        nx = emulator.query("nope.corp.test", source=ALPHA)
        assert nx.rcode == "NXDOMAIN" and nx.authority[0].type == "SOA"
        assert emulator.query("app.corp.test", 28, source=ALPHA).rcode == "NOERROR"  # a type code works too
        assert str(emulator.query("app.corp.test", source=ALPHA)) == "NOERROR A 127.0.1.10"


def test_other_clients_use_host_and_port() -> None:
    with Emulator(TEST_TOPOLOGY) as emulator:
        reply = dns.query.udp(dns.message.make_query("app.corp.test", "A"), emulator.host, port=emulator.port,
                              source=BETA, timeout=3)
        assert reply.answer[0][0].to_text() == "127.0.1.10"
        assert emulator.queries[-1]["view"] == "vnet:beta"


def test_query_log_and_reset() -> None:
    with Emulator(TEST_TOPOLOGY) as dns:
        dns.query("app.corp.test", source=ALPHA)
        dns.query("app.corp.test", source=ALPHA)
        first, second = dns.queries
        assert {k: first[k] for k in ("proto", "view", "network", "qname", "qtype", "rcode", "kind", "cached")} == {
            "proto": "udp", "view": "vnet:alpha", "network": "alpha", "qname": "app.corp.test.", "qtype": "A",
            "rcode": "NOERROR", "kind": "private", "cached": False}
        assert second["cached"] is True and first["answer"] == "A 127.0.1.10" and first["time"] > 0
        dns.clear_queries()
        assert dns.queries == []
        dns.add_record("corp.test", "extra 60 A 127.0.1.88")
        dns.query("extra.corp.test", source=ALPHA)
        dns.reset()
        assert dns.queries == [] and dns.topology()["changes"] == []
        assert dns.query("extra.corp.test", source=ALPHA).rcode == "NXDOMAIN"


# --------------------------------------------------------------------------- changes


def test_every_change_method() -> None:
    endpoint = {"virtual_network": "alpha", "subnet": "snet-pe", "private_ip_addresses": ["127.0.1.40"],
                "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "newstore"}, "group_id": "blob",
                "private_dns_zone_group": ["privatelink.blob.core.windows.net"]}
    with Emulator(TEST_TOPOLOGY) as dns:
        dns.add_private_endpoint("pe-new", endpoint)
        assert dns.query("newstore.blob.core.windows.net", source=ALPHA).addresses == ["127.0.1.40"]
        dns.add_private_endpoint("pe-new", endpoint, private_ip_addresses=["127.0.1.41"])  # keywords win
        assert dns.query("newstore.blob.core.windows.net", source=ALPHA).addresses == ["127.0.1.41"]
        dns.remove_private_endpoint("pe-new")
        assert dns.query("newstore.blob.core.windows.net", source=ALPHA).rcode == "REFUSED"
        dns.add_zone("lab.test", {"virtual_network_links": [{"virtual_network": "beta"}]})
        dns.add_record("lab.test", {"name": "www", "type": "A", "ttl": 30, "values": ["127.0.2.80"]})
        assert dns.query("www.lab.test", source=BETA).answer[0].ttl == 30
        dns.remove_record("lab.test", "www", "A")
        assert dns.query("www.lab.test", source=BETA).rcode == "NXDOMAIN"
        dns.remove_zone("lab.test")
        dns.add_record("example.test", "api 60 A 198.51.100.20", public=True)
        assert dns.query("api.example.test").addresses == ["198.51.100.20"]
        dns.remove_record("example.test", "api", public=True)
        dns.link("privatelink.blob.core.windows.net", "beta")
        assert dns.query("teststore.blob.core.windows.net", source=BETA).addresses == ["127.0.1.4"]
        dns.unlink("privatelink.blob.core.windows.net", "beta")
        assert dns.query("teststore.blob.core.windows.net", source=BETA).addresses == ["203.0.113.111"]
        with pytest.raises(ChangeError, match="no private endpoint named 'nope'"):
            dns.remove_private_endpoint("nope")
        with pytest.raises(ChangeError, match="outside virtual network 'alpha'"):
            dns.add_private_endpoint("pe-bad", endpoint, private_ip_addresses=["10.9.9.9"])
        assert [c["op"] for c in dns.topology()["changes"]] == [
            "put_private_endpoint", "put_private_endpoint", "delete_private_endpoint", "put_private_dns_zone",
            "add_record", "delete_record", "delete_private_dns_zone", "add_record", "delete_record",
            "put_virtual_network_link", "delete_virtual_network_link"]
        dns.check()


def test_reload_reads_the_file_again(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(TEST_TOPOLOGY.read_text())
    with Emulator(path) as dns:
        dns.add_record("corp.test", "new 60 A 127.0.1.50")
        path.write_text(TEST_TOPOLOGY.read_text().replace("127.0.1.10", "127.0.1.11"))
        assert dns.reload()
        assert dns.query("app.corp.test", source=ALPHA).addresses == ["127.0.1.11"]
        assert dns.query("new.corp.test", source=ALPHA).addresses == ["127.0.1.50"]  # the change stays
        path.write_text("virtual_networks: [\n")
        assert not dns.reload()
        assert dns.query("app.corp.test", source=ALPHA).addresses == ["127.0.1.11"]


def test_explain_topology_and_http() -> None:
    with Emulator(TEST_TOPOLOGY, http=True) as dns:
        why = dns.explain("teststore.blob.core.windows.net", source="alpha")
        assert why["answer_kind"] == "private" and why["view"] == "vnet:alpha"
        assert dns.topology()["stats"]["virtual_networks"] == 2
        import urllib.request

        with urllib.request.urlopen(dns.http_url + "/readyz", timeout=5) as response:
            assert response.status == 200
        request = urllib.request.Request(dns.http_url + "/v1/private-dns-zones/corp.test/records/A/web",
                                         data=b'{"values": ["127.0.1.30"]}', method="PUT",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:  # changes are on with http=True
            assert response.status == 200
        assert dns.query("web.corp.test", source=ALPHA).addresses == ["127.0.1.30"]
    with Emulator(TEST_TOPOLOGY) as plain, pytest.raises(EmulatorError, match="http=True"):
        _ = plain.http_url


# --------------------------------------------------------------------------- errors the server hit


def test_check_reraises_a_handler_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import dnsemu.server.handler.handler as handler_module

    # generous timeouts: the handler's error is logged with its traceback on the server's loop before the
    # SERVFAIL goes out, and a pretty traceback (rich, when installed) can take seconds on a busy machine
    with Emulator(TEST_TOPOLOGY) as dns:
        dns.check()  # nothing yet
        name = "resolve_classified" if hasattr(handler_module, "resolve_classified") else "resolve"
        monkeypatch.setattr(handler_module, name, _explode)
        assert dns.query("somewhere.corp.test", source=ALPHA, timeout=30).rcode == "SERVFAIL"
        assert dns.metric("dnsemu_internal_errors_total", {"where": "handler"}) == 1
        with pytest.raises(RuntimeError, match="resolver exploded") as caught:
            dns.check()
        assert caught.value.__traceback__ is not None
        dns.check()  # raised once
        dns.query("elsewhere.corp.test", source=ALPHA, timeout=30)
        dns.query("again.corp.test", source=ALPHA, timeout=30)
        with pytest.raises(RuntimeError) as caught:
            dns.check()
        assert any("also hit" in note for note in caught.value.__notes__)
        dns.query("reset.corp.test", source=ALPHA, timeout=30)
        dns.reset()  # drops unchecked errors
        dns.check()


def _explode(*args: Any) -> Any:
    raise RuntimeError("resolver exploded")


def test_check_reraises_an_error_on_the_server_loop() -> None:
    with Emulator(TEST_TOPOLOGY) as dns:
        loop = dns._loop
        assert loop is not None

        def broken() -> None:
            raise ZeroDivisionError("in a callback on the server's loop")

        loop.call_soon_threadsafe(broken)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(5)  # the callback ran before this
        with pytest.raises(ZeroDivisionError, match="server's loop"):
            dns.check()


# --------------------------------------------------------------------------- async mode


async def test_async_with_emulator() -> None:
    emulator = Emulator(TEST_TOPOLOGY)
    async with emulator as dns:
        assert isinstance(dns, AsyncEmulator) and "running" in repr(dns)
        assert (await dns.query("app.corp.test", source=ALPHA)).addresses == ["127.0.1.10"]
        await dns.link("privatelink.blob.core.windows.net", "beta", resolution_policy="Default")
        assert (await dns.query("teststore.blob.core.windows.net", source=BETA)).addresses == ["127.0.1.4"]
        await dns.unlink("privatelink.blob.core.windows.net", "beta")
        await dns.add_private_endpoint("pe-x", virtual_network="alpha", subnet="snet-pe",
                                       private_ip_addresses=["127.0.1.45"],
                                       resource={"type": "Microsoft.Storage/storageAccounts", "name": "xstore"},
                                       group_id="blob", private_dns_zone_group=["privatelink.blob.core.windows.net"])
        assert (await dns.query("xstore.blob.core.windows.net", source=ALPHA, tcp=True)).addresses == ["127.0.1.45"]
        await dns.remove_private_endpoint("pe-x")
        await dns.add_zone("lab.test", {"virtual_network_links": [{"virtual_network": "alpha"}]})
        await dns.add_record("lab.test", "www 60 A 127.0.1.90")
        await dns.remove_record("lab.test", "www")
        await dns.remove_zone("lab.test")
        with pytest.raises(ChangeError):
            await dns.remove_zone("lab.test")
        # the synchronous facade refuses to block the loop the server runs in
        with pytest.raises(EmulatorError, match="await"):
            emulator.query("app.corp.test")
        with pytest.raises(EmulatorError, match="await"):
            emulator.add_record("corp.test", "x 60 A 127.0.1.1")
        with pytest.raises(EmulatorError, match="async with"):
            emulator.stop()
        assert await dns.reload()  # a path topology: read again (unchanged on disk)
        await dns.reset()
        assert dns.topology()["changes"] == [] and dns.queries == []
        assert dns.explain("app.corp.test", source="beta")["view"] == "vnet:beta"
        dns.check()
    await dns.stop()  # stopped already: fine
    with pytest.raises(EmulatorError, match="runs once"):
        await dns.start()


async def test_async_query_timeout_names_the_question() -> None:
    async with AsyncEmulator(TEST_TOPOLOGY) as dns:
        for endpoint in dns.server._udp:  # a server that drops every datagram
            endpoint.handler = lambda data, addr, tcp=False: None
        with pytest.raises(TimeoutError, match=r"app\.corp\.test A"):
            await dns.query("app.corp.test", source=ALPHA, timeout=0.2)


def test_sync_query_timeout_names_the_question() -> None:
    with Emulator(TEST_TOPOLOGY) as dns:
        for endpoint in dns.server._udp:
            endpoint.handler = lambda data, addr, tcp=False: None
        with pytest.raises(TimeoutError, match=r"no reply from dnsemu .* \(app\.corp\.test A from"):
            dns.query("app.corp.test", source=ALPHA, timeout=0.2)
