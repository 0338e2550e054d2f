"""`honeynet flows` against tshark's conversation tables (-z conv,tcp / conv,udp
/ conv,ip) on crafted captures with retransmissions, out-of-order and
overlapping segments, a reused 5-tuple, IP fragments, VLAN tags, truncated
frames and non-IP frames; and on a capture from a real honeywall run where
the budget dropped outbound attempts."""
import json
import subprocess

import pytest

import craft as c
import flowcraft as fc
import netlab as nl
from netlab import flow_events, read_events, wait_until

A, B, C, D = "10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"


def crafted_frames():
    """A capture exercising everything the comparison must survive. Times in seconds."""
    t = 1795716000.0
    fr = []

    def at(dt, f, wire=None):
        fr.append((t + dt, f) if wire is None else (t + dt, f, wire))

    # 1. telnet-like connection: handshake, retransmission, out of order, overlap, FIN both ways.
    at(0.00, fc.tcpf(A, B, 40000, 23, c.SYN, 100))
    at(0.01, fc.tcpf(B, A, 23, 40000, c.SYN | c.ACK, 900, 101))
    at(0.02, fc.tcpf(A, B, 40000, 23, c.ACK, 101, 901))
    at(0.03, fc.tcpf(B, A, 23, 40000, c.ACK | c.PSH, 901, 101, b"login: "))
    at(0.04, fc.tcpf(B, A, 23, 40000, c.ACK | c.PSH, 901, 101, b"login: "))       # retransmission
    at(0.05, fc.tcpf(A, B, 40000, 23, c.ACK | c.PSH, 103, 908, b"ot"))            # out of order: later part first
    at(0.06, fc.tcpf(A, B, 40000, 23, c.ACK | c.PSH, 101, 908, b"ro"))
    at(0.07, fc.tcpf(A, B, 40000, 23, c.ACK | c.PSH, 102, 908, b"oot\r\n"))       # overlaps both
    at(0.08, fc.tcpf(B, A, 23, 40000, c.ACK | c.PSH, 908, 106, b"# " * 3000))     # big: > 10 kB in total later
    at(0.09, fc.tcpf(B, A, 23, 40000, c.ACK | c.PSH, 6908, 106, b"$ " * 3000))
    at(0.10, fc.tcpf(A, B, 40000, 23, c.FIN | c.ACK, 106, 12908))
    at(0.11, fc.tcpf(B, A, 23, 40000, c.FIN | c.ACK, 12908, 107))
    at(0.12, fc.tcpf(A, B, 40000, 23, c.ACK, 107, 12909))
    # 2. the same 5-tuple again after the close: a new conversation (new ISN).
    at(1.00, fc.tcpf(A, B, 40000, 23, c.SYN, 5000))
    at(1.01, fc.tcpf(B, A, 23, 40000, c.RST | c.ACK, 0, 5001))
    # 3. a VLAN-tagged connection, refused.
    at(2.00, fc.tcpf(A, C, 40001, 80, c.SYN, 1, vlans=[(0x8100, 42)]))
    at(2.01, fc.tcpf(C, A, 80, 40001, c.RST | c.ACK, 0, 2, vlans=[(0x8100, 42)]))
    # 4. truncated frames: a capture with snaplen 64 of big segments.
    big = fc.tcpf(A, D, 40002, 8080, c.ACK | c.PSH, 77, 1, b"x" * 1400)
    at(3.00, fc.tcpf(A, D, 40002, 8080, c.SYN, 76))
    at(3.01, fc.tcpf(D, A, 8080, 40002, c.SYN | c.ACK, 500, 77))
    at(3.02, big[:64], len(big))
    at(3.03, big[:64], len(big))                                                   # retransmitted, also cut
    # 5. UDP both ways, and a VLAN-tagged UDP exchange.
    at(4.00, fc.udpf(A, B, 5353, 53, b"q" * 30))
    at(4.01, fc.udpf(B, A, 53, 5353, b"a" * 90))
    at(4.02, fc.udpf(A, B, 5353, 53, b"q" * 30))
    at(4.10, fc.udpf(A, C, 6000, 7000, b"v", vlans=[(0x8100, 7)]))
    at(4.11, fc.udpf(C, A, 7000, 6000, b"w", vlans=[(0x8100, 7)]))
    # 6. non-IP: ARP.
    at(5.00, c.eth("ff:ff:ff:ff:ff:ff", fc.MAC_A, 0x0806, c.arp(1, fc.MAC_A, A, "00:00:00:00:00:00", B)))
    # 7. ICMP echo request/reply.
    at(6.00, fc.frame(A, B, 1, c.icmp(8, 0, 77, 1, b"p" * 32)))
    at(6.01, fc.frame(B, A, 1, c.icmp(0, 0, 77, 1, b"p" * 32)))
    return fr


def fragment_frames():
    """One UDP datagram in three IPv4 fragments, out of order, alone between its two hosts."""
    t = 1795716100.0
    src, dst = "10.2.0.1", "10.2.0.2"
    frags = c.fragments(src, dst, 17, c.udp(src, dst, 7777, 9999, b"F" * 3000), [1480, 1480, None], ident=4242)
    frames = [c.eth(fc.MAC_B, fc.MAC_A, 0x0800, f) for f in frags]
    return [(t, frames[2]), (t + 0.01, frames[0]), (t + 0.02, frames[1])], frames


@pytest.fixture
def crafted(tmp_path):
    p = tmp_path / "crafted.pcap"
    fc.write_pcap(p, crafted_frames())
    return p


def test_flows_agree_with_tshark_conv_tcp_and_udp(crafted, honeynet_bin):
    flows = fc.flows_json([crafted])
    for kind, proto in (("tcp", "TCP"), ("udp", "UDP")):
        conv = fc.tshark_conv(crafted, kind)
        assert conv, "tshark found no %s conversations" % kind
        diffs = fc.match_conv(flows, conv, proto)
        assert not diffs, "\n".join(diffs)
    # tshark splits the reused 5-tuple into two conversations, as we do.
    telnet = [f for f in flows if f["proto"] == "TCP" and f["dest_port"] == 23]
    assert len(telnet) == 2
    assert telnet[0]["state"] == "CLOSED" and telnet[1]["state"] == "RESET"
    assert telnet[0]["pkts_toserver"] == 7 and telnet[0]["pkts_toclient"] == 6


def test_flows_bytes_exactly_match_tshark_streams(crafted, honeynet_bin):
    """The conv tables round bytes above 10 kB; per-stream frame.len sums are exact."""
    flows = fc.flows_json([crafted])
    for proto in ("tcp", "udp"):
        streams = fc.tshark_stream_bytes(crafted, proto)
        ours = sorted((f for f in flows if f["proto"] == proto.upper()), key=lambda f: f["first"])
        assert len(ours) == len(streams), (proto, ours, dict(streams))
        for f, stream in zip(ours, sorted(streams)):
            dirs = streams[stream]
            fw = dirs.get((f["src_ip"], f["src_port"]), [0, 0])
            bw = dirs.get((f["dest_ip"], f["dest_port"]), [0, 0])
            assert fw == [f["pkts_toserver"], f["bytes_toserver"]], (proto, stream, f)
            assert bw == [f["pkts_toclient"], f["bytes_toclient"]], (proto, stream, f)


def test_truncated_vlan_and_non_ip_frames(crafted, honeynet_bin):
    flows = fc.flows_json([crafted])
    cut = [f for f in flows if f.get("dest_port") == 8080]
    assert len(cut) == 1
    assert cut[0]["pkts_toserver"] == 3
    assert cut[0]["payload_toserver"] == 2800, "payload from the headers, also when not captured"
    vlan = [f for f in flows if f.get("vlan") == 42]
    assert len(vlan) == 1 and vlan[0]["state"] == "RESET"
    icmp = [f for f in flows if f["proto"] == "ICMP"]
    assert len(icmp) == 1 and icmp[0]["pkts_toserver"] == 1 and icmp[0]["pkts_toclient"] == 1
    p = subprocess.run([honeynet_bin, "flows", str(crafted)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "1 not IP" in p.stdout, p.stdout
    assert "\x1b[" not in p.stdout, "no colour when stdout is not a terminal"
    header = p.stdout.splitlines()[0].split()
    assert header[:3] == ["FIRST", "(UTC)", "DURATION"] and "FLOW_ID" in header
    # Every Community ID shown is one `read --flow` takes.
    for f in flows:
        assert f["community_id"].startswith("1:") and f["community_id"] in p.stdout


def test_fragments_count_like_conv_ip(tmp_path, honeynet_bin):
    p = tmp_path / "frags.pcap"
    frames, raw = fragment_frames()
    fc.write_pcap(p, frames)
    flows = fc.flows_json([p])
    assert len(flows) == 1, flows
    f = flows[0]
    assert (f["src_port"], f["dest_port"]) == (7777, 9999)
    total = sum(len(x) for x in raw)
    conv_ip = fc.tshark_conv(p, "ip")
    assert len(conv_ip) == 1
    row = conv_ip[0]
    assert row["frames_ab"] + row["frames_ba"] == f["pkts_toserver"] == 3
    assert row["bytes_ab"][0] + row["bytes_ba"][0] == f["bytes_toserver"] == total
    # tshark's conv,udp counts the reassembled datagram once (documented difference).
    conv_udp = fc.tshark_conv(p, "udp")
    assert len(conv_udp) == 1 and conv_udp[0]["frames_ab"] + conv_udp[0]["frames_ba"] == 1


def test_sort_filter_limit_and_errors(crafted, tmp_path, honeynet_bin):
    by_bytes = fc.flows_json([crafted], "--sort", "bytes")
    assert [f["bytes_toserver"] + f["bytes_toclient"] for f in by_bytes] == \
        sorted((f["bytes_toserver"] + f["bytes_toclient"] for f in by_bytes), reverse=True)
    udp_only = fc.flows_json([crafted], "-f", "udp")
    assert udp_only and all(f["proto"] == "UDP" for f in udp_only)
    assert len(fc.flows_json([crafted], "-n", "2")) == 2
    bad = subprocess.run([honeynet_bin, "flows", "-f", "tcp port", str(crafted)], capture_output=True, text=True)
    assert bad.returncode == 2 and "bad filter expression" in bad.stderr
    missing = subprocess.run([honeynet_bin, "flows", str(tmp_path / "nope.pcap")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.pcap" in missing.stderr
    # A cut file: the flows before the damage, and the file and offset named.
    data = crafted.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:len(data) - 20])
    p = subprocess.run([honeynet_bin, "flows", "--json", str(cut)], capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    assert "cut.pcap" in p.stderr and "byte" in p.stderr, p.stderr
    assert len(p.stdout.splitlines()) >= 5


# --------------------------------------------------------------- honeywall run
def run_wall_with_budget_drops(lab, honeynet_bin, capture_dir):
    """TCP budget 2: three outbound connects (the third dropped), two inbound telnet sessions."""
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, limits={"tcp": 2})
    targets = [(nl.OUTSIDE_EXTRA[i], 80) for i in range(3)]
    got = [lab.tcp_connect(lab.hp_ns, ip, port, timeout=2) for ip, port in targets]
    assert got == [True, True, False], got
    assert lab.tcp_banner(lab.out_ns, lab.public_ip, 23, timeout=2)
    assert lab.tcp_banner(lab.out_ns, lab.public_ip, 23, timeout=2)
    wait_until(lambda: len(flow_events(read_events(capture_dir), "dropped", proto="TCP")) >= 1,
               timeout=5, what="a dropped TCP flow in events.json")
    assert wall.stop() == 0
    return targets


@pytest.mark.parametrize("mode", nl.MODES)
def test_flows_of_a_honeywall_run_show_drops_and_agree_with_tshark(lab, honeynet_bin, capture_dir, mode):
    targets = run_wall_with_budget_drops(lab, honeynet_bin, capture_dir)
    events = read_events(capture_dir)
    flows = fc.flows_json([capture_dir])
    dropped = [f for f in flows if f.get("action") == "dropped"]
    assert len(dropped) >= 1, json.dumps(flows, indent=1)
    d = dropped[0]
    assert d["honeypot"] == "hp1" and d["reason"] == "budget_exhausted" and d["direction"] == "outbound"
    assert (d["dest_ip"], d["dest_port"]) == targets[2]
    assert d["pkts_toclient"] == 0, "nothing came back for a dropped SYN"
    ev = [e for e in flow_events(events, "dropped", proto="TCP")]
    assert d["flow_id"] in [e["flow_id"] for e in ev], "the honeywall's flow_id is joined"
    allowed_out = [f for f in flows if f.get("action") == "allowed" and f.get("direction") == "outbound"]
    assert {(f["dest_ip"], f["dest_port"]) for f in allowed_out} >= set(targets[:2])
    inbound = [f for f in flows if f.get("direction") == "inbound"]
    assert len(inbound) >= 2 and all(f["honeypot"] == "hp1" for f in inbound)
    # Against tshark on every inside pcap file (one series: read as one stream).
    pcaps = sorted(capture_dir.glob("inside-*.pcap"))
    assert pcaps
    merged = capture_dir.parent / "inside-merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged)] + [str(p) for p in pcaps], check=True)
    for kind, proto in (("tcp", "TCP"), ("udp", "UDP")):
        diffs = fc.match_conv(flows, fc.tshark_conv(merged, kind), proto)
        assert not diffs, "\n".join(diffs)
    # --honeypot keeps the flows of hp1 (all of them here).
    assert len(fc.flows_json([capture_dir], "--honeypot", "hp1")) >= len([f for f in flows if f.get("honeypot") == "hp1"])
