"""Estates that ship inside the package: the bundled example and the starter templates of ``dnsemu init``.

Each estate is a folder of this package holding ``topology.yaml`` and any zone files it names:

* ``example`` — the README's walk-through estate (the checkout's ``zones/`` is a link to it: one copy);
  what ``dnsemu serve``, ``explain``, ``check`` and ``Emulator()`` serve when no topology is
  given and the working directory has no ``zones/topology.yaml``;
* the templates, each one of Microsoft's documented reference designs for private endpoint
  DNS, commented to be edited (:data:`TEMPLATES`).

Only data and paths live here: no dnsemu import, so any layer may ask where an estate is.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_TEMPLATE", "EXAMPLE", "TEMPLATES", "estate_dir", "estate_files", "example_topology"]

#: the bundled example estate (the README's)
EXAMPLE = "example"
#: template name -> one line saying what it is (``dnsemu init --template NAME``)
TEMPLATES: dict[str, str] = {
    "hub-spoke-resolver": "hub-and-spoke: a DNS Private Resolver in the hub, every privatelink zone linked to the hub; "
                          "one spoke uses the inbound endpoint as its DNS server, one a forwarding ruleset",
    "vwan-dns-spoke": "Virtual WAN: the resolver and the zone links in a DNS spoke connected to the virtual hub "
                      "(the virtual hub extension pattern); workload spokes and a branch use its inbound endpoint",
    "hybrid-forwarders": "hybrid: on-premises DNS servers forward the public service zones to the resolver's inbound "
                         "endpoint; a ruleset sends the corporate domain back on-premises",
    "firewall-dns-proxy": "an Azure Firewall in the hub as DNS proxy for the spokes: it asks Azure DNS from the hub, "
                          "so the hub's links answer for every spoke",
    EXAMPLE: "the README's walk-through estate: hub-and-spoke, a spoke behind the hub's Azure Firewall DNS proxy, "
             "a DNS security policy, a sandbox, two on-premises sites, and deliberate mistakes to explore",
}
DEFAULT_TEMPLATE = "hub-spoke-resolver"


def estate_dir(name: str) -> Path:
    """The folder of estate ``name`` inside the installed package (KeyError for an unknown name)."""
    if name not in TEMPLATES:
        raise KeyError(name)
    return Path(str(resources.files(__name__).joinpath(name)))


def example_topology() -> Path:
    """``topology.yaml`` of the bundled example estate."""
    return estate_dir(EXAMPLE) / "topology.yaml"


def estate_files(name: str) -> dict[str, bytes]:
    """The files of estate ``name``: relative path -> content (``topology.yaml`` and its zone files)."""
    root = estate_dir(name)
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file() and path.name != "__init__.py"
            and "__pycache__" not in path.parts}
