"""The lab on a host's real uplink ([uplink], issue 16), in namespaces this
test builds itself and never on the machine's own interfaces:

    world ns (198.51.100.0/24)          isp ns                       host ns
    attacker .66, admin .200,   wan0 ── isp1  198.51.100.1    isp0 ── eth0 203.0.113.10/24
    outside server .50                        203.0.113.1             default via 203.0.113.1
                                              169.254.169.254 (metadata)
                                                                  `honeynet up` runs here and
                                                                  makes hn-wall, hn-g-* itself

nat mode; hp1's public_ip is the host's own address (shared), hp2's an extra
address on the host's /24 (the host answers ARP for it); management_ports =
[22], management_from = [the admin /32]. What a user checks:
- the attacker logs in over telnet to both honeypots (their host names);
- the admin reaches the host's port 22, the attacker does not;
- the TCP budget is exact at the outside server, and hp2's connections come
  from its public address (hp1's from the host's);
- hp1, with budget left, reaches neither the metadata address (which the host
  itself does reach) nor the host's port 22;
- the host's own outbound connections work;
- after SIGKILL of the honeywall both honeypots are unreachable and cannot
  reach out, while the host's management and outbound traffic still work;
- `down` puts the host back byte for byte (addresses, links, routes of every
  table, rules, proxy neighbours, nftables, qdiscs, sysctls).
And: `up` refuses to start when nothing listens on a management port, and
leaves the host untouched.

The lab's namespace names are fixed: run under `flock /tmp/hn-lab.lock` when
other lab tests may run at the same time.
"""
import difflib
import json
import re
import os
import signal
import subprocess
from pathlib import Path

import pytest

import labtools
import netlab as nl
from labtools import hn

TAG = "-%d" % os.getpid()
HOST_NS, ISP_NS, WORLD_NS = "hn-host" + TAG, "hn-isp" + TAG, "hn-world" + TAG
HOST_IP, EXTRA_IP, ISP_IP = "203.0.113.10", "203.0.113.20", "203.0.113.1"
ATTACKER, ADMIN, SERVER, WORLD_GW = "198.51.100.66", "198.51.100.200", "198.51.100.50", "198.51.100.1"
METADATA = "169.254.169.254"
TRANSIT_HOST = "198.18.254.1"

CONFIG = """\
# test_uplink.py: the shared and the extra-address shapes
mode = "nat"

[inside]
gateway_ip = "10.0.0.1/24"

[uplink]
interface = "eth0"
management_ports = [22]
management_from = ["%s/32"]

[[honeypot]]
name = "hp1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "%s"

[[honeypot]]
name = "hp2"
kind = "netns"
ip = "10.0.0.3"
public_ip = "%s"
""" % (ADMIN, HOST_IP, EXTRA_IP)

# A TCP server: on each ADDR:PORT, accepts, prints "ACCEPT <peer ip> <port>",
# writes "<banner> <port>\n" and closes.
SERVER_PY = r"""
import socket, sys, threading
banner = sys.argv[1]
def serve(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(64)
    while True:
        c, peer = s.accept()
        print("ACCEPT %s %d" % (peer[0], port), flush=True)
        try: c.sendall(("%s %d\n" % (banner, port)).encode())
        except OSError: pass
        c.close()
for spec in sys.argv[2:]:
    a, p = spec.rsplit(":", 1)
    threading.Thread(target=serve, args=(a, int(p)), daemon=True).start()
print("listening", flush=True)
threading.Event().wait()
"""

# Connects (optionally from a source address) and prints what the server
# sent, or "FAIL <reason>".
CONNECT_PY = r"""
import socket, sys
dst, port, src, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
try:
    s = socket.socket(); s.settimeout(timeout)
    if src: s.bind((src, 0))
    s.connect((dst, port))
    data = s.recv(200)
    print("OK " + data.decode("utf-8", "replace").strip())
except OSError as e:
    print("FAIL %s" % e)
"""


# Bulk TCP: "serve" (in the honeypot) takes bytes on 5001 and answers their
# count; sends N bytes on 5002 (N read as a line). "up HOST N" sends N to
# 5001; "down HOST N" reads N from 5002. Prints "OK <bytes> <seconds>".
BULK_PY = r"""
import socket, sys, threading, time
def serve():
    def sink(c):
        n = 0
        while True:
            d = c.recv(1 << 16)
            if not d: break
            n += len(d)
        c.sendall(str(n).encode()); c.close()
    def source(c):
        n = int(c.makefile().readline()); buf = b"d" * (1 << 16)
        while n > 0:
            c.sendall(buf[:min(n, len(buf))]); n -= min(n, len(buf))
        c.close()
    for port, fn in ((5001, sink), (5002, source)):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(4)
        threading.Thread(target=lambda s=s, fn=fn: [fn(s.accept()[0]) for _ in iter(int, 1)], daemon=True).start()
    print("listening", flush=True); threading.Event().wait()
mode = sys.argv[1]
if mode == "serve":
    serve()
host, n = sys.argv[2], int(sys.argv[3])
t0 = time.monotonic()
if mode == "up":
    s = socket.create_connection((host, 5001), timeout=60); buf = b"u" * (1 << 16); left = n
    while left > 0:
        s.sendall(buf[:min(left, len(buf))]); left -= min(left, len(buf))
    s.shutdown(socket.SHUT_WR); got = int(s.recv(64) or b"0")
else:
    s = socket.create_connection((host, 5002), timeout=60); s.sendall(b"%d\n" % n); got = 0
    while True:
        d = s.recv(1 << 16)
        if not d: break
        got += len(d)
print("OK %d %.2f" % (got, time.monotonic() - t0))
"""
BULK_BYTES = 50 << 20


def sh(ns, *argv, check=True, timeout=30, env=None):
    r = subprocess.run(["ip", "netns", "exec", ns, *map(str, argv)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise AssertionError("in %s: %s failed (%d): %s" % (ns, " ".join(map(str, argv)), r.returncode, r.stdout))
    return r


def connect(ns, dst, port, src="", timeout=3.0) -> str:
    return sh(ns, nl.PYTHON, "-c", CONNECT_PY, dst, port, src, timeout, timeout=timeout + 10).stdout.strip()


def from_hp(kind, name, public_ip, targets, timeout=2) -> list:
    """Connections from inside honeypot `name` to each (dst, port), one after
    the other; per target "OK <what the server sent>" or "FAIL ...". A
    namespace honeypot: from its network namespace; a UML guest: busybox nc
    in a telnet session of the attacker."""
    if kind == "netns":
        return [connect("hn-g-" + name, dst, port, timeout=timeout) for dst, port in targets]
    cmds = ["r=$(nc -w %d %s %d </dev/null 2>/dev/null); if [ -n \"$r\" ]; then echo \"OK $r\"; else echo FAIL; fi"
            % (timeout, dst, port) for dst, port in targets]
    p = subprocess.run(["ip", "netns", "exec", WORLD_NS, nl.PYTHON, "-c", labtools.TELNET_CLIENT, public_ip, "root",
                        "root", json.dumps(cmds), "exit"], stdout=subprocess.PIPE, text=True, timeout=300)
    res = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
    assert "error" not in res, res
    return [o.strip() for o in res["outputs"]]


def host_state() -> str:
    """Everything `down` must put back, as text (once IPv6 DAD on eth0 is over)."""
    nl.wait_until(lambda: "tentative" not in sh(HOST_NS, "ip", "addr").stdout, 10, what="eth0's IPv6 DAD")
    parts = []
    for argv in (["ip", "-d", "addr"], ["ip", "-d", "link"], ["ip", "route", "show", "table", "all"],
                 ["ip", "-6", "route", "show", "table", "all"], ["ip", "rule"], ["ip", "neigh", "show", "proxy"],
                 ["nft", "list", "ruleset"], ["tc", "qdisc", "show"]):
        parts.append("$ " + " ".join(argv) + "\n" + sh(HOST_NS, *argv, check=False).stdout)
    sysctls = sh(HOST_NS, "sh", "-c", "cd /proc/sys/net/ipv4 && grep -r . ip_forward conf/*/forwarding "
                 "conf/*/proxy_arp conf/*/rp_filter neigh/eth0/proxy_delay", check=False).stdout
    parts.append("$ sysctls\n" + sysctls)
    return "\n".join(parts)


class Uplink:
    def __init__(self):
        self.procs = []

    def build(self):
        for ns in (HOST_NS, ISP_NS, WORLD_NS):
            nl.run(["ip", "netns", "add", ns])
            nl.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        nl.run(["ip", "-n", HOST_NS, "link", "add", "eth0", "type", "veth", "peer", "name", "isp0", "netns", ISP_NS])
        nl.run(["ip", "-n", ISP_NS, "link", "add", "isp1", "type", "veth", "peer", "name", "wan0", "netns", WORLD_NS])
        nl.run(["ip", "-n", HOST_NS, "addr", "add", HOST_IP + "/24", "dev", "eth0"])
        nl.run(["ip", "-n", HOST_NS, "link", "set", "eth0", "up"])
        nl.run(["ip", "-n", HOST_NS, "route", "add", "default", "via", ISP_IP])
        nl.run(["ip", "-n", ISP_NS, "addr", "add", ISP_IP + "/24", "dev", "isp0"])
        nl.run(["ip", "-n", ISP_NS, "addr", "add", WORLD_GW + "/24", "dev", "isp1"])
        nl.run(["ip", "-n", ISP_NS, "addr", "add", METADATA + "/32", "dev", "lo"])
        for dev in ("isp0", "isp1"):
            nl.run(["ip", "-n", ISP_NS, "link", "set", dev, "up"])
        sh(ISP_NS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        for a in (ATTACKER, ADMIN, SERVER):  # the attacker first: the world's default source
            nl.run(["ip", "-n", WORLD_NS, "addr", "add", a + "/24", "dev", "wan0"])
        nl.run(["ip", "-n", WORLD_NS, "link", "set", "wan0", "up"])
        nl.run(["ip", "-n", WORLD_NS, "route", "add", "default", "via", WORLD_GW])
        self.server = self.spawn(WORLD_NS, "server", SERVER + ":8080", SERVER + ":80")
        self.spawn(ISP_NS, "metadata", METADATA + ":80")

    def spawn(self, ns, banner, *specs):
        p = subprocess.Popen(["ip", "netns", "exec", ns, nl.PYTHON, "-u", "-c", SERVER_PY, banner, *specs],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        assert "listening" in line, line
        return p

    def sshd(self):
        return self.spawn(HOST_NS, "SSH-2.0-hostsshd", "0.0.0.0:22")

    def teardown(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for ns in (HOST_NS, ISP_NS, WORLD_NS):
            if ns in nl.list_netns():
                err = nl.delete_netns(ns)
                assert err is None, err


def accepted(server, since_lines: list) -> list:
    """ACCEPT lines the server printed so far (non-blocking read into since_lines)."""
    os.set_blocking(server.stdout.fileno(), False)
    while True:
        line = server.stdout.readline()
        if not line:
            break
        since_lines.append(line.strip())
    return since_lines


@pytest.fixture
def uplink(tmp_path, honeynet_bin):
    present = labtools.lab_namespaces()
    if present:
        pytest.skip("a lab is running on this machine (%s): stop it with `honeynet down` first" % ", ".join(present))
    u = Uplink()
    u.data = tmp_path / "data"
    u.config = tmp_path / "uplink.toml"
    u.config.write_text(CONFIG)
    u.env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
    try:
        u.build()
        yield u
    finally:
        if HOST_NS in nl.list_netns():
            r = sh(HOST_NS, honeynet_bin, "down", "--force", "--data-dir", u.data, check=False, timeout=120)
            if r.returncode != 0:
                print("teardown: honeynet down --force:\n" + r.stdout)
        u.teardown()
        assert not labtools.lab_namespaces(), labtools.lab_namespaces()


UML_KERNEL = "/usr/bin/linux"
KINDS = ["netns"] + (["uml"] if os.access(UML_KERNEL, os.X_OK) else [])


@pytest.mark.parametrize("kind", KINDS)
def test_uplink_shared_and_extra_address(uplink, honeynet_bin, kind):
    u = uplink
    if kind == "uml":
        # UML guests; Debian's kernel is accepted here so the test does not
        # depend on a 12-minute kernel build (up refuses it otherwise).
        u.config.write_text(CONFIG.replace('kind = "netns"', 'kind = "uml"').replace(
            "[uplink]\n", "[uplink]\naccept_stock_kernel = true\n"))
    u.sshd()
    before = host_state()
    # The host reaches the metadata address itself: if a honeypot cannot, the uplink's rules stopped it.
    assert connect(HOST_NS, METADATA, 80).startswith("OK metadata"), "the topology must route the metadata address"

    r = sh(HOST_NS, honeynet_bin, "up", u.config, "--detach", "--data-dir", u.data, timeout=240, env=u.env)
    assert "lab ready" in r.stdout, r.stdout
    assert "hp1 10.0.0.2/24 = %s" % HOST_IP in r.stdout and "hp2 10.0.0.3/24 = %s" % EXTRA_IP in r.stdout, r.stdout
    st = json.loads(sh(HOST_NS, honeynet_bin, "status", "--json", "--data-dir", u.data).stdout)
    assert st["uplink"]["interface"] == "eth0", st

    # The attacker logs in over telnet to both honeypots.
    for ip, name in ((HOST_IP, "hp1"), (EXTRA_IP, "hp2")):
        p = subprocess.run(["ip", "netns", "exec", WORLD_NS, nl.PYTHON, "-c", labtools.TELNET_CLIENT, ip, "root",
                            "root", json.dumps(["hostname"]), "exit"], stdout=subprocess.PIPE, text=True, timeout=120)
        res = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
        assert "error" not in res, (ip, res)
        assert res["outputs"] == [name], (ip, res)

    # Management: the admin reaches the host's port 22, the attacker does not;
    # port 22 of the extra address is hp2's (nothing listens there).
    assert connect(WORLD_NS, HOST_IP, 22, src=ADMIN) == "OK SSH-2.0-hostsshd 22"
    assert connect(WORLD_NS, HOST_IP, 22, src=ATTACKER).startswith("FAIL")
    assert "hostsshd" not in connect(WORLD_NS, EXTRA_IP, 22, src=ATTACKER)

    # The host's own outbound traffic.
    assert connect(HOST_NS, SERVER, 80) == "OK server 80"

    # hp1, budget left, reaches neither the metadata address nor the host.
    seen = []
    out = from_hp(kind, "hp1", HOST_IP, [(SERVER, 8080), (METADATA, 80), (HOST_IP, 22), (TRANSIT_HOST, 22),
                                         ("172.31.255.1", 22)])
    assert out[0] == "OK server 8080", out
    assert all(x.startswith("FAIL") for x in out[1:]), out
    nl.wait_until(lambda: len(accepted(u.server, seen)) >= 1, 5, what="the server's ACCEPT line")
    assert [l for l in seen if l.endswith(" 8080")] == ["ACCEPT %s 8080" % HOST_IP], seen

    # hp2's TCP budget (9) is exact at the outside server, from its public address.
    seen.clear()
    results = from_hp(kind, "hp2", EXTRA_IP, [(SERVER, 8080)] * 12)
    assert [x.startswith("OK") for x in results] == [True] * 9 + [False] * 3, results
    nl.wait_until(lambda: len(accepted(u.server, seen)) >= 9, 5, what="the server's ACCEPT lines")
    lines = [l for l in accepted(u.server, seen) if l.endswith(" 8080")]
    assert lines == ["ACCEPT %s 8080" % EXTRA_IP] * 9, lines

    # Bulk TCP both ways through the uplink path (eth0 and hn-up0 keep their
    # offloads: GRO super-frames reach the honeywall whole), with no stall.
    if kind == "netns":
        sink = subprocess.Popen(["ip", "netns", "exec", "hn-g-hp1", nl.PYTHON, "-u", "-c", BULK_PY, "serve"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert "listening" in sink.stdout.readline()
            for direction in ("up", "down"):
                r = sh(WORLD_NS, nl.PYTHON, "-c", BULK_PY, direction, HOST_IP, BULK_BYTES, timeout=120)
                got = r.stdout.strip().split()
                assert got[:2] == ["OK", str(BULK_BYTES)], (direction, r.stdout)
                print("bulk %s through the uplink: %d MB in %s s" % (direction, BULK_BYTES >> 20, got[2]))
        finally:
            sink.kill()
            sink.wait()

    # SIGKILL of the honeywall: a black hole for the honeypots, the host is fine.
    state = json.loads((u.data / "lab" / "state.json").read_text())
    wall_pid = state["wall"]["pid"]
    os.kill(wall_pid, signal.SIGKILL)
    nl.wait_until(lambda: not Path("/proc/%d" % wall_pid).exists() or
                  "Z" in Path("/proc/%d/stat" % wall_pid).read_text().split()[2], 5, what="the honeywall to die")
    for ip in (HOST_IP, EXTRA_IP):
        assert connect(WORLD_NS, ip, 23, timeout=3).startswith("FAIL"), ip
    if kind == "netns":  # (a UML guest cannot be logged into now: telnet is what died)
        assert connect("hn-g-hp1", SERVER, 80, timeout=3).startswith("FAIL")
    assert connect(WORLD_NS, HOST_IP, 22, src=ADMIN) == "OK SSH-2.0-hostsshd 22"
    assert connect(HOST_NS, SERVER, 80) == "OK server 80"

    # down: the host exactly as it was.
    r = sh(HOST_NS, honeynet_bin, "down", "--data-dir", u.data, timeout=120)
    assert "restored the host's network (eth0)" in r.stdout, r.stdout
    after = host_state()
    assert after == before, "the host changed:\n" + "".join(
        difflib.unified_diff(before.splitlines(True), after.splitlines(True), "before up", "after down"))
    assert not labtools.lab_namespaces()
    assert connect(WORLD_NS, HOST_IP, 22, src=ATTACKER) == "OK SSH-2.0-hostsshd 22", "management_from is gone too"


def test_uplink_refuses_to_lock_the_operator_out(uplink, honeynet_bin):
    u = uplink
    before = host_state()
    r = sh(HOST_NS, honeynet_bin, "up", u.config, "--detach", "--data-dir", u.data, check=False, timeout=120,
           env=u.env)
    assert r.returncode != 0, r.stdout
    assert "nothing listens on TCP port 22" in r.stdout, r.stdout
    assert not labtools.lab_namespaces()
    assert host_state() == before, "".join(difflib.unified_diff(before.splitlines(True), host_state().splitlines(True)))

    # An SSH session that came in on a port that is not a management port.
    u.sshd()
    env = dict(u.env, SSH_CONNECTION="%s 40000 %s 2222" % (ADMIN, HOST_IP))
    r = sh(HOST_NS, honeynet_bin, "up", u.config, "--detach", "--data-dir", u.data, check=False, timeout=120,
           env=env)
    assert r.returncode != 0 and "came in on %s:2222, which is not a management port" % HOST_IP in r.stdout, r.stdout
    assert host_state() == before


DEDICATED = """\
# test_uplink.py: a dedicated NIC (no address on it), owned by the honeywall
mode = "nat"

[inside]
gateway_ip = "10.0.0.1/24"

[outside]
gateway = "192.0.2.1"

[uplink]
interface = "eth1"

[[honeypot]]
name = "hp1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "192.0.2.10"
"""


def test_uplink_dedicated_nic(uplink, honeynet_bin, tmp_path):
    """eth1 has no address: `up` moves it into hn-wall as the honeywall's
    outside port (nat: the NIC's own MAC answers for 192.0.2.10); the host's
    own eth0 is untouched; `down` gives eth1 back as it was."""
    u = uplink
    nl.run(["ip", "-n", HOST_NS, "link", "add", "eth1", "type", "veth", "peer", "name", "isp2", "netns", ISP_NS])
    nl.run(["ip", "-n", HOST_NS, "link", "set", "eth1", "up"])
    nl.run(["ip", "-n", ISP_NS, "addr", "add", "192.0.2.1/24", "dev", "isp2"])
    nl.run(["ip", "-n", ISP_NS, "link", "set", "isp2", "up"])
    config = tmp_path / "dedicated.toml"
    config.write_text(DEDICATED)

    def normalized():  # the kernel may give eth1 another ifindex when it comes back
        return re.sub(r"(?m)^\d+: |@if\d+|link-netnsid \d+", "#", host_state())
    before = normalized()
    r = sh(HOST_NS, honeynet_bin, "up", config, "--detach", "--data-dir", u.data, timeout=240, env=u.env)
    assert "a dedicated NIC" in r.stdout and "lab ready" in r.stdout, r.stdout
    assert sh(HOST_NS, "ip", "link", "show", "eth1", check=False).returncode != 0, "eth1 belongs to the honeywall"

    p = subprocess.run(["ip", "netns", "exec", WORLD_NS, nl.PYTHON, "-c", labtools.TELNET_CLIENT, "192.0.2.10", "root",
                        "root", json.dumps(["hostname"]), "exit"], stdout=subprocess.PIPE, text=True, timeout=120)
    res = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
    assert res.get("outputs") == ["hp1"], res
    assert connect("hn-g-hp1", SERVER, 8080) == "OK server 8080"
    assert connect("hn-g-hp1", HOST_IP, 22, timeout=2).startswith("FAIL"), "the host has no path to the honeypot"
    assert connect(HOST_NS, SERVER, 80) == "OK server 80", "the host's own traffic (eth0) is untouched"

    state = json.loads((u.data / "lab" / "state.json").read_text())
    os.kill(state["wall"]["pid"], signal.SIGKILL)
    nl.wait_until(lambda: connect(WORLD_NS, "192.0.2.10", 23, timeout=1).startswith("FAIL"), 10,
                  what="hp1 unreachable after SIGKILL of the honeywall")
    r = sh(HOST_NS, honeynet_bin, "down", "--data-dir", u.data, timeout=120)
    assert "gave eth1 back to the host" in r.stdout, r.stdout
    # eth1's carrier and its IPv6 link-local address come back asynchronously (linkwatch, DAD).
    try:
        nl.wait_until(lambda: normalized() == before, 10, interval=0.2, what="the host as it was")
    except AssertionError:
        pass
    after = normalized()
    assert after == before, "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True)))
