"""The virtual honeynet as a whole (issue 3): `honeynet up / selftest / reset /
status / down` with real User-Mode Linux guests, from nothing.

- test_lab_end_to_end: in a fresh data dir, build the busybox image, bring up
  a NAT lab with two honeypots (hp1 10.0.0.2 = 192.0.2.10, hp2 10.0.0.3 =
  192.0.2.11), run `honeynet selftest` (must pass), write a file in hp2 over
  telnet, `honeynet reset hp2`, show the file is gone, check `status --json`,
  `honeynet down`, and find no namespace, interface, process or mount left.
- test_down_after_kill9: `down` cleans up after everything was killed with
  SIGKILL (and after `up` itself was killed while building).

The lab's namespace names (hn-wall, hn-inet) are fixed: these tests cannot run
while a real lab (`make up`, `honeynet up`) runs on the same machine, and are
skipped then. They never run in parallel with each other (pytest runs them one
after the other). Every test runs `honeynet down --force` in its teardown.
Needs root, /usr/bin/linux (user-mode-linux), busybox-static, e2fsprogs.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labtools
import netlab as nl
from labtools import hn

LAB_NS = ("hn-wall", "hn-inet")
UML_KERNEL = "/usr/bin/linux"


TWO_HONEYPOTS = """\
# test_lab.py: the paper's NAT walk-through with two honeypots
mode = "nat"

[inside]
gateway_ip = "10.0.0.1/24"

[outside]
gateway = "192.0.2.1"

[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "192.0.2.10"

[[honeypot]]
name = "hp2"
ip = "10.0.0.3"
public_ip = "192.0.2.11"
"""

pytestmark = pytest.mark.skipif(not os.access(UML_KERNEL, os.X_OK),
                                reason="User-Mode Linux not installed (%s): apt-get install user-mode-linux"
                                % UML_KERNEL)


def telnet(host: str, commands: list[str]) -> list[str]:
    """Logs into host:23 from the attacker host in hn-inet and runs commands; their outputs."""
    return labtools.telnet(host, commands, timeout=90)["outputs"]


def processes_of(data_dir: Path) -> list[str]:
    """Processes of a lab in data_dir: the guests (uml_dir=DATA/...), the wall
    (its config is in DATA), and any lab services (only a lab runs them)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], stdout=subprocess.PIPE, text=True).stdout
    found = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if int(pid) == os.getpid() or "ps -eo" in args:
            continue
        if str(data_dir) in args or " lab-services " in args + " ":
            found.append(line.strip()[:160])
    return found


def leftovers(data_dir: Path, links_before: set) -> list[str]:
    """Everything a lab may leave behind that is still there."""
    left = ["namespace " + ns for ns in nl.list_netns() if ns in LAB_NS or ns.startswith("hn-u-")]
    left += ["interface " + n for n in set(nl.root_links()) - links_before if n.startswith(("hn", "hw"))]
    left += ["process " + p for p in processes_of(data_dir)]
    with open("/proc/mounts") as f:
        left += ["mount " + m.strip() for m in f
                 if any(k in m for k in ("/run/netns/hn-wall", "/run/netns/hn-inet", str(data_dir)))]
    return left


def wait_nothing_left(data_dir: Path, links_before: set, timeout=5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers(data_dir, links_before)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture
def data_dir(tmp_path, honeynet_bin):
    """A fresh data dir; the lab is always taken down afterwards."""
    present = [ns for ns in nl.list_netns() if ns in LAB_NS]
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


def test_lab_end_to_end(honeynet_bin, data_dir, tmp_path):
    links_before = set(nl.root_links())
    t0 = time.monotonic()
    r = hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    assert (data_dir / "images" / "busybox.img").is_file(), r.stdout
    config = tmp_path / "two.toml"
    config.write_text(TWO_HONEYPOTS)

    r = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=150)
    assert "lab ready" in r.stdout, r.stdout
    t_up = time.monotonic() - t0
    st = status_json(honeynet_bin, data_dir)
    assert st["up"] and st["ready"] and st["wall"]["running"], st
    assert [h["name"] for h in st["honeypots"]] == ["hp1", "hp2"]
    assert all(h["running"] for h in st["honeypots"]), st["honeypots"]

    # Part V, automated, from inside hp1.
    r = hn(honeynet_bin, "selftest", "--data-dir", data_dir, check=False, timeout=150)
    assert r.returncode == 0, "selftest failed:\n" + r.stdout
    assert "all 5 checks passed" in r.stdout, r.stdout
    for check in ("inbound telnet login", "outbound TCP budget", "attempts in events.json",
                  "attempts in honeywall.log", "ping payload in capture"):
        row = [l for l in r.stdout.splitlines() if l.startswith(check)]
        assert row and "| pass" in row[0], "%s: %s" % (check, row)
    assert "9 connected, 3 blocked" in r.stdout, r.stdout

    # A file written in hp2 is there, with hp2's own settings ...
    out = telnet("192.0.2.11", ["hostname", "ip -4 addr show eth0 | grep -o 'inet [0-9./]*'",
                                "echo hn-before-reset > /root/proof && sync && cat /root/proof"])
    assert out[0] == "hp2", out
    assert out[1] == "inet 10.0.0.3/24", out
    assert out[2].endswith("hn-before-reset"), out
    # ... and gone after a reset (a pristine COW over the same image).
    r = hn(honeynet_bin, "reset", "hp2", "--data-dir", data_dir, timeout=150)
    assert "pristine" in r.stdout, r.stdout
    out = telnet("192.0.2.11", ["cat /root/proof 2>&1 || echo HN_GONE", "hostname"])
    assert "HN_GONE" in out[0] and "hn-before-reset" not in out[0], out
    assert out[1] == "hp2", out

    st = status_json(honeynet_bin, data_dir)
    hps = {h["name"]: h for h in st["honeypots"]}
    assert hps["hp1"]["running"] and hps["hp2"]["running"], hps
    assert hps["hp1"]["address"] == "10.0.0.2/24" and hps["hp1"]["public_address"] == "192.0.2.10"
    assert hps["hp2"]["address"] == "10.0.0.3/24" and hps["hp2"]["public_address"] == "192.0.2.11"
    assert hps["hp1"]["budgets"]["tcp"] == {"used": 9, "left": 0, "limit": 9}, hps["hp1"]["budgets"]
    assert hps["hp2"]["budgets"]["tcp"]["used"] == 0, hps["hp2"]["budgets"]  # budgets are per honeypot
    assert st["wall"]["frames"]["inside_rx"] > 0 and st["wall"]["capture_drops"] == 0, st["wall"]
    names = [f["name"] for f in st["capture"]["files"]]
    assert any(n.startswith("inside-") for n in names) and "events.json" in names, names
    assert "hp1" in hn(honeynet_bin, "status", "--data-dir", data_dir).stdout

    r = hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=60)
    assert "lab down" in r.stdout, r.stdout
    left = wait_nothing_left(data_dir, links_before)
    assert not left, "left behind after honeynet down: %s" % left
    assert not (data_dir / "lab" / "state.json").exists()
    r = hn(honeynet_bin, "down", "--data-dir", data_dir)  # idempotent
    assert "no lab is up" in r.stdout, r.stdout
    assert hn(honeynet_bin, "status", "--data-dir", data_dir, check=False).returncode == 3
    print("test_lab_end_to_end: image build + up with 2 guests took %.1f s" % t_up)


def _lab_pids(data_dir: Path) -> set[int]:
    """Pids of the lab: processes in its namespaces, and those naming data_dir."""
    pids = {int(line.split()[0]) for line in processes_of(data_dir)}
    for ns in LAB_NS:
        out = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout
        pids |= {int(p) for p in out.split()}
    pids.discard(os.getpid())
    return pids


def _kill9_everything(data_dir: Path):
    """SIGKILL every process of the lab (the wall, the services, every UML
    process), found by namespace and command line, never by a pid from the
    state file that may be stale. Repeated until none is seen twice in a row:
    a process caught in exec() shows no command line for a moment."""
    deadline = time.monotonic() + 15
    quiet = 0
    while quiet < 2:
        assert time.monotonic() < deadline, "lab processes keep coming back: %s" % processes_of(data_dir)
        pids = _lab_pids(data_dir)
        quiet = 0 if pids else quiet + 1
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


@pytest.mark.parametrize("how", ["everything", "up-while-building"])
def test_down_after_kill9(honeynet_bin, data_dir, how):
    links_before = set(nl.root_links())
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    state_path = data_dir / "lab" / "state.json"
    if how == "everything":
        hn(honeynet_bin, "up", "--detach", "--data-dir", data_dir, timeout=150)
    else:
        # `up` killed after it made the namespaces and started the wall, before it is ready.
        up = subprocess.Popen([honeynet_bin, "up", "--data-dir", str(data_dir)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            nl.wait_until(lambda: state_path.exists() and json.loads(state_path.read_text())["wall"]["pid"] > 0,
                          timeout=30, what="up to start the honeywall")
        finally:
            up.kill()
            up.wait(10)
    assert all(ns in nl.list_netns() for ns in LAB_NS)
    _kill9_everything(data_dir)
    assert state_path.exists()

    st = status_json(honeynet_bin, data_dir)  # status still reads a crashed lab
    assert st["up"] and not st["wall"]["running"], st["wall"]

    r = hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=60)
    assert "removed namespace hn-wall" in r.stdout and "removed namespace hn-inet" in r.stdout, r.stdout
    left = wait_nothing_left(data_dir, links_before)
    assert not left, "left behind after kill -9 and honeynet down: %s" % left
    assert not state_path.exists()
