#!/usr/bin/python3
"""The uplink path ([uplink], docs/deploy.md) against the kernel doing the same job, in one run.

Topology, all in namespaces made here (hn-bench-<pid>-up-*), nothing on the
machine's own interfaces:

    world 198.51.100.66 --- isp 198.51.100.1 / 203.0.113.1 --- eth0 203.0.113.10 host

  kernel    the host DNATs new connections to 203.0.113.10 to a honeypot
            namespace behind a veth (10.0.0.2), SNATs it back, with conntrack
            and `tcpdump -s 0 -B 32768 -w` on the honeypot's veth: what an
            operator would build by hand
  honeynet  `honeynet up` with [uplink] on the same host: the host's DNAT to
            the transit veth, the honeywall in nat mode (Data Control and
            full capture on), a namespace honeypot behind it

The host's eth0 keeps its offloads (GRO/TSO at their defaults), as a real NIC.
iperf3, one TCP stream, world -> honeypot ("fwd") and back (-R, "rev"),
--rounds rounds in alternating order; medians, and honeynet/kernel ratios.

Needs root, iperf3, tcpdump, nft, ip. `honeynet up` uses the lab's fixed
namespace names: not while a lab runs. Everything is removed at exit.

  sudo /usr/bin/python3 bench/uplink_bench.py --honeynet build/honeynet
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput as tp  # noqa: E402
from throughput import BenchError, run, nsrun, veth, wait_until, stop_process, iperf  # noqa: E402

HOST_IP, ISP_HOST, ISP_WORLD, WORLD = "203.0.113.10", "203.0.113.1", "198.51.100.1", "198.51.100.66"

CONFIG = """\
mode = "nat"
[inside]
gateway_ip = "10.0.0.1/24"
[uplink]
interface = "eth0"
management_ports = [22]
[[honeypot]]
name = "bench1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "%s"
""" % HOST_IP

SSHD_STANDIN = ("import socket,threading\n"
                "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                "s.bind(('0.0.0.0',22));s.listen(8)\n"
                "while True: s.accept()[0].close()\n")


def topology(lab):
    """host, isp, world; returns their names."""
    h, i, w = lab.ns("host"), lab.ns("isp"), lab.ns("world")
    veth(h, "eth0", i, "isp0")
    veth(i, "isp1", w, "wan0")
    tp.host(h, "eth0", [HOST_IP + "/24"], ISP_HOST)
    tp.host(i, "isp0", [ISP_HOST + "/24"])
    tp.host(i, "isp1", [ISP_WORLD + "/24"])
    nsrun(i, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    tp.host(w, "wan0", [WORLD + "/24"], ISP_WORLD)
    return h, i, w


def setup_kernel(lab, tmp):
    h, _, w = topology(lab)
    hp = lab.ns("hp")
    veth(h, "hp0", hp, "eth0")
    tp.host(hp, "eth0", ["10.0.0.2/24"], "10.0.0.1")
    tp.host(h, "hp0", ["10.0.0.1/24"])
    nsrun(h, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    rules = f"""
table ip bench {{
  chain pre {{
    type nat hook prerouting priority dstnat;
    iifname "eth0" ip daddr {HOST_IP} tcp dport != 22 dnat to 10.0.0.2
  }}
  chain post {{
    type nat hook postrouting priority srcnat;
    oifname "eth0" ip saddr 10.0.0.2 snat to {HOST_IP}
  }}
  chain forward_new {{
    type filter hook forward priority filter;
    ct state new counter log prefix "hn-bench " level info
  }}
}}
"""
    nsrun(h, ["nft", "-f", "-"], input_text=rules)
    pcap = os.path.join(tmp, "kernel-hp0.pcap")
    dump = lab.spawn(h, ["tcpdump", "-i", "hp0", "-s", "0", "-B", "32768", "-n", "-w", pcap], "tcpdump",
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = dump.stderr.readline()
    if "listening" not in line:
        raise BenchError("tcpdump did not start: " + line)
    return hp, w


def setup_honeynet(lab, tmp, binary):
    h, _, w = topology(lab)
    lab.spawn(h, [sys.executable, "-c", SSHD_STANDIN], "sshd stand-in")
    wait_until(lambda: tp.port_listening(h, 22), 10, "the sshd stand-in")
    cfg = os.path.join(tmp, "uplink.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG)
    data = os.path.join(tmp, "data")
    lab.honeynet = (binary, h, data)
    env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
    r = subprocess.run(["ip", "netns", "exec", h, binary, "up", cfg, "--detach", "--data-dir", data],
                       capture_output=True, text=True, timeout=300, env=env)
    if r.returncode != 0 or "lab ready" not in r.stdout:
        raise BenchError("honeynet up failed:\n" + r.stdout + r.stderr)
    return "hn-g-bench1", w


def down(lab):
    if getattr(lab, "honeynet", None):
        binary, h, data = lab.honeynet
        subprocess.run(["ip", "netns", "exec", h, binary, "down", "--force", "--data-dir", data],
                       capture_output=True, text=True, timeout=120)
        lab.honeynet = None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--honeynet", default="build/honeynet")
    ap.add_argument("--seconds", type=int, default=5, help="iperf3 -t per direction (default 5)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("uplink_bench: needs root (network namespaces)")
    for tool in ("iperf3", "tcpdump", "nft", "ip"):
        if not shutil.which(tool):
            sys.exit(f"uplink_bench: {tool} not found (apt-get install {tool})")
    binary = os.path.abspath(args.honeynet)
    results = {"kernel": [], "honeynet": []}
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with tempfile.TemporaryDirectory(prefix="hn-uplink-bench-") as tmp:
        for rnd in range(args.rounds):
            order = ["kernel", "honeynet"] if rnd % 2 == 0 else ["honeynet", "kernel"]
            for name in order:
                lab = tp.Lab(f"up{name[0]}")
                try:
                    hp, world = setup_kernel(lab, tmp) if name == "kernel" else setup_honeynet(lab, tmp, binary)
                    res = {}
                    for key, rev in (("fwd", False), ("rev", True)):
                        gbps, retr = iperf(lab, hp, world, HOST_IP, args.seconds, rev)
                        res[f"{key}_gbps"], res[f"{key}_retransmits"] = gbps, retr
                    results[name].append(res)
                    print(f"round {rnd + 1} {name}: fwd {res['fwd_gbps']:.2f} Gbit/s, rev {res['rev_gbps']:.2f} Gbit/s",
                          file=sys.stderr, flush=True)
                finally:
                    down(lab)
                    lab.close()
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("fwd_gbps", "rev_gbps")} for n, rs in results.items()}
    ratio = {k: (med["honeynet"][k] / med["kernel"][k] if med["kernel"][k] else None) for k in ("fwd_gbps", "rev_gbps")}
    if args.json:
        print(json.dumps({"median": med, "ratio_honeynet_to_kernel": ratio, "rounds": results}, indent=2))
        return
    print("\nuplink path (one TCP stream, eth0 offloads on; median of %d rounds, %d s each)" % (args.rounds, args.seconds))
    print("  %-44s %10s %10s" % ("", "fwd Gbit/s", "rev Gbit/s"))
    print("  %-44s %10.2f %10.2f" % ("kernel: DNAT+conntrack+tcpdump", med["kernel"]["fwd_gbps"], med["kernel"]["rev_gbps"]))
    print("  %-44s %10.2f %10.2f" % ("honeynet: DNAT+honeywall (DC, capture)", med["honeynet"]["fwd_gbps"],
                                      med["honeynet"]["rev_gbps"]))
    print("  %-44s %10.2f %10.2f" % ("ratio honeynet / kernel", ratio["fwd_gbps"] or 0, ratio["rev_gbps"] or 0))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"uplink_bench: {e}")
