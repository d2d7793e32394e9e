"""The lane's replies on the wire, read by independent clients (dig and kdig) from a real server on loopback.

With the query log off, a VM's plain query of a name straight in its linked privatelink zone is answered by the
lane (:mod:`dnsemu.server.handler.precompiled`): an address the zone holds, NODATA for a type it lacks there,
NXDOMAIN for a name it lacks, the later absent names of the same shape from a kept route. Each reply must read
as the RFCs say to tools that share no code with dnsemu: the status, the flags set on purpose (QR, RD echoed,
RA; no AA: Azure's recursive resolver is not the zone's authority), the question in the client's case, the
zone's SOA in authority for the negative answers (RFC 2308), our EDNS size.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest
from conftest import ALPHA, ServerThread, make_settings, need_tool

PL = "privatelink.blob.core.windows.net"
HOST = "127.0.0.1"


@pytest.fixture
def lane_server() -> Iterator[ServerThread]:
    """The test topology with the query log off: the lane answers (it steps aside while every query is logged).
    One per test: what a test finds kept is what its own queries left."""
    with ServerThread(make_settings(query_log=False)) as running:
        yield running


def reply_of(tool: str, port: int, name: str, rdtype: str, *extra: str) -> dict[str, object]:
    """The status, flags, question, answer and authority of one reply as ``tool`` prints them."""
    retry = "+retry=0" if tool.endswith("kdig") else "+tries=1"
    args = (tool, "-b", ALPHA, f"@{HOST}", "-p", str(port), name, rdtype, "+time=2", retry, *extra)
    result = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    out = result.stdout
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r"[Ff]lags: ([a-z ]+);", out)
    records = [line.split() for line in out.splitlines() if line and not line.startswith(";")]
    return {"status": status.group(1) if status else None, "flags": set(flags.group(1).split()) if flags else None,
            "records": records, "text": out}


@pytest.mark.parametrize(("tool_name", "options"), [("dig", ()), ("dig", ("+nocookie",)), ("kdig", ())])
def test_the_lanes_replies_read_right_in_dig_and_kdig(lane_server: ServerThread, tool_name: str,
                                                       options: tuple[str, ...]) -> None:
    """dig sends a COOKIE option unless told not to (its queries then take the peek path, :meth:`answer`); without
    it, and with kdig (no OPT unless asked), they are bare: :meth:`bare`, the held names' answers and the routes."""
    tool = need_tool(tool_name, "dnsutils" if tool_name == "dig" else "knot-dnsutils")
    port = lane_server.port

    def dig_reply(name: str, rdtype: str, *extra: str) -> dict[str, object]:
        return reply_of(tool, port, name, rdtype, *options, *extra)

    for _ in range(2):  # the second time from what the first kept (the reply cache, the lane's shapes)
        held = dig_reply(f"TestStore.{PL}", "A")
        assert held["status"] == "NOERROR" and held["flags"] == {"qr", "rd", "ra"}, held["text"]
        # the answer's owner points at the question: in the client's case (kdig sends every name in lower case)
        assert [r[0] for r in held["records"]] == [f"TestStore.{PL}." if tool_name == "dig" else f"teststore.{PL}."]
        assert held["records"][0][-2:] == ["A", "127.0.1.4"]
        nodata = dig_reply(f"teststore.{PL}", "AAAA")
        assert nodata["status"] == "NOERROR" and nodata["flags"] == {"qr", "rd", "ra"}, nodata["text"]
        assert [r[3] for r in nodata["records"]] == ["SOA"] and nodata["records"][0][0] == f"{PL}."
    for label in ("absent1", "absent2", "absent3", "Absent4"):  # one shape: the later ones from the kept route
        absent = dig_reply(f"{label}.{PL}", "A")
        assert absent["status"] == "NXDOMAIN" and absent["flags"] == {"qr", "rd", "ra"}, absent["text"]
        assert [r[3] for r in absent["records"]] == ["SOA"] and absent["records"][0][0] == f"{PL}."
        assert f"{label if tool_name == 'dig' else label.lower()}.{PL}." in absent["text"]  # the question as asked
    state = lane_server.server.handler._state  # bare queries: the lane kept a route for their tail
    bare = tool_name == "kdig" or "+nocookie" in options
    assert not bare or any(tail.startswith(b"\x0bprivatelink") for lane in state.precompiled.values() if lane
                           for tail in lane._routes)
    plain = dig_reply(f"absent5.{PL}", "A", "+noedns")
    assert plain["status"] == "NXDOMAIN" and "PSEUDOSECTION" not in plain["text"]  # no OPT asked: none given
    edns = dig_reply(f"absent6.{PL}", "A", "+bufsize=4096")
    assert re.search(r"udp: 1232|UDP size: 1232|udp=1232", edns["text"], re.IGNORECASE), edns["text"]
