"""The pure core: topology in, answers out.

Nothing in this package opens a socket, starts an event loop, reads the clock,
logs, or imports dnslib. ``compile_topology`` turns a validated topology into an
immutable :class:`~dnsemu.core.index.Index`; ``resolve`` answers one question
from one source address against it.
"""
