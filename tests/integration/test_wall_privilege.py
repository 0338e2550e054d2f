"""The honeywall with least privilege (issue 14, docs/security-wall.md): once
its sockets and files are open it runs with CAP_NET_RAW/CAP_NET_ADMIN at most,
no_new_privs and a seccomp allow-list, writes its capture files 0640 in 0750
directories as capture.user, and still forwards and captures."""
import os
import pwd
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

import netlab as nl
from netlab import MODES

CAP_NET_ADMIN, CAP_NET_RAW = 12, 13
KEPT = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)


def proc_status(pid: int) -> dict:
    out = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def thread_names(pid: int) -> set[str]:
    return {(t / "comm").read_text().strip() for t in Path("/proc/%d/task" % pid).iterdir()}


def check_thread_names(wall) -> None:
    """The wall's threads carry names (top -H, perf): the transmit threads, the
    capture writers and the event writer, each set by prctl under the filter."""
    want = {("tx-" + nl.WALL_IN)[:15], ("tx-" + nl.WALL_OUT)[:15], "cap-inside", "cap-outside", "events"}
    names = thread_names(wall.pid)
    assert want <= names, "thread names %s, missing %s" % (sorted(names), sorted(want - names))


def check_locked_down(wall) -> dict:
    st = proc_status(wall.pid)
    assert st["Name"] == "honeynet", "not the honeywall's own process: %s" % st["Name"]
    cap_eff = int(st["CapEff"], 16)
    assert cap_eff & ~KEPT == 0, "CapEff %s: more than net_raw/net_admin" % st["CapEff"]
    assert int(st["CapPrm"], 16) & ~KEPT == 0, st["CapPrm"]
    assert int(st["CapBnd"], 16) == 0, "bounding set not cleared: %s" % st["CapBnd"]
    assert int(st["CapAmb"], 16) == 0, st["CapAmb"]
    assert st["Seccomp"] == "2", "Seccomp %s (2 = filter)" % st["Seccomp"]
    assert st["NoNewPrivs"] == "1", "NoNewPrivs %s" % st["NoNewPrivs"]
    # every thread, not only the main one (Seccomp_filters: the filter is theirs too)
    for task in Path("/proc/%d/task" % wall.pid).iterdir():
        ts = proc_status(int(task.name))
        assert ts["Seccomp"] == "2" and ts["NoNewPrivs"] == "1", (task.name, ts["Seccomp"], ts["NoNewPrivs"])
        assert int(ts["CapEff"], 16) & ~KEPT == 0, (task.name, ts["CapEff"])
    assert "privileges: capabilities kept" in wall.text(), wall.output()
    return st


def telnet_exchange(lab) -> None:
    """An outside host talks to the honeypot's telnet port through the wall."""
    banner = lab.tcp_banner(lab.out_ns, lab.public_ip, 23)
    assert nl.HONEYPOT_BANNER in banner, "no banner through the wall: %r" % banner


def check_modes(capture_dir, uid=None, gid=None) -> list[str]:
    """Every directory 0750, every file 0640 (and owned by uid:gid when given)."""
    seen = []
    for root, dirs, files in os.walk(capture_dir):
        for d in [root] + [os.path.join(root, x) for x in dirs]:
            s = os.lstat(d)
            assert stat.S_IMODE(s.st_mode) == 0o750, "%s: mode %o" % (d, stat.S_IMODE(s.st_mode))
            if uid is not None:
                assert (s.st_uid, s.st_gid) == (uid, gid), "%s owned by %d:%d" % (d, s.st_uid, s.st_gid)
        for f in files:
            p = os.path.join(root, f)
            s = os.lstat(p)
            if stat.S_ISLNK(s.st_mode):
                continue
            seen.append(f)
            assert stat.S_IMODE(s.st_mode) == 0o640, "%s: mode %o" % (p, stat.S_IMODE(s.st_mode))
            if uid is not None:
                assert (s.st_uid, s.st_gid) == (uid, gid), "%s owned by %d:%d" % (p, s.st_uid, s.st_gid)
    return seen


@pytest.mark.parametrize("mode", MODES)
def test_wall_runs_locked_down_and_still_forwards_and_captures(lab, honeynet_bin, capture_dir):
    (capture_dir / "stats.json").write_text("{}\n")   # left from before, too open
    os.chmod(capture_dir / "stats.json", 0o644)
    os.chmod(capture_dir, 0o755)
    other = capture_dir.parent / "not-capture"          # beside it, not the wall's: left alone
    other.mkdir()
    (other / "x").write_text("x")
    os.chmod(other / "x", 0o644)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir,
                          capture={"stats_interval": "1s", "rotate_size": "8K", "syslog": True})
    check_locked_down(wall)
    for _ in range(3):
        telnet_exchange(lab)
    r = lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0], count=20, extra=["-i", "0.05", "-s", "1000"])  # a rotation or two
    assert r.returncode == 0, r.stdout + r.stderr
    nl.wait_until(lambda: (capture_dir / "stats.json").exists(), 5, what="stats.json")
    check_locked_down(wall)  # still alive, still locked, after rotation, stats, syslog, events
    check_thread_names(wall)
    assert wall.stop() == 0, wall.output()
    assert nl.banner_in_pcaps(capture_dir), "the telnet banner is not in the outside pcaps"
    files = check_modes(capture_dir)
    for want in ("events.json", "honeywall.log", "stats.json", "budgets.json"):
        assert want in files, files
    assert stat.S_IMODE(os.stat(other / "x").st_mode) == 0o644
    assert len(nl.pcaps(capture_dir, "outside")) >= 2, "no rotation happened: %s" % files


def test_wall_reopens_a_vanished_port_under_the_filter(lab, honeynet_bin, capture_dir):
    """The reopen path (socket, ethtool, bind, a new transmit thread) after the drop:
    the reason CAP_NET_RAW/CAP_NET_ADMIN are kept."""
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, capture={"method": "socket"})
    check_locked_down(wall)
    lab.run(lab.wall_ns, "ip", "link", "del", nl.WALL_IN, check=True)
    wall.wait_line("the interface is gone", 5)
    lab.recreate_inside()
    wall.wait_line("forwarding again", 10)
    nl.wait_until(lambda: nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23), 10,
                  interval=0.3, what="telnet through the reopened port")
    check_locked_down(wall)
    check_thread_names(wall)  # the new transmit thread named itself under the filter
    assert wall.stop() == 0, wall.output()
    assert nl.banner_in_pcaps(capture_dir)


@pytest.fixture
def capture_user():
    """A system user made for this test, deleted after it (also on failure)."""
    name = "hn-cap-%s" % uuid.uuid4().hex[:6]
    nl.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name])
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def open_dir():
    """A capture directory under a 0700 root directory, like the lab's (DATA/lab is 0750 root):
    the capture user cannot pass through it, the wall works in capture.dir as its current directory."""
    base = Path("/tmp/hn-privtest-%d-%s" % (os.getpid(), uuid.uuid4().hex[:6]))
    base.mkdir(mode=0o700)
    os.chmod(base, 0o700)
    try:
        yield base / "capture"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_capture_user_owns_the_capture_files(lab, honeynet_bin, capture_user, open_dir):
    open_dir.mkdir()
    (open_dir / "events.json").write_text("")  # from an earlier run as root
    wall = lab.start_wall(honeynet_bin, capture_dir=open_dir, config_path=open_dir.parent / "wall.toml",
                          capture={"user": capture_user.pw_name, "stats_interval": "1s"})
    st = check_locked_down(wall)
    uid, gid = capture_user.pw_uid, capture_user.pw_gid
    assert st["Uid"].split() == [str(uid)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(gid)] * 4, st["Gid"]
    assert st["Groups"].split() in ([], [str(gid)]), st["Groups"]
    assert "owned by %s" % capture_user.pw_name in wall.text(), wall.output()
    telnet_exchange(lab)
    nl.wait_until(lambda: (open_dir / "stats.json").exists(), 5, what="stats.json")
    assert wall.stop() == 0, wall.output()
    assert nl.banner_in_pcaps(open_dir)
    files = check_modes(open_dir, uid, gid)
    assert "events.json" in files and any(f.endswith(".pcap") for f in files), files


def test_capture_user_unknown_is_a_config_error(lab, honeynet_bin, capture_dir):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, wait_ready=False,
                          capture={"user": "hn-no-such-user"})
    assert wall.wait(10) == 2, wall.output()
    assert "capture.user: no such user" in wall.text(), wall.output()


def test_seccomp_log_mode_and_bad_value(lab, honeynet_bin, capture_dir):
    """HONEYNET_SECCOMP=log (debugging): the filter is there, unlisted calls only logged; a typo refuses to start."""
    cfg = capture_dir.parent / "wall.toml"
    cfg.write_text(nl.make_config(lab.mode, capture_dir))
    bad = nl.run(lab.ns_argv(lab.wall_ns, "env", "HONEYNET_SECCOMP=yes", honeynet_bin, "wall", "--config", cfg),
                 check=False)
    assert bad.returncode == 2 and "HONEYNET_SECCOMP" in bad.stderr, bad.stderr
    w = nl.Wall(lab.ns_argv(lab.wall_ns, "env", "HONEYNET_SECCOMP=log", honeynet_bin, "wall", "--config", cfg),
                cfg, capture_dir)
    lab.procs.append(w)
    w.wait_ready(10)
    assert "LOG mode" in w.text(), w.output()
    assert proc_status(w.pid)["Seccomp"] == "2"
    assert w.stop() == 0, w.output()
