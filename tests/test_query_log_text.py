"""The buffered query log's own renderings: the numbers and times its lines carry are the ones structlog's JSON
lines carry for the same values (a reader, or a tool that parses both kinds of line, must not tell them apart)."""

from __future__ import annotations

import json
import random
import re
import time
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


def test_a_stamp_is_structlogs_iso_timestamp_of_now() -> None:
    """The buffered writer's timestamp has the shape of structlog's ``TimeStamper(fmt="iso", utc=True)`` and is
    now, to the microsecond; two stamps a second apart carry their own seconds (the second's text is kept)."""
    writer = QueryLog(StringIO())
    theirs = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]
    before = datetime.now(UTC)
    ours = writer.stamp()
    after = datetime.now(UTC)
    shape = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(shape, ours) and re.fullmatch(shape, theirs)
    assert before.replace(tzinfo=None) <= datetime.fromisoformat(ours[:-1]) <= after.replace(tzinfo=None)
    first = writer.stamp()
    time.sleep(1.05)
    assert writer.stamp()[:19] != first[:19]
