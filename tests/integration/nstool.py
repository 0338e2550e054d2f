#!/usr/bin/env python3
"""Small network services and probes that run INSIDE a test namespace.

Started by netlab.py with `ip netns exec NS python3 nstool.py ...`; stdlib only.

  serve-tcp [--banner TEXT] [--http] PORT...   accept on 0.0.0.0:PORT, write the banner
                                               (or an HTTP/1.0 answer with --http), close
  serve-udp PORT...                            echo every datagram back to its sender
  udp-probe HOST PORT... [--timeout S]         one datagram per port, each from a new socket;
                                               prints one JSON line {"answered": [...], "silent": [...]}

  serve-record --dir D [--reply TEXT] PORT...  accept on 0.0.0.0:PORT; every byte a connection
                                               sends is appended to D/PORT-N.bin (N counts the
                                               connections); after each chunk received, writes
                                               TEXT back (when given); closes when the peer does
  tcp-send HOST PORT [--part TEXT]... [--gap S] [--read S]
                                               connect, send each part as its own segment (TCP_NODELAY,
                                               --gap seconds apart), read for --read seconds; prints
                                               {"connected": bool, "received": "...", "error": "..."}

The servers print "ready" on stdout once every port is bound, then run until killed.
"""
import argparse
import json
import socket
import sys
import threading


def _serve_tcp_port(sock, banner, http):
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=_answer_tcp, args=(conn, banner, http), daemon=True).start()


def _answer_tcp(conn, banner, http):
    try:
        conn.settimeout(2.0)
        if http:
            try:
                conn.recv(4096)  # the request line; answer whatever it was
            except OSError:
                pass
            body = (banner + "\n").encode()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        else:
            conn.sendall((banner + "\n").encode())
    except OSError:
        pass
    finally:
        conn.close()


def serve_tcp(ports, banner, http):
    threads = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(64)
        threads.append(threading.Thread(target=_serve_tcp_port, args=(s, banner, http), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    threading.Event().wait()


def serve_udp(ports):
    import selectors
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                data, peer = key.fileobj.recvfrom(65535)
                key.fileobj.sendto(data, peer)
            except OSError:
                pass


def _record_conn(conn, path, reply):
    try:
        conn.settimeout(30.0)
        with open(path, "ab", buffering=0) as f:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                f.write(data)
                if reply:
                    conn.sendall(reply.encode())
    except OSError:
        pass
    finally:
        conn.close()


def serve_record(ports, directory, reply):
    import itertools
    import os
    counter = itertools.count(1)
    lock = threading.Lock()

    def loop(sock, port):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with lock:
                n = next(counter)
            path = os.path.join(directory, "%d-%d.bin" % (port, n))
            open(path, "wb").close()
            threading.Thread(target=_record_conn, args=(conn, path, reply), daemon=True).start()

    threads = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(64)
        threads.append(threading.Thread(target=loop, args=(s, port), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    threading.Event().wait()


def tcp_send(host, port, parts, gap, read):
    import time
    out = {"connected": False, "received": "", "error": ""}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(3.0)
    try:
        s.connect((host, port))
        out["connected"] = True
        for i, part in enumerate(parts):
            if i and gap:
                time.sleep(gap)  # separate segments on the wire
            s.sendall(part.encode("latin-1"))
        got = b""
        deadline = time.monotonic() + read
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            got += data
        out["received"] = got.decode("latin-1")
    except OSError as e:
        out["error"] = str(e)
    finally:
        s.close()
    print(json.dumps(out), flush=True)


def udp_probe(host, ports, timeout):
    answered, silent = [], []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        payload = ("hn-probe-%d" % port).encode()
        try:
            s.sendto(payload, (host, port))
            data, _ = s.recvfrom(65535)
            (answered if data == payload else silent).append(port)
        except OSError:
            silent.append(port)
        finally:
            s.close()
    print(json.dumps({"answered": answered, "silent": silent}), flush=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve-tcp")
    p.add_argument("--banner", default="hn-service")
    p.add_argument("--http", action="store_true")
    p.add_argument("ports", type=int, nargs="+")
    p = sub.add_parser("serve-udp")
    p.add_argument("ports", type=int, nargs="+")
    p = sub.add_parser("serve-record")
    p.add_argument("--dir", required=True)
    p.add_argument("--reply", default="")
    p.add_argument("ports", type=int, nargs="+")
    p = sub.add_parser("tcp-send")
    p.add_argument("--part", action="append", default=[])
    p.add_argument("--gap", type=float, default=0.0)
    p.add_argument("--read", type=float, default=0.5)
    p.add_argument("host")
    p.add_argument("port", type=int)
    p = sub.add_parser("udp-probe")
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("host")
    p.add_argument("ports", type=int, nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "serve-tcp":
        serve_tcp(a.ports, a.banner, a.http)
    elif a.cmd == "serve-udp":
        serve_udp(a.ports)
    elif a.cmd == "serve-record":
        serve_record(a.ports, a.dir, a.reply)
    elif a.cmd == "tcp-send":
        tcp_send(a.host, a.port, a.part, a.gap, a.read)
    else:
        udp_probe(a.host, a.ports, a.timeout)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(0)
