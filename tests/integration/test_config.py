"""The honeywall refuses to start on a bad config or an unsafe data port, and
says which key/line or which interface, and what to do."""
import re

import pytest

import netlab as nl


def line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() == needle:
            return n
    raise ValueError("%r not in config" % needle)


def expect_refusal(lab, honeynet_bin, capture_dir, config_text=None) -> str:
    w = lab.start_wall(honeynet_bin, capture_dir=capture_dir, config_text=config_text, wait_ready=False)
    try:
        rc = w.wait(10)
    except Exception:
        w.stop()
        raise AssertionError("the honeywall kept running; it should have refused:\n" + w.output())
    assert rc not in (0, None) and rc > 0, "exit code %s, want a non-zero exit:\n%s" % (rc, w.output())
    assert not any("ready" in l.lower() for l in w.stdout_lines), "printed ready, then exited:\n" + w.output()
    return w.text()


BAD_CONFIGS = {
    # id: (make_config kwargs, the line as written, the key the message must name)
    "negative-limit": (dict(limits={"tcp": -1}), "tcp = -1", "limits.tcp"),
    "unknown-key-in-table": (dict(limits={"tcp": 9, "tcpp": 3}), "tcpp = 3", "limits.tcpp"),
    "unknown-top-level-key": (dict(top={"roach_motell": True}), "roach_motell = true", "roach_motell"),
    "bad-window": (dict(limits={"window": "fortnight"}), 'window = "fortnight"', "limits.window"),
    "bad-mode": (dict(), 'mode = "router"', "mode"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_bad_config_names_key_and_line(lab, honeynet_bin, capture_dir, case):
    kwargs, line_text, key = BAD_CONFIGS[case]
    text = nl.make_config("bridge", capture_dir, **kwargs)
    if case == "bad-mode":
        text = text.replace('mode = "bridge"', line_text, 1)
    line = line_of(text, line_text)
    msg = expect_refusal(lab, honeynet_bin, capture_dir, text)
    assert key in msg, "the message must name the key %r:\n%s" % (key, msg)
    assert re.search(r"(:|line )%d\b" % line, msg), "the message must name line %d:\n%s" % (line, msg)


PORT_PROBLEMS = {
    # id: (interface, sysctl or None, address or None, what the message must mention besides the interface)
    "ipv4-address": (nl.WALL_IN, None, "198.51.100.7/24", r"ip\s+(-\S+\s+)*a(ddr(ess)?)?\s+(flush|del)"),
    "ipv6-enabled": (nl.WALL_OUT, ("net.ipv6.conf.%s.disable_ipv6" % nl.WALL_OUT, 0), None, r"(?i)ipv6"),
    "forwarding": (nl.WALL_IN, ("net.ipv4.conf.%s.forwarding" % nl.WALL_IN, 1), None, r"forwarding"),
}


@pytest.mark.parametrize("case", list(PORT_PROBLEMS), ids=list(PORT_PROBLEMS))
def test_refuses_unsafe_data_port(lab, honeynet_bin, capture_dir, case):
    ifname, sysctl, addr, fix = PORT_PROBLEMS[case]
    if addr:
        nl.run(["ip", "-n", lab.wall_ns, "addr", "add", addr, "dev", ifname])
    if case == "ipv6-enabled":
        # no link-local address either, so it is IPv6 being on that must be refused
        nl.run(["ip", "-n", lab.wall_ns, "link", "set", ifname, "addrgenmode", "none"])
    if sysctl:
        lab.sysctl(lab.wall_ns, {sysctl[0]: sysctl[1]})
    msg = expect_refusal(lab, honeynet_bin, capture_dir)
    assert ifname in msg, "the message must name the interface %s:\n%s" % (ifname, msg)
    assert re.search(fix, msg), "the message must say how to fix it (%s):\n%s" % (fix, msg)
