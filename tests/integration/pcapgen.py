"""pcapgen: writes capture files from frames, for the analysis tests
(test_read.py). Stdlib only; the frames come from craft.py's builders.

write_pcap(path, packets, nano=True)   packets: [(ts_ns, frame) or (ts_ns, frame, wire_len)]
write_pcapng(path, packets)            one Ethernet interface, nanosecond resolution
crafted_packets(t0_ns)                 a mix of every layer `honeynet read` decodes
"""
from __future__ import annotations

import struct

import craft as cr

NS = 1_000_000_000


def _norm(p):
    """(ts_ns, frame, wire_len)."""
    if len(p) == 2:
        return p[0], p[1], len(p[1])
    return p[0], p[1], p[2]


def pcap_bytes(packets, nano=True, linktype=1, snaplen=262144) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for p in packets:
        ts, frame, wire = _norm(p)
        sec, frac = divmod(ts, NS)
        if not nano:
            frac //= 1000
        out.append(struct.pack("<IIII", sec, frac, len(frame), wire) + frame)
    return b"".join(out)


def usec_ns(t: float) -> int:
    """A float time in seconds as ns, rounded to the microsecond (for microsecond pcaps)."""
    sec = int(t)
    return sec * NS + int(round((t - sec) * 1e6)) * 1000


def write_pcap(path, packets, nano=True, linktype=1, snaplen=262144):
    with open(path, "wb") as f:
        f.write(pcap_bytes(packets, nano, linktype, snaplen))
    return str(path)


def _block(btype: int, body: bytes) -> bytes:
    pad = (-len(body)) % 4
    total = 12 + len(body) + pad
    return struct.pack("<II", btype, total) + body + b"\0" * pad + struct.pack("<I", total)


def write_pcapng(path, packets, linktype=1):
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # if_tsresol = 9 (nanoseconds), then opt_endofopt.
    idb = _block(1, struct.pack("<HHI", linktype, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0))
    blocks = [shb, idb]
    for p in packets:
        ts, frame, wire = _norm(p)
        pad = (-len(frame)) % 4
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), wire) + frame + b"\0" * pad
        blocks.append(_block(6, body))
    with open(path, "wb") as f:
        f.write(b"".join(blocks))
    return str(path)


# --------------------------------------------------------------------- a crafted capture
HP_MAC, OUT_MAC = "02:00:00:00:01:02", "02:00:00:00:02:01"
HP, ATT = "10.0.0.2", "192.0.2.66"
HP6, ATT6 = "fd00::2", "2001:db8::66"


def _e(payload: bytes, ethertype=0x0800, src=OUT_MAC, dst=HP_MAC, vlans=()) -> bytes:
    return cr.eth(dst, src, ethertype, payload, vlans=vlans)


def _tcp_in(flags, seq, ack=0, payload=b"", sport=40001, dport=23, ttl=57, ident=None):
    return _e(cr.ipv4(ATT, HP, 6, cr.tcp(ATT, HP, sport, dport, flags=flags, seq=seq, ack=ack, payload=payload),
                      ttl=ttl, ident=ident, df=True))


def _tcp_out(flags, seq, ack=0, payload=b"", sport=23, dport=40001, ident=None):
    return _e(cr.ipv4(HP, ATT, 6, cr.tcp(HP, ATT, sport, dport, flags=flags, seq=seq, ack=ack, payload=payload),
                      ident=ident, df=True), src=HP_MAC, dst=OUT_MAC)


def crafted_packets(t0: int):
    """[(ts_ns, frame[, wire_len])]: a telnet-like TCP stream with out-of-order,
    retransmitted and overlapping segments; IPv4 fragments of a UDP datagram;
    802.1Q and QinQ tagged frames; ARP; ICMP echo and an ICMP error; UDP;
    IPv6 UDP/TCP/ICMPv6; frames captured short of their length (caplen < len)."""
    A, S, F, R, P = cr.ACK, cr.SYN, cr.FIN, cr.RST, cr.PSH
    c, s = 1000, 5000  # client and server ISN
    frames = [
        _e(cr.arp(1, OUT_MAC, ATT, "00:00:00:00:00:00", HP), ethertype=0x0806, dst="ff:ff:ff:ff:ff:ff"),
        _e(cr.arp(2, HP_MAC, HP, OUT_MAC, ATT), ethertype=0x0806, src=HP_MAC, dst=OUT_MAC),
        _tcp_in(S, c, ident=1),
        _tcp_out(S | A, s, c + 1, ident=2),
        _tcp_in(A, c + 1, s + 1, ident=3),
        _tcp_out(P | A, s + 1, c + 1, b"login: ", ident=4),
        # client data: "root\r\n" sent as "ro", "ot\r\n" but the second arrives first
        _tcp_in(P | A, c + 3, s + 8, b"ot\r\n", ident=5),
        _tcp_in(P | A, c + 1, s + 8, b"ro", ident=6),
        _tcp_in(P | A, c + 1, s + 8, b"ro", ident=7),            # retransmission
        _tcp_in(P | A, c + 2, s + 8, b"oot\r", ident=8),         # overlap
        _tcp_out(P | A, s + 8, c + 7, b"Password: ", ident=9),
        _tcp_in(P | A, c + 7, s + 18, b"hunter2\r\n", ident=10),
        _tcp_out(P | A | F, s + 18, c + 16, b"bye\r\n", ident=11),
        _tcp_in(F | A, c + 16, s + 24, ident=12),
        _tcp_out(A, s + 24, c + 17, ident=13),
        _tcp_in(R, c + 17, ident=14),
    ]
    # IPv4 fragments of one UDP datagram (first, middle, last), ident 0x4242.
    dgram = cr.udp(ATT, HP, 5353, 53, b"F" * 60)
    frames += [_e(f) for f in cr.fragments(ATT, HP, 17, dgram, [24, 24, None], ident=0x4242, ttl=50)]
    # VLAN 10, and QinQ 100/20.
    frames.append(_e(cr.ipv4(ATT, HP, 17, cr.udp(ATT, HP, 1234, 161, b"public"), ident=30), vlans=[(0x8100, 10)]))
    frames.append(_e(cr.ipv4(ATT, HP, 6, cr.tcp(ATT, HP, 40002, 22, flags=S, seq=77), ident=31),
                     vlans=[(0x88A8, 100), (0x8100, 20)]))
    # ICMP echo both ways and a port unreachable quoting a UDP datagram.
    frames.append(_e(cr.ipv4(ATT, HP, 1, cr.icmp(8, 0, 0x1234, 1, b"abcdefgh"), ident=40)))
    frames.append(_e(cr.ipv4(HP, ATT, 1, cr.icmp(0, 0, 0x1234, 1, b"abcdefgh"), ident=41), src=HP_MAC, dst=OUT_MAC))
    quoted = cr.ipv4(ATT, HP, 17, cr.udp(ATT, HP, 33434, 33435, b"x" * 8), ident=42)
    frames.append(_e(cr.ipv4(HP, ATT, 1, cr.icmp_raw(3, 3, b"\0\0\0\0", quoted[:28]), ident=43),
                     src=HP_MAC, dst=OUT_MAC))
    # Plain UDP both ways.
    frames.append(_e(cr.ipv4(ATT, HP, 17, cr.udp(ATT, HP, 5000, 53, b"\x12\x34query"), ident=50)))
    frames.append(_e(cr.ipv4(HP, ATT, 17, cr.udp(HP, ATT, 53, 5000, b"\x12\x34answer"), ident=51),
                     src=HP_MAC, dst=OUT_MAC))
    # IPv6: UDP, TCP SYN, ICMPv6 echo request.
    frames.append(_e(cr.ipv6(ATT6, HP6, 17, cr.udp6(ATT6, HP6, 6000, 53, b"six")), ethertype=0x86DD))
    frames.append(_e(cr.ipv6(ATT6, HP6, 6, cr.tcp6(ATT6, HP6, 41000, 23, seq=99)), ethertype=0x86DD))
    echo6 = struct.pack("!BBHHH", 128, 0, 0, 7, 3) + b"ping6"
    frames.append(_e(cr.ipv6(ATT6, HP6, 58, echo6, hlim=255), ethertype=0x86DD))
    packets = [(t0 + i * 1_000_123, f) for i, f in enumerate(frames)]
    # Frames captured short of their wire length: a TCP segment cut in its
    # payload, one cut in its TCP header, one cut in the IP header.
    big = _tcp_in(P | A, c + 16, s + 24, b"Z" * 1000, ident=60)
    t = t0 + len(frames) * 1_000_123
    packets.append((t, big[:100], len(big)))
    packets.append((t + 1000, big[:40], len(big)))
    packets.append((t + 2000, big[:20], len(big)))
    return packets
