"""Escape suite (issue 14): root in a honeypot gets nothing of the host.

One NAT lab with a contained namespace honeypot ns1 (disk_max 64M, so the
disk-fill step is quick) and, when User-Mode Linux is installed, a UML
honeypot hp2. As the attacker would, logged in over telnet as root:

- in ns1: mknod of the host's disks and device reads, host-wide sysctls,
  core_pattern, the clock, module loading, mount, unshare/setns, raw sockets
  (its own network only), disk fill, a memory hog, then a fork bomb: each
  refused or contained, and the host unchanged (its sysctls, its clock, its
  disk, its responsiveness);
- from the host: the uid map of ns1 (root is not host root), the cgroup
  limits of both honeypots, the uid, capabilities and seccomp state of every
  guest process and of the honeywall, the network namespace of the UML
  processes (not the honeywall's), and after `down` no cgroup or loop device
  left.

The lab's namespace names are fixed: run under `flock /tmp/hn-lab.lock`
when other lab tests may run; skipped while a lab is up. Needs root.
"""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import labtools
from labtools import hn, proc_status

UML_KERNEL = "/usr/bin/linux"
HAVE_UML = os.access(UML_KERNEL, os.X_OK)
NS_ROOT_HOST_UID = 0x30000000  # kNsGuestIdBase (src/lab/containment.h)
CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_TIME, CAP_NET_RAW = 12, 21, 16, 25, 13

CONFIG = "# test_escape.py\n" + labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "ns1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
disk_max = "64M"
pids_max = 256
memory_max = "128M"
"""

UML_HONEYPOT = """
[[honeypot]]
name = "hp2"
ip = "10.0.0.3"
public_ip = "192.0.2.11"
"""


@pytest.fixture
def data_dir(tmp_path, honeynet_bin):
    yield from labtools.lab_data_dir(tmp_path, honeynet_bin)


def pids_in_pidns(inode: int) -> list:
    pids = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            if os.stat("/proc/%s/ns/pid" % e).st_ino == inode:
                pids.append(int(e))
        except OSError:
            pass
    return pids


def descendants(pid: int) -> list:
    """pid and every process below it (by PPid)."""
    parent = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                parent[int(e)] = int(proc_status(int(e)).get("PPid", "0"))
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """The content of a cgroup file of pid's cgroup: v2 (0::/path) or the v1 controller's hierarchy."""
    with open("/proc/%d/cgroup" % pid) as f:
        lines = [l.strip().split(":", 2) for l in f]
    for hid, ctrls, path in lines:
        if controller in ctrls.split(","):
            for root in ("/sys/fs/cgroup/" + controller, "/sys/fs/cgroup/" + ctrls):
                if os.path.exists(root + path + "/" + name):
                    return Path(root + path + "/" + name).read_text().strip()
    for hid, ctrls, path in lines:
        if hid == "0":
            for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                if os.path.exists(root + path + "/" + name):
                    return Path(root + path + "/" + name).read_text().strip()
    raise AssertionError("no %s for pid %d (%s) in %s" % (name, pid, controller, lines))


def memory_limit(pid: int) -> int:
    try:
        return int(cgroup_file(pid, "memory", "memory.max"))
    except AssertionError:
        return int(cgroup_file(pid, "memory", "memory.limit_in_bytes"))


def caps(status: dict, key: str) -> int:
    return int(status[key], 16)


def telnet(host: str, commands: list, timeout=180) -> list:
    return labtools.telnet(host, commands, timeout=timeout)["outputs"]


def read_host(path: str) -> str:
    return Path(path).read_text() if os.path.exists(path) else ""


def test_escape_suite(honeynet_bin, data_dir, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG + (UML_HONEYPOT if HAVE_UML else ""))
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    up = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=180).stdout
    assert "lab ready" in up, up
    st = json.loads(hn(honeynet_bin, "status", "--json", "--data-dir", data_dir).stdout)
    hps = {h["name"]: h for h in st["honeypots"]}
    ns_pid = hps["ns1"]["pid"]
    ns_pidns = os.stat("/proc/%d/ns/pid" % ns_pid).st_ino

    # ---- from the host: ns1's user namespace, cgroup, processes ----
    uid_map = Path("/proc/%d/uid_map" % ns_pid).read_text().split()
    assert uid_map[:3] == ["0", str(NS_ROOT_HOST_UID), "65536"], uid_map
    gid_map = Path("/proc/%d/gid_map" % ns_pid).read_text().split()
    assert gid_map[:2] == ["0", str(NS_ROOT_HOST_UID)], gid_map
    assert cgroup_file(ns_pid, "pids", "pids.max") == "256"
    assert memory_limit(ns_pid) == 128 << 20
    guest_procs = pids_in_pidns(ns_pidns)
    assert len(guest_procs) >= 2, guest_procs  # init, telnetd
    for p in guest_procs:
        s = proc_status(p)
        assert s["Uid"].split()[0] != "0" and s["Gid"].split()[0] != "0", (p, s["Uid"], s["Gid"])
        assert s["Seccomp"] == "2", (p, s["Seccomp"])
        bnd = caps(s, "CapBnd")
        for cap in (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_MODULE, CAP_SYS_TIME):
            assert not bnd & (1 << cap), "pid %d keeps capability %d (CapBnd %s)" % (p, cap, s["CapBnd"])
    host_netns = os.stat("/proc/self/ns/net").st_ino
    wall_netns = os.stat("/run/netns/hn-wall").st_ino
    assert os.stat("/proc/%d/ns/net" % ns_pid).st_ino not in (host_netns, wall_netns)

    # ---- the honeywall ----
    wall_pid = st["wall"]["pid"]
    ws = proc_status(wall_pid)
    assert caps(ws, "CapEff") & ~((1 << CAP_NET_RAW) | (1 << CAP_NET_ADMIN)) == 0, ws["CapEff"]
    assert ws["Seccomp"] == "2" and ws["NoNewPrivs"] == "1", ws

    # ---- a UML honeypot's processes ----
    if HAVE_UML:
        uml_pid = hps["hp2"]["pid"]
        uml_procs = descendants(uml_pid)
        assert uml_procs, "no UML process"
        for p in uml_procs:
            s = proc_status(p)
            assert s["Uid"].split()[0] != "0", "UML process %d runs as root: %s" % (p, s["Uid"])
            assert os.stat("/proc/%d/ns/net" % p).st_ino not in (host_netns, wall_netns), \
                "UML process %d shares the honeywall's (or the host's) network namespace" % p
        assert int(cgroup_file(uml_pid, "pids", "pids.max")) > 0
        assert memory_limit(uml_pid) < (1 << 40)

    # ---- inside ns1, as root ----
    before = {k: read_host(k) for k in ("/proc/sys/kernel/randomize_va_space", "/proc/sys/kernel/core_pattern",
                                       "/proc/sys/kernel/hostname", "/proc/sys/net/ipv4/ip_forward")}
    host_free_before = os.statvfs(str(data_dir)).f_bavail * os.statvfs(str(data_dir)).f_frsize
    t_before = time.time()
    cmds = [
        "id -u; id -g",
        "mknod /tmp/sda b 8 0; echo mknod=$?; mknod /tmp/vda b 253 0; echo mknod2=$?; mknod /tmp/mem c 1 1; echo mknod3=$?",
        "head -c 16 /tmp/sda; echo read=$?; ls /dev",
        "echo 0 > /proc/sys/kernel/randomize_va_space; echo sysctl=$?",
        "echo '|/tmp/x' > /proc/sys/kernel/core_pattern; echo core=$?",
        "echo 1 > /proc/sys/net/ipv4/ip_forward; echo fwd=$?",
        "echo b > /proc/sysrq-trigger; echo sysrq=$?; head -c 8 /proc/kcore | wc -c",
        "date -s '2031-01-01 00:00:00' >/dev/null; echo date=$?",
        "touch /tmp/x.ko; insmod /tmp/x.ko; echo insmod=$?",
        "mkdir -p /mnt/t; mount -t tmpfs tmpfs /mnt/t; echo mount=$?; mount -t proc proc /mnt/t; echo mountproc=$?",
        "unshare -U true; echo unshareU=$?; unshare -m true; echo unshareM=$?; unshare -n true; echo unshareN=$?",
        "nsenter -t 1 -m true; echo nsenter=$?",
        "ls /sys/class/net | tr '\\n' ' '; echo",
        "ifconfig eth0 hw ether 02:00:00:00:00:99; echo mac=$?; ip link add x type dummy; echo link=$?",
        "ping -c 1 -W 3 192.0.2.20 >/dev/null; echo ping=$?",
        "dd if=/dev/zero of=/fill bs=1M count=200 2>&1 | tail -1; echo dd=$?; rm -f /fill",
        "head -c 300m /dev/zero | tail >/dev/null; echo hog=$?",
        "echo still-here",
    ]
    out = telnet("192.0.2.10", cmds)
    o = dict(zip(range(len(cmds)), out))
    assert o[0].split() == ["0", "0"], o[0]  # root, as the attacker expects
    assert "mknod=1" in o[1] and "mknod2=1" in o[1] and "mknod3=1" in o[1], o[1]
    assert "read=1" in o[2] and "sda" not in o[2].split("read=")[1], o[2]
    assert "sysctl=1" in o[3], o[3]
    assert "core=1" in o[4], o[4]
    assert "fwd=1" in o[5], o[5]
    assert "sysrq=1" in o[6] and o[6].strip().endswith("0"), o[6]
    assert "can't set date" in o[7], o[7]  # busybox date says so (and exits 0)
    assert "insmod=1" in o[8] or "insmod=127" in o[8], o[8]
    assert "mount=1" in o[9] and "mountproc=1" in o[9], o[9]
    assert "unshareU=1" in o[10] and "unshareM=1" in o[10] and "unshareN=1" in o[10], o[10]
    assert "nsenter=1" in o[11], o[11]
    assert sorted(o[12].split()) == ["eth0", "lo"], o[12]
    assert "mac=1" in o[13] and ("link=1" in o[13] or "link=2" in o[13]), o[13]
    assert "ping=0" in o[14], "root keeps raw sockets in its own network: " + o[14]
    m = re.search(r"(\d+)\+\d+ records out", o[15])
    assert m and int(m.group(1)) < 64, "disk_max 64M, yet: " + o[15]
    assert "hog=137" in o[16] or "Killed" in o[16], o[16]
    assert o[17] == "still-here", o[17]
    # The host saw none of it.
    for k, v in before.items():
        assert read_host(k) == v, "%s changed on the host" % k
    assert abs(time.time() - t_before) < 600, "the host's clock moved"
    host_free_after = os.statvfs(str(data_dir)).f_bavail * os.statvfs(str(data_dir)).f_frsize
    assert host_free_before - host_free_after < 96 << 20, "the guest filled the host's disk"

    # ---- a fork bomb: contained, the host stays responsive ----
    telnet("192.0.2.10", ["(b(){ b|b& }; b) >/dev/null 2>&1 & echo started"])
    deadline = time.monotonic() + 30
    peak = 0
    while time.monotonic() < deadline:
        n = int(cgroup_file(ns_pid, "pids", "pids.current"))
        peak = max(peak, n)
        if n >= 250:
            break
        time.sleep(0.2)
    assert peak <= 256, peak
    t0 = time.monotonic()
    subprocess.run(["true"], check=True)
    hn(honeynet_bin, "status", "--data-dir", data_dir, timeout=30)
    assert time.monotonic() - t0 < 10, "the host was slow to answer: %.1f s" % (time.monotonic() - t0)
    if HAVE_UML:
        assert "hp2-alive" in telnet("192.0.2.11", ["echo hp2-alive"])[0]
    # reset gives a pristine guest again
    hn(honeynet_bin, "reset", "ns1", "--data-dir", data_dir, timeout=120)
    assert telnet("192.0.2.10", ["echo back"])[0] == "back"

    hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=90)
    # No cgroup and no loop device left.
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory"):
        assert not os.path.exists(root + "/honeynet/ns1"), root
        assert not os.path.exists(root + "/honeynet/hp2"), root
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert str(data_dir) not in loops, loops


def test_unsafe_keeps_the_old_way(honeynet_bin, data_dir, tmp_path):
    """unsafe = true: real root, no user namespace (documented, flagged by `audit`)."""
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG.replace('disk_max = "64M"', "unsafe = true"))
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    up = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=180).stdout
    assert "lab ready" in up, up
    assert "unsafe" in up, up  # said loudly
    st = json.loads(hn(honeynet_bin, "status", "--json", "--data-dir", data_dir).stdout)
    ns_pid = {h["name"]: h for h in st["honeypots"]}["ns1"]["pid"]
    assert Path("/proc/%d/uid_map" % ns_pid).read_text().split()[:2] == ["0", "0"]
    assert telnet("192.0.2.10", ["id -u"])[0] == "0"
