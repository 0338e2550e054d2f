"""netlab: the network-namespace topology around the honeywall, for the
integration tests and for scripts/minilab.py (the one home of this code).

    honeypot ns                wall ns                     outside ns
    hn-hp0 ──veth── hw-in  [honeynet wall]  hw-out ──veth── hn-out0
    bridge: 192.0.2.10/24                                  192.0.2.1/24 + 192.0.2.20-31
    nat:    10.0.0.2/24 via 10.0.0.1 (the wall)            public_ip 192.0.2.10 answered by the wall

The wall ns's ports have no address, IPv6 off and forwarding off: the kernel
itself never carries a frame between them, only `honeynet wall` does. Nothing
is connected to the host's real interfaces: the veths are created inside the
namespaces, and no namespace has a route except over the lab's own veths.

NetLab is a context manager that always tears down (also on failure,
KeyboardInterrupt and, as a last resort, at interpreter exit): it stops every
process it started, kills whatever is still running inside its namespaces,
and deletes the namespaces (which deletes their veths).

Stdlib only. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`).
"""
from __future__ import annotations

import atexit
import itertools
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NSTOOL = HERE / "nstool.py"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
DEFAULT_BIN = "/work/main/build/honeynet"

# Addresses of the topology (TEST-NET-1, never routed anywhere real).
OUTSIDE_IP = "192.0.2.1"                                   # the outside host / nat upstream gateway
OUTSIDE_EXTRA = ["192.0.2.%d" % i for i in range(20, 32)]  # the outside host's other addresses
PUBLIC_IP = "192.0.2.10"                                   # what attackers use (bridge: the honeypot itself)
NAT_HONEYPOT_IP = "10.0.0.2"
NAT_GATEWAY_IP = "10.0.0.1"
HP_IF, WALL_IN, WALL_OUT, OUT_IF = "hn-hp0", "hw-in", "hw-out", "hn-out0"

# Services every lab starts.
OUTSIDE_TCP_PORTS = [21, 23, 80, 6667]
OUTSIDE_BANNER = "hn-outside-banner"
HONEYPOT_TCP_PORTS = [23]
HONEYPOT_BANNER = "hn-honeypot login:"
OUTSIDE_UDP_PORTS = list(range(7001, 7031))

MODES = ["bridge", "nat"]
_counter = itertools.count()
_live_labs: list["NetLab"] = []


def binary_path() -> str:
    return os.environ.get("HONEYNET_BIN", DEFAULT_BIN)


def run(cmd, check=True, timeout=30, **kw) -> subprocess.CompletedProcess:
    """Runs a command (list), capturing text output; raises with the output on failure."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\nstdout: %s\nstderr: %s"
                           % (p.returncode, " ".join(map(str, cmd)), p.stdout, p.stderr))
    return p


def list_netns() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def root_links() -> list[str]:
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def delete_netns(ns: str) -> str | None:
    """Kills what still runs inside namespace ns (only ever one of ours: a
    timed-out tool, a child; by pid, else the netns stays alive) and deletes
    it with its interfaces. Returns an error message, or None."""
    for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    r = run(["ip", "netns", "del", ns], check=False)
    if r.returncode != 0 and ns in list_netns():
        return "ip netns del %s: %s" % (ns, r.stderr.strip())
    return None


def wait_until(predicate, timeout=5.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns a truthy value; returns it. Raises
    AssertionError naming `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Proc:
    """A process started in a namespace whose stdout/stderr lines are collected
    by reader threads (so a full pipe never blocks it)."""

    def __init__(self, argv, echo=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, bufsize=1,
                                  start_new_session=True)
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._cv = threading.Condition()
        self._eof = 0
        self._echo = echo
        for stream, sink in ((self.p.stdout, self.stdout_lines), (self.p.stderr, self.stderr_lines)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    def _read(self, stream, sink):
        for line in stream:
            line = line.rstrip("\n")
            with self._cv:
                sink.append(line)
                self._cv.notify_all()
            if self._echo:
                self._echo(line)
        with self._cv:
            self._eof += 1
            self._cv.notify_all()

    @property
    def pid(self) -> int:
        return self.p.pid

    def running(self) -> bool:
        return self.p.poll() is None

    def output(self) -> str:
        with self._cv:
            return "stdout:\n  " + "\n  ".join(self.stdout_lines) + "\nstderr:\n  " + "\n  ".join(self.stderr_lines)

    def text(self) -> str:
        """stdout and stderr lines, for searching."""
        with self._cv:
            return "\n".join(self.stdout_lines + self.stderr_lines)

    def wait_line(self, pattern: str, timeout: float, stream="stdout") -> str:
        """Waits for a line containing pattern (case-insensitive) on stdout
        (or stderr/"any"); raises AssertionError if the process exits first or
        the deadline passes."""
        deadline = time.monotonic() + timeout
        pat = pattern.lower()
        with self._cv:
            while True:
                sources = {"stdout": [self.stdout_lines], "stderr": [self.stderr_lines],
                           "any": [self.stdout_lines, self.stderr_lines]}[stream]
                for lines in sources:
                    for line in lines:
                        if pat in line.lower():
                            return line
                if self._eof >= 2 and self.p.poll() is not None:
                    raise AssertionError("%s exited (code %s) before printing %r\n%s"
                                         % (self.argv, self.p.returncode, pattern, self._output_locked()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s did not print %r within %.0fs\n%s"
                                         % (self.argv, pattern, timeout, self._output_locked()))
                self._cv.wait(min(left, 0.1))

    def _output_locked(self) -> str:
        return "stdout:\n  " + "\n  ".join(self.stdout_lines) + "\nstderr:\n  " + "\n  ".join(self.stderr_lines)

    def send_signal(self, sig):
        if self.running():
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> int:
        rc = self.p.wait(timeout=timeout)
        # let the reader threads drain the pipes
        with self._cv:
            end = time.monotonic() + 2
            while self._eof < 2 and time.monotonic() < end:
                self._cv.wait(0.05)
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=5.0) -> int | None:
        """Signals and waits; SIGKILLs if it does not go. Returns the exit code."""
        if not self.running():
            return self.p.returncode
        self.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            try:
                return self.wait(5)
            except subprocess.TimeoutExpired:
                return None


class Wall(Proc):
    """`honeynet wall --config FILE` running in the wall namespace."""

    def __init__(self, argv, config_path, capture_dir, echo=None):
        super().__init__(argv, echo=echo)
        self.config_path = Path(config_path)
        self.capture_dir = Path(capture_dir)

    def wait_ready(self, timeout=10.0) -> str:
        return self.wait_line("ready", timeout)

    def stop(self, sig=signal.SIGINT, timeout=10.0) -> int | None:
        """Stops the wall (SIGINT by default) and returns its exit code;
        SIGKILLs after timeout and then returns None."""
        return super().stop(sig, timeout)


def make_config(mode: str, capture_dir, limits: dict | None = None, top: dict | None = None,
                capture: dict | None = None, inside_if=WALL_IN, outside_if=WALL_OUT, honeypot: dict | None = None) -> str:
    """The honeywall's TOML config for this topology. limits: e.g. {"tcp": 9,
    "window": "1h"} (keys left out keep the binary's defaults); top: top-level
    keys such as {"roach_motel": True, "dns_servers": ["192.0.2.53"]};
    capture: extra [capture] keys; honeypot: extra keys of hp1 (e.g. {"ip6": [...]})."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(str(v))

    lines = ['mode = %s' % val(mode)]
    for k, v in (top or {}).items():
        lines.append("%s = %s" % (k, val(v)))
    lines += ["", "[inside]", "interface = %s" % val(inside_if)]
    if mode == "nat":
        lines.append('gateway_ip = "%s/24"' % NAT_GATEWAY_IP)
    lines += ["", "[outside]", "interface = %s" % val(outside_if)]
    if mode == "nat":
        lines.append('gateway = "%s"' % OUTSIDE_IP)
    lines += ["", "[[honeypot]]", 'name = "hp1"']
    if mode == "nat":
        lines += ['ip = "%s"' % NAT_HONEYPOT_IP, 'public_ip = "%s"' % PUBLIC_IP]
    else:
        lines.append('ip = "%s"' % PUBLIC_IP)
    for k, v in (honeypot or {}).items():
        lines.append("%s = %s" % (k, val(v)))
    if limits:
        lines += ["", "[limits]"] + ["%s = %s" % (k, val(v)) for k, v in limits.items()]
    lines += ["", "[capture]", "dir = %s" % val(str(capture_dir))]
    for k, v in (capture or {}).items():
        lines.append("%s = %s" % (k, val(v)))
    return "\n".join(lines) + "\n"


class NetLab:
    """One topology (honeypot ns, wall ns, outside ns). Use as a context manager.

    names: (honeypot_ns, wall_ns, outside_ns); default hn-hp-<pid>-<n>, ...
    services: start the standard TCP/UDP services (see OUTSIDE_* / HONEYPOT_*).
    """

    def __init__(self, mode="bridge", names=None, services=True, echo=None):
        if mode not in ("bridge", "nat"):
            raise ValueError("mode must be bridge or nat, got %r" % mode)
        self.mode = mode
        if names is None:
            tag = "%d-%d" % (os.getpid(), next(_counter))
            names = ("hn-hp-" + tag, "hn-wall-" + tag, "hn-out-" + tag)
        self.hp_ns, self.wall_ns, self.out_ns = names
        self.want_services = services
        self.echo = echo
        self.procs: list[Proc] = []
        self.created: list[str] = []
        self.honeypot_ip = NAT_HONEYPOT_IP if mode == "nat" else PUBLIC_IP  # address on the honeypot
        self.public_ip = PUBLIC_IP                                          # address the outside uses
        self.gateway_ip = NAT_GATEWAY_IP if mode == "nat" else OUTSIDE_IP

    # --- lifecycle -------------------------------------------------------
    def __enter__(self):
        _live_labs.append(self)
        try:
            self.build()
            if self.want_services:
                self.start_services()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def build(self):
        for ns in (self.hp_ns, self.wall_ns, self.out_ns):
            if ns in list_netns():
                raise RuntimeError("namespace %s already exists (left from an earlier run?): "
                                   "remove it with `ip netns del %s`" % (ns, ns))
        for ns in (self.hp_ns, self.wall_ns, self.out_ns):
            run(["ip", "netns", "add", ns])
            self.created.append(ns)
            # IPv6 off and no forwarding BEFORE any veth exists, so no interface
            # ever gets an address or sends RS/DAD/MLD.
            self.sysctl(ns, {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1,
                             "net.ipv4.conf.all.forwarding": 0, "net.ipv4.conf.default.forwarding": 0})
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # veths created inside the namespaces: nothing ever appears in the host's.
        run(["ip", "-n", self.wall_ns, "link", "add", WALL_IN, "type", "veth", "peer", "name", HP_IF,
             "netns", self.hp_ns])
        run(["ip", "-n", self.wall_ns, "link", "add", WALL_OUT, "type", "veth", "peer", "name", OUT_IF,
             "netns", self.out_ns])
        self.sysctl(self.wall_ns, {"net.ipv6.conf.%s.disable_ipv6" % WALL_IN: 1,
                                   "net.ipv6.conf.%s.disable_ipv6" % WALL_OUT: 1,
                                   "net.ipv4.conf.%s.forwarding" % WALL_IN: 0,
                                   "net.ipv4.conf.%s.forwarding" % WALL_OUT: 0})
        self.sysctl(self.hp_ns, {"net.ipv6.conf.%s.disable_ipv6" % HP_IF: 1})
        self.sysctl(self.out_ns, {"net.ipv6.conf.%s.disable_ipv6" % OUT_IF: 1})
        for ifname in (WALL_IN, WALL_OUT):
            run(["ip", "-n", self.wall_ns, "link", "set", ifname, "up"])
        # honeypot
        run(["ip", "-n", self.hp_ns, "addr", "add", self.honeypot_ip + "/24", "dev", HP_IF])
        run(["ip", "-n", self.hp_ns, "link", "set", HP_IF, "up"])
        run(["ip", "-n", self.hp_ns, "route", "add", "default", "via", self.gateway_ip, "dev", HP_IF])
        # outside host with several addresses
        run(["ip", "-n", self.out_ns, "addr", "add", OUTSIDE_IP + "/24", "dev", OUT_IF])
        for a in OUTSIDE_EXTRA:
            run(["ip", "-n", self.out_ns, "addr", "add", a + "/24", "dev", OUT_IF])
        run(["ip", "-n", self.out_ns, "link", "set", OUT_IF, "up"])

    def recreate_inside(self, hp_mac=None):
        """hw-in and its peer made again as build() made them, after a test deleted
        hw-in (hp_mac: the honeypot side keeps that MAC, standing for its own NIC)."""
        run(["ip", "-n", self.wall_ns, "link", "add", WALL_IN, "type", "veth", "peer", "name", HP_IF]
            + (["address", hp_mac] if hp_mac else []) + ["netns", self.hp_ns])
        self.sysctl(self.wall_ns, {"net.ipv6.conf.%s.disable_ipv6" % WALL_IN: 1,
                                   "net.ipv4.conf.%s.forwarding" % WALL_IN: 0})
        self.sysctl(self.hp_ns, {"net.ipv6.conf.%s.disable_ipv6" % HP_IF: 1})
        run(["ip", "-n", self.hp_ns, "addr", "add", self.honeypot_ip + "/24", "dev", HP_IF])
        run(["ip", "-n", self.hp_ns, "link", "set", HP_IF, "up"])
        run(["ip", "-n", self.hp_ns, "route", "add", "default", "via", self.gateway_ip, "dev", HP_IF])
        run(["ip", "-n", self.wall_ns, "link", "set", WALL_IN, "up"])

    def start_server(self, ns, ports, banner, http=False) -> Proc:
        """A TCP server (nstool serve-tcp) on 0.0.0.0:ports in ns that writes
        banner (or an HTTP answer) to every connection; waits until it listens."""
        p = self.spawn(ns, PYTHON, str(NSTOOL), "serve-tcp", "--banner", banner,
                       *(["--http"] if http else []), *map(str, ports))
        p.wait_line("ready", 10)
        return p

    def start_udp_echo(self, ns, ports) -> Proc:
        p = self.spawn(ns, PYTHON, str(NSTOOL), "serve-udp", *map(str, ports))
        p.wait_line("ready", 10)
        return p

    def start_services(self):
        """The standard services: banners on the outside host's OUTSIDE_TCP_PORTS,
        UDP echo on OUTSIDE_UDP_PORTS, a login banner on the honeypot's port 23."""
        self.start_server(self.out_ns, OUTSIDE_TCP_PORTS, OUTSIDE_BANNER)
        self.start_udp_echo(self.out_ns, OUTSIDE_UDP_PORTS)
        self.start_server(self.hp_ns, HONEYPOT_TCP_PORTS, HONEYPOT_BANNER)

    def teardown(self):
        """Stops what the lab started and removes its namespaces. Safe to call twice."""
        errors = []
        for p in reversed(self.procs):
            try:
                p.stop(signal.SIGTERM, timeout=3)
            except Exception as e:  # keep going: the namespaces must go
                errors.append("stop %s: %s" % (p.argv, e))
        self.procs.clear()
        for ns in reversed(self.created):
            err = delete_netns(ns)
            if err:
                errors.append(err)
        self.created.clear()
        if self in _live_labs:
            _live_labs.remove(self)
        if errors:
            raise RuntimeError("netlab teardown: " + "; ".join(errors))

    # --- running things --------------------------------------------------
    @staticmethod
    def ns_argv(ns, *argv) -> list[str]:
        return ["ip", "netns", "exec", ns] + [str(a) for a in argv]

    def sysctl(self, ns, values: dict):
        run(self.ns_argv(ns, "sysctl", "-q", "-w", *["%s=%s" % kv for kv in values.items()]))

    def run(self, ns, *argv, check=False, timeout=30) -> subprocess.CompletedProcess:
        return run(self.ns_argv(ns, *argv), check=check, timeout=timeout)

    def spawn(self, ns, *argv, echo=None) -> Proc:
        p = Proc(self.ns_argv(ns, *argv), echo=echo)
        self.procs.append(p)
        return p

    def start_wall(self, binary=None, config_text=None, config_path=None, capture_dir=None,
                   extra_args=(), wait_ready=True, **config_kw) -> Wall:
        """Writes the config (make_config(**config_kw) unless config_text) and
        starts `honeynet wall --config FILE` in the wall namespace. Waits for
        its `ready` line unless wait_ready=False."""
        binary = binary or binary_path()
        if capture_dir is None:
            raise ValueError("capture_dir is required")
        capture_dir = Path(capture_dir)
        capture_dir.mkdir(parents=True, exist_ok=True)
        if config_path is None:
            config_path = capture_dir.parent / ("wall-%s.toml" % self.mode)
        config_path = Path(config_path)
        if config_text is None:
            config_text = make_config(self.mode, capture_dir, **config_kw)
        config_path.write_text(config_text)
        w = Wall(self.ns_argv(self.wall_ns, binary, "wall", "--config", str(config_path), *extra_args),
                 config_path, capture_dir, echo=self.echo)
        self.procs.append(w)
        if wait_ready:
            w.wait_ready(10)
        return w

    # --- probes with real tools ------------------------------------------
    def tcp_connect(self, ns, host, port, timeout=2, source=None) -> bool:
        """nc -z: True when the TCP handshake completed."""
        argv = ["nc", "-z", "-n", "-w", str(timeout)]
        if source:
            argv += ["-s", source]
        return self.run(ns, *argv, host, str(port), timeout=timeout + 10).returncode == 0

    def tcp_banner(self, ns, host, port, timeout=2, source=None) -> str:
        """nc: connects and returns what the server wrote ('' on failure)."""
        argv = ["nc", "-n", "-w", str(timeout)]
        if source:
            argv += ["-s", source]
        r = self.run(ns, *argv, host, str(port), timeout=timeout + 10)
        return r.stdout if r.returncode == 0 else ""

    def ping(self, ns, host, count=1, wait=1, extra=()) -> subprocess.CompletedProcess:
        return self.run(ns, "ping", "-n", "-c", str(count), "-W", str(wait), *extra, host,
                        timeout=count * (wait + 1) + 10)

    def udp_probe(self, ns, host, ports, timeout=1.0) -> dict:
        r = self.run(ns, PYTHON, str(NSTOOL), "udp-probe", "--timeout", str(timeout), host,
                     *map(str, ports), check=True, timeout=len(ports) * (timeout + 1) + 10)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def start_tcpdump(self, ns, ifname, path, direction="in", filt=()) -> Proc:
        """An independent capture (tcpdump, AF_PACKET) in a namespace, written
        packet by packet; waits until it listens. Stop it with stop_tcpdump()."""
        p = self.spawn(ns, "tcpdump", "-i", ifname, "-Q", direction, "--immediate-mode", "-U", "-n",
                       "-w", str(path), *filt)
        p.pcap_path = Path(path)
        p.wait_line("listening on", 10, stream="stderr")
        return p

    @staticmethod
    def stop_tcpdump(p: Proc, min_frames=0, timeout=3.0):
        """Waits (up to timeout) until the capture file holds min_frames frames,
        then stops tcpdump (SIGINT: it writes what it has)."""
        deadline = time.monotonic() + timeout
        while min_frames and time.monotonic() < deadline:
            try:
                if len(read_pcap(p.pcap_path)) >= min_frames:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        p.stop(signal.SIGINT, timeout=5)


@atexit.register
def _teardown_leftovers():
    for lab in list(_live_labs):
        try:
            lab.teardown()
        except Exception as e:  # pragma: no cover - last resort
            print("netlab: teardown at exit failed: %s" % e, file=sys.stderr)


# --- reading what the honeywall wrote -----------------------------------
def banner_in_pcaps(capture_dir) -> bool:
    """The honeypot's telnet banner is in a TCP payload of the outside pcaps."""
    for f in pcaps(capture_dir, "outside"):
        rows = tshark_fields(f, "tcp.srcport == 23 && tcp.len > 0", ["tcp.payload"])
        for (payload,) in rows:
            if HONEYPOT_BANNER.encode().hex() in payload.replace(":", ""):
                return True
    return False


def read_events(capture_dir) -> list[dict]:
    """events.json as a list of objects (a last line still being written is skipped)."""
    path = Path(capture_dir) / "events.json"
    if not path.exists():
        return []
    events = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def read_log(capture_dir) -> list[str]:
    path = Path(capture_dir) / "honeywall.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def hw(e: dict) -> dict:
    return e.get("honeywall") or {}


def proto_is(e: dict, proto: str) -> bool:
    return str(e.get("proto", "")).upper() == proto.upper()


def flow_events(events, action=None, direction=None, proto=None, reason=None) -> list[dict]:
    """event_type "honeywall" events (new/dropped flows) matching the filters."""
    out = []
    for e in events:
        if e.get("event_type") != "honeywall":
            continue
        h = hw(e)
        if action and h.get("action") != action:
            continue
        if direction and h.get("direction") != direction:
            continue
        if reason and h.get("reason") != reason:
            continue
        if proto and not proto_is(e, proto):
            continue
        out.append(e)
    return out


def log_field(line: str, name: str) -> str | None:
    m = re.search(r"\b%s=(\S*)" % re.escape(name), line)
    return m.group(1) if m else None


def budget_used(capture_dir, cls="tcp") -> int:
    """How many starts budgets.json records for class cls (any honeypot), read
    without assuming one layout: a key named like the class holding a number,
    a list of start times, or an object with used/starts/count."""
    path = Path(capture_dir) / "budgets.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return 0
    best = 0

    def measure(v):
        if isinstance(v, bool):
            return 0
        if isinstance(v, int):
            return v
        if isinstance(v, list):
            return len(v)
        if isinstance(v, dict):
            for k in ("used", "starts", "count"):
                if k in v:
                    return measure(v[k])
        return 0

    def walk(node):
        nonlocal best
        if isinstance(node, dict):
            for k, v in node.items():
                if str(k).lower() == cls.lower():
                    best = max(best, measure(v))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    return best


def pcaps(capture_dir, side: str) -> list[Path]:
    """inside-*.pcap / outside-*.pcap in name order."""
    return sorted(Path(capture_dir).glob("%s-*.pcap" % side))


def tshark_fields(path, display_filter, fields, check=True) -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    r = run(argv, check=False, timeout=60)
    if check and (r.returncode != 0 or "cut short" in r.stderr):
        raise AssertionError("tshark could not read %s cleanly (exit %d): %s" % (path, r.returncode, r.stderr))
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]


def read_pcap(path) -> list[bytes]:
    """Frames of a classic pcap file (stdlib; an independent check of what tshark says)."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("%s: not a pcap file (magic %s)" % (path, magic.hex()))
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            break
        frames.append(data[off:off + incl])
        off += incl
    return frames


def tshark_icmp(path, display_filter="icmp") -> list[dict]:
    """ICMP packets of a pcap as tshark decodes them: src, dst, ttl, type,
    ident, seq, payload (the ICMP data after the 8-byte header, taken from the
    frame's raw bytes) and data (what tshark shows as data.data: the payload
    less any part it decodes as a timestamp)."""
    r = run(["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "json", "-x"],
            check=False, timeout=60)
    if r.returncode != 0 or "cut short" in r.stderr:
        raise AssertionError("tshark could not read %s cleanly (exit %d): %s" % (path, r.returncode, r.stderr))
    out = []
    for pkt in json.loads(r.stdout or "[]"):
        layers = pkt["_source"]["layers"]
        ip, icmp = layers.get("ip", {}), layers.get("icmp", {})
        raw = bytes.fromhex(layers["frame_raw"][0])
        ihl = (raw[14] & 0x0F) * 4
        total = int.from_bytes(raw[16:18], "big")
        data = icmp.get("data", {}).get("data.data") or layers.get("data", {}).get("data.data") or ""

        def first(v):
            return v[0] if isinstance(v, list) else v

        out.append({
            "src": first(ip.get("ip.src")), "dst": first(ip.get("ip.dst")),
            "ttl": int(first(ip.get("ip.ttl", "-1"))),
            "type": int(first(icmp.get("icmp.type", "-1"))),
            "ident": first(icmp.get("icmp.ident")), "seq": first(icmp.get("icmp.seq")),
            "payload": raw[14 + ihl + 8:14 + total],
            "data": bytes.fromhex(first(data).replace(":", "")) if data else b"",
        })
    return out


def icmp_echo_requests(frames: list[bytes]) -> list[dict]:
    """Echo requests among raw Ethernet frames (stdlib decoding, for our own captures)."""
    out = []
    for f in frames:
        if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 1:
            continue
        ihl = (f[14] & 0x0F) * 4
        total = int.from_bytes(f[16:18], "big")
        icmp = f[14 + ihl:14 + total]
        if len(icmp) < 8 or icmp[0] != 8:
            continue
        out.append({"src": ".".join(map(str, f[26:30])), "dst": ".".join(map(str, f[30:34])),
                    "ttl": f[22], "ident": int.from_bytes(icmp[4:6], "big"),
                    "seq": int.from_bytes(icmp[6:8], "big"), "payload": bytes(icmp[8:])})
    return out
