"""Helpers the lab integration tests share: running `honeynet`, and a telnet
login from the attacker host (hn-inet) into a guest."""
from __future__ import annotations

import json
import subprocess
import sys

import netlab as nl

# A telnet client run in hn-inet (the attacker, 192.0.2.66). Refuses every
# option, logs in, runs each command between markers, then types the last
# line as it is and reads until the guest closes the connection. Prints JSON
# {"outputs": [...], "last": "..."} or {"error": "..."}. Stdlib only; searches
# only the new part of the buffer (a 5 MB cat must not cost O(n^2)).
TELNET_CLIENT = r'''
import json, socket, sys, time
host, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
cmds, last = json.loads(sys.argv[4]), sys.argv[5]
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
s = socket.create_connection((host, 23), timeout=10)
s.settimeout(0.2)
buf = bytearray()
scanned = 0
st = {"state": 0, "cmd": 0}
def feed(data):
    out = bytearray()
    if st["state"] == 0 and IAC not in data:
        buf.extend(data); return
    for c in data:
        state = st["state"]
        if state == 0:
            if c == IAC: st["state"] = 1
            else: buf.append(c)
        elif state == 1:
            if c == IAC: buf.append(c); st["state"] = 0
            elif c in (DO, DONT, WILL, WONT): st["cmd"] = c; st["state"] = 2
            elif c == SB: st["state"] = 3
            else: st["state"] = 0
        elif state == 2:
            if st["cmd"] == DO: out += bytes([IAC, WONT, c])
            if st["cmd"] == WILL: out += bytes([IAC, DONT, c])
            st["state"] = 0
        elif state == 3:
            if c == IAC: st["state"] = 4
        else:
            st["state"] = 0 if c == SE else 3
    if out: s.sendall(out)
def reset():
    global scanned
    del buf[:]
    scanned = 0
def expect(word, timeout):
    global scanned
    w = word.encode()
    end = time.time() + timeout
    while buf.find(w, max(0, scanned - len(w))) < 0:
        scanned = len(buf)
        if time.time() > end:
            raise SystemExit(json.dumps({"error": "no %r within %ds; got %r" % (word, timeout, bytes(buf[-300:]))}))
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            raise SystemExit(json.dumps({"error": "closed; got %r" % bytes(buf[-300:])}))
        feed(d)
expect("login:", 30); s.sendall(user.encode() + b"\r\n")
expect("assword:", 10); s.sendall(password.encode() + b"\r\n")
reset()
s.sendall(b"echo HN''LOGGEDIN\r\n"); expect("HNLOGGEDIN", 20)
outs = []
for i, c in enumerate(cmds):
    reset()
    s.sendall(("echo HN''BEGIN%d; %s; echo HN''END%d\r\n" % (i, c, i)).encode())
    expect("HNEND%d" % i, 120)
    text = buf.decode("utf-8", "replace")
    text = text[text.rfind("HNBEGIN%d" % i) + len("HNBEGIN%d" % i):text.rfind("HNEND%d" % i)]
    outs.append(text.replace("\r", "").strip())
reset()
s.sendall(last.encode() + b"\r\n")
end = time.time() + 30
while time.time() < end:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    if not d:
        break
    feed(d)
print(json.dumps({"outputs": outs, "last": buf.decode("utf-8", "replace")}))
'''


def hn(binary, *args, timeout=120, check=True) -> subprocess.CompletedProcess:
    """Runs `honeynet ARGS`, output merged; raises with the output on failure."""
    p = subprocess.run([binary, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("honeynet %s failed (%d):\n%s" % (" ".join(map(str, args)), p.returncode, p.stdout))
    return p


def telnet(host: str, commands: list, last: str = "exit", timeout: float = 600) -> dict:
    """Logs in as root/root from the attacker host, runs commands, types `last`."""
    p = subprocess.run(["ip", "netns", "exec", "hn-inet", nl.PYTHON, "-c", TELNET_CLIENT, host, "root", "root",
                        json.dumps(commands), last], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, "telnet client gave no result (rc %d): %s %s" % (p.returncode, p.stdout[-2000:], p.stderr)
    r = json.loads(lines[-1])
    assert "error" not in r, "telnet to %s: %s" % (host, r["error"])
    return r


# The head of a NAT lab's config (the built-in lab's addresses); tests add
# their [[honeypot]] tables.
NAT_LAB_HEAD = """\
mode = "nat"

[inside]
gateway_ip = "10.0.0.1/24"

[outside]
gateway = "192.0.2.1"
"""


def lab_namespaces() -> list:
    """The lab's namespaces on this machine: hn-wall, hn-inet, every honeypot's hn-g-*/hn-u-*."""
    return [n for n in nl.list_netns() if n in ("hn-wall", "hn-inet") or n.startswith(("hn-g-", "hn-u-"))]


def lab_data_dir(tmp_path, binary):
    """For a fixture: a fresh data dir (skips while another lab is up); the
    lab is taken down afterwards and no namespace of it may be left."""
    import pytest
    present = lab_namespaces()
    if present:
        pytest.skip("a lab is running on this machine (%s): stop it with `honeynet down` first" % ", ".join(present))
    d = tmp_path / "data"
    yield d
    r = hn(binary, "down", "--force", "--data-dir", d, check=False, timeout=90)
    if r.returncode != 0:
        print("teardown: honeynet down --force:\n" + r.stdout, file=sys.stderr)
    assert not lab_namespaces(), lab_namespaces()


def proc_status(pid: int) -> dict:
    """/proc/PID/status as {field: value text}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out
