#!/usr/bin/env python3
"""compare: every row of the table against every document of the index.

    compare.py --dsn CONNINFO --es-url URL --index NAME [--map FILE]
               [--table items] [--columns "id, grp, ..."] [--psql PATH] [--jq PATH]

The expected document of a row is what the pipeline's cdc-map makes of it:
the row as JSON (numeric as text, as cdc-capture writes it) run through the
jq program --map with the jq command.  Both sides are reduced to one md5 per
id of the canonical JSON (sorted keys, no spaces).  Prints a JSON result on
stdout:
    rows, docs, lost (rows without a document), stale (document differs),
    extra (document without a row), and a few ids of each with the keys that
    differ (never the values).
Exit status 0 when lost = stale = extra = 0, 1 otherwise, 2 on error.
"""
import argparse
import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request

DEFAULT_COLUMNS = "id, grp, status, n, amount::text AS amount, flag, meta, secret, big"


def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def md5(obj):
    return hashlib.md5(canon(obj).encode()).hexdigest()


def rows(a):
    sql = "SELECT row_to_json(t) FROM (SELECT %s FROM %s) t" % (a.columns, a.table)
    p = subprocess.run([a.psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", a.dsn, "-c", sql],
                       stdout=subprocess.PIPE, check=True)
    raw = p.stdout
    if a.map:
        p = subprocess.run([a.jq, "-c", "-f", a.map], input=raw, stdout=subprocess.PIPE, check=True)
        raw = p.stdout
    out = {}
    for line in raw.decode().splitlines():
        if line:
            d = json.loads(line)
            out[str(d["id"])] = d
    return out


def es(a, method, path, body=None):
    req = urllib.request.Request(a.es_url.rstrip("/") + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def docs(a):
    out = {}
    try:
        es(a, "POST", "/%s/_refresh" % a.index)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return out
        raise
    r = es(a, "POST", "/%s/_search?scroll=2m" % a.index, {"size": 1000, "sort": ["_doc"]})
    sid = r.get("_scroll_id")
    while r["hits"]["hits"]:
        for h in r["hits"]["hits"]:
            if h["_id"] in out:
                raise SystemExit("compare: document %s seen twice in the scroll" % h["_id"])
            out[h["_id"]] = h["_source"]
        r = es(a, "POST", "/_search/scroll", {"scroll": "2m", "scroll_id": sid})
        sid = r.get("_scroll_id", sid)
    try:
        es(a, "DELETE", "/_search/scroll", {"scroll_id": sid})
    except urllib.error.URLError:
        pass
    return out


def keys_differing(x, y):
    return sorted(k for k in set(x) | set(y) if canon(x.get(k)) != canon(y.get(k)) or (k in x) != (k in y))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--es-url", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--map")
    ap.add_argument("--table", default="items")
    ap.add_argument("--columns", default=DEFAULT_COLUMNS)
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--jq", default="jq")
    a = ap.parse_args()
    try:
        want = rows(a)
        got = docs(a)
    except (subprocess.CalledProcessError, urllib.error.URLError, OSError, ValueError) as e:
        print("compare: %s" % e, file=sys.stderr)
        return 2
    hw = {k: md5(v) for k, v in want.items()}
    hg = {k: md5(v) for k, v in got.items()}
    lost = sorted((k for k in hw if k not in hg), key=lambda s: (len(s), s))
    extra = sorted((k for k in hg if k not in hw), key=lambda s: (len(s), s))
    stale = sorted((k for k in hw if k in hg and hw[k] != hg[k]), key=lambda s: (len(s), s))
    res = {"rows": len(hw), "docs": len(hg), "lost": len(lost), "stale": len(stale),
           "extra": len(extra), "lost_ids": lost[:10], "extra_ids": extra[:10],
           "stale_ids": [{"id": k, "keys": keys_differing(want[k], got[k])} for k in stale[:10]]}
    json.dump(res, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0 if not (lost or stale or extra) else 1


if __name__ == "__main__":
    sys.exit(main())
