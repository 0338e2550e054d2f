"""Namespace honeypots (kind = "netns", issue 4): the light guest kind of the
lab, next to a User-Mode Linux guest in one NAT lab.

- test_netns_honeypot_end_to_end: `honeynet up --detach` with ns1 (netns,
  10.0.0.2 = 192.0.2.10) and, when User-Mode Linux is installed, hp2 (uml,
  10.0.0.3 = 192.0.2.11). From the attacker 192.0.2.66 in hn-inet: telnet
  login root/root into ns1; its host name, its own processes (a handful, pid 1
  is init), its own mounts (an overlay root that names no host path, nothing
  of it in the host's mount table), its own network (eth0 with the fixed MAC
  and the planned address, nothing else but lo); an outbound connection to
  the outside host 192.0.2.20:80 works and is in events.json (Data Control
  applies); `honeynet selftest --honeypot ns1` passes; the TTY log has the typed password, a marker and EXEC records
  (read with `honeynet tty list --json` / `tty play --no-wait --input`); a
  file written is gone after `honeynet reset ns1`; `status` shows the kinds;
  `console ns1` says there is none; `down` leaves no namespace, veth, mount
  or process. Prints the start-up time of each kind (guest start -> telnet).
- test_netns_down_after_kill9: after SIGKILL of the honeywall, the services,
  the TTY capture and the guest's pid 1, `down` (from the state file) and
  `down --force` (state file lost) remove everything.
- test_netns_refuses_debian_image: kind = "netns" runs the busybox image
  only; `up` says so before it makes anything.

The lab's namespace names are fixed (hn-wall, hn-inet, hn-g-<name>): run these
tests under `flock /tmp/hn-lab.lock` when other lab tests may run at the same
time; they are skipped while a lab is up. Every test runs `honeynet down
--force` in its teardown. Needs root, busybox-static, e2fsprogs (debugfs).
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labtools
import netlab as nl
from labtools import hn

UML_KERNEL = "/usr/bin/linux"
HAVE_UML = os.access(UML_KERNEL, os.X_OK)
NS_MAC = "52:54:00:4e:00:02"  # the first honeypot's fixed MAC (LabGuestMac(0))

CONFIG_HEAD = """\
# test_nsguest.py: a namespace honeypot (and a UML one) behind a NAT honeywall
mode = "nat"

[inside]
gateway_ip = "10.0.0.1/24"

[outside]
gateway = "192.0.2.1"

[[honeypot]]
name = "ns1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
mem = "32M"   # ignored for netns
"""

UML_HONEYPOT = """
[[honeypot]]
name = "hp2"
ip = "10.0.0.3"
public_ip = "192.0.2.11"
"""


def lab_namespaces() -> list[str]:
    return [n for n in nl.list_netns() if n in ("hn-wall", "hn-inet") or n.startswith("hn-g-")]


def processes_naming(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], stdout=subprocess.PIPE, text=True).stdout
    found = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if int(pid) == os.getpid() or "ps -eo" in args:
            continue
        if str(data_dir) in args or " lab-services " in args + " ":
            found.append(line.strip()[:160])
    return found


def pids_in_pidns(inode: int) -> list[int]:
    """Live processes whose pid namespace has this inode."""
    pids = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            if os.stat("/proc/%s/ns/pid" % e).st_ino != inode:
                continue
            with open("/proc/%s/stat" % e) as f:
                if f.read().rpartition(")")[2].split()[0] not in ("Z", "X"):
                    pids.append(int(e))
        except OSError:
            pass
    return pids


def leftovers(data_dir: Path, links_before: set, pidns: list) -> list[str]:
    left = ["namespace " + n for n in lab_namespaces()]
    left += ["interface " + n for n in set(nl.root_links()) - links_before if n.startswith(("hn", "hw"))]
    left += ["process " + p for p in processes_naming(data_dir)]
    for ino in pidns:
        left += ["process %d in the guest's pid namespace" % p for p in pids_in_pidns(ino)]
    with open("/proc/mounts") as f:
        left += ["mount " + m.strip() for m in f if str(data_dir) in m or re.search(r"/run/netns/(hn-wall|hn-inet|hn-g-)", m)]
    return left


def wait_nothing_left(data_dir, links_before, pidns, timeout=5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers(data_dir, links_before, pidns)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture
def data_dir(tmp_path, honeynet_bin):
    """A fresh data dir; the lab is always taken down afterwards."""
    present = lab_namespaces()
    if present:
        pytest.skip("a lab is running on this machine (namespaces %s exist); these tests use the same fixed "
                    "names: stop it with `honeynet down` first" % ", ".join(present))
    d = tmp_path / "data"
    yield d
    r = hn(honeynet_bin, "down", "--force", "--data-dir", d, check=False, timeout=60)
    if r.returncode != 0:
        print("teardown: honeynet down --force:\n" + r.stdout, file=sys.stderr)


def status_json(binary, d) -> dict:
    r = hn(binary, "status", "--json", "--data-dir", d, check=False)
    assert r.returncode in (0, 3), r.stdout
    return json.loads(r.stdout)


def telnet(host: str, commands: list) -> list:
    return labtools.telnet(host, commands, timeout=90)["outputs"]


def seconds_after_start(up_output: str, what: str) -> float:
    m = re.search(re.escape(what) + r".*?\(([0-9.]+) s after start\)", up_output)
    assert m, "no '%s ... s after start' in:\n%s" % (what, up_output)
    return float(m.group(1))


def wait_event(events: Path, pred, timeout=10.0) -> dict:
    """The first event in events.json for which pred is true (polls: the wall writes it)."""
    deadline = time.monotonic() + timeout
    while True:
        if events.exists():
            for line in events.read_text().splitlines():
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if pred(e):
                    return e
        assert time.monotonic() < deadline, "no such event in %s:\n%s" % (events, events.read_text()[-3000:])
        time.sleep(0.1)


def test_netns_honeypot_end_to_end(honeynet_bin, data_dir, tmp_path):
    links_before = set(nl.root_links())
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG_HEAD + (UML_HONEYPOT if HAVE_UML else ""))
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)

    r = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=150)
    up_out = r.stdout
    assert "lab ready" in up_out, up_out
    wall_ready = seconds_after_start(up_out, "honeywall ready")
    ns_ready = seconds_after_start(up_out, "ns1 answers telnet at 192.0.2.10:23")
    print("ns1 (netns): telnet answers %.1f s after the honeywall was ready" % (ns_ready - wall_ready))
    if HAVE_UML:
        uml_ready = seconds_after_start(up_out, "hp2 answers telnet at 192.0.2.11:23")
        print("hp2 (uml): telnet answers %.1f s after the honeywall was ready" % (uml_ready - wall_ready))

    st = status_json(honeynet_bin, data_dir)
    hps = {h["name"]: h for h in st["honeypots"]}
    assert hps["ns1"]["kind"] == "netns" and hps["ns1"]["running"], hps["ns1"]
    assert hps["ns1"]["address"] == "10.0.0.2/24" and hps["ns1"]["public_address"] == "192.0.2.10"
    assert hps["ns1"]["mem_mb"] is None, hps["ns1"]  # ignored for netns
    assert hps["ns1"]["netns"] == "hn-g-ns1", hps["ns1"]
    # Its NIC sends wire-sized TCP segments, as a UML guest's does: 64 KB TSO/GSO
    # segments would reach the honeywall whole and not cross it.
    k = subprocess.run(["ip", "netns", "exec", "hn-g-ns1", "ethtool", "-k", "eth0"], capture_output=True,
                       text=True, check=True).stdout
    assert "tcp-segmentation-offload: off" in k and "generic-segmentation-offload: off" in k, k
    if HAVE_UML:
        assert hps["hp2"]["kind"] == "uml" and hps["hp2"]["running"], hps["hp2"]
    state = json.loads((data_dir / "lab" / "state.json").read_text())
    ns_state = [g for g in state["guests"] if g["spec"]["name"] == "ns1"][0]
    pid1, pidns = ns_state["pid"], ns_state["pidns"]
    assert "hn-g-ns1" in state["namespaces"], state["namespaces"]
    assert os.stat("/proc/%d/ns/pid" % pid1).st_ino == pidns  # the recorded pid is the guest's pid 1
    assert os.stat("/proc/%d/ns/pid" % pid1).st_ino != os.stat("/proc/self/ns/pid").st_ino
    assert os.path.basename(os.readlink("/proc/%d/exe" % pid1)) == "busybox"  # init, exec'd
    tty_on = hps["ns1"]["tty_capture"]
    if not tty_on:
        assert "TTY capture is OFF for honeypot ns1" in up_out, up_out
    text_status = hn(honeynet_bin, "status", "--data-dir", data_dir).stdout
    assert re.search(r"ns1\s+netns\s+running", text_status), text_status

    # Nothing of the guest's file system is in the host's mount table.
    with open("/proc/mounts") as f:
        host_mounts = f.read()
    assert str(data_dir) not in host_mounts, [m for m in host_mounts.splitlines() if str(data_dir) in m]

    marker = "hn-marker-%d" % os.getpid()
    out = telnet("192.0.2.10", [
        "hostname",
        "ps -o pid,comm",
        "cat /proc/mounts",
        "ip -4 addr show eth0 | grep -o 'inet [0-9./]*'",
        "cat /sys/class/net/eth0/address",
        "ls /sys/class/net | tr '\\n' ' '",
        "ip route | grep default",
        "echo %s > /root/proof && cat /root/proof" % marker,
        "nc -w 3 192.0.2.20 80 </dev/null | head -1",
        "ls -l /dev/ptmx /dev/null /dev/urandom /dev/tty | wc -l",
    ])
    assert out[0] == "ns1", out
    ps = out[1].splitlines()
    procs = {int(l.split()[0]): l.split()[1] for l in ps[1:] if l.split() and l.split()[0].isdigit()}
    assert procs.get(1) == "init", ps
    assert 3 <= len(procs) <= 8, ps  # init, telnetd, login/sh, ps: its own processes only
    assert "telnetd" in procs.values(), ps
    mounts = out[2].splitlines()
    root = [m for m in mounts if m.split()[1] == "/"]
    assert root and root[0].split()[0] == "overlay", mounts
    # No host path shows (contained: the writable layer is the guest's own ext4 file, mounted on rw/).
    assert "lowerdir=lower,upperdir=rw/upper,workdir=rw/work" in root[0], root
    assert str(data_dir) not in out[2] and "/run/netns" not in out[2], mounts
    assert {m.split()[1] for m in mounts} >= {"/", "/proc", "/dev", "/dev/pts", "/run", "/tmp"}, mounts
    # Its own (none of the host's), and the masks over /proc and /sys.
    assert 8 <= len(mounts) <= 30, mounts
    assert any(m.split()[1] == "/proc/sys" and m.split()[3].startswith("ro") for m in mounts), mounts
    assert out[3] == "inet 10.0.0.2/24", out
    assert out[4] == NS_MAC, out
    assert out[5].split() == ["eth0", "lo"], out
    assert out[6].startswith("default via 10.0.0.1"), out
    assert out[7] == marker, out
    assert out[8].startswith("hn-outside 192.0.2.20:80"), out  # outbound through the honeywall
    assert out[9] == "4", out

    # Data Control saw and allowed it, and knows it was ns1.
    events = data_dir / "lab" / "capture" / "events.json"
    e = wait_event(events, lambda e: e.get("event_type") == "honeywall" and e.get("dest_ip") == "192.0.2.20"
                   and e.get("dest_port") == 80 and e.get("src_ip") == "10.0.0.2")
    assert e["honeypot"] == "ns1" and e["honeywall"]["action"] == "allowed", e
    assert e["honeywall"]["direction"] == "outbound" and e["honeywall"]["budget"]["used"] >= 1, e

    if tty_on:
        # The session from the host's view: typed password, the marker, EXEC records.
        deadline = time.monotonic() + 10
        while True:
            r = hn(honeynet_bin, "tty", "list", "--json", "--data-dir", data_dir)
            sessions = [s for s in json.loads(r.stdout) if s["honeypot"] == "ns1"]
            cmds = [c["command"] for s in sessions for c in s["commands"]]
            if any(c.startswith("nc -w 3 192.0.2.20 80") for c in cmds) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "cat /proc/mounts" in cmds, cmds  # EXEC records (hostname and ps are busybox NOFORK applets: no exec)
        assert any(c.startswith("nc -w 3 192.0.2.20 80") for c in cmds), cmds
        s = [s for s in sessions if any(c["command"] == "cat /proc/mounts" for c in s["commands"])][0]
        assert s["bytes_in"] > 0 and s["bytes_out"] > 0, s
        play = hn(honeynet_bin, "tty", "play", s["id"], "--no-wait", "--input", "--data-dir", data_dir).stdout
        typed = [l[len("[input] "):] for l in play.splitlines() if l.startswith("[input] ")]
        assert typed[:2] == ["root", "root"], typed[:5]  # user name, then the password (echo off)
        assert any(marker in t for t in typed), typed
        assert "ns1 login:" in play and marker in play.replace("[input]", ""), play[-2000:]

    # The paper's Part V from inside the namespace honeypot (budget left: 8 of 9 TCP).
    # The selftest reads what is left from stats.json, rewritten every second: wait until it counts the nc.
    nl.wait_until(lambda: (status_json(honeynet_bin, data_dir)["honeypots"][0]["budgets"] or {})
                  .get("tcp", {}).get("used") == 1, timeout=10, what="stats.json to count ns1's connection")
    r = hn(honeynet_bin, "selftest", "--honeypot", "ns1", "--data-dir", data_dir, check=False, timeout=150)
    assert r.returncode == 0 and "all 5 checks passed" in r.stdout, "selftest failed:\n" + r.stdout
    assert "8 connected, 4 blocked" in r.stdout, r.stdout

    # console: a namespace honeypot has none, and says what to do instead.
    r = hn(honeynet_bin, "console", "ns1", "--data-dir", data_dir, check=False)
    assert r.returncode != 0 and "no console" in r.stdout and "telnet 192.0.2.10" in r.stdout, r.stdout
    assert "nsenter -t %d" % pid1 in r.stdout, r.stdout

    # reset: the file is gone, a new pid 1, same host name and network.
    r = hn(honeynet_bin, "reset", "ns1", "--data-dir", data_dir, timeout=150)
    assert "pristine" in r.stdout, r.stdout
    out = telnet("192.0.2.10", ["cat /root/proof 2>&1 || echo HN_GONE", "hostname", "ps -o pid,comm | wc -l",
                                "cat /sys/class/net/eth0/address"])
    assert "HN_GONE" in out[0] and marker not in out[0], out
    assert out[1] == "ns1" and out[3] == NS_MAC, out
    assert int(out[2]) <= 9, out
    state = json.loads((data_dir / "lab" / "state.json").read_text())
    ns_state2 = [g for g in state["guests"] if g["spec"]["name"] == "ns1"][0]
    assert ns_state2["pid"] != pid1 and ns_state2["pidns"] != pidns, ns_state2
    assert not pids_in_pidns(pidns), "processes of the old ns1 are left after reset"
    if HAVE_UML:
        assert telnet("192.0.2.11", ["hostname"]) == ["hp2"]
    assert all(h["running"] for h in status_json(honeynet_bin, data_dir)["honeypots"])

    r = hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=60)
    assert "removed namespace hn-g-ns1" in r.stdout, r.stdout
    left = wait_nothing_left(data_dir, links_before, [pidns, ns_state2["pidns"]])
    assert not left, "left behind after honeynet down: %s" % left
    assert not (data_dir / "lab" / "state.json").exists()


def _kill9(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("how", ["state", "force-without-state"])
def test_netns_down_after_kill9(honeynet_bin, data_dir, tmp_path, how):
    links_before = set(nl.root_links())
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG_HEAD)
    hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=150)
    state_path = data_dir / "lab" / "state.json"
    state = json.loads(state_path.read_text())
    g = state["guests"][0]
    pidns = g["pidns"]
    assert pids_in_pidns(pidns), "ns1 has no process"
    # Everything SIGKILLed: the wall, the services, the TTY capture, the guest (pid 1 takes its namespace along).
    _kill9([state["wall"]["pid"], state["services"]["pid"], g["tty_capture"]["pid"], g["pid"]])
    nl.wait_until(lambda: not pids_in_pidns(pidns), timeout=10, what="ns1's processes to end")
    assert "hn-g-ns1" in nl.list_netns()
    nl.wait_until(lambda: not status_json(honeynet_bin, data_dir)["wall"]["running"], timeout=10,
                  what="status to see the honeywall gone")
    st = status_json(honeynet_bin, data_dir)  # status still reads a crashed lab
    assert st["up"] and not st["honeypots"][0]["running"] and not st["honeypots"][0]["tty_capture"], st
    if how == "state":
        r = hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=60)
    else:
        state_path.unlink()
        r = hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=60)
        assert "hn-g-ns1" in r.stdout and "--force" in r.stdout, r.stdout  # says what is left, removes nothing
        assert "hn-g-ns1" in nl.list_netns()
        r = hn(honeynet_bin, "down", "--force", "--data-dir", data_dir, timeout=60)
    assert "removed namespace hn-g-ns1" in r.stdout and "removed namespace hn-wall" in r.stdout, r.stdout
    left = wait_nothing_left(data_dir, links_before, [pidns])
    assert not left, "left behind after kill -9 and honeynet down: %s" % left


def test_netns_refuses_debian_image(honeynet_bin, data_dir, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG_HEAD.replace('kind = "netns"', 'kind = "netns"\nimage = "debian"'))
    r = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, check=False, timeout=60)
    assert r.returncode != 0, r.stdout
    assert 'kind = "netns" runs the busybox image only' in r.stdout, r.stdout
    assert not lab_namespaces() and not (data_dir / "lab" / "state.json").exists()
