#!/usr/bin/python3
"""floodgen: a fast frame generator for the flood and capture-load tests.

Python alone, no compiler and no tcpreplay: the frames are built once, then
written into a PACKET_TX_RING (TPACKET_V2) of an AF_PACKET socket and handed
to the kernel in batches of up to 256 with one send() each, so the per-frame
cost is a slice copy into shared memory. On the 2-vCPU test VM it sends about
200 000 64-byte frames per second into a veth (the kernel's veth path is the
limit, not the Python loop: flipping only the status word of prefilled slots
is no faster).

Frames: Ethernet + IPv4 + UDP (checksum 0, allowed in IPv4) or TCP SYN (with
a correct checksum), padded to --size bytes. With --distinct K, K frames with
random source ports, destination addresses (in --dst-net) and destination
ports are built and sent round-robin (a flood of new 5-tuples); otherwise one
fixed 5-tuple. Every frame carries its sequence number (4 bytes, big endian)
at the start of the UDP payload (UDP only), so a capture can be checked frame
by frame: see count_marked().

Run inside a namespace (as root):
  floodgen.py --ifname hn-out0 --dst-mac 02:.. --src 192.0.2.20 --dst 192.0.2.10 \\
      --dport 9 --size 512 --rate 20000 --count 60000
Prints one JSON object: {"sent": N, "seconds": S, "rate": N/S}.

Stdlib only. Used by test_floods.py, test_faults.py and bench/capture_loss.py.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import mmap
import random
import socket
import struct
import sys
import time

SOL_PACKET = 263
PACKET_VERSION = 10
PACKET_TX_RING = 13
PACKET_LOSS = 14
TPACKET_V2 = 1
TP_STATUS_AVAILABLE = 0
TP_STATUS_SEND_REQUEST = 1
TP_STATUS_WRONG_FORMAT = 4
DATA_OFF = 32            # TPACKET_ALIGN(sizeof(tpacket2_hdr)): frame data in a V2 TX slot
SLOT = 2048              # slot size: any frame up to 1514 bytes
SLOTS = 4096
BATCH = 256
MARK = b"HNFG"           # after the sequence number in every UDP payload
UDP_PORT_OFF = 14 + 20   # UDP header offset (no IP options)


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", "").replace("-", ""))


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def build_frame(dst_mac: bytes, src_mac: bytes, src: str, dst: str, proto: str, sport: int, dport: int,
                size: int, ident: int = 0) -> bytes:
    """One Ethernet/IPv4 frame: proto "udp" (payload = 4-byte seq slot + MARK,
    padded) or "syn" (a TCP SYN). size: whole frame length (at least 60)."""
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    if proto == "syn":
        tcp = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        l4, ipproto = tcp, 6
    else:
        payload_len = max(8, size - 14 - 20 - 8)
        payload = (b"\0\0\0\0" + MARK).ljust(payload_len, b"\xa5")
        l4, ipproto = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, 17
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0, 64, ipproto, 0, s, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frame = dst_mac + src_mac + b"\x08\x00" + ip + l4
    return frame.ljust(max(60, size if proto == "syn" else 0), b"\0")


class TxRing:
    """A PACKET_TX_RING on one interface."""

    def __init__(self, ifname: str):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        self.sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
        block = 4096 * 4
        self.sock.setsockopt(SOL_PACKET, PACKET_TX_RING,
                             struct.pack("IIII", block, SLOTS * SLOT // block, SLOT, SLOTS))
        self.sock.bind((ifname, 0))
        self.mm = mmap.mmap(self.sock.fileno(), SLOTS * SLOT, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.i = 0

    def put(self, frame: bytes, seq: int | None = None):
        off = self.i * SLOT
        mm = self.mm
        while mm[off] not in (TP_STATUS_AVAILABLE, TP_STATUS_WRONG_FORMAT):  # status < 256: low byte
            self.kick()
        base = off + DATA_OFF
        mm[base:base + len(frame)] = frame
        if seq is not None:
            mm[base + UDP_PORT_OFF + 8:base + UDP_PORT_OFF + 12] = struct.pack("!I", seq)
        struct.pack_into("II", mm, off, TP_STATUS_SEND_REQUEST, len(frame))
        self.i = (self.i + 1) % SLOTS

    def kick(self):
        try:
            self.sock.send(b"", socket.MSG_DONTWAIT)
        except OSError:
            pass

    def drain(self, timeout=5.0) -> bool:
        """Kicks until the kernel has taken every queued frame."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.kick()
            if all(self.mm[k * SLOT] in (TP_STATUS_AVAILABLE, TP_STATUS_WRONG_FORMAT) for k in range(SLOTS)):
                return True
            time.sleep(0.01)
        return False


def frames_for(args) -> list[bytes]:
    rnd = random.Random(args.seed)
    random.seed(args.seed)
    dst_mac, src_mac = mac_bytes(args.dst_mac), mac_bytes(args.src_mac)
    if args.distinct <= 1:
        return [build_frame(dst_mac, src_mac, args.src, args.dst, "syn" if args.proto == "syn" else "udp",
                            args.sport, args.dport, args.size)]
    net = ipaddress.ip_network(args.dst_net)
    hosts = int(net.num_addresses)
    out = []
    for k in range(args.distinct):
        proto = args.proto if args.proto != "mix" else ("syn" if k % 2 else "udp")
        dst = str(net.network_address + rnd.randrange(1, hosts - 1)) if hosts > 2 else args.dst
        out.append(build_frame(dst_mac, src_mac, args.src, dst, proto, rnd.randrange(1024, 65536),
                               rnd.randrange(1, 65536), args.size, ident=k))
    return out


def run(args) -> dict:
    frames = frames_for(args)
    ring = TxRing(args.ifname)
    marked = args.distinct <= 1 and args.proto != "syn"
    n = 0
    t0 = time.monotonic()
    end = t0 + args.seconds if args.seconds else None
    total = args.count if args.count else None
    nf = len(frames)
    while True:
        batch = BATCH
        if total is not None:
            batch = min(batch, total - n)
            if batch <= 0:
                break
        if args.rate:
            # pace: no more than rate * elapsed frames sent at any time
            ahead = n + batch - args.rate * (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead / args.rate)
        for _ in range(batch):
            ring.put(frames[n % nf], n if marked else None)
            n += 1
        ring.kick()
        if end is not None and time.monotonic() >= end:
            break
    ok = ring.drain()
    dt = time.monotonic() - t0
    return {"sent": n, "seconds": round(dt, 4), "rate": round(n / dt) if dt > 0 else None, "drained": ok}


def count_marked(path, dport: int | None = None) -> tuple[int, set[int]]:
    """Frames in a pcap file that floodgen sent with sequence numbers: (count,
    set of sequence numbers). dport: only UDP to this port. Stdlib, streaming."""
    count, seqs = 0, set()
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return 0, seqs
        endian = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        rec = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            _, _, incl, _ = rec.unpack(h)
            data = f.read(incl)
            if len(data) < incl:
                break
            if len(data) >= 50 and data[12:14] == b"\x08\x00" and data[23] == 17 and data[46:50] == MARK:
                if dport is not None and int.from_bytes(data[36:38], "big") != dport:
                    continue
                count += 1
                seqs.add(int.from_bytes(data[42:46], "big"))
    return count, seqs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ifname", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src-mac", default=None, help="default: the interface's own")
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", default="192.0.2.1")
    ap.add_argument("--dst-net", default="198.51.100.0/24", help="random destinations (with --distinct)")
    ap.add_argument("--sport", type=int, default=40000)
    ap.add_argument("--dport", type=int, default=9)
    ap.add_argument("--proto", choices=["udp", "syn", "mix"], default="udp")
    ap.add_argument("--size", type=int, default=64, help="frame bytes (UDP; SYNs are 60)")
    ap.add_argument("--distinct", type=int, default=1, help="number of different 5-tuples (round robin)")
    ap.add_argument("--rate", type=float, default=0, help="frames per second (0: as fast as possible)")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.seconds and not args.count:
        ap.error("give --seconds or --count")
    if args.src_mac is None:
        with open("/sys/class/net/%s/address" % args.ifname) as f:
            args.src_mac = f.read().strip()
    print(json.dumps(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
