"""``dnsemu import --azure``: the estate read from Azure itself (``pip install 'dnsemu[azure]'``).

Signs in with azure-identity's ``DefaultAzureCredential`` (environment, managed identity,
``az login``, …). The **Reader** role on the subscriptions (or a management group above
them) is enough: Resource Graph returns what the caller can read, and the rest are plain
GETs (facts §15.7). Nothing is written to Azure.

1. Resource Graph, with paging (``$skipToken``, 1000 rows a page): the ``resources``
   table for the types dnsemu models (and those it lists as not modelled), and the
   ``dnsresources`` table for private zone records (§15.1 to §15.3).
2. What Resource Graph does not index (§15.1), per parent, with the management SDKs:
   each private endpoint's DNS zone groups and each Virtual WAN hub's virtual network
   connections (azure-mgmt-network), each forwarding ruleset's rules and virtual network
   links (azure-mgmt-dnsresolver).

The responses are read as the raw ARM JSON they are (through the SDK's
``raw_response_hook``), so they go through the same extractors as exported files.
``credential`` and ``transport`` can be given (tests replay recorded responses through
an azure-core ``HttpTransport``; nothing here opens a socket of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dnsemu.importer import arm
from dnsemu.importer import facts as F
from dnsemu.importer.arm import Context
from dnsemu.importer.common import Origin, id_name, id_resource_group, id_subscription

LABEL = "Resource Graph (live)"
PAGE_SIZE = 1000

RESOURCE_TYPES = (
    "microsoft.network/virtualnetworks",
    "microsoft.network/networkinterfaces",
    "microsoft.network/localnetworkgateways",
    "microsoft.network/privatednszones",
    "microsoft.network/privatednszones/virtualnetworklinks",
    "microsoft.network/privateendpoints",
    "microsoft.network/privatelinkservices",
    "microsoft.network/dnsresolvers",
    "microsoft.network/dnsresolvers/inboundendpoints",
    "microsoft.network/dnsresolvers/outboundendpoints",
    "microsoft.network/dnsforwardingrulesets",
    "microsoft.network/dnsresolverpolicies",
    "microsoft.network/dnsresolverpolicies/dnssecurityrules",
    "microsoft.network/dnsresolverpolicies/virtualnetworklinks",
    "microsoft.network/dnsresolverdomainlists",
    "microsoft.network/dnssecuritypolicies",
    "microsoft.network/dnssecuritypolicies/virtualnetworklinks",
    "microsoft.network/dnssecuritypolicydomainlists",
    "microsoft.network/azurefirewalls",
    "microsoft.network/firewallpolicies",
    "microsoft.network/virtualhubs",
    "microsoft.containerservice/managedclusters",
)

RESOURCES_QUERY = (
    "resources\n| where type in~ ("
    + ", ".join(f"'{t}'" for t in RESOURCE_TYPES)
    + ")\n| project id, name, type, location, resourceGroup, subscriptionId, properties\n| order by id asc"
)
RECORDS_QUERY = (
    "dnsresources\n| where type startswith 'microsoft.network/privatednszones/'\n"
    "| project id, name, type, managedBy, resourceGroup, subscriptionId, properties\n| order by id asc"
)


class LiveError(RuntimeError):
    """The live import cannot go on (no SDK, no sign-in, Resource Graph refused): the message says why."""


def _sdk() -> dict[str, Any]:
    """The SDK names this module uses (imported here: the extra is optional)."""
    try:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.dnsresolver import DnsResolverManagementClient
        from azure.mgmt.network import NetworkManagementClient
        from azure.mgmt.resourcegraph import ResourceGraphClient
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
    except ImportError as exc:
        raise LiveError(
            f"the live import needs the azure extra: pip install 'dnsemu[azure]' ({exc.name} is missing)"
        ) from None
    return {
        "AzureError": AzureError,
        "ClientAuthenticationError": ClientAuthenticationError,
        "HttpResponseError": HttpResponseError,
        "DefaultAzureCredential": DefaultAzureCredential,
        "DnsResolverManagementClient": DnsResolverManagementClient,
        "NetworkManagementClient": NetworkManagementClient,
        "ResourceGraphClient": ResourceGraphClient,
        "QueryRequest": QueryRequest,
        "QueryRequestOptions": QueryRequestOptions,
    }


def _reason(exc: Any) -> str:
    """The service's own one-line message of an azure-core error."""
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or str(getattr(exc, "message", None) or exc)
    return " ".join(text.split("\n")[0].split())


def _raw_pages(call: Callable[..., Iterable[Any]]) -> list[dict[str, Any]]:
    """Every item of a paged list call, as the raw ARM JSON of its pages (``nextLink`` followed by the SDK)."""
    pages: list[Any] = []

    def hook(response: Any) -> None:
        pages.append(response.http_response.json())

    for _ in call(raw_response_hook=hook):
        pass
    return [item for page in pages if isinstance(page, dict) for item in page.get("value") or []]


def read_estate(
    ctx: Context,
    subscriptions: list[str] | None = None,
    *,
    credential: Any = None,
    transport: Any = None,
    page_size: int = PAGE_SIZE,
) -> list[F.Fact]:
    """The facts of every resource the credential can read (in ``subscriptions``, or all)."""
    sdk = _sdk()
    options: dict[str, Any] = {"transport": transport} if transport is not None else {}
    try:
        credential = credential or sdk["DefaultAzureCredential"]()
    except sdk["AzureError"] as exc:
        raise LiveError(f"cannot sign in: {_reason(exc)}") from None
    graph = sdk["ResourceGraphClient"](credential, **options)
    facts: list[F.Fact] = []
    for table, query in (("resources", RESOURCES_QUERY), ("dnsresources", RECORDS_QUERY)):
        token: str | None = None
        page = 0
        while True:
            request = sdk["QueryRequest"](
                subscriptions=list(subscriptions) or None,
                query=query,
                options=sdk["QueryRequestOptions"](top=page_size, skip_token=token, result_format="objectArray"),
            )
            try:
                response = graph.resources(request)
            except sdk["ClientAuthenticationError"] as exc:
                raise LiveError(f"cannot sign in: {_reason(exc)}") from None
            except sdk["HttpResponseError"] as exc:
                raise LiveError(
                    f"Resource Graph refused the {table} query ({exc.status_code}): {_reason(exc)}"
                ) from None
            rows = response.data if isinstance(response.data, list) else []
            for i, row in enumerate(rows):
                fact = arm.extract(ctx, row, Origin(f"azure:{table} page {page}", f"data[{i}]", LABEL))
                if fact is not None:
                    facts.append(fact)
            token = response.skip_token
            if not token:
                break
            page += 1
    facts.extend(_children(ctx, facts, credential, options, sdk))
    return facts


def _children(
    ctx: Context, facts: list[F.Fact], credential: Any, options: dict[str, Any], sdk: dict[str, Any]
) -> list[F.Fact]:
    """Zone groups, hub connections, forwarding rules and ruleset links: one list call per parent (§15.1, §15.3)."""
    out: list[F.Fact] = []
    network: dict[str, Any] = {}
    resolver: dict[str, Any] = {}

    def client(cache: dict[str, Any], cls: Any, sub: str) -> Any:
        if sub not in cache:
            cache[sub] = cls(credential, sub, **options)
        return cache[sub]

    calls: list[tuple[str, str, Callable[..., Iterable[Any]]]] = []
    for fact in facts:
        sub, rg, name = id_subscription(fact.id), id_resource_group(fact.id), id_name(fact.id)
        if not sub or not rg:
            continue
        if isinstance(fact, F.PrivateEndpoint):
            ops = client(network, sdk["NetworkManagementClient"], sub).private_dns_zone_groups
            calls.append((fact.id, "privateDnsZoneGroups", lambda ops=ops, n=name, g=rg, **kw: ops.list(n, g, **kw)))
        elif isinstance(fact, F.VirtualHub):
            ops = client(network, sdk["NetworkManagementClient"], sub).hub_virtual_network_connections
            calls.append(
                (fact.id, "hubVirtualNetworkConnections", lambda ops=ops, g=rg, n=name, **kw: ops.list(g, n, **kw))
            )
        elif isinstance(fact, F.Ruleset):
            c = client(resolver, sdk["DnsResolverManagementClient"], sub)
            calls.append(
                (fact.id, "forwardingRules", lambda c=c, g=rg, n=name, **kw: c.forwarding_rules.list(g, n, **kw))
            )
            calls.append(
                (
                    fact.id,
                    "virtualNetworkLinks",
                    lambda c=c, g=rg, n=name, **kw: c.virtual_network_links.list(g, n, **kw),
                )
            )
    for parent, what, call in calls:
        try:
            items = _raw_pages(call)
        except sdk["HttpResponseError"] as exc:
            ctx.finding(
                "live-read", parent, f"listing its {what} failed ({exc.status_code}): {_reason(exc)}; they are missing"
            )
            continue
        for i, item in enumerate(items):
            fact = arm.extract(ctx, item, Origin(f"azure:{parent}/{what}", f"value[{i}]", "ARM (live)"))
            if fact is not None:
                out.append(fact)
    return out
