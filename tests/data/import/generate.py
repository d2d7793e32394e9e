"""Writes the import fixtures: the bundled estate's Azure side (zones/topology.yaml), as each
tool would export it. Written in-house from the documented shapes (facts §15); the values
are the bundled estate's, the subscription and resource groups are made up.

    python tests/data/import/generate.py      # rewrites the folders beside this file

Folders:

* ``resource-graph/`` — ``az graph query`` pages of the ``resources`` table (two pages,
  with a skip token), the ``dnsresources`` table, and the az CLI dumps of what Resource
  Graph does not index (zone groups, forwarding rules, ruleset links; §15.3);
* ``arm/`` — ARM REST list responses (``az rest``), nested ``properties``, one
  ``az resource show`` object;
* ``azcli/`` — one file per az CLI command, ``properties`` flattened, IP casing as the
  CLI prints it (``privateIPAddress`` on NICs, ``privateIpAddress`` on resolver endpoints);
* ``terraform-state.json`` — ``terraform show -json`` of an azurerm v5 state, partly in a
  child module;
* ``terraform-plan.json`` — ``terraform show -json`` of an azurerm v4 plan that adds the
  forwarding ruleset, the sandbox link and the svc.contoso.internal zone to an estate that
  has the rest (new resources have no ID; references are in ``configuration``).

The estate's Azure side includes the hub's Azure Firewall (its DNS proxy set in a firewall
policy, facts §12.3; ``azurerm_firewall`` + ``azurerm_firewall_policy`` in Terraform) that
spoke3 asks, spoke2's own ``corp.contoso.com`` zone, and spoke2's DNS security policy with its
domain list (facts §10.2; ``azapi_resource`` in Terraform, which has no azurerm resource for it).

The on-premises sites, the other tenants' resources, what the internet holds (the domain the
policy blocks) and the ``check:`` list are not in any export: ``onprem-overlay.yaml`` holds
them for the tests.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUB = "6f1c2b7e-3d4a-4e5f-9a8b-1c2d3e4f5a6b"
TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
NET, DNS, PE, APPS, DATA = "rg-network", "rg-dns", "rg-endpoints", "rg-apps", "rg-data"
LOCATION = "eastus"


def rid(rg: str, provider: str, *parts: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/{provider}/" + "/".join(parts)


def net_id(*parts: str, rg: str = NET) -> str:
    return rid(rg, "Microsoft.Network", *parts)


# -- the estate ---------------------------------------------------------------------------------------

VNETS = {
    "hub": {
        "space": ["10.0.0.0/16"],
        "subnets": {
            "snet-dns-inbound": "10.0.0.0/28",
            "snet-dns-outbound": "10.0.0.16/28",
            "snet-private-endpoints": "10.0.1.0/24",
            "snet-vms": "10.0.2.0/24",
            "AzureFirewallSubnet": "10.0.4.0/26",
        },
        "dns": [],
        "peers": ["spoke1", "spoke2", "spoke3"],
    },
    "spoke1": {
        "space": ["10.1.0.0/16"],
        "subnets": {"snet-app": "10.1.0.0/24"},
        "dns": ["10.0.0.4"],
        "peers": ["hub"],
        "service_endpoints": {"snet-app": ["Microsoft.Storage"]},
    },
    "spoke2": {"space": ["10.2.0.0/16"], "subnets": {"snet-app": "10.2.0.0/24"}, "dns": [], "peers": ["hub"]},
    # spoke3 asks the hub firewall's DNS proxy
    "spoke3": {"space": ["10.4.0.0/16"], "subnets": {"snet-app": "10.4.0.0/24"}, "dns": ["10.0.4.4"], "peers": ["hub"]},
    "sandbox": {"space": ["10.3.0.0/16"], "subnets": {"snet-lab": "10.3.0.0/24"}, "dns": [], "peers": []},
}
LNGS = {"onprem": (["192.168.0.0/16"], "198.51.100.10"), "branch": (["172.16.0.0/16"], "198.51.100.20")}
VMS = {
    "hub-vm1": ("hub", "snet-vms", "10.0.2.4"),
    "app-vm1": ("spoke1", "snet-app", "10.1.0.4"),
    "app-vm2": ("spoke2", "snet-app", "10.2.0.4"),
    "app-vm3": ("spoke3", "snet-app", "10.4.0.4"),
    "lab-vm1": ("sandbox", "snet-lab", "10.3.0.4"),
}
# zone -> [(link name, vnet, registration, policy)]
ZONES = {
    "privatelink.blob.core.windows.net": [
        ("hub-link", "hub", False, "Default"),
        ("sandbox-link", "sandbox", False, "NxDomainRedirect"),
    ],
    "privatelink.file.core.windows.net": [("hub", "hub", False, "Default")],
    "privatelink.vaultcore.azure.net": [("hub", "hub", False, "Default")],
    "privatelink.database.windows.net": [("hub", "hub", False, "Default")],
    "privatelink.azurecr.io": [("hub", "hub", False, "Default")],
    "privatelink.azurewebsites.net": [("hub", "hub", False, "Default")],
    "azure.contoso.com": [("hub", "hub", True, "Default")],
    "corp.contoso.com": [("spoke2", "spoke2", False, "Default")],
    "svc.contoso.internal": [("hub", "hub", False, "Default")],
}
# zone -> [(name, type, ttl, values, autoregistered)] beside the zone groups' records
RECORDS = {
    "azure.contoso.com": [
        ("build", "CNAME", 300, ["hub-vm1.azure.contoso.com"], False),
        ("hub-vm1", "A", 10, ["10.0.2.4"], True),
    ],
    "corp.contoso.com": [("app", "A", 300, ["10.2.0.50"], False)],
    "svc.contoso.internal": [
        ("api", "A", 300, ["10.0.1.10"], False),
        ("api-v2", "CNAME", 300, ["api.svc.contoso.internal"], False),
        ("_https._tcp", "SRV", 300, [(0, 10, 443, "api.svc.contoso.internal")], False),
        ("@", "TXT", 300, [["owner=platform-team", "pls=partner-api"]], False),
    ],
}
PARTNER_ALIAS = "partner-api.6b3f2a51-9d1e-4c2b-8f4a-0c7d5e9b1a23.eastus.azure.privatelinkservice"
# name -> (target type, target name, group, state, manual, zone, [(fqdn, ip, member)])
ENDPOINTS = {
    "pe-mystorage-blob": (
        "Microsoft.Storage/storageAccounts",
        "mystorage",
        "blob",
        "Approved",
        False,
        "privatelink.blob.core.windows.net",
        [("mystorage.blob.core.windows.net", "10.0.1.4", "blob")],
    ),
    "pe-mystorage-file": (
        "Microsoft.Storage/storageAccounts",
        "mystorage",
        "file",
        "Approved",
        False,
        "privatelink.file.core.windows.net",
        [("mystorage.file.core.windows.net", "10.0.1.5", "file")],
    ),
    "pe-keyvault": (
        "Microsoft.KeyVault/vaults",
        "contoso-kv",
        "vault",
        "Approved",
        False,
        "privatelink.vaultcore.azure.net",
        [("contoso-kv.vault.azure.net", "10.0.1.6", "default")],
    ),
    "pe-sql": (
        "Microsoft.Sql/servers",
        "contoso-sql",
        "sqlServer",
        "Approved",
        False,
        "privatelink.database.windows.net",
        [("contoso-sql.database.windows.net", "10.0.1.7", "sqlServer")],
    ),
    "pe-acr": (
        "Microsoft.ContainerRegistry/registries",
        "contosoacr",
        "registry",
        "Approved",
        False,
        "privatelink.azurecr.io",
        [
            ("contosoacr.azurecr.io", "10.0.1.8", "registry"),
            ("contosoacr.eastus.data.azurecr.io", "10.0.1.9", "registry_data_eastus"),
        ],
    ),
    "pe-webapp": (
        "Microsoft.Web/sites",
        "contoso-web",
        "sites",
        "Approved",
        False,
        "privatelink.azurewebsites.net",
        [
            ("contoso-web.azurewebsites.net", "10.0.1.11", "sites"),
            ("contoso-web.scm.azurewebsites.net", "10.0.1.11", "sites"),
        ],
    ),
    "pe-partner-api": (None, None, None, "Approved", True, None, [(None, "10.0.1.10", None)]),
    "pe-pendingstore": (
        "Microsoft.Storage/storageAccounts",
        "pendingstore",
        "blob",
        "Pending",
        True,
        "privatelink.blob.core.windows.net",
        [("pendingstore.blob.core.windows.net", "10.0.1.12", "blob")],
    ),
}
RESOLVER = ("hub-resolver", "hub", ("in1", "snet-dns-inbound", "10.0.0.4"), ("out1", "snet-dns-outbound"))
RULES = [  # name, domain, targets, enabled
    ("blob", "blob.core.windows.net.", ["10.0.0.4"], True),
    ("file", "file.core.windows.net.", ["10.0.0.4"], True),
    ("vault", "vault.azure.net.", ["10.0.0.4"], True),
    ("vaultcore", "vaultcore.azure.net.", ["10.0.0.4"], True),
    ("sql", "database.windows.net.", ["10.0.0.4"], True),
    ("acr", "azurecr.io.", ["10.0.0.4"], True),
    ("web", "azurewebsites.net.", ["10.0.0.4"], True),
    ("corp", "corp.contoso.com.", ["192.168.1.10"], True),
    ("retired", "old.contoso.com.", ["192.168.1.10"], False),
]
RULESET = ("spoke-rules", [("spoke2-link", "spoke2")])
# the hub's Azure Firewall: its firewall policy turns the DNS proxy on, with no servers (Azure DNS from the hub)
FIREWALL = {"name": "hub-firewall", "vnet": "hub", "ip": "10.0.4.4", "policy": "hub-fw-policy", "servers": []}
# a DNS security policy for spoke2 (facts §10.2): one list, one Block rule, one link
DOMAIN_LISTS = {"blocked-domains": ["malware.example"]}
SECURITY_POLICY = {
    "name": "spoke2-policy",
    "rules": [("block-malware", 100, "Block", ["blocked-domains"])],
    "links": [("spoke2-link", "spoke2")],
}


#: the public service domain of each privatelink zone (Key Vault's differs from its zone's)
PUBLIC_DOMAIN = {"privatelink.vaultcore.azure.net": "vault.azure.net"}


def record_name(fqdn: str, zone: str) -> str:
    """``mystorage.blob.core.windows.net`` in ``privatelink.blob.core.windows.net`` → ``mystorage``."""
    public = PUBLIC_DOMAIN.get(zone, zone.removeprefix("privatelink."))
    return fqdn.removesuffix("." + public)


def private_fqdn(fqdn: str, zone: str) -> str:
    return record_name(fqdn, zone) + "." + zone


# -- ARM shapes (properties nested) ----------------------------------------------------------------


def envelope(id_: str, type_: str, name: str, location: str | None, props: dict[str, Any], rg: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": id_, "name": name, "type": type_}
    if location:
        out["location"] = location
    out["etag"] = 'W/"7d2b9f0c-0000-0100-0000-65f0c0de0000"'
    out["tags"] = {"owner": "platform-team"}
    out["properties"] = {"provisioningState": "Succeeded", **props}
    out["_rg"] = rg
    return out


def arm_vnets() -> list[dict[str, Any]]:
    out = []
    for name, v in VNETS.items():
        vid = net_id("virtualNetworks", name)
        subnets = []
        for sname, prefix in v["subnets"].items():
            sprops: dict[str, Any] = {
                "provisioningState": "Succeeded",
                "addressPrefix": prefix,
                "privateEndpointNetworkPolicies": "Disabled",
                "privateLinkServiceNetworkPolicies": "Enabled",
            }
            if sname in v.get("service_endpoints", {}):
                sprops["serviceEndpoints"] = [
                    {"service": s, "locations": ["eastus", "westus"], "provisioningState": "Succeeded"}
                    for s in v["service_endpoints"][sname]
                ]
            subnets.append(
                {
                    "name": sname,
                    "id": f"{vid}/subnets/{sname}",
                    "etag": 'W/"1"',
                    "type": "Microsoft.Network/virtualNetworks/subnets",
                    "properties": sprops,
                }
            )
        peerings = [
            {
                "name": f"{name}-to-{p}",
                "id": f"{vid}/virtualNetworkPeerings/{name}-to-{p}",
                "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
                "properties": {
                    "provisioningState": "Succeeded",
                    "peeringState": "Connected",
                    "peeringSyncLevel": "FullyInSync",
                    "remoteVirtualNetwork": {"id": net_id("virtualNetworks", p)},
                    "allowVirtualNetworkAccess": True,
                    "allowForwardedTraffic": False,
                    "allowGatewayTransit": name == "hub",
                    "useRemoteGateways": name != "hub",
                    "remoteAddressSpace": {"addressPrefixes": VNETS[p]["space"]},
                },
            }
            for p in v["peers"]
        ]
        props = {
            "resourceGuid": "5b7e9f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "addressSpace": {"addressPrefixes": v["space"]},
            "dhcpOptions": {"dnsServers": v["dns"]},
            "subnets": subnets,
            "virtualNetworkPeerings": peerings,
            "enableDdosProtection": False,
        }
        out.append(envelope(vid, "Microsoft.Network/virtualNetworks", name, LOCATION, props, NET))
    return out


def arm_lngs() -> list[dict[str, Any]]:
    return [
        envelope(
            net_id("localNetworkGateways", name),
            "Microsoft.Network/localNetworkGateways",
            name,
            LOCATION,
            {
                "localNetworkAddressSpace": {"addressPrefixes": prefixes},
                "gatewayIpAddress": gw,
                "resourceGuid": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            },
            NET,
        )
        for name, (prefixes, gw) in LNGS.items()
    ]


def nic_ipconfig(nic_id: str, ip: str, subnet_id: str, primary: bool = True, plcp: dict | None = None) -> dict:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "privateIPAddress": ip,
        "privateIPAllocationMethod": "Dynamic",
        "subnet": {"id": subnet_id},
        "primary": primary,
        "privateIPAddressVersion": "IPv4",
    }
    if plcp:
        props["privateLinkConnectionProperties"] = plcp
    name = "ipconfig1" if plcp is None else plcp["requiredMemberName"] + "-ipconfig"
    return {
        "name": name,
        "id": f"{nic_id}/ipConfigurations/{name}",
        "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
        "properties": props,
    }


def arm_nics() -> list[dict[str, Any]]:
    out = []
    for vm, (vnet, subnet, ip) in VMS.items():
        nid = net_id("networkInterfaces", f"{vm}-nic", rg=APPS)
        props = {
            "ipConfigurations": [nic_ipconfig(nid, ip, net_id("virtualNetworks", vnet, "subnets", subnet))],
            "dnsSettings": {
                "dnsServers": [],
                "appliedDnsServers": VNETS[vnet]["dns"],
                "internalDomainNameSuffix": None,
            },
            "virtualMachine": {"id": rid(APPS, "Microsoft.Compute", "virtualMachines", vm)},
            "primary": True,
            "enableAcceleratedNetworking": False,
            "macAddress": "00-0D-3A-12-34-56",
            "nicType": "Standard",
        }
        props["dnsSettings"].pop("internalDomainNameSuffix")
        out.append(envelope(nid, "Microsoft.Network/networkInterfaces", f"{vm}-nic", LOCATION, props, APPS))
    for pe, (_t, _n, group, _s, _m, _z, members) in ENDPOINTS.items():
        nid = net_id("networkInterfaces", f"{pe}.nic.4f1d", rg=PE)
        configs = []
        for i, (fqdn, ip, member) in enumerate(members):
            plcp = {"groupId": group or "", "requiredMemberName": member or "default", "fqdns": [fqdn] if fqdn else []}
            cfg = nic_ipconfig(
                nid, ip, net_id("virtualNetworks", "hub", "subnets", "snet-private-endpoints"), i == 0, plcp
            )
            configs.append(cfg)
        props = {
            "ipConfigurations": configs,
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "privateEndpoint": {"id": net_id("privateEndpoints", pe, rg=PE)},
            "enableIPForwarding": False,
            "nicType": "Standard",
        }
        out.append(envelope(nid, "Microsoft.Network/networkInterfaces", f"{pe}.nic.4f1d", LOCATION, props, PE))
    return out


def arm_vms() -> list[dict[str, Any]]:
    out = []
    for vm in VMS:
        nid = net_id("networkInterfaces", f"{vm}-nic", rg=APPS)
        props = {
            "vmId": "c0ffee00-1234-4abc-9def-0123456789ab",
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "networkProfile": {"networkInterfaces": [{"id": nid, "properties": {"primary": True}}]},
            "osProfile": {"computerName": vm, "adminUsername": "azureuser"},
        }
        out.append(
            envelope(
                rid(APPS, "Microsoft.Compute", "virtualMachines", vm),
                "Microsoft.Compute/virtualMachines",
                vm,
                LOCATION,
                props,
                APPS,
            )
        )
    return out


def arm_zones() -> list[dict[str, Any]]:
    out = []
    for zone, links in ZONES.items():
        props = {
            "maxNumberOfRecordSets": 25000,
            "numberOfRecordSets": 2,
            "numberOfVirtualNetworkLinks": len(links),
            "numberOfVirtualNetworkLinksWithRegistration": sum(1 for link in links if link[2]),
            "maxNumberOfVirtualNetworkLinks": 1000,
            "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
            "internalId": "SW1wb3J0ZWQgYnkgZG5zZW11",
        }
        out.append(
            envelope(
                net_id("privateDnsZones", zone, rg=DNS), "Microsoft.Network/privateDnsZones", zone, "global", props, DNS
            )
        )
    return out


def arm_zone_links() -> list[dict[str, Any]]:
    out = []
    for zone, links in ZONES.items():
        for lname, vnet, reg, policy in links:
            props = {
                "virtualNetwork": {"id": net_id("virtualNetworks", vnet)},
                "registrationEnabled": reg,
                "resolutionPolicy": policy,
                "virtualNetworkLinkState": "Completed",
            }
            out.append(
                envelope(
                    net_id("privateDnsZones", zone, "virtualNetworkLinks", lname, rg=DNS),
                    "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
                    lname,
                    "global",
                    props,
                    DNS,
                )
            )
    return out


def all_records() -> list[tuple[str, str, str, int, list[Any], bool]]:
    """(zone, name, type, ttl, values, autoregistered) of every record set, zone groups' included."""
    out = []
    for zone, items in RECORDS.items():
        for name, rtype, ttl, values, auto in items:
            out.append((zone, name, rtype, ttl, values, auto))
    for _pe, (_t, _n, _g, _s, _m, zone, members) in ENDPOINTS.items():
        if zone is None:
            continue
        seen = set()
        for fqdn, ip, _member in members:
            name = record_name(fqdn, zone)
            if name not in seen:
                seen.add(name)
                out.append((zone, name, "A", 10, [ip], False))
    out += [(zone, "@", "SOA", 3600, [], False) for zone in ZONES]
    return out


def arm_record_props(rtype: str, ttl: int, values: list[Any], auto: bool, zone: str, name: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ttl": ttl,
        "fqdn": (zone if name == "@" else f"{name}.{zone}") + ".",
        "isAutoRegistered": auto,
    }
    if rtype == "A":
        props["aRecords"] = [{"ipv4Address": v} for v in values]
    elif rtype == "CNAME":
        props["cnameRecord"] = {"cname": values[0]}
    elif rtype == "SRV":
        props["srvRecords"] = [{"priority": p, "weight": w, "port": port, "target": t} for p, w, port, t in values]
    elif rtype == "TXT":
        props["txtRecords"] = [{"value": v} for v in values]
    elif rtype == "SOA":
        props["soaRecord"] = {
            "email": "azureprivatedns-host.microsoft.com",
            "expireTime": 2419200,
            "host": "azureprivatedns.net",
            "minimumTtl": 10,
            "refreshTime": 3600,
            "retryTime": 300,
            "serialNumber": 1,
        }
    return props


def record_id(zone: str, rtype: str, name: str) -> str:
    return net_id("privateDnsZones", zone, rtype, name, rg=DNS)


def arm_records() -> list[dict[str, Any]]:
    out = []
    for zone, name, rtype, ttl, values, auto in all_records():
        props = arm_record_props(rtype, ttl, values, auto, zone, name)
        item = envelope(
            record_id(zone, rtype, name), f"Microsoft.Network/privateDnsZones/{rtype}", name, None, props, DNS
        )
        item["properties"].pop("provisioningState")
        item.pop("tags")
        out.append(item)
    return out


def pe_connection(pe: str) -> dict[str, Any]:
    ttype, tname, group, state, manual, _zone, _members = ENDPOINTS[pe]
    target = PARTNER_ALIAS if ttype is None else rid(DATA, ttype.split("/")[0], ttype.split("/")[1], tname)
    return {
        "name": f"{pe}-connection",
        "id": net_id(
            "privateEndpoints",
            pe,
            "privateLinkServiceConnections" if not manual else "manualPrivateLinkServiceConnections",
            f"{pe}-connection",
            rg=PE,
        ),
        "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
        "properties": {
            "provisioningState": "Succeeded",
            "privateLinkServiceId": target,
            "groupIds": [group] if group else [],
            "requestMessage": "Please approve" if manual else None,
            "privateLinkServiceConnectionState": {
                "status": state,
                "description": "Auto-Approved" if not manual else "",
                "actionsRequired": "None",
            },
        },
    }


def arm_pes() -> list[dict[str, Any]]:
    out = []
    for pe, (_t, _n, _g, _s, manual, zone, members) in ENDPOINTS.items():
        conn = pe_connection(pe)
        props = {
            "subnet": {"id": net_id("virtualNetworks", "hub", "subnets", "snet-private-endpoints")},
            "networkInterfaces": [{"id": net_id("networkInterfaces", f"{pe}.nic.4f1d", rg=PE)}],
            "privateLinkServiceConnections": [] if manual else [conn],
            "manualPrivateLinkServiceConnections": [conn] if manual else [],
            "customNetworkInterfaceName": "",
            "ipConfigurations": [],
            "customDnsConfigs": [] if zone else [{"fqdn": f, "ipAddresses": [ip]} for f, ip, _m in members if f],
            "resourceGuid": "0f1e2d3c-4b5a-4968-8776-655443322110",
        }
        out.append(
            envelope(
                net_id("privateEndpoints", pe, rg=PE), "Microsoft.Network/privateEndpoints", pe, LOCATION, props, PE
            )
        )
    return out


def arm_zone_groups() -> dict[str, list[dict[str, Any]]]:
    """PE name -> its zone groups (one, named default, as the portal makes them)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for pe, (_t, _n, _g, _s, _m, zone, members) in ENDPOINTS.items():
        if zone is None:
            out[pe] = []
            continue
        sets = {}
        for fqdn, ip, _member in members:
            pf = private_fqdn(fqdn, zone)
            sets.setdefault(
                pf,
                {
                    "recordType": "A",
                    "recordSetName": record_name(fqdn, zone),
                    "fqdn": pf,
                    "ttl": 10,
                    "ipAddresses": [ip],
                    "provisioningState": "Succeeded",
                },
            )
        gid = net_id("privateEndpoints", pe, "privateDnsZoneGroups", "default", rg=PE)
        config = {
            "name": zone.replace(".", "-"),
            "properties": {
                "privateDnsZoneId": net_id("privateDnsZones", zone, rg=DNS),
                "recordSets": list(sets.values()),
            },
        }
        group = {
            "name": "default",
            "id": gid,
            "etag": 'W/"3"',
            "type": "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
            "properties": {"provisioningState": "Succeeded", "privateDnsZoneConfigs": [config]},
            "_rg": PE,
        }
        out[pe] = [group]
    return out


def arm_resolver() -> dict[str, list[dict[str, Any]]]:
    name, vnet, (iname, isub, iip), (oname, osub) = RESOLVER
    r_id = net_id("dnsResolvers", name)
    resolver = envelope(
        r_id,
        "Microsoft.Network/dnsResolvers",
        name,
        LOCATION,
        {
            "virtualNetwork": {"id": net_id("virtualNetworks", vnet)},
            "dnsResolverState": "Connected",
            "resourceGuid": "b1b2b3b4-c5c6-4d7d-8e8e-f9f0a1a2a3a4",
        },
        NET,
    )
    inbound = envelope(
        f"{r_id}/inboundEndpoints/{iname}",
        "Microsoft.Network/dnsResolvers/inboundEndpoints",
        iname,
        LOCATION,
        {
            "ipConfigurations": [
                {
                    "subnet": {"id": net_id("virtualNetworks", vnet, "subnets", isub)},
                    "privateIpAddress": iip,
                    "privateIpAllocationMethod": "Static",
                }
            ],
            "resourceGuid": "c1c2c3c4-d5d6-4e7e-8f8f-a9a0b1b2b3b4",
        },
        NET,
    )
    outbound = envelope(
        f"{r_id}/outboundEndpoints/{oname}",
        "Microsoft.Network/dnsResolvers/outboundEndpoints",
        oname,
        LOCATION,
        {
            "subnet": {"id": net_id("virtualNetworks", vnet, "subnets", osub)},
            "resourceGuid": "d1d2d3d4-e5e6-4f7f-8a8a-b9b0c1c2c3c4",
        },
        NET,
    )
    rs_name, links = RULESET
    rs_id = net_id("dnsForwardingRulesets", rs_name)
    ruleset = envelope(
        rs_id,
        "Microsoft.Network/dnsForwardingRulesets",
        rs_name,
        LOCATION,
        {
            "dnsResolverOutboundEndpoints": [{"id": outbound["id"]}],
            "resourceGuid": "e1e2e3e4-f5f6-4a7a-8b8b-c9c0d1d2d3d4",
        },
        NET,
    )
    rules = []
    for rname, domain, targets, enabled in RULES:
        rule = envelope(
            f"{rs_id}/forwardingRules/{rname}",
            "Microsoft.Network/dnsForwardingRulesets/forwardingRules",
            rname,
            None,
            {
                "domainName": domain,
                "targetDnsServers": [{"ipAddress": t, "port": 53} for t in targets],
                "forwardingRuleState": "Enabled" if enabled else "Disabled",
                "metadata": {},
            },
            NET,
        )
        rule.pop("tags")
        rules.append(rule)
    rs_links = []
    for lname, lvnet in links:
        link = envelope(
            f"{rs_id}/virtualNetworkLinks/{lname}",
            "Microsoft.Network/dnsForwardingRulesets/virtualNetworkLinks",
            lname,
            None,
            {"virtualNetwork": {"id": net_id("virtualNetworks", lvnet)}, "metadata": {}},
            NET,
        )
        link.pop("tags")
        rs_links.append(link)
    return {
        "resolvers": [resolver],
        "inbound": [inbound],
        "outbound": [outbound],
        "rulesets": [ruleset],
        "rules": rules,
        "rslinks": rs_links,
    }


def firewall_ids() -> tuple[str, str, str]:
    """(firewall ID, firewall policy ID, the firewall's subnet ID)."""
    return (
        net_id("azureFirewalls", FIREWALL["name"]),
        net_id("firewallPolicies", FIREWALL["policy"]),
        net_id("virtualNetworks", FIREWALL["vnet"], "subnets", "AzureFirewallSubnet"),
    )


def arm_firewall() -> dict[str, list[dict[str, Any]]]:
    """The firewall (ARM shape, facts §12.3) and the firewall policy that holds its DNS settings."""
    fw_id, policy_id, subnet_id = firewall_ids()
    firewall = envelope(
        fw_id,
        "Microsoft.Network/azureFirewalls",
        FIREWALL["name"],
        LOCATION,
        {
            "sku": {"name": "AZFW_VNet", "tier": "Standard"},
            "threatIntelMode": "Alert",
            "additionalProperties": {},
            "ipConfigurations": [
                {
                    "name": "fw-ipconfig",
                    "id": f"{fw_id}/azureFirewallIpConfigurations/fw-ipconfig",
                    "type": "Microsoft.Network/azureFirewalls/azureFirewallIpConfigurations",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAddress": FIREWALL["ip"],
                        "subnet": {"id": subnet_id},
                        "publicIPAddress": {"id": net_id("publicIPAddresses", "pip-hub-firewall")},
                    },
                }
            ],
            "firewallPolicy": {"id": policy_id},
            "networkRuleCollections": [],
            "applicationRuleCollections": [],
            "natRuleCollections": [],
        },
        NET,
    )
    policy = envelope(
        policy_id,
        "Microsoft.Network/firewallPolicies",
        FIREWALL["policy"],
        LOCATION,
        {
            "sku": {"tier": "Standard"},
            "threatIntelMode": "Alert",
            "dnsSettings": {"servers": FIREWALL["servers"], "enableProxy": True, "requireProxyForNetworkRules": True},
            "firewalls": [{"id": fw_id}],
            "childPolicies": [],
            "ruleCollectionGroups": [],
        },
        NET,
    )
    return {"firewalls": [firewall], "policies": [policy]}


def list_id(name: str) -> str:
    return net_id("dnsResolverDomainLists", name, rg=DNS)


def policy_id() -> str:
    return net_id("dnsResolverPolicies", SECURITY_POLICY["name"], rg=DNS)


def arm_security() -> dict[str, list[dict[str, Any]]]:
    """The DNS security policy, its rules and links, and its domain lists (facts §10.2)."""
    lists = [
        envelope(
            list_id(name),
            "Microsoft.Network/dnsResolverDomainLists",
            name,
            LOCATION,
            {"domains": domains, "resourceGuid": "a7b6c5d4-e3f2-4a1b-9c8d-7e6f5a4b3c2d"},
            DNS,
        )
        for name, domains in DOMAIN_LISTS.items()
    ]
    pid = policy_id()
    policy = envelope(
        pid,
        "Microsoft.Network/dnsResolverPolicies",
        SECURITY_POLICY["name"],
        LOCATION,
        {"resourceGuid": "b8c7d6e5-f4a3-4b2c-8d1e-0f9a8b7c6d5e"},
        DNS,
    )
    rules = [
        envelope(
            f"{pid}/dnsSecurityRules/{rname}",
            "Microsoft.Network/dnsResolverPolicies/dnsSecurityRules",
            rname,
            LOCATION,
            {
                "priority": priority,
                "action": {"actionType": action},
                "dnsResolverDomainLists": [{"id": list_id(n)} for n in list_names],
                "dnsSecurityRuleState": "Enabled",
            },
            DNS,
        )
        for rname, priority, action, list_names in SECURITY_POLICY["rules"]
    ]
    links = [
        envelope(
            f"{pid}/virtualNetworkLinks/{lname}",
            "Microsoft.Network/dnsResolverPolicies/virtualNetworkLinks",
            lname,
            LOCATION,
            {"virtualNetwork": {"id": net_id("virtualNetworks", vnet)}},
            DNS,
        )
        for lname, vnet in SECURITY_POLICY["links"]
    ]
    return {"lists": lists, "policies": [policy], "rules": rules, "links": links}


def strip(item: Any) -> Any:
    """Remove the generator's private keys."""
    if isinstance(item, dict):
        return {k: strip(v) for k, v in item.items() if not k.startswith("_")}
    if isinstance(item, list):
        return [strip(v) for v in item]
    return item


# -- Resource Graph -------------------------------------------------------------------------------------


def graph_row(item: dict[str, Any]) -> dict[str, Any]:
    """A `resources` row: ARM shape, lower-case type, the table's extra columns."""
    row = {
        "id": item["id"],
        "name": item["name"],
        "type": item["type"].lower(),
        "tenantId": TENANT,
        "kind": "",
        "location": item.get("location", ""),
        "resourceGroup": item["_rg"].lower(),
        "subscriptionId": SUB,
        "managedBy": "",
        "sku": None,
        "plan": None,
        "properties": strip(item["properties"]),
        "tags": item.get("tags", {}),
        "identity": None,
        "zones": None,
        "extendedLocation": None,
    }
    return row


def dns_row(zone: str, name: str, rtype: str, ttl: int, values: list[Any], auto: bool) -> dict[str, Any]:
    """A `dnsresources` row: the generic records[] array (§15.2)."""
    records: list[dict[str, Any]] = []
    if rtype == "A":
        records = [{"ipv4Address": v} for v in values]
    elif rtype == "CNAME":
        records = [{"cname": values[0]}]
    elif rtype == "SRV":
        records = [{"priority": p, "weight": w, "port": port, "target": t} for p, w, port, t in values]
    elif rtype == "TXT":
        records = [{"value": v} for v in values]
    props: dict[str, Any] = {"ttl": ttl, "fqdn": (zone if name == "@" else f"{name}.{zone}") + ".", "records": records}
    if auto:
        props["virtualNetworkId"] = net_id("virtualNetworks", "hub")
        props["virtualNetworkLinkName"] = "hub"
    return {
        "id": record_id(zone, rtype, name).lower(),
        "name": name,
        "type": f"microsoft.network/privatednszones/{rtype.lower()}",
        "tenantId": TENANT,
        "resourceGroup": DNS,
        "subscriptionId": SUB,
        "managedBy": zone,
        "properties": props,
    }


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def make_resource_graph(folder: Path) -> None:
    resolver = arm_resolver()
    items = [
        *arm_vnets(),
        *arm_lngs(),
        *arm_nics(),
        *arm_vms(),
        *arm_zones(),
        *arm_zone_links(),
        *arm_pes(),
        *resolver["resolvers"],
        *resolver["inbound"],
        *resolver["outbound"],
        *resolver["rulesets"],
        *(item for group in arm_firewall().values() for item in group),
        *(item for group in arm_security().values() for item in group),
    ]
    rows = sorted((graph_row(i) for i in items), key=lambda r: r["id"].lower())
    half = len(rows) // 2
    write_json(
        folder / "resources.0.json",
        {
            "count": half,
            "data": rows[:half],
            "skip_token": "ew0KICAiJGlkIjogIjEiLA0KICAiTWF4Um93cyI6IDMwDQp9",
            "total_records": len(rows),
        },
    )
    write_json(
        folder / "resources.1.json",
        {"count": len(rows) - half, "data": rows[half:], "skip_token": None, "total_records": len(rows)},
    )
    dns = sorted((dns_row(*r) for r in all_records() if r[2] != "SOA"), key=lambda r: r["id"])
    write_json(
        folder / "dnsresources.0.json", {"count": len(dns), "data": dns, "skip_token": None, "total_records": len(dns)}
    )
    # What Resource Graph does not index, dumped with the az CLI (flattened)
    for pe, groups in arm_zone_groups().items():
        write_json(folder / f"zg.{PE}.{pe}.json", [azcli(g) for g in groups])
    write_json(folder / f"rules.{NET}.{RULESET[0]}.json", [azcli(r) for r in resolver["rules"]])
    write_json(folder / f"rslinks.{NET}.{RULESET[0]}.json", [azcli(r) for r in resolver["rslinks"]])


# -- ARM REST -----------------------------------------------------------------------------------------------


def make_arm(folder: Path) -> None:
    resolver = arm_resolver()
    lists = {
        "virtualNetworks": arm_vnets(),
        "localNetworkGateways": arm_lngs(),
        "networkInterfaces": arm_nics(),
        "virtualMachines": arm_vms(),
        "privateDnsZones": arm_zones(),
        "virtualNetworkLinks": arm_zone_links(),
        "recordsets": arm_records(),
        "privateEndpoints": arm_pes(),
        "privateDnsZoneGroups": [g for gs in arm_zone_groups().values() for g in gs],
        "dnsForwardingRulesets": resolver["rulesets"],
        "forwardingRules": resolver["rules"],
        "rulesetVirtualNetworkLinks": resolver["rslinks"],
        "outboundEndpoints": resolver["outbound"],
        "azureFirewalls": arm_firewall()["firewalls"],
        "firewallPolicies": arm_firewall()["policies"],
        "dnsResolverDomainLists": arm_security()["lists"],
        "dnsResolverPolicies": arm_security()["policies"],
        "dnsSecurityRules": arm_security()["rules"],
        "dnsResolverPolicyVirtualNetworkLinks": arm_security()["links"],
    }
    for name, items in lists.items():
        write_json(folder / f"{name}.json", {"value": strip(items)})
    # `az resource show --ids <resolver> <inbound endpoint>` prints one object per ID: here, one file each
    write_json(folder / "show-dnsResolver.json", strip(resolver["resolvers"][0]))
    write_json(folder / "show-inboundEndpoint.json", strip(resolver["inbound"][0]))


# -- az CLI ---------------------------------------------------------------------------------------------------

_NIC_CASING = {"privateIPAddress", "privateIPAllocationMethod", "privateIPAddressVersion"}


def azcli(item: Any, depth: int = 0) -> Any:
    """The CLI's flattening: every `properties` merged into its parent (the CLI does it at every level)."""
    if isinstance(item, list):
        return [azcli(i, depth + 1) for i in item]
    if not isinstance(item, dict):
        return item
    out: dict[str, Any] = {}
    rg = item.get("_rg")
    for k, v in item.items():
        if k.startswith("_"):
            continue
        if k == "properties" and isinstance(v, dict):
            for pk, pv in v.items():
                out[pk] = azcli(pv, depth + 1)
        else:
            out[k] = azcli(v, depth + 1)
    if rg:
        out["resourceGroup"] = rg
    return out


def lower_ip_casing(item: Any) -> Any:
    """Some CLI versions print privateIpAddress (facts §15.5)."""
    if isinstance(item, list):
        return [lower_ip_casing(i) for i in item]
    if isinstance(item, dict):
        return {k.replace("IP", "Ip") if k in _NIC_CASING else k: lower_ip_casing(v) for k, v in item.items()}
    return item


def make_azcli(folder: Path) -> None:
    resolver = arm_resolver()
    write_json(folder / "vnet-list.json", azcli(arm_vnets()))
    write_json(folder / "local-gateway-list.json", azcli(arm_lngs()))
    nics = azcli(arm_nics())
    write_json(folder / "nic-list.json", [lower_ip_casing(n) if n["name"].startswith("pe-") else n for n in nics])
    write_json(folder / "vm-list.json", azcli(arm_vms()))
    write_json(folder / "private-dns-zone-list.json", azcli(arm_zones()))
    links = arm_zone_links()
    records = arm_records()
    for zone in ZONES:
        write_json(
            folder / f"private-dns-link-vnet-list.{zone}.json",
            azcli([link for link in links if f"/privateDnsZones/{zone}/" in link["id"]]),
        )
        zone_records = azcli([r for r in records if f"/privateDnsZones/{zone}/" in r["id"]])
        for r in zone_records:
            r.pop("location", None)
        write_json(folder / f"private-dns-record-set-list.{zone}.json", zone_records)
    write_json(folder / "private-endpoint-list.json", azcli(arm_pes()))
    for pe, groups in arm_zone_groups().items():
        write_json(folder / f"private-endpoint-dns-zone-group-list.{pe}.json", azcli(groups))
    write_json(folder / "dns-resolver-list.json", azcli(resolver["resolvers"]))
    write_json(folder / "dns-resolver-inbound-endpoint-list.json", azcli(resolver["inbound"]))
    write_json(folder / "dns-resolver-outbound-endpoint-list.json", azcli(resolver["outbound"]))
    write_json(folder / "dns-resolver-forwarding-ruleset-list.json", azcli(resolver["rulesets"]))
    write_json(folder / "dns-resolver-forwarding-rule-list.json", azcli(resolver["rules"]))
    write_json(folder / "dns-resolver-vnet-link-list.json", azcli(resolver["rslinks"]))
    # az network firewall (extension azure-firewall), az dns-resolver policy / domain-list (CLI 2.75.0+)
    write_json(folder / "network-firewall-list.json", azcli(arm_firewall()["firewalls"]))
    write_json(folder / "network-firewall-policy-list.json", azcli(arm_firewall()["policies"]))
    security = arm_security()
    write_json(folder / "dns-resolver-domain-list-list.json", azcli(security["lists"]))
    write_json(folder / "dns-resolver-policy-list.json", azcli(security["policies"]))
    write_json(folder / "dns-resolver-policy-dns-security-rule-list.json", azcli(security["rules"]))
    write_json(folder / "dns-resolver-policy-vnet-link-list.json", azcli(security["links"]))


# -- Terraform --------------------------------------------------------------------------------------------------


def tf(address: str, type_: str, name: str, values: dict[str, Any], index: Any = None, mode: str = "managed") -> dict:
    out: dict[str, Any] = {"address": address, "mode": mode, "type": type_, "name": name}
    if index is not None:
        out["index"] = index
    out.update(
        {
            "provider_name": "registry.terraform.io/hashicorp/azurerm",
            "schema_version": 0,
            "values": values,
            "sensitive_values": {},
        }
    )
    return out


def key(text: str) -> str:
    return text.replace(".", "_").replace("-", "_")


def tf_network(v5: bool) -> tuple[list[dict], list[dict]]:
    """(network module resources, root resources) of the estate's networking part."""
    net: list[dict] = []
    for name, v in VNETS.items():
        vid = net_id("virtualNetworks", name)
        subnets = []
        for sname, prefix in v["subnets"].items():
            block: dict[str, Any] = {
                "name": sname,
                "id": f"{vid}/subnets/{sname}",
                "address_prefixes": [prefix],
                "security_group": "",
                "delegation": [],
            }
            eps = v.get("service_endpoints", {}).get(sname, [])
            if v5:
                block["service_endpoint"] = [{"service": s} for s in eps]
            else:
                block["service_endpoints"] = eps
            subnets.append(block)
        net.append(
            tf(
                f'module.network.azurerm_virtual_network.vnet["{name}"]',
                "azurerm_virtual_network",
                "vnet",
                {
                    "id": vid,
                    "name": name,
                    "resource_group_name": NET,
                    "location": LOCATION,
                    "address_space": v["space"],
                    "dns_servers": v["dns"],
                    "subnet": subnets,
                    "tags": {"owner": "platform-team"},
                    "bgp_community": "",
                    "edge_zone": "",
                    "flow_timeout_in_minutes": 0,
                    "guid": "5b7e9f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                    "encryption": [],
                    "ddos_protection_plan": [],
                },
                index=name,
            )
        )
        for p in v["peers"]:
            net.append(
                tf(
                    f'module.network.azurerm_virtual_network_peering.peer["{name}-to-{p}"]',
                    "azurerm_virtual_network_peering",
                    "peer",
                    {
                        "id": f"{vid}/virtualNetworkPeerings/{name}-to-{p}",
                        "name": f"{name}-to-{p}",
                        "resource_group_name": NET,
                        "virtual_network_name": name,
                        "remote_virtual_network_id": net_id("virtualNetworks", p),
                        "allow_virtual_network_access": True,
                        "allow_forwarded_traffic": False,
                        "allow_gateway_transit": name == "hub",
                        "use_remote_gateways": name != "hub",
                    },
                    index=f"{name}-to-{p}",
                )
            )
    root: list[dict] = []
    for name, (prefixes, gw) in LNGS.items():
        root.append(
            tf(
                f"azurerm_local_network_gateway.{name}",
                "azurerm_local_network_gateway",
                name,
                {
                    "id": net_id("localNetworkGateways", name),
                    "name": name,
                    "resource_group_name": NET,
                    "location": LOCATION,
                    "address_space": prefixes,
                    "gateway_address": gw,
                    "gateway_fqdn": "",
                    "bgp_settings": [],
                    "tags": {},
                },
            )
        )
    for vm, (vnet, subnet, ip) in VMS.items():
        nid = net_id("networkInterfaces", f"{vm}-nic", rg=APPS)
        root.append(
            tf(
                f"azurerm_network_interface.{key(vm)}",
                "azurerm_network_interface",
                key(vm),
                {
                    "id": nid,
                    "name": f"{vm}-nic",
                    "resource_group_name": APPS,
                    "location": LOCATION,
                    "ip_configuration": [
                        {
                            "name": "ipconfig1",
                            "primary": True,
                            "private_ip_address": ip,
                            "private_ip_address_allocation": "Dynamic",
                            "private_ip_address_version": "IPv4",
                            "subnet_id": net_id("virtualNetworks", vnet, "subnets", subnet),
                            "public_ip_address_id": "",
                        }
                    ],
                    "dns_servers": [],
                    "internal_domain_name_suffix": "",
                    "mac_address": "00-0D-3A-12-34-56",
                    "private_ip_address": ip,
                    "private_ip_addresses": [ip],
                },
            )
        )
        root.append(
            tf(
                f"azurerm_linux_virtual_machine.{key(vm)}",
                "azurerm_linux_virtual_machine",
                key(vm),
                {
                    "id": rid(APPS, "Microsoft.Compute", "virtualMachines", vm),
                    "name": vm,
                    "resource_group_name": APPS,
                    "location": LOCATION,
                    "size": "Standard_B2s",
                    "network_interface_ids": [nid],
                    "private_ip_address": ip,
                    "admin_username": "azureuser",
                },
            )
        )
    return net, root


def tf_dns(v5: bool) -> list[dict]:
    out: list[dict] = []
    for zone, links in ZONES.items():
        zid = net_id("privateDnsZones", zone, rg=DNS)
        out.append(
            tf(
                f"azurerm_private_dns_zone.{key(zone)}",
                "azurerm_private_dns_zone",
                key(zone),
                {
                    "id": zid,
                    "name": zone,
                    "resource_group_name": DNS,
                    "number_of_record_sets": 2,
                    "max_number_of_record_sets": 25000,
                    "soa_record": [
                        {
                            "email": "azureprivatedns-host.microsoft.com",
                            "expire_time": 2419200,
                            "minimum_ttl": 10,
                            "refresh_time": 3600,
                            "retry_time": 300,
                            "ttl": 3600,
                            "host_name": "azureprivatedns.net",
                            "serial_number": 1,
                            "tags": {},
                        }
                    ],
                    "tags": {},
                },
            )
        )
        for lname, vnet, reg, policy in links:
            values: dict[str, Any] = {
                "id": f"{zid}/virtualNetworkLinks/{lname}",
                "name": lname,
                "virtual_network_id": net_id("virtualNetworks", vnet),
                "registration_enabled": reg,
                "resolution_policy": policy,
                "tags": {},
            }
            if v5:
                values["private_dns_zone_id"] = zid
            else:
                values.update({"private_dns_zone_name": zone, "resource_group_name": DNS})
            out.append(
                tf(
                    f"azurerm_private_dns_zone_virtual_network_link.{key(zone)}_{key(lname)}",
                    "azurerm_private_dns_zone_virtual_network_link",
                    f"{key(zone)}_{key(lname)}",
                    values,
                )
            )
    for zone, items in RECORDS.items():
        zid = net_id("privateDnsZones", zone, rg=DNS)
        for name, rtype, ttl, values, auto in items:
            if auto:
                continue  # autoregistered records are Azure's, not Terraform's
            if rtype == "TXT":
                # azurerm writes one string per TXT record; a record of several strings takes azapi
                body = {"properties": {"ttl": ttl, "txtRecords": [{"value": v} for v in values]}}
                out.append(
                    tf(
                        f"azapi_resource.{key(zone)}_txt",
                        "azapi_resource",
                        f"{key(zone)}_txt",
                        {
                            "id": record_id(zone, rtype, name),
                            "name": name,
                            "parent_id": zid,
                            "type": "Microsoft.Network/privateDnsZones/TXT@2024-06-01",
                            "body": body,
                            "output": {},
                            "locks": None,
                            "ignore_missing_property": True,
                        },
                    )
                )
                continue
            tftype = f"azurerm_private_dns_{rtype.lower()}_record"
            v: dict[str, Any] = {
                "id": record_id(zone, rtype, name),
                "name": name,
                "ttl": ttl,
                "fqdn": (zone if name == "@" else f"{name}.{zone}") + ".",
                "tags": {},
            }
            if v5:
                v["private_dns_zone_id"] = zid
            else:
                v.update({"zone_name": zone, "resource_group_name": DNS})
            if rtype == "A":
                v["records"] = values
            elif rtype == "CNAME":
                v["record"] = values[0]
            elif rtype == "SRV":
                v["record"] = [{"priority": p, "weight": w, "port": port, "target": t} for p, w, port, t in values]
            out.append(tf(f"{tftype}.{key(zone)}_{key(name)}", tftype, f"{key(zone)}_{key(name)}", v))
    return out


def tf_endpoints() -> list[dict]:
    out = []
    snet = net_id("virtualNetworks", "hub", "subnets", "snet-private-endpoints")
    for pe, (ttype, tname, group, _state, manual, zone, members) in ENDPOINTS.items():
        pid = net_id("privateEndpoints", pe, rg=PE)
        conn: dict[str, Any] = {
            "name": f"{pe}-connection",
            "is_manual_connection": manual,
            "private_connection_resource_id": ""
            if ttype is None
            else rid(DATA, ttype.split("/")[0], ttype.split("/")[1], tname),
            "private_connection_resource_alias": PARTNER_ALIAS if ttype is None else "",
            "subresource_names": [group] if group else [],
            "request_message": "Please approve" if manual else "",
            "private_ip_address": members[0][1],
        }
        values: dict[str, Any] = {
            "id": pid,
            "name": pe,
            "resource_group_name": PE,
            "location": LOCATION,
            "subnet_id": snet,
            "custom_network_interface_name": "",
            "private_service_connection": [conn],
            "network_interface": [
                {"id": net_id("networkInterfaces", f"{pe}.nic.4f1d", rg=PE), "name": f"{pe}.nic.4f1d"}
            ],
            "ip_configuration": [],
            "tags": {},
        }
        if zone:
            zid = net_id("privateDnsZones", zone, rg=DNS)
            values["private_dns_zone_group"] = [
                {"id": f"{pid}/privateDnsZoneGroups/default", "name": "default", "private_dns_zone_ids": [zid]}
            ]
            sets = {}
            for fqdn, ip, _member in members:
                pf = private_fqdn(fqdn, zone)
                sets.setdefault(
                    pf, {"name": record_name(fqdn, zone), "type": "A", "fqdn": pf, "ttl": 10, "ip_addresses": [ip]}
                )
            values["private_dns_zone_configs"] = [
                {
                    "name": zone.replace(".", "-"),
                    "id": f"{pid}/privateDnsZoneGroups/default/privateDnsZoneConfigs/{zone.replace('.', '-')}",
                    "private_dns_zone_id": zid,
                    "record_sets": list(sets.values()),
                }
            ]
            values["custom_dns_configs"] = []
        else:
            values["private_dns_zone_group"] = []
            values["private_dns_zone_configs"] = []
            values["custom_dns_configs"] = [{"fqdn": f, "ip_addresses": [ip]} for f, ip, _m in members if f]
        out.append(tf(f'azurerm_private_endpoint.pe["{pe}"]', "azurerm_private_endpoint", "pe", values, index=pe))
    return out


def tf_resolver(ids: bool = True) -> list[dict]:
    name, vnet, (iname, isub, iip), (oname, osub) = RESOLVER
    r_id = net_id("dnsResolvers", name)
    out = [
        tf(
            "azurerm_private_dns_resolver.hub",
            "azurerm_private_dns_resolver",
            "hub",
            {
                "id": r_id,
                "name": name,
                "resource_group_name": NET,
                "location": LOCATION,
                "virtual_network_id": net_id("virtualNetworks", vnet),
                "tags": {},
            },
        ),
        tf(
            "azurerm_private_dns_resolver_inbound_endpoint.in1",
            "azurerm_private_dns_resolver_inbound_endpoint",
            "in1",
            {
                "id": f"{r_id}/inboundEndpoints/{iname}",
                "name": iname,
                "private_dns_resolver_id": r_id,
                "location": LOCATION,
                "ip_configurations": [
                    {
                        "subnet_id": net_id("virtualNetworks", vnet, "subnets", isub),
                        "private_ip_address": iip,
                        "private_ip_allocation_method": "Static",
                    }
                ],
                "tags": {},
            },
        ),
        tf(
            "azurerm_private_dns_resolver_outbound_endpoint.out1",
            "azurerm_private_dns_resolver_outbound_endpoint",
            "out1",
            {
                "id": f"{r_id}/outboundEndpoints/{oname}",
                "name": oname,
                "private_dns_resolver_id": r_id,
                "location": LOCATION,
                "subnet_id": net_id("virtualNetworks", vnet, "subnets", osub),
                "tags": {},
            },
        ),
    ]
    return out


def tf_ruleset() -> list[dict]:
    rs_name, links = RULESET
    rs_id = net_id("dnsForwardingRulesets", rs_name)
    out_id = net_id("dnsResolvers", RESOLVER[0], "outboundEndpoints", RESOLVER[3][0])
    out = [
        tf(
            "azurerm_private_dns_resolver_dns_forwarding_ruleset.spoke",
            "azurerm_private_dns_resolver_dns_forwarding_ruleset",
            "spoke",
            {
                "id": rs_id,
                "name": rs_name,
                "resource_group_name": NET,
                "location": LOCATION,
                "private_dns_resolver_outbound_endpoint_ids": [out_id],
                "tags": {},
            },
        )
    ]
    for rname, domain, targets, enabled in RULES:
        out.append(
            tf(
                f'azurerm_private_dns_resolver_forwarding_rule.rule["{rname}"]',
                "azurerm_private_dns_resolver_forwarding_rule",
                "rule",
                {
                    "id": f"{rs_id}/forwardingRules/{rname}",
                    "name": rname,
                    "dns_forwarding_ruleset_id": rs_id,
                    "domain_name": domain,
                    "enabled": enabled,
                    "metadata": {},
                    "target_dns_servers": [{"ip_address": t, "port": 53} for t in targets],
                },
                index=rname,
            )
        )
    for lname, vnet in links:
        out.append(
            tf(
                f"azurerm_private_dns_resolver_virtual_network_link.{key(lname)}",
                "azurerm_private_dns_resolver_virtual_network_link",
                key(lname),
                {
                    "id": f"{rs_id}/virtualNetworkLinks/{lname}",
                    "name": lname,
                    "dns_forwarding_ruleset_id": rs_id,
                    "virtual_network_id": net_id("virtualNetworks", vnet),
                    "metadata": {},
                },
            )
        )
    return out


def tf_firewall() -> list[dict]:
    """azurerm_firewall with its azurerm_firewall_policy (the policy's dns block holds the proxy)."""
    fw_id, pol_id, subnet_id = firewall_ids()
    return [
        tf(
            "azurerm_firewall_policy.hub",
            "azurerm_firewall_policy",
            "hub",
            {
                "id": pol_id,
                "name": FIREWALL["policy"],
                "resource_group_name": NET,
                "location": LOCATION,
                "sku": "Standard",
                "base_policy_id": "",
                "dns": [{"proxy_enabled": True, "servers": FIREWALL["servers"]}],
                "threat_intelligence_mode": "Alert",
                "firewalls": [fw_id],
                "child_policies": [],
                "rule_collection_groups": [],
                "tags": {},
            },
        ),
        tf(
            "azurerm_firewall.hub",
            "azurerm_firewall",
            "hub",
            {
                "id": fw_id,
                "name": FIREWALL["name"],
                "resource_group_name": NET,
                "location": LOCATION,
                "sku_name": "AZFW_VNet",
                "sku_tier": "Standard",
                "firewall_policy_id": pol_id,
                "dns_servers": None,
                "dns_proxy_enabled": None,
                "threat_intel_mode": "Alert",
                "ip_configuration": [
                    {
                        "name": "fw-ipconfig",
                        "subnet_id": subnet_id,
                        "public_ip_address_id": net_id("publicIPAddresses", "pip-hub-firewall"),
                        "private_ip_address": FIREWALL["ip"],
                    }
                ],
                "management_ip_configuration": [],
                "virtual_hub": [],
                "zones": [],
                "tags": {},
            },
        ),
    ]


def tf_security() -> list[dict]:
    """The DNS security policy as Terraform users write it: azapi_resource (no azurerm resource, facts §10.2)."""
    api = "2025-05-01"
    out = []

    def azapi(address: str, rid_: str, name: str, parent: str, rtype: str, properties: dict[str, Any] | None) -> dict:
        body: dict[str, Any] = {"properties": properties} if properties is not None else {}
        return tf(
            f"azapi_resource.{address}",
            "azapi_resource",
            address,
            {
                "id": rid_,
                "name": name,
                "parent_id": parent,
                "type": f"{rtype}@{api}",
                "location": LOCATION,
                "body": body,
                "output": {},
                "locks": None,
                "ignore_missing_property": True,
                "tags": {},
            },
        )

    rg = f"/subscriptions/{SUB}/resourceGroups/{DNS}"
    for name, domains in DOMAIN_LISTS.items():
        out.append(
            azapi(key(name), list_id(name), name, rg, "Microsoft.Network/dnsResolverDomainLists", {"domains": domains})
        )
    pid = policy_id()
    out.append(
        azapi(
            key(SECURITY_POLICY["name"]),
            pid,
            SECURITY_POLICY["name"],
            rg,
            "Microsoft.Network/dnsResolverPolicies",
            None,
        )
    )
    for rname, priority, action, list_names in SECURITY_POLICY["rules"]:
        props = {
            "priority": priority,
            "action": {"actionType": action},
            "dnsResolverDomainLists": [{"id": list_id(n)} for n in list_names],
            "dnsSecurityRuleState": "Enabled",
        }
        out.append(
            azapi(
                key(rname),
                f"{pid}/dnsSecurityRules/{rname}",
                rname,
                pid,
                "Microsoft.Network/dnsResolverPolicies/dnsSecurityRules",
                props,
            )
        )
    for lname, vnet in SECURITY_POLICY["links"]:
        props = {"virtualNetwork": {"id": net_id("virtualNetworks", vnet)}}
        out.append(
            azapi(
                key(lname),
                f"{pid}/virtualNetworkLinks/{lname}",
                lname,
                pid,
                "Microsoft.Network/dnsResolverPolicies/virtualNetworkLinks",
                props,
            )
        )
    return out


def make_terraform_state(path: Path) -> None:
    net, root = tf_network(v5=True)
    resources = [
        *root,
        *tf_dns(v5=True),
        *tf_endpoints(),
        *tf_resolver(),
        *tf_ruleset(),
        *tf_firewall(),
        *tf_security(),
        tf(
            "azurerm_resource_group.dns",
            "azurerm_resource_group",
            "dns",
            {"id": f"/subscriptions/{SUB}/resourceGroups/{DNS}", "name": DNS, "location": LOCATION, "tags": {}},
        ),
    ]
    doc = {
        "format_version": "1.0",
        "terraform_version": "1.9.8",
        "values": {
            "root_module": {"resources": resources, "child_modules": [{"address": "module.network", "resources": net}]}
        },
    }
    write_json(path, doc)


# what the plan adds: these have no ID yet, and their references are unknown until apply
_NEW_ZONE = "svc.contoso.internal"


def _unknown(values: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in names}


def make_terraform_plan(path: Path) -> None:
    net, root = tf_network(v5=False)
    dns = tf_dns(v5=False)
    new_dns = [r for r in dns if _NEW_ZONE.replace(".", "_") in r["address"] or r["address"].endswith("_sandbox_link")]
    old_dns = [r for r in dns if r not in new_dns]
    for r in new_dns:
        r["values"] = _unknown(
            r["values"],
            "id",
            "fqdn",
            "virtual_network_id",
            "number_of_record_sets",
            "max_number_of_record_sets",
            "soa_record",
            "parent_id",
        )
    ruleset = tf_ruleset()
    for r in ruleset:
        r["values"] = _unknown(r["values"], "id", "dns_forwarding_ruleset_id", "virtual_network_id")
    prior = [*root, *old_dns, *tf_endpoints(), *tf_resolver(), *tf_firewall(), *tf_security()]
    planned = copy.deepcopy([*prior, *new_dns, *ruleset])
    # configuration: the expressions of the new resources (references are what a plan keeps for unknowns)
    zone_key = f"azurerm_private_dns_zone.{key(_NEW_ZONE)}"
    config_resources = []
    for r in new_dns + ruleset:
        expressions: dict[str, Any] = {"name": {"constant_value": r["values"]["name"]}}
        t = r["type"]
        if t == "azurerm_private_dns_zone_virtual_network_link":
            vnet = "sandbox" if r["address"].endswith("_sandbox_link") else "hub"
            expressions["virtual_network_id"] = {
                "references": [f'module.network.vnet_ids["{vnet}"]', "module.network.vnet_ids"]
            }
            if _NEW_ZONE.replace(".", "_") in r["address"]:
                expressions["private_dns_zone_name"] = {"references": [f"{zone_key}.name", zone_key]}
        elif t.startswith("azurerm_private_dns_") and t.endswith("_record"):
            expressions["zone_name"] = {"references": [f"{zone_key}.name", zone_key]}
        elif t == "azapi_resource":
            expressions["parent_id"] = {"references": [f"{zone_key}.id", zone_key]}
        elif t == "azurerm_private_dns_resolver_dns_forwarding_ruleset":
            expressions["private_dns_resolver_outbound_endpoint_ids"] = {
                "references": [
                    "azurerm_private_dns_resolver_outbound_endpoint.out1.id",
                    "azurerm_private_dns_resolver_outbound_endpoint.out1",
                ]
            }
        elif t == "azurerm_private_dns_resolver_forwarding_rule":
            expressions["dns_forwarding_ruleset_id"] = {
                "references": [
                    "azurerm_private_dns_resolver_dns_forwarding_ruleset.spoke.id",
                    "azurerm_private_dns_resolver_dns_forwarding_ruleset.spoke",
                ]
            }
            expressions["name"] = {"references": ["each.key"]}
        elif t == "azurerm_private_dns_resolver_virtual_network_link":
            expressions["dns_forwarding_ruleset_id"] = {
                "references": [
                    "azurerm_private_dns_resolver_dns_forwarding_ruleset.spoke.id",
                    "azurerm_private_dns_resolver_dns_forwarding_ruleset.spoke",
                ]
            }
            expressions["virtual_network_id"] = {
                "references": ['module.network.vnet_ids["spoke2"]', "module.network.vnet_ids"]
            }
        address = r["address"].split("[")[0]
        entry = {
            "address": address,
            "mode": "managed",
            "type": t,
            "name": r["name"],
            "provider_config_key": "azurerm",
            "expressions": expressions,
            "schema_version": 0,
        }
        if entry not in config_resources:
            config_resources.append(entry)
    vnet_config = {
        "address": "azurerm_virtual_network.vnet",
        "mode": "managed",
        "type": "azurerm_virtual_network",
        "name": "vnet",
        "provider_config_key": "azurerm",
        "expressions": {"name": {"references": ["each.key"]}},
        "for_each_expression": {"references": ["var.vnets"]},
    }
    module_call = {
        "source": "./modules/network",
        "expressions": {"vnets": {"references": ["local.vnets"]}},
        "module": {
            "resources": [vnet_config],
            "outputs": {"vnet_ids": {"expression": {"references": ["azurerm_virtual_network.vnet"]}}},
            "variables": {"vnets": {}},
        },
    }
    doc = {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {
            "root_module": {"resources": planned, "child_modules": [{"address": "module.network", "resources": net}]}
        },
        "resource_changes": [
            {
                "address": r["address"],
                "mode": "managed",
                "type": r["type"],
                "name": r["name"],
                "provider_name": r["provider_name"],
                "change": {"actions": ["create"], "before": None, "after": r["values"], "after_unknown": {"id": True}},
            }
            for r in new_dns + ruleset
        ],
        "prior_state": {
            "format_version": "1.0",
            "terraform_version": "1.9.8",
            "values": {
                "root_module": {"resources": prior, "child_modules": [{"address": "module.network", "resources": net}]}
            },
        },
        "configuration": {
            "provider_config": {
                "azurerm": {
                    "name": "azurerm",
                    "full_name": "registry.terraform.io/hashicorp/azurerm",
                    "version_constraint": "~> 4.8",
                }
            },
            "root_module": {"resources": config_resources, "module_calls": {"network": module_call}},
        },
        "timestamp": "2026-09-01T10:00:00Z",
        "applyable": True,
        "complete": True,
        "errored": False,
    }
    write_json(path, doc)


def main() -> None:
    make_resource_graph(HERE / "resource-graph")
    make_arm(HERE / "arm")
    make_azcli(HERE / "azcli")
    make_terraform_state(HERE / "terraform-state.json")
    make_terraform_plan(HERE / "terraform-plan.json")


if __name__ == "__main__":
    main()
