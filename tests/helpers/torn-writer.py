#!/usr/bin/env python3
"""A writer killed in the middle of a line, for the framing-rule tests.

    torn-writer.py N MARKER [FROM]

Writes events FROM..N-1 (default FROM=1) whole to standard output, then
event N (a 1 MiB row image) in several write() calls; after the first of
them it creates the file MARKER and sleeps, so that the test can kill it
with SIGKILL in the middle of the line.  Given MARKER "-", it writes event
N whole and exits (the writer come back after its restart).
"""
import os
import sys
import time


def event(i, blob=""):
    return ('{"op":"c","before":null,"after":{"id":%d,"blob":"%s"},"key":{"id":%d},'
            '"source":{"db":"d","schema":"public","table":"t","name":"torn","commit_lsn":%d,'
            '"seq":1,"lsn":%d,"ts_ms":1700000000000,"snapshot":"false"},"ts_ms":1700000000000}\n'
            % (i, blob, i, 1000 * i, 1000 * i)).encode()


def write_all(data):
    while data:
        n = os.write(1, data)
        data = data[n:]


def main():
    n, marker = int(sys.argv[1]), sys.argv[2]
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    for i in range(first, n):
        write_all(event(i))
    last = event(n, "x" * (1 << 20))
    if marker == "-":
        write_all(last)
        return
    chunk = len(last) // 4
    write_all(last[:chunk])
    open(marker, "w").close()
    time.sleep(60)
    write_all(last[chunk:])


main()
