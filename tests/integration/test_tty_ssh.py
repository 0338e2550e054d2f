"""TTY capture of an SSH session (issue 4): what network capture cannot read.

test_tty_ssh_session: the built-in-like NAT lab (one honeypot hp1, 10.0.0.2 =
192.0.2.10) on the Debian image (openssh-server, root/root, PermitRootLogin
yes) and the project's UML kernel. As the attacker (192.0.2.66, in hn-inet)
`sshpass -p root ssh -tt root@192.0.2.10`, then on the session's pty:

  1. `read -rs -p 'Pass''word: ' pw; ...` and a secret typed at the echo-less
     "Password: " prompt (a password typed on a tty, like `su` or `sudo`);
  2. `uname -a; echo secret-marker-""N; exit` (N random: the shell's output
     `secret-marker-N` is not in the input).

Then:
  - the host-side log DATA/lab/capture/tty/hp1.ttylog (docs/tty-log.md) has the
    session: OPEN pts/N ... CLOSE, the typed lines and the secret in READ (the
    secret only there: it was never echoed), the marker and `Linux hp1 6.1.x`
    in WRITE, EXEC records of the login shell (-bash) and /usr/bin/uname; no
    READ before the shell's first prompt (sshd's own password never passes a
    tty);
  - `honeynet tty list` finds it, `tty play --no-wait` prints the output (not the
    secret), `--input` also the typed lines and the secret;
  - events.json has the session's tty open, exec (uname) and close events;
  - the lab's pcaps have the SSH connection (the server's `SSH-2.0-OpenSSH`
    banner, which is sent in clear) but neither the marker nor the secret: the
    session was encrypted, only the tty log has it.

The project kernel: as in test_tty.py (the data dir, else a symlink to
$HONEYNET_KERNEL_CACHE, default /var/lib/honeynet, else built there: 10-20 min,
said loudly; skipped, with the reason, when it cannot be built here). The
Debian image: built once with `honeynet image build debian` into
$HONEYNET_IMAGE_CACHE (default: the kernel cache, i.e. the default data dir),
which reuses it while its build inputs are unchanged, and linked into the test's
data dir (where `up` finds it cached). Building needs the Debian mirror (1-2
min); without a cached image and a mirror that answers, the test is skipped.

Like test_tty.py, it uses the lab's fixed namespaces (hn-wall, hn-inet): it is
skipped while a lab runs, `honeynet down --force` runs in every teardown, and
the teardown checks that no namespace and no UML process is left.
Needs root, /usr/bin/linux, sshpass, ssh, debootstrap (to build the image).
Run (other lab tests may run on this machine):
  flock /tmp/hn-lab.lock /usr/bin/python3 -m pytest -v -s tests/integration/test_tty_ssh.py
"""
import errno
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import netlab as nl
from labtools import hn
from test_image import debian_mirror, mirror_answers  # same directory (conftest puts it on sys.path)
from test_tty import (CLOSE, EXEC, KERNEL_CACHE, LAB_NS, OPEN, READ_DIR, UML_KERNEL, WRITE, WRITE_DIR,
                      ONE_HONEYPOT, build_kernel, down, read_records, up)

IMAGE_CACHE = os.environ.get("HONEYNET_IMAGE_CACHE", KERNEL_CACHE)
IMAGE_BUILD_TIMEOUT_S = 30 * 60
HOST, PUBLIC_IP = "hp1", "192.0.2.10"

# test_tty.py's one-honeypot NAT lab, the honeypot on the Debian image (sshd).
ONE_DEBIAN_HONEYPOT = ONE_HONEYPOT + 'image = "debian"\n'

# The attacker's client: OpenSSH with the password from sshpass, a remote pty
# (-tt), nothing of the host's own ssh configuration or keys.
SSH = ["ip", "netns", "exec", "hn-inet", "sshpass", "-p", "root",
       "ssh", "-tt", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
       "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
       "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", "root@" + PUBLIC_IP]

PROMPT = re.compile(rb"hp1:\S*# ")

pytestmark = [
    pytest.mark.skipif(not os.access(UML_KERNEL, os.X_OK),
                       reason="User-Mode Linux not installed (%s): apt-get install user-mode-linux" % UML_KERNEL),
    pytest.mark.skipif(not shutil.which("sshpass") or not shutil.which("ssh"),
                       reason="the attacker's client is missing: apt-get install sshpass openssh-client"),
]


def loud_skip(capsys, reason: str):
    """Skips with the reason also printed at once (a skipped slow test must not pass unnoticed)."""
    with capsys.disabled():
        print("\n%s\nSKIPPED test_tty_ssh: %s\n%s" % ("!" * 78, reason, "!" * 78), flush=True)
    pytest.skip(reason)


# ---------------------------------------------------------------------------
# The attacker's SSH client on a pty of the test


class SshClient:
    """ssh -tt run on a pty: the test types on it like a user and reads what the user sees."""

    def __init__(self):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvp(SSH[0], SSH)
            finally:
                os._exit(127)
        self.buf = b""
        self.seen = b""  # everything read, for failure messages

    def _read(self, deadline: float) -> bool:
        """Reads what is there; False at EOF (ssh exited)."""
        r, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        if not data:
            return False
        self.buf += data
        self.seen += data
        return True

    def expect(self, pattern, timeout=30) -> bytes:
        """Reads until pattern (bytes or compiled regex) shows; returns what came up to its end."""
        deadline = time.monotonic() + timeout
        while True:
            if isinstance(pattern, bytes):
                i = self.buf.find(pattern)
                end = i + len(pattern) if i >= 0 else -1
            else:
                m = pattern.search(self.buf)
                end = m.end() if m else -1
            if end >= 0:
                got, self.buf = self.buf[:end], self.buf[end:]
                return got
            if time.monotonic() > deadline:
                raise AssertionError("ssh: waited %ds for %r; the session so far:\n%r"
                                     % (timeout, getattr(pattern, "pattern", pattern), self.seen[-1500:]))
            if not self._read(deadline):
                raise AssertionError("ssh ended while waiting for %r; the session:\n%r"
                                     % (getattr(pattern, "pattern", pattern), self.seen[-1500:]))

    def type(self, text: str):
        os.write(self.fd, text.encode())

    def until_eof(self, timeout=30) -> bytes:
        deadline = time.monotonic() + timeout
        while self._read(deadline):
            if time.monotonic() > deadline:
                raise AssertionError("ssh did not end after `exit`; the session:\n%r" % self.seen[-1500:])
        out, self.buf = self.buf, b""
        return out

    def close(self) -> int:
        """Ends ssh (if it still runs); returns its exit status."""
        status = None
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    status = st
                    break
                time.sleep(0.05)
            if status is not None:
                break
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status) if status is not None else -1


# ---------------------------------------------------------------------------
# Fixtures


def uml_pids(data_dir: Path) -> list:
    """Host processes of the guests of data_dir (their command line names it)."""
    needle = str(data_dir).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = Path("/proc", d, "cmdline").read_bytes()
            state = Path("/proc", d, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmd and b"uml_dir=" in cmd and state != "Z":
            pids.append(int(d))
    return pids


@pytest.fixture
def lab_data(honeynet_bin, tmp_path, capsys):
    """A data dir with the project kernel and the Debian image (both linked from the shared caches);
    whatever runs in it is taken down afterwards, and nothing of it may be left."""
    present = [ns for ns in nl.list_netns() if ns in LAB_NS]
    if present:
        pytest.skip("a lab is running on this machine (namespaces %s exist); these tests use the same fixed "
                    "names: stop it with `honeynet down` first" % ", ".join(present))
    d = tmp_path / "data"

    # The project kernel (as test_tty.py's project_kernel, but skipped when it cannot be built).
    r = hn(honeynet_bin, "kernel", "status", "--json", "--data-dir", d, check=False)
    st = json.loads(r.stdout) if r.stdout.lstrip().startswith("{") else {}
    if "inputs" not in st:
        loud_skip(capsys, "the project kernel cannot be built here (`honeynet kernel status`: %s)"
                  % (st.get("inputs_error") or r.stdout.strip()[-300:]))
    h = st["inputs"]["hash"]
    if not st["cached"]:
        entry = Path(KERNEL_CACHE) / "kernels" / h
        if not (entry / "linux").is_file() or not (entry / "kernel.json").is_file():
            build_kernel(honeynet_bin, Path(KERNEL_CACHE), h, capsys)
        (d / "kernels").mkdir(parents=True, exist_ok=True)
        (d / "kernels" / h).symlink_to(entry)
    st = json.loads(hn(honeynet_bin, "kernel", "status", "--json", "--data-dir", d, check=False).stdout)
    assert st["cached"] and st["lab_kernel"]["tty_log"], st

    # The Debian image, built once into the image cache (cached there by the hash of its inputs).
    cache = Path(IMAGE_CACHE)
    cached = cache / "images" / "debian.img"
    mirror = debian_mirror()
    mirror_ok = mirror_answers(mirror)
    if not mirror_ok and not cached.exists():
        loud_skip(capsys, "the Debian mirror %s does not answer and %s has no Debian image: no debian image here "
                  "(HONEYNET_DEBIAN_MIRROR picks another mirror)" % (mirror, cache))
    t0 = time.monotonic()
    with capsys.disabled():
        print("\n`honeynet image build debian --data-dir %s` (reused if its inputs are unchanged, else 1-2 min)"
              % cache, flush=True)
        p = subprocess.Popen([honeynet_bin, "image", "build", "debian", "--data-dir", str(cache)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        out = []
        try:
            for line in p.stdout:
                out.append(line)
                print("  image build: " + line.rstrip(), flush=True)
            p.wait(timeout=IMAGE_BUILD_TIMEOUT_S)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    if p.returncode != 0 and not mirror_ok:
        loud_skip(capsys, "the cached Debian image is out of date and the mirror %s does not answer:\n%s"
                  % (mirror, "".join(out)[-1500:]))
    assert p.returncode == 0, "honeynet image build debian failed:\n" + "".join(out)[-5000:]
    image_secs = time.monotonic() - t0
    (d / "images").mkdir(parents=True, exist_ok=True)
    for f in ("debian.img", "debian.json"):
        (d / "images" / f).symlink_to(cache / "images" / f)

    yield d, image_secs

    r = hn(honeynet_bin, "down", "--force", "--data-dir", d, check=False, timeout=60)
    if r.returncode != 0:
        print("teardown: honeynet down --force:\n" + r.stdout, file=sys.stderr)
    left = [ns for ns in nl.list_netns() if ns in LAB_NS]
    pids = uml_pids(d)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left and not pids, "left behind after `down --force`: namespaces %s, UML processes %s" % (left, pids)


# ---------------------------------------------------------------------------


def pcap_files(capture: Path) -> list:
    return sorted(p for p in capture.rglob("*") if p.is_file() and ".pcap" in p.name)


@pytest.mark.slow
def test_tty_ssh_session(honeynet_bin, lab_data, tmp_path):
    data, image_secs = lab_data
    config = tmp_path / "debian.toml"
    config.write_text(ONE_DEBIAN_HONEYPOT)

    t0 = time.monotonic()
    out = up(honeynet_bin, data, config)
    up_secs = time.monotonic() - t0
    assert "TTY capture on" in out and "TTY capture is off" not in out, out
    assert "debian: cached image" in out, out  # the linked image, not a new build
    capture = data / "lab" / "capture"
    log = capture / "tty" / "hp1.ttylog"
    assert log.is_file(), "no %s after up:\n%s" % (log, out)

    # The attacker's SSH session.
    marker = "%06d" % random.randrange(10 ** 6)
    secret = "tty-pw-%06d" % random.randrange(10 ** 6)
    ask_line = "read -rs -p 'Pass''word: ' pw; echo; echo \"got-${#pw}-chars\""
    typed_line = 'uname -a; echo secret-marker-""%s; exit' % marker
    t1 = time.monotonic()
    ssh = SshClient()
    try:
        banner = ssh.expect(PROMPT, timeout=60)
        ssh.type(ask_line + "\r")
        ssh.expect(b"Password: ")
        ssh.type(secret + "\r")
        ssh.expect(b"got-%d-chars" % len(secret))
        ssh.expect(PROMPT)
        ssh.type(typed_line + "\r")
        last = ssh.until_eof()
    finally:
        rc = ssh.close()
    ssh_secs = time.monotonic() - t1
    assert b"secret-marker-" + marker.encode() in last, last
    assert re.search(rb"Linux hp1 6\.1\.\d+", last), last
    assert secret.encode() not in ssh.seen, "the secret was echoed: %r" % ssh.seen[-500:]
    assert rc == 0, "ssh exited with %d: %r" % (rc, ssh.seen[-500:])

    # The host-side tty log: the session from OPEN to CLOSE (the CLOSE comes when sshd closes the pty).
    deadline = time.monotonic() + 15
    while True:
        recs = read_records(log)
        session = [x for x in recs if x["what"] == WRITE and x["dir"] == WRITE_DIR
                   and b"secret-marker-" + marker.encode() in x["data"]]
        ttys = {x["tty"] for x in session}
        closed = any(x["what"] == CLOSE and x["tty"] in ttys for x in recs)
        if (session and closed) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert session, "the marker is not in the output in %s (%d records)" % (log, len(recs))
    assert len(ttys) == 1, ttys
    tty = ttys.pop()
    mine = [x for x in recs if x["tty"] == tty]
    assert mine[0]["what"] == OPEN and re.fullmatch(rb"pts/\d+", mine[0]["data"]), mine[0]
    assert [x["what"] for x in mine].count(OPEN) == 1, "two OPENs for tty %d" % tty
    assert mine[-1]["what"] == CLOSE, "no CLOSE for tty %d: last record %s" % (tty, mine[-1])
    typed = b"".join(x["data"] for x in mine if x["what"] == WRITE and x["dir"] == READ_DIR)
    shown = b"".join(x["data"] for x in mine if x["what"] == WRITE and x["dir"] == WRITE_DIR)
    # Nothing typed before the shell's first line: the SSH login's password was never on the tty.
    assert typed.startswith(ask_line.encode() + b"\r"), typed[:200]
    assert b"root\r" not in typed.split(ask_line.encode())[0]
    # The secret: typed after the "Password: " prompt, in READ only (echo off).
    stream = [(x["dir"], x["data"]) for x in mine if x["what"] == WRITE]
    prompt = next(i for i, (dr, b) in enumerate(stream) if dr == WRITE_DIR and b"Password: " in b)
    after = b"".join(b for dr, b in stream[prompt + 1:] if dr == READ_DIR)
    assert after.startswith(secret.encode() + b"\r"), "input after the password prompt: %r" % after[:60]
    assert secret.encode() not in shown, "the secret is in the output: %r" % shown[-800:]
    assert ("got-%d-chars" % len(secret)).encode() in shown, shown[-800:]
    # The attacker's command line in READ; what the shell made of it in WRITE.
    assert typed_line.encode() + b"\r" in typed, typed
    assert ("secret-marker-%s" % marker).encode() in shown, shown[-800:]
    assert re.search(rb"Linux hp1 6\.1\.\d+", shown), shown[-800:]
    execs = [x["data"].split(b"\0")[:-1] for x in mine if x["what"] == EXEC]
    assert all(x["data"].endswith(b"\0") for x in mine if x["what"] == EXEC)
    assert any(a and a[0].endswith(b"uname") and b"-a" in a for a in execs), execs
    assert any(a and a[0].endswith(b"bash") for a in execs), execs  # the login shell sshd started (-bash)

    # What a user reads back: `tty list` finds the session, `tty play` replays it.
    listing = json.loads(hn(honeynet_bin, "tty", "list", log.parent, "--json").stdout)
    sessions = listing["sessions"] if isinstance(listing, dict) else listing
    ours = [x for x in sessions if x["tty"] == tty]
    assert ours, "tty list does not show tty %d: %s" % (tty, sessions)
    assert any("uname" in c["command"] for c in ours[0]["commands"]), ours[0]
    played = hn(honeynet_bin, "tty", "play", ours[0]["id"], "--no-wait", "--data-dir", data).stdout
    assert "secret-marker-%s" % marker in played, played[-800:]
    assert re.search(r"Linux hp1 6\.1\.\d+", played), played[-800:]
    assert secret not in played, "plain play shows only the output; the secret was never echoed"
    played_in = hn(honeynet_bin, "tty", "play", ours[0]["id"], "--no-wait", "--input", "--data-dir", data).stdout
    assert "secret-marker-%s" % marker in played_in, played_in[-800:]
    assert typed_line in played_in, played_in[-800:]   # --input shows what was typed ...
    assert secret in played_in, played_in[-800:]       # ... passwords included

    # events.json: the session's open, the exec of uname and the close, from hp1.
    events_path = capture / "events.json"
    deadline = time.monotonic() + 10
    while True:
        evs = [json.loads(l) for l in events_path.read_text().splitlines() if '"event_type":"tty"' in l]
        evs = [e for e in evs if e["tty"].get("id") == tty]
        actions = [e["tty"]["action"] for e in evs]
        if "close" in actions or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert actions and actions[0] == "open" and actions[-1] == "close", actions
    assert all(e["honeypot"] == "hp1" for e in evs), evs
    assert any(e["tty"]["action"] == "exec" and "uname" in e["tty"]["command"] for e in evs), evs
    close = [e for e in evs if e["tty"]["action"] == "close"][0]
    assert close["tty"]["bytes_in"] >= len(typed_line) + len(secret), close

    down(honeynet_bin, data)

    # The network capture saw the connection, but not what went over it.
    pcaps = pcap_files(capture)
    assert pcaps, "no pcap files in %s: %s" % (capture, sorted(p.name for p in capture.rglob("*")))
    blob = b"".join(p.read_bytes() for p in pcaps)
    assert b"SSH-2.0-OpenSSH" in blob, "the SSH connection is not in the pcaps %s" % [p.name for p in pcaps]
    for needle in (b"secret-marker", marker.encode(), secret.encode(), b"uname -a"):
        assert needle not in blob, "%r is in the pcaps in clear: the session was not encrypted?" % needle

    print("\ntest_tty_ssh_session: debian image %.1f s (cached: %s), up %.1f s, ssh session %.1f s; tty %d: "
          "%d records, %d bytes typed, %d shown, %d execs; pcaps %d bytes without the marker"
          % (image_secs, "yes" if image_secs < 5 else "built", up_secs, ssh_secs, tty, len(mine), len(typed),
             len(shown), len(execs), len(blob)))
    if os.environ.get("HN_SHOW_TTY"):
        print("banner:", banner.decode(errors="replace"))
        for a in execs:
            print("EXEC", b" ".join(a).decode(errors="replace"))
