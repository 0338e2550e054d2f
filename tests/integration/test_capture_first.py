"""Capture first (capture.policy, docs/capture.md): one TCP stream at full
speed each way through `honeynet wall`, with the honeywall stopped for 0.2 s
in the middle of each so its rings back up, and a capture ring of 1 MiB.

- capture-first (the default): every frame that crossed the wall (the ports'
  rx + tx counters, minus what the ports' RX rings overflowed on, which the
  honeywall never received) is in the pcap files, counted by capinfos; the
  capture dropped nothing. The transfers complete.
- forward-first: the same accounting holds with the drops it reports:
  files + reported drops = frames that crossed.
"""
import json
import os
import signal
import time

import pytest

import netlab as nl
from netlab import read_events

IPERF_PORT = 5201
SECONDS = 3


def link_stat(lab, ifname, what):
    return int(lab.run(lab.wall_ns, "cat", "/sys/class/net/%s/statistics/%s" % (ifname, what), check=True).stdout)


def crossed_links(lab):
    return sum(link_stat(lab, p, w) for p in (nl.WALL_IN, nl.WALL_OUT) for w in ("rx_packets", "tx_packets"))


def pcap_frames(path) -> int:
    r = nl.run(["capinfos", "-M", "-c", "-T", str(path)], check=True, timeout=60)
    return int(r.stdout.strip().splitlines()[-1].split("\t")[-1])


def iperf_with_a_pause(lab, wall, client_ns, server_ns, server_ip):
    """One TCP stream for SECONDS; the honeywall is stopped for 0.2 s after 1 s."""
    srv = lab.spawn(server_ns, "iperf3", "-s", "-1", "--forceflush", "-p", str(IPERF_PORT))
    srv.wait_line("listening", 10)
    cli = lab.spawn(client_ns, "iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t", str(SECONDS), "-J")
    time.sleep(1.0)  # into the transfer (not a readiness wait: the pause must fall inside it)
    os.kill(wall.pid, signal.SIGSTOP)
    time.sleep(0.2)
    os.kill(wall.pid, signal.SIGCONT)
    assert cli.wait(SECONDS + 30) == 0, cli.output()[-2000:]
    srv.wait(10)
    return json.loads("\n".join(cli.stdout_lines))["end"]["sum_received"]["bits_per_second"]


@pytest.mark.parametrize("mode,policy", [("bridge", "capture-first"), ("nat", "capture-first"),
                                         ("bridge", "forward-first")])
def test_every_frame_that_crossed_is_in_the_pcaps(lab, capture_dir, mode, policy):
    for ns, ifname in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF)):
        lab.run(ns, "ethtool", "-K", ifname, "tso", "off", "gso", "off", check=True)
    before = crossed_links(lab)
    # The ground truth is the ports' packet counters, which count a joined
    # super-segment once: coalesce is off here. test_coalesce.py checks the
    # pcaps of joined segments against each other, segment by segment.
    wall = lab.start_wall(capture_dir=capture_dir, capture={"ring_mb": 1, "stats_interval": "1s", "policy": policy},
                          top={"coalesce": False})
    fwd = iperf_with_a_pause(lab, wall, lab.out_ns, lab.hp_ns, lab.public_ip)
    rev = iperf_with_a_pause(lab, wall, lab.hp_ns, lab.out_ns, nl.OUTSIDE_IP)
    assert wall.stop() == 0
    crossed_ports = crossed_links(lab) - before
    stop_line = [l for l in wall.stdout_lines if l.startswith("honeywall stopped:")][-1]
    final = [e["stats"] for e in read_events(capture_dir) if e.get("event_type") == "stats"][-1]
    cap = final["capture"]
    overflow = final["inside"]["kernel_drops"] + final["outside"]["kernel_drops"]
    crossed = crossed_ports - overflow
    in_files = sum(pcap_frames(f) for side in ("inside", "outside") for f in nl.pcaps(capture_dir, side))
    print("%s %s: fwd %.2f rev %.2f Gbit/s; crossed %d (ports %d, rx overflow %d); files %d; capture %s"
          % (mode, policy, fwd / 1e9, rev / 1e9, crossed, crossed_ports, overflow, in_files, cap))
    assert fwd > 50e6 and rev > 50e6, "the transfers should run at speed: %.0f / %.0f bit/s" % (fwd, rev)
    assert cap["policy"] == policy
    assert in_files == cap["frames"], (in_files, cap)
    assert cap["frames"] + cap["kernel_drops"] + cap["write_drops"] == crossed, \
        "capture: %d written + %d + %d dropped != %d frames that crossed the wall" % (
            cap["frames"], cap["kernel_drops"], cap["write_drops"], crossed)
    if policy == "capture-first":
        assert cap["kernel_drops"] == 0 and cap["write_drops"] == 0, cap
        assert in_files == crossed, "%d frames crossed the wall, %d are in the pcaps\n%s" % (
            crossed, in_files, stop_line)
