"""Every command in the README runs, and prints what the README says it prints.

Each ```console block holds ``$ command`` lines followed by their expected output.
``dnsemu`` commands run from the repository root; ``dig`` commands run against a real
``dnsemu serve`` on the bundled estate (``-p 5390`` becomes the port it bound).

After a deliberate change of output, regenerate the blocks with
``DNSEMU_UPDATE_README=1 python -m pytest tests/test_readme.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
UPDATE = os.environ.get("DNSEMU_UPDATE_README") == "1"


def console_blocks(text: str) -> list[tuple[str, str]]:
    """(command, expected output) for every ``$`` line of every console block."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        current: str | None = None
        lines: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if current is not None:
                    out.append((current, "\n".join(lines)))
                current, lines = line[2:], []
            else:
                lines.append(line)
        if current is not None:
            out.append((current, "\n".join(lines)))
    return out


def normalise(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines())


@pytest.fixture(scope="module")
def server_port():
    proc = subprocess.Popen(
        [sys.executable, "-m", "dnsemu", "serve", "--listen", "127.0.0.1:0", "--no-query-log", "--no-watch"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"udp://127\.0\.0\.1:(\d+)", line)
        assert match, f"no readiness line: {line!r}"
        yield int(match.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def run(command: str, port: int | None) -> str:
    argv = shlex.split(command)
    if argv[0] == "dnsemu":
        argv = [sys.executable, "-m", "dnsemu", *argv[1:]]
    elif argv[0] == "dig":
        if shutil.which("dig") is None:
            pytest.skip("dig is not installed (apt-get install dnsutils)")
        argv = [arg if arg != "5390" else str(port) for arg in argv]
    else:
        pytest.fail(f"the README runs a command this test does not know: {command}")
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    return (result.stdout + result.stderr).rstrip("\n")


COMMANDS = console_blocks(README.read_text())
SETTINGS_BEGIN = "<!-- settings:begin (generated from dnsemu.server.settings.Settings) -->"
SETTINGS_END = "<!-- settings:end -->"


METRICS_BEGIN = "<!-- metrics:begin (generated from dnsemu.http.metrics.FAMILIES) -->"
METRICS_END = "<!-- metrics:end -->"


def metrics_reference() -> str:
    from dnsemu.http.metrics import FAMILIES

    rows = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for name, (kind, help_text, labels) in FAMILIES.items():
        shown = f"{name}_total" if kind == "counter" else name
        rows.append(f"| `{shown}` | {kind} | {', '.join(labels) or 'none'} | {help_text} |")
    return "\n".join(rows)


def check_generated(begin: str, end: str, expected: str) -> None:
    text = README.read_text()
    assert begin in text and end in text
    current = text.split(begin, 1)[1].split(end, 1)[0].strip()
    if UPDATE and current != expected:
        head, rest = text.split(begin, 1)
        README.write_text(f"{head}{begin}\n{expected}\n{end}{rest.split(end, 1)[1]}")
        return
    assert current == expected, f"README's table after {begin} is stale: DNSEMU_UPDATE_README=1 regenerates it"


def test_metrics_list_is_generated_from_the_collector() -> None:
    check_generated(METRICS_BEGIN, METRICS_END, metrics_reference())


EXPLAIN_COMMAND = "dnsemu explain mystorage.blob.core.windows.net --from spoke2 --format mermaid"
EXPLAIN_BEGIN = f"<!-- explain:begin ({EXPLAIN_COMMAND}) -->"
EXPLAIN_END = "<!-- explain:end -->"


def test_explained_path_is_generated() -> None:
    check_generated(EXPLAIN_BEGIN, EXPLAIN_END, f"```mermaid\n{run(EXPLAIN_COMMAND, None)}\n```")


def test_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    finally:
        os.chdir(cwd)


def settings_reference() -> str:
    """The configuration table, from the settings model itself."""
    from dnsemu.cli.serve import _default_text
    from dnsemu.server.settings import ENV_PREFIX, Settings

    rows = ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        default = _default_text(name, field).replace("|", "\\|")
        rows.append(f"| `--{name.replace('_', '-')}` | `{ENV_PREFIX}{name.upper()}` | {default} | {meaning} |")
    return "\n".join(rows)


def test_configuration_reference_is_generated_from_the_settings_model() -> None:
    check_generated(SETTINGS_BEGIN, SETTINGS_END, settings_reference())


def test_readme_has_commands() -> None:
    assert len(COMMANDS) >= 10


def test_first_lines_are_the_two_commands() -> None:
    head = README.read_text().split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert head[0].endswith("dnsemu serve")
    assert head[1] == "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    assert head[1] in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_command(command: str, expected: str, server_port: int) -> None:
    got = run(command, server_port)
    if UPDATE and normalise(got) != normalise(expected):
        text = README.read_text()
        old = f"$ {command}\n{expected}".rstrip("\n")
        assert old in text
        README.write_text(text.replace(old, f"$ {command}\n{got}", 1))
        return
    assert normalise(got) == normalise(expected), f"README output of `{command}` changed:\n{got}"
