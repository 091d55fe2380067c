#!/usr/bin/env python3
"""fn_worker: the chaos run's function under cdc-sink-exec --keep-running.

    fn_worker.py COMMAND [ARG...]

The user's code of the exec variant in its long-lived form: it reads
batches framed the --keep-running way (the events' lines, then one empty
line), applies each by running COMMAND with the batch on its standard input
(in the chaos run: cdc-sink-es without a checkpoint, which is idempotent:
external versions from the positions), and answers one line per batch, as
cdc-sink-exec's contract asks: {} when COMMAND exited 0, {"status":65} when
it exited 65 (bad data), {"status":N} for any other status N, and 75 when it
died of a signal (temporary: the batch again).
"""
import subprocess
import sys


def main():
    cmd = sys.argv[1:]
    if not cmd:
        print("usage: fn_worker.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    out = sys.stdout
    batch = []
    for line in sys.stdin.buffer:
        if line != b"\n":
            batch.append(line)
            continue
        rc = subprocess.run(cmd, input=b"".join(batch)).returncode
        batch = []
        if rc == 0:
            out.write("{}\n")
        else:
            out.write('{"status":%d}\n' % (rc if rc > 0 else 75))
        out.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(0)
