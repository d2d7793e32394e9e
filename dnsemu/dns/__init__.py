"""DNS itself, independent of Azure: names, record primitives, the wire codec, the client.

Nothing here knows a topology. :mod:`~dnsemu.dns.wire` is the only module that
imports dnslib. :mod:`~dnsemu.dns.client` is the one DNS client (forwarding,
``dnsemu query``, the test fixture), with :mod:`~dnsemu.dns.message` (queries
built, replies read) and :mod:`~dnsemu.dns.addresses` (``HOST:PORT``), all
three on the standard library alone.
"""
