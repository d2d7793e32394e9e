"""`dnsemu completion bash|zsh|fish`: scripts generated from the parsers, checked by the shells themselves.

Each script must parse (``bash -n``, ``zsh -n``, ``fish --no-execute``), and bash and fish are asked
to complete real command lines: the subcommands, an option of ``serve``, the choices of an option
and of a positional. CI installs zsh and fish (.ci/run); a shell that is missing skips its test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dnsemu.cli import COMMANDS, OWN_PARSERS, main
from dnsemu.cli.completion import SHELLS, describe, script
from dnsemu.estates import TEMPLATES

ALL_COMMANDS = {*COMMANDS, *OWN_PARSERS}


def shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


def test_the_description_covers_every_command_and_every_flag() -> None:
    commands, top = describe()
    assert {c.name for c in commands} == ALL_COMMANDS
    assert {f for o in top for f in o.flags} >= {"--version", "--help"}
    by_name = {c.name: c for c in commands}
    serve_flags = {f for o in by_name["serve"].options for f in o.flags}
    assert {"--listen", "--topology", "--log-level", "--ecs", "--no-ecs", "--upstream", "--config"} <= serve_flags
    log_level = next(o for o in by_name["serve"].options if "--log-level" in o.flags)
    assert log_level.choices == ["debug", "info", "warning", "error"]
    assert next(o for o in by_name["serve"].options if "--topology" in o.flags).path
    assert {"--from", "--topology", "--server"} <= {f for o in by_name["query"].options for f in o.flags}
    assert by_name["completion"].positional == list(SHELLS)
    assert by_name["check"].positional == "file" and by_name["init"].positional == "dir"


@pytest.mark.parametrize("name", SHELLS)
def test_the_command_prints_the_script(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", name]) == 0
    assert capsys.readouterr().out == script(name)


def write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"dnsemu.{name}"
    path.write_text(script(name))
    return path


@pytest.mark.parametrize(("name", "check"), [("bash", ["-n"]), ("zsh", ["-n"]), ("fish", ["--no-execute"])])
def test_each_script_parses(tmp_path: Path, name: str, check: list[str]) -> None:
    path = write(tmp_path, name)
    result = subprocess.run([shell(name), *check, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def bash_complete(tmp_path: Path, *words: str) -> list[str]:
    """What the bash script offers for ``words`` (the last one is being typed)."""
    path = write(tmp_path, "bash")
    quoted = " ".join(f"'{w}'" for w in words)
    program = (f"source '{path}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _dnsemu; "
               'printf "%s\\n" "${COMPREPLY[@]}"')
    result = subprocess.run([shell("bash"), "-c", program], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_choices(tmp_path: Path) -> None:
    assert set(bash_complete(tmp_path, "dnsemu", "")) >= ALL_COMMANDS
    assert bash_complete(tmp_path, "dnsemu", "se") == ["serve"]
    assert bash_complete(tmp_path, "dnsemu", "serve", "--log-l") == ["--log-level"]
    assert bash_complete(tmp_path, "dnsemu", "serve", "--log-level", "") == ["debug", "info", "warning", "error"]
    assert bash_complete(tmp_path, "dnsemu", "init", "--template", "") == list(TEMPLATES)
    assert bash_complete(tmp_path, "dnsemu", "completion", "") == list(SHELLS)
    assert "--from" in bash_complete(tmp_path, "dnsemu", "query", "--fr")
    (tmp_path / "estate.yaml").write_text("")
    assert "estate.yaml" in bash_complete(tmp_path, "dnsemu", "check", "est")
    assert "estate.yaml" in bash_complete(tmp_path, "dnsemu", "serve", "--topology", "est")
    assert bash_complete(tmp_path, "dnsemu", "serve", "--listen", "") == []  # a value of its own


def fish_complete(tmp_path: Path, line: str) -> list[str]:
    path = write(tmp_path, "fish")
    result = subprocess.run([shell("fish"), "--no-config", "-c", f"source '{path}'; complete -C'{line}'"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return [entry.split("\t")[0] for entry in result.stdout.splitlines() if entry]


def test_fish_completes_commands_options_and_choices(tmp_path: Path) -> None:
    assert set(fish_complete(tmp_path, "dnsemu ")) >= ALL_COMMANDS
    assert fish_complete(tmp_path, "dnsemu se") == ["serve"]
    assert fish_complete(tmp_path, "dnsemu serve --log-l") == ["--log-level"]
    assert sorted(fish_complete(tmp_path, "dnsemu init --template ")) == sorted(TEMPLATES)
    assert sorted(fish_complete(tmp_path, "dnsemu completion ")) == sorted(SHELLS)


def test_zsh_loads_the_function_under_compinit(tmp_path: Path) -> None:
    path = write(tmp_path, "zsh")
    program = f"autoload -Uz compinit && compinit -u -d '{tmp_path}/zcompdump'; source '{path}'; " \
              "print -r -- ${_comps[dnsemu]}; whence -w _dnsemu"
    result = subprocess.run([shell("zsh"), "-f", "-c", program], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["_dnsemu", "_dnsemu:", "function"]
