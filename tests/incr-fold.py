#!/usr/bin/env python3
# incr-fold.py TABLE FILE...: fold cdc-capture events of TABLE (schema.table)
# by key in position order (source.commit_lsn, source.seq; duplicates of a
# position count once) and print the rows as "k1|k2...<TAB>json of after"
# sorted, for comparison with the table.  Cut-off last lines (kill -9) are
# skipped.
import json, sys

schema, table = sys.argv[1].split(".", 1)
events = {}
for path in sys.argv[2:]:
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            s = e.get("source") or {}
            if s.get("schema") != schema or s.get("table") != table:
                continue
            if e.get("op") not in ("c", "u", "d", "r", "t"):
                continue
            events[(s["commit_lsn"], s["seq"])] = e
rows = {}
for pos in sorted(events):
    e = events[pos]
    if e["op"] == "t":
        rows.clear()
        continue
    k = json.dumps(e["key"], sort_keys=True)
    if e["op"] == "d":
        rows.pop(k, None)
        continue
    if e["op"] == "u" and e.get("before") is not None:
        # a key change with --key-change=update
        rows.pop(json.dumps({c: e["before"][c] for c in e["key"]}, sort_keys=True), None)
    rows[k] = e["after"]
for k in sorted(rows, key=lambda k: json.dumps(rows[k], sort_keys=True)):
    print(json.dumps(rows[k], sort_keys=True))
