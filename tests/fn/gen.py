#!/usr/bin/env python3
# gen.py N KEYS: N change events for the function sinks' tests (cdc-sink-exec.t,
# cdc-sink-http.t): commit_lsn 1000+i, key i%KEYS, a heartbeat every 50th.
import json, sys
n, keys = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    src = {"name": "shop", "db": "shop", "schema": "public", "table": "orders",
           "lsn": 1000 + i, "commit_lsn": 1000 + i, "seq": 1, "ts_ms": 1763700000000, "snapshot": "false"}
    if i % 50 == 49:
        print(json.dumps({"op": "heartbeat", "source": src}, separators=(",", ":")))
    else:
        print(json.dumps({"op": "u", "before": None, "after": {"id": i % keys, "n": i},
                          "key": {"id": i % keys}, "source": src}, separators=(",", ":")))
