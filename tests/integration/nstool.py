#!/usr/bin/env python3
"""Small network services and probes that run INSIDE a test namespace.

Started by netlab.py with `ip netns exec NS python3 nstool.py ...`; stdlib only.

  serve-tcp [--banner TEXT] [--http] PORT...   accept on 0.0.0.0:PORT, write the banner
                                               (or an HTTP/1.0 answer with --http), close
  serve-udp PORT...                            echo every datagram back to its sender
  udp-probe HOST PORT... [--timeout S]         one datagram per port, each from a new socket;
                                               prints one JSON line {"answered": [...], "silent": [...]}

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
    p = sub.add_parser("udp-probe")
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("host")
    p.add_argument("ports", type=int, nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "serve-tcp":
        serve_tcp(a.ports, a.banner, a.http)
    elif a.cmd == "serve-udp":
        serve_udp(a.ports)
    else:
        udp_probe(a.host, a.ports, a.timeout)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(0)
