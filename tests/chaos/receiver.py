#!/usr/bin/env python3
"""receiver: the chaos run's webhook receiver for cdc-sink-http.

    receiver.py PORT COMMAND [ARG...]

The user's function of the http variant: a threaded HTTP server on
127.0.0.1:PORT that applies every POSTed NDJSON body by running COMMAND
with the body on its standard input (in the chaos run: cdc-sink-es without
a checkpoint, idempotent by external versions from the positions), and
answers as cdc-sink-http's contract asks: 200 only when COMMAND exited 0;
400 when it exited 65 (bad data: cdc-sink-http bisects and dead-letters);
503 with Retry-After: 1 otherwise (temporary: the batch again).  It keeps
nothing between requests, so it can be killed at any moment and started
again (the socket is bound with SO_REUSEADDR).
"""
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CMD = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, text, extra=()):
        body = (text + "\n").encode()
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            self.close_connection = True    # the client went away: it retries

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if len(body) != n:
            self.close_connection = True
            return
        rc = subprocess.run(CMD, input=body).returncode
        if rc == 0:
            self.answer(200, "applied")
        elif rc == 65:
            self.answer(400, "bad data")
        else:
            self.answer(503, "not applied (%d)" % rc, [("Retry-After", "1")])


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def main():
    global CMD
    if len(sys.argv) < 3:
        print("usage: receiver.py PORT COMMAND [ARG...]", file=sys.stderr)
        return 2
    CMD = sys.argv[2:]
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
