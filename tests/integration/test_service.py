"""`honeynet service` and the lab run unattended (issue 16 item 7, docs/service.md).

Without a lab (no root-only state, a temp unit dir):
- test_install_writes_a_clean_unit: `service install CONFIG --unit-dir TMP
  --no-enable` writes TMP/NAME.service with the absolute binary and config,
  Type=notify and the watchdog; `systemd-analyze verify` on it prints nothing
  and exits 0 (skipped, saying why, when systemd-analyze is not installed).
- test_show_and_dry_run_print_the_same_unit: `service show` and `service
  install --dry-run` print exactly what install writes; dry-run writes nothing.
- test_bad_config_is_a_clear_error: a missing or broken CONFIG fails with its
  path named, and no unit file is written.
- test_uninstall_removes_the_unit.

With the built-in lab (UML; run under `flock /tmp/hn-lab.lock`, skipped while
another lab is up; `honeynet down --force` in the teardown):
- test_up_detach_status_uptime_restarts_disk: `up --detach` with a fake
  $NOTIFY_SOCKET (a datagram socket this test binds) sends STATUS= lines while
  it builds and READY=1 once the lab is ready; `status --json` has uptime_s,
  restarts == 0 and disk.capture_bytes > 0; the text shows them too.
- test_foreground_notify_watchdog_stop_and_restart_count: the foreground `up`
  (what the unit runs) sends READY=1, then WATCHDOG=1 (with $WATCHDOG_USEC
  set), and on SIGTERM STOPPING=1 and a clean exit with nothing left. Killed
  with SIGKILL instead, then `down` (the unit's ExecStopPost) and `up` again:
  status counts 1 restart; `down` keeps the count.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import labtools
from labtools import hn

UML_KERNEL = "/usr/bin/linux"
CONFIG = "# test_service.py\n" + labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
"""


def unit_value(text: str, key: str) -> str:
    vals = [l.split("=", 1)[1] for l in text.splitlines() if l.startswith(key + "=")]
    assert len(vals) == 1, "%s: %s" % (key, vals)
    return vals[0]


@pytest.fixture
def config(tmp_path) -> Path:
    p = tmp_path / "lab.toml"
    p.write_text(CONFIG)
    return p


def test_install_writes_a_clean_unit(honeynet_bin, tmp_path, config):
    units = tmp_path / "units"
    units.mkdir()
    data = tmp_path / "data"
    r = hn(honeynet_bin, "service", "install", config, "--unit-dir", units, "--data-dir", data, "--no-enable",
           "--name", "hn-test")
    unit = units / "hn-test.service"
    assert unit.is_file(), r.stdout
    assert "not enabled" in r.stdout and "systemctl" in r.stdout, r.stdout
    text = unit.read_text()
    binary = os.path.realpath(honeynet_bin)
    assert unit_value(text, "ExecStart") == "%s up %s --data-dir %s" % (binary, config, data), text
    assert unit_value(text, "ExecStopPost") == "%s down --data-dir %s" % (binary, data)
    assert unit_value(text, "Type") == "notify"
    assert unit_value(text, "WatchdogSec") == "60"
    assert "CAP_NET_ADMIN" in unit_value(text, "CapabilityBoundingSet")

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (package systemd): the unit was written and checked, "
                    "but `systemd-analyze verify` could not run")
    v = subprocess.run([analyze, "verify", str(unit)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=60)
    assert v.returncode == 0 and v.stdout.strip() == "", "systemd-analyze verify %s:\n%s" % (unit, v.stdout)


def test_show_and_dry_run_print_the_same_unit(honeynet_bin, tmp_path, config):
    units = tmp_path / "units"
    units.mkdir()
    data = tmp_path / "data"
    hn(honeynet_bin, "service", "install", config, "--unit-dir", units, "--data-dir", data, "--no-enable")
    written = (units / "honeynet.service").read_text()
    shown = hn(honeynet_bin, "service", "show", config, "--data-dir", data).stdout
    assert shown == written
    empty = tmp_path / "empty"
    empty.mkdir()
    dry = hn(honeynet_bin, "service", "install", config, "--unit-dir", empty, "--data-dir", data, "--dry-run").stdout
    assert dry == written
    assert list(empty.iterdir()) == []
    # Without CONFIG: the built-in lab.
    builtin = hn(honeynet_bin, "service", "show", "--data-dir", data).stdout
    assert unit_value(builtin, "ExecStart") == "%s up --data-dir %s" % (os.path.realpath(honeynet_bin), data)


def test_bad_config_is_a_clear_error(honeynet_bin, tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    missing = tmp_path / "no-such-lab.toml"
    r = hn(honeynet_bin, "service", "install", missing, "--unit-dir", units, "--no-enable", check=False)
    assert r.returncode != 0
    assert str(missing) in r.stdout and "No such file" in r.stdout, r.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text('mode = "sideways"\n')
    r = hn(honeynet_bin, "service", "install", broken, "--unit-dir", units, "--no-enable", check=False)
    assert r.returncode != 0 and str(broken) in r.stdout and "mode" in r.stdout, r.stdout
    r = hn(honeynet_bin, "service", "show", missing, check=False)
    assert r.returncode != 0 and str(missing) in r.stdout, r.stdout
    assert list(units.iterdir()) == []


def test_uninstall_removes_the_unit(honeynet_bin, tmp_path, config):
    units = tmp_path / "units"
    units.mkdir()
    hn(honeynet_bin, "service", "install", config, "--unit-dir", units, "--no-enable")
    assert (units / "honeynet.service").is_file()
    r = hn(honeynet_bin, "service", "uninstall", "--unit-dir", units)
    assert "removed" in r.stdout and not (units / "honeynet.service").exists(), r.stdout
    r = hn(honeynet_bin, "service", "uninstall", "--unit-dir", units)
    assert "nothing to remove" in r.stdout, r.stdout


# ---------------------------------------------------------------------------
# With the built-in lab.

needs_uml = pytest.mark.skipif(not os.access(UML_KERNEL, os.X_OK),
                               reason="User-Mode Linux not installed (%s): apt-get install user-mode-linux"
                               % UML_KERNEL)


@pytest.fixture
def data_dir(tmp_path, honeynet_bin):
    yield from labtools.lab_data_dir(tmp_path, honeynet_bin)


class Notify:
    """A fake systemd notify socket: a bound datagram socket in tmp, read
    by a thread as systemd would (so the sender's queue never fills)."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages = []
        self.cond = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stop:
            try:
                m = self.sock.recv(65536).decode("utf-8", "replace")
            except socket.timeout:
                continue
            except OSError:
                return
            with self.cond:
                self.messages.append(m)
                self.cond.notify_all()

    def clear(self):
        with self.cond:
            self.messages.clear()

    def wait_for(self, word: str, timeout: float) -> list:
        """Waits until a datagram holds a line `word`; every message so far."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if any(word in m.split("\n") for m in self.messages):
                    return list(self.messages)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s on the notify socket within %.0f s; got %s"
                                         % (word, timeout, self.messages[-20:]))
                self.cond.wait(left)

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def env_with(**kv) -> dict:
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in kv.items()})
    return env


def status_json(binary, d) -> dict:
    r = hn(binary, "status", "--json", "--data-dir", d, check=False)
    assert r.returncode in (0, 3), r.stdout
    return json.loads(r.stdout)


@needs_uml
def test_up_detach_status_uptime_restarts_disk(honeynet_bin, data_dir, tmp_path):
    n = Notify(tmp_path / "notify")
    try:
        p = subprocess.run([honeynet_bin, "up", "--detach", "--data-dir", str(data_dir)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300, stdin=subprocess.DEVNULL,
                           env=env_with(NOTIFY_SOCKET=n.path))
        assert p.returncode == 0 and "lab ready" in p.stdout, p.stdout
        msgs = n.wait_for("READY=1", 5)
    finally:
        n.close()
    ready = [m for m in msgs if "READY=1" in m.split("\n")]
    assert len(ready) == 1 and "STATUS=lab ready: hp1 10.0.0.2/24 = 192.0.2.10" in ready[0].split("\n"), ready
    status_lines = [m for m in msgs if m.startswith("STATUS=")]
    assert any("bringing up the lab" in m for m in status_lines), status_lines
    assert all("\n" not in m and "\x1b" not in m for m in status_lines), status_lines
    assert msgs.index(ready[0]) == len(msgs) - 1, "READY=1 must come last: %s" % msgs[-5:]

    st = status_json(honeynet_bin, data_dir)
    assert st["up"] and st["ready"], st
    assert st["uptime_s"] >= 0 and st["restarts"] == 0, st
    disk = st["disk"]
    assert disk["capture_bytes"] > 0, disk
    assert disk["free_bytes"] > 0 and disk["total_bytes"] >= disk["free_bytes"], disk
    assert disk["max_total"] is None or disk["max_total"] > 0
    text = hn(honeynet_bin, "status", "--data-dir", data_dir).stdout
    assert "restarts: 0" in text and "disk: capture " in text and " free of " in text, text
    hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=90)
    rec = json.loads((data_dir / "lab" / "restarts.json").read_text())
    assert rec["restarts"] == 0 and rec["unclean"] is False, rec


def start_foreground(binary, data_dir, log: Path, **env) -> subprocess.Popen:
    return subprocess.Popen([binary, "up", "--data-dir", str(data_dir)], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env_with(**env))


@needs_uml
def test_foreground_notify_watchdog_stop_and_restart_count(honeynet_bin, data_dir, tmp_path):
    log = tmp_path / "up.log"
    # 1. What the unit runs: READY=1, WATCHDOG=1 about every second, SIGTERM: STOPPING=1, a clean exit.
    n = Notify(tmp_path / "notify")
    up = start_foreground(honeynet_bin, data_dir, log, NOTIFY_SOCKET=n.path, WATCHDOG_USEC=3000000)
    try:
        n.wait_for("READY=1", 240)
        t0 = time.monotonic()
        n.wait_for("WATCHDOG=1", 5)
        n.clear()
        n.wait_for("WATCHDOG=1", 5)
        assert time.monotonic() - t0 < 6
        up.send_signal(signal.SIGTERM)
        n.wait_for("STOPPING=1", 10)
        assert up.wait(timeout=120) == 0, log.read_text()
    finally:
        n.close()
        if up.poll() is None:
            up.kill()
            up.wait()
    assert not labtools.lab_namespaces(), labtools.lab_namespaces()
    assert status_json(honeynet_bin, data_dir)["up"] is False
    rec = json.loads((data_dir / "lab" / "restarts.json").read_text())
    assert rec["restarts"] == 0 and rec["unclean"] is False, rec

    # 2. A crash (SIGKILL of `up`), the unit's ExecStopPost (`down`), a restart: counted once.
    n = Notify(tmp_path / "notify2")
    up = start_foreground(honeynet_bin, data_dir, log, NOTIFY_SOCKET=n.path)
    try:
        n.wait_for("READY=1", 240)
        time.sleep(1.5)  # the foreground loop runs every second
        assert "WATCHDOG=1" not in "\n".join(n.messages), "no WATCHDOG=1 without $WATCHDOG_USEC"
    finally:
        n.close()
        up.kill()
        up.wait()
    hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=90)
    rec = json.loads((data_dir / "lab" / "restarts.json").read_text())
    assert rec["unclean"] is True and rec["restarts"] == 0, rec
    hn(honeynet_bin, "up", "--detach", "--data-dir", data_dir, timeout=300)
    st = status_json(honeynet_bin, data_dir)
    assert st["restarts"] == 1 and st["restart_last_unix"] > 0, st
    assert "restarts: 1 (after an unclean end" in hn(honeynet_bin, "status", "--data-dir", data_dir).stdout
    hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=90)
    assert json.loads((data_dir / "lab" / "restarts.json").read_text())["restarts"] == 1
