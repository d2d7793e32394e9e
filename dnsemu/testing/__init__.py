"""dnsemu as a test fixture: :class:`Emulator` (threaded or ``async with``) and the pytest plugin.

See :mod:`dnsemu.testing.emulator` for the whole story.
"""

from dnsemu.testing.emulator import AsyncEmulator, ChangeError, Emulator, EmulatorError, QueryResult, Record, load

__all__ = ["AsyncEmulator", "ChangeError", "Emulator", "EmulatorError", "QueryResult", "Record", "load"]
