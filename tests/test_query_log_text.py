"""The buffered query log's own renderings: the numbers and times its lines carry are the ones structlog's JSON
lines carry for the same values (a reader, or a tool that parses both kinds of line, must not tell them apart)."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from io import StringIO

import pytest
import structlog

from dnsemu.logs import QueryLog, milliseconds


@pytest.mark.parametrize("seed", range(4))
def test_milliseconds_are_the_text_of_round_to_three_decimals(seed: int) -> None:
    """``milliseconds(x)`` is what ``json.dumps(round(x * 1000, 3))`` writes (the structlog lines' duration_ms),
    over durations from nanoseconds to seconds, whole milliseconds and the edges of the thousandths table."""
    rng = random.Random(seed)
    values = [0.0, 1e-9, 4.99e-7, 5.01e-7, 0.000999, 0.001, 0.0015, 0.002, 0.0099996, 0.999999, 1.0, 12.3456789]
    values += [rng.random() * rng.choice([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1.0, 30.0]) for _ in range(50_000)]
    for value in values:
        assert milliseconds(value) == json.dumps(round(value * 1000, 3)), value


def test_a_stamp_is_structlogs_iso_timestamp_of_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The buffered writer's timestamp has the shape of structlog's ``TimeStamper(fmt="iso", utc=True)``, and
    reads the clock as datetime does: every microsecond zero-padded, the second's text kept only while the
    second lasts (the clock is set to chosen instants, across a second, a minute, a day and a year)."""
    theirs = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]
    shape = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(shape, theirs) and re.fullmatch(shape, QueryLog(StringIO()).stamp())
    writer = QueryLog(StringIO())
    for sec, micro in [(1_764_633_599, 0), (1_764_633_599, 5), (1_764_633_599, 999_999), (1_764_633_600, 7),
                       (1_767_225_599, 123_456), (1_767_225_600, 40)]:  # a day's end; a year's end
        monkeypatch.setattr("dnsemu.logs.time.time_ns", lambda sec=sec, micro=micro: (sec * 1_000_000 + micro) * 1000)
        # six digits always (structlog's isoformat() drops them at exactly .000000; both are ISO 8601)
        expected = datetime.fromtimestamp(sec, UTC).replace(microsecond=micro).isoformat(timespec="microseconds")
        expected = expected.replace("+00:00", "Z")
        assert writer.stamp() == expected
