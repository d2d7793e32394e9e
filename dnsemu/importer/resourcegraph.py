"""Azure Resource Graph results: ``az graph query -o json`` output and the REST API's response.

Shapes read (facts §15.1 to §15.3):

* ``{"count", "data": [rows], "skip_token", "total_records"}`` — ``az graph query``;
* ``{"totalRecords", "count", "data": [rows], "$skipToken"}`` — the REST response (and the SDK's);
* ``{"data": {"columns": [{"name"}…], "rows": [[…]…]}}`` — the older table result format;
* a bare list of rows — a page saved with ``jq .data``.

Rows of the ``resources`` table are ARM-shaped (nested ``properties``, lower-case
``type``) and go through :mod:`dnsemu.importer.arm`. Rows of ``dnsresources`` hold their
data in a generic ``properties.records[]`` array (A: ``ipv4Address``); the record
extractor reads that array when the ARM per-type arrays are absent. The zone is always
taken from the row's ``id``, never from ``managedBy`` (§15.2).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dnsemu.importer.common import InputError

LABEL = "Resource Graph"


def is_graph_result(doc: Any) -> bool:
    if not isinstance(doc, Mapping) or "data" not in doc:
        return False
    keys = {str(k).lower() for k in doc}
    return bool(keys & {"count", "skip_token", "total_records", "totalrecords", "$skiptoken", "resulttruncated"}) or (
        isinstance(doc["data"], Mapping) and "rows" in doc["data"]
    )


def rows(doc: Mapping[str, Any], display: str) -> Iterator[tuple[Any, str]]:
    """(row, JSON path) for every row of a Resource Graph result."""
    data = doc["data"]
    if isinstance(data, list):
        for i, row in enumerate(data):
            yield row, f"data[{i}]"
        return
    if isinstance(data, Mapping) and isinstance(data.get("columns"), list) and isinstance(data.get("rows"), list):
        names = []
        for i, column in enumerate(data["columns"]):
            name = column.get("name") if isinstance(column, Mapping) else None
            name = name.lower() if isinstance(name, str) else name
            if not isinstance(name, str):
                raise InputError(display, "a column without a name", f"data.columns[{i}]")
            names.append(name)
        for i, row in enumerate(data["rows"]):
            if not isinstance(row, list) or len(row) != len(names):
                raise InputError(display, f"expected a row of {len(names)} values", f"data.rows[{i}]")
            yield dict(zip(names, row, strict=True)), f"data.rows[{i}]"
        return
    raise InputError(display, "expected the query's rows (a list, or columns and rows)", "data")


def looks_like_rows(items: list[Any]) -> bool:
    """A bare list saved with ``jq .data``: rows carry ``subscriptionId``/``tenantId`` and a lower-case type."""
    for item in items[:20]:
        if isinstance(item, Mapping):
            t = item.get("type")
            if (
                isinstance(t, str)
                and t == t.lower()
                and any(k in item for k in ("subscriptionId", "tenantId", "subscriptionid", "tenantid"))
            ):
                return True
    return False
