"""`honeynet report` on the capture directory of a real honeywall run where
the TCP budget dropped outbound attempts: the budget hit with its time, the
allowed/dropped counts per protocol as events.json has them, the inbound
sources and ports, the busiest flows; and on a crafted directory with an
interactive telnet session."""
import json
import subprocess
from collections import Counter

import pytest

import craft as c
import flowcraft as fc
import netlab as nl
from netlab import hw, read_events
from test_flows import run_wall_with_budget_drops


def report(honeynet_bin, d, *args):
    p = subprocess.run([honeynet_bin, "report", *args, str(d)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "report failed (%d): %s" % (p.returncode, p.stderr)
    return p.stdout


@pytest.mark.parametrize("mode", nl.MODES)
def test_report_of_a_honeywall_run(lab, honeynet_bin, capture_dir, mode):
    run_wall_with_budget_drops(lab, honeynet_bin, capture_dir)
    events = read_events(capture_dir)
    r = json.loads(report(honeynet_bin, capture_dir, "--json"))
    assert [h["name"] for h in r["honeypots"]] == ["hp1"]
    h = r["honeypots"][0]
    assert lab.honeypot_ip in h["addresses"]

    # Allowed/dropped outbound per protocol exactly as events.json counts them.
    want = Counter()
    for e in events:
        if e.get("event_type") == "honeywall" and e.get("honeypot") == "hp1" and hw(e).get("direction") == "outbound":
            want[(e.get("proto"), hw(e)["action"])] += 1
    got = Counter()
    for proto, cnt in h["outbound"].items():
        got[(proto, "allowed")] += cnt["allowed"]
        got[(proto, "dropped")] += cnt["dropped"]
    assert +got == +want, (got, want)
    assert h["outbound"]["TCP"]["dropped"] >= 1
    assert h["outbound"]["TCP"]["drop_reasons"]["budget_exhausted"] == h["outbound"]["TCP"]["dropped"]

    # One budget hit, at the time of the first budget drop.
    drops = [e for e in events if e.get("event_type") == "honeywall" and hw(e).get("reason") == "budget_exhausted"]
    assert len(h["budget_hits"]) == 1, h["budget_hits"]
    hit = h["budget_hits"][0]
    assert hit["class"] == "TCP" and hit["limit"] == 2
    assert hit["time"][:19] == fc_utc(drops[0]["timestamp"])[:19]

    # Inbound: the outside host's telnet sessions.
    assert h["inbound"]["flows"] >= 2
    assert any(p["port"] == "TCP/23" for p in h["inbound"]["ports"])
    assert r["busiest_flows"] and r["totals"]["flows"] >= 5
    assert r["errors"] == []

    text = report(honeynet_bin, capture_dir)
    assert "Honeypot hp1" in text and "budget hits:" in text and "TCP budget of 2 used up" in text, text
    assert "Busiest flows" in text and "\x1b[" not in text


def fc_utc(eve_ts: str) -> str:
    """An EVE timestamp ("...+0000" or other offsets) as UTC ISO text."""
    from datetime import datetime, timezone
    t = datetime.strptime(eve_ts, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_report_finds_the_interactive_session(tmp_path, honeynet_bin):
    d = tmp_path / "cap"
    d.mkdir()
    A, B = "10.3.0.1", "10.3.0.2"
    t = 1795716000.0
    fr = [(t, fc.tcpf(A, B, 41000, 23, c.SYN, 1)), (t + 0.01, fc.tcpf(B, A, 23, 41000, c.SYN | c.ACK, 50, 2)),
          (t + 0.02, fc.tcpf(A, B, 41000, 23, c.ACK, 2, 51))]
    seq_a, seq_b = 2, 51
    for i, key in enumerate([b"u", b"n", b"a", b"m", b"e", b" ", b"-", b"a", b"\r\n"]):
        fr.append((t + 1 + i * 0.2, fc.tcpf(A, B, 41000, 23, c.ACK | c.PSH, seq_a, seq_b, key)))
        seq_a += len(key)
        answer = key + (b"Linux hp1 2.4.19 #1 i686 unknown\r\n# " if key == b"\r\n" else b"")
        fr.append((t + 1.1 + i * 0.2, fc.tcpf(B, A, 23, 41000, c.ACK | c.PSH, seq_b, seq_a, answer)))
        seq_b += len(answer)
    # and a bulk transfer that is not interactive
    for i in range(30):
        fr.append((t + 5 + i * 0.01, fc.tcpf(B, A, 80, 41001, c.ACK, 1000 + i * 1400, 1, bytes([0x90]) * 1400)))
    fc.write_pcap(d / "inside-20261126T180000Z-0000.pcap", fr)
    r = json.loads(report(honeynet_bin, d, "--json"))
    assert r["honeypots"] == [] and r["events_file"] == ""
    assert r["interactive_sessions_total"] == 1
    s = r["interactive_sessions"][0]
    assert (s["src_ip"], s["dest_port"]) == (A, 23)
    assert r["busiest_flows"][0]["src_port"] == 80 or r["busiest_flows"][0]["dest_port"] == 41001
    text = report(honeynet_bin, d)
    assert "Sessions with interactive text (1)" in text and s["community_id"] in text
