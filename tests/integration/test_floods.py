"""Floods and resources: a honeypot flooding new 5-tuples at the top rate of
floodgen.py (a PACKET_TX_RING sender, ~130-200 k frames/s of 64 bytes here)
cannot get more than its budget out, cannot make the honeywall grow, and does
not take the honeywall away from the other honeypot; the capture keeps every
frame at a moderate rate and counts what it loses above it.

Memory bound (docs/data-control.md, "Memory"): the honeywall's peak RSS is at
most the sum of its fixed-size parts, computed in memory_bound() below from
the same sizes the document gives.
"""
import json
import os
import signal
import time

import pytest

import floodgen
import netlab as nl
from netlab import MODES, read_events, wait_until

GEN = str(nl.HERE / "floodgen.py")

# --- the documented memory bound (docs/data-control.md, "Memory") -------------
MIB = 1 << 20
FLOW_SLOT_BYTES = 112 + 1        # sizeof(Flow) + its "used" byte (rule state is kept apart, only with [rules])
EVENT_BYTES = 184                # sizeof(Event)
EVENT_QUEUE = 16384              # EventWriter::kQueueCapacity
PORT_RING_FRAMES = 4096          # AfPacketPort ring slots per ring (honeywall)
PORT_SLOT_BYTES = 2048           # slot size for an MTU of 1500
PCAP_BUFFER = 1 * MIB            # per capture port
OTHER = 20 * MIB                 # code, libraries (incl. OpenSSL/zlib/brotli via cpp-httplib), heap, thread stacks


def bit_ceil(n):
    p = 1
    while p < n:
        p <<= 1
    return p


def memory_bound(max_flows=65536, ring_mb=32):
    return (2 * ring_mb * MIB                                   # capture rings, 2 ports
            + 2 * 2 * PORT_RING_FRAMES * PORT_SLOT_BYTES        # data ports: RX + TX ring each
            + bit_ceil(2 * max_flows) * FLOW_SLOT_BYTES         # flow table
            + EVENT_QUEUE * EVENT_BYTES                         # event queue
            + 2 * PCAP_BUFFER + OTHER)


def proc_mem(pid) -> dict:
    """VmRSS / VmHWM of a process, bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


# --- a second honeypot ---------------------------------------------------------
HP2_BRIDGE_IP = "192.0.2.11"
HP2_NAT_IP = "10.0.0.3"
HP2_BANNER = "hn-hp2 login:"


class TwoHoneypotLab(nl.NetLab):
    """netlab's topology plus a second honeypot hp2 in a namespace of its own,
    on the same inside segment: a macvlan (own MAC) on the honeypot veth.
    bridge: 192.0.2.11; nat: 10.0.0.3, public 192.0.2.11."""

    def __init__(self, mode):
        super().__init__(mode)
        self.hp2_ns = self.hp_ns.replace("hn-hp-", "hn-hp2-")
        self.hp2_ip = HP2_NAT_IP if mode == "nat" else HP2_BRIDGE_IP
        self.hp2_public = HP2_BRIDGE_IP

    def build(self):
        if self.hp2_ns in nl.list_netns():
            raise RuntimeError("namespace %s already exists: ip netns del %s" % (self.hp2_ns, self.hp2_ns))
        super().build()
        nl.run(["ip", "netns", "add", self.hp2_ns])
        self.created.insert(0, self.hp2_ns)  # deleted last, after its parent link's namespace
        self.sysctl(self.hp2_ns, {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1})
        nl.run(["ip", "-n", self.hp2_ns, "link", "set", "lo", "up"])
        nl.run(["ip", "-n", self.hp_ns, "link", "add", "hn-hp2", "link", nl.HP_IF, "type", "macvlan", "mode", "bridge"])
        nl.run(["ip", "-n", self.hp_ns, "link", "set", "hn-hp2", "netns", self.hp2_ns])
        self.sysctl(self.hp2_ns, {"net.ipv6.conf.hn-hp2.disable_ipv6": 1})
        nl.run(["ip", "-n", self.hp2_ns, "addr", "add", self.hp2_ip + "/24", "dev", "hn-hp2"])
        nl.run(["ip", "-n", self.hp2_ns, "link", "set", "hn-hp2", "up"])
        nl.run(["ip", "-n", self.hp2_ns, "route", "add", "default", "via", self.gateway_ip, "dev", "hn-hp2"])

    def start_services(self):
        super().start_services()
        self.start_server(self.hp2_ns, [23], HP2_BANNER)

    def config(self, capture_dir, **kw) -> str:
        text = nl.make_config(self.mode, capture_dir, **kw)
        text += '\n[[honeypot]]\nname = "hp2"\nip = "%s"\n' % self.hp2_ip
        if self.mode == "nat":
            text += 'public_ip = "%s"\n' % self.hp2_public
        return text


# --- helpers ------------------------------------------------------------------
def mac_of(lab, ns, ifname):
    return lab.run(ns, "cat", "/sys/class/net/%s/address" % ifname, check=True).stdout.strip()


def link_stat(lab, ns, ifname, what):
    return int(lab.run(ns, "cat", "/sys/class/net/%s/statistics/%s" % (ifname, what), check=True).stdout)


def honeypot_dst_mac(lab):
    """Where the honeypot sends frames for the outside: the outside host (bridge) or the wall (nat)."""
    return mac_of(lab, lab.out_ns, nl.OUT_IF) if lab.mode == "bridge" else mac_of(lab, lab.wall_ns, nl.WALL_IN)


def outside_dst_mac(lab):
    """Where the outside sends frames for the honeypot's public address."""
    return mac_of(lab, lab.hp_ns, nl.HP_IF) if lab.mode == "bridge" else mac_of(lab, lab.wall_ns, nl.WALL_OUT)


def start_gen(lab, ns, *args) -> nl.Proc:
    return lab.spawn(ns, nl.PYTHON, GEN, *map(str, args))


def gen_result(p: nl.Proc, timeout=60) -> dict:
    p.wait(timeout)
    lines = [l for l in p.stdout_lines if l.startswith("{")]
    assert p.p.returncode == 0 and lines, "floodgen failed:\n" + p.output()
    return json.loads(lines[-1])


def start_udp_sink(lab, ns, ports) -> nl.Proc:
    """Bound UDP sockets that read nothing: the honeypot answers no ICMP port unreachable."""
    code = ("import socket,time\nss=[]\nfor p in %r:\n s=socket.socket(2,2); s.bind(('0.0.0.0',p)); ss.append(s)\n"
            "print('ready',flush=True)\ntime.sleep(1e6)\n" % list(ports))
    p = lab.spawn(ns, nl.PYTHON, "-c", code)
    p.wait_line("ready", 10)
    return p


def stats_events(capture_dir):
    return [e["stats"] for e in read_events(capture_dir) if e.get("event_type") == "stats"]


def pcap_frames(path) -> int:
    """Frames in a pcap file by capinfos (an independent reader)."""
    r = nl.run(["capinfos", "-M", "-c", "-T", str(path)], check=True, timeout=60)
    return int(r.stdout.strip().splitlines()[-1].split("\t")[-1])


def five_tuples(path, src_ip) -> dict:
    """Distinct UDP 5-tuples and TCP SYN 5-tuples from src_ip in a pcap (tshark)."""
    rows = nl.tshark_fields(path, "ip.src == %s && (udp || (tcp.flags.syn == 1 && tcp.flags.ack == 0))" % src_ip,
                            ["ip.proto", "ip.dst", "udp.dstport", "tcp.dstport", "udp.srcport", "tcp.srcport"])
    out = {"tcp": set(), "udp": set()}
    for r in rows:
        r += [""] * (6 - len(r))
        if r[0] == "6":
            out["tcp"].add((r[1], r[3], r[5]))
        elif r[0] == "17":
            out["udp"].add((r[1], r[2], r[4]))
    return out


# --- floods -------------------------------------------------------------------
FLOOD_SECONDS = 5
FLOOD_DISTINCT = 80000   # more new 5-tuples than the flow table holds (65536)


@pytest.fixture
def lab2(mode, request):
    with TwoHoneypotLab(mode) as the_lab:
        request.node._hn_lab = the_lab
        yield the_lab


def run_flood(lab, seconds=FLOOD_SECONDS):
    """SYN + UDP (64-byte frames) to random 5-tuples from hp1 at floodgen's top rate."""
    return start_gen(lab, lab.hp_ns, "--ifname", nl.HP_IF, "--dst-mac", honeypot_dst_mac(lab),
                     "--src", lab.honeypot_ip, "--dst-net", "198.51.100.0/24", "--proto", "mix",
                     "--distinct", FLOOD_DISTINCT, "--size", 64, "--seconds", seconds)


@pytest.mark.parametrize("mode", MODES)
def test_flood_budget_holds_and_memory_is_bounded(lab2, honeynet_bin, capture_dir, tmp_path):
    lab = lab2
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir,
                          config_text=lab.config(capture_dir, capture={"stats_interval": "1s"}))
    # what the outside host receives from the honeypot, independently of the honeywall
    far = lab.start_tcpdump(lab.out_ns, nl.OUT_IF, tmp_path / "far-outside.pcap", direction="in",
                            filt=["udp or tcp[tcpflags] & tcp-syn != 0"])
    mem0 = proc_mem(wall.pid)

    flood = run_flood(lab)
    res = gen_result(flood, timeout=FLOOD_SECONDS + 60)
    print("flood: %s" % res)
    assert res["sent"] > 100000, "the flood generator did not run: %s" % res
    mem1 = proc_mem(wall.pid)

    # The honeywall took more distinct new 5-tuples than its flow table holds
    # (65536): had the budgets lived in the table, this is where they would be lost.
    def flood_taken():
        st = stats_events(capture_dir)
        return st and st[-1]["inside"]["rx_frames"] >= 65600
    wait_until(flood_taken, timeout=15, what="the honeywall to take 65600 flood frames (stats events)")

    # after the table filled, the budget still holds: a real connection from hp1 is refused
    assert not lab.tcp_connect(lab.hp_ns, nl.OUTSIDE_EXTRA[0], 80, timeout=2), \
        "hp1 spent its budget in the flood: a new outbound connection must be refused"
    lab.stop_tcpdump(far)
    assert wall.stop() == 0
    stop_line = [l for l in wall.stdout_lines if l.startswith("honeywall stopped:")][-1]
    print(stop_line)

    # the outside received at most the budget: 9 TCP and 20 UDP new connections
    src = lab.public_ip
    got = five_tuples(tmp_path / "far-outside.pcap", src)
    assert len(got["tcp"]) <= 9 and len(got["udp"]) <= 20, \
        "outside got %d TCP and %d UDP new connections (budget 9/20)" % (len(got["tcp"]), len(got["udp"]))
    assert len(got["tcp"]) == 9 and len(got["udp"]) == 20, "the flood should spend the whole budget: %s" % (
        {k: len(v) for k, v in got.items()})
    final = stats_events(capture_dir)[-1]
    b = final["honeypots"]["hp1"]["budget"]
    assert (b["TCP"]["used"], b["UDP"]["used"]) == (9, 20), b
    assert final["drops"].get("budget_exhausted", 0) > 0, final["drops"]

    # memory: under the documented bound, and the flood did not make it grow
    bound = memory_bound()
    print("wall memory: before flood RSS %.1f MiB, after: RSS %.1f MiB, peak (VmHWM) %.1f MiB; bound %.1f MiB"
          % (mem0["VmRSS"] / MIB, mem1["VmRSS"] / MIB, mem1["VmHWM"] / MIB, bound / MIB))
    assert mem1["VmHWM"] <= bound, "peak RSS %.1f MiB over the documented bound %.1f MiB" % (
        mem1["VmHWM"] / MIB, bound / MIB)
    assert mem1["VmHWM"] - mem0["VmRSS"] <= 8 * MIB, "the flood made the honeywall grow by %.1f MiB" % (
        (mem1["VmHWM"] - mem0["VmRSS"]) / MIB)


def syn_sources(path, dst_ip, dport) -> set:
    """Sources of TCP SYNs (without ACK) to dst_ip:dport in a pcap file. Stdlib
    and streaming: the inside pcap of a flood holds a million frames, too many
    for tshark in a test's time."""
    want = bytes(int(x) for x in dst_ip.split("."))
    out = set()
    for frame in iter_frames(path):
        if len(frame) >= 54 and frame[12:14] == b"\x08\x00" and frame[23] == 6 and frame[30:34] == want:
            l4 = 14 + (frame[14] & 0x0F) * 4
            if len(frame) >= l4 + 14 and int.from_bytes(frame[l4 + 2:l4 + 4], "big") == dport \
                    and frame[l4 + 13] & 0x12 == 0x02:
                out.add(".".join(map(str, frame[26:30])))
    return out


def iter_frames(path):
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        endian = "little" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else "big"
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            data = f.read(int.from_bytes(h[8:12], endian))
            yield data


@pytest.mark.parametrize("mode", MODES)
def test_flood_does_not_starve_the_other_honeypot(lab2, honeynet_bin, capture_dir):
    lab = lab2
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir,
                          config_text=lab.config(capture_dir, capture={"stats_interval": "1s"}))
    assert HP2_BANNER in lab.tcp_banner(lab.out_ns, lab.hp2_public, 23), "hp2 must answer before the flood"
    flood = run_flood(lab, seconds=40)  # stopped after the probes

    # The honeywall has taken 65600 of the flood's frames: more new 5-tuples than
    # its flow table holds (whatever it does with them).
    def flood_taken():
        st = stats_events(capture_dir)
        return st and st[-1]["inside"]["rx_frames"] >= 65600
    wait_until(flood_taken, timeout=15, what="the honeywall to take 65600 flood frames (stats events)")
    sources = nl.OUTSIDE_EXTRA[:3]
    answered = []
    # New inbound connections to hp2 while hp1 floods. The inside link is
    # shared: when the flood outruns the wall, the kernel drops a share of
    # every frame on it at the receive ring (hp2's SYN-ACK too), so a probe
    # gets the 5 s a client gives TCP to retransmit (SYN at 0, 1, 3 s).
    for src in sources:
        answered.append(HP2_BANNER in lab.tcp_banner(lab.out_ns, lab.hp2_public, 23, timeout=5, source=src))
    still_flooding = flood.running()
    flood.stop()
    assert wall.stop() == 0
    assert answered == [True] * len(sources), "inbound connections to hp2 during hp1's flood: %s" % answered
    assert still_flooding, "the flood ended before the probes: the test proves nothing"
    # and they were captured: the SYNs to hp2 from each source, in the inside pcap
    seen = set()
    for f in nl.pcaps(capture_dir, "inside"):
        seen |= syn_sources(f, lab.hp2_ip, 23)
    assert set(sources) <= seen, "SYNs to hp2 missing from the inside pcap: %s" % (set(sources) - seen)


# --- capture under load ---------------------------------------------------------
CAPTURE_RATE = 10000      # frames/s: every setup here kept every frame at this rate (bench/capture_loss.py)
CAPTURE_SECONDS = 3
CAPTURE_SIZE = 512


@pytest.mark.parametrize("mode", MODES)
def test_capture_keeps_every_frame_at_a_moderate_rate(lab, honeynet_bin, capture_dir):
    sink = start_udp_sink(lab, lab.hp_ns, [9])
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    assert lab.ping(lab.out_ns, lab.public_ip).returncode == 0  # ARP done both ways
    gen = start_gen(lab, lab.out_ns, "--ifname", nl.OUT_IF, "--dst-mac", outside_dst_mac(lab),
                    "--src", nl.OUTSIDE_EXTRA[0], "--dst", lab.public_ip, "--dport", 9,
                    "--size", CAPTURE_SIZE, "--rate", CAPTURE_RATE, "--seconds", CAPTURE_SECONDS)
    res = gen_result(gen)
    n = res["sent"]
    assert n >= CAPTURE_RATE * CAPTURE_SECONDS * 0.9, res
    assert wall.stop() == 0
    sink.stop()
    stop_line = [l for l in wall.stdout_lines if l.startswith("honeywall stopped:")][-1]

    for side in ("inside", "outside"):
        count, seqs = 0, set()
        for f in nl.pcaps(capture_dir, side):
            c, s = floodgen.count_marked(f, dport=9)
            count += c
            seqs |= s
        assert count == n and seqs == set(range(n)), \
            "%s pcap: %d of %d frames (%d distinct), at %d frames/s\n%s" % (side, count, n, len(seqs), res["rate"],
                                                                             stop_line)
    final = stats_events(capture_dir)[-1]
    cap = final["capture"]
    assert cap["kernel_drops"] == 0 and cap["write_drops"] == 0, cap
    assert final["inside"]["kernel_drops"] == 0 and final["outside"]["kernel_drops"] == 0, stop_line
    # every frame the capture wrote is in the files (capinfos counts all of them)
    total = sum(pcap_frames(f) for side in ("inside", "outside") for f in nl.pcaps(capture_dir, side))
    assert total == cap["frames"], "pcap files hold %d frames, stats say %d" % (total, cap["frames"])
    assert "capture %d frames, 0 dropped" % cap["frames"] in stop_line, stop_line


@pytest.mark.parametrize("policy", ["capture-first", "forward-first"])
def test_capture_overload_is_counted_not_silent(lab, honeynet_bin, capture_dir, policy):
    """Above what the capture can take (a 1 MiB capture ring, full-size frames at
    floodgen's top rate, and the honeywall stopped for 0.3 s in the middle) frames
    are lost, and every one of them is counted. capture-first (the default): the
    forwarder holds instead of losing capture, so the files hold every frame the
    honeywall took in or sent, and what it could not take waits in (or overflows)
    the port's RX ring, counted there: nothing crossed the wall unrecorded.
    forward-first: the capture ring overflows, counted as capture drops."""
    sink = start_udp_sink(lab, lab.hp_ns, [9])
    links = {p: {w: link_stat(lab, lab.wall_ns, p, w) for w in ("rx_packets", "tx_packets")}
             for p in (nl.WALL_IN, nl.WALL_OUT)}
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir,
                          capture={"ring_mb": 1, "stats_interval": "1s", "policy": policy})
    assert lab.ping(lab.out_ns, lab.public_ip).returncode == 0
    gen = start_gen(lab, lab.out_ns, "--ifname", nl.OUT_IF, "--dst-mac", outside_dst_mac(lab),
                    "--src", nl.OUTSIDE_EXTRA[0], "--dst", lab.public_ip, "--dport", 9,
                    "--size", 1514, "--seconds", 3)
    time.sleep(1.0)
    os.kill(wall.pid, signal.SIGSTOP)  # the rings fill while nobody reads them
    time.sleep(0.3)
    os.kill(wall.pid, signal.SIGCONT)
    res = gen_result(gen)
    time.sleep(0.5)
    for p in links:
        for w in links[p]:
            links[p][w] = link_stat(lab, lab.wall_ns, p, w) - links[p][w]
    assert wall.stop() == 0
    sink.stop()
    stop_line = [l for l in wall.stdout_lines if l.startswith("honeywall stopped:")][-1]
    final = stats_events(capture_dir)[-1]
    cap = final["capture"]
    print("sent %s; links %s; capture %s; %s" % (res, links, cap, stop_line))
    assert ('capture.policy = "%s"' % policy) in "\n".join(wall.stdout_lines)
    assert cap["policy"] == policy, cap

    # capture: frames in the files + frames reported lost = every frame that crossed the wall:
    # received by the honeywall (a port's rx minus what its RX ring overflowed on) or sent
    in_files = sum(pcap_frames(f) for side in ("inside", "outside") for f in nl.pcaps(capture_dir, side))
    overflow = final["inside"]["kernel_drops"] + final["outside"]["kernel_drops"]
    crossed = sum(links[p]["rx_packets"] + links[p]["tx_packets"] for p in links) - overflow
    assert in_files == cap["frames"], (in_files, cap)
    assert cap["frames"] + cap["kernel_drops"] + cap["write_drops"] == crossed, \
        "capture: %d written + %d + %d dropped != %d frames that crossed the ports" % (
            cap["frames"], cap["kernel_drops"], cap["write_drops"], crossed)
    assert "capture %d frames, %d dropped" % (cap["frames"], cap["kernel_drops"] + cap["write_drops"]) in stop_line
    if policy == "capture-first":
        assert cap["kernel_drops"] == 0 and cap["write_drops"] == 0, cap
        assert cap["waits"] > 0, "the forwarder never waited for the capture: the test did not overload it: %s" % cap
    else:
        assert cap["kernel_drops"] > 0, "the test did not overload the capture: %s" % cap

    # forwarding: every frame a port received was either handed to the engine or counted as a ring overflow
    for i, (side, port) in enumerate((("inside", nl.WALL_IN), ("outside", nl.WALL_OUT))):
        s = final[side]
        assert s["rx_frames"] + s["kernel_drops"] + s["truncated"] == links[port]["rx_packets"], (side, s, links)
    assert overflow > 0 and "rx ring overflow %d" % overflow in stop_line, stop_line
    # what was forwarded arrived: tx on a port = frames the engine sent out of it
    assert final["inside"]["tx_frames"] == links[nl.WALL_IN]["tx_packets"], (final["inside"], links)
