"""``terraform show -json`` of a state (``values``) or of a plan (``planned_values``) → facts.

Layout (facts §15.6): ``{"format_version", "values" | "planned_values": {"root_module":
{"resources": [R…], "child_modules": [{"address", "resources", "child_modules"}…]}}}``,
each R ``{address, mode, type, name, index?, values}``; nested blocks are arrays even
when at most one. Both azurerm shapes are read: v3/v4's ``zone_name`` /
``private_dns_zone_name`` + ``resource_group_name`` and v5's ``private_dns_zone_id``.
``azapi_resource`` entries are read as the ARM resources they are.

A plan's values leave out what is unknown until apply: the ``id`` of every resource to
be created, and every attribute that refers to one (``subnet_id = azurerm_subnet.pe.id``).
Such an ID is spelled from the names the plan does know (subscription of the other IDs,
resource group, names: the ID Azure will give it), and a reference is followed through
the plan's ``configuration`` (``expressions.<attr>.references``, through module
variables and outputs), so a plan that creates a whole estate imports as that estate.
Connection states are not in Terraform: an automatic connection is taken as Approved, a
manual one as Pending (a finding says so).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dnsemu.importer import arm
from dnsemu.importer import facts as F
from dnsemu.importer.arm import Context
from dnsemu.importer.common import (
    InputError,
    Origin,
    id_key,
    id_name,
    id_parent,
    ip_text,
    is_arm_id,
    network_text,
    valid_values,
)

PLACEHOLDER_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"

_RECORD_TYPES = {
    "azurerm_private_dns_a_record": "A",
    "azurerm_private_dns_aaaa_record": "AAAA",
    "azurerm_private_dns_cname_record": "CNAME",
    "azurerm_private_dns_mx_record": "MX",
    "azurerm_private_dns_ptr_record": "PTR",
    "azurerm_private_dns_srv_record": "SRV",
    "azurerm_private_dns_txt_record": "TXT",
}
_VM_TYPES = ("azurerm_linux_virtual_machine", "azurerm_windows_virtual_machine", "azurerm_virtual_machine")


def is_terraform(doc: Any) -> bool:
    if not isinstance(doc, Mapping):
        return False
    if "planned_values" in doc or "terraform_version" in doc:
        return True
    values = doc.get("values")
    return "format_version" in doc or (isinstance(values, Mapping) and "root_module" in values)


@dataclass
class Instance:
    address: str
    module: str  # "" or "module.net" or "module.net[0].module.sub"
    type: str
    name: str
    mode: str
    values: Mapping[str, Any]
    path: str  # JSON path, for messages
    id: str | None = None
    planned: bool = False


def _walk(module: Any, path: str, module_address: str) -> Iterator[Instance]:
    if not isinstance(module, Mapping):
        return
    for i, r in enumerate(module.get("resources") or []):
        rpath = f"{path}.resources[{i}]"
        if not isinstance(r, Mapping) or not isinstance(r.get("type"), str) or not isinstance(r.get("values"), Mapping):
            raise InputError("", "expected a resource with type and values", rpath)
        yield Instance(
            address=str(r.get("address") or f"{r['type']}.{r.get('name')}"),
            module=module_address,
            type=r["type"],
            name=str(r.get("name") or ""),
            mode=str(r.get("mode") or "managed"),
            values=r["values"],
            path=rpath,
        )
    for j, child in enumerate(module.get("child_modules") or []):
        address = child.get("address") if isinstance(child, Mapping) else None
        yield from _walk(child, f"{path}.child_modules[{j}]", str(address or ""))


_INDEX = re.compile(r"\[[^\]]*\]")
_MODULE_REF = re.compile(
    r"^module\.(?P<module>[A-Za-z0-9_-]+)(?:\[[^\]]*\])?\.(?P<output>[A-Za-z0-9_-]+)(?P<index>\[[^\]]*\])?"
)
_REF = re.compile(
    r"^(?P<data>data\.)?(?P<type>[A-Za-z0-9_]+)\.(?P<name>[A-Za-z0-9_-]+)(?P<index>\[[^\]]*\])?(?:\.(?P<attr>.+))?$"
)


def _follow(node: Any, path: Iterable[str | int]) -> Any:
    """``node`` followed along ``path`` (keys of objects, positions in lists); None where the path ends."""
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node


def _config_scope(module_address: str) -> str:
    """``module.net["a"].module.sub`` → ``module.net.module.sub`` (configuration has no instance keys)."""
    return _INDEX.sub("", module_address)


class _Plan:
    """Reference resolution through a plan's ``configuration``."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.resources: dict[tuple[str, str], Mapping[str, Any]] = {}  # (scope, "type.name") -> expressions
        self.calls: dict[str, Mapping[str, Any]] = {}  # child scope -> module_call (expressions)
        self.outputs: dict[tuple[str, str], Mapping[str, Any]] = {}  # (scope, output) -> expression
        config = doc.get("configuration")
        root = config.get("root_module") if isinstance(config, Mapping) else None
        if isinstance(root, Mapping):
            self._scan(root, "")

    def _scan(self, module: Mapping[str, Any], scope: str) -> None:
        for r in module.get("resources") or []:
            if isinstance(r, Mapping) and isinstance(r.get("expressions"), Mapping):
                mode = "data." if r.get("mode") == "data" else ""
                self.resources[(scope, f"{mode}{r.get('type')}.{r.get('name')}")] = r["expressions"]
        for name, out in (module.get("outputs") or {}).items():
            if isinstance(out, Mapping) and isinstance(out.get("expression"), Mapping):
                self.outputs[(scope, name)] = out["expression"]
        for name, call in (module.get("module_calls") or {}).items():
            if not isinstance(call, Mapping):
                continue
            child = f"{scope}.module.{name}" if scope else f"module.{name}"
            self.calls[child] = call
            if isinstance(call.get("module"), Mapping):
                self._scan(call["module"], child)

    def expression(self, inst: Instance, path: list[str | int]) -> Mapping[str, Any] | None:
        key = (
            inst.address[len(inst.module) + 1 :]
            if inst.module and inst.address.startswith(inst.module)
            else inst.address
        )
        key = _INDEX.sub("", key)
        node = _follow(self.resources.get((_config_scope(inst.module), key)), path)
        return node if isinstance(node, Mapping) else None


class _Document:
    def __init__(self, doc: Mapping[str, Any], display: str, ctx: Context) -> None:
        self.display = display
        self.ctx = ctx
        if "planned_values" in doc:
            self.label, key = "terraform plan", "planned_values"
        else:
            self.label, key = "terraform state", "values"
        container = doc.get(key)
        self.instances: list[Instance] = []
        if container is not None:
            if not isinstance(container, Mapping):
                raise InputError(display, "expected an object with root_module", key)
            try:
                self.instances = list(_walk(container.get("root_module"), f"{key}.root_module", ""))
            except InputError as exc:
                raise InputError(display, str(exc).split(": ", 2)[-1], exc.path) from None
        self.plan = _Plan(doc) if key == "planned_values" else None
        self.by_address: dict[str, list[Instance]] = {}
        for inst in self.instances:
            self.by_address.setdefault(_INDEX.sub("", inst.address), []).append(inst)
            if "[" in inst.address:
                self.by_address.setdefault(inst.address, []).append(inst)
        subs = Counter(
            str(inst.values["id"]).split("/")[2] for inst in self.instances if is_arm_id(inst.values.get("id"))
        )
        self.subscription = subs.most_common(1)[0][0] if subs else PLACEHOLDER_SUBSCRIPTION
        self.by_name: dict[tuple[str, str, str], Instance] = {}
        self._resolving: set[str] = set()

    # -- values, with a plan's unknowns filled in from the configuration ------------------------------

    def value(self, inst: Instance, *path: str | int) -> Any:
        return _follow(inst.values, path)

    def ref_ids(self, inst: Instance, *path: str | int) -> list[str]:
        """IDs an attribute refers to: its value, or (in a plan) what its expression's references resolve to."""
        value = self.value(inst, *path)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return list(value)
        if self.plan is None:
            return []
        expression = self.plan.expression(inst, list(path))
        return self._resolve(expression, _config_scope(inst.module)) if expression else []

    def ref_id(self, inst: Instance, *path: str | int) -> str | None:
        ids = self.ref_ids(inst, *path)
        return ids[0] if ids else None

    def _resolve(self, expression: Mapping[str, Any], scope: str, index: str | None = None) -> list[str]:
        refs = [r for r in expression.get("references") or [] if isinstance(r, str)]
        out: list[str] = []
        for ref in refs:
            for rid in self._resolve_ref(ref, scope, index):
                if rid not in out:
                    out.append(rid)
        # "x.id" and "x" name the same resource: keep one ID per resource
        return out

    def _resolve_ref(self, ref: str, scope: str, index: str | None = None) -> list[str]:
        """IDs one reference names. ``index`` is the key a module output was indexed with
        (``module.net.vnet_ids["hub"]``): it picks that instance of a for_each resource."""
        assert self.plan is not None
        if ref.startswith("var."):
            name = ref.split(".")[1].lower()
            call = self.plan.calls.get(scope)
            expr = (call or {}).get("expressions", {}).get(name) if call else None
            parent = scope.rsplit(".module.", 1)[0] if ".module." in scope else ""
            return self._resolve(expr, parent) if isinstance(expr, Mapping) else []
        if ref.startswith("module."):
            mo = _MODULE_REF.match(ref)
            if mo is None:
                return []
            module = mo.group("module").lower()  # files are parsed with lower-case keys
            child = f"{scope}.module.{module}" if scope else f"module.{module}"
            expr = self.plan.outputs.get((child, mo.group("output").lower()))
            return self._resolve(expr, child, mo.group("index")) if expr else []
        if ref.startswith(("each.", "count.", "local.", "path.", "terraform.", "self.")):
            return []
        m = _REF.match(ref)
        if m is None or (m.group("attr") and m.group("attr") != "id"):
            return []  # not a resource, or an attribute other than its id
        base = f"{m.group('data') or ''}{m.group('type')}.{m.group('name')}{m.group('index') or ''}"
        address = f"{scope}.{base}" if scope else base
        candidates = self.by_address.get(address, [])
        if not m.group("index") and len(candidates) > 1:
            if index is None:
                return []  # every instance of a count/for_each resource: not one ID
            candidates = self.by_address.get(address + index, [])
        return [i.id for i in candidates if i.id]

    # -- IDs ------------------------------------------------------------------------------------------

    def arm_prefix(self, inst: Instance) -> str:
        rg = self.value(inst, "resource_group_name") or "unknown-rg"
        return f"/subscriptions/{self.subscription}/resourceGroups/{rg}/providers"


#: Types whose fact is a child of the resource its ID lies under, with references only:
#: type -> (fact, field for the parent's ID, ((field, Terraform attribute of the referenced ID), ...))
_CHILDREN: dict[str, tuple[type[F.Fact], str, tuple[tuple[str, str], ...]]] = {
    "azurerm_private_dns_resolver_outbound_endpoint": (
        F.OutboundEndpoint, "resolver_id", (("subnet_id", "subnet_id"),)
    ),
    "azurerm_private_dns_resolver_virtual_network_link": (
        F.RulesetLink, "ruleset_id", (("vnet_id", "virtual_network_id"),)
    ),
    "azurerm_private_dns_resolver_policy_virtual_network_link": (
        F.PolicyLink, "policy_id", (("vnet_id", "virtual_network_id"),)
    ),
}


class _Converter:
    def __init__(self, doc: _Document) -> None:
        self.d = doc
        self.ctx = doc.ctx
        self.facts: list[F.Fact] = []

    def origin(self, inst: Instance) -> Origin:
        return Origin(self.d.display, inst.path, self.d.label)

    def add(self, kind: type[F.Fact], inst: Instance, **fields: Any) -> None:
        """The fact of type ``kind`` that ``inst`` states: its ID, where it was read, its name (for a fact
        that has one, unless given), then ``fields``."""
        if "name" not in fields and F.has_name(kind):
            fields["name"] = self.name(inst)
        self.facts.append(kind(inst.id, self.origin(inst), **fields))

    def name(self, inst: Instance) -> str:
        value = self.d.value(inst, "name")
        return str(value) if value else inst.name

    # IDs of resources to be created are spelled the way Azure will spell them.
    def assign_ids(self) -> None:
        order = sorted(self.d.instances, key=lambda i: _ID_ORDER.get(i.type, 0))
        for inst in order:
            given = self.d.value(inst, "id")
            if isinstance(given, str) and given.lower().startswith("/subscriptions/"):
                inst.id = given
                continue
            spelled = self.spell_id(inst)
            if spelled:
                inst.id = spelled
                inst.planned = True
                self.ctx.planned[id_key(spelled)] = f"{inst.address} (to be created: no ID yet)"

    def spell_id(self, inst: Instance) -> str | None:
        d, t, name = self.d, inst.type, self.name(inst)
        net = f"{d.arm_prefix(inst)}/Microsoft.Network"
        simple = {
            "azurerm_virtual_network": "virtualNetworks",
            "azurerm_network_interface": "networkInterfaces",
            "azurerm_private_dns_zone": "privateDnsZones",
            "azurerm_private_endpoint": "privateEndpoints",
            "azurerm_private_dns_resolver": "dnsResolvers",
            "azurerm_private_dns_resolver_dns_forwarding_ruleset": "dnsForwardingRulesets",
            "azurerm_local_network_gateway": "localNetworkGateways",
            "azurerm_private_link_service": "privateLinkServices",
            "azurerm_firewall": "azureFirewalls",
            "azurerm_firewall_policy": "firewallPolicies",
            "azurerm_virtual_hub": "virtualHubs",
            "azurerm_private_dns_resolver_policy": "dnsResolverPolicies",
            "azurerm_private_dns_resolver_domain_list": "dnsResolverDomainLists",
        }
        if t in simple:
            return f"{net}/{simple[t]}/{name}"
        if t in _VM_TYPES:
            return f"{d.arm_prefix(inst)}/Microsoft.Compute/virtualMachines/{name}"
        if t == "azurerm_kubernetes_cluster":
            return f"{d.arm_prefix(inst)}/Microsoft.ContainerService/managedClusters/{name}"
        if t in ("azurerm_subnet", "azurerm_virtual_network_peering"):
            vnet = self.vnet_by_name(inst)
            child = "subnets" if t == "azurerm_subnet" else "virtualNetworkPeerings"
            return f"{vnet}/{child}/{name}" if vnet else None
        if t == "azurerm_private_dns_zone_virtual_network_link":
            zone = self.zone_of(inst)
            return f"{zone}/virtualNetworkLinks/{name}" if zone else None
        if t in _RECORD_TYPES:
            zone = self.zone_of(inst)
            return f"{zone}/{_RECORD_TYPES[t]}/{name}" if zone else None
        parents = {
            "azurerm_private_dns_resolver_inbound_endpoint": ("private_dns_resolver_id", "inboundEndpoints"),
            "azurerm_private_dns_resolver_outbound_endpoint": ("private_dns_resolver_id", "outboundEndpoints"),
            "azurerm_private_dns_resolver_forwarding_rule": ("dns_forwarding_ruleset_id", "forwardingRules"),
            "azurerm_private_dns_resolver_virtual_network_link": ("dns_forwarding_ruleset_id", "virtualNetworkLinks"),
            "azurerm_virtual_hub_connection": ("virtual_hub_id", "hubVirtualNetworkConnections"),
            "azurerm_private_dns_resolver_security_rule": ("dns_resolver_policy_id", "dnsSecurityRules"),
            "azurerm_private_dns_resolver_policy_virtual_network_link": (
                "dns_resolver_policy_id",
                "virtualNetworkLinks",
            ),
        }
        if t in parents:
            attr, child = parents[t]
            parent = d.ref_id(inst, attr)
            return f"{parent}/{child}/{name}" if parent else None
        if t == "azurerm_virtual_network_dns_servers":
            vnet = d.ref_id(inst, "virtual_network_id")
            return f"{vnet}/dnsServers/default" if vnet else None
        if t == "azapi_resource":
            parent = d.ref_id(inst, "parent_id")
            rtype = str(d.value(inst, "type") or "").split("@")[0]
            if parent and rtype:
                last = rtype.split("/")[-1]
                if rtype.count("/") == 1:
                    return f"{parent}/providers/{rtype}/{name}"
                return f"{parent}/{last}/{name}"
        return None

    def vnet_by_name(self, inst: Instance) -> str | None:
        rg = str(self.d.value(inst, "resource_group_name") or "").lower()
        vnet = str(self.d.value(inst, "virtual_network_name") or "").lower()
        for other in self.d.instances:
            if (
                other.type == "azurerm_virtual_network"
                and other.id
                and self.name(other).lower() == vnet
                and str(self.d.value(other, "resource_group_name") or "").lower() == rg
            ):
                return other.id
        if vnet and rg:
            vnet_name = self.d.value(inst, "virtual_network_name")
            return f"{self.d.arm_prefix(inst)}/Microsoft.Network/virtualNetworks/{vnet_name}"
        return None

    def zone_of(self, inst: Instance) -> str | None:
        """The zone ID of a record or link: v5's private_dns_zone_id, else v3/v4's zone name + resource group."""
        zone_id = self.d.ref_id(inst, "private_dns_zone_id")
        if zone_id:
            return zone_id
        zone_name = self.d.value(inst, "zone_name") or self.d.value(inst, "private_dns_zone_name")
        if not zone_name:
            return None
        rg = str(self.d.value(inst, "resource_group_name") or "").lower()
        for other in self.d.instances:
            if (
                other.type == "azurerm_private_dns_zone"
                and other.id
                and self.name(other).lower() == str(zone_name).lower()
                and str(self.d.value(other, "resource_group_name") or "").lower() == rg
            ):
                return other.id
        return f"{self.d.arm_prefix(inst)}/Microsoft.Network/privateDnsZones/{zone_name}"

    # -- values -----------------------------------------------------------------------------------------

    def ips(self, inst: Instance, values: Any, where: str) -> tuple[str, ...]:
        return self._valid(inst, values if isinstance(values, list) else [], ip_text, "an IP address", where)

    def prefixes(self, inst: Instance, values: Any, where: str) -> tuple[str, ...]:
        items = values if isinstance(values, list) else [values] if values else []
        return self._valid(inst, items, network_text, "a CIDR prefix", where)

    def _valid(self, inst: Instance, values: list[Any], parse: Any, what: str, where: str) -> tuple[str, ...]:
        subject = inst.id or inst.address
        return valid_values(
            values, parse, what, lambda i, m: self.ctx.bad(self.origin(inst), subject, f"values.{where}[{i}]", m)
        )

    def subnet_info(self, inst: Instance, block: Mapping[str, Any], where: str) -> F.SubnetInfo | None:
        name = block.get("name")
        if not isinstance(name, str):
            return None
        raw = block.get("address_prefixes")
        if raw is None:
            raw = block.get("address_prefix")  # azurerm v3's inline subnet block
        endpoints = []
        for item in block.get("service_endpoints") or block.get("service_endpoint") or []:
            service = item if isinstance(item, str) else item.get("service") if isinstance(item, Mapping) else None
            if isinstance(service, str):
                endpoints.append(service)
        return F.SubnetInfo(name, self.prefixes(inst, raw, f"{where}.address_prefixes"), tuple(sorted(endpoints)))

    def blocks(self, inst: Instance, name: str) -> list[Mapping[str, Any]]:
        value = self.d.value(inst, name)
        return [b for b in value if isinstance(b, Mapping)] if isinstance(value, list) else []

    # -- one converter per type ----------------------------------------------------------------------

    def convert(self, inst: Instance) -> None:
        if inst.id is None:
            self.ctx.finding(
                "not-a-resource",
                inst.address,
                f"{self.origin(inst)}: {inst.address} has no ID and none can be spelled from its values; left out",
            )
            return
        handler = getattr(self, "_" + inst.type, None)
        child = _CHILDREN.get(inst.type)
        if child is not None:
            kind, parent, refs = child
            fields = {field_name: self.d.ref_id(inst, attribute) for field_name, attribute in refs}
            self.add(kind, inst, **{parent: id_parent(inst.id or "")}, **fields)
            return
        if inst.type in _RECORD_TYPES:
            handler = self._record
        elif inst.type in _VM_TYPES:
            handler = self._vm
        if handler is None:
            self.facts.append(
                F.NotModelled(
                    inst.id, self.origin(inst), rtype=inst.type, reason="Terraform type not read by dnsemu import"
                )
            )
            return
        handler(inst)

    def _azurerm_virtual_network(self, inst: Instance) -> None:
        subnets = []
        for i, block in enumerate(self.blocks(inst, "subnet")):
            info = self.subnet_info(inst, block, f"subnet[{i}]")
            if info:
                subnets.append(info)
        dns = self.d.value(inst, "dns_servers")
        self.add(
            F.VNet,
            inst,
            location=self.d.value(inst, "location"),
            address_space=self.prefixes(inst, self.d.value(inst, "address_space"), "address_space"),
            subnets=tuple(subnets),
            dns_servers=self.ips(inst, dns, "dns_servers") if dns is not None else None,
            peerings=None,
        )

    def _azurerm_subnet(self, inst: Instance) -> None:
        info = self.subnet_info(inst, {**inst.values, "name": self.name(inst)}, "")
        self.add(F.Subnet, inst, vnet_id=id_parent(inst.id), info=info)

    def _azurerm_virtual_network_peering(self, inst: Instance) -> None:
        self.add(
            F.Peering,
            inst,
            vnet_id=id_parent(inst.id),
            remote_id=self.d.ref_id(inst, "remote_virtual_network_id"),
            state="Connected",
        )

    def _azurerm_virtual_network_dns_servers(self, inst: Instance) -> None:
        self.add(
            F.VNetDnsServers,
            inst,
            vnet_id=self.d.ref_id(inst, "virtual_network_id"),
            dns_servers=self.ips(inst, self.d.value(inst, "dns_servers"), "dns_servers"),
        )

    def _azurerm_network_interface(self, inst: Instance) -> None:
        configs = []
        for i, block in enumerate(self.blocks(inst, "ip_configuration")):
            configs.append(
                F.IpConfig(
                    ip_text(block.get("private_ip_address")),
                    subnet_id=self.d.ref_id(inst, "ip_configuration", i, "subnet_id"),
                    allocation=block.get("private_ip_address_allocation"),
                    primary=block.get("primary") if isinstance(block.get("primary"), bool) else None,
                )
            )
        dns = self.d.value(inst, "dns_servers")
        self.add(
            F.Nic,
            inst,
            ip_configs=tuple(configs),
            dns_servers=self.ips(inst, dns, "dns_servers") if dns is not None else None,
            internal_suffix=self.d.value(inst, "internal_domain_name_suffix") or None,
        )

    def _vm(self, inst: Instance) -> None:
        nic_ids = self.d.ref_ids(inst, "network_interface_ids")
        primary = self.d.ref_id(inst, "primary_network_interface_id") or (nic_ids[0] if nic_ids else None)
        self.add(F.VirtualMachine, inst, nics=tuple((n, n == primary) for n in nic_ids))

    def _azurerm_private_dns_zone(self, inst: Instance) -> None:
        self.add(F.Zone, inst, name=self.name(inst).lower().rstrip("."))

    def _azurerm_private_dns_zone_virtual_network_link(self, inst: Instance) -> None:
        reg = self.d.value(inst, "registration_enabled")
        self.add(
            F.ZoneLink,
            inst,
            zone_id=id_parent(inst.id),
            vnet_id=self.d.ref_id(inst, "virtual_network_id"),
            registration=reg if isinstance(reg, bool) else False,
            policy=self.d.value(inst, "resolution_policy") or "Default",
        )

    def _record(self, inst: Instance) -> None:
        rtype = _RECORD_TYPES[inst.type]
        values: list[str] = []
        if rtype in ("A", "AAAA"):
            values = list(self.ips(inst, self.d.value(inst, "records"), "records"))
        elif rtype == "PTR":
            values = [_absolute(v) for v in self.d.value(inst, "records") or [] if isinstance(v, str)]
        elif rtype == "CNAME":
            target = self.d.value(inst, "record")
            values = [_absolute(target)] if isinstance(target, str) and target else []
        elif rtype == "MX":
            values = [
                f"{b.get('preference')} {_absolute(str(b.get('exchange')))}"
                for b in self.blocks(inst, "record")
                if isinstance(b.get("preference"), int) and b.get("exchange")
            ]
        elif rtype == "SRV":
            values = [
                f"{b.get('priority')} {b.get('weight')} {b.get('port')} {_absolute(str(b.get('target')))}"
                for b in self.blocks(inst, "record")
                if all(isinstance(b.get(k), int) for k in ("priority", "weight", "port")) and b.get("target")
            ]
        elif rtype == "TXT":
            # azurerm splits a value into 255-byte strings of one TXT record, as ARM's txtRecords[].value[] holds them
            values = [
                " ".join(arm._quote_txt(chunk) for chunk in _chunks(str(b.get("value"))))
                for b in self.blocks(inst, "record")
                if b.get("value") is not None
            ]
        ttl = self.d.value(inst, "ttl")
        self.add(
            F.RecordSet,
            inst,
            zone_id=id_parent(inst.id),
            name=id_name(inst.id),
            rtype=rtype,
            ttl=ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None,
            values=tuple(sorted(values)) if rtype in ("A", "AAAA", "PTR") else tuple(values),
            auto_registered=False,
        )

    def _azurerm_private_endpoint(self, inst: Instance) -> None:
        d = self.d
        conn = (self.blocks(inst, "private_service_connection") or [{}])[0]
        target = d.ref_id(inst, "private_service_connection", 0, "private_connection_resource_id")
        alias = conn.get("private_connection_resource_alias") or None
        manual = conn.get("is_manual_connection")
        connection = F.Connection(
            target=target or alias,
            group_ids=tuple(str(g) for g in conn.get("subresource_names") or [] if isinstance(g, str)),
            status=None,
            manual=manual if isinstance(manual, bool) else None,
            alias=alias,
        )
        configs = []
        primary = ip_text(conn.get("private_ip_address"))
        if primary:
            configs.append(F.IpConfig(primary))
        for block in self.blocks(inst, "ip_configuration"):
            configs.append(
                F.IpConfig(
                    ip_text(block.get("private_ip_address")),
                    group_id=block.get("subresource_name"),
                    member=block.get("member_name"),
                )
            )
        custom = tuple(
            (str(b.get("fqdn")), self.ips(inst, b.get("ip_addresses"), "custom_dns_configs.ip_addresses"))
            for b in self.blocks(inst, "custom_dns_configs")
            if b.get("fqdn")
        )
        nics = [b.get("id") for b in self.blocks(inst, "network_interface") if isinstance(b.get("id"), str)]
        self.add(
            F.PrivateEndpoint,
            inst,
            location=d.value(inst, "location"),
            subnet_id=d.ref_id(inst, "subnet_id"),
            nic_ids=tuple(nics),
            connection=connection,
            custom_dns=custom,
            ip_configs=tuple(configs),
        )
        group = (self.blocks(inst, "private_dns_zone_group") or [None])[0]
        if group is None:
            return
        zone_ids = d.ref_ids(inst, "private_dns_zone_group", 0, "private_dns_zone_ids")
        record_sets: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for block in self.blocks(inst, "private_dns_zone_configs"):
            zid = block.get("private_dns_zone_id")
            for rs in block.get("record_sets") or []:
                if isinstance(rs, Mapping) and rs.get("fqdn"):
                    ips = self.ips(inst, rs.get("ip_addresses"), "private_dns_zone_configs.record_sets.ip_addresses")
                    record_sets.setdefault(id_key(str(zid)), []).append((str(rs["fqdn"]), ips))
        gname = str(group.get("name") or "default")
        gid = group.get("id") if is_arm_id(group.get("id")) else f"{inst.id}/privateDnsZoneGroups/{gname}"
        if not is_arm_id(group.get("id")):
            self.ctx.planned[id_key(gid)] = f"{inst.address} zone group {gname} (to be created: no ID yet)"
        self.facts.append(
            F.ZoneGroup(
                gid,
                self.origin(inst),
                pe_id=inst.id,
                name=gname,
                configs=tuple(F.ZoneConfig(z, tuple(record_sets.get(id_key(z), ()))) for z in zone_ids),
            )
        )

    def _azurerm_private_dns_resolver(self, inst: Instance) -> None:
        self.add(
            F.Resolver,
            inst,
            vnet_id=self.d.ref_id(inst, "virtual_network_id"),
            location=self.d.value(inst, "location"),
        )

    def _azurerm_private_dns_resolver_inbound_endpoint(self, inst: Instance) -> None:
        configs = []
        for i, block in enumerate(self.blocks(inst, "ip_configurations")):
            ip = ip_text(block.get("private_ip_address"))
            if ip:
                configs.append((ip, self.d.ref_id(inst, "ip_configurations", i, "subnet_id")))
        self.add(F.InboundEndpoint, inst, resolver_id=id_parent(inst.id), ip_configs=tuple(configs))

    def _azurerm_private_dns_resolver_dns_forwarding_ruleset(self, inst: Instance) -> None:
        outbound = tuple(self.d.ref_ids(inst, "private_dns_resolver_outbound_endpoint_ids"))
        self.add(F.Ruleset, inst, outbound_ids=outbound, location=self.d.value(inst, "location"))

    def _azurerm_private_dns_resolver_forwarding_rule(self, inst: Instance) -> None:
        targets = []
        for i, block in enumerate(self.blocks(inst, "target_dns_servers")):
            ip = ip_text(block.get("ip_address"))
            port = block.get("port", 53)
            if ip is None or not isinstance(port, int) or not 0 < port < 65536:
                self.ctx.bad(
                    self.origin(inst),
                    inst.id or "",
                    f"values.target_dns_servers[{i}]",
                    f"{dict(block)!r} is not an address and port; left out",
                )
                continue
            targets.append((ip, port))
        enabled = self.d.value(inst, "enabled")
        self.add(
            F.Rule,
            inst,
            ruleset_id=id_parent(inst.id),
            domain=self.d.value(inst, "domain_name"),
            targets=tuple(targets),
            enabled=enabled if isinstance(enabled, bool) else True,
        )

    def _azurerm_local_network_gateway(self, inst: Instance) -> None:
        space = self.d.value(inst, "address_space")
        self.add(F.LocalNetworkGateway, inst, prefixes=self.prefixes(inst, space, "address_space"))

    def _azurerm_private_link_service(self, inst: Instance) -> None:
        self.facts.append(
            F.PrivateLinkService(inst.id, self.origin(inst), name=self.name(inst), alias=self.d.value(inst, "alias"))
        )

    # -- Azure Firewall, Virtual WAN hubs, AKS (facts §12, §14.1) -----------------------------------------

    def _azurerm_firewall(self, inst: Instance) -> None:
        d = self.d
        subnet_id: str | None = None
        address: str | None = None
        for i, block in enumerate(self.blocks(inst, "ip_configuration")):
            sid = d.ref_id(inst, "ip_configuration", i, "subnet_id")
            if sid:
                subnet_id, address = sid, ip_text(block.get("private_ip_address"))
                break
        hub = (self.blocks(inst, "virtual_hub") or [None])[0]
        hub_id = d.ref_id(inst, "virtual_hub", 0, "virtual_hub_id") if hub is not None else None
        if address is None and hub is not None:
            address = ip_text(hub.get("private_ip_address"))
        servers = self.ips(inst, d.value(inst, "dns_servers"), "dns_servers")
        proxy = d.value(inst, "dns_proxy_enabled")
        self.add(
            F.Firewall,
            inst,
            location=d.value(inst, "location"),
            subnet_id=subnet_id,
            hub_id=hub_id,
            private_ip=address,
            policy_id=d.ref_id(inst, "firewall_policy_id"),
            # azurerm turns the proxy on when dns_servers is set (the classic firewall's encoding)
            classic_proxy=proxy is True or bool(servers),
            classic_servers=servers,
        )

    def _azurerm_firewall_policy(self, inst: Instance) -> None:
        dns = (self.blocks(inst, "dns") or [None])[0]
        self.add(
            F.FirewallPolicy,
            inst,
            base_id=self.d.ref_id(inst, "base_policy_id"),
            has_dns=dns is not None,
            enable_proxy=dns.get("proxy_enabled") is True if dns is not None else None,
            servers=self.ips(inst, dns.get("servers"), "dns[0].servers") if dns is not None else None,
        )

    def _azurerm_virtual_hub(self, inst: Instance) -> None:
        prefixes = self.prefixes(inst, self.d.value(inst, "address_prefix"), "address_prefix")
        self.add(
            F.VirtualHub,
            inst,
            location=self.d.value(inst, "location"),
            address_prefix=prefixes[0] if prefixes else None,
        )

    def _azurerm_virtual_hub_connection(self, inst: Instance) -> None:
        self.add(
            F.HubConnection,
            inst,
            hub_id=id_parent(inst.id),
            vnet_id=self.d.ref_id(inst, "remote_virtual_network_id"),
        )

    def _azurerm_kubernetes_cluster(self, inst: Instance) -> None:
        d = self.d
        api = (self.blocks(inst, "api_server_access_profile") or [{}])[0]
        integration = api.get("virtual_network_integration_enabled", api.get("vnet_integration_enabled"))
        subnet = d.ref_id(inst, "default_node_pool", 0, "vnet_subnet_id")
        public = d.value(inst, "private_cluster_public_fqdn_enabled")
        self.add(
            F.ManagedCluster,
            inst,
            location=d.value(inst, "location"),
            private=d.value(inst, "private_cluster_enabled") is True,
            # "System", "None" or a zone ID
            private_dns_zone=d.ref_id(inst, "private_dns_zone_id") or "system",
            public_fqdn_enabled=public if isinstance(public, bool) else None,
            vnet_integration=integration is True,
            dns_prefix=d.value(inst, "dns_prefix") or None,
            # azurerm's dns_prefix_private_cluster is ARM's fqdnSubdomain
            fqdn_subdomain=d.value(inst, "dns_prefix_private_cluster") or None,
            private_fqdn=d.value(inst, "private_fqdn") or None,
            fqdn=d.value(inst, "fqdn") or None,
            subnet_ids=(subnet,) if subnet else (),
        )

    # -- DNS security policies: the azurerm resources a pending provider change proposes (facts §10.2: none
    # -- in azurerm v5.2; azapi_resource is what Terraform users write today, read below) ---------------------

    def _azurerm_private_dns_resolver_policy(self, inst: Instance) -> None:
        self.facts.append(
            F.SecurityPolicy(inst.id, self.origin(inst), name=self.name(inst), location=self.d.value(inst, "location"))
        )

    def _azurerm_private_dns_resolver_security_rule(self, inst: Instance) -> None:
        priority = self.d.value(inst, "priority")
        enabled = self.d.value(inst, "enabled")
        self.add(
            F.SecurityRule,
            inst,
            policy_id=id_parent(inst.id),
            priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
            action=self.d.value(inst, "action") or None,
            list_ids=tuple(self.d.ref_ids(inst, "dns_resolver_domain_list_ids")),
            managed_lists=(),
            enabled=enabled if isinstance(enabled, bool) else True,
        )

    def _azurerm_private_dns_resolver_domain_list(self, inst: Instance) -> None:
        domains = self.d.value(inst, "domains")
        self.add(
            F.DomainList,
            inst,
            location=self.d.value(inst, "location"),
            domains=tuple(str(x) for x in domains if isinstance(x, str)) if isinstance(domains, list) else None,
        )

    def _azapi_resource(self, inst: Instance) -> None:
        rtype = str(self.d.value(inst, "type") or "").split("@")[0]
        body = self.d.value(inst, "body")
        obj = {
            "id": inst.id,
            "type": rtype,
            "name": self.name(inst),
            "location": self.d.value(inst, "location"),
            "properties": body.get("properties", {}) if isinstance(body, Mapping) else {},
        }
        fact = arm.extract(self.ctx, obj, self.origin(inst))
        if fact is not None:
            self.facts.append(fact)


#: IDs are spelled parents first (a link's ID starts with its zone's).
_ID_ORDER = {
    "azurerm_subnet": 1,
    "azurerm_virtual_network_peering": 1,
    "azurerm_private_dns_zone_virtual_network_link": 1,
    **{t: 1 for t in _RECORD_TYPES},
    "azurerm_private_dns_resolver_inbound_endpoint": 1,
    "azurerm_private_dns_resolver_outbound_endpoint": 1,
    "azurerm_private_dns_resolver_dns_forwarding_ruleset": 2,
    "azurerm_private_dns_resolver_forwarding_rule": 3,
    "azurerm_private_dns_resolver_virtual_network_link": 3,
    "azurerm_virtual_network_dns_servers": 1,
    "azurerm_virtual_hub_connection": 1,
    "azurerm_private_dns_resolver_security_rule": 1,
    "azurerm_private_dns_resolver_policy_virtual_network_link": 1,
    "azapi_resource": 4,
}


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _chunks(text: str, size: int = 255) -> list[str]:
    data = text.encode("utf-8")
    return [data[i : i + size].decode("utf-8", "replace") for i in range(0, len(data), size)] or [""]


def parse(doc: Mapping[str, Any], display: str, ctx: Context) -> tuple[str, list[F.Fact]]:
    """(label, facts) of one ``terraform show -json`` document."""
    document = _Document(doc, display, ctx)
    converter = _Converter(document)
    converter.assign_ids()
    for inst in document.instances:
        converter.convert(inst)
    return document.label, converter.facts
