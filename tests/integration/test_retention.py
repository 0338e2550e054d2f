"""Capture retention ([capture] max_total, min_free): 100 MB of frames through
`honeynet wall` into a capture directory on a small tmpfs of our own. What a
user checks: the directory stays within max_total (free space above
min_free) at every moment we look (every 10 ms), the newest pcap and
events.json are there, the newest pcap reads in tshark, and every deletion is
a `retention` event.

The end hosts' veths keep TSO/GSO on, so the wall runs with gso = true (it
carries their 64 KB super-frames whole). The tmpfs is mounted on a directory under pytest's tmp_path and unmounted
whatever happens.
"""
import os
import subprocess
import sys
import threading
import time

import pytest

import netlab as nl
from netlab import read_events

TMPFS_MB = 40
SINK_PORT = 5001
SEND_BYTES = 50 * 1024 * 1024  # crosses both ports: ~100 MB of frames to capture

SINK = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); n = 0
while True:
    d = c.recv(1 << 16)
    if not d: break
    n += len(d)
c.sendall(str(n).encode()); c.close()
"""

SEND = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
buf = b"r" * (1 << 16); left = int(sys.argv[3])
while left > 0:
    s.sendall(buf[:min(left, len(buf))]); left -= min(left, len(buf))
s.shutdown(socket.SHUT_WR)
print(s.recv(64).decode(), flush=True)
"""


def dir_bytes(d):
    """What the capture files take: per file the larger of length and blocks (as du counts)."""
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except FileNotFoundError:
                continue  # deleted while we looked
            total += max(st.st_size, st.st_blocks * 512)
    return total


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % TMPFS_MB, "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def push(lab, nbytes):
    sink = lab.spawn(lab.out_ns, sys.executable, "-c", SINK, str(SINK_PORT))
    sink.wait_line("listening", 5)
    r = lab.run(lab.hp_ns, sys.executable, "-c", SEND, nl.OUTSIDE_IP, str(SINK_PORT), str(nbytes), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(nbytes), "the sink got %r bytes" % r.stdout.strip()


class Watcher:
    """Samples the capture directory every 10 ms in a thread: the largest size and the smallest free space seen."""

    def __init__(self, d):
        self.d = d
        self.max_bytes = 0
        self.min_free = None
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.max_bytes = max(self.max_bytes, dir_bytes(self.d))
            st = os.statvfs(self.d)
            free = st.f_bavail * st.f_frsize
            self.min_free = free if self.min_free is None else min(self.min_free, free)
            self.samples += 1
            time.sleep(0.01)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)
        return False


def newest_pcap(d, prefix):
    files = sorted((p for p in d.iterdir() if p.name.startswith(prefix + "-") and p.suffix == ".pcap"),
                   key=lambda p: p.stat().st_mtime_ns)
    assert files, "no %s pcap left in %s" % (prefix, d)
    return files[-1]


def tshark_count(path):
    r = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return len(r.stdout.splitlines())


def check_kept(cap):
    assert (cap / "events.json").exists()
    for port in ("inside", "outside"):
        assert tshark_count(newest_pcap(cap, port)) > 0
    deletions = [e for e in read_events(cap) if e.get("event_type") == "retention"]
    return deletions


@pytest.mark.parametrize("mode", ["bridge"])
def test_max_total_holds_under_100mb(tmpfs, tmp_path, mode):
    cap = tmpfs / "capture"
    limit = 16 * 1024 * 1024
    with nl.NetLab(mode, services=False) as lab:
        wall = lab.start_wall(capture_dir=cap, config_path=tmp_path / "wall.toml",
                              capture={"max_total": "16M"}, top={"gso": True})
        with Watcher(cap) as w:
            push(lab, SEND_BYTES)
            assert wall.stop() == 0, wall.output()  # the last flushes are watched too
        assert w.samples > 10
        assert w.max_bytes <= limit, "capture dir reached %d bytes (max_total %d)" % (w.max_bytes, limit)
        assert dir_bytes(cap) <= limit
        deletions = check_kept(cap)
        assert deletions, "100 MB through a 16 MB allowance deleted nothing"
        for e in deletions:
            assert e["retention"]["action"] == "deleted"
            assert e["retention"]["reason"] == "max_total"
            assert not os.path.exists(e["retention"]["file"])
        assert os.path.basename(deletions[0]["retention"]["file"]) != "events.json"


def test_min_free_holds_under_100mb(tmpfs, tmp_path):
    cap = tmpfs / "capture"
    floor = 12 * 1024 * 1024
    with nl.NetLab("bridge", services=False) as lab:
        wall = lab.start_wall(capture_dir=cap, config_path=tmp_path / "wall.toml", capture={"min_free": "12M"},
                              top={"gso": True})
        with Watcher(cap) as w:
            push(lab, SEND_BYTES)
            assert wall.stop() == 0, wall.output()
        assert w.min_free >= floor, "free space fell to %d bytes (min_free %d)" % (w.min_free, floor)
        deletions = check_kept(cap)
        assert deletions and all(e["retention"]["reason"] == "min_free" for e in deletions)


def test_sighup_reopens_events_for_logrotate(tmp_path):
    cap = tmp_path / "capture"
    with nl.NetLab("bridge") as lab:
        wall = lab.start_wall(capture_dir=cap, config_path=tmp_path / "wall.toml")
        os.rename(cap / "events.json", cap / "events.json.1")
        os.rename(cap / "honeywall.log", cap / "honeywall.log.1")
        wall.send_signal(1)  # SIGHUP
        nl.wait_until(lambda: (cap / "events.json").exists() and (cap / "honeywall.log").exists(), 5,
                      what="events.json opened again")
        lab.tcp_connect(lab.hp_ns, nl.OUTSIDE_IP, 80)
        assert wall.stop() == 0, wall.output()
        events = read_events(cap)
        assert any(e.get("event_type") == "notice" and e["notice"]["what"] == "log_reopened" for e in events)
        assert any(e.get("event_type") == "flow" or e.get("event_type") == "honeywall" for e in events), events
