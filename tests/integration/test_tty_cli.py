"""`honeynet tty list|play` on synthetic tty logs (docs/tty.md, docs/tty-log.md).

The logs are written here with struct.pack, record by record, in the format a
honeypot kernel writes (fixed little-endian 64-bit header: what, tty, len,
direction, sec, usec; then the data). No network, no guest.

Run:  /usr/bin/python3 -m pytest -v tests/integration/test_tty_cli.py
Binary under test: $HONEYNET_BIN (default /work/main/build/honeynet).
"""
import json
import os
import struct
import subprocess
import time

import pytest

OPEN, CLOSE, WRITE, EXEC = 1, 2, 3, 4
READ, OUT = 1, 2
T0 = 1795710149  # 2026-11-26T16:22:29Z


def rec(what: int, tty: int, direction: int, t: float, data: bytes = b"") -> bytes:
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    return struct.pack("<6Q", what, tty, len(data), direction, sec, usec) + data


def login_log(marker: str) -> list:
    """A telnet login on pts/0 (tty 3) with a nested pty (tty 4, `screen`), as (record, tty) pairs."""
    return [
        (rec(OPEN, 3, 0, T0, b"pts/0"), 3),
        (rec(WRITE, 3, OUT, T0 + 0.1, b"hp1 login: "), 3),
        (rec(WRITE, 3, READ, T0 + 1.0, b"root\r"), 3),
        (rec(WRITE, 3, OUT, T0 + 1.01, b"root\r\nPassword: "), 3),
        (rec(WRITE, 3, READ, T0 + 2.0, b"secret-pw\n"), 3),
        (rec(WRITE, 3, OUT, T0 + 2.1, b"\r\n# "), 3),
        (rec(WRITE, 3, READ, T0 + 3.0, b"uname -a; echo %s\r" % marker.encode()), 3),
        (rec(EXEC, 3, 0, T0 + 3.05, b"uname\0-a\0"), 3),
        (rec(WRITE, 3, OUT, T0 + 3.1, b"uname -a; echo %s\r\nLinux hp1 6.1.0 #1\r\n%s\r\n# "
             % (marker.encode(), marker.encode())), 3),
        (rec(WRITE, 1, OUT, T0 + 3.2, b"console: kernel message\r\n"), 1),
        (rec(EXEC, 3, 0, T0 + 4.0, b"screen\0"), 3),
        (rec(OPEN, 4, 3, T0 + 4.1, b"pts/1"), 4),
        (rec(WRITE, 4, OUT, T0 + 4.2, b"$ "), 4),
        (rec(WRITE, 4, READ, T0 + 5.0, b"id\r"), 4),
        (rec(EXEC, 4, 0, T0 + 5.01, b"id\0"), 4),
        (rec(WRITE, 4, OUT, T0 + 5.02, b"uid=0(root) gid=0(root)\r\n"), 4),
        (rec(CLOSE, 4, 0, T0 + 6.0), 4),
        (rec(WRITE, 3, OUT, T0 + 7.0, b"logout\r\n"), 3),
        (rec(CLOSE, 3, 0, T0 + 65.5), 3),
    ]


def output_of(records, ttys) -> bytes:
    """The WRITE (output) bytes of the given ttys, in file order: what play must print."""
    out = b""
    for r, tty in records:
        what, rtty, length, direction = struct.unpack("<4Q", r[:32])
        if what == WRITE and direction == OUT and rtty in ttys:
            out += r[48:48 + length]
    return out


def hn(binary, *args, check=True, timeout=60) -> subprocess.CompletedProcess:
    env = dict(os.environ, TZ="UTC")
    p = subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       stdin=subprocess.DEVNULL, env=env)
    if check and p.returncode != 0:
        raise AssertionError("honeynet %s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode,
                                                                   p.stdout.decode(errors="replace"),
                                                                   p.stderr.decode(errors="replace")))
    return p


@pytest.fixture
def logs(tmp_path):
    marker = "secret-marker-%d" % os.getpid()
    records = login_log(marker)
    d = tmp_path / "tty"
    d.mkdir()
    (d / "hp1.ttylog").write_bytes(b"".join(r for r, _ in records))
    (d / "hp2.ttylog").write_bytes(rec(OPEN, 1, 0, T0 - 100, b"ttyS0") + rec(WRITE, 1, OUT, T0 - 99, b"hp2 boot\r\n"))
    (d / "notes.txt").write_text("not a tty log")
    return d, records, marker


def test_list_json(honeynet_bin, logs):
    d, _, _ = logs
    sessions = json.loads(hn(honeynet_bin, "tty", "list", str(d), "--json").stdout)
    by_id = {s["id"]: s for s in sessions}
    # Top-level sessions by start time, children right after their parent.
    assert [s["id"] for s in sessions] == ["hp2:1", "hp1:3", "hp1:4", "hp1:1"]
    s = by_id["hp1:3"]
    assert s["honeypot"] == "hp1" and s["tty"] == 3 and s["name"] == "pts/0"
    assert s["file"] == str(d / "hp1.ttylog")
    assert s["start"] == "2026-11-26T16:22:29.000000+0000"
    assert s["start_unix"] == T0
    assert s["duration"] == pytest.approx(65.5)
    assert s["closed"] is True and s["opened"] is True
    assert s["bytes_in"] == len(b"root\r") + len(b"secret-pw\n") + len(b"uname -a; echo %s\r" % logs[2].encode())
    assert s["bytes_out"] == len(output_of(logs[1], {3}))
    assert [c["command"] for c in s["commands"]] == ["uname -a", "screen"]
    assert s["commands"][0]["argv"] == ["uname", "-a"]
    assert s["children"] == ["hp1:4"] and s["parent"] is None
    child = by_id["hp1:4"]
    assert child["parent"] == "hp1:3" and child["parent_tty"] == 3 and child["name"] == "pts/1"
    assert child["duration"] == pytest.approx(1.9)
    assert [c["command"] for c in child["commands"]] == ["id"]
    console = by_id["hp1:1"]
    assert console["opened"] is False and console["closed"] is False and console["bytes_out"] == 25
    assert by_id["hp2:1"]["closed"] is False


def test_list_table(honeynet_bin, logs):
    d, _, _ = logs
    out = hn(honeynet_bin, "tty", "list", str(d)).stdout.decode()
    lines = out.splitlines()
    assert lines[0].split() == ["SESSION", "HONEYPOT", "TTY", "START", "DURATION", "IN", "OUT", "COMMANDS"]
    row = next(l for l in lines if l.startswith("hp1:3 "))
    assert "pts/0" in row and "2026-11-26 16:22:29" in row and "1m05s" in row and "uname -a; screen" in row
    assert any(l.startswith("  hp1:4 ") and "pts/1" in l and l.rstrip().endswith("id") for l in lines), out
    assert any(l.startswith("hp2:1 ") and "ttyS0" in l for l in lines), out
    assert "no CLOSE recorded" in out  # hp2:1 and the console have none


def test_list_defaults_to_the_lab_capture_dir(honeynet_bin, logs, tmp_path):
    d, _, _ = logs
    data = tmp_path / "data"
    p = hn(honeynet_bin, "tty", "list", "--data-dir", str(data))
    assert b"no tty logs in %s/lab/capture/tty" % str(data).encode() in p.stdout
    (data / "lab" / "capture").mkdir(parents=True)
    os.rename(d, data / "lab" / "capture" / "tty")
    sessions = json.loads(hn(honeynet_bin, "tty", "list", "--data-dir", str(data), "--json").stdout)
    assert {s["id"] for s in sessions} == {"hp1:3", "hp1:4", "hp1:1", "hp2:1"}
    p = hn(honeynet_bin, "tty", "play", "hp1:4", "--data-dir", str(data), "--no-wait")
    assert p.stdout == b"$ uid=0(root) gid=0(root)\r\n"
    p = hn(honeynet_bin, "tty", "list", str(tmp_path / "missing"), check=False)
    assert p.returncode == 1 and b"missing" in p.stderr


def test_play_no_wait_prints_the_output_bytes(honeynet_bin, logs):
    d, records, marker = logs
    p = hn(honeynet_bin, "tty", "play", "hp1:3", str(d), "--no-wait")
    assert p.stdout == output_of(records, {3, 4})  # the child (screen's pty) spliced in at its time
    assert marker.encode() + b"\r\n# " in p.stdout and b"Linux hp1" in p.stdout
    assert b"secret-pw" not in p.stdout  # not echoed: only with --input
    p = hn(honeynet_bin, "tty", "play", "hp1:3", str(d / "hp1.ttylog"), "--no-wait", "--no-children")
    assert p.stdout == output_of(records, {3})


def test_play_input_shows_what_was_typed(honeynet_bin, logs):
    d, _, marker = logs
    out = hn(honeynet_bin, "tty", "play", "hp1:3", str(d), "--no-wait", "--input").stdout.decode()
    lines = out.splitlines()
    assert "[input] root" in lines
    assert "[input] secret-pw" in lines  # the password, which the terminal never echoed
    assert "[input] uname -a; echo %s" % marker in lines
    assert "[input] id" in lines  # typed in the child pty
    assert "\x1b[" not in out  # not a terminal: prefixes, no colour
    # Typed lines come in order, where Enter was pressed.
    assert out.index("hp1 login: ") < out.index("[input] root") < out.index("Password: ") \
        < out.index("[input] secret-pw") < out.index("Linux hp1")


def test_play_keeps_the_pace(honeynet_bin, tmp_path):
    d = tmp_path / "tty"
    d.mkdir()
    (d / "hp1.ttylog").write_bytes(rec(OPEN, 2, 0, T0, b"pts/0") + rec(WRITE, 2, OUT, T0 + 1, b"a")
                                   + rec(WRITE, 2, OUT, T0 + 4, b"b") + rec(WRITE, 2, OUT, T0 + 3600, b"c"))
    start = time.monotonic()
    p = hn(honeynet_bin, "tty", "play", "hp1:2", str(d), "--speed", "10")
    took = time.monotonic() - start
    assert p.stdout == b"abc"
    # 3 s / 10, then an hour capped at 5 s, / 10: 0.8 s in all.
    assert 0.7 <= took < 3.0, took
    start = time.monotonic()
    hn(honeynet_bin, "tty", "play", "hp1:2", str(d), "--no-wait")
    assert time.monotonic() - start < 0.5
    p = hn(honeynet_bin, "tty", "play", "hp1:2", str(d), "--speed", "0", check=False)
    assert p.returncode == 2 and b"--speed" in p.stderr


def test_truncated_and_corrupt_logs(honeynet_bin, logs):
    d, records, _ = logs
    path = d / "hp1.ttylog"
    whole = path.read_bytes()
    cut = rec(WRITE, 3, OUT, T0 + 70, b"half of it")[:30]
    path.write_bytes(whole + cut)
    p = hn(honeynet_bin, "tty", "list", str(path), "--json")  # exit 0: a truncated tail is no error
    assert len(json.loads(p.stdout)) == 3
    assert b"incomplete (30 bytes at offset %d" % len(whole) in p.stderr
    assert hn(honeynet_bin, "tty", "play", "hp1:3", str(path), "--no-wait").stdout == output_of(records, {3, 4})

    bad = struct.pack("<6Q", WRITE, 3, 70000, OUT, T0 + 70, 0)
    path.write_bytes(whole + bad + b"x" * 100)
    p = hn(honeynet_bin, "tty", "list", str(path), "--json", check=False)
    assert p.returncode == 1
    assert len(json.loads(p.stdout)) == 3  # what came before is still listed
    assert b"corrupt record at offset %d" % len(whole) in p.stderr and b"70000" in p.stderr


def test_unknown_session(honeynet_bin, logs):
    d, _, _ = logs
    p = hn(honeynet_bin, "tty", "play", "hp1:9", str(d), "--no-wait", check=False)
    assert p.returncode == 1
    assert b"no session hp1:9" in p.stderr and b"hp1:3" in p.stderr
    p = hn(honeynet_bin, "tty", "play", "nope", str(d), check=False)
    assert p.returncode == 1 and b"not a session id" in p.stderr
