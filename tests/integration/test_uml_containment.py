"""UML guests as an unprivileged user (issue 14, docs/security.md).

Brings up a NAT lab with one UML honeypot on the project kernel (built first
when missing, as test_tty.py does) and checks from the host:

- every `linux` process of the guest runs as uid = gid = 0x20000000 (the
  first honeypot's range, containment.h), no supplementary groups, no
  capabilities, no_new_privs, in the guest's own network namespace hn-u-hp1
  (not hn-wall's) and in its cgroup honeynet/hp1 with the limits written;
- the tap hn-tap0 is in hn-u-hp1 (not in hn-wall), owned by that uid;
  hn-wall holds the veth hn-veth0 instead, a port of hn-br;
- the guest's files: DATA/guests/hp1 root:uid 0750, console.log and the TTY
  log root's and not writable by the uid, settings.disk read-only to it,
  uml/ (COW, mconsole, pid) the uid's;

and from inside (telnet root/root): no module loading, no /proc/config.gz,
/proc/kcore, /dev/mem (also not through a node made with mknod), no sysrq, no
hostfs. Then `honeynet reset`, `honeynet console` (mconsole `config con1`:
the guest's uid answers root's client socket) and `honeynet down` (nothing
left: no hn-u-* namespace, no UML process, no cgroup).

Needs root, user-mode-linux, the lab's fixed namespace names (skipped while a
lab runs): run it under `flock /tmp/hn-lab.lock` when others run labs too.
"""
import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

import labtools
import netlab as nl
from labtools import hn
from test_tty import KERNEL_CACHE, build_kernel, kernel_hash  # same directory

LAB_NS = ("hn-wall", "hn-inet")
UID = 0x20000000  # GuestIdsFor(0).base
ONE_HONEYPOT = """\
# test_uml_containment.py
mode = "nat"

[inside]
gateway_ip = "10.0.0.1/24"

[outside]
gateway = "192.0.2.1"

[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
pids_max = 300
cpu_max = 80
"""

pytestmark = pytest.mark.skipif(not os.access("/usr/bin/linux", os.X_OK),
                                reason="User-Mode Linux not installed: apt-get install user-mode-linux")


@pytest.fixture
def data_dir(tmp_path, honeynet_bin, capsys):
    """A data dir with the project kernel (linked from the cache); the lab is taken down afterwards."""
    present = [ns for ns in nl.list_netns() if ns in LAB_NS]
    if present:
        pytest.skip("a lab is running on this machine (%s): these tests use the same fixed names" % present)
    d = tmp_path / "data"
    st = kernel_hash(honeynet_bin, d)
    h = st["inputs"]["hash"]
    entry = Path(KERNEL_CACHE) / "kernels" / h
    if not (entry / "linux").is_file() or not (entry / "kernel.json").is_file():
        build_kernel(honeynet_bin, Path(KERNEL_CACHE), h, capsys)
    (d / "kernels").mkdir(parents=True, exist_ok=True)
    (d / "kernels" / h).symlink_to(entry)
    yield d
    r = hn(honeynet_bin, "down", "--force", "--data-dir", d, check=False, timeout=60)
    if r.returncode != 0:
        print("teardown: honeynet down --force:\n" + r.stdout)


def uml_pids(guest_dir: Path) -> list[int]:
    needle = ("uml_dir=%s/uml" % guest_dir).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if needle in Path("/proc", d, "cmdline").read_bytes():
                pids.append(int(d))
        except OSError:
            pass
    return pids


def as_guest_uid(fn):
    """Runs fn() in a child as uid = gid = UID with no groups; returns its exit code (0: fn returned True)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(UID, UID, UID)
            os.setresuid(UID, UID, UID)
            os._exit(0 if fn() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status)


def can_write(path: Path) -> bool:
    def w():
        try:
            os.close(os.open(str(path), os.O_WRONLY | os.O_APPEND))
            return True
        except PermissionError:
            return False
    return as_guest_uid(w) == 0


def telnet(commands: list[str]) -> list[str]:
    return labtools.telnet("192.0.2.10", commands, timeout=120)["outputs"]


def console_roundtrip(binary: str, data_dir: Path):
    """`honeynet console hp1` on a pty: log in on console 1, run a command, leave with Ctrl-]."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary, [binary, "console", "hp1", "--data-dir", str(data_dir)])
    buf = b""

    def expect(pattern: bytes, timeout=40):
        nonlocal buf
        deadline = time.monotonic() + timeout
        while pattern not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("console: waited for %r, got %r" % (pattern, buf[-400:]))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    buf += os.read(fd, 4096)
                except OSError:
                    raise EOFError("console closed: %r" % buf[-400:])
        i = buf.index(pattern) + len(pattern)
        buf = buf[i:]

    try:
        expect(b"Ctrl-] leaves")
        expect(b"login: ")
        os.write(fd, b"root\r")
        expect(b"assword: ")
        os.write(fd, b"root\r")
        expect(b"# ")
        os.write(fd, b"echo console-$((6*7))\r")
        expect(b"console-42")
        os.write(fd, b"\x1d")
        expect(b"Left hp1's console")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def cgroup_limits(pid: int) -> dict:
    """The cgroup limits of process pid, from the files of its cgroups (v2, or v1 of a hybrid host)."""
    v1, v2 = {}, None
    for line in Path("/proc/%d/cgroup" % pid).read_text().splitlines():
        hier, ctrls, path = line.split(":", 2)
        if hier == "0" and ctrls == "":
            v2 = path
        for c in ctrls.split(","):
            v1[c] = path
    if "pids" in v1 and "honeynet" in v1["pids"]:
        root = Path("/sys/fs/cgroup")
        r = lambda c, f: (root / c / v1[c].lstrip("/") / f).read_text().strip()
        return {"path": v1["pids"], "pids": r("pids", "pids.max"), "memory": int(r("memory", "memory.limit_in_bytes")),
                "cpu": r("cpu", "cpu.cfs_quota_us") if "cpu" in v1 else None,
                "procs": {int(x) for x in r("pids", "cgroup.procs").split()}}
    d = Path("/sys/fs/cgroup" + v2)
    return {"path": v2, "pids": (d / "pids.max").read_text().strip(), "memory": int((d / "memory.max").read_text()),
            "cpu": (d / "cpu.max").read_text().split()[0] if (d / "cpu.max").exists() else None,
            "procs": {int(x) for x in (d / "cgroup.procs").read_text().split()}}


def cgroup_gone(name: str) -> bool:
    return not any(Path(p).exists() for p in
                   ("/sys/fs/cgroup/honeynet/" + name, "/sys/fs/cgroup/pids/honeynet/" + name,
                    "/sys/fs/cgroup/memory/honeynet/" + name, "/sys/fs/cgroup/unified/honeynet/" + name))


def check_host_side(data_dir: Path):
    gdir = data_dir / "guests" / "hp1"
    pids = uml_pids(gdir)
    assert pids, "no UML process found"
    wall_ns = os.stat("/run/netns/hn-wall").st_ino
    guest_ns = os.stat("/run/netns/hn-u-hp1").st_ino
    for pid in pids:
        try:
            st = {k: v.split() for k, v in labtools.proc_status(pid).items()}
            net = os.stat("/proc/%d/ns/net" % pid).st_ino
            mnt = os.readlink("/proc/%d/ns/mnt" % pid)
        except FileNotFoundError:
            continue  # a guest process that just ended
        assert st["Uid"] == [str(UID)] * 4 and st["Gid"] == [str(UID)] * 4, (pid, st["Uid"], st["Gid"])
        assert st.get("Groups", []) == [], (pid, st["Groups"])
        assert int(st["CapEff"][0], 16) == 0 and int(st["CapPrm"][0], 16) == 0, (pid, st["CapEff"])
        assert st["NoNewPrivs"] == ["1"], pid
        assert net == guest_ns and net != wall_ns, pid
        assert mnt != os.readlink("/proc/self/ns/mnt"), "UML shares the host's mount namespace"
    main = min(pids)
    cg = cgroup_limits(main)
    assert cg["path"] == "/honeynet/hp1", cg
    assert cg["pids"] == "300" and cg["memory"] == (64 + 256) << 20, cg
    assert cg["cpu"] in (None, "80000"), cg
    alive = [p for p in uml_pids(gdir) if Path("/proc/%d" % p).exists()]
    assert set(alive) - cg["procs"] <= {p for p in alive if not Path("/proc/%d" % p).exists()}, (alive, cg["procs"])

    # The network: the tap in the guest's namespace, owned by its uid; a veth in hn-wall.
    links_wall = nl.run(["ip", "-n", "hn-wall", "-o", "link", "show"]).stdout
    assert "hn-tap0" not in links_wall and "hn-veth0@" in links_wall, links_wall
    assert "master hn-br" in [l for l in links_wall.splitlines() if "hn-veth0@" in l][0]
    tap = nl.run(["ip", "-d", "-n", "hn-u-hp1", "link", "show", "hn-tap0"]).stdout
    assert "user %d" % UID in tap and "group %d" % UID in tap, tap
    for f in ("owner", "group"):
        v = nl.run(["ip", "netns", "exec", "hn-u-hp1", "cat", "/sys/class/net/hn-tap0/" + f]).stdout.strip()
        assert int(v) == UID, (f, v)

    # Files: what it may write (uml/), what it may only read, what is root's.
    def mode(p):
        s = os.lstat(p)
        return s.st_uid, s.st_gid, s.st_mode & 0o7777
    assert mode(gdir) == (0, UID, 0o750)
    assert mode(gdir / "uml")[:2] == (UID, UID) and mode(gdir / "uml")[2] == 0o700
    assert mode(gdir / "uml" / "disk.cow")[0] == UID
    assert mode(gdir / "console.log") == (0, 0, 0o640)
    assert mode(gdir / "settings.disk") == (0, UID, 0o640)
    tty_log = data_dir / "lab" / "capture" / "tty" / "hp1.ttylog"
    assert mode(tty_log)[0] == 0 and mode(tty_log)[2] & 0o077 == 0, mode(tty_log)
    for p in (gdir / "console.log", gdir / "settings.disk", gdir / "disk.base", tty_log):
        assert not can_write(p), "the guest uid can write %s" % p
    assert (gdir / "uml" / "hp1" / "mconsole").is_socket()
    # The descriptors it was given: console 0 (fd 1) and the TTY log, both append-only.
    fds = {os.readlink("/proc/%d/fd/%s" % (main, n)) for n in os.listdir("/proc/%d/fd" % main)}
    assert str(gdir / "console.log") in fds and str(tty_log) in fds, fds
    # The host's /dev/net/tun is untouched.
    assert os.stat("/dev/net/tun").st_uid == 0


def test_uml_guest_runs_unprivileged(honeynet_bin, data_dir, tmp_path):
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    config = tmp_path / "one.toml"
    config.write_text(ONE_HONEYPOT)
    t0 = time.monotonic()
    r = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=180)
    assert "lab ready" in r.stdout and "project kernel" in r.stdout, r.stdout
    print("up -> ready: %.1f s" % (time.monotonic() - t0))
    check_host_side(data_dir)
    st = json.loads(hn(honeynet_bin, "status", "--json", "--data-dir", data_dir).stdout)
    hp = st["honeypots"][0]
    assert (hp["uid"], hp["netns"], hp["cgroup"].get("pids.max")) == (UID, "hn-u-hp1", "300"), hp

    # Inside: what root in the guest can no longer reach.
    out = telnet([
        "ls /proc/config.gz /proc/kcore /proc/modules /proc/sysrq-trigger /dev/mem /dev/kmem /dev/port 2>&1 | "
        "grep -c 'No such file'",
        "echo x > /tmp/x.ko; insmod /tmp/x.ko 2>&1; echo rc=$?",
        "mknod /tmp/mem c 1 1; dd if=/tmp/mem of=/dev/null bs=1 count=1 2>&1; echo rc=$?",
        "grep -c -w -e hostfs -e debugfs -e bpf -e binfmt_misc /proc/filesystems; mkdir -p /mnt/h; "
        "mount -t hostfs none /mnt/h 2>&1; echo rc=$?",
        "id -u; cat /proc/sys/kernel/modules_disabled 2>&1 | head -1",
    ])
    assert out[0].strip().splitlines()[-1] == "7", out[0]
    assert "rc=0" not in out[1] and "rc=" in out[1], out[1]
    assert "rc=0" not in out[2] and "rc=" in out[2], out[2]
    assert out[3].splitlines()[0].strip() == "0" and "rc=0" not in out[3], out[3]
    assert out[4].splitlines()[0].strip() == "0", out[4]  # the attacker is root in the guest, but only there

    # reset (mconsole halt as the uid's guest answers to root's socket), console, and down.
    r = hn(honeynet_bin, "reset", "hp1", "--data-dir", data_dir, timeout=150)
    assert "pristine" in r.stdout, r.stdout
    check_host_side(data_dir)
    console_roundtrip(honeynet_bin, data_dir)
    t0 = time.monotonic()
    r = hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=60)
    assert "lab down" in r.stdout and "halted 1 guest" in r.stdout, r.stdout
    print("down: %.1f s" % (time.monotonic() - t0))
    assert not [ns for ns in nl.list_netns() if ns.startswith("hn-u-") or ns in LAB_NS]
    assert not uml_pids(data_dir / "guests" / "hp1")
    assert cgroup_gone("hp1")
