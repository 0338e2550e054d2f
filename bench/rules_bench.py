#!/usr/bin/python3
"""The cost of inline rules ([rules], src/rules/) through `honeynet wall`, in one run.

Setups, built once in network namespaces made here (hn-bench-<pid>-*,
interfaces hn*/hw*, IPv6 off, nothing connected to the host's interfaces),
end hosts with TSO/GSO/GRO off (MTU-sized frames):

  kernel        Linux bridge + nftables (conntrack, limits, log of new
                connections, a counter) + `tcpdump -s 0 -B 32768 -w` on both
                ports: bench.py's kernel baseline
  hn 0 rules    `honeynet wall`, bridge mode, Data Control and full capture on
                (bench.py's hn-bridge), no [rules]
  hn N rules    the same with [rules] files = [one file of N synthetic rules],
                N = 100, 1000, 10000 (--counts)

The rules are made here (seeded, so every run inspects the same set): each has
one content of 8-16 random letters and digits (its fast pattern), some with
nocase, offset/depth, a second content with distance/within, a pcre behind
the content, flow:established, $HOME_NET/$EXTERNAL_NET and port lists; tcp,
udp and ip. None can match the traffic (iperf3's random payload, udpflood's
0xa5 bytes; the alerts in events.json are counted to be sure), so what is
measured is the inspection of every packet, not alerting.

Per setup and round (the order rotated each round): ping RTT, iperf3 one TCP
stream for --seconds outside->honeypot ("fwd") and back (-R, "rev"), and a
flood of 64-byte UDP frames for --flood-seconds (bench/udpflood.c, as in
bench.py: frames/s the honeypot received). Medians of --rounds rounds, and the
ratios against the honeywall without rules and against the kernel; then the
goal: at 1,000 rules at least 0.8x of the no-rule figure.

Needs root, iperf3, ping, tcpdump, nft, ip, ethtool, cc (bench.py's tools).
Everything it makes is removed at exit, on errors, Ctrl-C, SIGTERM and SIGHUP.
About 5 minutes by default, under 2 with --quick.

  sudo /usr/bin/python3 bench/rules_bench.py --honeynet build/honeynet
  sudo /usr/bin/python3 bench/rules_bench.py --honeynet build/honeynet --quick
  sudo /usr/bin/python3 bench/rules_bench.py --counts 0,1000 --rounds 5 --json-out /tmp/rules.json
"""

import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (setups, sessions, traffic, the flood generator)
import throughput as tp  # noqa: E402
from throughput import BenchError, wait_until  # noqa: E402

GOAL_RULES, GOAL_RATIO = 1000, 0.8
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
SID_BASE = 3_000_000
KEYS = (("fwd_gbps", "TCP fwd"), ("rev_gbps", "TCP rev"), ("delivered_fps", "64 B frames/s"))


# -------------------------------------------------------------------- rules

def make_rules(n, seed=20260101):
    """n synthetic rules, one per line; each has a content of 8-16 random
    alphanumerics, no two alike. The mix (per 20 rules): 11 plain, 2 nocase,
    2 offset/depth, 2 with a second content at distance/within, 1 with a pcre
    behind its content, 2 udp/ip with flow and port lists."""
    rng = random.Random(seed + n)
    seen = set()

    def token():
        while True:
            t = "".join(rng.choice(ALNUM) for _ in range(rng.randint(8, 16)))
            if t not in seen:
                seen.add(t)
                return t

    lines = []
    for i in range(n):
        sid = SID_BASE + i
        t = token()
        k = i % 20
        head = "alert tcp any any -> any any"
        if k in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10):
            body = f'content:"{t}";'
            if k in (3, 4):
                head = "alert tcp $EXTERNAL_NET any -> $HOME_NET [80,443,8080]"
            elif k in (5, 6):
                head = "alert tcp $HOME_NET any -> $EXTERNAL_NET any"
        elif k in (11, 12):
            body = f'content:"{t}"; nocase;'
        elif k in (13, 14):
            off = rng.randint(0, 64)
            body = f'content:"{t}"; offset:{off}; depth:{len(t) + rng.randint(0, 200)};'
        elif k in (15, 16):
            body = f'content:"{t}"; content:"{token()[:6]}"; distance:0; within:64;'
        elif k == 17:
            body = f'content:"{t}"; pcre:"/{t}[0-9a-f]{{2,8}}\\s/i";'
        elif k == 18:
            head = "alert udp $EXTERNAL_NET any -> $HOME_NET [53,123,1900,5353]"
            body = f'content:"|{" ".join(f"{ord(c):02x}" for c in t[:4])}|{t[4:]}";'
        else:
            head = "alert ip any any -> any any"
            body = f'flow:established,to_server; content:"{t}";'
        lines.append(f'{head} (msg:"bench {i}"; {body} classtype:misc-activity; sid:{sid}; rev:1;)')
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- setups

class RulesWall(B.Setup):
    """bench.py's hn-bridge (Data Control and full capture on) whose sessions
    start the honeywall with the rules file of self.rules (None: no [rules])."""

    rules = None  # (count, path)

    def start_session(self, tag):
        self.sessions = getattr(self, "sessions", 0) + 1
        capdir = os.path.join(self.tmp, f"{self.name}-{tag}-{self.sessions}")
        os.makedirs(capdir)
        pcapdir = os.path.join(capdir, "pcap")
        cfg = os.path.join(capdir, "wall.toml")
        text = tp.BRIDGE_TOML.format(dir=pcapdir)
        if self.rules:
            text += f"\n[rules]\nfiles = [{json.dumps(self.rules[1])}]\n"
        with open(cfg, "w") as f:
            f.write(text)
        log = os.path.join(capdir, "wall.out")
        t0 = time.monotonic()
        proc = self.lab.spawn(self.wall_ns, [self.args.honeynet, "wall", "--config", cfg], "honeywall",
                              stdout=open(log, "w"), stderr=subprocess.STDOUT)

        def ready():
            if proc.poll() is not None:
                raise BenchError(f"honeywall exited with {proc.returncode}: {open(log).read().strip()[-1500:]}")
            return "ready" in open(log).read()
        wait_until(ready, 120, "the honeywall to print 'ready'")
        ready_s = time.monotonic() - t0
        out = open(log).read()
        if self.rules:
            m = re.search(r"rules: (\d+) loaded", out)
            if m is None or int(m.group(1)) != self.rules[0]:
                raise BenchError(f"expected 'rules: {self.rules[0]} loaded' from the honeywall: {out.strip()[-800:]}")
        h = {"kind": "wall", "proc": proc, "log": log, "dir": capdir, "pcapdir": pcapdir,
             "cpu": tp.CpuMeter(proc.pid), "ready_s": ready_s}
        subprocess.run(["ip", "netns", "exec", self.out, "ping", "-c", "2", "-i", "0.05", "-W", "2", self.target],
                       capture_output=True, check=False)
        h["ports0"] = B.port_counts(self.wall_ns, self.ports)
        return h

    def stop_session(self, h):
        try:
            res = self._stop_session(h)
            alerts = 0
            try:
                with open(os.path.join(h["pcapdir"], "events.json")) as f:
                    alerts = sum(1 for line in f if '"event_type":"alert"' in line.replace(" ", ""))
            except OSError:
                pass
            res.update(alerts=alerts, ready_s=h["ready_s"])
            return res
        finally:
            shutil.rmtree(h["dir"], ignore_errors=True)


# ------------------------------------------------------------------- report

def label(v):
    return "kernel" if v is None else f"hn {v} rules"


def title(v):
    if v is None:
        return "kernel: bridge+nft+tcpdump"
    return "honeynet bridge, no rules" if v == 0 else f"honeynet bridge, {v:,} rules"


def agg(rep, v, key):
    return B.agg(rep["results"], label(v), key)


def ratio(rep, a, b, key):
    x, y = agg(rep, a, key), agg(rep, b, key)
    return x[0] / y[0] if x and y and y[0] else None


def fr(r):
    return "-" if r is None else f"{r:.2f}"


def print_report(rep):
    m = rep["machine"]
    a = rep["args"]
    print(f"\nhoneynet rules bench, {rep['date']}, nproc {m['cpus']} ({m['cpu_model']}), kernel {m['kernel']}, "
          f"load average {m['loadavg_at_start']:.2f} at start, {rep['loadavg_end']:.2f} at end")
    print(f"{a['rounds']} round(s) interleaved, medians [min-max]; iperf3 -t {a['seconds']} one TCP stream each way; "
          f"64-byte UDP flood {a['flood_seconds']} s ({rep['generator']}); end hosts without TSO/GSO/GRO")
    print("honeywall: bridge mode, Data Control on, capture ON (full pcap + events.json, as bench.py's hn-bridge); "
          "rules: synthetic content rules, none matching the traffic")
    counts = [v for v in rep["variants"] if v is not None]
    hdr = (f"\n{'setup':30} {'TCP fwd Gb/s':>17} {'TCP rev Gb/s':>17} {'64B kframes/s':>16} {'RTT p99':>8} "
           f"{'sent kf/s':>9} {'wall CPU%':>9} {'start s':>7} {'alerts':>6}")
    print(hdr)
    for v in rep["variants"]:
        rows = rep["results"].get(label(v), [])
        errs = [r["error"] for r in rows if "error" in r]

        def c(key, spec, scale=1.0, w=8):
            return B.f3(agg(rep, v, key), spec, scale).rjust(w)
        alerts = [r.get("tcp_alerts", 0) + r.get("flood_alerts", 0) for r in rows if "error" not in r]
        print(f"{title(v):30} {c('fwd_gbps', '.2f', w=17)} {c('rev_gbps', '.2f', w=17)} "
              f"{c('delivered_fps', '.0f', 1e-3, w=16)} {c('rtt_p99', '.3f')} {c('gen_fps', '.0f', 1e-3, w=9)} "
              f"{c('fwd_wall_cpu', '.0f', w=9)} "
              f"{c('tcp_ready_s', '.1f', w=7)} {(str(sum(alerts)) if v is not None else '-'):>6}"
              + (f"  FAILED {len(errs)}x: {errs[0]}" if errs else ""))
    print(f"\nratios of medians{'':13} {'TCP fwd':>8} {'TCP rev':>8} {'64B f/s':>8}")
    for v in counts:
        for base, name in ((0, "no rules"), (None, "kernel")):
            if (v == 0 and base == 0) or base not in rep["variants"]:
                continue
            print(f"  {(f'{v:,} rules' if v else 'no rules') + ' / ' + name:26} "
                  + " ".join(f"{fr(ratio(rep, v, base, k)):>8}" for k, _ in KEYS))
    print("(64B kframes/s: received by the honeypot; sent kf/s: the generator's rate, on a veth bounded by the "
          "receiving side's softirq work on the sending CPU; wall CPU%: the honeywall process during TCP fwd, "
          "100 = one CPU; start s: config + rules to 'ready')")
    g = rep.get("goal")
    if g:
        state = "met" if g["met"] else "MISSED" if g["met"] is False else "n/a"
        print(f"\ngoal: {GOAL_RULES:,} rules >= {GOAL_RATIO}x of no rules: [{state}] "
              + ", ".join(f"{w} {fr(g['ratios'][k])}x" for k, w in KEYS))
        spread = []
        for k, w in KEYS:
            m0 = agg(rep, 0, k)
            if m0 and m0[0] and len([r for r in rep["results"].get(label(0), []) if "error" not in r]) > 1:
                spread.append(f"{w} {100 * (m0[2] - m0[1]) / m0[0]:.0f} %")
        if spread:
            print("      the no-rule runs alone spread (max-min)/median: " + ", ".join(spread) +
                  " (other jobs on the machine): a ratio within that of 1.0 is noise")
    bad = [(v, r.get("tcp_alerts", 0) + r.get("flood_alerts", 0)) for v in counts
           for r in rep["results"].get(label(v), []) if "error" not in r]
    if any(n for _, n in bad):
        print("note: some rules matched the benchmark traffic (alerts above): the numbers include alerting")


def goal(rep):
    if GOAL_RULES not in rep["variants"] or 0 not in rep["variants"]:
        return None
    rs = {k: ratio(rep, GOAL_RULES, 0, k) for k, _ in KEYS}
    vals = [r for r in rs.values() if r is not None]
    return {"ratios": rs, "met": (all(r >= GOAL_RATIO for r in vals) if vals else None)}


# --------------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--honeynet", default="build/honeynet")
    ap.add_argument("--quick", action="store_true", help="1 round, 2 s runs (under 2 minutes)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="iperf3 -t per direction")
    ap.add_argument("--flood-seconds", type=float, default=2)
    ap.add_argument("--pings", type=int, default=100)
    ap.add_argument("--gen-threads", type=int, default=1, help="udpflood threads (default 1)")
    ap.add_argument("--counts", default="0,100,1000,10000", help="rule counts of the honeywall runs (0 = no [rules])")
    ap.add_argument("--no-kernel", action="store_true", help="leave out the kernel baseline")
    ap.add_argument("--json-out", default=None, help="write the report as JSON to this file")
    ap.add_argument("--tmp", default=None, help="parent dir of the pcaps and rule files (default: the system temp dir)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.flood_seconds, a.pings = 1, 2, 1, 50
    a.counts = sorted({int(x) for x in a.counts.split(",") if x.strip()})
    a.gso_seconds = a.seconds  # measure_round reads it (TCP_ONLY setups only)
    a.honeynet = os.path.abspath(a.honeynet)
    return a


def main():
    args = parse_args()

    def on_signal(signum, _):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if os.geteuid() != 0:
        print("rules_bench.py: needs root (network namespaces, AF_PACKET): run with sudo", file=sys.stderr)
        return 2
    for tool in ("ip", "iperf3", "ping", "tcpdump", "nft", "ethtool", "sysctl"):
        if shutil.which(tool) is None:
            print(f"rules_bench.py: {tool} not found (Debian: apt-get install iperf3 iputils-ping tcpdump nftables "
                  f"iproute2 ethtool procps)", file=sys.stderr)
            return 2
    if not os.access(args.honeynet, os.X_OK):
        print(f"rules_bench.py: --honeynet {args.honeynet}: not an executable; build it (make build)", file=sys.stderr)
        return 2
    t_start = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - t_start:5.0f} s] rules_bench: {msg}", file=sys.stderr, flush=True)

    variants = ([] if args.no_kernel else [None]) + args.counts
    rep = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
           "machine": tp.machine(), "honeynet": args.honeynet, "variants": variants, "results": {},
           "capture": "on", "args": {k: getattr(args, k) for k in ("rounds", "seconds", "flood_seconds", "pings")}}
    setups = {}
    failed = False
    tmp = tempfile.mkdtemp(prefix="hn-rules-bench-", dir=args.tmp)
    try:
        args.generator_kind, args.generator = B.build_generator(tmp)
        rep["generator"] = ("udpflood, PACKET_TX_RING" if args.generator_kind == "udpflood" else "floodgen.py")
        files = {}
        for n in args.counts:
            if n:
                files[n] = os.path.join(tmp, f"bench-{n}.rules")
                with open(files[n], "w") as f:
                    f.write(make_rules(n))
        if None in variants:
            log("building kernel")
            setups["kernel"] = B.Setup("kernel", args, tmp)
        if args.counts:
            log("building hn-bridge")
            setups["hn"] = RulesWall("hn-bridge", args, tmp)
        for key, s in setups.items():
            try:
                s.build()
            except BenchError as e:  # its namespaces go at close(), with the others
                failed = True
                for v in variants:
                    if (v is None) == (key == "kernel"):
                        rep["results"][label(v)] = [{"error": f"setup: {e}"}]
        live = [v for v in variants if label(v) not in rep["results"]]
        for rnd in range(args.rounds):
            order = live[rnd % len(live):] + live[:rnd % len(live)] if live else []
            for v in order:
                log(f"round {rnd + 1}/{args.rounds}: {label(v)}")
                s = setups["kernel"] if v is None else setups["hn"]
                if v is not None:
                    s.rules = (v, files[v]) if v else None
                os.sync()
                try:
                    rep["results"].setdefault(label(v), []).append(B.measure_round(s, args))
                except (BenchError, subprocess.TimeoutExpired, subprocess.CalledProcessError) as e:
                    rep["results"].setdefault(label(v), []).append({"error": str(e)})
                    failed = True
    except KeyboardInterrupt:
        print("rules_bench.py: interrupted; removing namespaces", file=sys.stderr)
        return 130
    finally:
        for s in setups.values():
            s.close()
        shutil.rmtree(tmp, ignore_errors=True)
    rep["loadavg_end"] = os.getloadavg()[0]
    rep["elapsed_s"] = time.monotonic() - t_start
    rep["goal"] = goal(rep)
    print_report(rep)
    print(f"\n(elapsed {rep['elapsed_s']:.0f} s)")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rep, f, indent=1, default=str)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
