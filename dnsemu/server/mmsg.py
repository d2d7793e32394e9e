"""Batched UDP I/O for Linux: ``recvmmsg(2)`` and ``sendmmsg(2)`` through ctypes.

The per-query cost of a cached answer on loopback is mostly the kernel's: one
``recvmsg`` and one ``sendmsg`` system call per datagram, plus an ``epoll_wait``
per wake-up. :class:`Batch` reads up to ``size`` datagrams with one system call
and sends their replies with one more, the way Knot and BIND's libuv do.

All memory is allocated once: a ring of ``size`` receive slots and ``size`` send
slots, each with its buffer, its iovec and its socket-address storage, laid out
in ctypes arrays whose fields Python reads and writes through ``memoryview``
casts (a slice copy, not a ctypes attribute access, per datagram). A reply goes
back to the address its query came from through its send slot's ``msg_name``,
which points at the query's receive slot: no address is formatted or parsed on
the way back. Send slot ``j`` points at receive slot ``j`` from the start, so a
batch whose every datagram is answered writes no pointer; a slot is pointed
elsewhere only behind a datagram that got no reply here, and put back once sent.
The ``(host, port)`` tuple the handler needs is memoised per raw ``sockaddr``.

On a socket bound to a wildcard address (0.0.0.0, ::) the kernel would choose a
reply's source address by route, and on a host with several addresses that may
not be the one the client asked, which then drops the reply as coming from a
stranger. With ``pktinfo`` each datagram's IP_PKTINFO / IPV6_PKTINFO (the
address it was sent to) is read with it and handed back with its reply.

Nothing here knows DNS. :func:`available` says whether the calls exist (glibc or
musl on Linux); everywhere else the transport keeps its other receive paths.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno
import mmap
import os
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Batch", "available"]

_MSG_DONTWAIT = 0x40
_DATAGRAM = 65536  # receive slot: the largest UDP payload, rounded up
_NAME = 32  # sockaddr slot: sockaddr_in6 (28) rounded up to keep every slot 8-aligned
_NAME_U64 = _NAME // 8
_CONTROL = 64  # ancillary-data slot: one IP_PKTINFO or IPV6_PKTINFO message (32 or 40 octets) fits
_ADDR_MEMO_LIMIT = 4096
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
#: cmsghdr (cmsg_len, cmsg_level, cmsg_type) of an IP_PKTINFO message; its in_pktinfo follows at 16:
#: ipi_ifindex (16-20), ipi_spec_dst (20-24: the source to send from), ipi_addr (24-28: the address asked)
_V4_PKTINFO_HEAD = struct.pack("=Qii", 28, socket.IPPROTO_IP, _IP_PKTINFO)


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_MMSG = ctypes.sizeof(_Mmsghdr)
# indexes into integer views of the arrays: msg_len (uint32) and msg_name (pointer) of an mmsghdr,
# iov_len (size_t) of an iovec
_MMSG_U32, _LEN_U32 = _MMSG // 4, _Mmsghdr.msg_len.offset // 4
_MMSG_U64 = _MMSG // 8
_IOV_U64, _IOV_LEN_U64 = ctypes.sizeof(_Iovec) // 8, _Iovec.iov_len.offset // 8
_CONTROL_U64, _CONTROLLEN_U64 = _Msghdr.msg_control.offset // 8, _Msghdr.msg_controllen.offset // 8


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        recv, send = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    recv.restype = ctypes.c_int
    send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    send.restype = ctypes.c_int
    return libc


_LIBC = _libc()


def available() -> bool:
    """True where recvmmsg/sendmmsg can be called (Linux with a C library that has them)."""
    return _LIBC is not None and ctypes.sizeof(ctypes.c_void_p) == 8


def _decode(family: int, raw: bytes) -> tuple[Any, ...]:
    """The socket module's address tuple for a raw sockaddr."""
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), struct.unpack_from("!H", raw, 2)[0]
    port, flow = struct.unpack_from("!HI", raw, 2)
    scope = struct.unpack_from("=I", raw, 24)[0]
    return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flow, scope


class Batch:
    """Receive and send slots for one socket, allocated once and reused for every batch."""

    def __init__(self, sock: socket.socket, size: int = 64, buffer: int = 4096, *, pktinfo: bool = False) -> None:
        """``pktinfo``: answer each datagram from the address it was sent to (for a socket bound to a
        wildcard address on a host with several, where the kernel would otherwise pick the source by
        route and clients would drop the reply as coming from a stranger)."""
        if not available():
            raise OSError(_errno.ENOSYS, "recvmmsg/sendmmsg are not available here")
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise OSError(_errno.EAFNOSUPPORT, "recvmmsg batches serve IPv4 and IPv6 sockets only")
        self.fd = sock.fileno()
        self.family = sock.family
        self.size = size
        self.buffer = buffer
        self.v4 = sock.family == socket.AF_INET
        self.namelen = 16 if self.v4 else 28
        self._recv = _LIBC.recvmmsg
        self._send = _LIBC.sendmmsg
        # receive slots: a whole datagram each (a query is read whole or not at all), its sender's sockaddr
        # (anonymous mmap: a page costs memory only once a datagram has been written to it, so the 64 KiB
        # slots take a page or two each in practice, not size * 64 KiB)
        self._rmap = mmap.mmap(-1, size * _DATAGRAM)
        self._rbuf = ctypes.c_char.from_buffer(self._rmap)
        self._rnames = ctypes.create_string_buffer(size * _NAME)
        self._riov = (_Iovec * size)()
        self._rmsgs = (_Mmsghdr * size)()
        # send slots: ``buffer`` octets each; a longer reply is handed back to the caller
        self._sbuf = ctypes.create_string_buffer(size * buffer)
        self._siov = (_Iovec * size)()
        self._smsgs = (_Mmsghdr * size)()
        rbuf, sbuf, rnames = (ctypes.addressof(x) for x in (self._rbuf, self._sbuf, self._rnames))
        for i in range(size):
            self._riov[i].iov_base = rbuf + i * _DATAGRAM
            self._riov[i].iov_len = _DATAGRAM
            hdr = self._rmsgs[i].msg_hdr
            hdr.msg_name, hdr.msg_namelen = rnames + i * _NAME, self.namelen
            hdr.msg_iov, hdr.msg_iovlen = ctypes.addressof(self._riov[i]), 1
            self._siov[i].iov_base = sbuf + i * buffer
            hdr = self._smsgs[i].msg_hdr
            # msg_name: receive slot i's sender (:meth:`_point_home`), another's only behind a datagram left unanswered
            hdr.msg_namelen = self.namelen
            hdr.msg_iov, hdr.msg_iovlen = ctypes.addressof(self._siov[i]), 1
        self.pktinfo = pktinfo
        self._rcontrol = ctypes.create_string_buffer(size * _CONTROL if pktinfo else 1)
        rcontrol = ctypes.addressof(self._rcontrol)
        if pktinfo:
            if self.v4:
                sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
            for i in range(size):
                hdr = self._rmsgs[i].msg_hdr
                hdr.msg_control, hdr.msg_controllen = rcontrol + i * _CONTROL, _CONTROL
        self._rcontrol_at = rcontrol
        self._filled = 0  # receive slots the last recvmmsg filled
        self._rmsgs_at = ctypes.addressof(self._rmsgs)
        self._smsgs_at = ctypes.addressof(self._smsgs)
        self._rnames_at = rnames
        # Python's window on the same memory: slices and integer stores, no ctypes attribute per datagram
        self._sview = memoryview(self._sbuf).cast("B")
        self._names = memoryview(self._rnames).cast("B")
        self._names_q = self._names.cast("Q")  # an IPv4 sockaddr's family, port and address: one integer
        self._rlens = memoryview(self._rmsgs).cast("B").cast("I")
        self._slens = memoryview(self._siov).cast("B").cast("Q")
        self._sname_ptrs = memoryview(self._smsgs).cast("B").cast("Q")  # also msg_control and msg_controllen
        self._rwords = memoryview(self._rmsgs).cast("B").cast("Q")
        self._control = memoryview(self._rcontrol).cast("B")
        self._addrs: dict[Any, tuple[Any, ...]] = {}
        # per slot, the indexes a datagram's loop needs, computed once: receive slot i's (i, where its datagram
        # starts, its msg_len in _rlens, its IPv4 sockaddr in _names_q); send slot j's (where its reply starts,
        # its iov_len in _slens, its msg_name in _sname_ptrs)
        self._receives = [(i, i * _DATAGRAM, i * _MMSG_U32 + _LEN_U32, i * _NAME_U64) for i in range(size)]
        self._sends = [(j * buffer, j * _IOV_U64 + _IOV_LEN_U64, j * _MMSG_U64) for j in range(size)]
        self._point_home(size)

    def run(self, handler: Callable[[bytes, Any, bool], Any], later: Callable[[Any, tuple[Any, ...]], None],
            leftover: Callable[[bytes, tuple[Any, ...]], None]) -> int:
        """Read one batch, answer each datagram with ``handler`` and send the replies; the number read.

        ``handler(data, addr, False)`` returns bytes, None (no reply) or something else, which goes to
        ``later(result, addr, ancillary)``. Replies that do not fit a send slot, or that the kernel did
        not take (a full socket buffer), go to ``leftover(reply, addr, ancillary)``. ``ancillary`` is
        what ``socket.sendmsg`` needs to send from the address the query was sent to (with ``pktinfo``;
        an empty list otherwise). Raises OSError when receiving fails with anything but "nothing waiting".
        """
        if self.pktinfo:  # the kernel shortened msg_controllen of the slots it filled last time
            rwords = self._rwords
            for i in range(self._filled):
                rwords[i * _MMSG_U64 + _CONTROLLEN_U64] = _CONTROL
        n = self._recv(self.fd, self._rmsgs_at, self.size, _MSG_DONTWAIT, None)
        self._filled = max(n, 0)
        if n <= 0:
            if n == 0:
                return 0
            err = ctypes.get_errno()
            if err in (_errno.EAGAIN, _errno.EWOULDBLOCK, _errno.EINTR):
                return 0
            raise OSError(err, "recvmmsg: " + os.strerror(err))
        rmap, rlens, names, names_q, addrs = self._rmap, self._rlens, self._names, self._names_q, self._addrs
        sview, slens, sname_ptrs, buffer = self._sview, self._slens, self._sname_ptrs, self.buffer
        v4, namelen, pktinfo, sends = self.v4, self.namelen, self.pktinfo, self._sends
        staged = 0
        moved = False  # a send slot's msg_name points at another receive slot than its own
        for i, start, length_at, name_at in self._receives[:n]:
            data = rmap[start:start + rlens[length_at]]  # bytes, copied once
            key = names_q[name_at] if v4 else names[i * _NAME:i * _NAME + namelen].tobytes()
            addr = addrs.get(key)
            if addr is None:
                addr = self._remember(key, i)
            try:
                reply = handler(data, addr, False)
            except BaseException:  # a handler should not raise; if one does, the replies made still go out
                if staged:
                    self._flush(staged, leftover, moved)
                raise
            if reply.__class__ is bytes:
                size = len(reply)  # type: ignore[arg-type]
                if size > buffer:
                    leftover(reply, addr, self._ancillary(i) if pktinfo else [])
                    continue
                start, length_at, name_at = sends[staged]
                sview[start:start + size] = reply
                slens[length_at] = size
                if staged != i:  # an earlier datagram got no reply here: point this slot at its own query's sender
                    sname_ptrs[name_at] = self._rnames_at + i * _NAME
                    moved = True
                if pktinfo:
                    self._reply_from(i, staged)
                staged += 1
            elif reply is not None:
                later(reply, addr, self._ancillary(i) if pktinfo else [])
        if staged:
            self._flush(staged, leftover, moved)
        return n

    def _flush(self, count: int, leftover: Callable[[bytes, tuple[Any, ...]], None], moved: bool = False) -> None:
        """Send slots 0..count-1; what the kernel does not take goes to ``leftover``. ``moved``: some slot's
        msg_name was pointed away from its own receive slot: put them back once sent."""
        first = 0
        while first < count:
            sent = self._send(self.fd, self._smsgs_at + first * _MMSG, count - first, 0)
            if sent > 0:
                first += sent
                continue
            err = ctypes.get_errno()
            if err == _errno.EINTR:
                continue
            if err in (_errno.EAGAIN, _errno.EWOULDBLOCK, _errno.ENOBUFS):
                break
            first += 1  # this datagram's client is unreachable (an ICMP error): skip it, as sendto would
        for j in range(first, count):
            leftover(*self._staged(j))
        if moved:
            self._point_home(count)

    def _point_home(self, count: int) -> None:
        """Send slots 0..count-1 answer their own receive slots' senders (what a batch answered whole needs)."""
        for j in range(count):
            self._sname_ptrs[j * _MMSG_U64] = self._rnames_at + j * _NAME

    def _staged(self, j: int) -> tuple[bytes, tuple[Any, ...], list[tuple[int, int, bytes]]]:
        start = j * self.buffer
        reply = self._sview[start:start + self._slens[j * _IOV_U64 + _IOV_LEN_U64]].tobytes()
        name = self._sname_ptrs[j * _MMSG_U64] - self._rnames_at
        address = _decode(self.family, self._names[name:name + self.namelen].tobytes())
        return reply, address, self._sent_ancillary(j)

    # -- answering from the address asked (IP_PKTINFO / IPV6_PKTINFO)

    def _packet_info(self, i: int) -> int:
        """Make receive slot ``i``'s packet info fit for sending; its length, 0 when there is none."""
        length = self._rwords[i * _MMSG_U64 + _CONTROLLEN_U64]  # as the kernel left it
        if length and self.v4:
            control, at = self._control, i * _CONTROL
            if control[at:at + 16] != _V4_PKTINFO_HEAD:
                return 0
            # in_pktinfo for sending: any interface (0), from ipi_addr (where the query went)
            control[at + 16:at + 24] = b"\0\0\0\0" + control[at + 24:at + 28]
            return 32  # CMSG_SPACE(sizeof(struct in_pktinfo))
        return length  # IPv6: in6_pktinfo as received (the address asked, the interface) is what sending needs

    def _reply_from(self, i: int, j: int) -> None:
        """Send slot ``j`` carries receive slot ``i``'s packet info back."""
        length = self._packet_info(i)
        swords = self._sname_ptrs
        swords[j * _MMSG_U64 + _CONTROL_U64] = self._rcontrol_at + i * _CONTROL if length else 0
        swords[j * _MMSG_U64 + _CONTROLLEN_U64] = length

    def _ancillary(self, i: int) -> list[tuple[int, int, bytes]]:
        """Receive slot ``i``'s packet info as ``socket.sendmsg`` ancillary data (for replies sent later)."""
        return self._cmsg(i * _CONTROL) if self._packet_info(i) else []

    def _sent_ancillary(self, j: int) -> list[tuple[int, int, bytes]]:
        """Send slot ``j``'s packet info, the same way (for replies the kernel did not take)."""
        words = self._sname_ptrs
        control, length = words[j * _MMSG_U64 + _CONTROL_U64], words[j * _MMSG_U64 + _CONTROLLEN_U64]
        return self._cmsg(control - self._rcontrol_at) if control and length else []

    def _cmsg(self, at: int) -> list[tuple[int, int, bytes]]:
        cmsg_len, level, kind = struct.unpack_from("=Qii", self._control, at)
        return [(level, kind, self._control[at + 16:at + cmsg_len].tobytes())]

    def _remember(self, key: Any, i: int) -> tuple[Any, ...]:
        addr = _decode(self.family, self._names[i * _NAME:i * _NAME + self.namelen].tobytes())
        if len(self._addrs) >= _ADDR_MEMO_LIMIT:
            self._addrs.clear()
        self._addrs[key] = addr
        return addr
