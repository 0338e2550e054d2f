"""Faults: the honeywall killed under traffic (nothing passes while it is down,
budgets and pcap files survive), the capture disk full (forwarding and Data
Control go on, the loss is counted and logged, capture resumes when space
returns), a data port's link going down and up, and its interface deleted and
created again."""
import signal
import time

import pytest

import floodgen
import netlab as nl
from netlab import MODES, read_events, read_log, wait_until
from test_floods import gen_result, mac_of, outside_dst_mac, start_gen, start_udp_sink, stats_events

TCP_TARGETS = [(nl.OUTSIDE_EXTRA[i], (80, 21, 6667, 23)[i % 4]) for i in range(12)]


def notices(capture_dir, what=None):
    return [e for e in read_events(capture_dir) if e.get("event_type") == "notice"
            and (what is None or e["notice"]["what"] == what)]


def cpu_seconds(pid) -> float:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def inbound_stream(lab, rate, seconds, dport=9, size=200) -> nl.Proc:
    """Numbered UDP frames from the outside host to the honeypot, in the background."""
    return start_gen(lab, lab.out_ns, "--ifname", nl.OUT_IF, "--dst-mac", outside_dst_mac(lab),
                     "--src", nl.OUTSIDE_EXTRA[0], "--dst", lab.public_ip, "--dport", dport,
                     "--size", size, "--rate", rate, "--seconds", seconds)


def pcap_is_whole(path):
    """(frames tshark reads, frames in whole records, bytes after the last whole record).
    tshark must read the file without an error."""
    r = nl.run(["tshark", "-n", "-r", str(path)], check=False, timeout=120)
    assert r.returncode == 0 and "cut short" not in r.stderr and "appears to be damaged" not in r.stderr, \
        "tshark fails on %s (exit %d): %s" % (path, r.returncode, r.stderr)
    data = path.read_bytes()
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = int.from_bytes(data[off + 8:off + 12], "little")
        if off + 16 + incl > len(data):
            break
        off += 16 + incl
        n += 1
    return len(r.stdout.splitlines()), n, len(data) - off


# --- SIGKILL under traffic -------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_sigkill_under_traffic(lab, honeynet_bin, capture_dir, tmp_path):
    sink = start_udp_sink(lab, lab.hp_ns, [9])
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    spent = [lab.tcp_connect(lab.hp_ns, ip, port, timeout=2) for ip, port in TCP_TARGETS[:4]]
    assert spent == [True] * 4, spent
    wait_until(lambda: nl.budget_used(capture_dir, "tcp") >= 4, timeout=5, what="budgets.json with 4 TCP starts")
    # traffic both ways: numbered UDP in, pings out, while the honeywall dies
    stream = inbound_stream(lab, rate=5000, seconds=30)  # stopped below
    pinger = lab.spawn(lab.hp_ns, "ping", "-n", "-i", "0.01", "-W", "1", "-w", "30", nl.OUTSIDE_EXTRA[1])
    time.sleep(1.0)
    wall.send_signal(signal.SIGKILL)
    assert wall.wait(5) == -signal.SIGKILL
    killed_at = time.monotonic()

    # while it is down and the traffic goes on: nothing reaches the far sides
    far_out = lab.start_tcpdump(lab.out_ns, nl.OUT_IF, tmp_path / "far-outside.pcap", direction="in")
    far_hp = lab.start_tcpdump(lab.hp_ns, nl.HP_IF, tmp_path / "far-honeypot.pcap", direction="in")
    time.sleep(1.5)
    assert stream.running() and pinger.running(), "the traffic stopped before the test looked"
    lab.stop_tcpdump(far_out)
    lab.stop_tcpdump(far_hp)
    for name in ("far-outside.pcap", "far-honeypot.pcap"):
        frames = nl.read_pcap(tmp_path / name)
        assert frames == [], "%s: %d frame(s) crossed the killed honeywall" % (name, len(frames))
    stream.stop()
    pinger.stop()

    # the pcap files written before the kill: readable by tshark, ending on a whole record
    before = {p.name: p.stat().st_size for side in ("inside", "outside") for p in nl.pcaps(capture_dir, side)}
    for side in ("inside", "outside"):
        files = nl.pcaps(capture_dir, side)
        assert files, "no %s pcap written before the kill" % side
        total = 0
        for f in files:
            read, whole, tail = pcap_is_whole(f)
            assert tail == 0, "%s ends in %d bytes of a partial record" % (f, tail)
            assert read == whole
            total += read
        marked, _ = floodgen.count_marked(files[-1], dport=9)
        assert total > 0 and (side == "outside" or marked > 0), "%s: %d frames, %d of the stream" % (
            side, total, marked)

    # restart: the spent budget is as it was (4 of 9), the old files are untouched
    wall2 = lab.start_wall(honeynet_bin, capture_dir=capture_dir, capture={"stats_interval": "1s"})
    assert time.monotonic() - killed_at < 30
    more = [lab.tcp_connect(lab.hp_ns, ip, port, timeout=2) for ip, port in TCP_TARGETS[4:10]]
    assert more == [True] * 5 + [False], "after the restart exactly 5 more of 9 may connect: %s" % more
    assert wall2.stop() == 0
    final = stats_events(capture_dir)[-1]
    assert final["honeypots"]["hp1"]["budget"]["TCP"]["used"] == 9, final["honeypots"]
    for name, size in before.items():
        assert (capture_dir / name).stat().st_size == size, "the restart changed %s" % name
    sink.stop()


# --- capture disk full -----------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs of the test's own, unmounted afterwards whatever happens."""
    d = tmp_path / "small"
    d.mkdir()
    nl.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0750", "hn-test-tmpfs", str(d)])
    try:
        yield d
    finally:
        r = nl.run(["umount", str(d)], check=False)
        if r.returncode != 0:
            nl.run(["umount", "-l", str(d)], check=False)


def test_capture_disk_full(lab, honeynet_bin, small_disk):
    capture_dir = small_disk / "capture"
    sink = start_udp_sink(lab, lab.hp_ns, [9, 10])
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, capture={"stats_interval": "1s"})
    # ~1 MB/s per port of pcap: the 2 MiB disk is full within a second or two
    stream = inbound_stream(lab, rate=2000, seconds=3, size=500)
    failed_line = wall.wait_line("no space left", 10)  # "capture on hw-..: ... No space left on device ..."

    # forwarding and Data Control go on while the disk is full
    assert nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23), "inbound must still work"
    got = [lab.tcp_connect(lab.hp_ns, ip, port, timeout=2) for ip, port in TCP_TARGETS[:10]]
    assert got == [True] * 9 + [False], "Data Control with a full disk: %s" % got
    res = gen_result(stream)
    assert res["sent"] >= 5000

    # space returns: the test deletes the pcap files; new frames reach a new file
    for f in list(capture_dir.glob("*.pcap")):
        f.unlink()
    stream2 = inbound_stream(lab, rate=500, seconds=2, dport=10)
    resumed = wall.wait_line("writing again", 10)
    # every start Data Control counted while the disk was full is on disk again
    wait_until(lambda: nl.budget_used(capture_dir, "tcp") >= 9, timeout=5, what="budgets.json with 9 TCP starts")
    gen_result(stream2)
    time.sleep(0.5)
    assert wall.stop() == 0
    stop_line = [l for l in wall.stdout_lines if l.startswith("honeywall stopped:")][-1]
    sink.stop()

    new = [f for side in ("inside", "outside") for f in nl.pcaps(capture_dir, side)]
    assert new, "no pcap file after space returned"
    marked = sum(floodgen.count_marked(f, dport=10)[0] for f in new)
    assert marked > 0, "frames sent after space returned are in no pcap file"
    for f in new:
        read, whole, tail = pcap_is_whole(f)
        assert tail == 0 and read == whole, f
    # counted: write_drops in the stats and in the stop line
    final = stats_events(capture_dir)[-1]
    assert final["capture"]["write_drops"] > 0, final["capture"]
    lost = final["capture"]["write_drops"] + final["capture"]["kernel_drops"]
    assert "capture %d frames, %d dropped" % (final["capture"]["frames"], lost) in stop_line, stop_line
    # logged: the notices in events.json and honeywall.log (written once space was back)
    failed = notices(capture_dir, "capture_write_failed")
    back = notices(capture_dir, "capture_write_resumed")
    assert failed and back, [e["notice"] for e in notices(capture_dir)]
    assert "no space left" in failed[0]["notice"]["message"].lower(), failed[0]
    if notices(capture_dir, "budgets_write_failed"):
        assert notices(capture_dir, "budgets_written"), "budgets.json failed and was not written again"
    assert any("NOTICE capture on" in l and "writing again" in l for l in read_log(capture_dir)), \
        "\n".join(read_log(capture_dir)[-10:])
    # events.json holds whole lines only (a line cut by the full disk was removed again)
    for line in (capture_dir / "events.json").read_text().splitlines():
        nl.json.loads(line)
    print(failed_line, "/", resumed, "/", stop_line)


# --- link down and up -------------------------------------------------------------
@pytest.mark.parametrize("mode,port", [("bridge", nl.WALL_IN), ("nat", nl.WALL_OUT)])
def test_link_down_and_up(lab, honeynet_bin, capture_dir, port):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, capture={"stats_interval": "1s"})
    assert lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0]).returncode == 0
    lab.run(lab.wall_ns, "ip", "link", "set", "dev", port, "down", check=True)
    wall.wait_line("%s: link down" % port, 5)
    assert lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0], wait=1).returncode != 0, "a down port forwarded"
    # More frames than a TX ring holds, for the port that is down (they can only be refused),
    # and the honeywall does not spin on the socket's error while the link is down.
    sink = start_udp_sink(lab, lab.hp_ns, [9])
    c0, t0 = cpu_seconds(wall.pid), time.monotonic()
    if port == nl.WALL_IN:
        gen_result(inbound_stream(lab, rate=20000, seconds=0.5))  # 10000 frames toward the inside
    else:
        gen_result(start_gen(lab, lab.hp_ns, "--ifname", nl.HP_IF, "--dst-mac", mac_of(lab, lab.wall_ns, nl.WALL_IN),
                             "--src", lab.honeypot_ip, "--dst", nl.OUTSIDE_EXTRA[2], "--rate", 20000,
                             "--seconds", 0.5))
    time.sleep(1.0)
    cpu = (cpu_seconds(wall.pid) - c0) / (time.monotonic() - t0)
    assert cpu < 0.5, "the honeywall used %.0f%% of a CPU while a port was down" % (cpu * 100)

    lab.run(lab.wall_ns, "ip", "link", "set", "dev", port, "up", check=True)
    wall.wait_line("%s: link up again" % port, 5)
    wait_until(lambda: lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0], wait=1).returncode == 0, timeout=5,
               what="outbound ping after the link came back")
    assert lab.ping(lab.out_ns, lab.public_ip).returncode == 0, "inbound ping after the link came back"
    assert nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23)
    assert lab.tcp_connect(lab.hp_ns, nl.OUTSIDE_EXTRA[3], 80)
    assert wall.stop() == 0
    sink.stop()

    side = "inside" if port == nl.WALL_IN else "outside"
    final = stats_events(capture_dir)[-1][side]
    assert final["link"] == "up" and final["link_downs"] == 1, final
    assert final["tx_refused"] > 0, "frames for the down port were not counted: %s" % final
    whats = [e["notice"]["what"] for e in notices(capture_dir) if e.get("in_iface") == port]
    assert whats[:2] == ["link_down", "link_up"], whats
    log = [l for l in read_log(capture_dir) if "NOTICE" in l and port in l]
    assert any("link down" in l for l in log) and any("link up again" in l for l in log), log


# --- interface deleted and created again ------------------------------------------
def recreate_inside(lab, hp_mac):
    """hw-in and its peer as netlab made them (the peer keeps the honeypot's MAC:
    it stands for the honeypot's own NIC)."""
    lab.recreate_inside(hp_mac)


@pytest.mark.parametrize("method", ["inline", "socket"])
@pytest.mark.parametrize("mode", MODES)
def test_interface_deleted_and_recreated(lab, honeynet_bin, capture_dir, method):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, capture={"stats_interval": "1s", "method": method})
    assert lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0]).returncode == 0
    hp_mac = mac_of(lab, lab.hp_ns, nl.HP_IF)
    lab.run(lab.wall_ns, "ip", "link", "del", nl.WALL_IN, check=True)
    wall.wait_line("%s: the interface is gone" % nl.WALL_IN, 5)
    assert lab.ping(lab.out_ns, lab.public_ip, wait=1).returncode != 0

    recreate_inside(lab, hp_mac)
    wall.wait_line("%s: the interface is back" % nl.WALL_IN, 5)
    wait_until(lambda: lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0], wait=1).returncode == 0, timeout=5,
               what="outbound ping over the re-created interface")
    assert nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23)
    # the capture follows the new interface: frames after the re-creation are in the inside pcap
    assert lab.ping(lab.out_ns, lab.public_ip, extra=["-p", "5a", "-s", "40"]).returncode == 0
    assert wall.stop() == 0
    seen = [e for f in nl.pcaps(capture_dir, "inside") for e in nl.icmp_echo_requests(nl.read_pcap(f))
            if e["payload"].endswith(b"\x5a" * 16)]
    assert seen, "the echo request sent after the re-creation is not in the inside pcap"
    final = stats_events(capture_dir)[-1]["inside"]
    assert final["link"] == "up" and final["reopens"] == 1, final
    whats = [e["notice"]["what"] for e in notices(capture_dir) if e.get("in_iface") == nl.WALL_IN]
    assert "port_gone" in whats and "port_reopened" in whats, whats
    if method == "socket":
        # the capture's own socket was bound to the new interface before the honeywall forwarded on it
        assert "capture_port_reopened" in whats, whats
        assert whats.index("capture_port_reopened") < whats.index("port_reopened"), whats
    else:
        # inline: the capture is fed by the forwarder's (reopened) port; no socket of its own
        assert "capture_port_gone" not in whats, whats
