"""The host's own network stack sees none of the data ports' frames while the
wall runs (src/io/ingress_shield.h): an nftables netdev table owned by the
wall's netlink socket, a drop-everything ingress chain per port. The wall
still forwards and captures (AF_PACKET sees a frame before the ingress hook);
the table is gone when the wall stops, also when it is killed."""
import json
import signal

import pytest

import netlab as nl
from netlab import MODES


def tables(lab) -> list[dict]:
    r = lab.run(lab.wall_ns, "nft", "-j", "list", "tables", check=True)
    return [o["table"] for o in json.loads(r.stdout)["nftables"] if "table" in o]


def shield_of(lab, wall) -> dict:
    name = "honeynet_wall_%d" % wall.pid
    found = [t for t in tables(lab) if t["family"] == "netdev" and t["name"] == name]
    assert found, "no table netdev %s in the wall's namespace: %s" % (name, tables(lab))
    r = lab.run(lab.wall_ns, "nft", "-j", "list", "table", "netdev", name, check=True)
    objs = json.loads(r.stdout)["nftables"]
    text = lab.run(lab.wall_ns, "nft", "list", "table", "netdev", name, check=True).stdout
    return {"table": next(o["table"] for o in objs if "table" in o), "text": text,
            "chains": [o["chain"] for o in objs if "chain" in o],
            "rules": [o["rule"] for o in objs if "rule" in o]}


def ip_in_receives(lab) -> int:
    """IP datagrams the wall namespace's own stack took in (/proc/net/snmp, Ip: InReceives)."""
    lines = [ln.split() for ln in lab.run(lab.wall_ns, "cat", "/proc/net/snmp", check=True).stdout.splitlines()
             if ln.startswith("Ip:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("InReceives")])


@pytest.mark.parametrize("mode", MODES)
def test_host_stack_sees_no_frame_of_the_ports(lab, honeynet_bin, capture_dir, mode):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    assert "the host's own network stack sees none of their frames" in wall.text(), wall.output()
    sh = shield_of(lab, wall)
    # nft 1.0.6's JSON misprints table flags: the text form says it
    assert "flags owner" in sh["text"], sh["text"]
    by_name = {c["name"]: c for c in sh["chains"]}
    for port in (nl.WALL_IN, nl.WALL_OUT):
        c = by_name.get(port)
        assert c is not None, "no chain for %s: %s" % (port, sh["chains"])
        assert (c["hook"], c["policy"], c["type"]) == ("ingress", "drop", "filter"), c
    assert sh["rules"] == [], sh["rules"]
    before = ip_in_receives(lab)
    # Through the wall both ways: telnet in, pings out. In nat mode every one of
    # these frames is addressed to a port's own MAC: without the shield the
    # namespace's stack would take each in (and drop it: no address there).
    for _ in range(3):
        banner = lab.tcp_banner(lab.out_ns, lab.public_ip, 23)
        assert nl.HONEYPOT_BANNER in banner, "no banner through the wall: %r" % banner
    r = lab.ping(lab.hp_ns, nl.OUTSIDE_IP, count=20, extra=["-i", "0.01"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert ip_in_receives(lab) == before, "the wall namespace's own IP stack took in frames from the ports"
    assert wall.stop() == 0, wall.output()
    names = [t["name"] for t in tables(lab)]
    assert "honeynet_wall_%d" % wall.pid not in names, names
    # and the frames were captured all the same (AF_PACKET is ahead of the hook)
    assert nl.banner_in_pcaps(capture_dir), "the telnet banner is not in the outside pcaps"


def test_shield_goes_with_a_killed_wall(lab, honeynet_bin, capture_dir):
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    name = "honeynet_wall_%d" % wall.pid
    shield_of(lab, wall)
    wall.send_signal(signal.SIGKILL)
    wall.wait(10)
    nl.wait_until(lambda: name not in [t["name"] for t in tables(lab)], 5, what="the owned table to go")


def test_reopened_port_is_shielded_again(lab, honeynet_bin, capture_dir):
    """A deleted and re-created interface gets a chain of its own (the old one held the old device)."""
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    lab.run(lab.wall_ns, "ip", "link", "del", nl.WALL_IN, check=True)
    wall.wait_line("the interface is gone", 5)
    lab.recreate_inside()
    wall.wait_line("forwarding again", 10)
    chains = [c["name"] for c in shield_of(lab, wall)["chains"]]
    assert nl.WALL_IN + "_2" in chains, chains
    nl.wait_until(lambda: nl.HONEYPOT_BANNER in lab.tcp_banner(lab.out_ns, lab.public_ip, 23), 10,
                  interval=0.3, what="telnet through the reopened port")
    assert "not shielded" not in wall.text(), wall.output()
    assert wall.stop() == 0, wall.output()
