"""Evasion of Data Control (issue 5), end to end through `honeynet wall`.

A honeypot that has spent its budget tries to get more out with hand-made
frames (craft.py: AF_PACKET sockets opened inside the lab's namespaces), in
bridge and in nat mode. For every technique the test counts what reached the
OUTSIDE (a raw socket on hn-out0, bound before anything is sent), checks that
no more new outbound connections/flows got out than the budget allows, and
that the honeywall recorded every attempt (events.json; the final counters in
stats.json where the design records only counters), with the fields it writes.

Each test starts its own honeywall with a small budget (limits tcp/udp/icmp/
other = 1) in a fresh capture directory, on one topology per mode (module
fixture). Spending the budget first also teaches the wall the honeypot's MAC.

Ordering: the wall handles the frames of one port in order, so after an
attack the test sends a datagram on an allowed flow (the "marker", the flow
that spent the UDP budget) and waits for it outside: every earlier frame has
then been forwarded or dropped. No sleeps for readiness.

Results: one row per technique and mode, {technique, mode, attempts, got_out,
logged, ...}, merged into $HONEYNET_EVASION_RESULTS (default: next to the
honeynet binary, evasion-results.json) and printed as a table at the end.
"""
from __future__ import annotations

import json
import os
import random
import socket
import struct
import time
from pathlib import Path

import pytest

import craft as cr
import netlab as nl
from netlab import MODES, hw, wait_until

OUT = nl.OUTSIDE_IP          # the outside host (nat: also the upstream gateway)
PUB = nl.PUBLIC_IP           # the honeypot as the outside sees it, in both modes
SPEND_PORT = 80              # outside TCP listener used to spend the TCP budget
MARK_SPORT, MARK_DPORT = 45000, 7000   # the allowed UDP flow used as the in-order marker
DEFAULT_LIMITS = {"tcp": 1, "udp": 1, "icmp": 1, "other": 1, "broadcast": 1}
HP2_MAC = "02:00:00:00:0b:02"


def A(n: int) -> str:
    """Outside addresses (all on the outside host): A(20) .. A(31)."""
    return "192.0.2.%d" % n


# ----------------------------------------------------------------------- results
_ROWS: list[dict] = []


def results_path() -> Path:
    p = os.environ.get("HONEYNET_EVASION_RESULTS")
    if p:
        return Path(p)
    return Path(nl.binary_path()).resolve().parent / "evasion-results.json"


class _Report:
    """Prints the results table at the end of the session."""

    def pytest_terminal_summary(self, terminalreporter):
        if not _ROWS:
            return
        tr = terminalreporter
        tr.section("Data Control evasion results (%s)" % results_path())
        w = max(len(r["technique"]) for r in _ROWS)
        tr.write_line("%-*s  %-6s  %8s  %7s  %7s  %s" % (w, "technique", "mode", "attempts", "got_out", "logged", "how / note"))
        for r in sorted(_ROWS, key=lambda r: (r["order"], r["mode"])):
            tr.write_line("%-*s  %-6s  %8d  %7d  %7d  %s" % (
                w, r["technique"], r["mode"], r["attempts"], r["got_out"], r["logged"],
                r["how"] + ("; " + r["note"] if r.get("note") else "")))


@pytest.fixture(scope="session", autouse=True)
def evasion_results(request):
    request.config.pluginmanager.register(_Report(), "hn-evasion-report")
    yield
    if not _ROWS:
        return
    path = results_path()
    rows = {}
    try:
        for r in json.loads(path.read_text()):
            rows[(r["technique"], r["mode"])] = r
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for r in _ROWS:
        rows[(r["technique"], r["mode"])] = r
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sorted(rows.values(), key=lambda r: (r.get("order", 99), r["mode"])), indent=1) + "\n")


_ORDER: dict[str, int] = {}


def record(env, technique, attempts, got_out, logged, how="events", **extra):
    """One result row (recorded before the test asserts, so failures show too)."""
    row = {"technique": technique, "mode": env.mode, "attempts": int(attempts), "got_out": int(got_out),
           "logged": int(logged), "how": how, "order": _ORDER.setdefault(technique, len(_ORDER)),
           "run": time.strftime("%Y-%m-%dT%H:%M:%S")}
    row.update(extra)
    _ROWS.append(row)
    return row


# ----------------------------------------------------------------------- environment
class Env:
    """One topology (per mode) and the raw sockets around it; a fresh wall per test."""

    def __init__(self, lab: nl.NetLab, binary: str, base: Path):
        self.lab, self.binary, self.base, self.mode = lab, binary, base, lab.mode
        self.nat = lab.mode == "nat"
        self.hp_ip = lab.honeypot_ip
        self.hp_mac = cr.link_mac(lab.hp_ns, nl.HP_IF)
        self.out_mac = cr.link_mac(lab.out_ns, nl.OUT_IF)
        self.wall_in_mac = cr.link_mac(lab.wall_ns, nl.WALL_IN)
        self.wall_out_mac = cr.link_mac(lab.wall_ns, nl.WALL_OUT)
        self.gw_mac = self.wall_in_mac if self.nat else self.out_mac    # honeypot -> outside goes here
        self.in_mac = self.wall_out_mac if self.nat else self.hp_mac    # outside -> honeypot goes here
        self.hp2_ip = "10.0.0.3" if self.nat else "192.0.2.11"
        self.tx_hp = cr.packet_socket(lab.hp_ns, nl.HP_IF)
        self.tx_out = cr.packet_socket(lab.out_ns, nl.OUT_IF)
        self.out = cr.Sniffer(lab.out_ns, nl.OUT_IF)
        self.hp = cr.Sniffer(lab.hp_ns, nl.HP_IF)
        self.spend_listener = cr.Listener(lab.out_ns, "0.0.0.0", SPEND_PORT, b"hn-outside\n")
        self.rng = random.Random(5)
        self.n = 0
        self.marks = 0
        self.wall = None
        self.cap = None
        self.events: list[dict] = []
        self.stats: dict = {}
        self.stop_line = ""
        self.closers = []

    def close(self):
        for c in self.closers + [self.out, self.hp, self.spend_listener]:
            try:
                c.close()
            except Exception:
                pass
        self.tx_hp.close()
        self.tx_out.close()

    # --- the wall ------------------------------------------------------------
    def start(self, name, limits=None, top=None, extra_honeypots="", spend=("tcp", "icmp", "other"), honeypot=None):
        """A fresh wall with a small budget; spends the UDP budget on the marker
        flow and the classes in `spend`. Returns the Wall."""
        # Walls of earlier tests are stopped: keep only this one for failure reports.
        self.lab.procs[:] = [p for p in self.lab.procs if not isinstance(p, nl.Wall)]
        self.n += 1
        self.cap = self.base / ("%02d-%s" % (self.n, name))
        lim = dict(DEFAULT_LIMITS)
        lim.update(limits or {})
        text = nl.make_config(self.mode, self.cap, limits=lim, top=top, honeypot=honeypot) + extra_honeypots
        self.wall = self.lab.start_wall(self.binary, config_text=text, config_path=self.base / ("%02d.toml" % self.n),
                                        capture_dir=self.cap)
        self.events, self.stats, self.stop_line = [], {}, ""
        self.out.clear()
        self.hp.clear()
        # The marker flow: the first frame teaches the wall the honeypot's MAC.
        self.send([self.udp(OUT, MARK_SPORT, MARK_DPORT, b"hn-mark-0")])
        got = self.out.wait_for(lambda f: b"hn-mark-0" in f, timeout=5)
        assert got, "the marker datagram (the UDP budget's one flow) did not get out"
        for cls in spend:
            self.spend(cls)
        self.out.clear()
        self.hp.clear()
        return self.wall

    def spend(self, cls):
        """Uses one start of class cls with real traffic that must get out."""
        if cls == "tcp":
            s = cr.inet_socket(self.lab.hp_ns)
            s.settimeout(3)
            try:
                s.connect((OUT, SPEND_PORT))
                s.recv(100)
            finally:
                s.close()
        elif cls == "icmp":
            tag = b"hn-spend-icmp"
            self.send([self.frame(self.ip(OUT, 1, cr.icmp(8, 0, 0x4400, 1, tag)))])
            assert self.out.wait_for(lambda f: tag in f, timeout=5), "the ICMP budget's echo did not get out"
        elif cls == "broadcast":  # bridge only: nat routes no broadcast
            tag = b"hn-spend-bcast"
            self.send([self.udp("255.255.255.255", 48999, 7999, tag, dst_mac="ff:ff:ff:ff:ff:ff")])
            assert self.out.wait_for(lambda f: tag in f, timeout=5), "the broadcast budget's datagram did not get out"
        elif cls == "other":
            tag = b"hn-spend-gre"
            self.send([self.frame(self.ip(OUT, 47, b"\0\0\x08\0" + tag))])
            assert self.out.wait_for(lambda f: tag in f, timeout=5), "the OTHER budget's GRE packet did not get out"
        else:
            raise ValueError(cls)

    def sync(self, timeout=10.0):
        """Waits until the wall has handled every frame sent so far from the
        honeypot: a datagram on the allowed marker flow must come out after them."""
        self.marks += 1
        tag = b"hn-mark-%d" % self.marks
        frame = self.udp(OUT, MARK_SPORT, MARK_DPORT, tag)
        deadline = time.monotonic() + timeout
        while True:
            self.send([frame])
            if self.out.wait_for(lambda f: tag in f, timeout=0.5):
                return
            if time.monotonic() > deadline:
                raise AssertionError("the marker did not come out: is the honeywall still forwarding?\n" + self.wall.output())

    def stop(self):
        """Stops the wall (it must exit 0: no crash) and reads what it wrote."""
        rc = self.wall.stop()
        assert rc == 0, "honeynet wall exited with %s\n%s" % (rc, self.wall.output())
        self.events = nl.read_events(self.cap)
        try:
            self.stats = json.loads((self.cap / "stats.json").read_text())
        except (OSError, ValueError):
            self.stats = {}
        self.stop_line = next((l for l in self.wall.text().splitlines() if "honeywall stopped" in l), "")
        return rc

    # --- frames ----------------------------------------------------------------
    def ip(self, dst, proto, payload, src=None, **kw):
        return cr.ipv4(src or self.hp_ip, dst, proto, payload, **kw)

    def frame(self, ip_pkt, dst_mac=None, src_mac=None, vlans=(), ethertype=0x0800):
        return cr.eth(dst_mac or self.gw_mac, src_mac or self.hp_mac, ethertype, ip_pkt, vlans)

    def syn(self, dst, sport, dport, flags=cr.SYN, seq=None, ack=0, payload=b"", src=None, tcp_bad=False, **kw):
        src_ip = src or self.hp_ip
        seg = cr.tcp(src_ip, dst, sport, dport, flags, seq, ack, payload, bad_csum=tcp_bad)
        return self.frame(cr.ipv4(src_ip, dst, 6, seg, **{k: v for k, v in kw.items() if k not in ("dst_mac", "src_mac", "vlans")}),
                          dst_mac=kw.get("dst_mac"), src_mac=kw.get("src_mac"), vlans=kw.get("vlans", ()))

    def udp(self, dst, sport, dport, payload=b"x", src=None, udp_bad=False, dst_mac=None, src_mac=None, vlans=(), **kw):
        src_ip = src or self.hp_ip
        return self.frame(cr.ipv4(src_ip, dst, 17, cr.udp(src_ip, dst, sport, dport, payload, bad_csum=udp_bad), **kw),
                          dst_mac=dst_mac, src_mac=src_mac, vlans=vlans)

    def send(self, frames, **kw):
        cr.send_all(self.tx_hp, frames, **kw)

    def send_out(self, frames):
        cr.send_all(self.tx_out, frames)

    def from_outside(self, ip_pkt):
        return cr.eth(self.in_mac, self.out_mac, 0x0800, ip_pkt)

    # --- what arrived outside ---------------------------------------------------
    def arrived(self, pred=None) -> list[dict]:
        """Parsed frames that reached the outside (marker datagrams left out)."""
        out = []
        for f in self.out.snapshot():
            if b"hn-mark-" in f:
                continue
            d = cr.parse(f)
            d["raw"] = f
            if pred is None or pred(d):
                out.append(d)
        return out

    def flows_out(self, pred) -> set:
        """Distinct (proto, dst, sport, dport) of honeypot IPv4 packets outside matching pred."""
        return {(d.get("proto"), d.get("ip_dst"), d.get("sport"), d.get("dport"))
                for d in self.arrived(lambda d: d.get("ip_src") == PUB and pred(d))}

    # --- what the wall wrote ---------------------------------------------------
    def hw_events(self, **m) -> list[dict]:
        """event_type "honeywall" events; keys reason/action/direction match the
        honeywall object, others the top level (dest_port=..., src_ip=...)."""
        out = []
        for e in self.events:
            if e.get("event_type") != "honeywall":
                continue
            h = hw(e)
            ok = True
            for k, v in m.items():
                have = h.get(k) if k in ("reason", "action", "direction") else e.get(k)
                if k == "proto":
                    ok &= str(have).upper() == str(v).upper()
                elif callable(v):
                    ok &= bool(v(have))
                else:
                    ok &= have == v
            if ok:
                out.append(e)
        return out

    def drops_counter(self, reason) -> int:
        return int(self.stats.get("drops", {}).get(reason, 0))

    def log_lines(self, needle) -> list[str]:
        return [l for l in nl.read_log(self.cap) if needle in l]


@pytest.fixture(scope="module", params=MODES)
def env(request, honeynet_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("evasion-" + request.param)
    with nl.NetLab(request.param, services=False) as lab:
        e = Env(lab, honeynet_bin, base)
        try:
            yield e
        finally:
            e.close()


@pytest.fixture(autouse=True)
def _wall_report(request, env):
    """Failure reports show the wall of this test (conftest reads _hn_lab)."""
    request.node._hn_lab = env.lab
    yield
    if env.wall is not None and env.wall.running():
        env.wall.stop()
    while env.closers:
        c = env.closers.pop()
        try:
            cr.abort(c) if isinstance(c, socket.socket) and c.type == socket.SOCK_STREAM else c.close()
        except Exception:
            pass


# ----------------------------------------------------------------------- checks
def check_flow_drop(env, e, reason, proto, dst, dport=None, sport=None, cls=None, limit=1):
    """The fields of a dropped outbound flow's event."""
    assert e["event_type"] == "honeywall" and e.get("timestamp"), e
    h = hw(e)
    assert h.get("action") == "dropped" and h.get("reason") == reason and h.get("direction") == "outbound", e
    assert str(e.get("proto")).upper() == proto, e
    assert e.get("src_ip") == env.hp_ip and e.get("dest_ip") == dst, e
    if dport is not None:
        assert e.get("dest_port") == dport, e
    if sport is not None:
        assert e.get("src_port") == sport, e
    assert e.get("honeypot") == "hp1" and e.get("in_iface") == nl.WALL_IN, e
    assert isinstance(e.get("flow_id"), int) and str(e.get("community_id", "")).startswith("1:"), e
    if reason == "budget_exhausted":
        b = h.get("budget") or {}
        assert str(b.get("class")).upper() == (cls or proto) and b.get("left") == 0 and b.get("limit") == limit \
            and b.get("used") == limit, e


def check_frame_drop(env, e, reason, src_mac=None):
    assert e["event_type"] == "honeywall" and e.get("timestamp"), e
    h = hw(e)
    assert h.get("action") == "dropped" and h.get("reason") == reason, e
    assert e.get("in_iface") == nl.WALL_IN, e
    ether = e.get("ether") or {}
    assert "ether_type" in ether and "src_mac" in ether, e
    if src_mac:
        assert ether["src_mac"].lower() == src_mac.lower(), e


# Floods are sent in batches: a veth queues at most net.core.netdev_max_backlog
# (1000) frames, and what it drops never reaches the wall (nor its counters).
FLOOD_BATCH, FLOOD_PAUSE = 200, 0.003


def wall_rx_inside(env) -> int:
    return int(env.stats.get("inside", {}).get("rx_frames", 0))


def wall_rss_kb(pid: int) -> int:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def inbound_connect(env, port=23, timeout=3.0) -> bool:
    """The outside connects to the honeypot (listener in the honeypot ns): inbound must always work."""
    lst = cr.Listener(env.lab.hp_ns, "0.0.0.0", port, b"hn-honeypot\n")
    try:
        s = cr.inet_socket(env.lab.out_ns)
        s.settimeout(timeout)
        try:
            s.connect((PUB, port))
            return s.recv(100).startswith(b"hn-honeypot")
        except OSError:
            return False
        finally:
            s.close()
    finally:
        lst.close()


# =======================================================================
# TCP
# =======================================================================
def test_syn_retransmitted(env):
    env.start("syn-retransmit")
    syn = env.syn(A(21), 31001, 2001, seq=1000)
    env.send([syn] * 5)
    env.sync()
    got = env.flows_out(lambda d: d.get("dport") == 2001)
    env.stop()
    ev = env.hw_events(action="dropped", dest_port=2001)
    record(env, "SYN retransmitted (same ISN) x5", 1, len(got), len(ev), frames=5, budget="tcp 1 (spent)")
    assert not got, "a retransmitted SYN past the budget got out: %s" % got
    assert len(ev) == 1, "one attempt, one event (retransmissions are the same connection): %s" % ev
    check_flow_drop(env, ev[0], "budget_exhausted", "TCP", A(21), 2001, 31001)
    lines = env.log_lines("Drop TCP > 1 attempts")
    assert [nl.log_field(l, "DPT") for l in lines] == ["2001"], lines


def test_syn_resequenced(env):
    env.start("syn-reseq")
    env.send([env.syn(A(21), 31002, 2002, seq=isn) for isn in (1, 77777, 2**31, 4000000000, 123)])
    env.sync()
    got = env.flows_out(lambda d: d.get("dport") == 2002)
    env.stop()
    ev = env.hw_events(action="dropped", dest_port=2002)
    record(env, "SYN re-sequenced (same 5-tuple, new ISN) x5", 1, len(got), len(ev), frames=5, budget="tcp 1 (spent)")
    assert not got
    assert len(ev) == 1, ev
    check_flow_drop(env, ev[0], "budget_exhausted", "TCP", A(21), 2002, 31002)


def test_syn_with_payload(env):
    env.start("syn-payload")
    body = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n" + b"A" * 400
    ports = [2011, 2012, 2013]
    env.send([env.syn(A(22), 31010 + i, p, payload=body) for i, p in enumerate(ports)])
    env.sync()
    got = env.flows_out(lambda d: d.get("dport") in ports)
    env.stop()
    ev = env.hw_events(action="dropped", reason="budget_exhausted", dest_ip=A(22))
    record(env, "SYN with payload", len(ports), len(got), len(ev), budget="tcp 1 (spent)")
    assert not got
    assert sorted(e["dest_port"] for e in ev) == ports, ev
    for e in ev:
        check_flow_drop(env, e, "budget_exhausted", "TCP", A(22))


PROBES = [  # (name, flags, expected reason of the probe itself)
    ("SYN-ACK first", cr.SYN | cr.ACK, "not_flow_start"),
    ("ACK only", cr.ACK, "not_flow_start"),
    ("RST first", cr.RST, "not_flow_start"),
    ("RST-ACK", cr.RST | cr.ACK, "not_flow_start"),
    ("FIN", cr.FIN, "not_flow_start"),
    ("FIN-ACK", cr.FIN | cr.ACK, "not_flow_start"),
    ("PSH-ACK with data", cr.PSH | cr.ACK, "not_flow_start"),
    ("NULL", 0, "not_flow_start"),
    ("XMAS", cr.FIN | cr.PSH | 0x20, "not_flow_start"),
    ("SYN-FIN", cr.SYN | cr.FIN, "budget_exhausted"),
    ("SYN-RST", cr.SYN | cr.RST, "budget_exhausted"),
]


def test_state_probes(env):
    """SYN-ACK-first, ACK-only, RST-first, FIN probes: none may create state; a
    SYN on the same 5-tuple afterwards is still a new (denied) connection."""
    env.start("probes")
    frames = [env.syn(A(23), 32000 + i, 2020 + i, flags=fl, seq=1000 + i, ack=5000 if fl & cr.ACK else 0,
                      payload=b"data" if fl & cr.PSH else b"") for i, (_, fl, _) in enumerate(PROBES)]
    env.send(frames)
    env.sync()
    followups = [env.syn(A(23), 32000 + i, 2020 + i, seq=9000 + i) for i in range(len(PROBES))]
    env.send(followups)
    env.sync()
    dports = {2020 + i for i in range(len(PROBES))}
    got = env.flows_out(lambda d: d.get("dport") in dports)
    env.stop()
    logged = 0
    problems = []
    for i, (name, _, reason) in enumerate(PROBES):
        ev = env.hw_events(action="dropped", dest_port=2020 + i)
        reasons = sorted(hw(e)["reason"] for e in ev)
        want = sorted({reason, "budget_exhausted"}) if reason != "budget_exhausted" else ["budget_exhausted"]
        if reasons == want:
            logged += 1
        else:
            problems.append((name, reasons, want))
        for e in ev:
            if hw(e)["reason"] == "not_flow_start":
                check_frame_drop(env, e, "not_flow_start", env.hp_mac)
                assert e.get("dest_ip") == A(23) and e.get("src_ip") == env.hp_ip, e
            else:
                check_flow_drop(env, e, "budget_exhausted", "TCP", A(23), 2020 + i)
    record(env, "state probes (SYN-ACK/ACK/RST/FIN/NULL/XMAS/SYN-FIN/SYN-RST) + SYN after", len(PROBES), len(got), logged,
           frames=2 * len(PROBES), budget="tcp 1 (spent)")
    assert not got, "probes or the SYNs after them got out: %s" % got
    assert not problems, "probes not logged as expected (name, got, want): %s" % problems


def test_simultaneous_open(env):
    """The honeypot sends a SYN (denied); the outside sends a SYN to it on the
    same 5-tuple; the honeypot answers SYN-ACK and ACK: nothing may get out."""
    env.start("simopen")
    env.send([env.syn(A(24), 33001, 2030, seq=5000)])
    env.sync()
    env.send_out([env.from_outside(cr.ipv4(A(24), PUB, 6, cr.tcp(A(24), PUB, 2030, 33001, cr.SYN, 9000)))])
    # what the outside SYN did on the inside (it is part of a denied attempt: dropped)
    env.send([env.syn(A(24), 33001, 2030, flags=cr.SYN | cr.ACK, seq=5000, ack=9001),
              env.syn(A(24), 33001, 2030, flags=cr.ACK, seq=5001, ack=9001),
              env.syn(A(24), 33001, 2030, flags=cr.PSH | cr.ACK, seq=5001, ack=9001, payload=b"hello")])
    env.sync()
    got = env.flows_out(lambda d: d.get("dport") == 2030)
    reached_hp = [d for d in (cr.parse(f) for f in env.hp.snapshot()) if d.get("sport") == 2030]
    env.stop()
    ev = env.hw_events(action="dropped", dest_port=2030)
    record(env, "simultaneous open (honeypot SYN, outside SYN, honeypot SYN-ACK/ACK/data)", 1, len(got),
           min(1, len(ev)), frames=4, budget="tcp 1 (spent)",
           note="outside SYN delivered to honeypot: %d" % len(reached_hp))
    assert not got, got
    assert len(ev) == 1, ev
    check_flow_drop(env, ev[0], "budget_exhausted", "TCP", A(24), 2030, 33001)


TCP_REPAIR = 19


def test_reused_allowed_5tuple(env):
    """A connection the budget allowed is over on the server's side (the server
    closed first and forgot it; the honeypot never closed, then dropped its
    socket silently). The honeypot connects again from the same port to the
    same service: that is a second connection and must be counted."""
    env.start("reuse", spend=())     # the TCP budget (1) is spent by the first connection
    # The server answers after a moment and closes first; it forgets a closed
    # connection after 1 s instead of 60 s (per socket, TCP_LINGER2): an
    # attacker only has to wait longer.
    server = cr.Listener(env.lab.out_ns, OUT, 2080, b"hn-banner\n", delay=0.3, linger2=1)
    env.closers.append(server)
    sport = 34080

    def server_forgot():
        r = env.lab.run(env.lab.out_ns, "ss", "-Htan", "sport", "=", ":2080", "and", "dport", "=", ":%d" % sport)
        return r.returncode == 0 and not r.stdout.strip()

    results = []
    for attempt in range(2):
        s = cr.inet_socket(env.lab.hp_ns)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((env.hp_ip, sport))
        s.settimeout(2)
        try:
            s.connect((OUT, 2080))
            ok = True
        except OSError:
            ok = False
        results.append(ok)
        if attempt == 0 and ok:
            # From now on the honeypot's socket sends nothing (no FIN, no RST),
            # while the kernel still ACKs the server's banner and FIN.
            s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
            wait_until(server_forgot, timeout=10, what="the server to forget the first connection")
        s.close()
    env.sync()
    accepted = [p for p in server.peers() if p == (PUB, sport)]
    env.stop()
    allowed = env.hw_events(action="allowed", dest_port=2080)
    dropped = env.hw_events(action="dropped", dest_port=2080)
    record(env, "reuse of an allowed 5-tuple after the server forgot it (new ISN)", 2, len(accepted),
           len(allowed) + len(dropped), budget="tcp 1", connects=results)
    assert results[0], "the first connection is within the budget and must work"
    assert len(accepted) <= 1, "the budget is 1 connection, the server accepted %d from %s:%d" % (len(accepted), PUB, sport)
    assert len(allowed) == 1 and len(dropped) == 1, (allowed, dropped)
    check_flow_drop(env, dropped[0], "budget_exhausted", "TCP", OUT, 2080, sport)


# =======================================================================
# IPv4 fragments
# =======================================================================
def test_fragment_first_without_ports(env):
    """Tiny first fragments: the TCP header (flags, or flags and ports' rest)
    only in the second fragment, at an 8-byte offset."""
    env.start("frag-tiny")
    cases = [  # (dst, fragment sizes, ident): 8-byte head (ports+seq), 16-byte head (no full header), 8+8+rest
        (A(25), [8, None], 501), (A(26), [16, None], 502), (A(27), [8, 8, None], 503)]
    frames = []
    for i, (dst, sizes, ident) in enumerate(cases):
        seg = cr.tcp(env.hp_ip, dst, 35001 + i, 2101 + i, cr.SYN, 1, payload=b"P" * 32)
        frames += [env.frame(f) for f in cr.fragments(env.hp_ip, dst, 6, seg, sizes, ident)]
    env.send(frames)
    env.sync()
    ids = {501, 502, 503}
    got = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("ip_id") in ids)
    env.stop()
    logged = 0
    for dst, sizes, _ in cases:
        ev = env.hw_events(action="dropped", dest_ip=dst)
        reasons = sorted(hw(e)["reason"] for e in ev)
        tails = [r for r in reasons if r != "malformed"]
        if len(ev) == len(sizes) and reasons.count("malformed") == 1 and \
                all(r in ("fragment_overlap", "fragment_no_head") for r in tails):
            logged += 1
        for e in ev:
            check_frame_drop(env, e, hw(e)["reason"], env.hp_mac)
    record(env, "fragments: first fragment without the full TCP header (8/16-byte heads)", len(cases), len(got), logged,
           frames=len(frames), budget="tcp 1 (spent)")
    assert not got, "fragments of datagrams whose head hides the header got out: %s" % [(d["ip_id"], d["frag_off"]) for d in got]
    assert logged == len(cases), env.hw_events(action="dropped")


def test_fragment_overlap_rewrite(env):
    """Overlapping fragments: a second first fragment rewriting the UDP port of
    an allowed flow, and an 8-byte-offset fragment rewriting the TCP flags of an
    allowed connection (RFC 1858)."""
    env.start("frag-overlap", spend=("icmp", "other"))
    # (a) UDP: the allowed marker flow's head, then a head with another port (both orders)
    body = b"U" * 40
    frames = []
    for ident, new_port, order in ((601, 7998, "allowed first"), (602, 7999, "rewrite first")):
        good = cr.udp(env.hp_ip, OUT, MARK_SPORT, MARK_DPORT, body)
        bad = cr.udp(env.hp_ip, OUT, MARK_SPORT, new_port, body)
        heads = [cr.ipv4(env.hp_ip, OUT, 17, good[:24], ident=ident, mf=True),
                 cr.ipv4(env.hp_ip, OUT, 17, bad[:24], ident=ident, mf=True)]
        if order == "rewrite first":
            heads.reverse()
        tail = cr.ipv4(env.hp_ip, OUT, 17, good[24:], ident=ident, frag_off=24)
        frames += [env.frame(p) for p in heads + [tail]]
    # (b) TCP: an established allowed connection; a fragment at offset 8 rewrites flags/ack/window.
    server = cr.Listener(env.lab.out_ns, OUT, 2090, b"", close_after_banner=False)
    env.closers.append(server)
    c = cr.inet_socket(env.lab.hp_ns)
    env.closers.append(c)
    c.bind((env.hp_ip, 35090))
    c.settimeout(3)
    c.connect((OUT, 2090))         # the TCP budget's one connection
    seg = cr.tcp(env.hp_ip, OUT, 35090, 2090, cr.ACK, 12345, 1, payload=b"D" * 32)
    syn_over = cr.tcp(env.hp_ip, OUT, 35090, 2090, cr.SYN, 12345, 0, payload=b"D" * 32)
    frames += [env.frame(cr.ipv4(env.hp_ip, OUT, 6, seg[:24], ident=603, mf=True)),
               env.frame(cr.ipv4(env.hp_ip, OUT, 6, syn_over[8:40], ident=603, mf=True, frag_off=8)),
               env.frame(cr.ipv4(env.hp_ip, OUT, 6, seg[40:], ident=603, frag_off=40))]
    env.send(frames)
    env.sync()
    rewritten_ports = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("dport") in (7998, 7999))
    flag_over = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("proto") == 6 and d.get("frag_off") == 8)
    env.stop()
    ev_ports = env.hw_events(action="dropped", dest_port=lambda p: p in (7998, 7999))
    ev_over = env.hw_events(action="dropped", reason=lambda r: r and "frag" in r, proto="TCP")
    got = len(rewritten_ports) + len(flag_over)
    logged = len({e["dest_port"] for e in ev_ports}) + min(1, len(ev_over))
    record(env, "fragments: overlapping (port rewrite by a 2nd head; TCP flags at offset 8)", 3, got, logged,
           frames=len(frames), budget="udp 1, tcp 1 (spent by the carriers)")
    assert not rewritten_ports, "a head rewriting the port got out: %s" % rewritten_ports
    assert not flag_over, "a fragment overwriting the TCP header (offset 8) got out"
    assert logged == 3, (ev_ports, ev_over)
    for e in ev_ports:
        check_flow_drop(env, e, "budget_exhausted", "UDP", OUT, sport=MARK_SPORT)


def test_fragment_out_of_order(env):
    env.start("frag-ooo")
    udp = cr.udp(env.hp_ip, A(28), 36001, 7020, b"O" * 64)
    syn = cr.tcp(env.hp_ip, A(28), 36002, 2110, cr.SYN, 1, payload=b"O" * 64)
    frames = []
    for proto, data, ident in ((17, udp, 701), (6, syn, 702)):
        frags = cr.fragments(env.hp_ip, A(28), proto, data, [24, 24, None], ident)
        frames += [env.frame(f) for f in reversed(frags)]
    env.send(frames)
    env.sync()
    got = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("ip_id") in (701, 702))
    env.stop()
    ev = env.hw_events(action="dropped", dest_ip=A(28))
    heads = [e for e in ev if hw(e)["reason"] == "budget_exhausted"]
    tails = [e for e in ev if hw(e)["reason"] == "fragment_no_head"]
    record(env, "fragments: out of order (tails before the head)", 2, len({d["ip_id"] for d in got}),
           len(heads), frames=len(frames), budget="udp 1, tcp 1 (spent)", tail_events=len(tails))
    assert not got, got
    assert sorted(e["dest_port"] for e in heads) == [2110, 7020], ev
    assert len(tails) == 4, ev
    for e in tails:
        check_frame_drop(env, e, "fragment_no_head", env.hp_mac)


def test_fragment_flood(env):
    """Thousands of incomplete datagrams: the wall keeps working, its memory
    stays bounded, every fragment is counted, none gets out."""
    env.start("frag-flood")
    rss0 = wall_rss_kb(env.wall.pid)
    n = 3000
    rng = random.Random(7)
    frames = []
    for i in range(n):
        ident = 10000 + i
        if i % 2 == 0:   # heads of a denied flow, each its own datagram, never completed
            frames.append(env.frame(cr.ipv4(env.hp_ip, A(29), 17, cr.udp(env.hp_ip, A(29), 36100, 7030, b"F" * 64)[:24],
                                             ident=ident, mf=True)))
        else:            # tails of datagrams that never had a head
            dst = A(rng.randrange(20, 32))
            frames.append(env.frame(cr.ipv4(env.hp_ip, dst, 17, b"T" * 48, ident=ident, mf=True,
                                             frag_off=8 * rng.randrange(1, 100))))
    t0 = time.monotonic()
    env.send(frames, pace_every=FLOOD_BATCH, pace_s=FLOOD_PAUSE)
    env.sync(timeout=30)
    flood_s = time.monotonic() - t0
    got = env.arrived(lambda d: d.get("ip_src") == PUB and 10000 <= d.get("ip_id", 0) < 10000 + n)
    alive = env.wall.running()
    inbound_ok = inbound_connect(env)
    rss1 = wall_rss_kb(env.wall.pid)
    env.stop()
    counted = env.drops_counter("fragment_no_head") + env.drops_counter("budget_exhausted")
    kdrops = int(env.stats.get("inside", {}).get("kernel_drops", 0))
    ev_tail = env.hw_events(action="dropped", reason="fragment_no_head")
    ev_head = env.hw_events(action="dropped", dest_ip=A(29), reason="budget_exhausted")
    record(env, "fragments: flood of %d incomplete datagrams" % n, n, len(got), min(n, counted), how="counters+events",
           budget="udp 1 (spent)", events=len(ev_tail) + len(ev_head), rss_growth_kb=rss1 - rss0,
           flood_seconds=round(flood_s, 2), kernel_drops=kdrops,
           note="stop line: " + env.stop_line.split(";")[0].replace("honeywall stopped: ", ""))
    assert alive and inbound_ok, "the wall must keep working during and after the flood"
    assert not got, "flood fragments got out: %d" % len(got)
    assert wall_rx_inside(env) >= n, "the flood did not reach the wall (veth backlog?): rx %d" % wall_rx_inside(env)
    assert counted + kdrops >= n, "every fragment counted (drops %s, kernel drops %d)" % (env.stats.get("drops"), kdrops)
    assert ev_tail and len(ev_head) == 1, "the flood is logged (rate-limited events) and the denied flow once"
    assert rss1 - rss0 < 8 * 1024, "wall memory grew by %d KiB in a fragment flood" % (rss1 - rss0)


# =======================================================================
# Forged addresses, ARP, MAC flooding
# =======================================================================
def hp2_section(env, with_mac=True) -> str:
    lines = ["", "[[honeypot]]", 'name = "hp2"', 'ip = "%s"' % env.hp2_ip]
    if env.nat:
        lines.append('public_ip = "192.0.2.11"')
    if with_mac:
        lines.append('mac = "%s"' % HP2_MAC)
    return "\n".join(lines) + "\n"


def test_forged_source_ip(env):
    env.start("forged-ip", extra_honeypots=hp2_section(env))
    rnd = cr.random_mac(env.rng)
    gw = nl.NAT_GATEWAY_IP if env.nat else OUT
    cases = [  # (what, src ip, src mac, expected reason)
        ("another honeypot's IP", env.hp2_ip, env.hp_mac, "spoofed_source"),
        ("another honeypot's IP, random MAC", env.hp2_ip, rnd, "spoofed_source"),
        ("an outside address", A(25), env.hp_mac, "spoofed_source"),
        ("the gateway's address", gw, env.hp_mac, "spoofed_source"),
        ("an outside address, random MAC", A(26), rnd, "unknown_source"),
        ("its own IP, random MAC", env.hp_ip, rnd, "spoofed_source"),
        ("an unused inside address", "10.0.0.99" if env.nat else "192.0.2.99", env.hp_mac, "spoofed_source"),
    ]
    frames = []
    for i, (_, src, mac, _) in enumerate(cases):
        frames.append(env.syn(A(20), 37000 + i, 2200 + i, src=src, src_mac=mac))
        frames.append(env.udp(A(20), 37000 + i, 7200 + i, b"forged", src=src, src_mac=mac))
    env.send(frames)
    env.sync()
    got = env.arrived(lambda d: d.get("dport") in {2200 + i for i in range(len(cases))} | {7200 + i for i in range(len(cases))})
    env.stop()
    logged, bad = 0, []
    for i, (what, src, mac, reason) in enumerate(cases):
        for dport in (2200 + i, 7200 + i):
            ev = env.hw_events(action="dropped", dest_port=dport)
            if len(ev) == 1 and hw(ev[0])["reason"] == reason and ev[0].get("src_ip") == src:
                check_frame_drop(env, ev[0], reason, mac)
                logged += 1
            else:
                bad.append((what, dport, [(hw(e)["reason"], e.get("src_ip")) for e in ev], reason))
    hp2_used = env.stats.get("honeypots", {}).get("hp2", {}).get("budget", {}).get("TCP", {}).get("used")
    record(env, "forged source IP (other honeypot, outside, gateway, unused; own/random MAC)", 2 * len(cases), len(got),
           logged, budget="tcp 1, udp 1 (spent)", hp2_tcp_used=hp2_used)
    assert not got, "frames with a forged source got out: %s" % [(d.get("ip_src"), d.get("dport")) for d in got]
    assert not bad, "not logged as expected (what, port, got, want): %s" % bad
    assert hp2_used == 0, "hp2's budget was charged by hp1's forged frames"


def test_forged_source_idle_honeypot_unpinned(env):
    """hp2 is configured without `mac` and has sent nothing: the first MAC that
    claims its address becomes hp2 (identity is learned). hp1 can then spend
    hp2's budget, but never more than it."""
    env.start("forged-idle", extra_honeypots=hp2_section(env, with_mac=False))
    thief = cr.random_mac(env.rng)
    ports = list(range(2300, 2305))
    env.send([env.syn(A(21), 38000 + i, p, src=env.hp2_ip, src_mac=thief) for i, p in enumerate(ports)])
    env.sync()
    got = {(d.get("proto"), d.get("ip_dst"), d.get("sport"), d.get("dport"))
           for d in env.arrived(lambda d: d.get("ip_src") == "192.0.2.11" and d.get("dport") in ports)}
    env.stop()
    ev = env.hw_events(dest_port=lambda p: p in ports)
    as_hp2 = [e for e in ev if e.get("honeypot") == "hp2"]
    hp2_mac = env.stats.get("honeypots", {}).get("hp2", {}).get("mac")
    record(env, "forged source IP of an idle honeypot whose MAC is not pinned", len(ports), len(got), len(ev),
           budget="hp2: tcp 1 (unspent)", note="charged to hp2 (%d events as hp2); pin honeypot.mac" % len(as_hp2),
           hp2_learned_mac=hp2_mac)
    assert len(got) <= 1, "more than hp2's budget got out: %s" % got
    assert len(ev) == len(ports), ev


def test_forged_source_mac(env):
    env.start("forged-mac")
    macs = [cr.random_mac(env.rng) for _ in range(10)]
    env.send([env.syn(A(22), 39000 + i, 2400 + i, src_mac=m) for i, m in enumerate(macs)])
    env.sync()
    got = env.arrived(lambda d: 2400 <= (d.get("dport") or 0) < 2410)
    env.stop()
    ok = 0
    for i, m in enumerate(macs):
        ev = env.hw_events(action="dropped", reason="spoofed_source", dest_port=2400 + i)
        if len(ev) == 1:
            check_frame_drop(env, ev[0], "spoofed_source", m)
            ok += 1
    hp1_mac = env.stats.get("honeypots", {}).get("hp1", {}).get("mac", "")
    record(env, "forged source MAC (own IP, 10 random MACs)", len(macs), len(got), ok, budget="tcp 1 (spent)")
    assert not got
    assert ok == len(macs), env.hw_events(action="dropped")
    assert hp1_mac.lower() == env.hp_mac.lower(), "hp1's identity changed to %s" % hp1_mac


def test_arp_spoofing(env):
    """Gratuitous ARP from the honeypot claiming the gateway and outside hosts:
    it must not reach the outside nor redirect anything."""
    env.start("arp-spoof")
    rnd = cr.random_mac(env.rng)
    bc = "ff:ff:ff:ff:ff:ff"
    known = "192.0.2.50"   # a host the outside already has a neighbour entry for
    env.lab.run(env.lab.out_ns, "ip", "neigh", "replace", known, "lladdr", "02:00:00:00:00:50", "dev", nl.OUT_IF,
                "nud", "stale", check=True)
    claims = [OUT, A(20), known] + ([nl.NAT_GATEWAY_IP] if env.nat else [])
    frames = []
    for ip in claims:
        frames.append(cr.eth(bc, env.hp_mac, 0x0806, cr.arp(2, env.hp_mac, ip, bc, ip)))           # gratuitous reply
        frames.append(cr.eth(bc, env.hp_mac, 0x0806, cr.arp(1, env.hp_mac, ip, "00:00:00:00:00:00", ip)))  # gratuitous request
        frames.append(cr.eth(env.out_mac, env.hp_mac, 0x0806, cr.arp(2, env.hp_mac, ip, env.out_mac, OUT)))  # unicast reply
        frames.append(cr.eth(bc, rnd, 0x0806, cr.arp(2, rnd, ip, bc, ip)))                         # from a forged MAC
    # its own address announced with another hardware address than the frame's
    frames.append(cr.eth(bc, env.hp_mac, 0x0806, cr.arp(2, rnd, env.hp_ip, bc, env.hp_ip)))
    env.send(frames)
    env.sync()
    leaked = env.arrived(lambda d: d.get("ethertype") == 0x0806 and (d.get("arp_spa") in claims or d.get("arp_sha") == rnd))
    neigh = env.lab.run(env.lab.out_ns, "ip", "-j", "neigh", "show", "dev", nl.OUT_IF).stdout
    poisoned = [n for n in json.loads(neigh or "[]")
                if (n.get("lladdr", "").lower() in (env.hp_mac.lower(), rnd) and n.get("dst") != PUB)
                or (n.get("dst") == known and n.get("lladdr", "").lower() != "02:00:00:00:00:50")]
    inbound_ok = inbound_connect(env)
    env.stop()
    ev = env.hw_events(action="dropped", reason=lambda r: r in ("spoofed_source", "unknown_source"))
    arp_ev = [e for e in ev if (e.get("ether") or {}).get("ether_type") == 0x0806]
    record(env, "ARP spoofing (gratuitous/unicast replies claiming gateway and outside hosts)", len(frames),
           len(leaked) + len(poisoned), len(arp_ev), note="outside neighbour entries poisoned: %d" % len(poisoned))
    assert not leaked, "spoofed ARP reached the outside: %s" % [(d["arp_op"], d["arp_spa"], d["arp_sha"]) for d in leaked]
    assert not poisoned, "the outside host's neighbour table points at the honeypot: %s" % poisoned
    assert inbound_ok
    assert len(arp_ev) == len(frames), [(hw(e)["reason"], e.get("src_ip"), e.get("ether")) for e in arp_ev]
    for e in arp_ev:
        check_frame_drop(env, e, hw(e)["reason"])


def test_mac_flood(env):
    """Thousands of random source MACs (IPv4 with the honeypot's and foreign
    addresses, ARP, DHCP discovers): nothing gets out, the honeypot keeps its
    identity, the wall keeps working."""
    env.start("mac-flood")
    rss0 = wall_rss_kb(env.wall.pid)
    rng = random.Random(11)
    n = 4000
    bc = "ff:ff:ff:ff:ff:ff"
    frames, macs = [], set()
    for i in range(n):
        m = cr.random_mac(rng)
        macs.add(m)
        kind = i % 4
        if kind == 0:
            frames.append(env.udp(A(20), 40000 + i % 1000, 7300, b"hn-flood", src_mac=m))
        elif kind == 1:
            frames.append(env.udp(A(20), 40000 + i % 1000, 7301, b"hn-flood", src=A(rng.randrange(20, 32)), src_mac=m))
        elif kind == 2:
            frames.append(cr.eth(bc, m, 0x0806, cr.arp(1, m, "192.0.2.%d" % rng.randrange(40, 250), "00:00:00:00:00:00", OUT)))
        else:   # DHCP discover: 0.0.0.0:68 -> 255.255.255.255:67, chaddr = the frame's MAC
            bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, rng.randrange(1 << 32), 0, 0x8000, b"\0" * 4,
                                b"\0" * 4, b"\0" * 4, b"\0" * 4, cr.mac_bytes(m) + b"\0" * 10, b"", b"") \
                + b"\x63\x82\x53\x63\x35\x01\x01\xff"
            frames.append(env.udp("255.255.255.255", 68, 67, bootp, src="0.0.0.0", src_mac=m, dst_mac=bc))
    env.send(frames, pace_every=FLOOD_BATCH, pace_s=FLOOD_PAUSE)
    env.sync(timeout=30)
    got = env.arrived(lambda d: d.get("src_mac") in macs or (d.get("ethertype") == 0x0806 and d.get("arp_sha") in macs)
                      or b"hn-flood" in d["raw"] or (d.get("dport") == 67))
    inbound_ok = inbound_connect(env)
    rss1 = wall_rss_kb(env.wall.pid)
    env.stop()
    counted = sum(env.drops_counter(r) for r in ("spoofed_source", "unknown_source"))
    not_for_us = int(env.stats.get("not_for_us", 0))
    kdrops = int(env.stats.get("inside", {}).get("kernel_drops", 0))
    hp1_mac = env.stats.get("honeypots", {}).get("hp1", {}).get("mac", "")
    record(env, "MAC flooding (%d random source MACs: IPv4, ARP, DHCP)" % n, n, len(got), min(n, counted),
           how="counters+events", events=len(env.hw_events(action="dropped")), kernel_drops=kdrops,
           not_for_us=not_for_us, rss_growth_kb=rss1 - rss0,
           note="by kind out: %s" % sorted({(d.get("ethertype"), d.get("dport")) for d in got})[:4])
    assert not got, "%d flood frames got out, e.g. %s" % (len(got), [(d.get("src_mac"), d.get("ip_dst"), d.get("dport")) for d in got[:5]])
    assert hp1_mac.lower() == env.hp_mac.lower(), "the honeypot's identity changed to %s" % hp1_mac
    assert inbound_ok
    assert wall_rx_inside(env) >= n, "the flood did not reach the wall (veth backlog?): rx %d" % wall_rx_inside(env)
    assert counted + kdrops >= n, "every flood frame counted: drops %s, kernel drops %d" % (env.stats.get("drops"), kdrops)
    assert rss1 - rss0 < 8 * 1024, rss1 - rss0


# =======================================================================
# Tags, other ethertypes, IPv6, IP options, checksums, TTL
# =======================================================================
def test_vlan_tagged(env):
    env.start("vlan")
    tagged = [
        ("802.1Q vid 5", [(0x8100, 5)]),
        ("802.1Q priority tag (vid 0)", [(0x8100, 0)]),
        ("QinQ 88a8/8100", [(0x88A8, 7), (0x8100, 5)]),
        ("double 8100", [(0x8100, 7), (0x8100, 5)]),
    ]
    frames = []
    for i, (_, vl) in enumerate(tagged):
        frames.append(env.syn(A(23), 41000 + i, 2500 + i, vlans=vl))
        frames.append(env.udp(A(23), 41000 + i, 7500 + i, b"tagged", vlans=vl))
    env.send(frames)
    env.sync()
    got = env.arrived(lambda d: d.get("vlans") or (d.get("ip_dst") == A(23)))
    env.stop()
    ev = env.hw_events(action="dropped", reason="vlan_tagged")
    for e in ev:
        check_frame_drop(env, e, "vlan_tagged", env.hp_mac)
    record(env, "802.1Q and QinQ tagged frames", len(frames), len(got), len(ev))
    assert not got
    assert len(ev) == len(frames), ev


def test_non_ip_ethertypes(env):
    env.start("non-ip")
    bc = "ff:ff:ff:ff:ff:ff"
    snap_ip = b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + env.ip(A(24), 17, cr.udp(env.hp_ip, A(24), 1, 7600, b"snap"))
    cases = [
        ("local experimental 88b5", env.gw_mac, 0x88B5, b"hn-nonip-0"),
        ("RARP", bc, 0x8035, b"hn-nonip-1"),
        ("PPPoE discovery", bc, 0x8863, b"hn-nonip-2"),
        ("Wake-on-LAN", bc, 0x0842, b"\xff" * 6 + cr.mac_bytes(env.out_mac) * 16 + b"hn-nonip-3"),
        ("old QinQ 9100 + IPv4", env.gw_mac, 0x9100, b"\x00\x05\x08\x00" + env.ip(A(24), 17, cr.udp(env.hp_ip, A(24), 1, 7601, b"hn-nonip-4"))),
        ("LLDP to a unicast MAC", env.gw_mac, 0x88CC, b"hn-nonip-5"),
        ("802.3 LLC/SNAP carrying IPv4", env.gw_mac, len(snap_ip), snap_ip + b"hn-nonip-6"),
        ("MPLS unicast", env.gw_mac, 0x8847, b"\x00\x01\x01\x40" + env.ip(A(24), 17, cr.udp(env.hp_ip, A(24), 1, 7602, b"hn-nonip-7"))),
    ]
    frames = [cr.eth(dst, env.hp_mac, et, body) for _, dst, et, body in cases]
    stp = cr.eth("01:80:c2:00:00:00", env.hp_mac, 0x0026, b"\x42\x42\x03" + b"\0" * 35 + b"hn-nonip-8")
    frames.append(stp)
    env.send(frames)
    env.sync()
    got = env.arrived(lambda d: b"hn-nonip" in d["raw"] or d.get("ip_dst") == A(24) or d.get("ethertype") in
                      {c[2] for c in cases})
    env.stop()
    ev = env.hw_events(action="dropped", reason=lambda r: r in ("non_ip", "link_local_control", "malformed"))
    ev = [e for e in ev if (e.get("ether") or {}).get("src_mac", "").lower() == env.hp_mac.lower()]
    for e in ev:
        check_frame_drop(env, e, hw(e)["reason"], env.hp_mac)
    record(env, "non-IP ethertypes (RARP, PPPoE, WoL, 9100, LLDP, LLC/SNAP, MPLS, STP)", len(frames), len(got), len(ev))
    assert not got, [(hex(d.get("ethertype") or 0), d.get("dst_mac")) for d in got]
    assert len(ev) == len(frames), [(hw(e)["reason"], e.get("ether")) for e in ev]


def v6_frames(env, base_port):
    src, dst = "2001:db8::10", "2001:db8::1"
    mk = lambda nh, payload, dmac=None: cr.eth(dmac or env.gw_mac, env.hp_mac, 0x86DD, cr.ipv6(src, dst, nh, payload))
    return [
        ("UDP", mk(17, cr.udp6(src, dst, 42000, base_port, b"hn-v6"))),
        ("TCP SYN", mk(6, cr.tcp6(src, dst, 42001, base_port + 1))),
        ("ICMPv6 echo", mk(58, b"\x80\x00\x00\x00\x12\x34\x00\x01hn-v6")),
        ("UDP after hop-by-hop", mk(0, bytes([17, 0, 1, 4, 0, 0, 0, 0]) + cr.udp6(src, dst, 42002, base_port + 2, b"hn-v6"))),
        ("UDP to a unicast address in a multicast frame", mk(17, cr.udp6(src, dst, 42003, base_port + 3, b"hn-v6"),
                                                         "33:33:00:00:00:01")),
    ]


def test_ipv6_dropped_by_default(env):
    env.start("ipv6-off")
    cases = v6_frames(env, 7700)
    env.send([f for _, f in cases])
    env.sync()
    got = env.arrived(lambda d: d.get("ethertype") == 0x86DD)
    env.stop()
    ev = env.hw_events(action="dropped", reason="ipv6_disabled")
    for e in ev:
        check_frame_drop(env, e, "ipv6_disabled", env.hp_mac)
    record(env, "IPv6 (ipv6 = false, the default)", len(cases), len(got), len(ev))
    assert not got
    assert len(ev) == len(cases), ev


def test_ipv6_enabled(env):
    """ipv6 = true: bridge forwards IPv6 and counts it in the same budgets; nat drops it."""
    env.start("ipv6-on", limits={"udp": 2}, top={"ipv6": True}, spend=(), honeypot={"ip6": ["2001:db8::10"]})
    cases = v6_frames(env, 7710)
    env.send([f for _, f in cases])
    env.sync()
    got = env.arrived(lambda d: d.get("ethertype") == 0x86DD)
    env.stop()
    allowed = env.hw_events(action="allowed", direction="outbound", src_ip="2001:db8::10")
    dropped = env.hw_events(action="dropped", src_ip="2001:db8::10")
    # budget: udp 2 (1 spent by the marker), tcp 1, icmp 1
    budget = 1 + 1 + 1
    record(env, "IPv6 (ipv6 = true)", len(cases), len(got), len(allowed) + len(dropped), budget="udp 2 (1 spent), tcp 1, icmp 1",
           note="nat: not routed (dropped)" if env.nat else "bridge: forwarded, counted per class")
    if env.nat:
        assert not got
        assert len(dropped) == len(cases) and all(hw(e)["reason"] == "ipv6_disabled" for e in dropped), dropped
    else:
        assert len(got) <= budget, [(d.get("nh"), d.get("dport")) for d in got]
        assert len(allowed) == len(got), (allowed, got)
        assert all(hw(e)["reason"] == "outbound" and (hw(e).get("budget") or {}).get("used") == (hw(e)["budget"]["limit"])
                   for e in allowed), allowed
        assert len(allowed) + len(dropped) == len(cases), (allowed, dropped)
        assert all(hw(e)["reason"] == "budget_exhausted" for e in dropped), dropped


def lsrr(*hops) -> bytes:
    return bytes([0x83, 3 + 4 * len(hops), 4]) + b"".join(cr.ip_bytes(h) for h in hops) + b"\x01"


def test_ip_options(env):
    env.start("ipopts")
    opts = [
        ("record route", bytes([7, 11, 4]) + b"\0" * 8 + b"\x01"),
        ("timestamp", bytes([68, 12, 5, 0]) + b"\0" * 8),
        ("router alert", bytes([148, 4, 0, 0])),
        ("LSRR via an outside host", lsrr(A(29))),
        ("SSRR", bytes([0x89, 7, 4]) + cr.ip_bytes(A(29)) + b"\x01"),
        ("unknown option 0x9e", bytes([0x9E, 4, 0, 0])),
        ("NOP padding x8", b"\x01" * 8),
    ]
    frames = [env.syn(A(28), 43000 + i, 2600 + i, options=o) for i, (_, o) in enumerate(opts)]
    # source routing on the allowed marker flow: the first hop is allowed, the route continues elsewhere
    frames.append(env.udp(OUT, MARK_SPORT, MARK_DPORT, b"hn-lsrr", options=lsrr(A(29))))
    frames.append(env.udp(OUT, MARK_SPORT, MARK_DPORT, b"hn-ssrr", options=bytes([0x89, 7, 4]) + cr.ip_bytes(A(29)) + b"\x01"))
    env.send(frames)
    env.sync()
    got_new = env.flows_out(lambda d: 2600 <= (d.get("dport") or 0) < 2600 + len(opts))
    got_sr = env.arrived(lambda d: b"hn-lsrr" in d["raw"] or b"hn-ssrr" in d["raw"])
    env.stop()
    ev_new = env.hw_events(action="dropped", dest_port=lambda p: p is not None and 2600 <= p < 2600 + len(opts))
    ev_sr = env.hw_events(action="dropped", dest_port=MARK_DPORT)
    record(env, "IP options (RR, TS, RA, LSRR, SSRR, unknown, NOP) on new flows", len(opts), len(got_new), len(ev_new),
           budget="tcp 1 (spent)")
    record(env, "IP source routing (LSRR/SSRR) on an allowed flow", 2, len(got_sr), len(ev_sr), budget="udp 1 (the flow)")
    assert not got_new, got_new
    assert len(ev_new) == len(opts), ev_new
    assert not got_sr, "source-routed packets left on an allowed flow: the route continues to %s" % A(29)
    assert len(ev_sr) == 2, ev_sr


def test_bad_checksums(env):
    env.start("checksums")
    frames = [
        env.syn(A(27), 44000, 2700, bad_csum=True),            # bad IPv4 header checksum
        env.syn(A(27), 44001, 2701, tcp_bad=True),             # bad TCP checksum
        env.udp(A(27), 44002, 7800, b"bad", udp_bad=True),     # bad UDP checksum
        env.udp(OUT, MARK_SPORT, MARK_DPORT, b"hn-badip", bad_csum=True),   # bad IP checksum on the allowed flow
    ]
    env.send(frames)
    env.sync()
    got = env.flows_out(lambda d: d.get("ip_dst") == A(27))
    garbage = env.arrived(lambda d: b"hn-badip" in d["raw"])
    env.stop()
    ev = env.hw_events(action="dropped", dest_ip=A(27)) + \
        [e for e in env.hw_events(action="dropped", reason="malformed") if e.get("dest_ip") == OUT]
    reasons = sorted(hw(e)["reason"] for e in ev)
    record(env, "bad IPv4/TCP/UDP checksums", len(frames), len(got) + len(garbage), len(ev), budget="tcp 1, udp 1 (spent)")
    assert not got and not garbage
    assert reasons == ["budget_exhausted", "budget_exhausted", "malformed", "malformed"], [(hw(e)["reason"], e.get("dest_ip")) for e in ev]


def test_ttl_one(env):
    env.start("ttl1")
    frames = [env.syn(A(26), 44100, 2800, ttl=1), env.syn(A(26), 44101, 2801, ttl=0),
              env.udp(A(26), 44102, 7850, b"ttl1", ttl=1)]
    env.send(frames)
    env.sync()
    got = env.flows_out(lambda d: d.get("ip_dst") == A(26))
    time_exceeded = [d for d in (cr.parse(f) for f in env.hp.snapshot()) if d.get("icmp_type") == 11]
    env.stop()
    ev = env.hw_events(action="dropped", dest_ip=A(26))
    want = "ttl_exceeded" if env.nat else "budget_exhausted"
    record(env, "TTL 1 / TTL 0 on new flows", len(frames), len(got), len(ev), budget="tcp 1, udp 1 (spent)",
           note="nat: ICMP time exceeded from the gateway: %d" % len(time_exceeded) if env.nat else "")
    assert not got
    assert len(ev) == len(frames) and all(hw(e)["reason"] == want for e in ev), [(hw(e)["reason"], e.get("dest_port")) for e in ev]


# =======================================================================
# Tunnels through allowed paths
# =======================================================================
def dns_query(name: bytes, qid: int) -> bytes:
    q = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


DNS_LISTED, DNS_OTHER = A(31), A(30)


def test_dns_and_listed_server(env):
    env.start("dns", top={"dns_servers": [DNS_LISTED]})
    unlisted = [env.udp(DNS_OTHER, 47001 + i, 53, dns_query(b"x%d.tunnel.example" % i, i)) for i in range(3)]
    unlisted.append(env.syn(DNS_OTHER, 47010, 53))
    listed_other = [env.udp(DNS_LISTED, 47020, 7050, b"not dns"), env.udp(DNS_LISTED, 47021, 123, b"\x1b" + b"\0" * 47),
                    env.syn(DNS_LISTED, 47022, 80),
                    env.frame(env.ip(DNS_LISTED, 1, cr.icmp(8, 0, 0x4501, 1, b"hn-icmp-to-dns")))]
    listed_53_junk = [env.udp(DNS_LISTED, 47030 + i, 53, b"hn-not-dns-%d" % i + b"\0" * 64) for i in range(2)]
    control = [env.udp(DNS_LISTED, 47040, 53, dns_query(b"www.example", 99))]
    env.send(unlisted + listed_other + listed_53_junk + control)
    env.sync()
    got_unlisted = env.flows_out(lambda d: d.get("ip_dst") == DNS_OTHER)
    got_listed_other = env.arrived(lambda d: d.get("ip_dst") == DNS_LISTED and d.get("dport") != 53)
    got_junk = env.flows_out(lambda d: d.get("ip_dst") == DNS_LISTED and d.get("dport") == 53 and 47030 <= d.get("sport", 0) < 47040)
    got_control = env.flows_out(lambda d: d.get("ip_dst") == DNS_LISTED and d.get("sport") == 47040)
    env.stop()
    ev_unlisted = env.hw_events(action="dropped", reason="budget_exhausted", dest_ip=DNS_OTHER)
    ev_other = env.hw_events(action="dropped", reason="budget_exhausted", dest_ip=DNS_LISTED)
    ev_exempt = env.hw_events(action="allowed", reason="exempt_dns", dest_ip=DNS_LISTED)
    used = env.stats.get("honeypots", {}).get("hp1", {}).get("budget", {}).get("UDP", {}).get("used")
    record(env, "DNS to a server not in dns_servers (UDP and TCP 53)", len(unlisted), len(got_unlisted), len(ev_unlisted),
           budget="udp 1, tcp 1 (spent)")
    record(env, "listed DNS server, not DNS (UDP 7050/123, TCP 80, ICMP)", len(listed_other), len(got_listed_other),
           len(ev_other), budget="udp 1, tcp 1, icmp 1 (spent)")
    record(env, "listed DNS server, port 53, non-DNS payload", len(listed_53_junk), len(got_junk), 
           len([e for e in ev_exempt if 47030 <= e.get("src_port", 0) < 47040]), how="events (exempt_dns)",
           note="exempt by design: the exemption is by port, the payload is not inspected")
    assert not got_unlisted, got_unlisted
    assert len(ev_unlisted) == len(unlisted), ev_unlisted
    assert not got_listed_other, got_listed_other
    assert len(ev_other) == len(listed_other), ev_other
    assert len(got_control) == 1 and len(ev_exempt) == 3, "DNS to the listed server passes, not counted: %s" % ev_exempt
    assert used == 1, "exempt DNS must not be counted (UDP used %s, the marker's 1 expected)" % used


def test_icmp_large_payload(env):
    env.start("icmp-large")
    frames, ids = [], []
    for k, size in enumerate([1400, 1400, 1400]):
        ids.append(0x4410 + k)
        frames.append(env.frame(env.ip(A(25), 1, cr.icmp(8, 0, ids[-1], 1, b"L" * size))))
    for k, size in enumerate([4000, 9000]):       # fragmented echo requests
        ident = 0x4420 + k
        ids.append(ident)
        data = cr.icmp(8, 0, ident, 1, b"F" * size)
        frames += [env.frame(f) for f in cr.fragments(env.hp_ip, A(25), 1, data, [1480] * (len(data) // 1480) + [None], 800 + k)]
    ids.append(0x4430)
    frames.append(env.frame(env.ip(A(25), 1, cr.icmp(0, 0, 0x4430, 1, b"R" * 1400))))   # unsolicited echo reply
    ids.append(0x4431)
    frames.append(env.frame(env.ip(A(25), 1, cr.icmp(13, 0, 0x4431, 1, b"\0" * 12))))   # timestamp request
    env.send(frames)
    env.sync()
    got = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("proto") == 1 and d.get("ip_dst") == A(25)) + \
        env.arrived(lambda d: d.get("ip_src") == PUB and d.get("ip_id") in (800, 801))
    env.stop()
    ev = env.hw_events(action="dropped", reason="budget_exhausted", dest_ip=A(25), proto="ICMP")
    tails = env.hw_events(action="dropped", reason="fragment_no_head", dest_ip=A(25))
    record(env, "ICMP with large payloads (1400 B, fragmented 4000/9000 B, echo reply, timestamp)", len(ids), len(got),
           len(ev), frames=len(frames), budget="icmp 1 (spent)", tail_events=len(tails))
    assert not got, [(d.get("icmp_type"), d.get("icmp_id"), d.get("frag_off")) for d in got]
    assert len(ev) == len(ids), [(e.get("icmp_type"), hw(e)) for e in ev]
    for e in ev:
        check_flow_drop(env, e, "budget_exhausted", "ICMP", A(25))


def test_icmp_error_riding_a_flow(env):
    """ICMP errors are let through when they quote an allowed flow. The
    honeypot quotes its inbound connection (and its allowed marker flow) in
    errors sent to other outside hosts, with a payload appended."""
    env.start("icmp-error")
    hp_listener = cr.Listener(env.lab.hp_ns, "0.0.0.0", 23, b"hn-honeypot\n", close_after_banner=False)
    env.closers.append(hp_listener)
    peer = cr.inet_socket(env.lab.out_ns)
    env.closers.append(peer)
    peer.bind((OUT, 50123))
    peer.settimeout(3)
    peer.connect((PUB, 23))
    assert peer.recv(100).startswith(b"hn-honeypot")
    # the datagram the honeypot received (as it saw it) and one it sent on the marker flow
    quoted_in = cr.ipv4(OUT, env.hp_ip, 6, cr.tcp(OUT, env.hp_ip, 50123, 23, cr.ACK, 1, 1))[:28]
    quoted_out = cr.ipv4(env.hp_ip, OUT, 17, cr.udp(env.hp_ip, OUT, MARK_SPORT, MARK_DPORT, b"x"))[:28]
    extra = b"hn-covert" + b"C" * 1000
    frames = []
    for dst in (A(30), A(27), A(20)):
        frames.append(env.frame(env.ip(dst, 1, cr.icmp_raw(3, 3, b"\0" * 4, quoted_in + extra))))
        frames.append(env.frame(env.ip(dst, 1, cr.icmp_raw(11, 0, b"\0" * 4, quoted_out + extra))))
    legit = env.frame(env.ip(OUT, 1, cr.icmp_raw(3, 3, b"\0" * 4, quoted_in)))
    env.send(frames + [legit])
    env.sync()
    got = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("proto") == 1 and d.get("ip_dst") in (A(30), A(27), A(20)))
    legit_out = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("proto") == 1 and d.get("ip_dst") == OUT
                            and d.get("icmp_type") == 3)
    env.stop()
    ev = env.hw_events(action="dropped", proto="ICMP", dest_ip=lambda ip: ip in (A(30), A(27), A(20)))
    record(env, "ICMP errors quoting an allowed flow, sent to other hosts", len(frames), len(got), len(ev),
           budget="icmp 1 (spent)", note="error to the flow's own peer delivered: %d" % len(legit_out))
    assert not got, "ICMP errors riding an allowed flow reached %s" % sorted({d["ip_dst"] for d in got})
    assert len(ev) == len(frames), ev
    assert len(legit_out) == 1, "an ICMP error to the flow's own peer is a related reply and must pass"


def test_replies_to_inbound_carry_new_flow(env):
    """The outside connects in; the honeypot sends from the same ports to other
    outside addresses/ports (a different 5-tuple must not ride the inbound
    flow's exemption), and a bare SYN back on the inbound 5-tuple."""
    env.start("riding")
    hp_listener = cr.Listener(env.lab.hp_ns, "0.0.0.0", 23, b"hn-honeypot\n", close_after_banner=False)
    env.closers.append(hp_listener)
    peer = cr.inet_socket(env.lab.out_ns)
    env.closers.append(peer)
    peer.bind((OUT, 50200))
    peer.settimeout(3)
    peer.connect((PUB, 23))
    assert peer.recv(100).startswith(b"hn-honeypot"), "the inbound connection works"
    attempts = [  # (what, frame, (proto, dst, dport) it would open)
        ("SYN to another outside address, same ports", env.syn(A(29), 23, 50200)),
        ("SYN to the same address, another port", env.syn(OUT, 23, 50201)),
        ("SYN-ACK to another address, same ports", env.syn(A(29), 23, 50202, flags=cr.SYN | cr.ACK, ack=1)),
        ("ACK+data to another address", env.syn(A(29), 23, 50203, flags=cr.PSH | cr.ACK, ack=1, payload=b"data")),
        ("UDP from the same ports", env.udp(OUT, 23, 50200, b"hn-udp-ride")),
        ("bare SYN back on the inbound 5-tuple", env.syn(OUT, 23, 50200, seq=777)),
    ]
    env.send([f for _, f in attempts])
    env.sync()

    riders = {(6, A(29), 50200), (6, OUT, 50201), (6, A(29), 50202), (6, A(29), 50203), (17, OUT, 50200)}

    def escaped(d):
        if d.get("ip_src") != PUB or d.get("sport") != 23:
            return False
        if (d.get("proto"), d.get("ip_dst"), d.get("dport")) in riders:
            return True
        same = d.get("proto") == 6 and d.get("ip_dst") == OUT and d.get("dport") == 50200
        return same and (d.get("flags", 0) & (cr.SYN | cr.ACK)) == cr.SYN
    got = env.arrived(escaped)
    env.stop()
    ev = env.hw_events(action="dropped", src_port=23)
    record(env, "replies to an inbound flow carrying another 5-tuple (+ bare SYN back)", len(attempts),
           len({(d.get("proto"), d.get("ip_dst"), d.get("dport"), d.get("flags")) for d in got}), len(ev),
           budget="tcp 1, udp 1 (spent)")
    assert not got, "riding the inbound flow got out: %s" % [(d.get("ip_dst"), d.get("dport"), d.get("flags")) for d in got]
    assert len(ev) == len(attempts), [(hw(e)["reason"], e.get("dest_ip"), e.get("dest_port")) for e in ev]


def test_unicast_ip_in_broadcast_frame(env):
    """An L2 broadcast/multicast frame carrying a unicast IPv4 destination is
    not a broadcast: the outside host accepts it (UDP, ICMP), so it must be
    counted like any other flow."""
    env.start("l2-bcast")
    rx = cr.inet_socket(env.lab.out_ns, socket.AF_INET, socket.SOCK_DGRAM)
    env.closers.append(rx)
    rx.bind(("0.0.0.0", 7900))
    rx.settimeout(0.01)
    macs = ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "33:33:00:00:00:01"]
    frames = []
    for i, m in enumerate(macs):
        frames.append(env.udp(OUT, 48000 + i, 7900, b"hn-l2bc-%d" % i, dst_mac=m))
        frames.append(env.frame(env.ip(OUT, 1, cr.icmp(8, 0, 0x4600 + i, 1, b"hn-l2bc-icmp")), dst_mac=m))
    control = env.udp("255.255.255.255", 48010, 7901, b"hn-real-broadcast", dst_mac="ff:ff:ff:ff:ff:ff")
    env.send(frames + [control])
    env.sync()
    got = env.arrived(lambda d: d.get("ip_src") == PUB and (d.get("dport") == 7900 or d.get("icmp_id", 0) in (0x4600, 0x4601, 0x4602)))
    delivered = 0
    try:
        while True:
            rx.recv(100)
            delivered += 1
    except OSError:
        pass
    env.stop()
    ev = env.hw_events(action="dropped", dest_ip=OUT, reason="budget_exhausted")
    not_for_us = int(env.stats.get("not_for_us", 0))
    how = "counter not_for_us (not routed)" if env.nat else "events"
    logged = min(len(frames), not_for_us) if env.nat else len(ev)
    record(env, "unicast IP in an L2 broadcast/multicast frame", len(frames), len(got), logged, how=how,
           budget="udp 1, icmp 1 (spent)", delivered_to_outside_socket=delivered)
    assert not got, "unicast IP in broadcast frames got out: %s" % [(d.get("dst_mac"), d.get("dport"), d.get("icmp_id")) for d in got]
    if env.nat:
        assert not_for_us >= len(frames)
    else:
        assert len(ev) == len(frames), [(hw(e)["reason"], e.get("dest_port")) for e in env.hw_events(action="dropped")]


def test_ip_broadcast_and_multicast_destinations(env):
    """IPv4 broadcast and multicast destinations (issue 15). In a frame to the
    next hop's MAC they reach only that host: a flow like any other, counted
    (the UDP budget is spent). Real broadcasts (the MAC the group maps to) are
    exempt from the UDP budget but have a budget of their own (broadcast = 1,
    spent first in bridge). Nat: a router forwards neither (RFC 1812)."""
    env.start("ip-bcast", spend=("tcp", "icmp", "other") + (() if env.nat else ("broadcast",)))
    dsts = [("255.255.255.255", "ff:ff:ff:ff:ff:ff"), ("224.0.0.251", "01:00:5e:00:00:fb"),
            ("239.1.2.3", "01:00:5e:01:02:03")]
    ips = [d for d, _ in dsts]
    unicast = [env.udp(d, 48100 + i, 7950 + i, b"hn-ipbc-%d" % i) for i, (d, _) in enumerate(dsts)]
    real = [env.udp(d, 48110 + i, 7960 + i, b"hn-realbc-%d" % i, dst_mac=m) for i, (d, m) in enumerate(dsts)]
    env.send(unicast + real)
    env.sync()
    got_unicast = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("ip_dst") in ips and 48100 <= d.get("sport", 0) < 48103)
    got_real = env.arrived(lambda d: d.get("ip_src") == PUB and d.get("ip_dst") in ips and 48110 <= d.get("sport", 0) < 48113)
    env.stop()
    if env.nat:
        ev = env.hw_events(action="dropped", reason="no_route", dest_ip=lambda ip: ip in ips)
        ev_real = []
        logged_real = min(len(real), int(env.stats.get("not_for_us", 0)))
    else:
        ev = env.hw_events(action="dropped", reason="budget_exhausted", dest_ip=lambda ip: ip in ips,
                           src_port=lambda p: 48100 <= (p or 0) < 48103)
        ev_real = env.hw_events(action="dropped", reason="budget_exhausted", dest_ip=lambda ip: ip in ips,
                                src_port=lambda p: 48110 <= (p or 0) < 48113)
        logged_real = len(ev_real)
    used = env.stats.get("honeypots", {}).get("hp1", {}).get("budget", {}).get("UDP", {}).get("used")
    record(env, "IP broadcast/multicast destination in a unicast frame", len(unicast), len(got_unicast), len(ev),
           budget="udp 1 (spent)", note="counted like any flow" if not env.nat else "nat: not routed")
    record(env, "real broadcast/multicast over the broadcast budget", len(real), len(got_real), logged_real,
           how="events" if not env.nat else "counter not_for_us", budget="broadcast 1 (spent)")
    assert not got_unicast, [(d.get("ip_dst"), d.get("dport")) for d in got_unicast]
    assert not got_real, [(d.get("ip_dst"), d.get("dport")) for d in got_real]
    assert len(ev) == len(unicast), ev
    assert used == 1, "only the marker counts in UDP (used %s)" % used
    if not env.nat:
        assert len(ev_real) == len(real), ev_real
        assert all((hw(e).get("budget") or {}).get("class") == "BROADCAST" for e in ev_real), ev_real
        assert env.stats["honeypots"]["hp1"]["budget"]["BROADCAST"]["used"] == 1


# =======================================================================
# Issue 15: the channels exemptions, replies and IPv6 left open
# =======================================================================
def test_dhcp_ports_to_ordinary_hosts(env):
    """UDP between ports 67 and 68 with the UDP budget spent. Client traffic
    (68 -> 67) to an ordinary host is counted like any UDP; server or relay
    traffic (source port 67) never leaves a honeypot (a rogue DHCP server on
    the outside LAN), even to a listed server; client traffic to a server in
    dhcp_servers passes uncounted."""
    env.start("dhcp", top={"dhcp_servers": [A(21)]})
    clients = [env.udp(OUT, 68, 67, b"hn-dhcp-c1"), env.udp(A(22), 68, 67, b"hn-dhcp-c2")]
    servers = [env.udp(OUT, 67, 68, b"hn-dhcp-s1"), env.udp(A(22), 67, 67, b"hn-dhcp-s2"),
               env.udp("255.255.255.255", 67, 68, b"hn-dhcp-offer", dst_mac="ff:ff:ff:ff:ff:ff"),
               env.udp(A(21), 67, 68, b"hn-dhcp-s3")]
    listed = env.udp(A(21), 68, 67, b"hn-dhcp-listed")
    env.send(clients + servers + [listed])
    env.sync()
    got = env.arrived(lambda d: b"hn-dhcp-" in d["raw"] and b"hn-dhcp-listed" not in d["raw"])
    got_listed = env.arrived(lambda d: b"hn-dhcp-listed" in d["raw"])
    env.stop()
    ev_server = env.hw_events(action="dropped", reason="dhcp_server")
    ev_client = env.hw_events(action="dropped", reason="budget_exhausted", dest_port=67)
    ev_listed = env.hw_events(action="allowed", reason="exempt_dhcp", dest_ip=A(21))
    record(env, "DHCP ports to ordinary hosts (68->67 counted, 67->* dropped)", len(clients) + len(servers), len(got),
           len(ev_server) + len(ev_client), budget="udp 1 (spent)", note="listed dhcp_servers reached: %d" % len(got_listed))
    assert not got, [(d.get("ip_dst"), d.get("sport"), d.get("dport")) for d in got]
    assert len(ev_server) == len(servers), ev_server
    assert len(ev_client) == len(clients), ev_client
    assert len(got_listed) == 1 and len(ev_listed) == 1, (got_listed, ev_listed)
    assert env.stats["honeypots"]["hp1"]["budget"]["UDP"]["used"] == 1


def eui64_link_local(mac: str) -> str:
    b = bytearray(cr.mac_bytes(mac))
    b[0] ^= 2
    iid = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + b"\0" * 6 + iid)


def test_ipv6_channels(env):
    """ipv6 = true, hp1 with ip6 = 2001:db8::10 and its budgets spent. Forged
    sources, router messages, neighbour messages that speak for others or
    carry data, DHCPv6 server traffic, an over-long extension chain, a routing
    header, multicast in a unicast frame: nothing gets out. A plain neighbour
    solicitation still does (bridge). Nat routes no IPv6."""
    own, out6 = "2001:db8::10", "2001:db8::1"
    env.start("ipv6-channels", top={"ipv6": True}, honeypot={"ip6": [own]})
    ll = eui64_link_local(env.hp_mac)
    mac = cr.mac_bytes(env.hp_mac)
    a6 = lambda a: socket.inet_pton(socket.AF_INET6, a)

    def mk(src, dst, nh, payload, dmac=None, hlim=64):
        return cr.eth(dmac or env.gw_mac, env.hp_mac, 0x86DD, cr.ipv6(src, dst, nh, payload, hlim))

    def icmp6(t, body):
        return bytes([t, 0, 0, 0]) + body
    all_nodes, sol = "33:33:00:00:00:01", "33:33:ff:00:00:01"
    cases = [
        ("UDP from a forged source", mk("2001:db8::99", out6, 17, cr.udp6("2001:db8::99", out6, 42100, 7800, b"hn-v6"))),
        ("UDP from a link-local not its own", mk("fe80::1", out6, 17, cr.udp6("fe80::1", out6, 42101, 7800, b"hn-v6"))),
        ("router advertisement", mk(ll, "ff02::1", 58, icmp6(134, bytes([64, 0, 0, 255]) + b"\0" * 8), all_nodes, 255)),
        ("redirect", mk(ll, out6, 58, icmp6(137, b"\0" * 4 + a6("2001:db8::2") + a6(out6)), hlim=255)),
        ("neighbour advertisement for another's address",
         mk(ll, "ff02::1", 58, icmp6(136, b"\x20\0\0\0" + a6(out6) + bytes([2, 1]) + mac), all_nodes, 255)),
        ("neighbour advertisement as a router",
         mk(ll, "ff02::1", 58, icmp6(136, b"\xa0\0\0\0" + a6(own) + bytes([2, 1]) + mac), all_nodes, 255)),
        ("neighbour solicitation with another's MAC",
         mk(ll, "ff02::1:ff00:1", 58, icmp6(135, b"\0" * 4 + a6(out6) + bytes([1, 1]) + bytes.fromhex("020000000b99")), sol, 255)),
        ("neighbour solicitation carrying data",
         mk(ll, out6, 58, icmp6(135, b"\0" * 4 + a6(out6) + bytes([1, 1]) + mac + bytes([99, 4]) + b"hn-v6-data" + b"\0" * 20),
            hlim=255)),
        ("DHCPv6 server reply", mk(ll, "fe80::2", 17, cr.udp6(ll, "fe80::2", 547, 546, b"hn-v6-dhcp"))),
        ("17 extension headers", mk(own, out6, 60, b"".join(bytes([60 if i < 16 else 17, 0, 1, 4, 0, 0, 0, 0]) for i in range(17))
                                    + cr.udp6(own, out6, 42102, 7800, b"hn-v6"))),
        ("routing header with a segment left", mk(own, out6, 43, bytes([17, 2, 0, 1, 0, 0, 0, 0]) + a6("2001:db8::77")
                                                  + cr.udp6(own, out6, 42103, 7800, b"hn-v6"))),
        ("UDP to ff02::1 in a unicast frame", mk(own, "ff02::1", 17, cr.udp6(own, "ff02::1", 42104, 7800, b"hn-v6"))),
        ("UDP over the budget", mk(own, out6, 17, cr.udp6(own, out6, 42105, 7800, b"hn-v6"))),
    ]
    control = mk(ll, "ff02::1:ff00:1", 58, icmp6(135, b"\0" * 4 + a6(out6) + bytes([1, 1]) + mac), sol, 255)
    frames = {f for _, f in cases}
    env.send([f for _, f in cases] + [control])
    env.sync()
    got = [d for d in env.arrived(lambda d: d.get("ethertype") == 0x86DD) if d["raw"] in frames]
    got_control = [d for d in env.arrived(lambda d: d.get("ethertype") == 0x86DD) if d["raw"] == control]
    env.stop()
    ev = env.hw_events(action="dropped", src_ip=lambda ip: bool(ip) and ":" in ip)
    record(env, "IPv6 channels (forged source, RA/redirect, NA/NS spoofing, DHCPv6 server, 17 ext headers, RH, multicast)",
           len(cases), len(got), len(ev), budget="udp 1, icmp 1 (spent)",
           note="nat: not routed" if env.nat else "neighbour solicitation passed: %d" % len(got_control))
    assert not got, [next(n for n, f in cases if f == d["raw"]) for d in got]
    if env.nat:
        # (the 17-header chain is malformed before it is IPv6)
        assert len(ev) >= len(cases) and all(hw(e)["reason"] in ("ipv6_disabled", "malformed") for e in ev), ev
    else:
        assert len(got_control) == 1, "a plain neighbour solicitation must get out"
        reasons = sorted(hw(e)["reason"] for e in ev)
        assert len(ev) == len(cases), reasons
        assert reasons.count("rogue_router") == 2 and reasons.count("dhcp_server") == 1 and \
            reasons.count("source_route") == 1 and reasons.count("malformed") == 2, reasons


def test_spoofed_inbound_opens_no_reply_channel(env):
    """An outside accomplice sends one UDP packet "from" a victim; the honeypot
    then streams to the victim on that flow. One reply answers one request;
    from the second packet on the flow is the honeypot's outbound flow:
    counted, and with the UDP budget spent, dropped both ways."""
    env.start("reply-channel")
    victim, sp = A(28), 40500
    env.send_out([env.from_outside(cr.ipv4(victim, PUB, 17, cr.udp(victim, PUB, sp, 7400, b"hn-spoofed-request")))])
    assert env.hp.wait_for(lambda f: b"hn-spoofed-request" in f, timeout=5), "the spoofed request must get in"
    replies = [env.udp(victim, 7400, sp, b"hn-reply-%02d" % i) for i in range(20)]
    env.send(replies)
    env.sync()
    got = env.arrived(lambda d: d.get("ip_dst") == victim and d.get("sport") == 7400)
    env.stop()
    ev = env.hw_events(action="dropped", reason="budget_exhausted", dest_ip=victim)
    record(env, "UDP stream on one spoofed inbound packet (reply channel)", len(replies), len(got), len(ev),
           budget="udp 1 (spent)", note="one reply per request passes")
    assert len(got) == 1, "replies beyond one per request reached the victim: %d" % len(got)
    assert len(ev) == 1 and ev[0].get("src_ip") == env.hp_ip and hw(ev[0]).get("direction") == "outbound", ev
    assert int(env.stats.get("reply_overruns", 0)) == 1, env.stats.get("reply_overruns")
