#!/usr/bin/python3
"""Throughput and latency of the honeywall against the kernel, in namespaces.

Builds its own network namespaces (hn-bench-<pid>-*), measures one TCP stream
with iperf3 and the ping RTT through each setup, and prints a table plus the
ratios honeynet / kernel baseline and honeynet / veth:

  veth          two namespaces joined by one veth pair: the floor of the machine.
  kernel        what a 2002-style honeywall did, all in the kernel: a Linux
                bridge (stp off, no multicast snooping) between the honeypot-side
                and the outside veth, an nftables forward table with conntrack
                rules and a counter (rc.firewall's job: established/related
                accept, new outbound limited per hour, new inbound accepted), and
                `tcpdump -w` on both bridge ports (full frames).
  bridge        `honeynet wall` in bridge mode, capture on (pcap into a temp dir).
  nat           `honeynet wall` in nat mode (honeypot 10.0.0.2/24 via 10.0.0.1,
                public 192.0.2.10, outside gateway 192.0.2.1), capture on.
  veth-nogso,   veth and kernel again with TSO/GSO/GRO off on the two end
  kernel-nogso  hosts' interfaces. The honeywall handles frames of at most the
                MTU, so in its setups the end hosts always run that way (a
                neighbour with TSO on hands the veth 64 KB frames it drops);
                these two rows are the like-for-like baselines.

In every setup the iperf3 server runs on the honeypot and the client outside,
so both TCP connections iperf3 makes are inbound (never limited by Data
Control). "fwd" = outside -> honeypot (client sends), "rev" = honeypot ->
outside (iperf3 -R). After each honeywall run the "honeywall stopped:" line is
checked for capture drops; for the kernel baseline tcpdump's "dropped by
kernel" counts are reported. "wall CPU%" is the honeywall process's CPU time
(all threads) per second of the fwd/rev run; 100 = one CPU.

Needs root, iperf3, ping, tcpdump, nft, ip, ss, ethtool. Python 3 standard
library only. Everything it creates (namespaces, veths, processes, pcaps) is
removed at exit, also on errors, Ctrl-C and SIGTERM. Takes about
6 x (2 x --seconds + 5) seconds.

  sudo /usr/bin/python3 bench/throughput.py --honeynet build/honeynet --seconds 10
  sudo /usr/bin/python3 bench/throughput.py --honeynet build/honeynet --json
  sudo /usr/bin/python3 bench/throughput.py --setups kernel-nogso,bridge
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PREFIX = f"hn-bench-{os.getpid()}"
SETUPS = ["veth", "veth-nogso", "kernel", "kernel-nogso", "bridge", "nat"]
TITLES = {
    "veth": "a) veth pair",
    "veth-nogso": "a') veth pair, no TSO/GSO/GRO",
    "kernel": "b) kernel br+nft+tcpdump",
    "kernel-nogso": "b') kernel, no TSO/GSO/GRO",
    "bridge": "c) honeynet bridge, capture",
    "nat": "d) honeynet nat, capture",
}
IPERF_PORT = 5201
# tcpdump's kernel buffer per port, KiB: the honeywall's default capture ring
# (capture.ring_mb = 32), so neither side gets more buffer than the other.
TCPDUMP_BUFFER_KIB = 32 * 1024


class BenchError(Exception):
    """A step failed; the message says which and why."""


class Lab:
    """Namespaces and processes of one setup; close() removes all of them."""

    def __init__(self, name):
        self.name = name
        self.namespaces = []
        self.procs = []  # (Popen, what)

    def ns(self, role):
        """Creates namespace <prefix>-<setup>-<role> with lo up and IPv6 off."""
        ns = f"{PREFIX}-{self.name}-{role}"
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        # IPv6 off before any interface exists, so nothing autoconfigures or sends RS/MLD.
        nsrun(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1"])
        nsrun(ns, ["ip", "link", "set", "lo", "up"])
        return ns

    def spawn(self, ns, cmd, what, **kw):
        """Starts cmd in ns in the background; it is killed at close()."""
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, **kw)
        self.procs.append((p, what))
        return p

    def close(self):
        for p, _ in reversed(self.procs):
            stop_process(p, signal.SIGTERM)
        self.procs = []
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        self.namespaces = []


def stop_process(p, sig, timeout=10.0):
    """Sends sig to p (our child, by its pid) and waits; kills it if it lingers."""
    if p.poll() is not None:
        return p.returncode
    try:
        p.send_signal(sig)
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def run(cmd, timeout=30, input_text=None):
    """Runs cmd; raises BenchError with its stderr when it fails."""
    r = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout, check=False)
    if r.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed (exit {r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def nsrun(ns, cmd, timeout=30, input_text=None):
    return run(["ip", "netns", "exec", ns] + cmd, timeout=timeout, input_text=input_text)


def veth(ns_a, name_a, ns_b, name_b):
    """A veth pair created inside ns_a with its peer moved to ns_b: no name in the host namespace."""
    run(["ip", "-n", ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b])


def host(ns, ifname, addrs, gateway=None, offloads=True):
    """Addresses, link up and (optionally) a default route for a test host.

    offloads=False turns off TSO/GSO/GRO on the host's interface, so it sends
    and receives frames of at most the MTU (checksum offload stays on)."""
    if not offloads:
        nsrun(ns, ["ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off"])
    for a in addrs:
        run(["ip", "-n", ns, "addr", "add", a, "dev", ifname])
    run(["ip", "-n", ns, "link", "set", ifname, "up"])
    if gateway:
        run(["ip", "-n", ns, "route", "add", "default", "via", gateway])


def wait_until(pred, seconds, what):
    """Polls pred every 50 ms until true or the deadline; raises BenchError then."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise BenchError(f"timed out after {seconds} s waiting for {what}")


def port_listening(ns, port):
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"],
                         capture_output=True, text=True, check=False).stdout
    return out.strip() != ""


# ----------------------------------------------------------------- measuring

def ping_rtt(ns, target):
    """Average RTT in ms of 20 pings 50 ms apart."""
    out = nsrun(ns, ["ping", "-q", "-c", "20", "-i", "0.05", "-W", "2", target], timeout=30)
    m = re.search(r"= [\d.]+/([\d.]+)/[\d.]+/[\d.]+ ms", out)
    loss = re.search(r"(\d+(?:\.\d+)?)% packet loss", out)
    if not m:
        raise BenchError(f"ping {target} from {ns}: no RTT in output: {out.strip()}")
    return float(m.group(1)), float(loss.group(1)) if loss else None


def iperf(lab, server_ns, client_ns, target, seconds, reverse):
    """One TCP stream for `seconds`; returns (Gbit/s received, retransmits)."""
    server = lab.spawn(server_ns, ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)], "iperf3 server",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: port_listening(server_ns, IPERF_PORT), 10, "iperf3 server to listen")
    cmd = ["iperf3", "-c", target, "-p", str(IPERF_PORT), "-t", str(seconds), "-J", "--connect-timeout", "5000"]
    if reverse:
        cmd.append("-R")
    r = subprocess.run(["ip", "netns", "exec", client_ns] + cmd, capture_output=True, text=True,
                       timeout=seconds + 60, check=False)
    stop_process(server, signal.SIGTERM, timeout=5)
    try:
        j = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise BenchError(f"iperf3 to {target}: no JSON (exit {r.returncode}): {r.stderr.strip()}")
    if "error" in j:
        raise BenchError(f"iperf3 to {target}{' -R' if reverse else ''}: {j['error']}")
    end = j["end"]
    return end["sum_received"]["bits_per_second"] / 1e9, end["sum_sent"].get("retransmits")


class CpuMeter:
    """CPU time (user+system, all threads) of one process, from /proc/<pid>/stat."""

    def __init__(self, pid):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            return None


def measure(lab, server_ns, client_ns, target, seconds, cpu=None):
    """ping + iperf3 both ways from client_ns to the honeypot at target."""
    res = {}
    res["rtt_ms"], res["ping_loss_pct"] = ping_rtt(client_ns, target)
    for key, rev in (("fwd", False), ("rev", True)):
        c0, t0 = (cpu.seconds() if cpu else None), time.monotonic()
        gbps, retr = iperf(lab, server_ns, client_ns, target, seconds, rev)
        c1, t1 = (cpu.seconds() if cpu else None), time.monotonic()
        res[f"{key}_gbps"] = gbps
        res[f"{key}_retransmits"] = retr
        if c0 is not None and c1 is not None:
            res[f"{key}_wall_cpu_pct"] = 100.0 * (c1 - c0) / (t1 - t0)
    return res


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(".pcap"):
                total += os.path.getsize(os.path.join(root, f))
    return total


# -------------------------------------------------------------------- setups

def setup_veth(lab, args, tmp, offloads=True):
    hp, out = lab.ns("hp"), lab.ns("out")
    veth(hp, "hnhp0", out, "hnout0")
    host(hp, "hnhp0", ["192.0.2.10/24"], offloads=offloads)
    host(out, "hnout0", ["192.0.2.20/24"], offloads=offloads)
    return measure(lab, hp, out, "192.0.2.10", args.seconds)


def three_namespaces(lab):
    hp, wall, out = lab.ns("hp"), lab.ns("wall"), lab.ns("out")
    veth(hp, "hnhp0", wall, "hw-in")
    veth(out, "hnout0", wall, "hw-out")
    return hp, wall, out


NFT_RULES = """
table inet hn_bench {
  counter hn_forwarded { }
  counter hn_inbound_new { }
  counter hn_outbound_drop { }
  chain forward {
    type filter hook forward priority filter; policy drop;
    counter name "hn_forwarded"
    ct state established,related accept
    ct state invalid drop
    ip saddr 192.0.2.10 ct state new meta l4proto tcp limit rate 9/hour accept
    ip saddr 192.0.2.10 ct state new meta l4proto udp limit rate 20/hour accept
    ip saddr 192.0.2.10 ct state new meta l4proto icmp limit rate 50/hour accept
    ip saddr 192.0.2.10 ct state new counter name "hn_outbound_drop" drop
    ip daddr 192.0.2.10 ct state new counter name "hn_inbound_new" accept
  }
}
"""


def setup_kernel(lab, args, tmp, offloads=True):
    hp, wall, out = three_namespaces(lab)
    # Bridged IPv4 goes through the inet forward hook (br_netfilter): that is
    # how iptables saw bridged frames in 2002 and how conntrack sees them here.
    # (This kernel has no nf_conntrack_bridge, so `ct` in a bridge table fails.)
    try:
        nsrun(wall, ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"])
    except BenchError as e:
        raise BenchError(f"kernel baseline needs br_netfilter (net.bridge.bridge-nf-call-iptables): {e}")
    run(["ip", "-n", wall, "link", "add", "hwbr0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0"])
    for port in ("hw-in", "hw-out"):
        run(["ip", "-n", wall, "link", "set", port, "master", "hwbr0"])
        run(["ip", "-n", wall, "link", "set", port, "up"])
    run(["ip", "-n", wall, "link", "set", "hwbr0", "up"])
    nsrun(wall, ["nft", "-f", "-"], input_text=NFT_RULES)
    host(hp, "hnhp0", ["192.0.2.10/24"], gateway="192.0.2.1", offloads=offloads)
    host(out, "hnout0", ["192.0.2.1/24", "192.0.2.20/24"], offloads=offloads)
    capdir = os.path.join(tmp, lab.name)
    os.makedirs(capdir)
    dumps = []
    for port in ("hw-in", "hw-out"):
        log = open(os.path.join(capdir, f"tcpdump-{port}.log"), "w")
        p = lab.spawn(wall, ["tcpdump", "-i", port, "-s", "0", "-n", "-B", str(TCPDUMP_BUFFER_KIB),
                             "-w", os.path.join(capdir, f"{port}.pcap")], f"tcpdump on {port}",
                      stdout=log, stderr=log)
        dumps.append((p, port, log))
    for _, port, log in dumps:
        wait_until(lambda: "listening on" in open(log.name).read(), 10, f"tcpdump on {port}")
    res = measure(lab, hp, out, "192.0.2.10", args.seconds)
    drops, captured = 0, 0
    for p, port, log in dumps:
        stop_process(p, signal.SIGINT)
        log.close()
        text = open(log.name).read()
        m = re.search(r"(\d+) packets dropped by kernel", text)
        c = re.search(r"(\d+) packets captured", text)
        if m is None or c is None:
            raise BenchError(f"tcpdump on {port} printed no statistics: {text.strip()}")
        drops += int(m.group(1))
        captured += int(c.group(1))
    res["capture_frames"] = captured
    res["capture_dropped"] = drops
    res["pcap_bytes"] = dir_bytes(capdir)
    counters = nsrun(wall, ["nft", "list", "counter", "inet", "hn_bench", "hn_forwarded"])
    m = re.search(r"packets (\d+) bytes (\d+)", counters)
    res["nft_forwarded_packets"] = int(m.group(1)) if m else None
    shutil.rmtree(capdir, ignore_errors=True)
    return res


BRIDGE_TOML = """mode = "bridge"
[inside]
interface = "hw-in"
[outside]
interface = "hw-out"
[[honeypot]]
name = "hp1"
ip = "192.0.2.10"
[capture]
dir = "{dir}"
"""

NAT_TOML = """mode = "nat"
[inside]
interface = "hw-in"
gateway_ip = "10.0.0.1/24"
[outside]
interface = "hw-out"
gateway = "192.0.2.1"
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
[capture]
dir = "{dir}"
"""

STOP_RE = re.compile(r"capture (\d+) frames, (\d+) dropped")


def run_honeywall(lab, args, tmp, mode):
    hp, wall, out = three_namespaces(lab)
    for port in ("hw-in", "hw-out"):
        run(["ip", "-n", wall, "link", "set", port, "up"])
    # The honeywall refuses data ports the host kernel could route or answer on.
    nsrun(wall, ["sysctl", "-qw", "net.ipv4.conf.all.forwarding=0", "net.ipv4.conf.default.forwarding=0",
                 "net.ipv4.conf.hw-in.forwarding=0", "net.ipv4.conf.hw-out.forwarding=0"])
    # The honeywall reads and writes frames of at most the MTU: a neighbour with
    # TSO/GSO on hands the veth 64 KB super-frames, which it cannot forward.
    if mode == "bridge":
        host(hp, "hnhp0", ["192.0.2.10/24"], gateway="192.0.2.1", offloads=False)
        toml = BRIDGE_TOML
    else:
        host(hp, "hnhp0", ["10.0.0.2/24"], gateway="10.0.0.1", offloads=False)
        toml = NAT_TOML
    host(out, "hnout0", ["192.0.2.1/24", "192.0.2.20/24"], offloads=False)
    capdir = os.path.join(tmp, mode)
    os.makedirs(capdir)
    cfg = os.path.join(tmp, f"{mode}.toml")
    with open(cfg, "w") as f:
        f.write(toml.format(dir=capdir))
    logpath = os.path.join(tmp, f"{mode}-wall.out")
    log = open(logpath, "w")
    wall_proc = lab.spawn(wall, [args.honeynet, "wall", "--config", cfg], "honeywall",
                          stdout=log, stderr=subprocess.STDOUT)

    def wall_text():
        with open(logpath) as f:
            return f.read()

    def ready():
        if wall_proc.poll() is not None:
            raise BenchError(f"honeywall ({mode}) exited with {wall_proc.returncode}: {wall_text().strip()}")
        return "ready" in wall_text()

    wait_until(ready, 15, f"the honeywall ({mode}) to print 'ready'")
    # `ip netns exec` execs the command: the child's pid is the honeywall's.
    res = measure(lab, hp, out, "192.0.2.10", args.seconds, cpu=CpuMeter(wall_proc.pid))
    rc = stop_process(wall_proc, signal.SIGINT, timeout=30)
    log.close()
    text = wall_text()
    stopped = [l for l in text.splitlines() if l.startswith("honeywall stopped:")]
    if rc != 0 or not stopped:
        raise BenchError(f"honeywall ({mode}) did not stop cleanly (exit {rc}): {text.strip()[-2000:]}")
    m = STOP_RE.search(stopped[-1])
    if not m:
        raise BenchError(f"honeywall ({mode}) stop line has no capture counts: {stopped[-1]}")
    res["capture_frames"] = int(m.group(1))
    res["capture_dropped"] = int(m.group(2))
    res["stop_line"] = stopped[-1]
    res["pcap_bytes"] = dir_bytes(capdir)
    res.update(port_losses(os.path.join(capdir, "events.json")))
    shutil.rmtree(capdir, ignore_errors=True)
    return res


def port_losses(events_path):
    """Forwarding-port losses from the last stats event: RX ring overflows
    (kernel_drops) and frames larger than a ring slot (truncated). The stop
    line does not show these."""
    last = None
    try:
        with open(events_path) as f:
            for line in f:
                if '"event_type":"stats"' in line.replace(" ", ""):
                    last = line
    except OSError:
        return {}
    if last is None:
        return {}
    st = json.loads(last).get("stats", {})
    out = {}
    for key in ("kernel_drops", "truncated"):
        vals = [st.get(port, {}).get(key) for port in ("inside", "outside")]
        if all(isinstance(v, int) for v in vals):
            out[f"port_{key}"] = sum(vals)
    cap = st.get("capture", {})
    for key in ("waits", "wait_ms"):  # capture-first: how often / how long forwarding waited for the capture
        if isinstance(cap.get(key), int):
            out[f"capture_{key}"] = cap[key]
    return out


def setup_bridge(lab, args, tmp):
    return run_honeywall(lab, args, tmp, "bridge")


def setup_nat(lab, args, tmp):
    return run_honeywall(lab, args, tmp, "nat")


RUNNERS = {
    "veth": setup_veth,
    "veth-nogso": lambda lab, args, tmp: setup_veth(lab, args, tmp, offloads=False),
    "kernel": setup_kernel,
    "kernel-nogso": lambda lab, args, tmp: setup_kernel(lab, args, tmp, offloads=False),
    "bridge": setup_bridge,
    "nat": setup_nat,
}
BASELINES = ["kernel", "kernel-nogso", "veth", "veth-nogso"]


# -------------------------------------------------------------------- report

def ratios(results):
    """honeynet / kernel and honeynet / veth, for throughput both ways and RTT."""
    out = {}
    for hn in ("bridge", "nat"):
        for base in BASELINES:
            if hn not in results or base not in results:
                continue
            a, b = results[hn], results[base]
            out[f"{hn}/{base}"] = {k: (a[k] / b[k] if b.get(k) else None) for k in ("fwd_gbps", "rev_gbps", "rtt_ms")}
    return out


def fmt(v, spec):
    """v formatted by spec, or "-" padded to the spec's width when v is None."""
    if v is not None:
        return format(v, spec)
    m = re.match(r"(\d+)", spec)
    return "-".rjust(int(m.group(1)) if m else 1)


def print_table(report):
    res = report["results"]
    print(f"honeynet throughput bench, {report['date']}, {report['machine']['cpus']} CPUs, "
          f"kernel {report['machine']['kernel']}, iperf3 -t {report['seconds']}, one TCP stream")
    print(f"{'setup':32} {'fwd Gbit/s':>10} {'rev Gbit/s':>10} {'RTT ms':>8} {'wall CPU%':>10} "
          f"{'captured':>10} {'cap drops':>9}")
    for s in SETUPS:
        if s not in res:
            continue
        r = res[s]
        if "error" in r:
            print(f"{TITLES[s]:32} FAILED: {r['error']}")
            continue
        cpu = "-"
        if r.get("fwd_wall_cpu_pct") is not None:
            cpu = f"{r['fwd_wall_cpu_pct']:.0f}/{r['rev_wall_cpu_pct']:.0f}"
        print(f"{TITLES[s]:32} {fmt(r.get('fwd_gbps'), '10.2f')} {fmt(r.get('rev_gbps'), '10.2f')} "
              f"{fmt(r.get('rtt_ms'), '8.3f')} {cpu:>10} {fmt(r.get('capture_frames'), '10d')} "
              f"{fmt(r.get('capture_dropped'), '9d')}")
    print()
    print(f"{'ratio':40} {'fwd':>10} {'rev':>10} {'RTT':>8}")
    for name, r in report["ratios"].items():
        hn, base = name.split("/")
        label = f"honeynet {hn} / {base.replace('kernel', 'kernel-baseline')}"
        print(f"{label:40} {fmt(r['fwd_gbps'], '10.2f')} {fmt(r['rev_gbps'], '10.2f')} {fmt(r['rtt_ms'], '8.2f')}")
    for s in ("bridge", "nat"):
        r = res.get(s, {})
        if r.get("port_kernel_drops") or r.get("port_truncated"):
            print(f"WARNING: honeynet {s}: data ports lost {r.get('port_kernel_drops', 0)} frames to full RX "
                  f"rings and {r.get('port_truncated', 0)} larger than a ring slot")
        if r.get("capture_dropped"):
            print(f"WARNING: honeynet {s}: capture dropped {r['capture_dropped']} of "
                  f"{r['capture_frames'] + r['capture_dropped']} frames ({r.get('stop_line', '')})")
    for s in ("kernel", "kernel-nogso"):
        if res.get(s, {}).get("capture_dropped"):
            print(f"note: {TITLES[s]}: tcpdump dropped {res[s]['capture_dropped']} frames")


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
            "loadavg_at_start": os.getloadavg()[0]}


def check_tools(args):
    for tool in ("ip", "iperf3", "ping", "tcpdump", "nft", "ss", "sysctl", "ethtool"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found: install it (Debian: apt-get install iperf3 iputils-ping "
                             f"tcpdump nftables iproute2 procps ethtool)")
    if any(s in args.setups for s in ("bridge", "nat")):
        if not (os.path.isfile(args.honeynet) and os.access(args.honeynet, os.X_OK)):
            raise BenchError(f"--honeynet {args.honeynet}: not an executable file; build it: "
                             f"ninja -C build honeynet")
    if os.geteuid() != 0:
        raise BenchError("needs root (network namespaces, AF_PACKET): run with sudo")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--honeynet", default="build/honeynet", help="the honeynet binary (default build/honeynet)")
    ap.add_argument("--seconds", type=int, default=10, help="iperf3 -t per direction (default 10)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--setups", default=",".join(SETUPS),
                    help=f"comma-separated subset of {','.join(SETUPS)} (default all)")
    ap.add_argument("--tmp", default=None, help="parent dir for pcaps and configs (default: system temp dir)")
    a = ap.parse_args()
    a.setups = [s.strip() for s in a.setups.split(",") if s.strip()]
    bad = [s for s in a.setups if s not in SETUPS]
    if bad:
        ap.error(f"unknown setup(s) {','.join(bad)}; choose from {','.join(SETUPS)}")
    if a.seconds < 1:
        ap.error("--seconds must be at least 1")
    a.honeynet = os.path.abspath(a.honeynet)
    return a


def main():
    args = parse_args()
    # SIGTERM/SIGHUP like Ctrl-C: unwind through the finally blocks that tear down.
    def on_signal(signum, _):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored (background job)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        check_tools(args)
    except BenchError as e:
        print(f"throughput.py: {e}", file=sys.stderr)
        return 2
    report = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
              "machine": machine(), "seconds": args.seconds, "honeynet": args.honeynet, "results": {}}
    tmp = tempfile.mkdtemp(prefix="hn-bench-", dir=args.tmp)
    failed = False
    try:
        for s in args.setups:
            if not args.json:
                print(f"measuring {TITLES[s]} ...", file=sys.stderr, flush=True)
            # Let the previous setup's pcap writeback finish outside the measurement.
            os.sync()
            lab = Lab(s)
            try:
                report["results"][s] = RUNNERS[s](lab, args, tmp)
            except (BenchError, subprocess.TimeoutExpired) as e:
                report["results"][s] = {"error": str(e)}
                failed = True
            finally:
                lab.close()
    except KeyboardInterrupt:
        print("throughput.py: interrupted; namespaces removed", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["ratios"] = ratios({k: v for k, v in report["results"].items() if "error" not in v})
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
