#!/usr/bin/env python3
"""faultproxy: a small fault-injecting HTTP proxy for the cdc tests.

It sits in front of a real Elasticsearch/OpenSearch node and forwards every
request to it, except when told to misbehave.  Only the Python standard
library is used.

    faultproxy.py --upstream http://127.0.0.1:9200 --port-file FILE

FILE receives "PORT CONTROL_PORT" once both sockets listen.  The proxy
listens on PORT; CONTROL_PORT takes commands as plain HTTP GETs:

    /down?secs=S           close the listening socket and every client
                           connection for S seconds (connection refused)
    /status?code=C&count=N answer the next N matching requests with HTTP C
                           and an Elasticsearch-style error body, without
                           forwarding them
    /items?code=C&count=N  in the next _bulk requests, answer N actions
                           (every second one) with item status C without
                           forwarding them; the rest go to the server and
                           the two answers are merged in request order
    /reset?count=N         forward the next N matching requests, then reset
                           the connection instead of answering (the work is
                           done, the client cannot know)
    /delay?ms=M&count=N    hold the next N answers for M milliseconds
    /maxbody?bytes=B       answer 413 to requests with a larger body
                           (0: off), like http.max_content_length
    /clear                 drop every rule
    /stats                 JSON counters: requests, injected faults, ...

Rules apply to requests whose path contains "match" (a query parameter of
each command; default "_bulk").
"""
import argparse
import http.client
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
rules = []          # dicts: kind, count, match, params
stats = {"requests": 0, "forwarded": 0, "status": 0, "items": 0, "resets": 0,
         "delays": 0, "too_large": 0, "refused_while_down": 0, "bulk_bodies": 0,
         "max_body_seen": 0}
max_body = 0
down_until = 0.0
clients = set()
upstream = None     # (host, port)
listen_addr = None
listener = None
listener_ready = threading.Event()


def take_rule(path, kinds):
    """The first live rule of one of kinds matching path; consumes one use."""
    with lock:
        for r in rules:
            if r["kind"] in kinds and r["count"] > 0 and r["match"] in path:
                r["count"] -= 1
                return dict(r)
    return None


def error_body(code):
    kinds = {429: ("es_rejected_execution_exception", "rejected execution (injected)"),
             413: ("content_too_long_exception", "request too large (injected)"),
             503: ("unavailable_shards_exception", "service unavailable (injected)"),
             401: ("security_exception", "missing authentication (injected)"),
             403: ("cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)] (injected)")}
    t, r = kinds.get(code, ("injected_exception", "injected HTTP %d" % code))
    return json.dumps({"error": {"root_cause": [{"type": t, "reason": r}], "type": t, "reason": r},
                       "status": code}).encode()


def read_request(f):
    """Read one HTTP/1.1 request: (method, path, headers(list), body) or None at EOF."""
    line = f.readline(65537)
    if not line:
        return None
    while line in (b"\r\n", b"\n"):
        line = f.readline(65537)
        if not line:
            return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = []
    while True:
        h = f.readline(65537)
        if h in (b"\r\n", b"\n", b""):
            break
        k, v = h.decode("latin-1").split(":", 1)
        headers.append((k.strip(), v.strip()))
    body = b""
    hd = {k.lower(): v for k, v in headers}
    if "content-length" in hd:
        n = int(hd["content-length"])
        body = f.read(n)
    elif hd.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                f.readline()
                break
            parts.append(f.read(size))
            f.readline()
        body = b"".join(parts)
    return method, path, headers, body


def forward(method, path, headers, body):
    conn = http.client.HTTPConnection(upstream[0], upstream[1], timeout=120)
    hdrs = {k: v for k, v in headers if k.lower() not in ("host", "connection", "content-length",
                                                         "transfer-encoding", "expect")}
    conn.request(method, path, body=body if body or method in ("POST", "PUT") else None,
                 headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    ctype = resp.getheader("Content-Type", "application/json")
    conn.close()
    with lock:
        stats["forwarded"] += 1
    return resp.status, ctype, data


def split_bulk(body, code, count):
    """Choose every second action (up to count) to fail.  Returns (forward_body, plan)."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    actions = []
    i = 0
    while i < len(lines):
        a = json.loads(lines[i])
        verb = next(iter(a))
        n = 1 if verb == "delete" else 2
        actions.append((verb, lines[i:i + n]))
        i += n
    plan = []
    keep = []
    failed = 0
    for k, (verb, ls) in enumerate(actions):
        if failed < count and k % 2 == 0:
            plan.append((verb, code))
            failed += 1
        else:
            plan.append((verb, None))
            keep.extend(ls)
    return (b"\n".join(keep) + b"\n") if keep else b"", plan, failed


def send_response(conn, status, ctype, data):
    head = "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
        status, ctype, len(data))
    conn.sendall(head.encode() + data)


def reset(conn):
    """Abort the connection with a TCP reset, now (also under a blocked reader)."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def handle_client(conn):
    with lock:
        clients.add(conn)
    f = conn.makefile("rb")
    try:
        while True:
            req = read_request(f)
            if req is None:
                break
            method, path, headers, body = req
            if time.time() < down_until:
                with lock:
                    stats["refused_while_down"] += 1
                reset(conn)
                return
            with lock:
                stats["requests"] += 1
                if b"_bulk" in path.encode():
                    stats["bulk_bodies"] += 1
                stats["max_body_seen"] = max(stats["max_body_seen"], len(body))
                mb = max_body
            if mb and len(body) > mb:
                with lock:
                    stats["too_large"] += 1
                send_response(conn, 413, "application/json", error_body(413))
                continue
            r = take_rule(path, ("status",))
            if r:
                with lock:
                    stats["status"] += 1
                send_response(conn, r["code"], "application/json", error_body(r["code"]))
                continue
            d = take_rule(path, ("delay",))
            r = None
            if "_bulk" in path:
                with lock:
                    r = next((x for x in rules if x["kind"] == "items" and x["count"] > 0
                              and x["match"] in path), None)
            if r:
                fwd, plan, failed = split_bulk(body, r["code"], r["count"])
                with lock:
                    r["count"] -= failed    # a number of actions, not of requests
                    stats["items"] += failed
                got = []
                status, ctype = 200, "application/json"
                if fwd:
                    status, ctype, data = forward(method, path, headers, fwd)
                    if status != 200:
                        send_response(conn, status, ctype, data)
                        continue
                    got = json.loads(data)["items"]
                items = []
                it = iter(got)
                for verb, code in plan:
                    if code is None:
                        items.append(next(it))
                    else:
                        items.append({verb: {"status": code, "error": {
                            "type": "es_rejected_execution_exception",
                            "reason": "rejected execution (injected)"}}})
                data = json.dumps({"took": 1, "errors": True, "items": items}).encode()
            else:
                status, ctype, data = forward(method, path, headers, body)
            if d:
                with lock:
                    stats["delays"] += 1
                time.sleep(d["ms"] / 1000.0)
            r = take_rule(path, ("reset",))
            if r:
                with lock:
                    stats["resets"] += 1
                reset(conn)
                return
            send_response(conn, status, ctype, data)
    except (OSError, ValueError):
        pass
    finally:
        with lock:
            clients.discard(conn)
        try:
            conn.close()
        except OSError:
            pass


def open_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(listen_addr)
    s.listen(128)
    return s


def accept_loop():
    global listener, listen_addr
    listener = open_listener()
    listen_addr = listener.getsockname()
    listener_ready.set()
    while True:
        if time.time() < down_until:
            time.sleep(0.05)
            continue
        if listener is None:
            for _ in range(100):
                try:
                    listener = open_listener()
                    break
                except OSError:
                    time.sleep(0.05)
        try:
            listener.settimeout(0.1)
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            continue
        conn.settimeout(None)
        threading.Thread(target=handle_client, args=(conn,), daemon=True).start()


class Control(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        global max_body, down_until, listener
        u = urllib.parse.urlparse(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        match = q.get("match", "_bulk")
        out = {"ok": True}
        with lock:
            if u.path == "/down":
                down_until = time.time() + float(q.get("secs", "10"))
                if listener is not None:
                    listener.close()
                    listener = None
                for c in list(clients):
                    try:
                        reset(c)
                    except OSError:
                        pass
            elif u.path == "/up":
                down_until = 0
            elif u.path in ("/status", "/items"):
                rules.append({"kind": u.path[1:], "code": int(q.get("code", "429")),
                              "count": int(q.get("count", "1")), "match": match})
            elif u.path == "/reset":
                rules.append({"kind": "reset", "count": int(q.get("count", "1")), "match": match})
            elif u.path == "/delay":
                rules.append({"kind": "delay", "ms": int(q.get("ms", "1000")),
                              "count": int(q.get("count", "1")), "match": match})
            elif u.path == "/maxbody":
                max_body = int(q.get("bytes", "0"))
            elif u.path == "/clear":
                rules.clear()
                max_body = 0
                down_until = 0
            elif u.path == "/stats":
                out = dict(stats)
                out["pending_rules"] = sum(r["count"] for r in rules)
                out["down"] = time.time() < down_until
            else:
                self.send_error(404)
                return
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global upstream, listen_addr
    ap = argparse.ArgumentParser(description="fault-injecting HTTP proxy for tests")
    ap.add_argument("--upstream", required=True, help="http://host:port of the real server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.upstream)
    upstream = (u.hostname, u.port or 80)
    listen_addr = ("127.0.0.1", a.port)
    threading.Thread(target=accept_loop, daemon=True).start()
    listener_ready.wait()
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (listen_addr[1], ctl.server_address[1]))
    os.rename(tmp, a.port_file)
    try:
        ctl.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
