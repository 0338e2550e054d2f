#!/usr/bin/env python3
"""minilab: the honeywall on a small namespace lab, in the foreground.

    python3 scripts/minilab.py [--mode nat|bridge] [--honeynet BIN] [--data-dir DIR] [--check] [--down]

Builds three network namespaces (the topology of tests/integration/netlab.py):

    hn-lab-hp   the honeypot: 10.0.0.2 behind the wall (nat; 192.0.2.10 in bridge mode),
                a telnet-like login banner on port 23 (a tiny Python server, not a shell)
    hn-lab-wall the honeywall's two ports hw-in / hw-out (no addresses, IPv6 and forwarding off)
    hn-lab-out  "the internet": 192.0.2.1 and 192.0.2.20-31, a web server on port 80

writes DIR/wall.toml (capture files in DIR/capture), runs `honeynet wall` in the
foreground and tears everything down on Ctrl-C, SIGTERM, or when the wall exits.
Nothing is connected to the machine's real network. Needs root.

--check   build, run a quick self-check (inbound and outbound connection, events
          logged, clean stop), tear down, exit 0 when it all worked. Without
          --data-dir it uses a temporary directory, so it spends no lab budget.
--down    remove a lab left behind by a killed minilab, then exit.

`make up` now runs the real lab (`honeynet up`: UML honeypots, docs/lab.md). This
namespace-only lab (a banner instead of a honeypot, no UML needed) is kept for its
quick self-check of the honeywall (tests/integration/test_minilab.py). Its namespaces
(hn-lab-*) do not collide with the real lab's (hn-wall, hn-inet).
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import netlab as nl  # noqa: E402  (the one home of the topology code)

NAMES = ("hn-lab-hp", "hn-lab-wall", "hn-lab-out")
DEFAULT_DIR = "/var/lib/honeynet/minilab"
HP_BANNER = "hp1 login: (minilab: a banner on port 23, not a real telnetd)"
WEB_BANNER = "hello from the outside web server on 192.0.2.20-31"


class Stop(Exception):
    pass


def on_signal(signum, _frame):
    # the first signal starts the stop; later ones must not cut the clean
    # stop or the teardown short (the wall is SIGKILLed after 10 s anyway)
    ignore_signals()
    raise Stop(signal.Signals(signum).name)


def _quiet_unraisable(u, _default=sys.unraisablehook):
    # CPython reports a second signal that arrived while the first was being
    # handled ("Signal 15 ignored due to race condition"): expected here.
    if isinstance(u.exc_value, OSError) and "ignored due to race condition" in str(u.exc_value):
        return
    _default(u)


sys.unraisablehook = _quiet_unraisable


def ignore_signals():
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


def down() -> int:
    errors = [e for e in (nl.delete_netns(ns) for ns in NAMES if ns in nl.list_netns()) if e]
    for e in errors:
        print("minilab: " + e, file=sys.stderr)
    return 1 if errors else 0


def how_to(lab, data_dir: Path) -> str:
    cap = data_dir / "capture"
    return "\n".join([
        "",
        "minilab is up (%s mode). Try, from another shell (as root):" % lab.mode,
        "  ip netns exec %s nc %s 23          # attacker -> honeypot: inbound, always allowed"
        % (lab.out_ns, lab.public_ip),
        "  ip netns exec %s nc %s 80          # honeypot -> outside: outbound, 9 TCP per hour"
        % (lab.hp_ns, nl.OUTSIDE_EXTRA[0]),
        "  ip netns exec %s ping -c 3 %s" % (lab.hp_ns, nl.OUTSIDE_EXTRA[0]),
        "  tail -f %s/honeywall.log" % cap,
        "  tail -f %s/events.json" % cap,
        "  tshark -r %s/inside-<TAB>.pcap" % cap,
        "Budgets are kept in %s/budgets.json across runs: delete it to start afresh." % cap,
        "Ctrl-C stops the honeywall and removes the lab.",
        "",
    ])


def self_check(lab, wall, capture_dir: Path) -> list[str]:
    """Quick end-to-end check; returns the problems found."""
    problems = []
    banner = lab.tcp_banner(lab.out_ns, lab.public_ip, 23, timeout=3)
    if "login:" not in banner:
        problems.append("inbound: nc %s 23 from %s got %r, want the login banner" % (lab.public_ip, lab.out_ns, banner))
    r = lab.run(lab.hp_ns, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -n -w 3 %s 80" % nl.OUTSIDE_EXTRA[0],
                timeout=15)
    if WEB_BANNER not in r.stdout:
        problems.append("outbound: HTTP GET %s:80 from %s got %r" % (nl.OUTSIDE_EXTRA[0], lab.hp_ns, r.stdout))
    for direction in ("inbound", "outbound"):
        try:
            nl.wait_until(lambda: nl.flow_events(nl.read_events(capture_dir), "allowed", direction, "TCP"),
                          timeout=5, what="an allowed %s TCP event in events.json" % direction)
        except AssertionError as e:
            problems.append(str(e))
    rc = wall.stop(signal.SIGINT)
    if rc != 0:
        problems.append("the honeywall exited with %s on SIGINT, want 0" % rc)
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["nat", "bridge"], default="nat")
    ap.add_argument("--honeynet", default=None, help="the honeynet binary (default $HONEYNET_BIN or %s)"
                    % nl.DEFAULT_BIN)
    ap.add_argument("--data-dir", default=None, help="config and capture files (default %s)" % DEFAULT_DIR)
    ap.add_argument("--check", action="store_true", help="quick self-check, then tear down and exit")
    ap.add_argument("--down", action="store_true", help="remove a leftover lab and exit")
    a = ap.parse_args()

    if os.geteuid() != 0:
        print("minilab: needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    if a.down:
        return down()
    binary = a.honeynet or nl.binary_path()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print("minilab: no honeynet binary at %s: build it first, or pass --honeynet" % binary, file=sys.stderr)
        return 2
    existing = [ns for ns in NAMES if ns in nl.list_netns()]
    if existing:
        print("minilab: %s already exist(s): is another minilab running? Stop it, or remove "
              "the leftovers with: python3 %s --down" % (", ".join(existing), sys.argv[0]), file=sys.stderr)
        return 2

    tmp = None
    if a.data_dir:
        data_dir = Path(a.data_dir)
    elif a.check:
        tmp = data_dir = Path(tempfile.mkdtemp(prefix="hn-minilab-check-"))
    else:
        data_dir = Path(DEFAULT_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    capture_dir = data_dir / "capture"

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    rc = 1
    try:
        with nl.NetLab(a.mode, names=NAMES, services=False,
                       echo=None if a.check else (lambda line: print("[wall] " + line, flush=True))) as lab:
            try:
                lab.start_server(lab.hp_ns, [23], HP_BANNER)
                lab.start_server(lab.out_ns, [80], WEB_BANNER, http=True)
                wall = lab.start_wall(binary, capture_dir=capture_dir, config_path=data_dir / "wall.toml",
                                      wait_ready=False)
                try:
                    wall.wait_ready(10)
                except AssertionError as e:
                    print("minilab: the honeywall did not start: %s" % e, file=sys.stderr)
                    return 1
                if a.check:
                    problems = self_check(lab, wall, capture_dir)
                    for p in problems:
                        print("minilab check: FAIL: " + p, file=sys.stderr)
                    if problems:
                        print(wall.output(), file=sys.stderr)
                    else:
                        print("minilab check: OK (%s mode: inbound, outbound, events, clean stop)" % a.mode)
                    rc = 1 if problems else 0
                else:
                    print(how_to(lab, data_dir), flush=True)
                    try:
                        while wall.running():
                            time.sleep(0.2)
                        print("minilab: the honeywall exited (code %s); removing the lab" % wall.p.returncode)
                        code = wall.p.returncode
                        rc = 0 if code == 0 else (code if code and code > 0 else 1)
                    except Stop as s:
                        print("minilab: %s: stopping the honeywall and removing the lab" % s, flush=True)
                        code = wall.stop(signal.SIGINT)
                        print("minilab: honeywall exit code %s" % code)
                        rc = 0 if code == 0 else 1
            finally:
                ignore_signals()  # the teardown (NetLab.__exit__) must not be cut short either
    except Stop as s:
        print("minilab: %s: lab removed" % s, file=sys.stderr)
        rc = 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
