"""gso = true: end hosts with TSO/GSO on (a veth's default) hand the wire
64 KB TCP super-segments; the honeywall carries them whole (virtio-net
headers on its ports), in both modes, with Data Control and full capture.

What a user checks: the bytes arrive intact both ways, the frames crossed as
super-segments (the honeywall's own pcaps hold frames longer than the MTU,
read by tshark), the capture has every frame the honeywall saw, and nothing
was dropped as malformed or truncated.
"""
import hashlib
import os
import socket
import threading

import pytest

import craft
import netlab as nl
from netlab import read_events

SIZE = 4 * 1024 * 1024


def _read_to_end(sock):
    """Everything the peer sends until it closes: (bytes, sha256 hex)."""
    h = hashlib.sha256()
    n = 0
    while True:
        d = sock.recv(1 << 16)
        if not d:
            return n, h.hexdigest()
        h.update(d)
        n += len(d)


def _serve_once(srv, result):
    """Reads one connection to its end, then sends SIZE bytes of its own and closes."""
    conn, _ = srv.accept()
    conn.settimeout(20)
    n, sha = _read_to_end(conn)
    reply = os.urandom(SIZE)
    conn.sendall(reply)
    conn.close()
    result.update(got=n, got_sha=sha, sent_sha=hashlib.sha256(reply).hexdigest())


def _frames_over_mtu(pcap_files):
    """Frames longer than 1514 bytes in the pcaps (tshark), and all frames."""
    big = total = 0
    for f in pcap_files:
        r = nl.run(["tshark", "-n", "-r", str(f), "-T", "fields", "-e", "frame.len"], check=True, timeout=120)
        lens = [int(x) for x in r.stdout.split()]
        big += sum(1 for x in lens if x > 1514)
        total += len(lens)
    return big, total


def _cross_both_ways(lab, wall, capture_dir):
    """SIZE random bytes outside -> honeypot and SIZE back through the
    running wall, checked by sha256; then the wall is stopped and its stats
    show nothing truncated or malformed."""
    srv = craft.inet_socket(lab.hp_ns)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((lab.honeypot_ip, 8080))
    srv.listen(1)
    result = {}
    th = threading.Thread(target=_serve_once, args=(srv, result), daemon=True)
    th.start()
    try:
        cli = craft.inet_socket(lab.out_ns)
        cli.settimeout(20)
        cli.connect((lab.public_ip, 8080))
        data = os.urandom(SIZE)
        cli.sendall(data)
        cli.shutdown(socket.SHUT_WR)
        n, sha = _read_to_end(cli)
        cli.close()
        th.join(20)
    finally:
        srv.close()
    assert result.get("got") == SIZE and result["got_sha"] == hashlib.sha256(data).hexdigest(), result
    assert n == SIZE and sha == result["sent_sha"], "the reply did not arrive intact (%d bytes)" % n

    assert wall.stop() == 0
    stats = [e for e in read_events(capture_dir) if e.get("event_type") == "stats"][-1]["stats"]  # the one at stop
    for side in ("inside", "outside"):
        assert stats[side]["truncated"] == 0, stats[side]
    assert stats["drops"].get("malformed", 0) == 0, stats["drops"]


def _cross_both_ways_whole(lab, wall, capture_dir):
    """_cross_both_ways, and both pcap series hold dozens of frames longer
    than 1514 bytes (super-segments carried whole), by tshark."""
    _cross_both_ways(lab, wall, capture_dir)
    for side in ("inside", "outside"):
        files = nl.pcaps(capture_dir, side)
        big, total = _frames_over_mtu(files)
        # 4 MB each way in super-segments of up to 64 KB: dozens of them, in both series.
        assert big >= 20, "%s: %d of %d frames longer than 1514 bytes" % (side, big, total)


@pytest.mark.parametrize("mode", ["bridge", "nat"])
def test_gso_super_segments_cross_whole(lab, honeynet_bin, capture_dir):
    for ns, ifname in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF)):
        lab.run(ns, "ethtool", "-K", ifname, "tso", "on", "gso", "on", check=True)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, top={"gso": True})

    _cross_both_ways_whole(lab, wall, capture_dir)


@pytest.mark.parametrize("mode", ["bridge"])
def test_gso_port_without_tso_cuts_super_segments(lab, honeynet_bin, capture_dir):
    """gso = true, and the wall's ports lose TSO while it runs (ethtool). The
    kernel drops a super-segment sent without a qdisc to a device that would
    have to cut it, so the honeywall cuts them itself: it says so (notice
    segmentation_off) and the bytes arrive intact both ways."""
    for ns, ifname in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF)):
        lab.run(ns, "ethtool", "-K", ifname, "tso", "on", "gso", "on", check=True)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, top={"gso": True})
    for port in (nl.WALL_IN, nl.WALL_OUT):
        lab.run(lab.wall_ns, "ethtool", "-K", port, "tso", "off", check=True)
    nl.wait_until(lambda: all("port %s: no TSO on it" % p in wall.output() for p in (nl.WALL_IN, nl.WALL_OUT)),
                  timeout=5, what="the wall to say that its ports have no TSO: " + wall.output()[-600:])

    _cross_both_ways(lab, wall, capture_dir)

    stats = [e for e in read_events(capture_dir) if e.get("event_type") == "stats"][-1]["stats"]
    assert stats["inside"]["tx_cut"] > 0 and stats["outside"]["tx_cut"] > 0, stats  # both ways, cut here
    notices = [e for e in read_events(capture_dir) if e.get("event_type") == "notice"]
    assert sorted(e["in_iface"] for e in notices if e["notice"]["what"] == "segmentation_off") == \
        sorted([nl.WALL_IN, nl.WALL_OUT])


@pytest.mark.parametrize("mode", ["bridge"])
def test_gro_turned_on_under_the_running_wall_is_turned_off_again(lab, honeynet_bin, capture_dir):
    """Without gso, a frame bigger than the wire does not fit the wall's ring
    slots (it is dropped as oversized). Someone turns GRO on on the wall's
    ports while it runs: the wall turns it off again within a link check and
    says so (notice offload_reverted); then the bytes cross intact both ways
    and nothing was truncated."""
    for ns, ifname in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF)):
        lab.run(ns, "ethtool", "-K", ifname, "tso", "off", "gso", "off", check=True)  # MTU frames on the wire
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    for port in (nl.WALL_IN, nl.WALL_OUT):
        lab.run(lab.wall_ns, "ethtool", "-K", port, "gro", "on", check=True)
    nl.wait_until(lambda: all("%s: turned off gro again" % p in wall.output() for p in (nl.WALL_IN, nl.WALL_OUT)),
                  timeout=5, what="the wall to turn GRO off again: " + wall.output()[-600:])
    for port in (nl.WALL_IN, nl.WALL_OUT):
        k = lab.run(lab.wall_ns, "ethtool", "-k", port, check=True).stdout
        assert "generic-receive-offload: off" in k, k

    _cross_both_ways(lab, wall, capture_dir)

    notices = [e for e in read_events(capture_dir) if e.get("event_type") == "notice"]
    assert sorted(e["in_iface"] for e in notices if e["notice"]["what"] == "offload_reverted") == \
        sorted([nl.WALL_IN, nl.WALL_OUT])


@pytest.mark.parametrize("mode", ["bridge", "nat"])
def test_gro_coalesces_frames_of_mtu_senders(lab, honeynet_bin, capture_dir):
    """gro = true: the end hosts send MTU-sized frames (TSO/GSO off, as the
    lab sets them up); the wall turns GRO on on its ports, the kernel
    coalesces what they receive, and the honeywall carries the super-frames
    whole. The bytes arrive intact both ways; the wall said what it changed;
    its pcaps hold frames longer than the MTU that no host sent as such."""
    for ns, ifname in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF)):
        lab.run(ns, "ethtool", "-K", ifname, "tso", "off", "gso", "off", check=True)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, top={"gro": True})
    for port in (nl.WALL_IN, nl.WALL_OUT):
        assert "%s: turned on gro" % port in wall.output(), wall.output()
        k = lab.run(lab.wall_ns, "ethtool", "-k", port, check=True).stdout
        assert "generic-receive-offload: on" in k, k

    _cross_both_ways_whole(lab, wall, capture_dir)
