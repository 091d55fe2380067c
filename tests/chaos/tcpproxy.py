#!/usr/bin/env python3
"""tcpproxy: a small fault-injecting TCP proxy for the cdc tests.

It sits between a program and a real server (PostgreSQL, OpenSearch) and
copies bytes both ways, except when told to misbehave.  It knows nothing of
the protocol.  Only the Python standard library is used.

    tcpproxy.py --upstream HOST:PORT --port-file FILE [--port N]

FILE receives "PORT CONTROL_PORT" once both sockets listen.  The proxy
listens on 127.0.0.1:PORT; CONTROL_PORT takes commands as plain HTTP GETs
and answers with JSON:

    /latency?ms=M        add M ms before every chunk, both ways (0: off)
    /reset               reset (TCP RST) every open connection, both sides
    /halfopen            freeze every open connection for good: nothing is
                         read or written on either side and nothing is closed,
                         so the server times the connection out while the
                         client sees a silent, open socket (a peer that
                         vanished).  New connections work normally.
    /stall?secs=S        stop copying on every connection, open and new, for
                         S seconds; the sockets stay open.  Afterwards copying
                         resumes, and a side the peer closed meanwhile is
                         closed through.
    /cut?bytes=B&count=N the next N times a client sends more than B bytes
                         without an answer in between (a request bigger than
                         B), forward the first B bytes only, then reset both
                         sides: a request cut in the middle.
    /refuse?secs=S       reset new connections for S seconds
    /clear               drop every rule; frozen connections are closed
    /stats               counters: connections, active, bytes_up/down,
                         resets, cuts, frozen, refused

Exit with SIGTERM/SIGINT.
"""
import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
conns = set()
cfg = {"latency_ms": 0, "stall_until": 0.0, "cut_bytes": 0, "cut_count": 0,
       "refuse_until": 0.0}
stats = {"connections": 0, "active": 0, "bytes_up": 0, "bytes_down": 0,
         "resets": 0, "cuts": 0, "frozen": 0, "refused": 0}
upstream = None


def hard_close(s):
    """Close s with a TCP reset (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class Conn:
    def __init__(self, client, server):
        self.client = client
        self.server = server
        self.closed = False
        self.frozen = False
        self.unanswered = 0     # bytes sent up since the last byte came down

    def close(self, rst=False):
        with lock:
            if self.closed:
                return
            self.closed = True
            conns.discard(self)
            stats["active"] -= 1
        for s in (self.client, self.server):
            if rst:
                hard_close(s)
            else:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass


def pump(c, src, dst, up):
    """Copy src -> dst until either side ends; up: client -> server."""
    while not c.closed:
        with lock:
            stalled = time.time() < cfg["stall_until"]
            lat = cfg["latency_ms"]
        if c.frozen or stalled:
            time.sleep(0.05)
            continue
        try:
            r, _, _ = select.select([src], [], [], 0.1)
        except (OSError, ValueError):
            break
        if not r:
            continue
        # A stall or freeze may have begun while we waited: leave the bytes
        # in the socket.
        with lock:
            if c.frozen or time.time() < cfg["stall_until"]:
                continue
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        if lat:
            time.sleep(lat / 1000.0)
        cut = None
        with lock:
            if up:
                c.unanswered += len(data)
                if cfg["cut_count"] > 0 and cfg["cut_bytes"] > 0 and c.unanswered > cfg["cut_bytes"]:
                    cfg["cut_count"] -= 1
                    stats["cuts"] += 1
                    cut = len(data) - (c.unanswered - cfg["cut_bytes"])
                stats["bytes_up"] += len(data)
            else:
                c.unanswered = 0
                stats["bytes_down"] += len(data)
        if cut is not None:
            try:
                if cut > 0:
                    dst.sendall(data[:cut])
            except OSError:
                pass
            time.sleep(0.05)
            c.close(rst=True)
            return
        try:
            dst.sendall(data)
        except OSError:
            break
    if not c.frozen:
        c.close()


def handle(client):
    with lock:
        refuse = time.time() < cfg["refuse_until"]
        if refuse:
            stats["refused"] += 1
    if refuse:
        hard_close(client)
        return
    try:
        server = socket.create_connection(upstream, timeout=10)
    except OSError:
        hard_close(client)
        return
    server.settimeout(None)
    client.settimeout(None)
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Conn(client, server)
    with lock:
        conns.add(c)
        stats["connections"] += 1
        stats["active"] += 1
    threading.Thread(target=pump, args=(c, client, server, True), daemon=True).start()
    threading.Thread(target=pump, args=(c, server, client, False), daemon=True).start()


def accept_loop(listener):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            continue
        threading.Thread(target=handle, args=(client,), daemon=True).start()


class Control(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        out = {"ok": True}
        victims = []
        try:
            with lock:
                if u.path == "/latency":
                    cfg["latency_ms"] = int(q.get("ms", "0"))
                elif u.path == "/reset":
                    victims = [c for c in conns if not c.frozen]
                    stats["resets"] += len(victims)
                elif u.path == "/halfopen":
                    for c in conns:
                        if not c.frozen:
                            c.frozen = True
                            stats["frozen"] += 1
                elif u.path == "/stall":
                    cfg["stall_until"] = time.time() + float(q.get("secs", "10"))
                elif u.path == "/cut":
                    cfg["cut_bytes"] = int(q.get("bytes", "1024"))
                    cfg["cut_count"] = int(q.get("count", "1"))
                elif u.path == "/refuse":
                    cfg["refuse_until"] = time.time() + float(q.get("secs", "10"))
                elif u.path == "/clear":
                    cfg.update({"latency_ms": 0, "stall_until": 0.0, "cut_bytes": 0,
                                "cut_count": 0, "refuse_until": 0.0})
                    victims = [c for c in conns if c.frozen]
                elif u.path == "/stats":
                    out = dict(stats)
                    out["frozen_open"] = sum(1 for c in conns if c.frozen)
                    out["cut_pending"] = cfg["cut_count"]
                else:
                    self.send_error(404)
                    return
        except ValueError:
            self.send_error(400)
            return
        for c in victims:
            c.close(rst=True)
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global upstream
    ap = argparse.ArgumentParser(description="fault-injecting TCP proxy for tests")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    upstream = (host or "127.0.0.1", int(port))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", a.port))
    listener.listen(128)
    threading.Thread(target=accept_loop, args=(listener,), daemon=True).start()
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (listener.getsockname()[1], ctl.server_address[1]))
    os.rename(tmp, a.port_file)
    try:
        ctl.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
