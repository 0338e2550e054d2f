"""Alerts (issue 18 item 3, docs/alerts.md): `honeynet alerts` with its sinks.

- test_lab_alerts_end_to_end: a NAT lab (built-in busybox UML image, one
  honeypot) with [alerts] command = "cat >> FILE" and a webhook served by a
  small http.server on 127.0.0.1 in this (the host's) namespace. `up --detach`
  starts `honeynet alerts` (status shows it); the attacker (192.0.2.66 in
  hn-inet) logs in over telnet and types a marker; `honeynet selftest` spends
  the TCP budget (3 outbound attempts blocked). Both sinks get a new_attacker
  line for 192.0.2.66 and an outbound_blocked line naming hp1 for each blocked
  attempt (>= 3) and a budget_exhausted one. SIGKILL of the honeywall gives a
  honeywall_down alert on both. `down` stops the alerts process too.
- test_hanging_command_does_not_delay_webhook: `honeynet alerts --config`
  beside a (simulated) honeywall's events.json, with command = "sleep 600"
  and a webhook: the webhook gets every alert at once; SIGTERM ends the
  process within 3 s although the command still hangs, and the hanging
  command's process group is killed.
- test_send_test_reports_each_sink: `--test` says ok / FAILED per sink.

Traffic goes only between the lab's own namespaces and over loopback.
"""
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import labtools
from labtools import hn

UML_KERNEL = "/usr/bin/linux"


class Hook:
    """A webhook receiver on 127.0.0.1 (an ephemeral port): keeps each POSTed body."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                with hook.lock:
                    hook.bodies.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self):
        with self.lock:
            return [json.loads(b) for (_, _, b) in self.bodies]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def read_lines(path: Path) -> list:
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return ") Z " not in f.read()
    except FileNotFoundError:
        return False


def lab_checks(alerts: list) -> bool:
    new = [a for a in alerts if a["kind"] == "new_attacker" and a.get("src_ip") == "192.0.2.66"]
    blocked = [a for a in alerts if a["kind"] == "outbound_blocked" and a.get("honeypot") == "hp1"]
    exhausted = [a for a in alerts if a["kind"] == "budget_exhausted" and a.get("honeypot") == "hp1"]
    return bool(new) and len(blocked) >= 3 and bool(exhausted)


@pytest.fixture
def data_dir(tmp_path, honeynet_bin):
    yield from labtools.lab_data_dir(tmp_path, honeynet_bin)


@pytest.mark.skipif(not os.access(UML_KERNEL, os.X_OK), reason="User-Mode Linux not installed")
def test_lab_alerts_end_to_end(honeynet_bin, data_dir, tmp_path, hook):
    out = tmp_path / "alerts.jsonl"
    config = tmp_path / "lab.toml"
    config.write_text(labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "192.0.2.10"

[alerts]
command = "cat >> %s"
webhook = "http://127.0.0.1:%d/hook"
""" % (out, hook.port))
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    r = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=180)
    assert "lab ready" in r.stdout, r.stdout

    st = json.loads(hn(honeynet_bin, "status", "--json", "--data-dir", data_dir).stdout)
    assert st["alerts"]["running"], st.get("alerts")
    alerts_pid = st["alerts"]["pid"]
    wall_pid = st["wall"]["pid"]
    # In the host's network namespace, not the honeywall's.
    assert os.readlink("/proc/%d/ns/net" % alerts_pid) == os.readlink("/proc/self/ns/net")
    text = hn(honeynet_bin, "status", "--data-dir", data_dir).stdout
    assert "alerts: running" in text, text

    labtools.telnet("192.0.2.10", ["echo HN-ALERTS-MARKER"], timeout=120)
    r = hn(honeynet_bin, "selftest", "--data-dir", data_dir, check=False, timeout=180)
    assert r.returncode == 0, r.stdout

    wait_for(lambda: lab_checks(read_lines(out)), 30, "the command's alerts: %s" % out)
    wait_for(lambda: lab_checks(hook.alerts()), 30, "the webhook's alerts")
    lines = read_lines(out)
    new = [a for a in lines if a["kind"] == "new_attacker" and a["src_ip"] == "192.0.2.66"]
    assert len(new) == 1, new  # once per source
    for a in lines:
        assert {"timestamp", "kind", "severity", "message", "host"} <= set(a), a
    blocked = [a for a in lines if a["kind"] == "outbound_blocked"]
    assert all(a["reason"] == "budget_exhausted" and a["src_ip"] == "10.0.0.2" for a in blocked), blocked
    assert {(p, t) for (p, t, _) in hook.bodies} == {("/hook", "application/json")}

    # The honeywall dies: one honeywall_down on each sink.
    os.kill(wall_pid, signal.SIGKILL)
    down = lambda al: [a for a in al if a["kind"] == "honeywall_down"]
    wait_for(lambda: down(read_lines(out)), 15, "honeywall_down from the command")
    wait_for(lambda: down(hook.alerts()), 15, "honeywall_down from the webhook")
    time.sleep(2.5)  # a few more health polls: still one (once per transition)
    assert len(down(read_lines(out))) == 1, down(read_lines(out))

    stats = json.loads((data_dir / "lab" / "alerts-stats.json").read_text())
    assert stats["sinks"]["command"]["failed"] == 0, stats
    assert stats["sinks"]["webhook"]["failed"] == 0, stats

    hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=90)
    wait_for(lambda: not alive(alerts_pid), 5, "the alerts process to stop with the lab")


def simulated_events(capdir: Path, n_blocked: int) -> None:
    """events.json lines as a honeywall writes them: one inbound flow, n blocked outbound ones."""
    lines = [{"timestamp": "2026-12-06T12:00:00.000001+0000", "flow_id": 1, "in_iface": "hw-out",
              "event_type": "honeywall", "src_ip": "203.0.113.5", "src_port": 40000, "dest_ip": "10.0.0.2",
              "dest_port": 23, "proto": "TCP", "honeypot": "hp1",
              "honeywall": {"action": "allowed", "direction": "inbound", "reason": "inbound"}}]
    for i in range(n_blocked):
        lines.append({"timestamp": "2026-12-06T12:00:01.000001+0000", "flow_id": 10 + i, "in_iface": "hw-in",
                      "event_type": "honeywall", "src_ip": "10.0.0.2", "src_port": 41000 + i,
                      "dest_ip": "198.51.100.7", "dest_port": 80, "proto": "TCP", "honeypot": "hp1",
                      "honeywall": {"action": "dropped", "direction": "outbound", "reason": "budget_exhausted",
                                    "budget": {"class": "TCP", "used": 9, "left": 0, "limit": 9}}})
    with open(capdir / "events.json", "a") as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")


def standalone_config(tmp_path, capdir, alerts: str) -> Path:
    c = tmp_path / "wall.toml"
    c.write_text("""
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"

[capture]
dir = "%s"

[alerts]
%s
""" % (capdir, alerts))
    return c


def test_hanging_command_does_not_delay_webhook(honeynet_bin, tmp_path, hook):
    capdir = tmp_path / "capture"
    capdir.mkdir()
    pidfile = tmp_path / "sleep.pid"
    config = standalone_config(tmp_path, capdir, 'command = "echo $$ > %s; exec sleep 600"\n'
                                                 'webhook = "http://127.0.0.1:%d/in"\ntimeout = "1h"'
                               % (pidfile, hook.port))
    simulated_events(capdir, 4)
    p = subprocess.Popen([honeynet_bin, "alerts", "--config", str(config)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        got = wait_for(lambda: (lambda a: a if len(a) >= 6 else None)(hook.alerts()), 10,
                       "the webhook's 6 alerts (1 new_attacker, 4 outbound_blocked, 1 budget_exhausted)")
        kinds = sorted(a["kind"] for a in got)
        assert kinds == ["budget_exhausted", "new_attacker"] + ["outbound_blocked"] * 4, kinds
        assert [a for a in got if a["kind"] == "new_attacker"][0]["src_ip"] == "203.0.113.5"
        sleeper = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 5, "the hanging command"))
        assert alive(sleeper)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        assert time.monotonic() - t0 < 3.0, "SIGTERM took %.1fs with a hanging sink" % (time.monotonic() - t0)
        wait_for(lambda: not alive(sleeper), 5, "the hanging command to be killed")
        stats = json.loads((capdir / "alerts" / "alerts-stats.json").read_text())
        assert stats["sinks"]["webhook"]["sent"] == 6, stats
        assert stats["sinks"]["command"]["sent"] == 0, stats
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_restart_repeats_nothing_and_rate_limit_counts(honeynet_bin, tmp_path, hook):
    capdir = tmp_path / "capture"
    capdir.mkdir()
    out = tmp_path / "out.jsonl"
    config = standalone_config(tmp_path, capdir, 'command = "cat >> %s"\nburst = 2\nrate = 1' % out)
    simulated_events(capdir, 10)

    def run_until(count):
        p = subprocess.Popen([honeynet_bin, "alerts", "--config", str(config)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: len(read_lines(out)) >= count, 10, "%d alert lines" % count)
            size = (capdir / "events.json").stat().st_size

            def caught_up():
                try:
                    s = json.loads((capdir / "alerts" / "alerts-stats.json").read_text())
                except (FileNotFoundError, ValueError):
                    return False
                return s["pid"] == p.pid and s["events"]["offset"] == size
            wait_for(caught_up, 10, "the alerts process to have read all of events.json")
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=10) == 0, p.stdout.read()

    run_until(4)  # new_attacker, 2 outbound_blocked (burst 2, 8 held back), budget_exhausted
    lines = read_lines(out)
    assert sorted(a["kind"] for a in lines) == ["budget_exhausted", "new_attacker", "outbound_blocked",
                                                "outbound_blocked"], lines
    stats = json.loads((capdir / "alerts" / "alerts-stats.json").read_text())
    assert stats["suppressed"]["outbound_blocked"] == 8, stats
    # A restart: nothing read again, nothing sent again.
    run_until(4)
    time.sleep(0.5)
    assert len(read_lines(out)) == 4


def test_send_test_reports_each_sink(honeynet_bin, tmp_path, hook):
    capdir = tmp_path / "capture"
    capdir.mkdir()
    out = tmp_path / "t.jsonl"
    config = standalone_config(tmp_path, capdir, 'command = "cat >> %s"\nwebhook = "http://127.0.0.1:%d/t"'
                               % (out, hook.port))
    r = hn(honeynet_bin, "alerts", "--config", config, "--test")
    assert "command  ok" in r.stdout and "webhook  ok" in r.stdout, r.stdout
    assert read_lines(out)[0]["kind"] == "test"
    assert hook.alerts()[0]["kind"] == "test"
    bad = standalone_config(tmp_path, capdir, 'command = "exit 4"')
    r = hn(honeynet_bin, "alerts", "--config", bad, "--test", check=False)
    assert r.returncode == 1 and "FAILED" in r.stdout and "status 4" in r.stdout, r.stdout


def test_login_alert_from_tty_capture(honeynet_bin, data_dir, tmp_path):
    """A namespace honeypot's terminals are recorded by eBPF: its login is an alert, attributed to the
    attacker's telnet connection (the lab's readiness probe, which only reads the prompt, is not)."""
    out = tmp_path / "alerts.jsonl"
    config = tmp_path / "lab.toml"
    config.write_text(labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
kind = "netns"

[alerts]
command = "cat >> %s"
kinds = ["login", "new_attacker"]
""" % out)
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=180)
    st = json.loads(hn(honeynet_bin, "status", "--json", "--data-dir", data_dir).stdout)
    if not st["honeypots"][0]["tty_capture"]:
        pytest.skip("no TTY capture for the namespace honeypot on this kernel (eBPF)")
    time.sleep(1)  # the readiness probe's session has closed
    assert not [a for a in read_lines(out) if a["kind"] == "login"], read_lines(out)
    labtools.telnet("192.0.2.10", ["echo HN-LOGIN-MARKER"], timeout=120)
    logins = wait_for(lambda: [a for a in read_lines(out) if a["kind"] == "login"], 15, "a login alert")
    assert len(logins) == 1, logins
    a = logins[0]
    assert a["honeypot"] == "hp1" and a["src_ip"] == "192.0.2.66" and a["dest_port"] == 23, a
    assert a["severity"] == 1 and a["tty"].startswith("pts/"), a
    # alerts-stats.json is rewritten every 2 s.
    wait_for(lambda: json.loads((data_dir / "lab" / "alerts-stats.json").read_text())["raised"]["login"] == 1, 5,
             "alerts-stats.json to count the login")
