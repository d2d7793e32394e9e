"""Runtime settings of ``dnsemu serve``: one validated object, from four places.

Precedence, highest first: command-line flags, ``DNSEMU_*`` environment
variables, a settings file (``--config PATH`` or ``DNSEMU_CONFIG``, TOML or
YAML, flat keys named like the fields, ``-`` or ``_``), then the defaults below.

:func:`load_settings` is the one entry point. It takes the environment as an
argument (``os.environ`` by default), so tests build settings without a
developer's shell leaking into them, and it turns every validation problem
into one line naming the setting, the bad value and where it came from.

List settings (``listen``, ``upstreams``, ``ecs_trusted``) take a comma-separated
string or a JSON list in the environment (``DNSEMU_LISTEN=127.0.0.1:53,[::1]:53``),
a list in a file, and a repeated flag on the command line.

Choices made here (and documented in ``dnsemu serve --help``):

* ``forward_external`` is *auto* by default: servers that the topology declares
  as external are reached over the wire exactly when ``upstreams`` are set.
  Without upstreams the server never sends a packet anywhere (hermetic: the
  right default for a laptop and a test fixture); with upstreams the user has
  said the network is reachable, so the estate's own external servers are too.
* ``open_resolver`` is off: a query is only forwarded (to upstreams or external
  servers) when its real source is a loopback address or lies in a modelled
  network; anyone else gets REFUSED for names outside the topology.
* ``http`` is off: by default only DNS listens. ``--http`` adds one HTTP listener
  (``http_listen``, 127.0.0.1:9153 by default, CoreDNS's metrics port) serving
  ``/metrics``, ``/healthz``, ``/readyz`` and the JSON API under ``/v1``. The
  API's run-time changes are off unless ``api_changes`` is on; on an address
  other than loopback they also need ``api_token``. With ``workers`` > 1 the
  parent process serves it for all of them (one ``/metrics``, one API).
* ``replicated`` is off: on, this server says it is one of several copies behind
  one address (Kubernetes replicas), and the API refuses run-time changes (409),
  which would reach one replica only; the topology file (its ConfigMap) is the
  estate's one source of truth.
* ``http_allowed_hosts`` is empty: the HTTP listener answers only a ``Host`` that
  names it (on loopback: ``localhost``, ``127.0.0.1``, ``[::1]`` and the bound
  address; elsewhere: ``localhost``, the bound address and any IP address), with
  any port, so that a web page cannot reach it through DNS rebinding. Names listed
  here are answered too; ``*`` answers any ``Host``
  (:meth:`dnsemu.http.listener.HostPolicy.for_listener`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from dnsemu.dns import addresses
from dnsemu.dns.addresses import format_hostport, normalise_host
from dnsemu.text import clip, excerpt
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES, FileProblem, read_text
from dnsemu.topology.load import default_topology, did_you_mean
from dnsemu.topology.model import parse_target

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "format_hostport",
    "load_settings",
    "parse_hostport",
]

ENV_PREFIX = "DNSEMU_"
LIST_FIELDS = ("listen", "upstreams", "ecs_trusted", "http_allowed_hosts")


class SettingsError(Exception):
    """Settings that do not validate; ``problems`` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_hostport(text: str) -> tuple[str, int]:
    """A listen address: ``"127.0.0.1:53"`` or ``"[::1]:0"`` → (address, port); the port is required, 0 allowed;
    ``":5390"`` listens on loopback (127.0.0.1).

    (Upstream addresses take :func:`dnsemu.topology.model.parse_target`, the topology's own
    ``ADDRESS[:PORT]`` syntax with port 53 by default.) Both are :func:`dnsemu.dns.addresses.parse_hostport`.
    """
    return addresses.parse_hostport(text, port_zero=True, default_host="127.0.0.1")


def _default_topology() -> Path:
    return default_topology()


class Settings(BaseSettings):
    """Every knob of ``dnsemu serve``. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True, case_sensitive=False,
    )

    topology: Path = Field(default_factory=_default_topology, description="the topology file to serve")
    listen: list[str] = Field(default_factory=lambda: [addresses.DEFAULT_LISTEN],
                              description="HOST:PORT or [IPv6]:PORT to serve UDP and TCP on (:PORT is "
                                          "127.0.0.1:PORT); repeatable; port 0 picks a free port (the same one "
                                          "for UDP and TCP)")
    ready_file: Path | None = Field(None, description="write the readiness line to this file once every "
                                                      "socket is bound")
    workers: int = Field(1, ge=1, le=256, description="processes answering queries, sharing the port with "
                                                      "SO_REUSEPORT; the parent serves HTTP for all of them")
    ecs: bool = Field(True, description="honour EDNS Client Subnet (RFC 7871) from trusted sources: answer "
                                        "as if the query came from the subnet's address")
    ecs_trusted: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"],
                                   description="CIDRs whose ECS option is honoured; repeatable")
    unknown_sources: Literal["internet", "refuse"] = Field(
        "internet", description="a source in no modelled network asks as an internet client, or is refused")
    upstreams: list[str] = Field(default_factory=list,
                                 description="ADDRESS[:PORT] of upstream servers for names outside the "
                                             "topology, tried in order; repeatable; none = REFUSED")
    forward_external: bool | None = Field(
        None, description="reach the topology's external_dns_servers over the wire (auto: only when "
                          "upstreams are set; without, they are REFUSED)")
    open_resolver: bool = Field(False, description="forward for any source; off: only loopback and "
                                                   "modelled networks get forwarded answers")
    upstream_timeout: float = Field(1.5, gt=0, le=60, description="seconds to wait for one upstream reply")
    upstream_attempts: int = Field(2, ge=1, le=10, description="rounds over the upstream list before "
                                                               "answering SERVFAIL")
    tcp_idle_timeout: float = Field(10.0, gt=0, le=3600, description="seconds a TCP connection may stay "
                                                                      "without a complete query")
    tcp_max_connections: int = Field(512, ge=1, le=100_000, description="open TCP connections at most; "
                                                                        "more are closed on accept")
    tcp_max_message: int = Field(16384, ge=512, le=65535, description="largest TCP query in octets; a "
                                                                      "larger one closes the connection")
    tcp_max_pipelined: int = Field(64, ge=1, le=65535, description="queries in flight per TCP connection "
                                                                   "before reading pauses")
    udp_payload_size: int = Field(1232, ge=512, le=4096, description="our EDNS UDP payload size (and the "
                                                                     "cap on UDP replies)")
    udp_batch: int = Field(64, ge=0, le=1024, description="datagrams read with one recvmmsg(2) and answered "
                                                          "with one sendmmsg(2) on Linux; 0 or 1 reads one "
                                                          "at a time")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a terminal, JSON lines otherwise")
    query_log: bool = Field(True, description="one dns_query log line per query (off is faster)")
    watch: bool = Field(True, description="reload when a topology file changes (polling)")
    watch_interval: float = Field(1.0, ge=0.05, le=3600, description="seconds between topology file checks")
    cache_size: int = Field(10000, ge=0, le=10_000_000, description="cached replies per topology generation "
                                                                     "(0 turns the cache off)")
    shutdown_grace: float = Field(5.0, ge=0, le=600, description="seconds to finish in-flight queries on "
                                                                 "shutdown")
    http: bool = Field(False, description="serve HTTP on http-listen: /metrics, /healthz, /readyz and the JSON "
                                          "API under /v1 (off: only DNS listens)")
    http_listen: str = Field("127.0.0.1:9153", description="HOST:PORT of the HTTP listener (port 0 picks a free "
                                                           "port)")
    metrics: bool = Field(True, description="Prometheus metrics at /metrics on the HTTP listener")
    api_changes: bool = Field(False, description="allow the API's run-time changes (PUT/DELETE/POST under /v1: "
                                                 "private endpoints, records, links, reset)")
    api_token: SecretStr | None = Field(None, description="bearer token required by every /v1 route but "
                                                          "/v1/openapi.json (prefer the environment variable: "
                                                          "flags show in ps)")
    replicated: bool = Field(False, description="this server is one of several replicas serving the same estate "
                                                "(Kubernetes): the API refuses run-time changes, which would reach "
                                                "one replica only; change the topology file (its ConfigMap) instead")
    http_allowed_hosts: list[str] = Field(
        default_factory=list, description="host names the HTTP listener answers besides its own addresses (a "
                                          "guard against DNS rebinding; * answers any Host); repeatable")
    http_max_body: int = Field(65536, ge=1024, le=64 * 1024 * 1024, description="largest HTTP request body in "
                                                                                "octets (larger: 413)")
    http_timeout: float = Field(10.0, gt=0, le=3600, description="seconds an HTTP connection may stay idle, or "
                                                                 "take to send one request")
    azure_dns_limits: bool | None = Field(
        None, description="emulate Azure-provided DNS's per-VM limits (1000 queries/s and 200 pending per source "
                          "address in a VNet using 168.63.129.16; excess dropped unanswered; never resolver inbound "
                          "endpoints) (auto: as the topology's azure_provided_dns.query_limits says)")
    compare: Path | None = Field(None, description="another topology file, read once at start like the topology: "
                                                   "GET /v1/diff?against=compare (and the /ui page's Changes panel) "
                                                   "shows the answers that differ between the served estate and it")
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, ge=1024, le=1 << 40,
                                description="largest file read in octets: the topology, its zone files and their "
                                            "$INCLUDEs (and inline zone_text); larger is an error naming the file")
    index_cache: bool = Field(True, description="keep each compiled topology in index-cache-dir, keyed by a hash "
                                                "of every file it was read from, so that an unchanged restart or "
                                                "reload skips reading and compiling (entries are pickles: the "
                                                "directory must be private, 0700 and yours, or it is not used)")
    index_cache_dir: Path | None = Field(None, description="where the compiled-index cache lives (default: "
                                                           "$XDG_CACHE_HOME/dnsemu/index, else "
                                                           "~/.cache/dnsemu/index)")
    index_cache_max_bytes: int = Field(2 * 1024**3, ge=0, le=1 << 44,
                                       description="octets the compiled-index cache may hold; the least recently "
                                                   "used entries go first")
    index_cache_min_records: int = Field(10_000, ge=0, le=1 << 40,
                                         description="records a topology needs before it is cached (smaller ones "
                                                     "compile faster than an entry is checked)")

    @field_validator("log_level", "log_format", "unknown_sources", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("forward_external", "azure_dns_limits", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "auto", "none"):
            return None
        return value

    @field_validator("api_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None  # an empty variable means no token, never the empty token
        return value

    @field_validator("http_listen", mode="after")
    @classmethod
    def _http_listen(cls, value: str) -> str:
        return format_hostport(*parse_hostport(value))

    @model_validator(mode="after")
    def _http_combinations(self) -> Settings:
        if not self.http:
            return self
        host, _ = parse_hostport(self.http_listen)
        if self.api_changes and self.api_token is None and not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"api-changes on http-listen {self.http_listen} (not loopback) needs api-token")
        return self

    @field_validator("http_allowed_hosts", mode="after")
    @classmethod
    def _allowed_hosts(cls, value: list[str]) -> list[str]:
        out = []
        for text in value:
            try:
                out.append(normalise_host(str(text)))
            except ValueError:
                raise ValueError(f"{text!r} is not a host name, an IP address or * (no port: any port is "
                                 "accepted)") from None
        return list(dict.fromkeys(out))

    @field_validator("listen", mode="after")
    @classmethod
    def _listen(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one listen address is required")
        out = [format_hostport(*parse_hostport(v)) for v in value]
        return list(dict.fromkeys(out))

    @field_validator("upstreams", mode="after")
    @classmethod
    def _upstreams(cls, value: list[str]) -> list[str]:
        return [format_hostport(*parse_target(v)) for v in value]

    @field_validator("ecs_trusted", mode="after")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        out = []
        for text in value:
            try:
                out.append(str(ipaddress.ip_network(str(text).strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{excerpt(text)} is not a CIDR such as 10.0.0.0/8 or ::1/128") from None
        return out

    # ------------------------------------------------------------------ derived values

    @property
    def listen_addresses(self) -> list[tuple[str, int]]:
        return [parse_hostport(v) for v in self.listen]

    @property
    def upstream_addresses(self) -> list[tuple[str, int]]:
        return [parse_target(v) for v in self.upstreams]

    @property
    def ecs_trusted_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(v) for v in self.ecs_trusted]

    @property
    def http_address(self) -> tuple[str, int]:
        return parse_hostport(self.http_listen)

    @property
    def forward_external_enabled(self) -> bool:
        return bool(self.upstreams) if self.forward_external is None else self.forward_external

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _EnvSource(settings_cls), _FileSource(settings_cls)


# --------------------------------------------------------------------------- sources

_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("dnsemu_settings_env", default=None)
_FILE: ContextVar[dict[str, Any] | None] = ContextVar("dnsemu_settings_file", default=None)


class _EnvSource(EnvSettingsSource):
    """``DNSEMU_*`` from the mapping given to :func:`load_settings`; lists may be comma-separated."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _ENV.get()
        if env is None:
            env = os.environ
        return {k.lower(): v for k, v in env.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if field_name in LIST_FIELDS and isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError:  # "[::1]:53" is not JSON: a comma-separated list
                decoded = None
            if isinstance(decoded, list):
                return decoded
            return [part.strip() for part in value.split(",") if part.strip()]
        return json.loads(value)


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = _FILE.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE.get() or {})


def read_settings_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> dict[str, Any]:
    """A TOML (``.toml``) or YAML (anything else) settings file as a flat dict of field names.

    Read like every file (:func:`dnsemu.topology.files.read_text`): a regular file of
    at most ``max_bytes`` octets, UTF-8; errors never quote its content.
    """
    return _read_settings_file(path, max_bytes=max_bytes)[0]


#: a top-level key at the start of a line: ``workers = 2`` (TOML, a bare or quoted key) or ``workers: 2`` (YAML)
_KEY_LINE = re.compile(r"""^\s*(?:"([^"\n]+)"|'([^'\n]+)'|([A-Za-z0-9_-]+))\s*[=:]""")


def _key_lines(text: str) -> dict[str, int]:
    """Setting name -> the line that sets it (the first), so that a problem names file *and* line."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _KEY_LINE.match(line)
        if match is not None:
            key = next(g for g in match.groups() if g is not None)
            lines.setdefault(key.replace("-", "_").lower(), number)
    return lines


def _read_settings_file(path: str | os.PathLike[str], *,
                        max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> tuple[dict[str, Any], dict[str, int]]:
    """(the settings of the file, the line of each)."""
    path = Path(path)
    try:
        text = read_text(path, max_bytes=max_bytes)
    except FileProblem as exc:
        raise SettingsError([f"config: cannot read {path}: {exc.message}"]) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        # tomllib says what and where ("Invalid value (at line 3, column 7)", or "at end of document"), never
        # the text: the line goes up front, as every other problem names file:line
        reason = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", reason)
        line = int(match.group(1)) if match else (max(1, len(text.splitlines())) if "end of document" in reason
                                                  else None)
        where = f"{path}:{line}" if line else f"{path}"
        raise SettingsError([f"config: {where}: not valid TOML: {clip(reason, 120)}"]) from None
    except Exception as exc:  # yaml.YAMLError and friends: their str() quotes the offending line
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        at = f"{path}:{mark.line + 1}" if mark is not None else f"{path}"
        reason = getattr(exc, "problem", None) or type(exc).__name__
        raise SettingsError([f"config: {at}: not valid YAML: {clip(reason, 120)}{where}"]) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise SettingsError([f"config: {path} must hold a mapping of settings (key: value)"])
    out = {str(k).replace("-", "_").lower(): v for k, v in data.items()}
    if "topology" in out and out["topology"] is not None:
        topology = Path(str(out["topology"])).expanduser()
        out["topology"] = topology if topology.is_absolute() else path.parent / topology
    if out.get("compare") is not None:
        compare = Path(str(out["compare"])).expanduser()
        out["compare"] = compare if compare.is_absolute() else path.parent / compare
    if out.get("ready_file") is not None:
        out["ready_file"] = Path(str(out["ready_file"])).expanduser()
    return out, _key_lines(text)


def load_settings(flags: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                  config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Settings from flags (only those given), ``env`` (default ``os.environ``) and a settings file.

    The settings file is ``config_file``, else ``DNSEMU_CONFIG`` from ``env``.
    Raises :class:`SettingsError` with one line per problem.
    """
    environment = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env_config = next((v for k, v in environment.items() if k.upper() == f"{ENV_PREFIX}CONFIG"), None)
    path = config_file or env_config or None
    file_data, file_lines = _read_settings_file(path) if path else ({}, {})
    environment = {k: v for k, v in environment.items() if k.upper() != f"{ENV_PREFIX}CONFIG"}
    env_token, file_token = _ENV.set(environment), _FILE.set(file_data)
    try:
        return Settings(**flags)
    except ValidationError as exc:
        raise SettingsError(_problems(exc, flags, environment, file_data, path, file_lines)) from None
    except ValueError as exc:  # a malformed JSON list in the environment
        raise SettingsError([f"environment: {exc}"]) from None
    finally:
        _ENV.reset(env_token)
        _FILE.reset(file_token)


def _problems(exc: ValidationError, flags: Mapping[str, Any], env: Mapping[str, str],
              file_data: Mapping[str, Any], path: Any, file_lines: Mapping[str, int] | None = None) -> list[str]:
    env_keys = {k.upper() for k in env}
    out = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else "settings"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:  # a rule over several settings: no single origin to name
            out.append(f"settings: {message}")
            continue
        if name in flags:
            origin = f"--{name.replace('_', '-')}"
        elif f"{ENV_PREFIX}{name.upper()}" in env_keys:
            origin = f"{ENV_PREFIX}{name.upper()}"
        elif name in file_data:
            line = (file_lines or {}).get(name)
            origin = f"{path}:{line}" if line else f"{path}"
        else:
            origin = "default"
        if error.get("type") == "extra_forbidden":
            guess = did_you_mean(name, Settings.model_fields)
            maybe = f"did you mean {guess.replace('_', '-')!r}? " if guess else ""
            message = f"unknown setting ({maybe}known: {', '.join(Settings.model_fields)})"
        elif "input" in error and error.get("type") != "missing" and name != "api_token":
            message = f"{message} (got {excerpt(error['input'])})"
        out.append(f"{name.replace('_', '-')}: {message} [from {origin}]")
    return out
