#!/usr/bin/env python3
"""positions: read change events on stdin, print "op commit_lsn seq" per data event.

The chaos units tee the sink's input into this, so that the events the sink
was given more than once (after a restart) can be counted.  Control events
(heartbeats, ...) are left out.  Output is flushed per line: the unit may be
killed at any moment.
"""
import json
import sys

DATA = {"c", "u", "d", "r", "t", "m"}


def main():
    out = sys.stdout
    for line in sys.stdin.buffer:
        try:
            ev = json.loads(line)
            op = ev.get("op")
            if op not in DATA:
                continue
            s = ev.get("source") or {}
            out.write("%s %s %s\n" % (op, s.get("commit_lsn"), s.get("seq")))
            out.flush()
        except (ValueError, AttributeError):
            continue
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
