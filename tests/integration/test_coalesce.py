"""coalesce (on by default): the honeywall joins the TCP segments it forwards
in one batch into super-segments on transmit, so a receiver's stack takes one
skb for many frames. End hosts send MTU frames (TSO/GSO off); the checksums
are either left to offload (a veth's default) or filled in by the sender
(tx checksumming off: the wall verifies them before joining).

What a user checks: the bytes arrive intact both ways (sha256), in both
modes; the receivers took far fewer packets than the segments that crossed
(the joining happened); the wall's pcaps still hold the frames of the wire,
none longer than 1514 bytes, with every payload byte (tshark); and with
coalesce = false each segment arrives as its own packet.
"""
import json

import pytest

import netlab as nl
from netlab import read_events
from test_gso import SIZE, _cross_both_ways, _frames_over_mtu

MSS = 1448  # 1500 MTU, TCP timestamps on


def _rx_packets(lab, ns, ifname):
    r = lab.run(ns, "ip", "-s", "-j", "link", "show", "dev", ifname, check=True)
    return json.loads(r.stdout)[0]["stats64"]["rx"]["packets"]


def _payload_bytes(pcap_files, port):
    """TCP payload bytes to port / from port in the pcaps (tshark)."""
    to = frm = 0
    for f in pcap_files:
        r = nl.run(["tshark", "-n", "-r", str(f), "-Y", "tcp.len > 0", "-T", "fields",
                    "-e", "tcp.dstport", "-e", "tcp.len"], check=True, timeout=120)
        for line in r.stdout.splitlines():
            dport, n = line.split("\t")
            if int(dport) == port:
                to += int(n)
            else:
                frm += int(n)
    return to, frm


def _tcp_segments(pcap_files):
    """Every TCP frame in the pcaps as (ports, raw sequence number, flags,
    payload length), counted (tshark). NAT translates addresses, not ports."""
    seen = {}
    for f in pcap_files:
        r = nl.run(["tshark", "-n", "-r", str(f), "-Y", "tcp", "-T", "fields", "-e", "tcp.srcport",
                    "-e", "tcp.dstport", "-e", "tcp.seq_raw", "-e", "tcp.flags", "-e", "tcp.len"],
                   check=True, timeout=120)
        for line in r.stdout.splitlines():
            seen[line] = seen.get(line, 0) + 1
    return seen


def _transfer(lab, wall, capture_dir):
    """SIZE bytes each way through the wall (checked by sha256; the wall is
    stopped after); returns the packets the two end hosts received meanwhile."""
    before = {ns: _rx_packets(lab, ns, ifn) for ns, ifn in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF))}
    _cross_both_ways(lab, wall, capture_dir)
    return {ns: _rx_packets(lab, ns, ifn) - before[ns] for ns, ifn in ((lab.hp_ns, nl.HP_IF),
                                                                          (lab.out_ns, nl.OUT_IF))}


def _end_hosts(lab, tx_csum):
    for ns, ifname in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF)):
        lab.run(ns, "ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off",
                "tx", "on" if tx_csum else "off", check=True)


@pytest.mark.parametrize("mode", ["bridge", "nat"])
@pytest.mark.parametrize("tx_csum", [True, False], ids=["csum-offloaded", "csum-filled"])
def test_segments_join_on_transmit_and_pcaps_keep_the_wire_frames(lab, honeynet_bin, capture_dir, tx_csum):
    _end_hosts(lab, tx_csum)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    for port in (nl.WALL_IN, nl.WALL_OUT):
        k = lab.run(lab.wall_ns, "ethtool", "-k", port, check=True).stdout
        assert "tcp-segmentation-offload: on" in k, k

    got = _transfer(lab, wall, capture_dir)

    segments = SIZE // MSS  # data segments each way, at least
    for ns, n in got.items():
        # Each host received SIZE bytes in MTU frames on the wire; joined, they
        # arrive as a fraction of that many packets (ACKs for its own data included).
        assert n < segments // 2, "%s received %d packets for %d+ segments: not joined" % (ns, n, segments)

    stats = [e for e in read_events(capture_dir) if e.get("event_type") == "stats"][-1]["stats"]
    for side in ("inside", "outside"):
        files = nl.pcaps(capture_dir, side)
        big, total = _frames_over_mtu(files)
        assert big == 0, "%s: %d of %d frames longer than 1514 bytes in the pcap" % (side, big, total)
        assert total >= 2 * segments, (side, total)
        to, frm = _payload_bytes(files, 8080)
        assert to >= SIZE and frm >= SIZE, (side, to, frm)
        assert stats[side]["tx_discarded"] == 0 and stats[side]["tx_errors"] == 0, stats[side]
    # Every segment that entered one port left the other: the two series hold
    # the same TCP frames, one by one, so none that was joined is missing.
    inside, outside = (_tcp_segments(nl.pcaps(capture_dir, side)) for side in ("inside", "outside"))
    assert sum(inside.values()) >= 2 * segments
    assert inside == outside, "frames in one series only: %s / %s" % (
        sorted(set(inside.items()) - set(outside.items()))[:5], sorted(set(outside.items()) - set(inside.items()))[:5])


@pytest.mark.parametrize("mode", ["bridge"])
def test_coalesce_false_sends_each_segment_as_it_came(lab, honeynet_bin, capture_dir):
    _end_hosts(lab, True)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, top={"coalesce": False})

    got = _transfer(lab, wall, capture_dir)

    for ns, n in got.items():
        assert n >= SIZE // MSS, "%s received %d packets: fewer than the segments" % (ns, n)


def _notices(capture_dir, what):
    return sorted(e.get("in_iface") for e in read_events(capture_dir)
                  if e.get("event_type") == "notice" and e["notice"]["what"] == what)


@pytest.mark.parametrize("mode", ["bridge"])
def test_offloads_turned_off_under_the_running_wall_come_back(lab, honeynet_bin, capture_dir):
    """Someone turns the offloads of the wall's ports off while it runs. The
    kernel drops a super-segment that a port without TSO would have to cut
    (the wall sends without a qdisc): what was joined meanwhile the port cuts
    itself (unit test AfPacketTest.SuperSegmentIsCutWhenTsoGoesOff), and at
    its next link check the wall sets the offloads again, as at start, and
    says so (notice offload_reverted). Then the segments are joined again;
    the bytes arrive intact both ways, nothing is discarded, and the two
    pcap series hold the same frames."""
    _end_hosts(lab, True)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    for port in (nl.WALL_IN, nl.WALL_OUT):
        lab.run(lab.wall_ns, "ethtool", "-K", port, "tx", "off", "sg", "off", "tso", "off", "gso", "off", check=True)
    nl.wait_until(lambda: all("%s: turned on tso again" % p in wall.output() for p in (nl.WALL_IN, nl.WALL_OUT)),
                  timeout=5, what="the wall to turn TSO on again: " + wall.output()[-600:])
    for port in (nl.WALL_IN, nl.WALL_OUT):
        k = lab.run(lab.wall_ns, "ethtool", "-k", port, check=True).stdout
        assert "tcp-segmentation-offload: on" in k, k

    got = _transfer(lab, wall, capture_dir)

    for ns, n in got.items():
        assert n < (SIZE // MSS) // 2, "%s received %d packets: not joined" % (ns, n)
    assert sorted(set(_notices(capture_dir, "offload_reverted"))) == sorted([nl.WALL_IN, nl.WALL_OUT])
    stats = [e for e in read_events(capture_dir) if e.get("event_type") == "stats"][-1]["stats"]
    for side in ("inside", "outside"):
        assert stats[side]["tx_discarded"] == 0 and stats[side]["tx_errors"] == 0, stats[side]
        big, total = _frames_over_mtu(nl.pcaps(capture_dir, side))
        assert big == 0 and total >= 2 * (SIZE // MSS), (side, big, total)
    inside, outside = (_tcp_segments(nl.pcaps(capture_dir, side)) for side in ("inside", "outside"))
    assert inside == outside


@pytest.mark.parametrize("mode", ["bridge"])
def test_wall_turns_on_what_tso_needs(lab, honeynet_bin, capture_dir):
    """The wall's ports start with TX checksums and scatter-gather off (TSO
    cannot be on then): the wall turns them on with TSO, says so, and joins."""
    _end_hosts(lab, True)
    for port in (nl.WALL_IN, nl.WALL_OUT):
        lab.run(lab.wall_ns, "ethtool", "-K", port, "tx", "off", "sg", "off", "tso", "off", "gso", "off", check=True)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    for port in (nl.WALL_IN, nl.WALL_OUT):
        for what in ("tx-checksumming", "sg", "tso"):
            assert "%s: turned on %s" % (port, what) in wall.output(), wall.output()
        k = lab.run(lab.wall_ns, "ethtool", "-k", port, check=True).stdout
        assert "tcp-segmentation-offload: on" in k, k

    got = _transfer(lab, wall, capture_dir)

    for ns, n in got.items():
        assert n < (SIZE // MSS) // 2, "%s received %d packets: not joined" % (ns, n)
    assert _notices(capture_dir, "segmentation_off") == []
