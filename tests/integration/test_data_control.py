"""Data Control end to end: the paper's Part V with real tools (nc, ping) in
bridge and nat mode; inbound is never limited; UDP/ICMP budgets; a restart or
a crash of the honeywall does not refill a spent budget."""
import signal

import pytest

import netlab as nl
from netlab import MODES
from netlab import flow_events, hw, log_field, read_events, read_log, wait_until

# Part V: "telnet to different systems on the external network": 12 distinct
# outside address:port pairs, every one of them a listening service.
PORTS = (80, 21, 6667, 23)
TARGETS = [(nl.OUTSIDE_EXTRA[i], PORTS[i % len(PORTS)]) for i in range(12)]


def pairs(events):
    return sorted((e.get("dest_ip"), int(e.get("dest_port", -1))) for e in events)


def log_pairs(lines):
    return sorted((log_field(l, "DST"), int(log_field(l, "DPT") or -1)) for l in lines)


def spend_tcp_budget(lab, n=9):
    """n outbound connects that must all succeed (the budget allows them)."""
    got = [lab.tcp_connect(lab.hp_ns, ip, port, timeout=2) for ip, port in TARGETS[:n]]
    assert got == [True] * n, "outbound TCP connects within the budget must succeed: %s" % got


@pytest.mark.parametrize("mode", MODES)
def test_part_v_tcp_nine_allowed_then_dropped(lab, honeynet_bin, capture_dir):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)

    connected = [lab.tcp_connect(lab.hp_ns, ip, port, timeout=2) for ip, port in TARGETS]
    assert connected == [True] * 9 + [False] * 3, "Part V: exactly the first 9 of 12 connect"

    wait_until(lambda: len(flow_events(read_events(capture_dir), "dropped", proto="TCP")) >= 3,
               timeout=5, what="3 dropped TCP flows in events.json")
    assert wall.stop() == 0

    events = read_events(capture_dir)
    allowed = flow_events(events, "allowed", "outbound", "TCP")
    assert pairs(allowed) == sorted(TARGETS[:9]), "one allowed outbound event per connection"
    assert sorted(hw(e)["budget"]["used"] for e in allowed) == list(range(1, 10))
    for e in allowed:
        b = hw(e)["budget"]
        assert str(b["class"]).upper() == "TCP" and b["limit"] == 9 and b["left"] == 9 - b["used"], e
        assert e["src_ip"] == lab.honeypot_ip, "events name the honeypot's inside address: %s" % e
        assert e["honeypot"] == "hp1", e
        assert e["in_iface"] == nl.WALL_IN, e
        assert "flow_id" in e and "timestamp" in e, e

    dropped = flow_events(events, "dropped", proto="TCP")
    assert pairs(dropped) == sorted(TARGETS[9:]), "one dropped event per refused connection"
    for e in dropped:
        assert hw(e)["reason"] == "budget_exhausted", e
        assert hw(e)["direction"] == "outbound", e
        assert e["src_ip"] == lab.honeypot_ip and e["honeypot"] == "hp1", e

    log = read_log(capture_dir)
    out_lines = [l for l in log if "OUTBOUND TCP:" in l]
    drop_lines = [l for l in log if "Drop TCP > 9 attempts" in l]
    assert log_pairs(out_lines) == sorted(TARGETS[:9]), "\n".join(log)
    assert log_pairs(drop_lines) == sorted(TARGETS[9:]), "\n".join(log)
    for l in out_lines + drop_lines:
        assert log_field(l, "SRC") == lab.honeypot_ip, l
    # EVE's Community ID v1 (checked last so that the Part V checks above report first)
    for e in allowed + dropped:
        assert str(e.get("community_id", "")).startswith("1:"), "no Community ID in the event: %s" % e


@pytest.mark.parametrize("mode", MODES)
def test_inbound_always_allowed_after_budget_spent(lab, honeynet_bin, capture_dir):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    spend_tcp_budget(lab)
    assert not lab.tcp_connect(lab.hp_ns, *TARGETS[9], timeout=2), "the 10th outbound must fail"

    sources = [nl.OUTSIDE_EXTRA[i % len(nl.OUTSIDE_EXTRA)] for i in range(15)]
    for src in sources:
        banner = lab.tcp_banner(lab.out_ns, lab.public_ip, 23, timeout=2, source=src)
        assert nl.HONEYPOT_BANNER in banner, "inbound connection from %s got %r" % (src, banner)

    wait_until(lambda: len(flow_events(read_events(capture_dir), "allowed", "inbound", "TCP")) >= 15,
               timeout=5, what="15 inbound TCP flows in events.json")
    assert wall.stop() == 0

    events = read_events(capture_dir)
    inbound = flow_events(events, "allowed", "inbound", "TCP")
    assert len(inbound) == 15
    assert sorted(e["src_ip"] for e in inbound) == sorted(sources)
    for e in inbound:
        assert e["dest_ip"] == lab.honeypot_ip and int(e["dest_port"]) == 23, e
        assert e["in_iface"] == nl.WALL_OUT, e
    # the honeypot's replies were not new outbound connections: nothing more counted or dropped
    assert len(flow_events(events, "allowed", "outbound", "TCP")) == 9
    assert len(flow_events(events, "dropped", proto="TCP")) == 1

    log = read_log(capture_dir)
    in_lines = [l for l in log if "INBOUND TCP:" in l]
    assert len(in_lines) == 15, "\n".join(log)
    assert sorted(log_field(l, "SRC") for l in in_lines) == sorted(sources)
    assert all(log_field(l, "DPT") == "23" for l in in_lines)
    assert len([l for l in log if "OUTBOUND TCP:" in l]) == 9


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("limit", [5, None], ids=["udp5", "udp-default20"])
def test_udp_budget(lab, honeynet_bin, capture_dir, limit):
    n = 20 if limit is None else limit
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir,
                          limits=None if limit is None else {"udp": limit})
    ports = nl.OUTSIDE_UDP_PORTS[:n + 3]
    result = lab.udp_probe(lab.hp_ns, nl.OUTSIDE_EXTRA[0], ports, timeout=1.0)
    assert result["answered"] == ports[:n], "exactly the first %d datagrams get an answer: %s" % (n, result)

    wait_until(lambda: len(flow_events(read_events(capture_dir), "dropped", proto="UDP")) >= 3,
               timeout=5, what="3 dropped UDP flows")
    assert wall.stop() == 0
    events = read_events(capture_dir)
    allowed = flow_events(events, "allowed", "outbound", "UDP")
    assert sorted(int(e["dest_port"]) for e in allowed) == ports[:n]
    assert sorted(hw(e)["budget"]["used"] for e in allowed) == list(range(1, n + 1))
    dropped = flow_events(events, "dropped", proto="UDP")
    assert sorted(int(e["dest_port"]) for e in dropped) == ports[n:]
    assert all(hw(e)["reason"] == "budget_exhausted" for e in dropped), dropped
    log = read_log(capture_dir)
    assert len([l for l in log if "OUTBOUND UDP:" in l]) == n, "\n".join(log)
    drops = [l for l in log if "Drop UDP" in l]
    assert sorted(int(log_field(l, "DPT")) for l in drops) == ports[n:], "\n".join(log)


@pytest.mark.parametrize("mode", MODES)
def test_icmp_budget(lab, honeynet_bin, capture_dir):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir, limits={"icmp": 5})
    # separate `ping -c 1` runs: each has its own ICMP id, so each is a new flow
    answered = [lab.ping(lab.hp_ns, nl.OUTSIDE_EXTRA[1], count=1, wait=1).returncode == 0 for _ in range(8)]
    assert answered == [True] * 5 + [False] * 3, "exactly 5 of 8 pings answered"

    wait_until(lambda: len(flow_events(read_events(capture_dir), "dropped", proto="ICMP")) >= 3,
               timeout=5, what="3 dropped ICMP flows")
    assert wall.stop() == 0
    events = read_events(capture_dir)
    allowed = flow_events(events, "allowed", "outbound", "ICMP")
    assert sorted(hw(e)["budget"]["used"] for e in allowed) == [1, 2, 3, 4, 5]
    dropped = flow_events(events, "dropped", proto="ICMP")
    assert len(dropped) == 3 and all(hw(e)["reason"] == "budget_exhausted" for e in dropped), dropped
    log = read_log(capture_dir)
    assert len([l for l in log if "OUTBOUND ICMP:" in l]) == 5, "\n".join(log)
    assert len([l for l in log if "Drop ICMP" in l]) == 3, "\n".join(log)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_restart_keeps_spent_budget(lab, honeynet_bin, capture_dir, how):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    spend_tcp_budget(lab)
    if how == "sigkill":
        # the state must be on disk before the crash, not written at a clean stop
        try:
            wait_until(lambda: nl.budget_used(capture_dir, "tcp") >= 9, timeout=5,
                       what="budgets.json to record 9 TCP starts")
        except AssertionError as e:
            p = capture_dir / "budgets.json"
            raise AssertionError("%s; budgets.json: %s" % (e, p.read_text() if p.exists() else "(missing)"))
        wall.send_signal(signal.SIGKILL)
        assert wall.wait(5) == -signal.SIGKILL
    else:
        assert wall.stop(signal.SIGTERM) == 0, "SIGTERM is a clean stop: exit 0"
        assert nl.budget_used(capture_dir, "tcp") >= 9, (capture_dir / "budgets.json").read_text()

    wall2 = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    target = TARGETS[9]
    assert not lab.tcp_connect(lab.hp_ns, *target, timeout=2), "a restart must not refill the budget"

    def dropped_target():
        return [e for e in flow_events(read_events(capture_dir), "dropped", proto="TCP")
                if (e.get("dest_ip"), int(e.get("dest_port", -1))) == target]

    found = wait_until(dropped_target, timeout=5, what="a dropped event for %s:%d" % target)
    assert hw(found[0])["reason"] == "budget_exhausted", found
    assert wall2.stop() == 0
    drops = [l for l in read_log(capture_dir) if "Drop TCP > 9 attempts" in l]
    assert (target[0], target[1]) in [(log_field(l, "DST"), int(log_field(l, "DPT") or -1)) for l in drops]
