"""The boot watchdog (issue 16 item 7): a UML guest that hangs while booting
(seen on a busy machine: it stopped right after its "TUN/TAP backend"
console line and never answered telnet) is killed and booted again, and `up`
says so. The hang is made real: the guest's UML process is stopped (SIGSTOP)
as soon as its console shows the TUN/TAP line. $HONEYNET_BOOT_STALL_MS makes
the watchdog look after 3 s of silence instead of 20.

What a user checks: `up` says the guest hung and which attempt it boots, the
lab comes up, the guest answers telnet, and `down` leaves nothing.
"""
import json
import os
import signal
import subprocess
import threading

import pytest

import labtools
import netlab as nl
from labtools import hn

UML_KERNEL = "/usr/bin/linux"

CONFIG = labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
"""

pytestmark = pytest.mark.skipif(not os.access(UML_KERNEL, os.X_OK),
                                reason="User-Mode Linux not installed (%s): apt-get install user-mode-linux"
                                % UML_KERNEL)


@pytest.fixture
def lab_dir(tmp_path, honeynet_bin):
    yield from labtools.lab_data_dir(tmp_path, honeynet_bin)


def test_hung_boot_is_killed_and_booted_again(honeynet_bin, lab_dir, tmp_path):
    config = tmp_path / "one.toml"
    config.write_text(CONFIG)
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", lab_dir, timeout=300)
    env = dict(os.environ, HONEYNET_BOOT_STALL_MS="3000")
    up = subprocess.Popen([honeynet_bin, "up", str(config), "--detach", "--data-dir", str(lab_dir)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          stdin=subprocess.DEVNULL)
    out = []
    reader = threading.Thread(target=lambda: out.extend(up.stdout), daemon=True)
    reader.start()
    console = lab_dir / "guests" / "hp1" / "console.log"
    state_path = lab_dir / "lab" / "state.json"
    stopped = []
    try:
        def tun_line():
            return console.exists() and "TUN/TAP backend" in console.read_text(errors="replace")
        nl.wait_until(tun_line, 120, interval=0.01, what="hp1's TUN/TAP console line")
        pid = json.loads(state_path.read_text())["guests"][0]["pid"]
        os.kill(pid, signal.SIGSTOP)  # the hang
        stopped.append(pid)
        rc = up.wait(timeout=240)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        reader.join(5)
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    text = "".join(out)
    assert rc == 0, text
    assert "hp1 hung while booting (console silent for" in text and "attempt 2 of 3" in text, text
    assert "lab ready" in text, text
    new_pid = json.loads(state_path.read_text())["guests"][0]["pid"]
    assert new_pid != stopped[0], "the hung guest was not replaced"
    assert labtools.telnet("192.0.2.10", ["echo up-again"])["outputs"] == ["up-again"]
    r = hn(honeynet_bin, "down", "--data-dir", lab_dir, timeout=120)
    assert "lab down" in r.stdout, r.stdout
