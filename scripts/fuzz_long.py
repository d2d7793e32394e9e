#!/usr/bin/env python3
"""Fuzz dnsemu's per-packet path for as long as you like; crashes become corpus entries.

    python scripts/fuzz_long.py --seconds 3600            # random mutation of the corpus (no extra deps)
    python scripts/fuzz_long.py --atheris --seconds 3600  # coverage-guided (pip install atheris)

The target is ``Handler.handle(data, addr, tcp)`` on the compliance test
estate, with the same oracle as tests/compliance/test_fuzz.py (no exception,
no internal error, replies parse, echo the ID, QR/RA set, AA/AD clear, sizes
within limits, no reply to a response). A packet that breaks it is written to
tests/compliance/corpus/fuzz-<sha1>.ANY.bin, which test_malformed.py then sends
over UDP and TCP on every CI run. The CI budget of the same fuzzer is in
test_fuzz.py; ``DNSEMU_LONG=1 pytest tests/compliance/test_fuzz.py`` runs it ten
times longer with a random seed.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.compliance.corpus import CORPUS_DIR, ENTRIES  # noqa: E402
from tests.compliance.test_fuzz import SOURCES, Counter, check_packet, mutate  # noqa: E402


def save(data: bytes, error: BaseException) -> Path:
    path = CORPUS_DIR / f"fuzz-{hashlib.sha1(data).hexdigest()[:12]}.ANY.bin"
    path.write_bytes(data)
    print(f"\nCRASH {type(error).__name__}: {str(error)[:300]}\n  saved as {path.relative_to(ROOT)}", flush=True)
    return path


def one(data: bytes, rng: random.Random) -> None:
    source = rng.choice(SOURCES)
    tcp = rng.random() < 0.5
    try:
        check_packet(data, source, tcp, rng.random() < 0.5)
    except Exception as exc:
        save(data, exc)


def run_random(seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    pool = [e.wire for e in ENTRIES if e.wire]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        base = rng.choice(pool)
        for _ in range(200):
            one(mutate(base, rng), rng)
        if rng.random() < 0.01:
            pool.append(mutate(base, rng))  # grow the pool with variants
    print(f"random mode: {Counter.packets} packets, {Counter.replies} replies, {Counter.dropped} dropped")


def run_atheris(seconds: float) -> None:
    import atexit

    import atheris

    rng = random.Random(0)
    atexit.register(lambda: print(f"atheris: {Counter.packets} packets, {Counter.replies} replies, "
                                  f"{Counter.dropped} dropped"))
    seeds = ROOT / "build" / "fuzz-seeds"
    artifacts = ROOT / "build" / "fuzz-artifacts"
    seeds.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    for entry in ENTRIES:
        (seeds / hashlib.sha1(entry.wire).hexdigest()).write_bytes(entry.wire)
    atheris.instrument_all()  # coverage for every module loaded so far: dnsemu, dnslib
    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", f"-artifact_prefix={artifacts}/", str(seeds)],
                  lambda data: one(data, rng))
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--atheris", action="store_true", help="coverage-guided fuzzing with atheris")
    args = parser.parse_args()
    if args.atheris:
        run_atheris(args.seconds)
    else:
        run_random(args.seconds, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
