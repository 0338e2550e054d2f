"""UML guests: boot, reach by telnet, console, reset, halt (src/lab/guest.cpp).

Each test makes its own network namespace hn-g-<pid> holding a tap (hn-gt0,
10.0.0.1/24) that the guest (10.0.0.2/24) is attached to; the test talks to
the guest from inside that namespace (sockets made there with setns). The
namespace, the guests and every UML process are removed after each test,
also when it fails. Guests are started with the hidden `honeynet guest`
subcommands.

Run as root:  /usr/bin/python3 -m pytest -v -s tests/integration/test_guest.py
(-s shows the measured boot times.)
"""
import ctypes
import hashlib
import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from test_image import debian_mirror, mirror_answers  # same directory (conftest puts it on sys.path)

NS = "hn-g-%d" % os.getpid()
TAP = "hn-gt0"
HOST_IP, GUEST_IP = "10.0.0.1", "10.0.0.2"
CLONE_NEWNET = 0x40000000
BOOT_DEADLINE = 90  # seconds; a boot takes ~2-3 s on an idle 2-core machine

_libc = ctypes.CDLL(None, use_errno=True)


def binary() -> str:
    return os.environ.get("HONEYNET_BIN", "/work/main/build/honeynet")


def run(cmd, check=True, timeout=60, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(map(str, cmd)), p.returncode, p.stdout, p.stderr))
    return p


def hn(*args, **kw) -> subprocess.CompletedProcess:
    return run([binary(), *args], **kw)


# ---- network namespace -------------------------------------------------------

def _setns(fd: int):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def socket_in_ns(ns: str) -> socket.socket:
    """A TCP socket that belongs to namespace ns (made there by this thread, which then moves back)."""
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _setns(orig)
    finally:
        os.close(orig)
        os.close(target)


def make_ns():
    run(["ip", "netns", "add", NS])
    ip = ["ip", "netns", "exec", NS]
    # IPv6 off before any device exists: no host noise on the tap.
    run(ip + ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
    run(ip + ["ip", "link", "set", "lo", "up"])
    run(ip + ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"])
    run(ip + ["ip", "addr", "add", HOST_IP + "/24", "dev", TAP])
    run(ip + ["ip", "link", "set", TAP, "up"])
    # ARP every 100 ms while the guest boots (not every second): boot times measured to ~0.1 s.
    run(ip + ["sysctl", "-qw", "net.ipv4.neigh.%s.retrans_time_ms=100" % TAP])


def guest_pids(data_dir: Path, include_zombies=False) -> list:
    """Host processes of any guest under data_dir (UML main, helpers, the guests' processes)."""
    needle = ("uml_dir=%s/guests/" % data_dir).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = Path("/proc", d, "cmdline").read_bytes()
            state = Path("/proc", d, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmd and (include_zombies or state != "Z"):
            pids.append(int(d))
    return pids


@pytest.fixture(scope="module")
def image_dir():
    """A data dir with the busybox image, shared by the tests of this module (short path: UML's
    mconsole socket path must fit in 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="hn-g"))
    hn("image", "build", "busybox", "--data-dir", str(d))
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Lab:
    """The namespace and the guests of one test; removes everything at the end."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.names = []

    def start(self, name="hp1", image="busybox", extra=()):
        p = hn("guest", "start", "--name", name, "--image", image, "--netns", NS, "--tap", TAP,
               "--ip", GUEST_IP + "/24", "--gw", HOST_IP, "--dns", "192.0.2.53",
               "--data-dir", str(self.data_dir), *extra)
        self.names.append(name)
        return json.loads(p.stdout)

    def stop(self, name="hp1", timeout_ms=10000):
        return hn("guest", "stop", "--name", name, "--data-dir", str(self.data_dir),
                  "--timeout-ms", str(timeout_ms), timeout=60)

    def status(self, name="hp1"):
        p = hn("guest", "status", "--name", name, "--data-dir", str(self.data_dir), check=False)
        return p.returncode, json.loads(p.stdout) if p.stdout.strip() else {}

    def teardown(self):
        for n in self.names:
            hn("guest", "stop", "--name", n, "--data-dir", str(self.data_dir), check=False, timeout=60)
        for pid in guest_pids(self.data_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run(["ip", "netns", "del", NS], check=False)


@pytest.fixture
def lab(image_dir):
    d = Path(tempfile.mkdtemp(prefix="hn-g"))
    (d / "images").symlink_to(image_dir / "images")
    make_ns()
    the_lab = Lab(d)
    try:
        yield the_lab
    finally:
        the_lab.teardown()
        shutil.rmtree(d, ignore_errors=True)
    assert not guest_pids(d), "guest processes left"
    assert NS not in run(["ip", "netns", "list"]).stdout


# ---- a small telnet client ---------------------------------------------------

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240


class Telnet:
    """Enough telnet for a login: refuses every option except the server's echo and
    suppress-go-ahead, strips IAC sequences from what it reads."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    @classmethod
    def connect(cls, ns: str, host: str, deadline: float, port=23) -> "Telnet":
        last = None
        while time.monotonic() < deadline:
            s = socket_in_ns(ns)
            s.settimeout(2)
            try:
                s.connect((host, port))
                return cls(s)
            except OSError as e:
                last = e
                s.close()
                time.sleep(0.05)
        raise TimeoutError("no telnet on %s:%d: %s" % (host, port, last))

    def _read(self, deadline: float):
        self.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        if not data:
            raise EOFError("connection closed; got so far: %r" % self.buf[-300:])
        out, i = bytearray(), 0
        while i < len(data):
            c = data[i]
            if c == IAC and i + 1 < len(data):
                cmd = data[i + 1]
                if cmd in (DO, DONT, WILL, WONT) and i + 2 < len(data):
                    opt = data[i + 2]
                    reply = DO if (cmd == WILL and opt in (1, 3)) else {DO: WONT, DONT: WONT, WILL: DONT, WONT: DONT}[cmd]
                    self.sock.sendall(bytes([IAC, reply, opt]))
                    i += 3
                elif cmd == SB:
                    j = data.find(bytes([IAC, SE]), i)
                    i = len(data) if j < 0 else j + 2
                elif cmd == IAC:
                    out.append(IAC)
                    i += 2
                else:
                    i += 2
                continue
            out.append(c)
            i += 1
        self.buf += bytes(out)

    def expect(self, pattern: bytes, timeout=20) -> str:
        deadline = time.monotonic() + timeout
        while pattern not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("waited %ds for %r, got %r" % (timeout, pattern, self.buf[-300:]))
            self._read(deadline)
        i = self.buf.index(pattern) + len(pattern)
        got, self.buf = self.buf[:i], self.buf[i:]
        return got.decode(errors="replace")

    def send(self, text: str):
        self.sock.sendall(text.encode())

    def login(self, timeout=30):
        self.expect(b"login: ", timeout)
        self.send("root\r\n")
        self.expect(b"assword: ")
        self.send("root\r\n")
        self.expect(b"# ", timeout)

    def sh(self, command: str, timeout=20) -> str:
        """Runs a command in the logged-in shell; returns its output between two markers."""
        self.send("echo HN-BEGIN; %s; echo HN-END-$((40+2))\r\n" % command)
        self.expect(b"HN-BEGIN\r\n", timeout)
        out = self.expect(b"HN-END-42", timeout)
        self.expect(b"# ", timeout)
        return out[: -len("HN-END-42")].replace("\r\n", "\n")

    def close(self):
        self.sock.close()


def boot_until_login(lab: Lab, name="hp1", image="busybox"):
    """Starts a guest; returns (Telnet at the login prompt, seconds to the login prompt)."""
    t0 = time.monotonic()
    lab.start(name, image)
    deadline = t0 + BOOT_DEADLINE
    while True:
        t = Telnet.connect(NS, GUEST_IP, deadline)
        try:
            t.expect(b"login: ", max(1, deadline - time.monotonic()))
            return t, time.monotonic() - t0
        except EOFError:  # telnetd up before login works: try again
            t.close()


# ---- tests -------------------------------------------------------------------

def test_busybox_guest_boots_answers_telnet_and_halts(lab):
    t, cold = boot_until_login(lab)
    t.send("root\r\n")
    t.expect(b"assword: ")
    t.send("root\r\n")
    t.expect(b"# ")
    # The settings disk reached the guest...
    assert t.sh("hostname").strip() == "hp1"
    assert "inet %s/24" % GUEST_IP in t.sh("ip -4 addr show eth0")
    assert "default via %s" % HOST_IP in t.sh("ip route")
    assert "nameserver 192.0.2.53" in t.sh("cat /etc/resolv.conf")
    # ...but nothing of it shows on the kernel command line.
    cmdline = t.sh("cat /proc/cmdline")
    assert "ubd0=" in cmdline  # it is the UML command line
    for secret in (GUEST_IP, HOST_IP, "HN_", "192.0.2.53"):
        assert secret not in cmdline, cmdline
    # hostfs (built into Debian's UML kernel) must not reach the host's files.
    out = t.sh("mount -t hostfs -o /etc none /mnt 2>&1; ls /mnt | head -3")
    assert "failed" in out and "passwd" not in out, out
    # The guest reaches the host side of its tap.
    assert " 0% packet loss" in t.sh("ping -c 1 -W 5 " + HOST_IP)
    t.close()

    code, st = lab.status()
    assert code == 0 and st["running"] and st["pid"] > 0 and len(st["processes"]) >= 2
    console = Path(st["console_log"]).read_text(errors="replace")
    assert "hn-init: ready" in console and "Run /sbin/hn-init as init process" in console
    # A second guest of the same name is refused while the first runs.
    again = hn("guest", "start", "--name", "hp1", "--netns", NS, "--tap", TAP, "--ip", GUEST_IP + "/24",
               "--data-dir", str(lab.data_dir), check=False)
    assert again.returncode != 0 and "already running" in again.stderr

    sock = Path(st["dir"]) / "uml" / "hp1" / "mconsole"  # uml_dir= is DATA/guests/NAME/uml
    assert sock.exists()
    t0 = time.monotonic()
    lab.stop()
    stop_secs = time.monotonic() - t0
    assert not guest_pids(lab.data_dir), "UML processes left after halt"
    assert not sock.exists(), "a clean halt removes the mconsole socket"
    assert stop_secs < 8, "halt took %.1f s (a clean halt is immediate; did it need the kill?)" % stop_secs
    assert lab.status()[0] == 3

    # Second boot: image and COW exist, page cache warm.
    t, warm = boot_until_login(lab)
    t.close()
    print("\nbusybox guest: start -> telnet login prompt %.2f s (first boot), %.2f s (second); halt %.2f s"
          % (cold, warm, stop_secs))
    lab.stop()
    assert not guest_pids(lab.data_dir)


def test_reset_gives_a_pristine_disk_and_leaves_the_base_untouched(lab):
    img = lab.data_dir / "images" / "busybox.img"
    base_sha = hashlib.sha256(img.read_bytes()).hexdigest()
    t, _ = boot_until_login(lab)
    t.send("root\r\n")
    t.expect(b"assword: ")
    t.send("root\r\n")
    t.expect(b"# ")
    t.sh("echo attacker-was-here > /root/marker; dd if=/dev/urandom of=/root/blob bs=1k count=2048 2>/dev/null; sync")
    assert "attacker-was-here" in t.sh("cat /root/marker")
    t.close()
    cow = lab.data_dir / "guests" / "hp1" / "uml" / "disk.cow"
    assert cow.stat().st_blocks * 512 > 2 << 20, "the writes went to the COW file"

    p = hn("guest", "reset", "--name", "hp1", "--data-dir", str(lab.data_dir), timeout=60)
    assert json.loads(p.stdout)["pid"] > 0
    deadline = time.monotonic() + BOOT_DEADLINE
    t = Telnet.connect(NS, GUEST_IP, deadline)
    t.login()
    assert "No such file" in t.sh("cat /root/marker 2>&1")
    t.close()
    assert hashlib.sha256(img.read_bytes()).hexdigest() == base_sha, "the shared base image changed"
    lab.stop()


def test_console_attach_and_leave_with_ctrl_bracket(lab):
    t, _ = boot_until_login(lab)
    t.close()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary(), [binary(), "guest", "console", "--name", "hp1", "--data-dir", str(lab.data_dir)])
    buf = b""

    def expect(pattern: bytes, timeout=30):
        nonlocal buf
        deadline = time.monotonic() + timeout
        while pattern not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("console: waited for %r, got %r" % (pattern, buf[-400:]))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    buf += os.read(fd, 4096)
                except OSError:
                    raise EOFError("console closed: %r" % buf[-400:])
        i = buf.index(pattern) + len(pattern)
        out, buf = buf[:i], buf[i:]
        return out

    try:
        expect(b"Ctrl-] leaves")
        expect(b"login: ")
        os.write(fd, b"root\r")
        expect(b"assword: ")
        os.write(fd, b"root\r")
        expect(b"# ")
        os.write(fd, b"echo on-the-console-$((6*7))\r")
        expect(b"on-the-console-42")
        os.write(fd, b"\x1d")  # Ctrl-]
        expect(b"Left hp1's console")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    code, st = lab.status()
    assert code == 0 and st["running"], "leaving the console must leave the guest running"
    lab.stop()


def test_stop_kills_a_guest_that_does_not_answer_halt(lab):
    t, _ = boot_until_login(lab)
    t.close()
    _, st = lab.status()
    os.kill(st["pid"], signal.SIGSTOP)  # the UML main process: mconsole stays silent
    t0 = time.monotonic()
    lab.stop(timeout_ms=1000)
    secs = time.monotonic() - t0
    assert not guest_pids(lab.data_dir), "processes left after the forced stop"
    assert secs < 20, "forced stop took %.1f s" % secs


def test_guest_as_an_unprivileged_uid(lab):
    """--uid (what the lab does, issue 14): every UML process runs as that uid with no
    capabilities, on a tap it owns; its files are where it may write; mconsole still answers."""
    uid = 0x20000000 + 50 * 65536
    ip = ["ip", "netns", "exec", NS]
    run(ip + ["ip", "link", "del", TAP])
    run(ip + ["ip", "tuntap", "add", "dev", TAP, "mode", "tap", "user", str(uid), "group", str(uid)])
    run(ip + ["ip", "addr", "add", HOST_IP + "/24", "dev", TAP])
    run(ip + ["ip", "link", "set", TAP, "up"])
    t0 = time.monotonic()
    st = lab.start(extra=("--uid", str(uid)))
    assert st["uid"] == uid
    deadline = t0 + BOOT_DEADLINE
    t = Telnet.connect(NS, GUEST_IP, deadline)
    t.login(timeout=max(1, deadline - time.monotonic()))
    boot = time.monotonic() - t0
    assert t.sh("id -u").strip() == "0"  # root inside, an ordinary user outside
    t.close()
    checked = 0
    for pid in guest_pids(lab.data_dir):
        try:  # the guest's own processes come and go (the telnet session just ended); check those alive
            text = Path("/proc/%d/status" % pid).read_text()
        except FileNotFoundError:
            continue
        checked += 1
        status = dict(l.split(":", 1) for l in text.splitlines())
        assert status["Uid"].split() == [str(uid)] * 4 and status["Gid"].split() == [str(uid)] * 4, pid
        assert int(status["CapEff"], 16) == 0 and status["NoNewPrivs"].strip() == "1", pid
    assert checked >= 2, "expected the UML kernel and its helpers among the host processes"
    gdir = lab.data_dir / "guests" / "hp1"
    assert (gdir.stat().st_uid, gdir.stat().st_gid, gdir.stat().st_mode & 0o777) == (0, uid, 0o750)
    assert (gdir / "uml" / "disk.cow").stat().st_uid == uid
    assert (gdir / "console.log").stat().st_uid == 0 and (gdir / "console.log").stat().st_mode & 0o777 == 0o640
    code, status = lab.status()
    assert code == 0 and status["running"]
    t0 = time.monotonic()
    lab.stop()
    assert not guest_pids(lab.data_dir)
    assert not (gdir / "uml" / "hp1" / "mconsole").exists(), "a clean halt removes the mconsole socket"
    print("\nunprivileged busybox guest: start -> logged in %.2f s; halt %.2f s" % (boot, time.monotonic() - t0))


def test_start_needs_the_tap_and_the_image(lab):
    p = hn("guest", "start", "--name", "hp2", "--netns", NS, "--tap", "hn-notap", "--ip", GUEST_IP + "/24",
           "--data-dir", str(lab.data_dir), check=False)
    assert p.returncode != 0 and "tap hn-notap not found" in p.stderr, p.stderr
    p = hn("guest", "start", "--name", "hp2", "--image", "/nonexistent.img", "--netns", NS, "--tap", TAP,
           "--ip", GUEST_IP + "/24", "--data-dir", str(lab.data_dir), check=False)
    assert p.returncode != 0 and "honeynet image build" in p.stderr, p.stderr
    p = hn("guest", "start", "--name", "hp2", "--netns", "hn-no-such-ns", "--tap", TAP, "--ip", GUEST_IP + "/24",
           "--data-dir", str(lab.data_dir), check=False)
    assert p.returncode != 0 and "hn-no-such-ns" in p.stderr, p.stderr
    assert not guest_pids(lab.data_dir)


@pytest.mark.slow
def test_debian_guest_telnet_ssh_and_own_host_keys(lab):
    mirror = debian_mirror()
    if not mirror_answers(mirror):
        pytest.skip("the Debian mirror %s does not answer: no debian image here" % mirror)
    deb_dir = Path(tempfile.mkdtemp(prefix="hn-gd"))
    try:
        hn("image", "build", "debian", "--data-dir", str(deb_dir), timeout=1200)
        (lab.data_dir / "debian.img").symlink_to(deb_dir / "images" / "debian.img")
        img = str(lab.data_dir / "debian.img")
        t, secs = boot_until_login(lab, "deb1", img)
        t.send("root\r\n")
        t.expect(b"assword: ")
        t.send("root\r\n")
        t.expect(b"# ", 30)
        assert "Debian GNU/Linux 12" in t.sh("cat /etc/os-release")
        assert GUEST_IP not in t.sh("cat /proc/cmdline")
        keys1 = t.sh("cat /etc/ssh/ssh_host_ed25519_key.pub")
        assert keys1.startswith("ssh-ed25519 ")
        t.close()
        s = Telnet.connect(NS, GUEST_IP, time.monotonic() + 30, port=22)
        assert s.expect(b"\n", 10).startswith("SSH-2.0-OpenSSH")
        s.close()
        print("\ndebian guest: start -> telnet login prompt %.2f s" % secs)
        hn("guest", "reset", "--name", "deb1", "--data-dir", str(lab.data_dir), timeout=60)
        t = Telnet.connect(NS, GUEST_IP, time.monotonic() + BOOT_DEADLINE)
        t.login()
        keys2 = t.sh("cat /etc/ssh/ssh_host_ed25519_key.pub")
        t.close()
        assert keys2.startswith("ssh-ed25519 ") and keys2 != keys1, "a fresh guest must make its own SSH host keys"
        lab.stop("deb1")
    finally:
        shutil.rmtree(deb_dir, ignore_errors=True)
