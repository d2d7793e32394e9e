"""Which tool wrote a file, told from its content, and the facts it states.

* ``terraform show -json`` (state or plan): :mod:`dnsemu.importer.terraform`;
* Resource Graph results (``{"data": …, "count": …}``): :mod:`dnsemu.importer.resourcegraph`;
* an ARM list response (``{"value": [...], "nextLink"}``, ``az rest`` output), a list of
  resources (``az … list``, a saved Resource Graph page) or one resource (``az … show``,
  ``az resource show``): :mod:`dnsemu.importer.arm`, with :mod:`dnsemu.importer.azcli`
  telling the CLI's flattened objects apart.

Anything else is "the wrong tool's output": the message says what was expected and
what the file holds, at which JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dnsemu.importer import arm, azcli, resourcegraph, terraform
from dnsemu.importer import facts as F
from dnsemu.importer.arm import Context
from dnsemu.importer.common import InputError, Origin, is_arm_id

EXPECTED = (
    'expected az graph query output ({"data": [...]}), ARM or az CLI resources (objects with an Azure '
    'resource "id", alone, in a list or in {"value": [...]}) or terraform show -json output'
)


def _has(obj: Mapping[str, Any], key: str) -> bool:
    return key in obj or key.lower() in obj


def _describe(doc: Any) -> str:
    if isinstance(doc, Mapping):
        keys = ", ".join(sorted(str(k) for k in doc)[:8])
        hint = ""
        if _has(doc, "apiVersion") and _has(doc, "kind"):
            hint = " (Kubernetes output?)"
        elif azcli.account_output(doc):
            hint = " (az account output: a subscription, not a resource)"
        elif _has(doc, "Reservations") or _has(doc, "ResponseMetadata"):
            hint = " (AWS CLI output?)"
        return f"found an object with keys {keys or 'none'}{hint}"
    if isinstance(doc, list):
        return f"found a list of {len(doc)} item(s)"
    return f"found a JSON {type(doc).__name__}"


def _label(items: list[Any], default: str) -> str:
    if not items:
        return "empty list"
    if resourcegraph.looks_like_rows(items):
        return resourcegraph.LABEL
    if any(azcli.is_flattened(i) for i in items[:20]):
        return azcli.LABEL
    return default


def _items(ctx: Context, items: list[Any], display: str, prefix: str, label: str, lowered: bool) -> list[F.Fact]:
    out = []
    for i, item in enumerate(items):
        fact = arm.extract(ctx, item, Origin(display, f"{prefix}[{i}]", label), lowered=lowered)
        if fact is not None:
            out.append(fact)
    return out


def parse_document(doc: Any, display: str, ctx: Context, *, lowered: bool = False) -> tuple[str, list[F.Fact]]:
    """(format label, facts) of one parsed JSON document; InputError when it is no export dnsemu reads.

    ``lowered``: every object key is lower case already (:func:`dnsemu.importer.files.read_json` parses so).
    """
    if terraform.is_terraform(doc):
        return terraform.parse(doc, display, ctx)
    if resourcegraph.is_graph_result(doc):
        rows = list(resourcegraph.rows(doc, display))
        facts = []
        for row, path in rows:
            fact = arm.extract(ctx, row, Origin(display, path, resourcegraph.LABEL), lowered=lowered)
            if fact is not None:
                facts.append(fact)
        return resourcegraph.LABEL, facts
    if isinstance(doc, Mapping) and isinstance(doc.get("value"), list) and not is_arm_id(doc.get("id")):
        items = doc["value"]
        _require_resources(items, display, "value", doc)
        label = _label(items, "ARM")
        return label, _items(ctx, items, display, "value", label, lowered)
    if isinstance(doc, list):
        _require_resources(doc, display, "", doc)
        label = _label(doc, "ARM")
        return label, _items(ctx, doc, display, "", label, lowered)
    if isinstance(doc, Mapping) and is_arm_id(doc.get("id")):
        label = azcli.LABEL if azcli.is_flattened(doc) else "ARM"
        fact = arm.extract(ctx, doc, Origin(display, "", label), lowered=lowered)
        return label, [fact] if fact is not None else []
    raise InputError(display, f"not an export dnsemu reads: {EXPECTED}; {_describe(doc)}", "$")


def _require_resources(items: list[Any], display: str, prefix: str, doc: Any) -> None:
    """A non-empty list with not one Azure resource in it is another tool's output, not a bad row or two."""
    if not items:
        return
    if any(isinstance(i, Mapping) and is_arm_id(i.get("id")) for i in items):
        return
    first = items[0]
    raise InputError(
        display,
        f"not an export dnsemu reads: no item has an Azure resource ID; {EXPECTED}; {_describe(first)}",
        f"{prefix}[0]",
    )
