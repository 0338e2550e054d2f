"""craft: hand-made frames and raw sockets inside the test namespaces, for the
evasion tests (test_evasion.py). Stdlib only.

Sockets are opened *inside* a network namespace from this process: a helper
thread enters the namespace (setns), opens the socket and leaves; the socket
stays bound to that namespace. So one pytest process can send from the
honeypot namespace and listen in the outside one, with no helper processes
and no start-up delay.

Frame builders return bytes; parse() reads a frame back into a dict.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import random
import socket
import struct
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263

_libc = ctypes.CDLL(None, use_errno=True)


# --------------------------------------------------------------------- namespaces
def in_netns(ns: str, fn, *args, **kw):
    """Runs fn(*args, **kw) in a thread that has entered network namespace ns
    (/run/netns/ns) and returns its result (or raises its exception)."""
    out: dict = {}

    def body():
        fd = os.open("/run/netns/%s" % ns, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, "setns(%s): %s" % (ns, os.strerror(e)))
        finally:
            os.close(fd)
        try:
            out["value"] = fn(*args, **kw)
        except BaseException as e:  # handed to the caller
            out["error"] = e
        # The thread ends here: its namespace goes with it.

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def link_mac(ns: str, ifname: str) -> str:
    r = subprocess.run(["ip", "-n", ns, "-j", "link", "show", ifname], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)[0]["address"]


def packet_socket(ns: str, ifname: str, rcvbuf: int = 16 << 20) -> socket.socket:
    """An AF_PACKET/SOCK_RAW socket for every ethertype, bound to ifname in ns."""

    def make():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            s.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (root)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.bind((ifname, ETH_P_ALL))
        return s

    return in_netns(ns, make)


def inet_socket(ns: str, family=socket.AF_INET, type_=socket.SOCK_STREAM, proto=0) -> socket.socket:
    return in_netns(ns, socket.socket, family, type_, proto)


def abort(sock: socket.socket):
    """Closes a TCP socket with a RST (SO_LINGER 0): no FIN retransmitted later
    into the next test's honeywall."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Sniffer:
    """Every frame an interface receives (not the ones it sends), collected by
    a thread from a bound AF_PACKET socket. Ready as soon as it is built: the
    socket is bound before the constructor returns."""

    def __init__(self, ns: str, ifname: str, keep=None):
        self.sock = packet_socket(ns, ifname)
        self.sock.settimeout(0.05)
        self.keep = keep            # optional predicate(frame) -> bool, to keep memory small in floods
        self.frames: list[bytes] = []
        self.seen = 0               # every received frame, kept or not
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            with self._lock:
                self.seen += 1
                if self.keep is None or self.keep(data):
                    self.frames.append(data)

    def snapshot(self) -> list[bytes]:
        with self._lock:
            return list(self.frames)

    def clear(self):
        with self._lock:
            self.frames.clear()
            self.seen = 0

    def wait_for(self, pred, count=1, timeout=3.0) -> list[bytes]:
        """Waits until count kept frames match pred (or the deadline); returns the matches."""
        deadline = time.monotonic() + timeout
        while True:
            got = [f for f in self.snapshot() if pred(f)]
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.02)

    def close(self):
        self._stop.set()
        self._t.join(2)
        self.sock.close()


class Listener:
    """A TCP listener in a namespace that counts accepted connections by peer."""

    def __init__(self, ns: str, addr: str, port: int, banner: bytes = b"", close_after_banner=True,
                 delay: float = 0.0, linger2: int | None = None):
        """delay: seconds between accept and the banner; linger2: TCP_LINGER2
        (seconds an orphaned connection stays in FIN-WAIT-2) on accepted sockets."""
        self.sock = inet_socket(ns)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.banner = banner
        self.close_after_banner = close_after_banner
        self.delay = delay
        self.linger2 = linger2
        self.accepted: list[tuple[str, int]] = []
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted.append(peer)
            if self.linger2 is not None:
                c.setsockopt(socket.IPPROTO_TCP, 8, self.linger2)  # TCP_LINGER2
            if self.delay:
                time.sleep(self.delay)
            try:
                if self.banner:
                    c.sendall(self.banner)
            except OSError:
                pass
            if self.close_after_banner:
                c.close()
            else:
                with self._lock:
                    self.conns.append(c)

    def peers(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self.accepted)

    def close(self):
        self._stop.set()
        self._t.join(2)
        self.sock.close()
        for c in self.conns:
            abort(c)


# --------------------------------------------------------------------- builders
def mac_bytes(m: str) -> bytes:
    return bytes(int(x, 16) for x in m.split(":"))


def mac_str(b: bytes) -> str:
    return ":".join("%02x" % x for x in b)


def ip_bytes(a: str) -> bytes:
    return socket.inet_aton(a)


def random_mac(rng: random.Random) -> str:
    b = bytearray(rng.randbytes(6))
    b[0] = (b[0] & 0xFE) | 0x02  # unicast, locally administered
    return mac_str(bytes(b))


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(dst: str, src: str, ethertype: int, payload: bytes, vlans=()) -> bytes:
    """vlans: [(tpid, vid), ...] outermost first."""
    hdr = mac_bytes(dst) + mac_bytes(src)
    for tpid, vid in vlans:
        hdr += struct.pack("!HH", tpid, vid & 0x0FFF)
    frame = hdr + struct.pack("!H", ethertype) + payload
    return frame + b"\0" * max(0, 60 - len(frame))


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl=64, ident=None, df=False, mf=False,
         frag_off=0, options=b"", bad_csum=False, tos=0) -> bytes:
    """An IPv4 packet; frag_off in bytes (multiple of 8)."""
    if len(options) % 4:
        options += b"\0" * (4 - len(options) % 4)
    ihl = 5 + len(options) // 4
    ident = random.randrange(1, 65536) if ident is None else ident
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_off // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, ihl * 4 + len(payload), ident, flags, ttl, proto, 0,
                      ip_bytes(src), ip_bytes(dst)) + options
    c = csum(hdr)
    if bad_csum:
        c ^= 0x5A5A
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, length)


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def tcp(src: str, dst: str, sport: int, dport: int, flags=SYN, seq=None, ack=0, payload=b"", window=64240,
        options=b"", bad_csum=False) -> bytes:
    seq = random.randrange(0, 1 << 32) if seq is None else seq
    if len(options) % 4:
        options += b"\1" * (4 - len(options) % 4)
    doff = 5 + len(options) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0) + options
    seg = hdr + payload
    c = csum(_pseudo(src, dst, 6, len(seg)) + seg)
    if bad_csum:
        c ^= 0x5A5A
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src: str, dst: str, sport: int, dport: int, payload=b"", bad_csum=False) -> bytes:
    length = 8 + len(payload)
    d = struct.pack("!HHHH", sport, dport, length, 0) + payload
    c = csum(_pseudo(src, dst, 17, length) + d) or 0xFFFF
    if bad_csum:
        c ^= 0x5A5A
    return d[:6] + struct.pack("!H", c) + d[8:]


def icmp(type_: int, code: int, ident=0, seq=0, payload=b"") -> bytes:
    d = struct.pack("!BBHHH", type_, code, 0, ident, seq) + payload
    return d[:2] + struct.pack("!H", csum(d)) + d[4:]


def icmp_raw(type_: int, code: int, rest: bytes, payload: bytes) -> bytes:
    """ICMP with a 4-byte rest-of-header (errors: unused/MTU) and a body."""
    d = struct.pack("!BBH", type_, code, 0) + rest + payload
    return d[:2] + struct.pack("!H", csum(d)) + d[4:]


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac_bytes(sha) + ip_bytes(spa) + mac_bytes(tha) + ip_bytes(tpa)


def ipv6(src: str, dst: str, nh: int, payload: bytes, hlim=64) -> bytes:
    return (struct.pack("!IHBB", 0x60000000, len(payload), nh, hlim) + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst) + payload)


def udp6(src: str, dst: str, sport: int, dport: int, payload=b"") -> bytes:
    length = 8 + len(payload)
    d = struct.pack("!HHHH", sport, dport, length, 0) + payload
    pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + struct.pack("!IxxxB", length, 17))
    c = csum(pseudo + d) or 0xFFFF
    return d[:6] + struct.pack("!H", c) + d[8:]


def tcp6(src: str, dst: str, sport: int, dport: int, flags=SYN, seq=1) -> bytes:
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 64240, 0, 0)
    pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + struct.pack("!IxxxB", len(hdr), 6))
    c = csum(pseudo + hdr)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:]


def fragments(src: str, dst: str, proto: int, payload: bytes, sizes, ident: int, ttl=64):
    """Splits an IP payload into IPv4 fragments of the given byte sizes
    (each but the last a multiple of 8); the last size may be None (= rest)."""
    out, off = [], 0
    for i, size in enumerate(sizes):
        last = i == len(sizes) - 1
        chunk = payload[off:] if (last and size is None) else payload[off:off + size]
        out.append(ipv4(src, dst, proto, chunk, ttl=ttl, ident=ident, mf=not last or off + len(chunk) < len(payload),
                        frag_off=off))
        off += len(chunk)
    return out


# --------------------------------------------------------------------- parser
def parse(f: bytes) -> dict:
    """The fields the tests look at; missing layers are absent keys."""
    d: dict = {"dst_mac": mac_str(f[0:6]), "src_mac": mac_str(f[6:12])}
    off, et, vlans = 12, None, []
    while off + 2 <= len(f):
        et = struct.unpack("!H", f[off:off + 2])[0]
        if et in (0x8100, 0x88A8) and off + 6 <= len(f):
            vlans.append(struct.unpack("!H", f[off + 2:off + 4])[0] & 0x0FFF)
            off += 4
            continue
        off += 2
        break
    d["ethertype"], d["vlans"] = et, vlans
    if et == 0x0806 and len(f) >= off + 28:
        a = f[off:off + 28]
        d.update(arp_op=struct.unpack("!H", a[6:8])[0], arp_sha=mac_str(a[8:14]), arp_spa=socket.inet_ntoa(a[14:18]),
                 arp_tha=mac_str(a[18:24]), arp_tpa=socket.inet_ntoa(a[24:28]))
    elif et == 0x0800 and len(f) >= off + 20:
        ip = f[off:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        fl = struct.unpack("!H", ip[6:8])[0]
        d.update(ip_src=socket.inet_ntoa(ip[12:16]), ip_dst=socket.inet_ntoa(ip[16:20]), proto=ip[9], ttl=ip[8],
                 ip_id=struct.unpack("!H", ip[4:6])[0], frag_off=(fl & 0x1FFF) * 8, mf=bool(fl & 0x2000),
                 ihl=ihl, ip_len=total)
        l4 = ip[ihl:total]
        if d["frag_off"] == 0:
            if ip[9] in (6, 17) and len(l4) >= 4:
                d["sport"], d["dport"] = struct.unpack("!HH", l4[:4])
            if ip[9] == 6 and len(l4) >= 14:
                d["seq"] = struct.unpack("!I", l4[4:8])[0]
                d["flags"] = l4[13]
            if ip[9] == 1 and len(l4) >= 8:
                d["icmp_type"], d["icmp_code"] = l4[0], l4[1]
                d["icmp_id"] = struct.unpack("!H", l4[4:6])[0]
            d["l4_len"] = len(l4)
    elif et == 0x86DD and len(f) >= off + 40:
        ip = f[off:]
        d.update(ip6_src=socket.inet_ntop(socket.AF_INET6, ip[8:24]), ip6_dst=socket.inet_ntop(socket.AF_INET6, ip[24:40]),
                 nh=ip[6])
        if ip[6] in (6, 17) and len(ip) >= 44:
            d["sport"], d["dport"] = struct.unpack("!HH", ip[40:44])
    return d


def is_ipv4_from(f: bytes, src: str) -> bool:
    return len(f) >= 34 and f[12:14] == b"\x08\x00" and f[26:30] == ip_bytes(src)


def send_all(sock: socket.socket, frames, pace_every=0, pace_s=0.0):
    """Sends frames; on ENOBUFS waits a moment and retries (the veth queue is short)."""
    for i, fr in enumerate(frames):
        while True:
            try:
                sock.send(fr)
                break
            except OSError as e:
                if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                    raise
                time.sleep(0.001)
        if pace_every and (i + 1) % pace_every == 0:
            time.sleep(pace_s)
