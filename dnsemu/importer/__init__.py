"""``dnsemu import``: an Azure estate, from the files Azure's tools export, as a dnsemu topology.

Pipeline: :mod:`~dnsemu.importer.files` reads each file safely →
:mod:`~dnsemu.importer.detect` tells the format (:mod:`~dnsemu.importer.resourcegraph`,
:mod:`~dnsemu.importer.arm`, :mod:`~dnsemu.importer.azcli`,
:mod:`~dnsemu.importer.terraform`; :mod:`~dnsemu.importer.live` for ``--azure``) and
states facts → :mod:`~dnsemu.importer.merge` merges them by resource ID →
:mod:`~dnsemu.importer.build` makes the topology, findings and stubs →
:mod:`~dnsemu.importer.emit` writes it. :mod:`dnsemu.cli.imports` is the CLI.

``pipeline.import_files(sources, output)`` returns an :class:`ImportResult` (text of the topology
and its zone files, findings, stubs) without writing anything; ``pipeline.write(result)`` writes
it. Nothing here touches the network except :mod:`~dnsemu.importer.live`.
"""
