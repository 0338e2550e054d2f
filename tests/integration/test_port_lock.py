"""Honeypot impersonation in the lab (issue 15, item 5): each honeypot's
bridge port (hn-vethI in hn-wall) is locked to its guest's MAC and IPv4
address, so one guest cannot speak as another: not to spend its budget, not
to blur who did what, not to take over its inbound sessions.

Root in guest ns1 (a packet socket in its network namespace, which guest root
may open: it holds CAP_NET_RAW there) sends frames as ns2 would. Counted: what
reaches the outside (hn-inet0), and ns2's own ARP view from ns1's frames.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

import craft as cr
import labtools
import netlab as nl
from labtools import hn

CONFIG = "# test_port_lock.py\n" + labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "ns1"
kind = "netns"
ip = "10.0.0.2"
public_ip = "192.0.2.10"

[[honeypot]]
name = "ns2"
kind = "netns"
ip = "10.0.0.3"
public_ip = "192.0.2.11"
"""
OUT_HOST = "192.0.2.20"  # an outside host in hn-inet


@pytest.fixture
def data_dir(tmp_path, honeynet_bin):
    yield from labtools.lab_data_dir(tmp_path, honeynet_bin)


def neigh_mac(ns: str, ip: str) -> str:
    out = subprocess.run(["ip", "-n", ns, "-j", "neigh", "show", ip], capture_output=True, text=True).stdout
    for n in json.loads(out or "[]"):
        if n.get("lladdr"):
            return n["lladdr"]
    return ""


def inbound_banner(ip: str) -> bool:
    s = cr.inet_socket("hn-inet")
    s.settimeout(5)
    try:
        s.connect((ip, 23))
        data = b""
        deadline = time.monotonic() + 10
        while b"login" not in data.lower() and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return b"login" in data.lower()
    except OSError:
        return False
    finally:
        s.close()


def test_guest_cannot_speak_as_another(honeynet_bin, data_dir, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(CONFIG)
    hn(honeynet_bin, "up", str(config), "--detach", "--data-dir", data_dir, timeout=240)
    ns1, ns2 = "hn-g-ns1", "hn-g-ns2"
    mac1, mac2 = cr.link_mac(ns1, "eth0"), cr.link_mac(ns2, "eth0")
    assert mac1 != mac2
    # The gateway's MAC as ns1 knows it.
    subprocess.run(["ip", "netns", "exec", ns1, "ping", "-c1", "-W2", "10.0.0.1"], capture_output=True)
    gw = nl.wait_until(lambda: neigh_mac(ns1, "10.0.0.1"), timeout=10, what="ns1 to resolve its gateway")
    rules = (data_dir / "lab" / "port-lock.nft").read_text()
    assert "hn-veth0" in rules and mac1 in rules and "10.0.0.2" in rules, rules

    out = cr.Sniffer("hn-inet", "hn-inet0")
    at_ns2 = cr.Sniffer(ns2, "eth0")
    tx = cr.packet_socket(ns1, "eth0")
    try:
        def udp(src_mac, src_ip, tag, dst_mac=gw):
            return cr.eth(dst_mac, src_mac, 0x0800, cr.ipv4(src_ip, OUT_HOST, 17, cr.udp(src_ip, OUT_HOST, 41000, 7000, tag)))
        attempts = [
            ("ns2's MAC and IP", udp(mac2, "10.0.0.3", b"hn-lock-both")),
            ("ns2's IP from ns1's MAC", udp(mac1, "10.0.0.3", b"hn-lock-ip")),
            ("ns2's MAC with ns1's IP", udp(mac2, "10.0.0.2", b"hn-lock-mac")),
            ("ARP reply: 10.0.0.3 is at ns1", cr.eth("ff:ff:ff:ff:ff:ff", mac1, 0x0806,
                                                      cr.arp(2, mac1, "10.0.0.3", "ff:ff:ff:ff:ff:ff", "10.0.0.3"))),
            ("ARP from ns2's MAC (steals its bridge port)", cr.eth("ff:ff:ff:ff:ff:ff", mac2, 0x0806,
                                                                   cr.arp(1, mac2, "10.0.0.3", "00:00:00:00:00:00", "10.0.0.1"))),
            ("VLAN-tagged frame", cr.eth(gw, mac1, 0x0800, cr.ipv4("10.0.0.2", OUT_HOST, 17,
                                         cr.udp("10.0.0.2", OUT_HOST, 41001, 7000, b"hn-lock-vlan")), vlans=((0x8100, 5),))),
        ]
        control = udp(mac1, "10.0.0.2", b"hn-lock-control")
        cr.send_all(tx, [f for _, f in attempts])
        cr.send_all(tx, [control])
        assert out.wait_for(lambda f: b"hn-lock-control" in f, timeout=10), "ns1's own traffic must get out"
        got = [f for f in out.snapshot() if b"hn-lock-" in f and b"hn-lock-control" not in f]
        assert not got, "frames as another honeypot reached the outside: %d" % len(got)
        # ns2 never saw ns1 speak for 10.0.0.3 or with ns2's MAC.
        stolen = [f for f in at_ns2.snapshot() if f[6:12] == cr.mac_bytes(mac2) or
                  (f[12:14] == b"\x08\x06" and f[28:32] == cr.ip_bytes("10.0.0.3"))]
        assert not stolen, "ns2 received frames forged as itself"
    finally:
        tx.close()
        out.close()
        at_ns2.close()
    # ns2's inbound sessions are still its own (the bridge learned nothing from the forgeries).
    assert inbound_banner("192.0.2.11"), "inbound telnet to ns2 after ns1's forgeries"
    table = subprocess.run(["ip", "netns", "exec", "hn-wall", "nft", "list", "table", "bridge", "honeynet_port_lock"],
                           capture_output=True, text=True).stdout
    dropped = sum(int(w.split()[0]) for w in table.split("counter packets ")[1:])
    assert dropped >= len(attempts) - 1, table  # the VLAN frame may be dropped by the wall instead
    hn(honeynet_bin, "down", "--data-dir", data_dir, timeout=90)
