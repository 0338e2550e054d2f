"""Smoke test of scripts/minilab.py (what `make up` runs for now): --check
builds the lab, passes traffic both ways through the wall, stops it cleanly and
leaves nothing behind."""
import subprocess
from pathlib import Path

import pytest

import netlab as nl

MINILAB = Path(__file__).resolve().parents[2] / "scripts" / "minilab.py"
LAB_NAMES = ("hn-lab-hp", "hn-lab-wall", "hn-lab-out")


@pytest.mark.parametrize("mode", nl.MODES)
def test_minilab_check(honeynet_bin, tmp_path, mode):
    if any(ns in nl.list_netns() for ns in LAB_NAMES):
        pytest.skip("a minilab is running on this machine (hn-lab-* namespaces exist)")
    p = subprocess.run([nl.PYTHON, str(MINILAB), "--check", "--mode", mode, "--honeynet", honeynet_bin,
                        "--data-dir", str(tmp_path / "minilab")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=90)
    left = [ns for ns in LAB_NAMES if ns in nl.list_netns()]
    assert p.returncode == 0 and "check: OK" in p.stdout, p.stdout
    assert not left, "minilab left namespaces behind: %s" % left
    assert (tmp_path / "minilab" / "wall.toml").exists()
    assert nl.pcaps(tmp_path / "minilab" / "capture", "inside")
