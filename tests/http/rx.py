#!/usr/bin/env python3
# A webhook receiver for tests/cdc-sink-http.t and tests/badinput-http.t:
# the user's function, written the way a user would (http.server).
#
#   rx.py DIR [RULES...]
# listens on 127.0.0.1 (port written to DIR/port) and for every POST
#   - checks X-CDC-Signature against DIR/secret when that file exists
#     (a mismatch: 401, logged as "badsig" in DIR/requests);
#   - applies the first matching rule: "429:N" answers 429 with
#     Retry-After: N to the first request, "500" answers 500 to the first
#     request, "slow:S" sleeps S seconds on the first request, "reset"
#     resets the first request's connection, "poison:TEXT" answers 400 to
#     any body holding TEXT, "fail-item" reports the batch's first event
#     failed once (batchItemFailures);
#   - otherwise logs each event's raw line to DIR/lines and "KEY LSN" to
#     DIR/events, the body to DIR/bodies/N, and answers 200.
# Each request is logged as "TIME STATUS NEVENTS IDEMPOTENCY-KEY CTYPE" in
# DIR/requests.
import hashlib, hmac, json, os, socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

d = sys.argv[1]
rules = sys.argv[2:]
lock = threading.Lock()
state = {"n": 0, "item_failed": set()}
os.makedirs(os.path.join(d, "bodies"), exist_ok=True)


def events_of(body, ctype):
    if ctype.startswith("application/x-ndjson"):
        return [(l, json.loads(l)) for l in body.decode().split("\n") if l]
    arr = json.loads(body)
    if ctype.startswith("application/cloudevents-batch+json"):
        return [(json.dumps(e["data"], separators=(",", ":")), e["data"]) for e in arr]
    return [(json.dumps(e, separators=(",", ":")), e) for e in arr]


def pos(e):
    s = e["source"]
    return "%X/%X:%d" % (s["commit_lsn"] >> 32, s["commit_lsn"] & 0xFFFFFFFF, s["seq"])


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass    # the client gave up (a timeout)

    def note(self, status, n):
        with open(os.path.join(d, "requests"), "a") as f:
            f.write("%.3f %s %d %s %s\n" % (time.time(), status, n,
                                            self.headers.get("Idempotency-Key", "-"),
                                            self.headers.get("Content-Type", "-")))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ctype = self.headers.get("Content-Type", "")
        with lock:
            state["n"] += 1
            first = state["n"] == 1
        sec = os.path.join(d, "secret")
        if os.path.exists(sec):
            key = open(sec, "rb").read().strip()
            want = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, self.headers.get("X-CDC-Signature", "")):
                self.note("badsig", 0)
                return self.answer(401, b"bad signature")
        evs = events_of(body, ctype)
        for r in rules:
            kind, _, arg = r.partition(":")
            if kind == "429" and first:
                self.note(429, len(evs))
                return self.answer(429, b"slow down", [("Retry-After", arg)])
            if kind == "500" and first:
                self.note(500, len(evs))
                return self.answer(500, b"oops")
            if kind == "slow" and first:
                self.note("slow", len(evs))
                time.sleep(float(arg))
                return self.answer(503, b"too late")
            if kind == "reset" and first:
                self.note("reset", len(evs))
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if kind == "poison" and arg.encode() in body:
                self.note(400, len(evs))
                return self.answer(400, b"poison event: " + arg.encode() + b" is not allowed\n")
            if kind == "fail-item":
                with lock:
                    p = pos(evs[0][1])
                    fresh = p not in state["item_failed"]
                    state["item_failed"].add(p)
                if fresh:
                    rest = evs[1:]
                    self.log(rest, body)
                    self.note(200, len(rest))
                    rep = {"batchItemFailures": [{"itemIdentifier": p}]}
                    return self.answer(200, json.dumps(rep).encode(),
                                       [("Content-Type", "application/json")])
        self.log(evs, body)
        self.note(200, len(evs))
        self.answer(200, b"{}")

    def log(self, evs, body):
        with lock:
            with open(os.path.join(d, "lines"), "a") as f:
                for l, _ in evs:
                    f.write(l + "\n")
            with open(os.path.join(d, "events"), "a") as f:
                for _, e in evs:
                    k = e.get("key")
                    f.write("%s %d\n" % (k["id"] if isinstance(k, dict) and "id" in k else "-",
                                         e["source"]["commit_lsn"]))
            nb = len(os.listdir(os.path.join(d, "bodies")))
            with open(os.path.join(d, "bodies", "%d" % nb), "wb") as f:
                f.write(body)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(os.path.join(d, "port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
srv.serve_forever()
