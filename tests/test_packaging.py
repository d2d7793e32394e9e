"""dnsemu as a maintained PyPI project ships it: built, checked, installed into a fresh venv, run.

* ``python -m build`` makes the sdist and the wheel; ``twine check`` says PyPI renders them;
  the wheel holds the LICENSE, the bundled estate and the templates; its metadata carries an SPDX
  licence expression, project URLs, classifiers and keywords.
* The wheel goes into a fresh virtual environment (no system site-packages: what ``pipx install``
  does), whose ``dnsemu --version`` says the version, and whose ``dnsemu serve``, started in an
  empty folder, answers a hub client's private address from the bundled estate.
* Every console block of the README runs against that install (not the checkout).

Slow (a build and an install, a few minutes on a busy machine), and in CI like every test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest
from test_readme import console_blocks, normalise

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
BUILD_TIMEOUT = 900


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DNSEMU_", "VIRTUAL_ENV", "PYTHONPATH"))}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # no --sdist/--wheel: the sdist first, then the wheel built from the unpacked sdist (so the sdist is proven
    # complete, and nothing is built inside the checkout)
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=clean_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def the(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_twine_check_passes(dist: Path) -> None:
    files = [str(p) for p in sorted(dist.iterdir())]
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_the_wheel_carries_licence_estates_and_metadata(dist: Path) -> None:
    with zipfile.ZipFile(the(dist, "dnsemu-*.whl")) as wheel:
        names = set(wheel.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        assert wheel.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    for path in (ROOT / "dnsemu" / "estates").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert str(path.relative_to(ROOT)) in names, path
    assert "dnsemu/py.typed" in names
    assert metadata["License-Expression"] == "MIT"
    assert "License-File" in metadata and metadata["License-File"] == "LICENSE"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls)
    classifiers = metadata.get_all("Classifier")
    assert "Topic :: Internet :: Name Service (DNS)" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX expression says it (PEP 639)
    assert "azure" in metadata["Keywords"] and "dns" in metadata["Keywords"]
    assert metadata["Requires-Python"] == ">=3.11"
    with zipfile.ZipFile(the(dist, "dnsemu-*.whl")) as wheel:  # the console script and the pytest plugin
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "dnsemu = dnsemu.cli:main" in entry_points and "dnsemu.testing.pytest_plugin" in entry_points


def test_the_sdist_carries_the_licence_and_the_sources_of_the_estates(dist: Path) -> None:
    import tarfile

    with tarfile.open(the(dist, "dnsemu-*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert "LICENSE" in names and "pyproject.toml" in names
    assert "dnsemu/estates/example/topology.yaml" in names and "dnsemu/estates/example/svc.contoso.internal.zone" \
        in names


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with the wheel and its dependencies from the index."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                             str(the(dist, "dnsemu-*.whl"))], capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT, env=clean_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


def test_the_install_says_its_version_and_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    from importlib.metadata import version

    result = subprocess.run([str(installed / "bin" / "dnsemu"), "--version"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, env=clean_env())
    assert (result.returncode, result.stdout) == (0, f"dnsemu {version('dnsemu')}\n"), result.stderr
    where = subprocess.run([str(installed / "bin" / "python"), "-c", "import dnsemu; print(dnsemu.__file__)"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path, env=clean_env())
    assert where.stdout.startswith(str(installed)), where.stdout


class Installed:
    """The installed ``dnsemu serve`` in a folder, ready once it printed its readiness line."""

    def __init__(self, venv: Path, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen([str(venv / "bin" / "dnsemu"), "serve", "--listen", "127.0.0.1:0",
                                      "--no-watch", *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=clean_env())
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline()
        match = re.search(r"udp://127\.0\.0\.1:(\d+)", self.line)
        if match is None:
            self.proc.kill()
            raise AssertionError(f"no readiness line: {self.line!r} {self.proc.communicate(timeout=60)}")
        self.port = int(match.group(1))

    def stop(self) -> tuple[int, str]:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err


def test_serve_from_an_empty_folder_answers_a_hub_client(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    server = Installed(installed, empty)
    try:
        query = dns.message.make_query("mystorage.blob.core.windows.net", "A", use_edns=0,
                                       options=[dns.edns.ECSOption.from_text("10.0.2.4/32")])  # as the README asks
        reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=10)
        assert [d.to_text() for r in reply.answer if r.rdtype == 1 for d in r] == ["10.0.1.4"]
    finally:
        code, err = server.stop()
    assert code == 0
    assert "the bundled example estate" in err.splitlines()[0]
    assert list(empty.iterdir()) == []  # serving wrote nothing into the folder


@pytest.fixture(scope="module")
def installed_server(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    server = Installed(installed, tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


COMMANDS = console_blocks((ROOT / "README.md").read_text())


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_the_readme_commands_against_the_install(command: str, expected: str, installed: Path,
                                                 installed_server: Installed) -> None:
    argv = shlex.split(command)
    if argv[0] == "dnsemu":
        argv[0] = str(installed / "bin" / "dnsemu")
    elif argv[0] == "dig":
        if shutil.which("dig") is None:
            pytest.skip("dig is not installed (apt-get install dnsutils)")
        argv = [arg if arg != "5390" else str(installed_server.port) for arg in argv]
    else:
        pytest.fail(f"the README runs a command this test does not know: {command}")
    # from the checkout's root, as the README is read: its paths (zones/, docs/examples/) are relative to it
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, env=clean_env())
    got = (result.stdout + result.stderr).rstrip("\n")
    assert normalise(got) == normalise(expected), f"`{command}` against the install:\n{got}"
