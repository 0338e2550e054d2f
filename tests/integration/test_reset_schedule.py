"""The reset schedule (issue 16 item 9): a foreground `honeynet up` (what the
service runs) resets a honeypot that has been idle for reset_idle, archiving
its changes and TTY log first (reset_archive), and one that is older than
reset_max_age. What a user checks: the `reset` events in events.json (reason,
archive directory), the archive directory with the honeypot's changes, the
file the attacker wrote gone after the reset, and `up`'s own lines.

Namespace honeypots (kind = "netns") keep it fast. The lab's namespace names
are fixed: run under `flock /tmp/hn-lab.lock` when other lab tests may run.
"""
import json
import signal
import subprocess
import threading
from pathlib import Path

import pytest

import labtools
import netlab as nl
from labtools import hn

CONFIG = """\
mode = "nat"

[inside]
gateway_ip = "10.0.0.1/24"

[outside]
gateway = "192.0.2.1"

[[honeypot]]
name = "idle1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
reset_idle = "6s"
reset_archive = true

[[honeypot]]
name = "old2"
kind = "netns"
ip = "10.0.0.3"
public_ip = "192.0.2.11"
reset_max_age = "8s"
reset_jitter = "2s"
"""


class Up:
    """A foreground `honeynet up`, its output collected line by line."""

    def __init__(self, binary, config, data_dir):
        self.p = subprocess.Popen([binary, "up", str(config), "--data-dir", str(data_dir)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=120)
        finally:
            self.t.join(5)


def reset_events(data_dir):
    return [e for e in nl.read_events(data_dir / "lab" / "capture") if e.get("event_type") == "reset"]


@pytest.fixture
def lab_dir(tmp_path, honeynet_bin):
    yield from labtools.lab_data_dir(tmp_path, honeynet_bin)


def test_reset_schedule_idle_archive_and_max_age(honeynet_bin, lab_dir, tmp_path):
    config = tmp_path / "schedule.toml"
    config.write_text(CONFIG)
    up = Up(honeynet_bin, config, lab_dir)
    try:
        nl.wait_until(lambda: "lab ready" in up.text() or up.p.poll() is not None, 120, what="lab ready")
        assert "lab ready" in up.text(), up.text()
        # The schedule is printed after the "lab ready" block: wait for it, do not race it.
        nl.wait_until(lambda: "reset schedule: idle1 after 6s idle" in up.text() or up.p.poll() is not None, 30,
                      what="the reset schedule line")
        assert "reset schedule: idle1 after 6s idle" in up.text(), up.text()
        # The attacker leaves a file in idle1, then goes away.
        out = labtools.telnet("192.0.2.10", ["echo planted > /root/marker; cat /root/marker"])
        assert out["outputs"] == ["planted"], out

        nl.wait_until(lambda: {e["honeypot"] for e in reset_events(lab_dir)} >= {"idle1", "old2"}, 90,
                      interval=0.5, what="a scheduled reset of both honeypots (events.json):\n" + up.text())
        events = reset_events(lab_dir)
        idle = [e for e in events if e["honeypot"] == "idle1"][0]
        old = [e for e in events if e["honeypot"] == "old2"][0]
        assert idle["reset"]["reason"] == "idle" and idle["reset"]["ok"], idle
        assert old["reset"]["reason"] == "max_age" and old["reset"]["archive"] is None, old
        archive = idle["reset"]["archive"]
        assert archive and archive.startswith(str(lab_dir / "lab" / "archive" / "idle1-")), idle
        kept = sorted(p.name for p in Path(archive).iterdir())
        assert kept, "the archive %s is empty" % archive
        assert any(name.endswith(".ttylog") for name in kept), kept
        assert "scheduled reset of idle1 (idle)" in up.text() and "scheduled reset of old2 (max_age)" in up.text()

        # Pristine again: the planted file is gone.
        out = labtools.telnet("192.0.2.10", ["cat /root/marker 2>&1 || echo gone"])
        assert out["outputs"][0].endswith("gone"), out
    finally:
        rc = up.stop()
    assert rc == 0, up.text()
    assert "lab down" in up.text(), up.text()
