"""``dnsemu import`` reads many files in two processes: the same facts, findings and errors as in one.

Speed is measured in benchmarks/import_bench.py; here only that the split changes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dnsemu.importer.arm import Context
from dnsemu.importer.common import InputError
from dnsemu.importer.files import collect
from dnsemu.importer.pipeline import from_facts, import_files, read_files

DATA = Path(__file__).resolve().parent / "data" / "import"


def _read(folder: Path, workers: int):
    files, _ = collect([str(folder)])
    ctx = Context()
    facts, labels = read_files(files, ctx, workers=workers)
    unread = {t: {k: list(v) for k, v in keys.items()} for t, keys in ctx.unread.items()}
    return facts, list(labels.items()), ctx.findings, unread, ctx.planned


@pytest.mark.parametrize("folder", ["arm", "azcli", "resource-graph", "."])
def test_two_processes_read_what_one_reads(folder: str) -> None:
    one = _read(DATA / folder, 1)
    two = _read(DATA / folder, 2)
    assert one[0], "the fixtures hold facts"
    assert two == one


def test_the_topology_is_the_same_bytes(tmp_path: Path) -> None:
    results = []
    sources = [str(DATA / "arm"), str(DATA / "azcli")]
    for workers in (1, 2):
        files, _ = collect(sources)
        ctx = Context()
        facts, _labels = read_files(files, ctx, workers=workers)
        results.append(from_facts(facts, ctx, tmp_path / "t.yaml", sources=sources).text)
    assert results[0] == results[1]
    assert import_files(sources, tmp_path / "t.yaml").text == results[0]


@pytest.mark.parametrize("where", ["first", "last"])
def test_an_input_error_names_the_first_bad_file(tmp_path: Path, where: str) -> None:
    folder = tmp_path / "dump"
    shutil.copytree(DATA / "arm", folder)
    names = sorted(p.name for p in folder.iterdir())
    bad = folder / (names[0] if where == "first" else names[-1])
    bad.write_text(json.dumps([{"a": 1}])[:-2])  # truncated
    messages = []
    for workers in (1, 2):
        files, _ = collect([str(folder)])
        with pytest.raises(InputError) as caught:
            read_files(files, Context(), workers=workers)
        messages.append((str(caught.value), caught.value.file, caught.value.path))
    assert messages[0] == messages[1]
    assert bad.name in messages[0][0] and "truncated" in messages[0][0]
