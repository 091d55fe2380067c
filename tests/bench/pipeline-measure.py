#!/usr/bin/env python3
"""tests/bench/pipeline-measure.py: what one paced window of the pipeline cost.

Usage: pipeline-measure.py SECS CKPT-FILE ES-URL INDEX NAME=PID...

For SECS seconds it counts the renames onto CKPT-FILE (inotify IN_MOVED_TO
on its directory: one per durable checkpoint write, since checkpoints are
replaced by rename), and reads, at the start and the end, the CPU time of
each NAME=PID from /proc/PID/stat (utime + stime), the node's count of
_bulk requests (_nodes/usage: OpenSearch has no bulk statistics per index)
and the documents indexed into INDEX (_stats/indexing).  Prints one line of
key=value pairs: secs, ckpt_renames, cpu_NAME (CPU seconds in the window),
bulk_ops (bulk requests), docs (documents indexed).
"""
import ctypes
import ctypes.util
import json
import os
import select
import struct
import sys
import time
import urllib.request

IN_MOVED_TO = 0x00000080
IN_CLOSE_WRITE = 0x00000008


def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def index_stats(url, index):
    """(bulk requests the node answered, documents indexed into index)."""
    with urllib.request.urlopen("%s/_nodes/_local/usage" % url) as r:
        bulk = sum(n["rest_actions"].get("bulk_action", 0) for n in json.load(r)["nodes"].values())
    with urllib.request.urlopen("%s/%s/_stats/indexing" % (url, index)) as r:
        docs = json.load(r)["_all"]["primaries"]["indexing"]["index_total"]
    return bulk, docs


def main():
    secs = float(sys.argv[1])
    ckpt = os.path.abspath(sys.argv[2])
    url, index = sys.argv[3].rstrip("/"), sys.argv[4]
    procs = [(a.split("=", 1)[0], int(a.split("=", 1)[1])) for a in sys.argv[5:]]

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        sys.exit("pipeline-measure: inotify_init1 failed")
    if libc.inotify_add_watch(fd, os.path.dirname(ckpt).encode(), IN_MOVED_TO) < 0:
        sys.exit("pipeline-measure: cannot watch %s" % os.path.dirname(ckpt))
    name = os.path.basename(ckpt).encode()

    cpu0 = {n: cpu_secs(p) for n, p in procs}
    bulk0, docs0 = index_stats(url, index)
    t0 = time.monotonic()
    renames = 0
    while True:
        left = secs - (time.monotonic() - t0)
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        off = 0
        while off < len(data):
            _, mask, _, ln = struct.unpack_from("iIII", data, off)
            ev_name = data[off + 16:off + 16 + ln].rstrip(b"\0")
            if mask & IN_MOVED_TO and ev_name == name:
                renames += 1
            off += 16 + ln
    elapsed = time.monotonic() - t0
    cpu1 = {n: cpu_secs(p) for n, p in procs}
    bulk1, docs1 = index_stats(url, index)
    out = ["secs=%.3f" % elapsed, "ckpt_renames=%d" % renames,
           "bulk_ops=%d" % (bulk1 - bulk0), "docs=%d" % (docs1 - docs0)]
    out += ["cpu_%s=%.3f" % (n, cpu1[n] - cpu0[n]) for n, _ in procs]
    print(" ".join(out))


main()
