"""Kept for ``pytest_plugins = ["dnsemu.pytest_plugin"]``: the plugin lives in :mod:`dnsemu.testing.pytest_plugin`."""

from dnsemu.testing.pytest_plugin import (
    EmulatorPool,
    dnsemu,
    dnsemu_pool,
    dnsemu_settings,
    dnsemu_topology,
    pytest_configure,
)

__all__ = ["EmulatorPool", "dnsemu", "dnsemu_pool", "dnsemu_settings", "dnsemu_topology", "pytest_configure"]
