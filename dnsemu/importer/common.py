"""What every importer module shares: where a thing came from, what went wrong, ARM IDs, field access.

Azure's exports spell one resource several ways: ARM REST nests its fields under
``properties``, the az CLI flattens them to the top level, Resource Graph lower-cases
the type, and IP field casing varies between resource providers and CLI versions
(``privateIPAddress`` vs ``privateIpAddress``, facts §15.5). :func:`get` reads all of
them: keys are matched case-insensitively and a missing key is looked for under
``properties`` too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: Resource Graph, ARM and az CLI objects carry these beside ``properties``; they are envelope, not data.
ENVELOPE = frozenset(
    {
        "id",
        "name",
        "type",
        "location",
        "tags",
        "etag",
        "resourcegroup",
        "subscriptionid",
        "tenantid",
        "kind",
        "managedby",
        "sku",
        "identity",
        "zones",
        "extendedlocation",
        "plan",
        "systemdata",
        "apiversion",
        "properties",
    }
)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one resource was read: the file (or ``azure:`` for a live import) and its JSON path."""

    file: str
    path: str = ""
    label: str = ""  # the format, for the summary: "Resource Graph", "ARM", "az CLI", "terraform state", …

    def at(self, sub: str) -> str:
        """``file: path.sub`` for a message about a field of this resource."""
        joined = f"{self.path}.{sub}" if self.path and sub and not sub.startswith("[") else f"{self.path}{sub}"
        return f"{self.file}: {joined}" if joined else self.file

    def __str__(self) -> str:
        return self.at("")


class InputError(ValueError):
    """An input that cannot be imported at all: the message names the file and the JSON path."""

    def __init__(self, file: str, message: str, path: str = "") -> None:
        self.file = file
        self.path = path
        where = f"{file}: {path}: " if path else f"{file}: "
        super().__init__(where + message)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the import noticed and could not (or should not) carry over silently.

    ``subject`` is the Azure resource ID (or the file) it concerns.
    """

    code: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} [{self.subject}]: {self.message}"


# -- field access -----------------------------------------------------------------------------


def lower_keys(obj: Any) -> Any:
    """``obj`` with every mapping key in lower case. Done once per resource (by
    :func:`dnsemu.importer.arm.extract`), so that :func:`get` is a dictionary probe per step,
    and ``privateIPAddress`` and ``privateIpAddress`` are one key."""
    kind = type(obj)
    if kind is dict:
        return {(k.lower() if type(k) is str else k): lower_keys(v) for k, v in obj.items()}
    if kind is list:
        return [lower_keys(v) for v in obj]
    return obj


#: dotted paths split once (they are the code's own literals; bounded all the same)
_PARTS: dict[str, tuple[str, ...]] = {}


def get(obj: Any, path: str, default: Any = None) -> Any:
    """``obj`` followed along a dotted ``path``, looking under ``properties`` too.

    ``get(pe, "subnet.id")`` reads ``pe["properties"]["subnet"]["id"]`` (ARM, Resource Graph)
    and ``pe["subnet"]["id"]`` (az CLI) alike. ``obj`` has been through :func:`lower_keys`;
    the path may use Azure's casing.
    """
    parts = _PARTS.get(path)
    if parts is None:
        parts = tuple(path.lower().split("."))
        if len(_PARTS) < 4096:
            _PARTS[path] = parts
    current = obj
    for part in parts:
        if type(current) is not dict:
            return default
        value = current.get(part)
        if value is None:
            props = current.get("properties")
            if type(props) is not dict:
                return default
            value = props.get(part)
            if value is None:
                return default
        current = value
    return current


def valid_values(
    values: Iterable[Any], parse: Callable[[Any], str | None], what: str, bad: Callable[[int, str], None]
) -> tuple[str, ...]:
    """Each value as ``parse`` spells it; for one it refuses, ``bad(position, message)`` and the value is left out."""
    out = []
    for i, value in enumerate(values):
        text = parse(value)
        if text is None:
            bad(i, f"{value!r} is not {what}; left out")
        else:
            out.append(text)
    return tuple(out)


def get_list(obj: Any, path: str) -> list[Any]:
    """A list field; a missing field is an empty list and a lone value a list of one."""
    value = get(obj, path)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def get_str(obj: Any, path: str) -> str | None:
    value = get(obj, path)
    if value is None:
        return None
    if type(value) is str:  # the usual case, first
        return value.strip() or None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def get_bool(obj: Any, path: str) -> bool | None:
    value = get(obj, path)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def property_keys(obj: Mapping[str, Any]) -> Iterator[str]:
    """The data keys of a resource (lower case): those under ``properties`` and, for the
    flattened az CLI shape, the top-level keys that are not envelope."""
    props = obj.get("properties")
    if isinstance(props, Mapping):
        for k in props:
            yield str(k).lower()
    for k in obj:
        low = str(k).lower()
        if low not in ENVELOPE:
            yield low


# -- ARM resource IDs ---------------------------------------------------------------------------

_ID_HEAD = re.compile(r"^/subscriptions/([^/]+)(?:/resourcegroups/([^/]+))?(?:/providers/(.*))?$", re.I)


def is_arm_id(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    m = _ID_HEAD.match(text.strip())
    # In a match, the pattern's provider group taking part means the text names a provider
    # (in any casing); only when it did not (a subscription or resource group ID, or a
    # subscription called "providers") is the whole text searched.
    return m is not None and (m.group(3) is not None or "/providers/" in text.lower())


#: ID → its key; the same IDs are keyed many times over (a resource, then each reference to it). Bounded.
_KEYS: dict[str, str] = {}


def id_key(text: str) -> str:
    """The merge key of a resource ID: ARM IDs are case-insensitive (and a trailing slash means nothing)."""
    key = _KEYS.get(text)
    if key is None:
        key = text.strip().rstrip("/").lower()
        if len(_KEYS) >= 1 << 18:
            _KEYS.clear()
        _KEYS[text] = key
    return key


def id_type(text: str) -> str | None:
    """The ARM type of a resource ID, lower case: ``.../Microsoft.Network/privateDnsZones/z/A/www``
    → ``microsoft.network/privatednszones/a``."""
    m = _ID_HEAD.match(text.strip().rstrip("/"))
    if not m or not m.group(3):
        return None
    parts = m.group(3).split("/")
    if len(parts) < 3:
        return None
    namespace, rest = parts[0], parts[1:]
    types = rest[0::2]
    return "/".join([namespace, *types]).lower()


def id_name(text: str) -> str:
    return text.strip().rstrip("/").rsplit("/", 1)[-1]


def id_parent(text: str) -> str | None:
    """The parent resource's ID (``.../privateDnsZones/z/virtualNetworkLinks/l`` → ``.../privateDnsZones/z``)."""
    m = _ID_HEAD.match(text.strip().rstrip("/"))
    if not m or not m.group(3):
        return None
    parts = m.group(3).split("/")
    if len(parts) < 5:
        return None
    head = text.strip().rstrip("/")
    for _ in range(2):
        head = head.rsplit("/", 1)[0]
    return head


def id_resource_group(text: str) -> str | None:
    m = _ID_HEAD.match(text.strip())
    return m.group(2) if m else None


def id_subscription(text: str) -> str | None:
    m = _ID_HEAD.match(text.strip())
    return m.group(1) if m else None


def id_segment(text: str, type_segment: str) -> str | None:
    """The name after ``type_segment`` in an ID (case-insensitive): ``id_segment(x, "virtualNetworks")``."""
    parts = text.strip().rstrip("/").split("/")
    low = type_segment.lower()
    for i, part in enumerate(parts[:-1]):
        if part.lower() == low:
            return parts[i + 1]
    return None


def subnet_vnet_id(subnet_id: str) -> str | None:
    """``.../virtualNetworks/hub/subnets/snet`` → ``.../virtualNetworks/hub``."""
    parts = subnet_id.strip().rstrip("/").split("/")
    for i, part in enumerate(parts):
        if part.lower() == "subnets" and i >= 2 and parts[i - 2].lower() == "virtualnetworks":
            return "/".join(parts[:i])
    return None


def resource_type_name(resource_id: str) -> tuple[str, str] | None:
    """A target resource's ARM type (provider casing kept) and name, from its ID.

    ``.../providers/Microsoft.Storage/storageAccounts/acct`` → (``Microsoft.Storage/storageAccounts``, ``acct``).
    """
    m = _ID_HEAD.match(resource_id.strip().rstrip("/"))
    if not m or not m.group(3):
        return None
    parts = m.group(3).split("/")
    if len(parts) < 3 or len(parts) % 2 == 0:
        return None
    return "/".join([parts[0], *parts[1::2]]), parts[-1]


# -- values -------------------------------------------------------------------------------------


def normalize_region(text: str | None) -> str | None:
    """``East US`` → ``eastus``."""
    if not text:
        return None
    return "".join(str(text).split()).lower() or None


_PLAIN_IPV4 = re.compile(
    r"^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)


def ip_text(value: Any) -> str | None:
    """A canonical IP address, or None when ``value`` is none."""
    if not isinstance(value, str):
        return None
    if _PLAIN_IPV4.match(value):
        return value
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def network_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        return None
