"""``python -m dnsemu.healthcheck [URL]``: ask a running ``dnsemu serve --http`` whether it is ready.

The container's ``HEALTHCHECK``. It uses nothing but the standard library
(``urllib``), reads ``/readyz`` by default, and prints one line::

    $ python -m dnsemu.healthcheck http://127.0.0.1:9153/readyz
    200 ready (generation 1)

Exit status: 0 when the answer is 200; 1 for any other status, a timeout or a
refused connection (printed as one line, no traceback); 2 on bad arguments.

``/healthz`` and ``/readyz`` are answered even while every HTTP connection slot
is taken (a connection over the cap serves them and nothing else), so a slow or
hostile client holding the API cannot make the container look unhealthy.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

__all__ = ["DEFAULT_URL", "build_parser", "main"]

DEFAULT_URL = "http://127.0.0.1:9153/readyz"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dnsemu.healthcheck",
                                     description="Exit 0 when a dnsemu HTTP health endpoint answers 200.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"the endpoint (default: {DEFAULT_URL})")
    parser.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS",
                        help="give up after this many seconds (default: 2)")
    return parser


def _summary(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return str(status)
    if not isinstance(data, dict):
        return str(status)
    text = f"{status} {data.get('status', data.get('error', ''))}".rstrip()
    if "generation" in data:
        text += f" (generation {data['generation']})"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if not options.url.startswith(("http://", "https://")):
        print(f"not an http URL: {options.url}", file=sys.stderr)
        return 2
    request = urllib.request.Request(options.url, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an http_proxy variable
    try:
        with opener.open(request, timeout=options.timeout) as response:
            print(_summary(response.status, response.read(4096)))
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(_summary(exc.code, exc.read(4096)))
        return 1
    except (OSError, ValueError) as exc:  # refused, timed out, unreachable, a malformed reply
        reason = getattr(exc, "reason", exc)
        print(f"unhealthy: {options.url}: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
