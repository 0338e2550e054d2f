"""sesscraft: crafted TCP conversations written as pcap files, and readers of
`tshark -z follow,tcp,raw` and of `honeynet sessions/session`, for
test_sessions.py. Stdlib only; frames come from craft.py's builders."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import craft
import pcapgen

CLIENT_MAC = "02:00:00:00:00:01"
SERVER_MAC = "02:00:00:00:00:02"


class Pcap:
    """Frames with timestamps, written as a classic microsecond pcap."""

    def __init__(self, t0: float = 1_790_000_000.0):
        self.t = t0
        self.frames: list[tuple[float, bytes]] = []

    def add(self, frame: bytes, dt: float = 0.001, snap: int | None = None):
        self.t += dt
        self.frames.append((self.t, frame if snap is None else frame[:snap], len(frame)))

    def write(self, path) -> Path:
        pcapgen.write_pcap(path, [(pcapgen.usec_ns(t), f, wire) for t, f, wire in self.frames], nano=False)
        return Path(path)


class Conn:
    """One TCP connection between a client and a server; seq offsets are
    relative to the first data byte of each direction."""

    def __init__(self, pcap: Pcap, client=("10.1.0.1", 40000), server=("10.1.0.2", 80), cisn=1000, sisn=5000):
        self.p = pcap
        self.c, self.s = client, server
        self.cisn, self.sisn = cisn & 0xFFFFFFFF, sisn & 0xFFFFFFFF
        self.sent = {"client": bytearray(), "server": bytearray()}  # what an endpoint's application got

    def _frame(self, frm, to, smac, dmac, flags, seq, ack, payload):
        seg = craft.tcp(frm[0], to[0], frm[1], to[1], flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF,
                        payload=payload)
        return craft.eth(dmac, smac, 0x0800, craft.ipv4(frm[0], to[0], 6, seg))

    def client(self, off, data=b"", flags=craft.ACK | craft.PSH, ack_off=None, snap=None, dt=0.001):
        ack = self.sisn + 1 + (len(self.sent["server"]) if ack_off is None else ack_off)
        self.p.add(self._frame(self.c, self.s, CLIENT_MAC, SERVER_MAC, flags, self.cisn + 1 + off, ack, data),
                   dt, snap)

    def server(self, off, data=b"", flags=craft.ACK | craft.PSH, ack_off=None, snap=None, dt=0.001):
        ack = self.cisn + 1 + (len(self.sent["client"]) if ack_off is None else ack_off)
        self.p.add(self._frame(self.s, self.c, SERVER_MAC, CLIENT_MAC, flags, self.sisn + 1 + off, ack, data),
                   dt, snap)

    def handshake(self):
        self.p.add(self._frame(self.c, self.s, CLIENT_MAC, SERVER_MAC, craft.SYN, self.cisn, 0, b""))
        self.p.add(self._frame(self.s, self.c, SERVER_MAC, CLIENT_MAC, craft.SYN | craft.ACK, self.sisn,
                               self.cisn + 1, b""))
        self.p.add(self._frame(self.c, self.s, CLIENT_MAC, SERVER_MAC, craft.ACK, self.cisn + 1, self.sisn + 1, b""))

    def close(self):
        c, s = len(self.sent["client"]), len(self.sent["server"])
        self.client(c, flags=craft.FIN | craft.ACK)
        self.server(s, flags=craft.FIN | craft.ACK, ack_off=c + 1)
        self.client(c + 1, flags=craft.ACK, ack_off=s + 1)


# ------------------------------------------------------------------ readers
def run(argv, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout)


def tshark_streams(path) -> list[int]:
    r = run(["tshark", "-n", "-r", path, "-T", "fields", "-e", "tcp.stream", "-Y", "tcp"])
    assert r.returncode == 0, r.stderr.decode()
    return sorted({int(x) for x in r.stdout.decode().split()})


def tshark_follow(path, streams) -> dict[int, dict]:
    """tshark -z follow,tcp,raw,N for every N: {N: {"client": "ip:port",
    "server": "ip:port", "client_bytes": b"", "server_bytes": b""}}."""
    argv = ["tshark", "-n", "-r", path, "-q"]
    for n in streams:
        argv += ["-z", "follow,tcp,raw,%d" % n]
    r = run(argv)
    assert r.returncode == 0, r.stderr.decode()
    out: dict[int, dict] = {}
    cur = None
    for line in r.stdout.decode().splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            cur = {"client_bytes": bytearray(), "server_bytes": bytearray()}
            out[int(line.split()[-1])] = cur
        elif cur is None or line.startswith("====") or line.startswith("Follow:"):
            continue
        elif line.startswith("Node 0: "):
            cur["client"] = line[8:]
        elif line.startswith("Node 1: "):
            cur["server"] = line[8:]
        elif line.startswith("\t"):
            cur["server_bytes"] += bytes.fromhex(line.strip())
        elif line.strip():
            cur["client_bytes"] += bytes.fromhex(line.strip())
    return out


def honeynet_sessions(binary, paths, *extra) -> list[dict]:
    r = run([binary, "sessions", "--json", "--all", *extra, *paths])
    assert r.returncode == 0, "honeynet sessions failed (%d): %s" % (r.returncode, r.stderr.decode())
    return json.loads(r.stdout)


def honeynet_raw(binary, session_id, paths, outdir: Path, *extra) -> tuple[bytes, bytes, str]:
    """session ID --raw FILE for both directions: (client bytes, server bytes, stderr)."""
    outdir.mkdir(parents=True, exist_ok=True)
    base = outdir / ("raw-%s" % abs(hash(session_id)))
    r = run([binary, "session", session_id, *paths, "--raw", base, "--direction", "both", *extra])
    assert r.returncode == 0, "honeynet session --raw failed (%d): %s" % (r.returncode, r.stderr.decode())
    c = Path(str(base) + ".client").read_bytes()
    s = Path(str(base) + ".server").read_bytes()
    return c, s, r.stderr.decode()
