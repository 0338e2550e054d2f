"""Data Capture end to end: full payloads in the pcaps (Part V's 3 pings),
TTL handling per mode seen by tshark and by an independent capture, and a
clean stop that leaves readable files."""
import os
import signal

import pytest

import netlab as nl
from netlab import MODES, read_events, tshark_icmp, wait_until

PING_TARGET = nl.OUTSIDE_EXTRA[0]   # 192.0.2.20


def expected_fill(pattern: bytes, size: int) -> bytes:
    """What iputils ping puts in a `-s size -p pattern` payload: the pattern
    repeated from offset 0, its first 16 bytes then overwritten by a timeval."""
    return (pattern * (size // len(pattern) + 1))[:size]


@pytest.mark.parametrize("mode", MODES)
def test_part_v_ping_payload_in_pcaps(lab, honeynet_bin, capture_dir, tmp_path):
    pattern = os.urandom(16)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    # our own reference: what the honeypot put on the wire, captured in its namespace
    ref_cap = lab.start_tcpdump(lab.hp_ns, nl.HP_IF, tmp_path / "ref.pcap", direction="out", filt=["icmp"])
    r = lab.ping(lab.hp_ns, PING_TARGET, count=3, wait=1,
                 extra=["-s", "56", "-p", pattern.hex(), "-i", "0.2"])
    assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr
    lab.stop_tcpdump(ref_cap, min_frames=3)
    assert wall.stop() == 0

    sent = nl.icmp_echo_requests(nl.read_pcap(tmp_path / "ref.pcap"))
    assert len(sent) == 3, "reference capture: %s" % sent
    fill = expected_fill(pattern, 56)
    for s in sent:
        assert len(s["payload"]) == 56
        assert s["payload"][16:] == fill[16:], "ping did not send the pattern we generated"

    for side, src in (("inside", lab.honeypot_ip), ("outside", lab.public_ip)):
        files = nl.pcaps(capture_dir, side)
        assert files, "no %s-*.pcap in %s" % (side, sorted(os.listdir(capture_dir)))
        seen = []
        for f in files:
            seen += tshark_icmp(f, "icmp.type == 8 && ip.dst == %s" % PING_TARGET)
        assert [p["src"] for p in seen] == [src] * 3, \
            "%s pcap: 3 echo requests from %s expected, got %s" % (side, src, [(p["src"], p["seq"]) for p in seen])
        for got, want in zip(seen, sent):
            assert got["payload"] == want["payload"], \
                "%s pcap: payload of seq %s differs from what the honeypot sent" % (side, got["seq"])
            # tshark's own data field (it shows a leading timestamp separately): pattern bytes, byte for byte
            assert len(got["data"]) >= 40 and want["payload"].endswith(got["data"]), (side, got["data"].hex())


@pytest.mark.parametrize("mode", MODES)
def test_ttl(lab, honeynet_bin, capture_dir, tmp_path):
    """bridge: TTL unchanged, no extra hop; nat: TTL - 1, and TTL 1 is answered
    with ICMP time exceeded from the gateway."""
    want = 77 if lab.mode == "bridge" else 76
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    out_cap = lab.start_tcpdump(lab.out_ns, nl.OUT_IF, tmp_path / "out.pcap", filt=["icmp"])
    hp_cap = lab.start_tcpdump(lab.hp_ns, nl.HP_IF, tmp_path / "hp.pcap", filt=["icmp"])
    r = lab.ping(lab.hp_ns, PING_TARGET, count=1, wait=2, extra=["-t", "77"])
    assert r.returncode == 0, r.stdout + r.stderr
    r = lab.ping(lab.out_ns, lab.public_ip, count=1, wait=2, extra=["-t", "77"])
    assert r.returncode == 0, r.stdout + r.stderr
    lab.stop_tcpdump(out_cap, min_frames=2)
    lab.stop_tcpdump(hp_cap, min_frames=2)

    # independent captures on the far side of the wall
    at_outside = nl.icmp_echo_requests(nl.read_pcap(tmp_path / "out.pcap"))
    assert [(p["src"], p["ttl"]) for p in at_outside] == [(lab.public_ip, want)]
    at_honeypot = nl.icmp_echo_requests(nl.read_pcap(tmp_path / "hp.pcap"))
    assert [(p["dst"], p["ttl"]) for p in at_honeypot] == [(lab.honeypot_ip, want)]

    if lab.mode == "nat":
        r = lab.ping(lab.hp_ns, PING_TARGET, count=1, wait=2, extra=["-t", "1"])
        assert r.returncode != 0 and "Time to live exceeded" in r.stdout, r.stdout + r.stderr
        assert "From %s" % nl.NAT_GATEWAY_IP in r.stdout, r.stdout
    else:
        r = lab.ping(lab.hp_ns, PING_TARGET, count=1, wait=2, extra=["-t", "1"])
        assert r.returncode == 0, "bridge mode is no hop: TTL 1 reaches the outside host\n" + r.stdout

    assert wall.stop() == 0
    seen = []
    for f in nl.pcaps(capture_dir, "outside"):
        seen += tshark_icmp(f, "icmp.type == 8 && ip.src == %s" % lab.public_ip)
    ttls = sorted({p["ttl"] for p in seen})
    assert ttls == ([1, 77] if lab.mode == "bridge" else [76]), "outside pcap TTLs: %s" % ttls
    for f in nl.pcaps(capture_dir, "outside"):
        n = len(nl.tshark_fields(f, "ip.ttl == %d && icmp.type == 8 && ip.src == %s" % (want, lab.public_ip),
                                 ["frame.number"]))
        if n:
            break
    else:
        raise AssertionError("tshark finds no echo request with ip.ttl == %d in the outside pcap" % want)


@pytest.mark.parametrize("mode", MODES)
def test_clean_stop_leaves_readable_files(lab, honeynet_bin, capture_dir):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, capture={"stats_interval": "1s"})
    assert lab.tcp_connect(lab.hp_ns, PING_TARGET, 80)
    assert nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23)
    assert lab.ping(lab.hp_ns, PING_TARGET, count=2, extra=["-i", "0.2"]).returncode == 0
    wait_until(lambda: [e for e in read_events(capture_dir) if e.get("event_type") == "stats"],
               timeout=5, what="a stats event (capture.stats_interval = 1s)")

    ready_at = len(wall.stdout_lines)
    assert wall.stop(signal.SIGINT) == 0, "SIGINT is a clean stop: exit 0"
    after = wall.stdout_lines[ready_at:] + wall.stderr_lines
    assert any("stop" in l.lower() for l in after), "no stop summary printed:\n" + wall.output()

    for side in ("inside", "outside"):
        files = nl.pcaps(capture_dir, side)
        assert files, "no %s-*.pcap" % side
        frames = 0
        for f in files:
            r = nl.run(["tshark", "-n", "-r", str(f)], check=False, timeout=60)
            assert r.returncode == 0 and "cut short" not in r.stderr, "%s: %s" % (f, r.stderr)
            frames += len(r.stdout.splitlines())
        assert frames > 0, "%s pcaps hold no frame" % side

    text = (capture_dir / "events.json").read_text()
    assert text.endswith("\n"), "events.json ends in a partial line"
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            nl.json.loads(line)  # every line is one whole JSON object
    ends = [e for e in read_events(capture_dir) if e.get("event_type") == "flow"
            and nl.proto_is(e, "TCP") and int(e.get("dest_port", -1)) == 80]
    assert ends, "no flow-end event for the TCP connection to port 80"
    f = ends[0]["flow"]
    assert f["pkts_toserver"] >= 2 and f["pkts_toclient"] >= 1, ends[0]
