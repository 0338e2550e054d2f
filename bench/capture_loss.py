#!/usr/bin/python3
"""Capture under load: at which frame rate does the capture keep every frame?

For each setup and each rate, sends --seconds worth of UDP frames of --size
bytes from the outside host to the honeypot (an inbound flow: Data Control
never limits it) with tests/integration/floodgen.py (each frame numbered), then
counts the numbered frames in what was captured on each of the two ports:

  kernel   a Linux bridge between the two veths and `tcpdump -s 0 -B 32768 -w`
           on each bridge port (the baseline; 32 MiB per port like the
           honeywall's capture.ring_mb). No nftables: only the capture is compared.
  bridge   `honeynet wall` in bridge mode, capture on (default capture.ring_mb)
  nat      `honeynet wall` in nat mode

"kept %" = numbered frames in the poorer of the two ports' captures / frames
that reached the wall (rx_packets of its outside veth, which also counts the
few ARP/ping frames of the setup). On the inside port a frame can be missing
because the forwarder lost it (its RX ring overflowed: "ring ovfl") rather
than the capture: the outside column is the capture alone. For the honeywall it
also prints what it reported: capture drops (kernel_drops + write_drops) from
the stop line, the data ports' RX ring overflows, and whether
captured + reported drops = frames the ports saw (nothing lost silently).

Namespaces hn-cl-<pid>-*, removed at exit (also on errors and Ctrl-C).
Needs root, tcpdump, ip. Stdlib only.

  sudo /usr/bin/python3 bench/capture_loss.py --honeynet build/honeynet
  sudo /usr/bin/python3 bench/capture_loss.py --setups kernel,bridge --rates 20000,50000,100000,0 --size 64
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import floodgen  # noqa: E402

PREFIX = "hn-cl-%d" % os.getpid()
GEN = os.path.join(HERE, "..", "tests", "integration", "floodgen.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
STOP_RE = re.compile(r"capture (\d+) frames, (\d+) dropped")
OVERFLOW_RE = re.compile(r"rx ring overflow (\d+)")


def run(cmd, timeout=60, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip() or r.stdout.strip()))
    return r.stdout


def ns_run(ns, cmd, **kw):
    return run(["ip", "netns", "exec", ns] + cmd, **kw)


class Lab:
    def __init__(self, name, tmp):
        self.name = name
        self.tmp = os.path.join(tmp, name)
        os.makedirs(self.tmp)
        self.namespaces, self.procs = [], []

    def ns(self, role):
        ns = "%s-%s-%s" % (PREFIX, self.name, role)
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        ns_run(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
                    "net.ipv4.conf.all.forwarding=0", "net.ipv4.conf.default.forwarding=0"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def spawn(self, ns, cmd, log):
        f = open(log, "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def wait_for(pred, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def link_counter(ns, ifname, what):
    return int(ns_run(ns, ["cat", "/sys/class/net/%s/statistics/%s" % (ifname, what)]).strip())


def topology(lab, mode):
    hp, wall, out = lab.ns("hp"), lab.ns("wall"), lab.ns("out")
    run(["ip", "-n", wall, "link", "add", "hw-in", "type", "veth", "peer", "name", "hn-hp0", "netns", hp])
    run(["ip", "-n", wall, "link", "add", "hw-out", "type", "veth", "peer", "name", "hn-out0", "netns", out])
    for ns, ifs in ((wall, ("hw-in", "hw-out")), (hp, ("hn-hp0",)), (out, ("hn-out0",))):
        for i in ifs:
            ns_run(ns, ["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % i])
            run(["ip", "-n", ns, "link", "set", i, "up"])
    hp_ip = "10.0.0.2" if mode == "nat" else "192.0.2.10"
    run(["ip", "-n", hp, "addr", "add", hp_ip + "/24", "dev", "hn-hp0"])
    run(["ip", "-n", hp, "route", "add", "default", "via", "10.0.0.1" if mode == "nat" else "192.0.2.1"])
    run(["ip", "-n", out, "addr", "add", "192.0.2.1/24", "dev", "hn-out0"])
    run(["ip", "-n", out, "addr", "add", "192.0.2.20/24", "dev", "hn-out0"])
    for ns, i in ((hp, "hn-hp0"), (out, "hn-out0")):
        ns_run(ns, ["ethtool", "-K", i, "tso", "off", "gso", "off", "gro", "off"], check=False)
    return hp, wall, out


def sink(lab, hp, ports):
    """UDP sockets on the honeypot's ports, so it sends no ICMP port unreachable."""
    code = ("import socket,time\nss=[]\nfor p in %r:\n s=socket.socket(2,2); s.bind(('0.0.0.0',p)); ss.append(s)\n"
            "print('ready',flush=True)\ntime.sleep(1e6)\n" % list(ports))
    log = os.path.join(lab.tmp, "sink.log")
    lab.spawn(hp, [PY, "-c", code], log)
    wait_for(lambda: "ready" in open(log).read(), 10, "the UDP sink")


def setup_kernel(lab, args):
    hp, wall, out = topology(lab, "bridge")
    run(["ip", "-n", wall, "link", "add", "hwbr0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0"])
    for p in ("hw-in", "hw-out"):
        run(["ip", "-n", wall, "link", "set", p, "master", "hwbr0"])
    run(["ip", "-n", wall, "link", "set", "hwbr0", "up"])
    return {"hp": hp, "wall": wall, "out": out, "dst": "192.0.2.10",
            "dst_mac": ns_run(hp, ["cat", "/sys/class/net/hn-hp0/address"]).strip()}


WALL_TOML = {
    "bridge": 'mode = "bridge"\n[inside]\ninterface = "hw-in"\n[outside]\ninterface = "hw-out"\n'
              '[[honeypot]]\nname = "hp1"\nip = "192.0.2.10"\n[capture]\ndir = "{dir}"\nring_mb = {ring}\n',
    "nat": 'mode = "nat"\n[inside]\ninterface = "hw-in"\ngateway_ip = "10.0.0.1/24"\n[outside]\n'
           'interface = "hw-out"\ngateway = "192.0.2.1"\n[[honeypot]]\nname = "hp1"\nip = "10.0.0.2"\n'
           'public_ip = "192.0.2.10"\n[capture]\ndir = "{dir}"\nring_mb = {ring}\n',
}


def start_wall(lab, env, mode, args, capdir):
    cfg = os.path.join(lab.tmp, "wall.toml")
    with open(cfg, "w") as f:
        f.write(WALL_TOML[mode].format(dir=capdir, ring=args.ring_mb))
    log = os.path.join(lab.tmp, "wall-%d.log" % len(lab.procs))
    p = lab.spawn(env["wall"], [args.honeynet, "wall", "--config", cfg], log)
    wait_for(lambda: "ready" in open(log).read() or p.poll() is not None, 15, "the honeywall")
    if p.poll() is not None:
        raise RuntimeError("honeywall exited: " + open(log).read())
    # both sides learn the way (ARP) before the measured frames
    ns_run(env["out"], ["ping", "-c", "1", "-W", "2", env["dst"]], check=False)
    return p, log


def measure(lab, env, rate, args, idx, capture):
    """capture(): context manager-ish pair (start, stop) returning per-port pcap paths and extra info."""
    dport = 9000 + idx
    before = link_counter(env["wall"], "hw-out", "rx_packets")
    handle = capture["start"]()
    gen = ns_run(env["out"], [PY, GEN, "--ifname", "hn-out0", "--dst-mac", env["dst_mac"], "--src", "192.0.2.20",
                              "--dst", env["dst"], "--dport", str(dport), "--size", str(args.size),
                              "--rate", str(rate), "--seconds", str(args.seconds)], timeout=args.seconds + 60)
    g = json.loads(gen.strip().splitlines()[-1])
    time.sleep(1.5)  # tcpdump's capture blocks retire after up to 1 s
    arrived = link_counter(env["wall"], "hw-out", "rx_packets") - before
    files, info = capture["stop"](handle)
    kept = {}
    for port, paths in files.items():
        kept[port] = sum(floodgen.count_marked(p, dport)[0] for p in paths)
    return {"rate_asked": rate, "sent": g["sent"], "rate_sent": g["rate"], "arrived": arrived, "kept": kept, **info}


def kernel_capture(lab, env, args):
    state = {"n": 0}

    def start():
        state["n"] += 1
        procs = []
        for port in ("hw-in", "hw-out"):
            path = os.path.join(lab.tmp, "%s-%d.pcap" % (port, state["n"]))
            log = path + ".log"
            p = lab.spawn(env["wall"], ["tcpdump", "-i", port, "-s", "0", "-n", "-B", "32768", "-w", path], log)
            procs.append((p, port, path, log))
        for _, port, _, log in procs:
            wait_for(lambda: "listening on" in open(log).read(), 10, "tcpdump on " + port)
        return procs

    def stop(procs):
        files, drops = {}, 0
        for p, port, path, log in procs:
            p.send_signal(signal.SIGINT)
            p.wait(30)
            text = open(log).read()
            m = re.search(r"(\d+) packets dropped by kernel", text)
            drops += int(m.group(1)) if m else 0
            files["inside" if port == "hw-in" else "outside"] = [path]
        return files, {"reported_drops": drops}

    return {"start": start, "stop": stop}


def wall_capture(lab, env, mode, args):
    state = {"n": 0}

    def start():
        state["n"] += 1
        capdir = os.path.join(lab.tmp, "cap-%d" % state["n"])
        os.makedirs(capdir)
        p, log = start_wall(lab, env, mode, args, capdir)
        return p, log, capdir

    def stop(handle):
        p, log, capdir = handle
        p.send_signal(signal.SIGINT)
        p.wait(60)
        text = open(log).read()
        line = [l for l in text.splitlines() if l.startswith("honeywall stopped:")]
        m = STOP_RE.search(line[-1]) if line else None
        o = OVERFLOW_RE.search(line[-1]) if line else None
        files = {side: sorted(os.path.join(capdir, f) for f in os.listdir(capdir)
                              if f.startswith(side + "-") and f.endswith(".pcap")) for side in ("inside", "outside")}
        all_frames = sum(count_all(f) for fs in files.values() for f in fs)
        info = {"reported_drops": int(m.group(2)) if m else None,
                "capture_frames": int(m.group(1)) if m else None,
                "pcap_frames_all": all_frames,
                "port_overflow": int(o.group(1)) if o else 0,
                "stop_line": line[-1] if line else text[-500:]}
        return files, info

    return {"start": start, "stop": stop}


def count_all(path):
    """Frames in a pcap file (all of them)."""
    n = 0
    with open(path, "rb") as f:
        f.read(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            incl = int.from_bytes(h[8:12], sys.byteorder)
            f.seek(incl, 1)
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--honeynet", default="build/honeynet")
    ap.add_argument("--setups", default="kernel,bridge,nat")
    ap.add_argument("--rates", default="10000,25000,50000,100000,0", help="frames/s; 0 = as fast as floodgen goes")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--ring-mb", type=int, default=32, help="honeywall capture.ring_mb")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.honeynet = os.path.abspath(args.honeynet)
    if os.geteuid() != 0:
        print("capture_loss.py: needs root", file=sys.stderr)
        return 2

    def on_signal(signum, _):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    rates = [float(r) for r in args.rates.split(",")]
    tmp = tempfile.mkdtemp(prefix="hn-cl-")
    results = []
    try:
        for setup in args.setups.split(","):
            lab = Lab(setup, tmp)
            try:
                if setup == "kernel":
                    env = setup_kernel(lab, args)
                    cap = kernel_capture(lab, env, args)
                else:
                    hp, wall, out = topology(lab, setup)
                    env = {"hp": hp, "wall": wall, "out": out, "dst": "192.0.2.10"}
                    env["dst_mac"] = ns_run(hp if setup == "bridge" else wall,
                                            ["cat", "/sys/class/net/%s/address" %
                                             ("hn-hp0" if setup == "bridge" else "hw-out")]).strip()
                    cap = wall_capture(lab, env, setup, args)
                sink(lab, env["hp"], [9000 + i for i in range(len(rates))])
                for i, rate in enumerate(rates):
                    r = measure(lab, env, int(rate), args, i, cap)
                    r["setup"] = setup
                    results.append(r)
                    if not args.json:
                        print_row(r, args)
                    os.sync()
            finally:
                lab.close()
    except KeyboardInterrupt:
        print("interrupted; namespaces removed", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps({"date": datetime.datetime.utcnow().isoformat() + "Z", "size": args.size,
                          "seconds": args.seconds, "results": results}, indent=1))
    return 0


HEADER_PRINTED = []


def print_row(r, args):
    if not HEADER_PRINTED:
        HEADER_PRINTED.append(1)
        print("capture under load, %s UTC, %d-byte UDP frames, %.0f s per rate, %d CPUs, load %.2f"
              % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S"), args.size, args.seconds,
                 os.cpu_count(), os.getloadavg()[0]))
        print("%-7s %9s %9s %9s %9s %9s %9s %8s %8s %10s" % ("setup", "asked/s", "sent/s", "sent", "arrived",
                                                              "kept in", "kept out", "kept %", "reported",
                                                              "ring ovfl"))
    arrived = r["arrived"] or 1
    kin, kout = r["kept"].get("inside", 0), r["kept"].get("outside", 0)
    pct = 100.0 * min(kin, kout) / arrived
    print("%-7s %9s %9d %9d %9d %9d %9d %8.2f %8s %10s" % (
        r["setup"], r["rate_asked"] or "max", r["rate_sent"], r["sent"], r["arrived"], kin, kout, pct,
        r.get("reported_drops"), r.get("port_overflow", "-")), flush=True)


if __name__ == "__main__":
    sys.exit(main())
