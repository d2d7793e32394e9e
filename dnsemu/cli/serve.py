"""``dnsemu serve``: run the DNS server until SIGTERM or SIGINT.

``main(argv) -> int`` parses the flags (generated from :class:`~dnsemu.server.settings.Settings`,
so ``--help`` lists every setting with its default and its environment variable),
loads the topology, binds, then prints one line to stdout and writes it to
``--ready-file``::

    dnsemu ready udp://127.0.0.1:5390 tcp://127.0.0.1:5390

That line is the readiness signal (port 0 resolved to the real port); logs go
to stderr. uvloop runs the event loop when it is installed.

``--workers N`` (N > 1) starts N worker processes that each bind the same
addresses with SO_REUSEPORT, so the kernel spreads queries over them (the first
binds first and resolves port 0; the others bind the port it got). The parent
holds the topology (reloads, the file watch, SIGHUP, run-time changes, handed to
every worker before a request returns), serves ``--http`` for all of them (one
``/metrics`` adding up every worker's counters, one ``/v1`` API), starts again a
worker that dies, prints the readiness line once all are bound, and on
SIGTERM/SIGINT stops them all: see :mod:`dnsemu.workers`. It exits 0 after a
clean shutdown, 1 when a worker had to be killed.

Exit status: 0 after a clean shutdown, 1 when the server cannot run (a port in
use, a worker died), 2 for invalid settings or an invalid topology.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import os
import socket
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dnsemu.server.settings import ENV_PREFIX, Settings, SettingsError, load_settings

__all__ = ["build_parser", "main"]

_WORKER_START_TIMEOUT = 60.0

_EPILOG = f"""\
Every setting also comes from the environment ({ENV_PREFIX}<NAME>, e.g. {ENV_PREFIX}LISTEN=0.0.0.0:53,[::]:53;
lists are comma-separated or JSON) or from a settings file (--config or {ENV_PREFIX}CONFIG; TOML or YAML,
keys named like the flags). Precedence: flags, then environment, then file, then defaults.

Prints "dnsemu ready udp://HOST:PORT tcp://HOST:PORT ..." on stdout once bound (then http://HOST:PORT with
--http); logs go to stderr. With --http: GET /metrics, /healthz, /readyz, /v1/openapi.json describes the API.
SIGHUP reloads the topology; SIGTERM/SIGINT stop after answering the queries in flight.
Exit status: 0 clean shutdown, 1 cannot serve, 2 invalid settings or topology.
"""


def _default_text(name: str, field: Any) -> str:
    if name == "topology":
        return "zones/topology.yaml of the working directory, else the bundled example estate"
    if name in ("forward_external", "azure_dns_limits"):
        return "auto"
    if name == "http_allowed_hosts":
        return "the listener's own addresses, and localhost"
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, list):
        return " ".join(map(str, default)) if default else "none"
    return str(default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsemu serve", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Answer DNS over UDP and TCP the way Azure DNS answers from inside each virtual network "
                    "of a topology, picking the network by the query's source address (or its ECS option).",
        argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", metavar="PATH", help=f"settings file, TOML or YAML (env {ENV_PREFIX}CONFIG)")
    for name, field in Settings.model_fields.items():
        names = ["--" + name.replace("_", "-")]
        description = (field.description or "").replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": name, "help": f"{description} (default: {_default_text(name, field)}; "
                                                        f"env {ENV_PREFIX}{name.upper()})"}
        annotation = field.annotation
        if annotation is bool or annotation == (bool | None):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is list:
            kwargs.update(action="append", metavar=_metavar(name))
            if name == "upstreams":
                names.append("--upstream")
        elif typing.get_origin(annotation) is typing.Literal:
            choices = typing.get_args(annotation)
            kwargs.update(choices=choices, metavar="{" + ",".join(choices) + "}")
        else:
            kwargs["metavar"] = _metavar(name)
        parser.add_argument(*names, **kwargs)
    return parser


def _metavar(name: str) -> str:
    special = {"listen": "HOST:PORT", "upstreams": "ADDRESS[:PORT]", "ecs_trusted": "CIDR", "topology": "PATH",
               "ready_file": "PATH", "workers": "N", "tcp_max_message": "OCTETS", "udp_payload_size": "OCTETS",
               "cache_size": "ENTRIES", "http_listen": "HOST:PORT", "api_token": "TOKEN", "http_max_body": "OCTETS",
               "http_allowed_hosts": "HOST", "max_file_bytes": "OCTETS",
               "compare": "OTHER_TOPOLOGY", "index_cache_dir": "PATH", "index_cache_max_bytes": "OCTETS",
               "index_cache_min_records": "N"}
    if name in special:
        return special[name]
    return "SECONDS" if Settings.model_fields[name].annotation is float else "N"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, or a usage error (argparse printed it)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    flags = vars(args)
    config = flags.pop("config", None)
    try:
        settings = load_settings(flags, config_file=config)
    except SettingsError as exc:
        print("dnsemu serve: invalid settings:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2

    from dnsemu.logs import configure_logging, get_logger
    from dnsemu.topology.errors import TopologyError
    from dnsemu.topology.load import default_topology_choice, load_topology

    configure_logging(settings.log_level, settings.log_format)
    # the first line says which topology, and why that one (the bundled example is easy to serve by mistake)
    if "topology" in settings.model_fields_set:
        why = "given (--topology, DNSEMU_TOPOLOGY or the settings file)"
    else:
        why = default_topology_choice()[1]
    get_logger("dnsemu.serve").info("topology_selected", topology=str(settings.topology), why=why)
    gc.disable()  # until the first topology is built and frozen (_freeze)
    index_cache = _index_cache(settings)
    hit = index_cache.lookup(settings.topology, freeze=True) if index_cache is not None else None
    try:
        loaded = hit.loaded if hit is not None else load_topology(settings.topology,
                                                                  max_file_bytes=settings.max_file_bytes)
    except TopologyError as exc:
        from dnsemu.cli.estate import print_problems  # with the compiler, which a start from the cache never needs

        print_problems(Path(settings.topology), exc, prefix="dnsemu serve: ")
        return 2
    compare = None
    if settings.compare is not None:
        try:
            compare = load_topology(settings.compare, max_file_bytes=settings.max_file_bytes)
        except TopologyError as exc:
            print(f"dnsemu serve: --compare {settings.compare}: invalid topology, {len(exc.problems)} problem(s):",
                  file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
    _remove(settings.ready_file)
    try:
        if settings.workers > 1:
            return _run_workers(settings, loaded, compare, index_cache)
        return _run_single(settings, loaded, compare, index_cache)
    finally:
        _remove(settings.ready_file)


def _index_cache(settings: Settings) -> Any:
    """The compiled-index cache the settings ask for (None: off)."""
    if not settings.index_cache:
        return None
    from dnsemu.core.index import Options
    from dnsemu.logs import get_logger
    from dnsemu.server.indexcache import IndexCache, default_cache_dir

    return IndexCache(settings.index_cache_dir or default_cache_dir(),
                      options=Options(unknown_sources=settings.unknown_sources),
                      max_file_bytes=settings.max_file_bytes, max_bytes=settings.index_cache_max_bytes,
                      min_records=settings.index_cache_min_records, log=get_logger("dnsemu.server"))


# --------------------------------------------------------------------------- one process


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _announce(settings: Settings, line: str) -> None:
    """Write the ready file, then print the line: whoever sees either finds both."""
    if settings.ready_file is not None:
        path = Path(settings.ready_file)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(line + "\n", encoding="utf-8")
        os.replace(tmp, path)  # readers never see a half-written file
    print(line, flush=True)


def _remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            Path(path).unlink()


def _run_single(settings: Settings, loaded: Any, compare: Any = None, index_cache: Any = None) -> int:
    from dnsemu.app import App

    def make() -> tuple[App, Callable[[], int]]:
        return App(settings, loaded, build_guard=quiet_builds, compare=compare, index_cache=index_cache), lambda: 0

    return _run_app(settings, make)


def _run_app(settings: Settings, make: Callable[[], tuple[Any, Callable[[], int]]]) -> int:
    """The daemon's life, one process or a supervisor of many: start the app ``make`` builds (inside the
    event loop), say so once the signals are ours, serve until stopped; the exit code from ``make``'s
    second value."""

    async def run() -> int:
        app, exit_code = make()
        try:
            await app.start()
        except OSError as exc:
            _cannot_listen(settings, exc)
            await app.stop()
            return 1
        _freeze()
        app.handle_signals()  # before the readiness line: whoever reads it may stop us at once
        _announce(settings, app.ready_line())
        await app.serve_forever()
        return exit_code()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(run())


# --------------------------------------------------------------------------- process-wide tuning

@contextlib.asynccontextmanager
async def quiet_builds() -> Any:
    """While a new index is built in a thread, next to the one serving (the daemon's tuning, process-wide).

    The builder would hold the GIL 5 ms at a time: hand it to the serving thread every 0.5 ms.
    A build allocates millions of objects, which with the collector on triggers full collections
    over both indexes (about 100 ms each at 100k records, the GIL held throughout): collect
    nothing until the new index is in, then freeze what is alive (an index never changes).
    """
    switch = sys.getswitchinterval()
    enabled = gc.isenabled()
    sys.setswitchinterval(0.0005)
    gc.disable()
    try:
        yield
    finally:
        sys.setswitchinterval(switch)
        if enabled:
            gc.freeze()
            gc.enable()


def _freeze() -> None:
    """The first index is immutable: keep the cyclic collector from walking it on every full pass.

    The collector is off from the start of ``main`` until here (the first build allocates
    millions of objects, none of them garbage, and each full pass would walk them all):
    one collection, then what is alive is frozen and the collector is on again.
    """
    gc.collect()
    gc.freeze()
    gc.enable()


def _cannot_listen(settings: Settings, exc: OSError) -> None:
    where = getattr(exc, "listen_address", None) or ", ".join(settings.listen)
    print(f"dnsemu serve: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
    hint = listen_hint(exc, where)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)


def listen_hint(exc: OSError, where: str) -> str | None:
    """What to do when a listen address cannot be bound (a port in use, a privileged port), or None."""
    from dnsemu.dns.addresses import DEFAULT_PORT, parse_hostport

    flag = "--http-listen" if where.endswith("(HTTP)") else "--listen"
    try:
        host, port = parse_hostport(where.split(" ")[0], port_zero=True, default_host="127.0.0.1")
    except ValueError:
        host, port = "127.0.0.1", 0
    if exc.errno == errno.EADDRINUSE:
        other = DEFAULT_PORT if port != DEFAULT_PORT else DEFAULT_PORT + 1
        if flag == "--http-listen":
            other = 9154 if port != 9154 else 9155
        return (f"another program holds port {port} there (see which: ss -lpn 'sport = :{port}'); stop it, or "
                f"serve on another port: dnsemu serve {flag} {host}:{other} (or {flag} {host}:0 for any free "
                "one; on port 53 the holder is usually systemd-resolved or dnsmasq)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        if 0 < port < 1024 and flag == "--listen":
            return (f"ports below 1024 need privileges: serve on a high port (the default, --listen "
                    f"127.0.0.1:{DEFAULT_PORT}) and ask with dig -p {DEFAULT_PORT}; or let this user bind low "
                    "ports (sudo setcap cap_net_bind_service=+ep on the Python that runs dnsemu, or sysctl "
                    "net.ipv4.ip_unprivileged_port_start=53); in a container, run the image, which binds 53 as "
                    "non-root")
        return f"this user may not bind there: pick another address or port with {flag}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{host} is not an address of this machine: listen on 127.0.0.1, 0.0.0.0 (every address) or "
                "one that `ip address` lists")
    return None


# --------------------------------------------------------------------------- N processes


def _worker_process(number: int, settings: Settings, sock: socket.socket) -> None:
    """The body of a worker process (started by the forkserver: importable by name)."""
    from dnsemu.workers import run_worker

    sys.exit(run_worker(number, settings, sock, build_guard=quiet_builds, loop_factory=_loop_factory(),
                        after_start=_freeze))


def _run_workers(settings: Settings, loaded: Any, compare: Any = None, index_cache: Any = None) -> int:
    """N workers answer DNS; this process holds the topology and serves HTTP for all (:mod:`dnsemu.workers`)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        print("dnsemu serve: --workers needs SO_REUSEPORT, which this platform lacks", file=sys.stderr)
        return 1
    from dnsemu.app import App
    from dnsemu.cli import serve as this  # by its module name even when run as __main__: the forkserver imports it
    from dnsemu.workers import Supervisor

    def make() -> tuple[App, Callable[[], int]]:
        server = Supervisor(settings, loaded, target=this._worker_process, build_guard=quiet_builds,
                            preload=("dnsemu.cli.serve", "dnsemu.app"), index_cache=index_cache)
        return App(settings, server=server, compare=compare), lambda: server.exit_code

    return _run_app(settings, make)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
