"""Fail closed: with the honeywall killed, not one frame crosses between its ports."""
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

import netlab as nl
from netlab import MODES


@pytest.mark.parametrize("mode", MODES)
def test_sigkill_nothing_passes(lab, honeynet_bin, capture_dir, tmp_path):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    # it works while the wall runs (and both sides now have ARP entries, so
    # after the kill they send IP frames straight away, not only ARP)
    assert lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0], count=1, wait=2).returncode == 0
    assert nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23)

    wall.send_signal(signal.SIGKILL)
    assert wall.wait(5) == -signal.SIGKILL

    # independent captures of what arrives on the far side of each port
    out_cap = lab.start_tcpdump(lab.out_ns, nl.OUT_IF, tmp_path / "far-outside.pcap", direction="in")
    hp_cap = lab.start_tcpdump(lab.hp_ns, nl.HP_IF, tmp_path / "far-honeypot.pcap", direction="in")
    attempts = {
        "ping honeypot -> outside": lambda: lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[0], count=2, wait=1).returncode == 0,
        "tcp honeypot -> outside": lambda: lab.tcp_connect(lab.hp_ns, nl.OUTSIDE_EXTRA[1], 80, timeout=2),
        "ping outside -> honeypot": lambda: lab.ping(lab.out_ns, lab.public_ip, count=2, wait=1).returncode == 0,
        "tcp outside -> honeypot": lambda: lab.tcp_connect(lab.out_ns, lab.public_ip, 23, timeout=2),
    }
    with ThreadPoolExecutor(len(attempts)) as pool:
        results = {name: fut.result() for name, fut in
                   [(name, pool.submit(fn)) for name, fn in attempts.items()]}
    lab.stop_tcpdump(out_cap)
    lab.stop_tcpdump(hp_cap)

    assert not any(results.values()), "with the honeywall dead something got through: %s" % results
    for name in ("far-outside.pcap", "far-honeypot.pcap"):
        frames = nl.read_pcap(tmp_path / name)
        assert frames == [], "%s: %d frame(s) crossed the dead honeywall: %s" % (
            name, len(frames), [f[:42].hex() for f in frames[:5]])
        assert nl.tshark_fields(tmp_path / name, "frame", ["frame.number"]) == []
