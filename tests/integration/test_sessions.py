"""`honeynet sessions` / `honeynet session` against tshark's Follow TCP Stream
(`tshark -z follow,tcp,raw,N`): the same bytes per direction, for crafted
captures (out-of-order, retransmitted and overlapping segments, sequence
numbers that wrap, a reused 5-tuple) and for the capture of a real
honeywall run with a client talking through the wall; and a telnet session
that reads as clean text."""
import os
import random
import socket
import threading

import pytest

import craft
import netlab as nl
import sesscraft as sc
from sesscraft import Conn, Pcap


def compare_with_tshark(binary, pcap_paths, tshark_file, tmp_path, extra=()):
    """Every TCP stream tshark finds in tshark_file: our sessions list it with
    the same endpoints and byte counts, and `session --raw` gives the same
    bytes per direction. Returns the number of streams compared."""
    streams = sc.tshark_streams(tshark_file)
    follow = sc.tshark_follow(tshark_file, streams)
    ours = sc.honeynet_sessions(binary, pcap_paths, *extra)
    assert len(ours) == len(streams), "tshark has %d TCP streams, honeynet sessions %d:\n%s" % (
        len(streams), len(ours), [(s["id"], s["client_port"]) for s in ours])
    for n, mine in zip(streams, ours):
        want = follow[n]
        client = "%s:%d" % (mine["client_ip"], mine["client_port"])
        server = "%s:%d" % (mine["server_ip"], mine["server_port"])
        assert (client, server) == (want["client"], want["server"]), "stream %d: %s" % (n, mine)
        assert mine["client_bytes"] == len(want["client_bytes"]), "stream %d client bytes: %s" % (n, mine)
        assert mine["server_bytes"] == len(want["server_bytes"]), "stream %d server bytes: %s" % (n, mine)
        c, s, _ = sc.honeynet_raw(binary, mine["id"], pcap_paths, tmp_path / "raw", *extra)
        assert c == bytes(want["client_bytes"]), "stream %d: client bytes differ from tshark's" % n
        assert s == bytes(want["server_bytes"]), "stream %d: server bytes differ from tshark's" % n
    return len(streams)


def crafted_capture(path):
    """Five connections that exercise the reassembly, with the bytes each
    application really received."""
    p = Pcap()
    truth = []

    # 1: out of order both ways, and a retransmission carrying more data
    a = Conn(p, ("10.1.0.1", 40001), ("10.1.0.2", 80), cisn=1000, sisn=777000)
    a.handshake()
    req = b"GET /index.html HTTP/1.1\r\nHost: honeypot\r\nUser-Agent: test\r\n\r\n"
    a.client(20, req[20:40])
    a.client(40, req[40:])
    a.client(0, req[:20])
    a.sent["client"] += req
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + bytes(random.Random(1).randbytes(300))
    a.server(100, body[100:250])
    a.server(0, body[:60])
    a.server(0, body[:100])            # retransmission with 40 more bytes
    a.server(250, body[250:])
    a.server(100, body[100:250])       # retransmission of a delivered segment
    a.sent["server"] += body
    a.close()
    truth.append(a)

    # 2: overlaps with different content: the first copy wins (in order and held)
    b = Conn(p, ("10.1.0.1", 40002), ("10.1.0.2", 6667), cisn=0x7FFFFFF0, sisn=12345)
    b.handshake()
    b.client(0, b"NICK attacker\r\n")
    b.client(10, b"XXXXXXXXXX")      # 10..19 overlaps "cker\r\n" (delivered): only 15..19 are new
    b.client(30, b"first-copy")      # 30..39, held
    b.client(30, b"SECOND-COPY!")    # 30..41, held, same start: only its last 2 bytes are new
    b.client(20, b"USER x :y\n")     # 20..29 fills the hole
    b.server(0, b":irc NOTICE * :hello\r\n")
    b.close()
    truth.append(b)

    # 3: sequence numbers wrap past 2^32 in both directions, out of order across the wrap
    c = Conn(p, ("10.1.0.1", 40003), ("10.1.0.2", 21), cisn=0xFFFFFF00, sisn=0xFFFFFFF0)
    c.handshake()
    data = bytes(range(256)) * 3
    c.client(300, data[300:])
    c.client(0, data[:200])
    c.client(200, data[200:300])
    c.sent["client"] += data
    c.server(0, b"220 ftp ready, sequence numbers wrapped\r\n")
    c.sent["server"] += b"220 ftp ready, sequence numbers wrapped\r\n"
    c.close()
    truth.append(c)

    # 4 and 5: one 5-tuple used twice (new SYN, other ISN): two streams
    for isn in (5000, 900000):
        d = Conn(p, ("10.1.0.1", 40004), ("10.1.0.2", 25), cisn=isn, sisn=isn * 3)
        d.handshake()
        d.server(0, b"220 smtp\r\n")
        d.client(0, b"HELO %d\r\n" % isn)
        d.sent["server"] += b"220 smtp\r\n"
        d.sent["client"] += b"HELO %d\r\n" % isn
        d.close()
        truth.append(d)
    p.write(path)
    return truth


def test_crafted_sessions_agree_with_tshark(honeynet_bin, tmp_path):
    f = tmp_path / "crafted.pcap"
    truth = crafted_capture(f)
    n = compare_with_tshark(honeynet_bin, [str(f)], str(f), tmp_path)
    assert n == 5
    ours = sc.honeynet_sessions(honeynet_bin, [str(f)])
    # independent of tshark: what the applications got
    for i in (0, 2, 3, 4):
        c, s, _ = sc.honeynet_raw(honeynet_bin, ours[i]["id"], [str(f)], tmp_path / "truth")
        assert c == bytes(truth[i].sent["client"]) and s == bytes(truth[i].sent["server"]), ours[i]
    # the overlap policy, spelled out
    c, _, _ = sc.honeynet_raw(honeynet_bin, ours[1]["id"], [str(f)], tmp_path / "overlap")
    assert c == b"NICK attacker\r\nXXXXXUSER x :y\nfirst-copyY!"
    # the reused 5-tuple: one Community ID, two sessions told apart by #n
    assert ours[3]["community_id"] == ours[4]["community_id"]
    assert (ours[3]["id"], ours[4]["id"]) == (ours[3]["community_id"] + "#1", ours[3]["community_id"] + "#2")


def test_gap_is_marked_not_joined(honeynet_bin, tmp_path):
    """A segment the capture lost (the receiver acknowledged it): the
    transcript says how many bytes are missing; --raw joins only what was
    captured and says so."""
    p = Pcap()
    a = Conn(p, ("10.1.0.1", 40010), ("10.1.0.2", 80))
    a.handshake()
    a.client(0, b"part one|")
    a.client(9 + 1460, b"|part three")      # 1460 bytes at offset 9 never captured
    a.server(0, b"ok", ack_off=9 + 1460 + 11)
    p.write(tmp_path / "gap.pcap")
    sid = sc.honeynet_sessions(honeynet_bin, [str(tmp_path / "gap.pcap")])[0]["id"]
    r = sc.run([honeynet_bin, "session", sid, tmp_path / "gap.pcap"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "[1460 bytes missing from the capture]" in out, out
    c, _, err = sc.honeynet_raw(honeynet_bin, sid, [str(tmp_path / "gap.pcap")], tmp_path / "raw")
    assert c == b"part one||part three"
    assert "1460 bytes missing" in err, err


def test_telnet_session_reads_as_text(honeynet_bin, tmp_path):
    p = Pcap()
    t = Conn(p, ("198.51.100.7", 51000), ("192.0.2.10", 23), cisn=42, sisn=4242)
    t.handshake()
    srv = bytearray()
    cli = bytearray()

    def s(data):
        t.server(len(srv), data)
        srv.extend(data)

    def c(data):
        t.client(len(cli), data, dt=0.2)
        cli.extend(data)

    s(b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27")          # DO TTYPE, TSPEED, XDISPLOC, NEW-ENVIRON
    c(b"\xff\xfb\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27")          # WILL TTYPE, WONT ...
    s(b"\xff\xfa\x18\x01\xff\xf0")                                  # SB TTYPE SEND SE
    c(b"\xff\xfa\x18\x00XTERM\xff")                                 # a subnegotiation split across segments
    c(b"\xf0")
    s(b"\xff\xfb\x03\xff\xfb\x01\r\nhn-honeypot login: ")
    for ch in b"root":                                              # typed one key at a time, echoed
        c(bytes([ch]))
        s(bytes([ch]))
    c(b"\r\0")
    s(b"\r\nPassword: ")
    c(b"toor\r\n")
    s(b"\r\n# ")
    c(b"uname -a\r\n")
    s(b"uname -a\r\nLinux hp1 2.4.20 #1 i686\r\n# ")
    t.sent["client"], t.sent["server"] = cli, srv
    t.close()
    f = p.write(tmp_path / "telnet.pcap")

    r = sc.run([honeynet_bin, "session", sc.honeynet_sessions(honeynet_bin, [str(f)])[0]["id"], f])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    # drop the timestamps and the empty lines (the banner starts with CR LF)
    lines = [l.split(" ", 1)[1] for l in out.splitlines() if l[:2].isdigit() and len(l.split(" ", 1)[1]) > 2]
    assert "\\xff" not in out and "XTERM" not in out and "mid-connection" not in out, out
    assert lines[:9] == ["< hn-honeypot login: ", "> root", "< root", "< Password: ", "> toor", "< # ",
                         "> uname -a", "< uname -a", "< Linux hp1 2.4.20 #1 i686"], out
    # the raw bytes still hold the negotiation
    c_raw, s_raw, _ = sc.honeynet_raw(honeynet_bin, sc.honeynet_sessions(honeynet_bin, [str(f)])[0]["id"], [str(f)],
                                      tmp_path / "raw")
    assert c_raw == bytes(cli) and s_raw == bytes(srv)
    # the list shows what the client typed, cleaned
    r = sc.run([honeynet_bin, "sessions", f])
    assert b"root; toor; uname -a" in r.stdout, r.stdout


def test_session_errors(honeynet_bin, tmp_path):
    f = tmp_path / "one.pcap"
    crafted_capture(f)
    r = sc.run([honeynet_bin, "session", "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA=", f])
    assert r.returncode == 1 and b"no TCP session" in r.stderr, r.stderr
    r = sc.run([honeynet_bin, "session", "17", f])
    assert r.returncode == 2 and b"events.json" in r.stderr, r.stderr
    r = sc.run([honeynet_bin, "sessions"])
    assert r.returncode == 2 and b"name a capture" in r.stderr, r.stderr


def _echo_server(sock, stop):
    """Accepts connections; each gets back what it sent, upper-cased, then a trailer."""
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        conn.settimeout(10)
        got = bytearray()
        while not got.endswith(b"END\n"):
            d = conn.recv(65536)
            if not d:
                break
            got += d
        conn.sendall(bytes(got).upper() + b"bye\n")
        conn.close()


@pytest.mark.parametrize("mode", ["bridge"])
def test_real_honeywall_capture_agrees_with_tshark(lab, honeynet_bin, capture_dir, tmp_path):
    """A client outside talks to a server on the honeypot through `honeynet
    wall`; the wall's own capture directory is read by `sessions`."""
    # The neighbours send MTU-sized frames (no TSO/GSO super-frames, which the
    # wall cannot forward and records cut short: those would be gaps).
    for ns, ifname in ((lab.hp_ns, nl.HP_IF), (lab.out_ns, nl.OUT_IF)):
        lab.run(ns, "ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off", check=True)
    wall = lab.start_wall(honeynet_bin, capture_dir=capture_dir)
    srv = craft.inet_socket(lab.hp_ns)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((lab.honeypot_ip, 8080))
    srv.listen(8)
    stop = threading.Event()
    th = threading.Thread(target=_echo_server, args=(srv, stop), daemon=True)
    th.start()
    payloads = []
    try:
        for i in range(3):
            msg = os.urandom(150_000 + i).hex().encode()[:200_000 + 1000 * i] + b"END\n"
            cli = craft.inet_socket(lab.out_ns)
            cli.settimeout(10)
            cli.connect((lab.public_ip, 8080))
            cli.sendall(msg)
            back = bytearray()
            while not back.endswith(b"bye\n"):
                d = cli.recv(65536)
                if not d:
                    break
                back += d
            cli.close()
            assert bytes(back) == msg.upper() + b"bye\n"
            payloads.append((msg, bytes(back)))
    finally:
        stop.set()
        th.join(2)
        srv.close()
    assert wall.stop() == 0
    files = nl.pcaps(capture_dir, "inside")
    assert files, sorted(os.listdir(capture_dir))
    merged = files[0]
    if len(files) > 1:
        merged = tmp_path / "inside-merged.pcap"
        nl.run(["mergecap", "-F", "pcap", "-w", str(merged)] + [str(x) for x in files])
    n = compare_with_tshark(honeynet_bin, [str(capture_dir)], str(merged), tmp_path)
    assert n >= 3
    ours = [s for s in sc.honeynet_sessions(honeynet_bin, [str(capture_dir)]) if s["server_port"] == 8080]
    assert len(ours) == 3
    for s, (msg, back) in zip(ours, payloads):
        c, b, _ = sc.honeynet_raw(honeynet_bin, s["id"], [str(capture_dir)], tmp_path / "truth")
        assert c == msg and b == back, "session %s: the bytes the applications exchanged" % s["id"]
        assert s["client_gap_bytes"] == 0 and s["server_gap_bytes"] == 0, s
