"""`honeynet audit` (issue 14, item 5): per honeypot what contains less than it
could (risks) and what gives it away (tells), each with its fix.

- test_audit_no_lab: with no lab up, `audit` says so and exits 3 (as `status`).
- test_audit_contained: a NAT lab with the default contained namespace
  honeypot ns1 (and, when User-Mode Linux is installed, a UML honeypot hp2).
  `up` ends with the audit's summary line; `audit --json` has no risk for ns1
  (unsafe, uid map, seccomp, capabilities, cgroup, disk, /proc masks all ok)
  nor for the honeywall, lists ns1's MAC from 52:54:00 as a tell with its fix
  (`mac = `), and for hp2 its uid, namespace, privileges and cgroup (ok), the
  kernel in use and the UML tells; the exit status
  is 1 exactly when there is a risk; the table names every honeypot and has no
  escape sequence when not on a terminal.
- test_audit_unsafe: ns1 with `unsafe = true` and a vendor MAC: `up` prints a
  WARNING block for it, `audit` exits 1 with the unsafe and uid-map risks
  (their fix: remove unsafe), and no MAC tell.

The lab's namespace names are fixed: run under `flock /tmp/hn-lab.lock` when
other lab tests may run; skipped while a lab is up. Every test runs `honeynet
down --force` in its teardown. Needs root, busybox-static, e2fsprogs.
"""
import json
import os

import pytest

import labtools
from labtools import hn

UML_KERNEL = "/usr/bin/linux"
HAVE_UML = os.access(UML_KERNEL, os.X_OK)

CONFIG_HEAD = "# test_audit.py\n" + labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "ns1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
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


def audit_json(binary, d):
    r = hn(binary, "audit", "--json", "--data-dir", d, check=False)
    j = json.loads(r.stdout)
    return r.returncode, j


def section(j, name):
    for s in j["sections"]:
        if s["subject"] == name:
            return s
    raise AssertionError("no section %s in %s" % (name, json.dumps(j, indent=1)))


def finding(sec, check):
    for f in sec["findings"]:
        if f["check"] == check:
            return f
    raise AssertionError("no finding %s in %s" % (check, json.dumps(sec, indent=1)))


def test_audit_no_lab(honeynet_bin, tmp_path):
    r = hn(honeynet_bin, "audit", "--data-dir", tmp_path / "none", check=False)
    assert r.returncode == 3, r.stdout
    assert "no lab is up" in r.stdout, r.stdout
    rc, j = audit_json(honeynet_bin, tmp_path / "none")
    assert rc == 3 and j["up"] is False, j


def test_audit_contained(honeynet_bin, data_dir, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG_HEAD + (UML_HONEYPOT if HAVE_UML else ""))
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    up = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=180).stdout
    assert "lab ready" in up, up
    assert "run `honeynet audit` for details" in up, up
    assert "WARNING: ns1" not in up, up

    rc, j = audit_json(honeynet_bin, data_dir)
    print(json.dumps(j, indent=1))
    assert j["up"] is True
    assert rc == (1 if j["risks"] else 0), (rc, j["risks"])
    ns1 = section(j, "ns1")
    assert ns1["kind"] == "netns"
    assert ns1["risks"] == 0, json.dumps(ns1, indent=1)
    for check in ("unsafe", "uid_map", "seccomp", "capabilities", "cgroup", "disk", "proc_masks"):
        assert finding(ns1, check)["severity"] == "ok", finding(ns1, check)
    mac = finding(ns1, "mac_oui")
    assert mac["severity"] == "tell" and "52:54:00" in mac["what"] and "mac = " in mac["fix"], mac
    wall = section(j, "honeywall")
    assert wall["risks"] == 0, json.dumps(wall, indent=1)
    if HAVE_UML:
        hp2 = section(j, "hp2")
        assert hp2["kind"] == "uml"
        kernel = [f for f in hp2["findings"] if f["check"] in ("kernel", "kernel_config")]
        assert kernel, hp2
        # Run unprivileged in its own namespace hn-u-hp2 (docs/security.md).
        for check in ("uid", "netns", "privileges", "cgroup"):
            assert finding(hp2, check)["severity"] == "ok", finding(hp2, check)
        assert finding(hp2, "disk_names")["severity"] == "tell"
        assert finding(hp2, "mac_oui")["severity"] == "tell"
        for f in hp2["findings"]:
            assert f["severity"] == "ok" or f["fix"], f  # every risk and tell has its fix

    # The table for people: every honeypot, no escape sequence off a terminal.
    r = hn(honeynet_bin, "audit", "--data-dir", data_dir, check=False)
    assert r.returncode == rc
    assert "ns1 (netns)" in r.stdout and "honeywall (wall)" in r.stdout, r.stdout
    assert "\x1b" not in r.stdout
    assert ("hp2 (uml)" in r.stdout) == HAVE_UML


def test_audit_unsafe(honeynet_bin, data_dir, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG_HEAD + 'unsafe = true\nmac = "00:1b:21:4e:00:02"\n')
    hn(honeynet_bin, "image", "build", "busybox", "--data-dir", data_dir)
    up = hn(honeynet_bin, "up", config, "--detach", "--data-dir", data_dir, timeout=180).stdout
    assert "lab ready" in up, up
    assert "WARNING: ns1: unsafe = true" in up, up
    assert "run `honeynet audit` for details" in up, up

    rc, j = audit_json(honeynet_bin, data_dir)
    assert rc == 1, json.dumps(j, indent=1)
    ns1 = section(j, "ns1")
    for check in ("unsafe", "uid_map"):
        f = finding(ns1, check)
        assert f["severity"] == "risk" and "unsafe = true" in f["fix"], f
    assert finding(ns1, "mac_oui")["severity"] == "ok"
