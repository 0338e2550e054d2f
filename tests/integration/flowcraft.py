"""flowcraft: crafted captures for the `honeynet flows`/`report` tests and
the tshark side of the comparison. Stdlib only (frame builders from craft.py).

write_pcap(path, frames): frames are (ts_seconds, bytes) or (ts, bytes, wire_len)
for a truncated capture (caplen < wire_len). tshark_conv(path, "tcp"|"udp"|"ip")
parses `tshark -q -z conv,X` into dicts; tshark_stream_bytes() gives the exact
frame and byte counts per tcp.stream/udp.stream and direction (conv tables
round bytes above 10 kB: "2908 kB").
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from collections import defaultdict

import craft as c
import pcapgen

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"


def honeynet_bin() -> str:
    return os.environ.get("HONEYNET_BIN", "/work/main/build/honeynet")


def write_pcap(path, frames):
    """A microsecond pcap; frames (ts_seconds, bytes[, wire_len])."""
    pcapgen.write_pcap(path, [(pcapgen.usec_ns(fr[0]),) + tuple(fr[1:]) for fr in frames], nano=False)


def frame(src_ip, dst_ip, ip_payload_proto, l4, vlans=(), **ipkw):
    """An Ethernet+IPv4 frame; MACs chosen by direction."""
    a_to_b = src_ip < dst_ip
    return c.eth(MAC_B if a_to_b else MAC_A, MAC_A if a_to_b else MAC_B, 0x0800,
                 c.ipv4(src_ip, dst_ip, ip_payload_proto, l4, **ipkw), vlans=vlans)


def tcpf(src, dst, sp, dp, flags, seq, ack=0, payload=b"", vlans=()):
    return frame(src, dst, 6, c.tcp(src, dst, sp, dp, flags=flags, seq=seq, ack=ack, payload=payload), vlans=vlans)


def udpf(src, dst, sp, dp, payload=b"", vlans=()):
    return frame(src, dst, 17, c.udp(src, dst, sp, dp, payload), vlans=vlans)


_SIZE = {"bytes": 1, "kB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3, "TB": 1000 ** 4}


def _bytes(num: str, unit: str) -> tuple[int, int]:
    """(value, unit) of a tshark size cell: the count is in [value, value + unit)
    (tshark truncates: 687742 bytes print as "687 kB"); unit 1 = exact."""
    return int(num) * _SIZE[unit], _SIZE[unit]


def tshark_conv(path, kind: str) -> list[dict]:
    """Rows of `tshark -q -z conv,KIND`: a, b (endpoint text), frames_ab,
    bytes_ab (value, unit), frames_ba, bytes_ba, start (relative s)."""
    out = subprocess.run(["tshark", "-r", str(path), "-q", "-z", "conv,%s" % kind],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = []
    pat = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(\w+)"
                     r"\s+([\d.]+)\s+([\d.]+)\s*$")
    for line in out.splitlines():
        m = pat.match(line.strip())
        if not m:
            continue
        g = m.groups()
        rows.append({"a": g[0], "b": g[1],
                     "frames_ba": int(g[2]), "bytes_ba": _bytes(g[3], g[4]),
                     "frames_ab": int(g[5]), "bytes_ab": _bytes(g[6], g[7]),
                     "start": float(g[11]), "duration": float(g[12])})
    return rows


def tshark_stream_bytes(path, proto: str) -> dict:
    """Exact per-stream counts: {stream: {(src, sport): [frames, bytes]}} from
    `tshark -T fields` for tcp or udp."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y", proto, "-T", "fields", "-e", "%s.stream" % proto,
                          "-e", "ip.src", "-e", "%s.srcport" % proto, "-e", "frame.len"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    res: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[0]:
            continue
        stream, src, sport, flen = parts[0], parts[1].split(",")[-1], parts[2], parts[3]
        d = res[int(stream)][(src, int(sport))]
        d[0] += 1
        d[1] += int(flen)
    return res


def flows_json(paths, *args) -> list[dict]:
    p = subprocess.run([honeynet_bin(), "flows", "--json", *args, *[str(x) for x in paths]],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, "honeynet flows failed (%d): %s" % (p.returncode, p.stderr)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def endpoint(ip, port=None) -> str:
    return ip if port is None else "%s:%d" % (ip, port)


def match_conv(flows: list[dict], conv: list[dict], proto: str) -> list[str]:
    """Differences between our flows of proto and tshark's conversation rows
    (matched by endpoint pair, in order of start time). Empty when they agree."""
    ours = [f for f in flows if f["proto"] == proto]
    ours.sort(key=lambda f: f["first"])
    diffs = []
    used = set()
    for row in sorted(conv, key=lambda r: r["start"]):
        cand = None
        for i, f in enumerate(ours):
            if i in used:
                continue
            s, d = endpoint(f["src_ip"], f.get("src_port")), endpoint(f["dest_ip"], f.get("dest_port"))
            if {s, d} == {row["a"], row["b"]}:
                cand = i
                break
        if cand is None:
            diffs.append("tshark has %s <-> %s, honeynet flows does not" % (row["a"], row["b"]))
            continue
        used.add(cand)
        f = ours[cand]
        s = endpoint(f["src_ip"], f.get("src_port"))
        fw = (f["pkts_toserver"], f["bytes_toserver"])
        bw = (f["pkts_toclient"], f["bytes_toclient"])
        ab, ba = (fw, bw) if s == row["a"] else (bw, fw)
        for name, mine, frames, (val, unit) in (("A->B", ab, row["frames_ab"], row["bytes_ab"]),
                                               ("B->A", ba, row["frames_ba"], row["bytes_ba"])):
            if mine[0] != frames or not 0 <= mine[1] - val < unit:
                diffs.append("%s <-> %s %s: honeynet %d frames %d bytes, tshark %d frames %d bytes (unit %d)"
                             % (row["a"], row["b"], name, mine[0], mine[1], frames, val, unit))
    for i, f in enumerate(ours):
        if i not in used:
            diffs.append("honeynet has %s %s:%s -> %s:%s, tshark does not" % (proto, f["src_ip"], f.get("src_port"),
                                                                              f["dest_ip"], f.get("dest_port")))
    return diffs
