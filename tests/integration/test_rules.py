"""Inline rules ([rules], src/rules/) through `honeynet wall`, in both modes.

What the outside server and the honeypot really receive (recorded by the
servers themselves), the alert and drop events in events.json, the bytes in
the pcaps (tshark), and the refusal of a broken rules file.
"""
import json
import subprocess
import time
from pathlib import Path

import pytest

import netlab as nl
from netlab import MODES, NSTOOL, PYTHON

RECORD_PORT = 4444      # outside: records what honeypots send, answers "SERVERSECRET ok"
HP_RECORD_PORT = 2323   # honeypot: records what the outside sends

RULES = r"""# honeynet test rules
alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"shell path out"; content:"/bin/sh"; replace:"/ben/sh"; classtype:shellcode-detect; sid:1000001; rev:2;)
drop tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"evil command"; content:"EVILcmd"; nocase; sid:1000002;)
pass tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"allowed"; content:"allowme"; sid:1000003;)
drop tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"bad after allowme"; content:"badword"; sid:1000004;)
alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"pcre wget"; pcre:"/wget\s+http:\/\/[a-z]+/i"; sid:1000005;)
alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"offset depth"; content:"MAGIC"; offset:2; depth:7; sid:1000006;)
alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"distance within"; content:"USER"; content:"root"; distance:1; within:4; sid:1000007;)
alert tcp $EXTERNAL_NET any -> $HOME_NET any (msg:"server secret"; flow:established,to_client; content:"SERVERSECRET"; sid:1000008;)
drop tcp $EXTERNAL_NET any -> $HOME_NET any (msg:"inbound exploit"; content:"exploit-me"; sid:1000009;)
"""


def start(lab, capture_dir, tmp_path, rules=RULES):
    rules_path = tmp_path / "test.rules"
    rules_path.write_text(rules)
    conf = nl.make_config(lab.mode, capture_dir) + '\n[rules]\nfiles = ["test.rules"]\n'
    (tmp_path / "rec-out").mkdir()
    (tmp_path / "rec-hp").mkdir()
    for d in ("rec-out", "rec-hp"):
        (tmp_path / d).chmod(0o777)
    p = lab.spawn(lab.out_ns, PYTHON, str(NSTOOL), "serve-record", "--dir", str(tmp_path / "rec-out"),
                  "--reply", "SERVERSECRET ok", str(RECORD_PORT))
    p.wait_line("ready", 10)
    p = lab.spawn(lab.hp_ns, PYTHON, str(NSTOOL), "serve-record", "--dir", str(tmp_path / "rec-hp"),
                  str(HP_RECORD_PORT))
    p.wait_line("ready", 10)
    wall = lab.start_wall(config_text=conf, config_path=tmp_path / "wall.toml", capture_dir=capture_dir)
    return wall


def send(lab, ns, host, port, *parts, gap=0.0, read=0.5):
    argv = [PYTHON, str(NSTOOL), "tcp-send", host, str(port), "--gap", str(gap), "--read", str(read)]
    for part in parts:
        argv += ["--part", part]
    r = lab.run(ns, *argv, timeout=20)
    return json.loads(r.stdout.strip().splitlines()[-1])


def received(tmp_path, side, port, n=None) -> list[bytes]:
    d = tmp_path / ("rec-out" if side == "out" else "rec-hp")
    files = sorted(d.glob("%d-*.bin" % port), key=lambda f: int(f.stem.split("-")[1]))
    return [f.read_bytes() for f in files]


def wait_received(tmp_path, side, port, count, what):
    nl.wait_until(lambda: len(received(tmp_path, side, port)) >= count, timeout=5, what=what)


def alerts(capture_dir, sid=None):
    evs = [e for e in nl.read_events(capture_dir) if e.get("event_type") == "alert"]
    if sid is not None:
        evs = [e for e in evs if e["alert"]["signature_id"] == sid]
    return evs


def wait_events(capture_dir, pred, what, timeout=5):
    nl.wait_until(lambda: pred(nl.read_events(capture_dir)), timeout=timeout, what=what)


@pytest.mark.parametrize("mode", MODES)
def test_replace_drop_pass_and_alerts(lab, capture_dir, tmp_path, mode):
    wall = start(lab, capture_dir, tmp_path)
    out_ip = nl.OUTSIDE_IP
    # 1. replace: the server gets /ben/sh; the honeypot's side of the capture keeps /bin/sh.
    r = send(lab, lab.hp_ns, out_ip, RECORD_PORT, "run /bin/sh now", "again /bin/sh", gap=0.2)
    assert r["connected"], r
    wait_received(tmp_path, "out", RECORD_PORT, 1, "first connection recorded")
    nl.wait_until(lambda: b"again" in received(tmp_path, "out", RECORD_PORT)[0], timeout=5, what="both parts")
    got = received(tmp_path, "out", RECORD_PORT)[0]
    assert got == b"run /ben/sh nowagain /ben/sh", got
    wait_events(capture_dir, lambda evs: any(e.get("event_type") == "alert" for e in evs), "alert for sid 1000001")
    a = alerts(capture_dir, 1000001)
    assert len(a) == 1, a  # one per flow, though two packets matched
    assert a[0]["alert"]["action"] == "allowed"
    assert a[0]["alert"]["replaced"] is True
    assert a[0]["alert"]["rev"] == 2 and a[0]["alert"]["severity"] == 1
    assert a[0]["alert"]["category"] == "Executable code was detected"
    assert "/bin/sh" in a[0]["payload_printable"]
    assert a[0]["direction"] == "to_server" and a[0]["honeypot"] == "hp1"
    for k in ("timestamp", "flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "community_id"):
        assert k in a[0], k

    # 2. drop with nocase: nothing of it arrives, nor anything later on the flow.
    r = send(lab, lab.hp_ns, out_ip, RECORD_PORT, "hello", "run evilCMD x", "after", gap=0.3, read=0.3)
    assert r["connected"], r
    wait_received(tmp_path, "out", RECORD_PORT, 2, "second connection recorded")
    wait_events(capture_dir, lambda evs: any(e.get("event_type") == "drop" for e in evs), "drop event")
    time.sleep(0.5)  # the later part had its chance to arrive (it must not)
    got = received(tmp_path, "out", RECORD_PORT)[1]
    assert got == b"hello", got
    a = alerts(capture_dir, 1000002)
    assert len(a) == 1 and a[0]["alert"]["action"] == "blocked", a
    drops = [e for e in nl.read_events(capture_dir) if e.get("event_type") == "drop"]
    assert drops and drops[0]["drop"]["reason"] == "rules" and drops[0]["drop"]["signature_id"] == 1000002

    # 3. pass over drop: "allowme badword" arrives whole; no alert of 1000004.
    r = send(lab, lab.hp_ns, out_ip, RECORD_PORT, "allowme badword")
    wait_received(tmp_path, "out", RECORD_PORT, 3, "third connection recorded")
    nl.wait_until(lambda: received(tmp_path, "out", RECORD_PORT)[2] == b"allowme badword", timeout=5,
                  what="pass rule let it through")
    assert alerts(capture_dir, 1000004) == [] and alerts(capture_dir, 1000003) == []

    # 4. pcre, offset/depth, distance/within: must and must-not.
    send(lab, lab.hp_ns, out_ip, RECORD_PORT, "WGET  HTTP://evil.example/x")      # pcre i: match
    send(lab, lab.hp_ns, out_ip, RECORD_PORT, "wget ftp://evil")                   # no match
    send(lab, lab.hp_ns, out_ip, RECORD_PORT, "xxMAGIC")                           # offset 2 depth 7: match
    send(lab, lab.hp_ns, out_ip, RECORD_PORT, "xxxxxMAGIC")                        # ends at 10, past 2+7: no match
    send(lab, lab.hp_ns, out_ip, RECORD_PORT, "USER root")                         # distance 1 within 4: match
    send(lab, lab.hp_ns, out_ip, RECORD_PORT, "USER xxxxxroot")                    # too far: no match
    wait_received(tmp_path, "out", RECORD_PORT, 9, "all probes recorded")
    wait_events(capture_dir, lambda evs: len([e for e in evs if e.get("event_type") == "alert"]) >= 5,
                "alerts of the probes")
    time.sleep(0.3)
    assert len(alerts(capture_dir, 1000005)) == 1
    assert len(alerts(capture_dir, 1000006)) == 1
    assert len(alerts(capture_dir, 1000007)) == 1
    # 5. flow:established,to_client: the server's reply on the honeypot's own connection.
    sec = alerts(capture_dir, 1000008)
    assert sec and all(e["direction"] == "to_client" for e in sec), sec
    flows_with_secret = {e["flow_id"] for e in sec}
    assert len(flows_with_secret) == len(sec)  # one per flow

    # 6. inbound drop: the honeypot never sees it.
    r = send(lab, lab.out_ns, lab.public_ip, HP_RECORD_PORT, "please exploit-me", "more", gap=0.3, read=0.3)
    assert r["connected"], r
    wait_received(tmp_path, "hp", HP_RECORD_PORT, 1, "inbound connection recorded")
    time.sleep(0.5)
    assert received(tmp_path, "hp", HP_RECORD_PORT)[0] == b"", received(tmp_path, "hp", HP_RECORD_PORT)
    a = alerts(capture_dir, 1000009)
    assert len(a) == 1 and a[0]["alert"]["action"] == "blocked"

    # The log has a line per alert; the capture keeps both sides of the replace.
    log = "\n".join(nl.read_log(capture_dir))
    assert 'Alert TCP (rule 1:1000001:2 "shell path out", replaced)' in log, log[-2000:]
    assert 'Drop TCP (rule 1:1000002:0 "evil command")' in log
    wall.stop()
    inside = nl.pcaps(capture_dir, "inside")
    outside = nl.pcaps(capture_dir, "outside")
    ins = "".join(bytes(f).decode("latin-1") for p in inside for f in nl.read_pcap(p))
    outs = "".join(bytes(f).decode("latin-1") for p in outside for f in nl.read_pcap(p))
    assert "run /bin/sh now" in ins and "run /ben/sh now" in outs
    assert "run /bin/sh now" not in outs
    # Alerts show in `honeynet report` and `honeynet flows`.
    r = subprocess.run([nl.binary_path(), "report", str(capture_dir)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Alerts of the inline rules" in r.stdout, r.stdout[-3000:]
    row = [l for l in r.stdout.splitlines() if "shell path out" in l]
    assert row and row[0].split()[0] == "1000001", r.stdout[-3000:]
    r = subprocess.run([nl.binary_path(), "flows", "--json", str(capture_dir)], capture_output=True, text=True,
                       timeout=60)
    flows = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert any("sid 1000002 evil command (blocked)" in f.get("alerts", []) for f in flows), flows
    # (The checksums of the rewritten frames are checked in tests/unit/engine_rules_test.cpp: on these
    # veths the kernel leaves every TCP checksum partial, in the pcaps too, and the receiver trusts it.)


def test_split_content_is_not_matched_per_packet(lab, capture_dir, tmp_path):
    """The documented gap (docs/rules.md): rules match each packet's payload,
    not the reassembled stream, so content split across segments passes."""
    start(lab, capture_dir, tmp_path)
    r = send(lab, lab.hp_ns, nl.OUTSIDE_IP, RECORD_PORT, "run /bi", "n/sh now", gap=0.3)
    assert r["connected"]
    wait_received(tmp_path, "out", RECORD_PORT, 1, "recorded")
    nl.wait_until(lambda: received(tmp_path, "out", RECORD_PORT)[0] == b"run /bin/sh now", timeout=5,
                  what="both segments, unchanged")
    assert alerts(capture_dir, 1000001) == []


def test_broken_rules_refused_with_file_and_line(lab, capture_dir, tmp_path, honeynet_bin):
    rules = tmp_path / "broken.rules"
    rules.write_text('alert tcp any any -> any any (content:"ok"; sid:1;)\n'
                     'alert tcp any any -> any any (content:"x"; depth:abc; sid:2;)\n'
                     'alert tcp any any -> any any (content:"y" sid:3;)\n')
    conf = tmp_path / "wall.toml"
    conf.write_text(nl.make_config("bridge", capture_dir) + '\n[rules]\nfiles = ["broken.rules"]\n')
    r = subprocess.run([honeynet_bin, "wall", "--check", "--config", str(conf)], capture_output=True, text=True)
    assert r.returncode == 2, r
    assert "%s:2: depth" % rules in r.stderr, r.stderr
    assert "%s:3:" % rules in r.stderr, r.stderr  # every error, not just the first
    r = subprocess.run([honeynet_bin, "rules", "check", str(rules)], capture_output=True, text=True)
    assert r.returncode == 2 and "%s:2:" % rules in r.stderr, r
    # The wall itself refuses to start.
    w = lab.start_wall(config_path=conf, config_text=conf.read_text(), capture_dir=capture_dir, wait_ready=False)
    assert w.wait(10) == 2
    assert "%s:2:" % rules in w.output()


def test_rules_check_coverage_and_strict(tmp_path, honeynet_bin):
    rules = tmp_path / "et.rules"
    rules.write_text('alert tcp any any -> any any (content:"ok"; sid:1;)\n'
                     'alert http any any -> any any (http.uri; content:"/x"; sid:2;)\n'
                     'alert tcp any any -> any any (content:"a"; byte_test:1,>,2,0; sid:3;)\n')
    r = subprocess.run([honeynet_bin, "rules", "check", str(rules)], capture_output=True, text=True)
    assert r.returncode == 0, r
    assert "1 loaded, 2 skipped" in r.stdout
    assert "%s:3: sid 3: keyword 'byte_test' is not supported: rule skipped" % rules in r.stderr
    r = subprocess.run([honeynet_bin, "rules", "check", "--strict", str(rules)], capture_output=True, text=True)
    assert r.returncode == 2 and "%s:2:" % rules in r.stderr


def test_read_rules_offline_prints_alerts(lab, capture_dir, tmp_path, honeynet_bin):
    """`honeynet read --rules` over the capture raises what the wall raised."""
    wall = start(lab, capture_dir, tmp_path, rules="")  # capture only, no rules inline
    send(lab, lab.hp_ns, nl.OUTSIDE_IP, RECORD_PORT, "run /bin/sh now")
    wait_received(tmp_path, "out", RECORD_PORT, 1, "recorded")
    wall.stop()
    rules = tmp_path / "offline.rules"
    rules.write_text(RULES)
    r = subprocess.run([honeynet_bin, "read", "--rules", str(rules), "--config", str(tmp_path / "wall.toml"),
                        str(capture_dir)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    sids = [l["alert"]["signature_id"] for l in lines]
    assert sids.count(1000001) == 1, lines
    assert 1000008 in sids  # the server's reply, to_client
