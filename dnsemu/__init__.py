"""dnsemu: a DNS server that answers the way Azure DNS answers from inside a given virtual network.

``dnsemu.__version__`` is the installed distribution's version (from its metadata, read on first
use so that importing the package stays cheap); ``"0+unknown"`` when the package runs from a
source tree that was never installed.
"""

from __future__ import annotations

__all__ = ["__version__"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dnsemu")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        value = _version()
        globals()["__version__"] = value  # computed once
        return value
    raise AttributeError(f"module 'dnsemu' has no attribute {name!r}")
