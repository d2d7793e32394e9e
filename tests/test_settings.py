"""Settings: flags > DNSEMU_* environment > settings file > defaults, validated with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dnsemu.cli.serve import build_parser, main
from dnsemu.server.settings import Settings, SettingsError, load_settings, parse_hostport


def flags(*argv: str) -> dict[str, Any]:
    return vars(build_parser().parse_args(list(argv)))


def test_defaults() -> None:
    s = load_settings(env={})
    assert s.listen == ["127.0.0.1:5390"] and s.listen_addresses == [("127.0.0.1", 5390)]
    assert s.topology.name == "topology.yaml" and s.topology.parent.name == "zones"
    assert s.upstreams == [] and not s.forward_external_enabled and not s.open_resolver
    assert s.ecs and s.ecs_trusted == ["127.0.0.0/8", "::1/128"]
    assert s.unknown_sources == "internet" and s.udp_payload_size == 1232 and s.workers == 1
    assert s.log_format == "auto" and s.log_level == "info" and s.query_log and s.watch
    assert s.ready_file is None and s.cache_size > 0


def test_environment_values_and_lists() -> None:
    s = load_settings(env={
        "DNSEMU_LISTEN": "0.0.0.0:53, [::]:53", "DNSEMU_ECS": "false",
        "DNSEMU_UPSTREAMS": '["1.1.1.1", "[2606:4700::1111]:53"]',
        "dnsemu_log_level": "DEBUG", "DNSEMU_WORKERS": "4", "DNSEMU_FORWARD_EXTERNAL": "auto",
        "DNSEMU_ECS_TRUSTED": "10.0.0.0/8", "DNSEMU_READY_FILE": "/tmp/ready", "UNRELATED": "x"})
    assert s.listen_addresses == [("0.0.0.0", 53), ("::", 53)]
    assert s.ecs is False and s.log_level == "debug" and s.workers == 4
    assert s.upstream_addresses == [("1.1.1.1", 53), ("2606:4700::1111", 53)]
    assert s.forward_external is None and s.forward_external_enabled  # auto follows the upstreams
    assert s.ecs_trusted == ["10.0.0.0/8"] and s.ready_file == Path("/tmp/ready")


@pytest.mark.parametrize("suffix", ["toml", "yaml"])
def test_settings_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"dnsemu.{suffix}"
    if suffix == "toml":
        path.write_text('listen = ["127.0.0.1:5300"]\ntopology = "estate.yaml"\nquery-log = false\n'
                        'upstream_timeout = 0.25\n')
    else:
        path.write_text("listen: [127.0.0.1:5300]\ntopology: estate.yaml\nquery-log: false\nupstream_timeout: 0.25\n")
    s = load_settings(env={}, config_file=path)
    assert s.listen == ["127.0.0.1:5300"] and s.query_log is False and s.upstream_timeout == 0.25
    assert s.topology == tmp_path / "estate.yaml"  # relative to the settings file
    same = load_settings(env={"DNSEMU_CONFIG": str(path)})
    assert same == s


def test_precedence_flags_then_env_then_file_then_defaults(tmp_path: Path) -> None:
    path = tmp_path / "dnsemu.toml"
    path.write_text('listen = ["127.0.0.1:1"]\nworkers = 2\nlog_level = "warning"\ncache_size = 7\n')
    env = {"DNSEMU_LISTEN": "127.0.0.1:2", "DNSEMU_WORKERS": "3"}
    s = load_settings(flags("--listen", "127.0.0.1:3"), env=env, config_file=path)
    assert s.listen == ["127.0.0.1:3"]  # flag
    assert s.workers == 3  # environment over file
    assert s.log_level == "warning" and s.cache_size == 7  # file over defaults
    assert s.udp_payload_size == 1232  # default


def test_flags_cover_every_setting_and_repeat_for_lists() -> None:
    parsed = flags("--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--upstream", "9.9.9.9", "--upstreams",
                   "1.1.1.1:5353", "--no-ecs", "--forward-external", "--ready-file", "r", "--workers", "2")
    s = load_settings(parsed, env={})
    assert s.listen == ["127.0.0.1:0", "[::1]:0"] and s.upstreams == ["9.9.9.9:53", "1.1.1.1:5353"]
    assert s.ecs is False and s.forward_external is True and s.workers == 2
    assert flags() == {}  # nothing given: nothing overrides the environment or the file


def test_help_documents_every_setting_with_its_default(capsys: Any) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in Settings.model_fields:
        flag = "--" + name.replace("_", "-")
        assert flag in text, flag
        assert f"env DNSEMU_{name.upper()}" in text, name
    assert "(default: 127.0.0.1:5390;" in text and "(default: 1232;" in text and "(default: auto;" in text
    assert "(default: off; env DNSEMU_OPEN_RESOLVER)" in text and "--config PATH" in text


@pytest.mark.parametrize(("source", "message"), [
    ({"DNSEMU_LISTEN": "localhost:53"}, "listen: 'localhost:53': 'localhost' is not an IP address"),
    ({"DNSEMU_LISTEN": "::1:53"}, "write an IPv6 address with a port as [ADDRESS]:PORT"),
    ({"DNSEMU_LISTEN": "127.0.0.1:99999"}, "the port must be a number from 0 to 65535"),
    ({"DNSEMU_LISTEN": "127.0.0.1"}, "a port is required"),
    ({"DNSEMU_UPSTREAMS": "1.1.1.1:0"}, "upstreams: '1.1.1.1:0': the port must be a number from 1 to 65535"),
    ({"DNSEMU_WORKERS": "0"}, "workers: Input should be greater than or equal to 1 (got '0') [from DNSEMU_WORKERS]"),
    ({"DNSEMU_UNKNOWN_SOURCES": "drop"}, "unknown-sources: Input should be 'internet' or 'refuse'"),
    ({"DNSEMU_ECS_TRUSTED": "10.0.0/33"}, "'10.0.0/33' is not a CIDR"),
    ({"DNSEMU_QUERY_LOG": "maybe"}, "query-log: Input should be a valid boolean"),
    ({"DNSEMU_UDP_PAYLOAD_SIZE": "100"}, "udp-payload-size: Input should be greater than or equal to 512"),
])
def test_invalid_values_are_reported_clearly(source: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env=source)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_problems_name_their_origin_and_all_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "dnsemu.yaml"
    path.write_text("listen: [nowhere]\nlisten_port: 53\n")
    with pytest.raises(SettingsError) as caught:
        load_settings({"workers": "-1"}, env={}, config_file=path)
    problems = caught.value.problems
    assert len(problems) == 3
    assert any(p.startswith("workers:") and p.endswith("[from --workers]") for p in problems)
    assert any(p.startswith("listen:") and p.endswith(f"[from {path}:1]") for p in problems)  # file and line
    assert any(p.startswith("listen-port: unknown setting") and p.endswith(f"[from {path}:2]") for p in problems)


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(env={}, config_file=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("listen = [\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(env={}, config_file=bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(env={}, config_file=scalar)


def test_the_process_environment_is_read_by_default(monkeypatch: Any) -> None:
    monkeypatch.setenv("DNSEMU_CACHE_SIZE", "42")
    assert load_settings().cache_size == 42
    assert load_settings(env={}).cache_size != 42  # tests pass their own environment


def test_parse_hostport() -> None:
    assert parse_hostport("[fd00::1]:5300") == ("fd00::1", 5300)
    assert parse_hostport("10.0.0.4:0") == ("10.0.0.4", 0)
    with pytest.raises(ValueError, match="missing"):
        parse_hostport("[fd00::1:53")
    s = load_settings({"upstreams": ["10.0.0.4", "fd00::1", "[fd00::2]:5300"]}, env={})
    assert s.upstream_addresses == [("10.0.0.4", 53), ("fd00::1", 53), ("fd00::2", 5300)]


def test_serve_reports_invalid_settings_with_exit_2(capsys: Any) -> None:
    assert main(["--workers", "0", "--listen", "here"]) == 2
    err = capsys.readouterr().err
    assert "invalid settings" in err and "workers:" in err and "listen:" in err
    assert main(["--no-such-flag"]) == 2
