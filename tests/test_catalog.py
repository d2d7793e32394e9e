"""The shipped private endpoint service catalog (dnsemu.catalog): data and loader."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources

import pytest

from dnsemu.catalog import (
    CLOUDS,
    PLACEHOLDERS,
    Catalog,
    CatalogError,
    Endpoint,
    ResolvedEndpoint,
    Service,
)
from dnsemu.dns import names

# Exact row counts of the shipped data, so an accidental deletion fails loudly. The source
# tables have about 95 / 58 / 37 rows; rows listed twice there are kept once, and the
# Government/China AVD row that spans two resource types is split by type.
ROW_COUNTS = {"AzureCloud": 94, "AzureUSGovernment": 58, "AzureChinaCloud": 38}
BALLPARK = {"AzureCloud": (88, 102), "AzureUSGovernment": (52, 64), "AzureChinaCloud": (33, 42)}
# Endpoint entries whose record names are inferred rather than taken from a source.
# (AzureCloud: +5 with facts-2 §14.4-14.5: Fabric's five workspace hosts for one, Grafana's shared sso record)
INFERRED_COUNTS = {"AzureCloud": 73, "AzureUSGovernment": 36, "AzureChinaCloud": 20}

SAMPLE_REGION = {
    "AzureCloud": "eastus",
    "AzureUSGovernment": "usgovvirginia",
    "AzureChinaCloud": "chinanorth3",
}
SAMPLE_VALUES = {"partitionId": "3", "dnsPrefix": "a1b2c3d4e5f6", "subzone": "team1"}

_PH = re.compile(r"\{([A-Za-z]+)\}")


def _all_rows():
    for cloud in CLOUDS:
        for service in Catalog.load(cloud).services:
            yield cloud, service


def _row_id(param):
    cloud, service = param
    return f"{cloud}:{service.resource_type}:{'+'.join(service.group_ids)}:{service.variant}"


ROWS = list(_all_rows())


def _sample_values(cloud: str, **extra: str) -> dict[str, str]:
    cat = Catalog.load(cloud)
    region = SAMPLE_REGION[cloud]
    values = {
        "name": "res1",
        "regionName": region,
        "region": region,
        "regionCode": cat.region_code(region),
        "cachename": "res1",
        "workspaceName": "res1",
        **SAMPLE_VALUES,
    }
    values.update(extra)
    return values


def _fill(template: str, values: dict[str, str]) -> str:
    return names.parse(_PH.sub(lambda m: values[m.group(1)], template))


def _canonical(name: str) -> bool:
    return name.endswith(".") and name == name.lower() and names.parse(name) == name


# ------------------------------------------------------------------------------------------
# loading


def test_clouds_constant():
    assert CLOUDS == ("AzureCloud", "AzureUSGovernment", "AzureChinaCloud")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_cloud_loads_with_exact_row_count(cloud):
    cat = Catalog.load(cloud)
    assert cat.cloud == cloud
    assert len(cat.services) == ROW_COUNTS[cloud]
    low, high = BALLPARK[cloud]
    assert low <= len(cat.services) <= high
    assert all(isinstance(s, Service) and s.cloud == cloud for s in cat.services)


def test_load_is_cached_and_case_insensitive():
    assert Catalog.load() is Catalog.load("AzureCloud")
    assert Catalog.load("azureusgovernment") is Catalog.load("AzureUSGovernment")


def test_unknown_cloud_names_close_match():
    with pytest.raises(CatalogError, match="AzureChinaCloud"):
        Catalog.load("AzureChina")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_data_file_is_plain_json_with_notes(cloud):
    fname = {
        "AzureCloud": "azurecloud.json",
        "AzureUSGovernment": "azureusgovernment.json",
        "AzureChinaCloud": "azurechinacloud.json",
    }[cloud]
    doc = json.loads(resources.files("dnsemu.catalog").joinpath(fname).read_text(encoding="utf-8"))
    assert doc["cloud"] == cloud
    assert len(doc["services"]) == ROW_COUNTS[cloud]
    for row in doc["services"]:
        assert row["notes"].strip(), row["resource_type"]
        assert row["endpoints"], row["resource_type"]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_no_duplicate_lookup_keys(cloud):
    seen = set()
    for service in Catalog.load(cloud).services:
        for gid in service.group_ids:
            key = (service.resource_type.lower(), gid.lower(), service.variant.lower())
            assert key not in seen, key
            seen.add(key)


def test_records_are_frozen_with_slots():
    service = Catalog.load().services[0]
    assert not hasattr(service, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        service.notes = "x"  # type: ignore[misc]
    endpoint = service.endpoints[0]
    assert not hasattr(endpoint, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        endpoint.public = "x."  # type: ignore[misc]
    resolved = Catalog.load().endpoints("Microsoft.Sql/servers", "sqlServer", "db1", "eastus")[0]
    assert isinstance(resolved, ResolvedEndpoint) and not hasattr(resolved, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.public_fqdn = "x."  # type: ignore[misc]


# ------------------------------------------------------------------------------------------
# every row, every cloud


@pytest.mark.parametrize("param", ROWS, ids=_row_id)
def test_row_templates_are_canonical_and_use_known_placeholders(param):
    _cloud, service = param
    templates = [*service.private_zones, *service.public_zones]
    for e in service.endpoints:
        assert isinstance(e, Endpoint)
        templates += [e.public, e.private] + ([e.cluster] if e.cluster else [])
        assert set(e.group_ids) <= set(service.group_ids)
    for t in templates:
        assert t.endswith("."), t
        assert set(_PH.findall(t)) <= PLACEHOLDERS, t
        assert _PH.sub("", t) == _PH.sub("", t).lower(), t
    assert service.group_ids and service.private_zones and service.public_zones
    assert service.category and service.notes


@pytest.mark.parametrize("param", ROWS, ids=_row_id)
def test_every_placeholder_in_every_row_resolves(param):
    cloud, service = param
    values = _sample_values(cloud)
    for t in [*service.private_zones, *service.public_zones]:
        assert _canonical(_fill(t, values)), t
    for e in service.endpoints:
        for t in (e.public, e.private, e.cluster):
            if t:
                assert _canonical(_fill(t, values)), t


@pytest.mark.parametrize("param", ROWS, ids=_row_id)
def test_endpoints_lie_inside_the_row_zones(param):
    cloud, service = param
    cat = Catalog.load(cloud)
    values = _sample_values(cloud)
    private_zones = {_fill(z, values) for z in service.private_zones}
    public_zones = {_fill(z, values) for z in service.public_zones}
    for gid in service.group_ids:
        resolved = cat.endpoints(
            service.resource_type,
            gid,
            "Res1",
            SAMPLE_REGION[cloud],
            variant=service.variant or None,
            **SAMPLE_VALUES,
        )
        assert resolved, (service.resource_type, gid)
        for r in resolved:
            for n in (r.public_fqdn, r.private_fqdn, r.private_zone):
                assert _canonical(n), n
            assert r.cluster is None or _canonical(r.cluster)
            assert r.public_fqdn != r.private_fqdn
            assert r.private_zone in private_zones
            assert names.is_subdomain(r.private_fqdn, r.private_zone)
            longest = max(
                (z for z in private_zones if names.is_subdomain(r.private_fqdn, z)), key=len
            )
            assert r.private_zone == longest
            assert any(names.is_subdomain(r.public_fqdn, z) for z in public_zones), r.public_fqdn
            # The public name is never itself inside a private zone of the row (the CNAME
            # would point into a zone that shadows its own owner name).
            assert not any(names.is_subdomain(r.public_fqdn, z) for z in private_zones), r


@pytest.mark.parametrize("cloud", CLOUDS)
def test_inferred_endpoint_count(cloud):
    inferred = [e for s in Catalog.load(cloud).services for e in s.endpoints if e.inferred]
    assert len(inferred) == INFERRED_COUNTS[cloud]


# ------------------------------------------------------------------------------------------
# special cases


def test_storage_blob_and_secondary():
    cat = Catalog.load()
    (primary,) = cat.endpoints("Microsoft.Storage/storageAccounts", "blob", "GbbStg1", "eastus")
    assert primary == ResolvedEndpoint(
        "gbbstg1.blob.core.windows.net.",
        "gbbstg1.privatelink.blob.core.windows.net.",
        "privatelink.blob.core.windows.net.",
        "blob.eusprdstr01a.store.core.windows.net.",
    )
    (secondary,) = cat.endpoints(
        "microsoft.storage/storageaccounts", "BLOB_SECONDARY", "gbbstg1", "eastus"
    )
    assert secondary.public_fqdn == "gbbstg1-secondary.blob.core.windows.net."
    assert secondary.private_fqdn == "gbbstg1-secondary.privatelink.blob.core.windows.net."
    assert secondary.private_zone == "privatelink.blob.core.windows.net."
    service = cat.find("Microsoft.Storage/storageAccounts", "blob_secondary")
    assert service.group_ids == ("blob", "blob_secondary")


def test_acr_writes_two_records_into_one_zone():
    cat = Catalog.load()
    eps = cat.endpoints(
        "Microsoft.ContainerRegistry/registries", "registry", "MyRegistry", "koreacentral"
    )
    assert [(e.public_fqdn, e.private_fqdn, e.private_zone) for e in eps] == [
        ("myregistry.azurecr.io.", "myregistry.privatelink.azurecr.io.", "privatelink.azurecr.io."),
        (
            "myregistry.koreacentral.data.azurecr.io.",
            "myregistry.koreacentral.data.privatelink.azurecr.io.",
            "privatelink.azurecr.io.",
        ),
    ]
    # The data zone of the table is not a zone of its own.
    service = cat.find("Microsoft.ContainerRegistry/registries", "registry")
    assert service.private_zones == ("privatelink.azurecr.io.",)
    assert "koreacentral.data.privatelink.azurecr.io." not in cat.private_zone_names("koreacentral")


def test_app_service_app_and_scm_records():
    cat = Catalog.load()
    eps = cat.endpoints("Microsoft.Web/sites", "sites", "myapp", "westeurope")
    assert [(e.public_fqdn, e.private_fqdn, e.private_zone) for e in eps] == [
        (
            "myapp.azurewebsites.net.",
            "myapp.privatelink.azurewebsites.net.",
            "privatelink.azurewebsites.net.",
        ),
        (
            "myapp.scm.azurewebsites.net.",
            "myapp.scm.privatelink.azurewebsites.net.",
            "privatelink.azurewebsites.net.",
        ),
    ]
    assert {e.cluster for e in eps} == {"waws-prod-we-001.sip.azurewebsites.windows.net."}
    assert "scm.privatelink.azurewebsites.net." not in cat.private_zone_names()


def test_key_vault_crosses_suffixes():
    (ep,) = Catalog.load().endpoints("Microsoft.KeyVault/vaults", "vault", "Fabrikam", "eastus")
    assert ep == ResolvedEndpoint(
        "fabrikam.vault.azure.net.",
        "fabrikam.privatelink.vaultcore.azure.net.",
        "privatelink.vaultcore.azure.net.",
        "data-prod-eus.vaultcore.azure.net.",
    )
    (gov,) = Catalog.load("AzureUSGovernment").endpoints(
        "Microsoft.KeyVault/vaults", "vault", "kv", None
    )
    assert gov.private_fqdn == "kv.privatelink.vaultcore.usgovcloudapi.net."


def test_cognitive_services_one_record_per_zone():
    eps = Catalog.load().endpoints(
        "Microsoft.CognitiveServices/accounts", "account", "aide-d-msf", None
    )
    assert [(e.private_fqdn, e.private_zone) for e in eps] == [
        (
            "aide-d-msf.privatelink.cognitiveservices.azure.com.",
            "privatelink.cognitiveservices.azure.com.",
        ),
        ("aide-d-msf.privatelink.openai.azure.com.", "privatelink.openai.azure.com."),
        ("aide-d-msf.privatelink.services.ai.azure.com.", "privatelink.services.ai.azure.com."),
    ]
    assert [e.public_fqdn for e in eps] == [
        "aide-d-msf.cognitiveservices.azure.com.",
        "aide-d-msf.openai.azure.com.",
        "aide-d-msf.services.ai.azure.com.",
    ]


def test_sql_kusto_batch_cosmos():
    cat = Catalog.load()
    (sql,) = cat.endpoints("Microsoft.Sql/servers", "sqlServer", "srv", "westus2")
    assert (sql.public_fqdn, sql.private_fqdn, sql.cluster) == (
        "srv.database.windows.net.",
        "srv.privatelink.database.windows.net.",
        "cr1.westus21-a.control.database.windows.net.",
    )
    kusto = cat.endpoints("Microsoft.Kusto/Clusters", "cluster", "adx", "northeurope")
    assert kusto[0].public_fqdn == "adx.northeurope.kusto.windows.net."
    assert kusto[0].private_zone == "privatelink.northeurope.kusto.windows.net."
    # Kusto's storage zones are listed but hold no records of the cluster's endpoint.
    assert all("core.windows.net" not in e.private_zone for e in kusto)
    (batch,) = cat.endpoints("Microsoft.Batch/batchAccounts", "batchAccount", "myaccount", "eastus")
    assert batch.public_fqdn == "myaccount.eastus.batch.azure.com."
    assert batch.private_fqdn == "myaccount.eastus.privatelink.batch.azure.com."
    assert batch.private_zone == "privatelink.batch.azure.com."
    cosmos = cat.endpoints("Microsoft.DocumentDB/databaseAccounts", "Sql", "acct", "eastus")
    assert [e.private_fqdn for e in cosmos] == [
        "acct.privatelink.documents.azure.com.",
        "acct-eastus.privatelink.documents.azure.com.",
    ]


@pytest.mark.parametrize(
    ("cloud", "rtype", "gid"),
    [
        ("AzureCloud", "Microsoft.Kusto/Clusters", "cluster"),
        ("AzureCloud", "Microsoft.RecoveryServices/vaults", "AzureBackup"),
        ("AzureCloud", "Microsoft.Devices/IotHubs", "iotHub"),
        ("AzureUSGovernment", "Microsoft.Insights/privateLinkScopes", "azuremonitor"),
    ],
)
def test_zones_of_other_resources_get_no_endpoints(cloud, rtype, gid):
    cat = Catalog.load(cloud)
    service = cat.find(rtype, gid)
    used = {e.private_zone for e in cat.endpoints(rtype, gid, "x", SAMPLE_REGION[cloud])}
    foreign = [
        z
        for z in service.private_zones
        if "blob" in z or "queue" in z or "table.core" in z or "servicebus" in z
    ]
    assert foreign
    assert not used & set(foreign)


def test_app_service_in_china_and_government():
    gov = Catalog.load("AzureUSGovernment").endpoints("Microsoft.Web/sites", "sites", "app", None)
    assert {e.private_zone for e in gov} == {"privatelink.azurewebsites.us."}
    china = Catalog.load("AzureChinaCloud").endpoints("Microsoft.Web/sites", "sites", "app", None)
    assert {e.private_zone for e in china} == {"privatelink.chinacloudsites.cn."}


def test_redis_enterprise_variants():
    cat = Catalog.load()
    default = cat.find("Microsoft.Cache/RedisEnterprise", "redisEnterprise")
    assert default.variant == "Azure Managed Redis"
    assert default.private_zones == ("privatelink.redis.azure.net.",)
    enterprise = cat.find(
        "microsoft.cache/redisenterprise",
        "redisenterprise",
        variant="azure cache for redis enterprise",
    )
    assert enterprise.private_zones == ("privatelink.redisenterprise.cache.azure.net.",)
    (ep,) = cat.endpoints(
        "Microsoft.Cache/RedisEnterprise",
        "redisEnterprise",
        "cache1",
        "eastus",
        variant="Azure Cache for Redis Enterprise",
    )
    assert ep.public_fqdn == "cache1.eastus.redisenterprise.cache.azure.net."
    with pytest.raises(CatalogError, match="Azure Managed Redis"):
        cat.find(
            "Microsoft.Cache/RedisEnterprise", "redisEnterprise", variant="Azure Managed Rediss"
        )
    with pytest.raises(CatalogError, match="no variants"):
        cat.find("Microsoft.Cache/Redis", "redisCache", variant="x")


# ------------------------------------------------------------------------------------------
# placeholders and errors


def test_missing_placeholder_is_named():
    cat = Catalog.load()
    with pytest.raises(CatalogError, match="partitionId"):
        cat.endpoints("Microsoft.Web/staticSites", "staticSites", "happy-sky-0a1b2c3d4", "eastus")
    eps = cat.endpoints(
        "Microsoft.Web/staticSites", "staticSites", "happy-sky-0a1b2c3d4", None, partitionId="2"
    )
    assert eps[0].private_zone == "privatelink.2.azurestaticapps.net."
    with pytest.raises(CatalogError, match="regionName"):
        cat.endpoints("Microsoft.Kusto/Clusters", "cluster", "adx", None)
    with pytest.raises(CatalogError, match="dnsPrefix"):
        cat.endpoints("Microsoft.Sql/managedInstances", "managedInstance", "mi", "eastus")


def test_unknown_region_for_region_code():
    cat = Catalog.load()
    with pytest.raises(CatalogError, match=r"unknown region 'eastuss'.*eastus"):
        cat.endpoints("Microsoft.Web/sites", "sites", "app", "eastuss")
    # An explicit code works for a region the table does not know.
    eps = cat.endpoints("Microsoft.Web/sites", "sites", "app", "newregion1", regionCode="nr1")
    assert eps[0].cluster == "waws-prod-nr1-001.sip.azurewebsites.windows.net."
    # Rows that do not need the code accept any region.
    assert cat.endpoints("Microsoft.Kusto/Clusters", "cluster", "adx", "newregion1")


def test_unknown_placeholder_keyword():
    with pytest.raises(CatalogError, match="partitionId"):
        Catalog.load().endpoints(
            "Microsoft.Web/staticSites", "staticSites", "x", None, partitionid="2"
        )


def test_bad_name_is_rejected():
    cat = Catalog.load()
    with pytest.raises(CatalogError):
        cat.endpoints("Microsoft.Sql/servers", "sqlServer", "", None)
    with pytest.raises(CatalogError, match="not a valid DNS name"):
        cat.endpoints("Microsoft.Sql/servers", "sqlServer", "a" * 64, None)


def test_unknown_type_names_close_matches():
    cat = Catalog.load()
    with pytest.raises(CatalogError, match=r"Microsoft\.Storage/storageAccounts") as info:
        cat.find("Microsoft.Storage/storageAcounts", "blob")
    assert "unknown resource type" in str(info.value)
    with pytest.raises(CatalogError, match=r"Microsoft\.KeyVault/vaults"):
        cat.endpoints("Microsoft.KeyVault/vault", "vault", "kv", None)


def test_unknown_group_id_names_close_matches():
    cat = Catalog.load()
    with pytest.raises(CatalogError, match=r"close matches: blob") as info:
        cat.find("Microsoft.Storage/storageAccounts", "blobb")
    assert "valid:" in str(info.value)
    with pytest.raises(CatalogError, match="sqlServer"):
        cat.find("Microsoft.Sql/servers", "sqlserverr")


def test_find_is_case_insensitive():
    cat = Catalog.load()
    assert cat.find("MICROSOFT.KEYVAULT/VAULTS", "VAULT") is cat.find(
        "Microsoft.KeyVault/vaults", "vault"
    )
    assert cat.find("Microsoft.DocumentDB/databaseAccounts", "mongodb").group_ids == ("MongoDB",)


# ------------------------------------------------------------------------------------------
# regions


@pytest.mark.parametrize(
    ("region", "code"),
    [
        ("eastus", "eus"),
        ("westeurope", "we"),
        ("uksouth", "uks"),
        ("northeurope", "ne"),
        ("East US", "eus"),
        ("swedencentral", "sdc"),
        ("eastus2", "eus2"),
        ("germanywestcentral", "gwc"),
    ],
)
def test_public_region_codes(region, code):
    assert Catalog.load().region_code(region) == code


def test_region_tables_cover_alz_and_sovereign_clouds():
    public = Catalog.load().regions
    alz = {
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "centraluseuap",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "eastus2euap",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "koreacentral",
        "koreasouth",
        "malaysiasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southeastasia",
        "southindia",
        "spaincentral",
        "swedencentral",
        "swedensouth",
        "switzerlandnorth",
        "switzerlandwest",
        "taiwannorth",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    }
    assert alz <= set(public)
    assert len(public) == 73
    assert len(set(public.values())) == len(public)
    gov = Catalog.load("AzureUSGovernment")
    assert gov.region_code("usgovvirginia") == "ugv"
    assert gov.region_code("US Gov Arizona") == "uga"
    china = Catalog.load("AzureChinaCloud")
    assert china.region_code("chinanorth") == "bjb"
    assert china.region_code("chinaeast2") == "sha2"
    with pytest.raises(TypeError):
        public["x"] = "y"  # type: ignore[index]


def test_unknown_region_names_close_matches():
    with pytest.raises(CatalogError, match="westeurope"):
        Catalog.load().region_code("westeurop")
    with pytest.raises(CatalogError, match="unknown region"):
        Catalog.load("AzureChinaCloud").region_code("eastus")


# ------------------------------------------------------------------------------------------
# zones


def test_private_zone_names():
    cat = Catalog.load()
    plain = cat.private_zone_names()
    assert "privatelink.blob.core.windows.net." in plain
    assert "privatelink-global.wvd.microsoft.com." in plain
    assert not any("{" in z for z in plain)
    assert all(_canonical(z) for z in plain)
    regional = cat.private_zone_names("westeurope")
    assert plain < regional
    assert {
        "privatelink.westeurope.kusto.windows.net.",
        "privatelink.we.backup.windowsazure.com.",
        "privatelink.westeurope.azmk8s.io.",
        "privatelink.westeurope.prometheus.monitor.azure.com.",
        "privatelink.westeurope.azurecontainerapps.io.",
    } <= regional
    assert not any(
        "azurestaticapps" in z and z != "privatelink.azurestaticapps.net." for z in regional
    )
    with pytest.raises(CatalogError, match="unknown region"):
        cat.private_zone_names("mars")


@pytest.mark.parametrize(
    ("cloud", "private", "public"),
    [
        ("AzureCloud", "privatelink.blob.core.windows.net.", "blob.core.windows.net."),
        ("AzureCloud", "PrivateLink.Blob.Core.Windows.Net", "blob.core.windows.net."),
        ("AzureCloud", "privatelink.vaultcore.azure.net.", "vaultcore.azure.net."),
        ("AzureCloud", "privatelink.azurecr.io.", "azurecr.io."),
        ("AzureCloud", "privatelink.database.windows.net.", "database.windows.net."),
        ("AzureCloud", "privatelink-global.wvd.microsoft.com.", "wvd.microsoft.com."),
        ("AzureCloud", "privatelink.eastus.kusto.windows.net.", "eastus.kusto.windows.net."),
        ("AzureCloud", "privatelink.eus.backup.windowsazure.com.", "eus.backup.windowsazure.com."),
        ("AzureCloud", "privatelink.westeurope.azurecontainerapps.io.", "azurecontainerapps.io."),
        ("AzureCloud", "team1.privatelink.eastus.azmk8s.io.", "eastus.azmk8s.io."),
        ("AzureCloud", "privatelink.batch.azure.com.", "batch.azure.com."),
        ("AzureCloud", "privatelink.2.azurestaticapps.net.", "2.azurestaticapps.net."),
        (
            "AzureUSGovernment",
            "privatelink.blob.core.usgovcloudapi.net.",
            "blob.core.usgovcloudapi.net.",
        ),
        ("AzureChinaCloud", "privatelink.signalr.azure.cn.", "signalr.azure.cn."),
    ],
)
def test_public_zone_for(cloud, private, public):
    assert Catalog.load(cloud).public_zone_for(private) == public


def test_public_zone_for_unknown_zone():
    cat = Catalog.load()
    assert cat.public_zone_for("contoso.com.") is None
    assert cat.public_zone_for("privatelink.blob.core.usgovcloudapi.net.") is None
    assert cat.public_zone_for("not a name..") is None


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_private_zone_has_a_public_zone(cloud):
    cat = Catalog.load(cloud)
    for zone in cat.private_zone_names(SAMPLE_REGION[cloud]):
        public = cat.public_zone_for(zone)
        assert public is not None and _canonical(public), zone
        assert not names.is_subdomain(public, zone)


# ------------------------------------------------------------------------------------------
# reserved names and wildcard-ignored domains


def test_reserved_zone_names():
    public = Catalog.load().reserved_zone_names
    assert public == frozenset(
        {
            "azclient.ms.",
            "azure.com.",
            "cloudapp.net.",
            "core.windows.net.",
            "microsoft.com.",
            "msidentity.com.",
            "trafficmanager.net.",
            "windows.net.",
        }
    )
    gov = Catalog.load("AzureUSGovernment").reserved_zone_names
    assert {"core.usgovcloudapi.net.", "usgovcloudapi.net.", "azure.us."} <= gov and len(gov) == 8
    china = Catalog.load("AzureChinaCloud").reserved_zone_names
    assert {"core.chinacloudapi.cn.", "chinacloudapi.cn.", "azure.cn."} <= china and len(china) == 8


@pytest.mark.parametrize("cloud", CLOUDS)
def test_recommended_zones_are_not_reserved(cloud):
    cat = Catalog.load(cloud)
    assert not cat.private_zone_names(SAMPLE_REGION[cloud]) & cat.reserved_zone_names
    assert all(_canonical(n) for n in cat.reserved_zone_names)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_wildcard_ignored_domains_cover_the_zone_table(cloud):
    cat = Catalog.load(cloud)
    derived = set()
    for service in cat.services:
        for zone in (*service.private_zones, *service.public_zones):
            derived.add(".".join(zone[:-1].split(".")[-2:]) + ".")
    assert derived <= cat.wildcard_ignored_domains
    assert all(_canonical(n) and names.label_count(n) == 2 for n in cat.wildcard_ignored_domains)


def test_wildcard_ignored_domain_examples():
    assert {"windows.net.", "azure.com.", "azure.net."} <= Catalog.load().wildcard_ignored_domains
    assert "windowsazure.us." in Catalog.load("AzureUSGovernment").wildcard_ignored_domains
    assert "chinacloudapi.cn." in Catalog.load("AzureChinaCloud").wildcard_ignored_domains
