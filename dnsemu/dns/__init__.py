"""DNS itself, independent of Azure: names, record primitives, the wire codec, the client.

Nothing here knows a topology. :mod:`~dnsemu.dns.wire` is the only module that
imports dnslib.
"""
