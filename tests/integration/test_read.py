"""`honeynet read` against tshark on the same files.

Crafted captures (pcapgen.crafted_packets: TCP with out-of-order,
retransmitted and overlapping segments, IPv4 fragments, 802.1Q and QinQ tags,
ARP, ICMP echo and errors, UDP, IPv6, frames captured short of their length)
and a capture made by a real honeywall run: `read --json` must give the same
packets with the same header fields as `tshark -T fields`; `-f` the same
count as tshark's/tcpdump's filter; `--write` a pcap tshark reads back as the
selection. A file cut inside a record prints what came before and names the
file and byte offset; a rotated series reads in time order.
"""
import json
import os
import shutil
import subprocess

import pytest

import craft as cr
import netlab as nl
import pcapgen as pg

T0 = 1795720083 * pg.NS + 123456789   # 2026-11-26T19:08:03.123456789Z

# tshark field -> how to read its text (first occurrence unless listed in MULTI).
TSHARK_FIELDS = [
    "frame.time_epoch", "frame.len", "frame.cap_len", "eth.src", "eth.dst", "vlan.id", "ieee8021ad.id",
    "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
    "ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.flags.df", "ip.flags.mf", "ip.frag_offset", "ip.len", "ip.proto",
    "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.plen", "ipv6.nxt",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value", "tcp.len",
    "udp.srcport", "udp.dstport", "udp.length",
    "icmp.type", "icmp.code", "icmp.ident", "icmp.seq",
    "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
]
MULTI = {"vlan.id", "ieee8021ad.id"}
QUOTED_ONLY_BY_TSHARK = {"udp.length", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value", "tcp.len"}
NUMERIC = {"ip.id", "tcp.flags", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number", "ip.proto", "ipv6.nxt",
           "arp.opcode"}


def run_read(honeynet_bin, *args, check=True):
    r = subprocess.run([honeynet_bin, "read", *map(str, args)], capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, "honeynet read %s: rc %d\n%s" % (args, r.returncode, r.stderr)
    return r


def read_json(honeynet_bin, *args):
    r = run_read(honeynet_bin, "--json", *args)
    return [json.loads(line) for line in r.stdout.splitlines()]


def tshark_rows(path, display_filter=None):
    """One dict per packet: field -> text ('' when absent); MULTI fields as lists."""
    argv = ["tshark", "-n", "-r", str(path), "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
            "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;", "-E", "separator=\t"]
    if display_filter:
        argv += ["-Y", display_filter]
    for f in TSHARK_FIELDS:
        argv += ["-e", f]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = []
    for line in r.stdout.splitlines():
        cells = line.split("\t")
        row = {}
        for name, cell in zip(TSHARK_FIELDS, cells):
            vals = [v for v in cell.split(";")] if cell else []
            if name in MULTI:
                row[name] = [int(v) for v in vals]
            else:
                v = vals[0] if vals else ""
                if v and name in NUMERIC:
                    v = str(int(v, 0))
                row[name] = v
        rows.append(row)
    return rows


def ours_row(j):
    """The same fields from one `read --json` object."""
    row = {k: "" for k in TSHARK_FIELDS if k not in MULTI}
    row["vlan.id"], row["ieee8021ad.id"] = [], []
    row["frame.time_epoch"] = j["ts_epoch"]
    row["frame.len"], row["frame.cap_len"] = str(j["len"]), str(j["caplen"])
    eth = j.get("eth")
    if eth:
        row["eth.src"], row["eth.dst"] = eth["src"], eth["dst"]
        for v in eth.get("vlan", []):
            (row["ieee8021ad.id"] if v["tpid"] == 0x88A8 else row["vlan.id"]).append(v["id"])
    arp = j.get("arp")
    if arp:
        row["arp.opcode"] = str(arp["op"])
        if "sha" in arp:
            row["arp.src.hw_mac"], row["arp.src.proto_ipv4"], row["arp.dst.proto_ipv4"] = arp["sha"], arp["spa"], arp["tpa"]
    ip = j.get("ip")
    if ip and ip["version"] == 4:
        for ours, theirs in (("src", "ip.src"), ("dst", "ip.dst"), ("ttl", "ip.ttl"), ("id", "ip.id"),
                             ("len", "ip.len"), ("proto", "ip.proto")):
            if ours in ip:
                row[theirs] = str(ip[ours])
        if "df" in ip:
            row["ip.flags.df"], row["ip.flags.mf"] = str(int(ip["df"])), str(int(ip["mf"]))
            row["ip.frag_offset"] = str(ip["frag_offset"] // 8)
    elif ip:
        for ours, theirs in (("src", "ipv6.src"), ("dst", "ipv6.dst"), ("ttl", "ipv6.hlim"), ("proto", "ipv6.nxt")):
            if ours in ip:
                row[theirs] = str(ip[ours])
        if "len" in ip:
            row["ipv6.plen"] = str(ip["len"] - 40)
    for proto in ("tcp", "udp"):
        t = j.get(proto)
        if not t:
            continue
        for ours, theirs in (("sport", "srcport"), ("dport", "dstport"), ("seq", "seq_raw"), ("ack", "ack_raw"),
                             ("flags", "flags"), ("win", "window_size_value"), ("len", "length")):
            if ours in t:
                row["%s.%s" % (proto, theirs)] = str(t[ours])
        if proto == "tcp" and "payload_len" in t:
            row["tcp.len"] = str(t["payload_len"])
    for name in ("icmp", "icmp6"):
        c = j.get(name)
        if not c:
            continue
        pre = "icmp" if name == "icmp" else "icmpv6"
        row[pre + ".type"] = str(c["type"])
        if "code" in c:
            row[pre + ".code"] = str(c["code"])
        if "id" in c:
            row[pre + (".ident" if name == "icmp" else ".echo.identifier")] = str(c["id"])
            row[pre + (".seq" if name == "icmp" else ".echo.sequence_number")] = str(c["seq"])
        inner = c.get("inner")
        if inner and "sport" in inner and inner["proto"] in (6, 17):
            p = "tcp" if inner["proto"] == 6 else "udp"
            row[p + ".srcport"], row[p + ".dstport"] = str(inner["sport"]), str(inner["dport"])
    return row


def assert_same_as_tshark(honeynet_bin, path, extra_read=(), display_filter=None):
    ours = read_json(honeynet_bin, *extra_read, path)
    theirs = tshark_rows(path, display_filter)
    assert len(ours) == len(theirs), "%s: read gives %d packets, tshark %d" % (path, len(ours), len(theirs))
    diffs = []
    for j, t in zip(ours, theirs):
        o = ours_row(j)
        quoting = "inner" in j.get("icmp", {}) or "inner" in j.get("icmp6", {})
        for k in TSHARK_FIELDS:
            # tshark decodes what an ICMP error quotes as layers of their own
            # (their ip.* first occurrence is still the outer header); read
            # shows the quoted addresses and ports only.
            if quoting and k in QUOTED_ONLY_BY_TSHARK:
                continue
            if o[k] != t[k]:
                diffs.append("packet %d %s: read %r, tshark %r" % (j["n"], k, o[k], t[k]))
    assert not diffs, "%s:\n%s" % (path, "\n".join(diffs[:40]))
    return ours


def tshark_count(path, display_filter):
    r = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return len(r.stdout.split())


def tcpdump_count(path, bpf):
    r = subprocess.run(["tcpdump", "-n", "-r", str(path), bpf], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return len(r.stdout.splitlines())


# --------------------------------------------------------------------- crafted captures
@pytest.fixture
def crafted(tmp_path):
    return pg.write_pcap(tmp_path / "crafted.pcap", pg.crafted_packets(T0))


def test_crafted_pcap_matches_tshark(honeynet_bin, crafted):
    ours = assert_same_as_tshark(honeynet_bin, crafted)
    assert len(ours) == len(pg.crafted_packets(T0))
    # the frames captured short of their length say so
    cut = [j for j in ours if j["caplen"] < j["len"]]
    assert len(cut) == 3 and all(j["truncated"] for j in cut)
    assert [j.get("cut_layer") for j in cut] == [None, "tcp", "ipv4"]
    assert not any(j["truncated"] for j in ours if j["caplen"] == j["len"])


def test_crafted_pcapng_and_microsecond_pcap(honeynet_bin, tmp_path):
    ng = pg.write_pcapng(tmp_path / "crafted.pcapng", pg.crafted_packets(T0))
    assert_same_as_tshark(honeynet_bin, ng)
    us = pg.write_pcap(tmp_path / "us.pcap", pg.crafted_packets(T0), nano=False)
    ours = assert_same_as_tshark(honeynet_bin, us)
    assert ours[0]["ts"] == "2026-11-26T19:08:03.123456Z"   # the file's precision, not more


def test_text_blocks(honeynet_bin, crafted):
    out = run_read(honeynet_bin, crafted).stdout
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert len(blocks) == len(pg.crafted_packets(T0))
    assert blocks[0].startswith("#1 2026-11-26T19:08:03.123456789Z  60 bytes")
    assert "arp   request  192.0.2.66 (02:00:00:00:02:01) > 10.0.0.2" in blocks[0]
    syn = blocks[2]
    assert "ip    192.0.2.66 > 10.0.0.2  ttl 57  id 1  flags DF" in syn
    assert "tcp   40001 > 23  [SYN]  seq 1000  ack 0  win 64240" in syn
    login = blocks[5]
    assert "[PSH,ACK]" in login and "6c 6f 67 69 6e 3a 20" in login and "login: " in login
    assert "vlan 100 (tpid 0x88a8)  vlan 20" in out
    assert "echo request (type 8 code 0)  id 4660  seq 1" in out
    assert "quoting 192.0.2.66:33434 > 10.0.0.2:33435 UDP" in out
    assert "ip6   2001:db8::66 > fd00::2  hlim 255" in out
    assert "1054 bytes (captured 100) [truncated]" in out and "46 bytes of 1000 [truncated]" in out
    assert "\x1b[" not in out   # no colour into a pipe


@pytest.mark.parametrize("bpf,dfilter", [
    ("tcp port 23", "tcp.port == 23"),
    # BPF without `vlan` does not look inside tagged frames; it sees every fragment's protocol
    ("udp", "(ip.proto == 17 || ipv6.nxt == 17) && !vlan && !ieee8021ad && !icmp"),
    ("icmp", "icmp"),
    ("arp", "arp"),
    ("ip6", "ipv6"),
    ("vlan", "vlan || ieee8021ad"),
    ("host 10.0.0.2 and tcp[tcpflags] & tcp-syn != 0",
     "ip.addr == 10.0.0.2 && tcp.flags.syn == 1 && !vlan && !ieee8021ad && !icmp"),
])
def test_filter_counts_match(honeynet_bin, crafted, bpf, dfilter):
    got = len(read_json(honeynet_bin, "-f", bpf, crafted))
    assert got == tcpdump_count(crafted, bpf), bpf
    if bpf != "vlan":  # BPF's `vlan` also matches the frames after the first tagged one's offset shift
        assert got == tshark_count(crafted, dfilter), (bpf, dfilter)


def test_bad_filter_is_exit_2_with_libpcaps_message(honeynet_bin, crafted):
    r = run_read(honeynet_bin, "-f", "tcp port banana", crafted, check=False)
    assert r.returncode == 2
    assert "bad filter expression 'tcp port banana'" in r.stderr and "banana" in r.stderr
    assert r.stdout == ""


def test_count_since_until(honeynet_bin, crafted):
    assert len(read_json(honeynet_bin, "-c", 5, crafted)) == 5
    pk = pg.crafted_packets(T0)
    t3, t6 = pk[2][0], pk[5][0]
    iso3 = "2026-11-26T19:08:03.%09dZ" % (t3 % pg.NS)
    ours = read_json(honeynet_bin, "--since", iso3, "--until", "%d.%09d" % divmod(t6, pg.NS), crafted)
    assert [j["n"] for j in ours] == [3, 4, 5, 6]
    r = run_read(honeynet_bin, "--since", "yesterday", crafted, check=False)
    assert r.returncode == 2 and "2026-11-26T19:08:03Z" in r.stderr


def test_flow_by_community_id(honeynet_bin, crafted):
    ours = read_json(honeynet_bin, crafted)
    cid = ours[2]["community_id"]   # the telnet SYN
    flow = read_json(honeynet_bin, "--flow", cid, crafted)
    # both directions of the connection, not the truncated-header frames
    want = [j["n"] for j in ours if j.get("community_id") == cid]
    assert [j["n"] for j in flow] == want and len(want) >= 14
    assert {j["tcp"]["sport"] for j in flow} == {23, 40001}
    r = run_read(honeynet_bin, "--flow", "42", crafted, check=False)
    assert r.returncode == 2 and "events.json" in r.stderr


def test_write_round_trips_through_tshark(honeynet_bin, crafted, tmp_path):
    out = tmp_path / "sel.pcap"
    r = run_read(honeynet_bin, "-f", "tcp port 23", "--write", out, crafted)
    assert "wrote" in r.stderr
    sel = read_json(honeynet_bin, "-f", "tcp port 23", crafted)
    back = tshark_rows(out)
    assert [t["frame.time_epoch"] for t in back] == [j["ts_epoch"] for j in sel]
    assert [t["tcp.seq_raw"] for t in back] == [str(j["tcp"]["seq"]) for j in sel if "seq" in j.get("tcp", {})] + \
        [""] * sum(1 for j in sel if "seq" not in j.get("tcp", {}))
    assert [ours_row(j) for j in read_json(honeynet_bin, out)] == [ours_row(j) for j in sel]
    with open(out, "rb") as f:
        assert f.read(4) == bytes.fromhex("4d3cb2a1")   # nanosecond pcap, little-endian
    # never over an input
    r = run_read(honeynet_bin, "--write", crafted, crafted, check=False)
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr
    assert len(read_json(honeynet_bin, crafted)) == len(pg.crafted_packets(T0))


def test_truncated_file_prints_what_came_before(honeynet_bin, tmp_path):
    pk = pg.crafted_packets(T0)
    data = pg.pcap_bytes(pk)
    # the record of packet 10 starts at: header + records 1..9
    off = 24 + sum(16 + len(p[1]) for p in pk[:9])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:off + 16 + 5])
    r = run_read(honeynet_bin, "--json", cut, check=False)
    assert r.returncode == 1
    assert len(r.stdout.splitlines()) == 9
    assert "cut.pcap: byte %d" % off in r.stderr, r.stderr
    r = run_read(honeynet_bin, cut, check=False)
    assert r.returncode == 1 and r.stdout.count("\n#") + r.stdout.startswith("#") == 9
    # garbage is an error at byte 0, and no packets
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture file, not at all")
    r = run_read(honeynet_bin, junk, check=False)
    assert r.returncode == 1 and "junk.pcap: byte 0" in r.stderr and r.stdout == ""


def test_no_path_or_missing_path(honeynet_bin, tmp_path):
    r = run_read(honeynet_bin, check=False)
    assert r.returncode == 2 and "name at least one capture file or directory" in r.stderr
    r = run_read(honeynet_bin, tmp_path / "nope.pcap", check=False)
    assert r.returncode == 2 and "nope.pcap" in r.stderr


def test_rotated_series_reads_in_time_order(honeynet_bin, tmp_path):
    pk = pg.crafted_packets(T0)
    d = tmp_path / "cap"
    d.mkdir()
    # three rotation files of the inside port, written out of name order, and an outside one
    pg.write_pcap(d / "inside-20261126T190803Z-0003.pcap", pk[20:])
    pg.write_pcap(d / "inside-20261126T190803Z-0001.pcap", pk[:10])
    pg.write_pcap(d / "inside-20261126T190803Z-0002.pcap", pk[10:20])
    pg.write_pcap(d / "outside-20261126T190803Z-0001.pcap", [(t + 500, f) for t, f, *_ in pk[:5]])
    ours = read_json(honeynet_bin, d)
    assert [j["ts_epoch"] for j in ours] == ["%d.%09d" % divmod(p[0], pg.NS) for p in pk]
    assert [j["n"] for j in ours] == list(range(1, len(pk) + 1))
    assert ours[0]["file"].endswith("inside-20261126T190803Z-0001.pcap")
    assert ours[-1]["file"].endswith("inside-20261126T190803Z-0003.pcap")
    both = read_json(honeynet_bin, "--port", "all", d)
    assert len(both) == len(pk) + 5
    times = [j["ts_epoch"] for j in both]
    assert times == sorted(times, key=lambda s: tuple(map(int, s.split("."))))
    assert len(read_json(honeynet_bin, "--port", "outside", d)) == 5


def test_fuzzed_frames_never_crash(honeynet_bin, tmp_path):
    """Random cuts and byte flips of the crafted frames: every packet printed, exit 0."""
    import random
    rng = random.Random(6)
    pk = pg.crafted_packets(T0)
    mutated = []
    for i in range(3000):
        t, f, *_ = pk[rng.randrange(len(pk))]
        b = bytearray(f)
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cut = rng.randrange(0, len(b) + 1)
        mutated.append((T0 + i, bytes(b[:cut]), len(b)))
    p = pg.write_pcap(tmp_path / "fuzz.pcap", mutated)
    assert len(read_json(honeynet_bin, p)) == len(mutated)
    r = run_read(honeynet_bin, "-X", p)
    assert r.stdout.count("\n#") + 1 == len(mutated)


# --------------------------------------------------------------------- a real honeywall capture
def test_honeywall_capture_matches_tshark(lab, honeynet_bin, capture_dir, tmp_path):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    assert nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23)
    r = lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0], count=2, wait=1, extra=["-i", "0.2"])
    assert r.returncode == 0, r.stdout + r.stderr
    lab.tcp_connect(lab.hp_ns, nl.OUTSIDE_EXTRA[1], 80)
    assert wall.stop() == 0

    files = nl.pcaps(capture_dir, "inside") + nl.pcaps(capture_dir, "outside")
    assert files
    total = 0
    for f in files:
        ours = assert_same_as_tshark(honeynet_bin, f)
        total += len(ours)
        assert ours[0]["ts"].endswith("Z") and len(ours[0]["ts"].split(".")[1]) == 10   # ns file: 9 digits + Z
        assert tcpdump_count(f, "tcp port 23") == len(read_json(honeynet_bin, "-f", "tcp port 23", f)) > 0
    assert total > 10

    # the directory: inside files in time order; the honeypot and a flow from events.json
    inside = read_json(honeynet_bin, capture_dir)
    assert len(inside) == sum(len(tshark_rows(f)) for f in nl.pcaps(capture_dir, "inside"))
    mine = read_json(honeynet_bin, "--honeypot", "hp1", capture_dir)
    assert mine and all(lab.honeypot_ip in (j.get("ip", {}).get("src"), j.get("ip", {}).get("dst")) for j in mine)
    r = run_read(honeynet_bin, "--honeypot", "nobody", capture_dir, check=False)
    assert r.returncode == 2 and "hp1" in r.stderr

    events = nl.read_events(capture_dir)
    telnet = [e for e in events if e.get("event_type") == "honeywall" and e.get("dest_port") == 23
              and e.get("community_id")]
    assert telnet, "no honeywall event for the telnet connection"
    ev = telnet[0]
    by_id = read_json(honeynet_bin, "--flow", ev["flow_id"], capture_dir)
    by_cid = read_json(honeynet_bin, "--flow", ev["community_id"], capture_dir)
    assert by_id == by_cid and len(by_id) >= 3
    assert all(j["community_id"] == ev["community_id"] for j in by_id)
    assert len(by_id) == tshark_count(nl.pcaps(capture_dir, "inside")[0], "tcp.port == 23") \
        if len(nl.pcaps(capture_dir, "inside")) == 1 else True

    # --write of a flow: Wireshark gets exactly those packets
    out = tmp_path / "flow.pcap"
    run_read(honeynet_bin, "--flow", ev["community_id"], "--write", out, capture_dir)
    back = tshark_rows(out)
    assert [t["frame.time_epoch"] for t in back] == [j["ts_epoch"] for j in by_id]
