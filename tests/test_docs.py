"""The topology reference cannot drift: every key is documented, every example loads."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel

from dnsemu.core.compile import compile_topology
from dnsemu.topology import model
from dnsemu.topology.load import load_topology_data

DOC = Path(__file__).resolve().parent.parent / "docs" / "topology.md"


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def model_fields(cls: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    seen = seen or set()
    out = set()
    for name, info in cls.model_fields.items():
        out.add(name)
        stack = [info.annotation]
        while stack:
            current = stack.pop()
            if isinstance(current, type) and issubclass(current, BaseModel) and current not in seen:
                seen.add(current)
                out |= model_fields(current, seen)
            stack.extend(typing.get_args(current))
    return out


def test_every_key_is_documented() -> None:
    text = DOC.read_text()
    missing = sorted(f for f in model_fields(model.Topology) if f"`{f}`" not in text and f"{f}:" not in text)
    assert not missing, f"undocumented topology keys: {missing}"


def deep_merge(into: dict, other: dict) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = value


def test_examples_load_together() -> None:
    blocks = [yaml.safe_load(b) for b in yaml_blocks(DOC.read_text())]
    assert len(blocks) >= 10
    # the first example is a complete estate on its own
    compile_topology(load_topology_data(blocks[0]))
    merged: dict = {}
    for block in blocks:
        deep_merge(merged, block)
    # what the fragments refer to without declaring it
    deep_merge(merged, {
        "virtual_networks": {
            "hub": {"subnets": {"snet-dns-in": {"address_prefix": "10.0.0.0/28"},
                                "snet-vms": {"address_prefix": "10.0.2.0/24"}}},
            "spoke2": {"address_space": ["10.2.0.0/16"]},
            "lab": {"address_space": ["10.9.0.0/16"]},
        },
        "private_dns_zones": {"privatelink.azurecr.io": {}},
    })
    merged["private_dns_zones"]["corp.example"].pop("zone_file")
    compile_topology(load_topology_data(merged))
