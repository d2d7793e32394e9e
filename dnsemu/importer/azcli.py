"""az CLI JSON: ``az network private-dns …``, ``az network private-endpoint …`` (with
``dns-zone-group list``), ``az network vnet …``, ``az network nic …``, ``az network
local-gateway …`` and ``az dns-resolver …`` output (facts §15.5).

The CLI flattens ``properties`` to the top level (and does so for nested sub-resources
too: a subnet's ``addressPrefix`` sits beside its ``name``), and IP field casing varies
between commands and CLI versions. :func:`dnsemu.importer.common.get` reads both shapes,
so the CLI's objects go through the same extractors as ARM's; what this module adds is
telling the CLI's output apart (for the summary) and recognising other az commands'
output that is no resource at all (``az account show``, ``az account list``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LABEL = "az CLI"


def is_flattened(obj: Any) -> bool:
    """An az CLI object: resource group beside the data, no ``properties``."""
    return isinstance(obj, Mapping) and "properties" not in obj and ("resourceGroup" in obj or "resourcegroup" in obj)


def account_output(obj: Any) -> bool:
    """``az account show`` / ``az account list`` rows: a subscription, not a resource."""
    return (
        isinstance(obj, Mapping)
        and ("tenantId" in obj or "tenantid" in obj)
        and ("user" in obj or "isDefault" in obj or "isdefault" in obj)
    )
