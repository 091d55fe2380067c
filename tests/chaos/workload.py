#!/usr/bin/env python3
"""workload: concurrent transactions on the chaos tables (tests/chaos/schema.sql).

    workload.py --dsn CONNINFO --seconds S [--workers N] [--seed N]
                [--psql PATH] [--truncate-every S] [--initial N] [--no-pk-toast]

--initial N inserts N rows and exits (the rows the initial snapshot copies).
Otherwise N workers run random transactions for S seconds, each through its
own psql process: multi-row inserts, updates that leave the TOASTed column
alone (sent as "unchanged"), updates of many rows at once, deletes, primary
key updates, new large TOASTed values, long transactions that sleep between
statements, mixed transactions, transactions on the noise table only, and
(worker 0, every --truncate-every seconds) a truncate followed by new rows
in the same transaction.  A transaction that fails (deadlock, the server
restarting) is counted and the worker goes on.  Prints a JSON summary on
stdout: committed and failed transactions per kind.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

STATUSES = "ARRAY['new','paid','sent','void','back']"
PICK = ("SELECT id FROM items WHERE id >= (SELECT (random() * coalesce(max(id), 0))::bigint "
        "FROM items) ORDER BY id LIMIT %d")


def ins(k):
    return ("INSERT INTO items (grp, status, n, amount, flag, meta, secret, big) "
            "SELECT (random() * 20)::int, (%s)[1 + (random() * 4)::int], 0, "
            "round((random() * 10000)::numeric, 2), random() < 0.5, "
            "jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b'), 'r', random()), "
            "md5(random()::text), "
            "CASE WHEN random() < 0.25 THEN repeat(md5(random()::text), 80 + (random() * 300)::int) END "
            "FROM generate_series(1, %d) g;" % (STATUSES, k))


def upd(k):
    # big is left alone: the server sends it as an unchanged TOAST value.
    return ("UPDATE items SET n = n + 1, status = (%s)[1 + (random() * 4)::int], "
            "amount = amount + 1 WHERE id IN (%s);" % (STATUSES, PICK % k))


def multi(rng):
    return ("UPDATE items SET flag = NOT coalesce(flag, false), n = n + 10 "
            "WHERE grp = %d;" % rng.randint(0, 20))


def dele(k):
    return "DELETE FROM items WHERE id IN (%s);" % (PICK % k)


PK_TOAST = True


def pk(k):
    if PK_TOAST:
        # big stays: the new key's row has an unchanged TOAST value.
        return "UPDATE items SET id = nextval('items_id_seq') WHERE id IN (%s);" % (PICK % k)
    return ("UPDATE items SET id = nextval('items_id_seq'), big = big || '' "
            "WHERE id IN (%s);" % (PICK % k))


def big(k):
    return ("UPDATE items SET big = repeat(md5(random()::text), 80 + (random() * 500)::int), "
            "n = n + 1 WHERE id IN (%s);" % (PICK % k))


def meta(k):
    return ("UPDATE items SET meta = coalesce(meta, '{}') || jsonb_build_object('u', random()), "
            "grp = (random() * 20)::int WHERE id IN (%s);" % (PICK % k))


def noise(k):
    return "INSERT INTO noise (v) SELECT md5(random()::text) FROM generate_series(1, %d);" % k


def one(rng):
    """A random transaction: (kind, [statements])."""
    r = rng.random()
    k = rng.randint(1, 12)
    if r < 0.22:
        return "insert", [ins(k)]
    if r < 0.40:
        return "update", [upd(k)]
    if r < 0.46:
        return "multirow", [multi(rng)]
    if r < 0.56:
        return "delete", [dele(rng.randint(1, 4))]
    if r < 0.62:
        return "pkupdate", [pk(rng.randint(1, 3))]
    if r < 0.70:
        return "bigupdate", [big(rng.randint(1, 3))]
    if r < 0.76:
        return "meta", [meta(k)]
    if r < 0.84:
        return "noise", [noise(k)]
    if r < 0.93:
        return "mixed", [ins(k), upd(k), dele(1), pk(1), big(1), noise(2)]
    return "long", [ins(k), "SELECT pg_sleep(%.2f);" % rng.uniform(0.5, 4), upd(k),
                    "SELECT pg_sleep(%.2f);" % rng.uniform(0.5, 3), dele(2), big(1)]


class Runner:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.ok = {}
        self.failed = {}
        self.env = dict(os.environ, PGCONNECT_TIMEOUT="5", PGOPTIONS="-c lock_timeout=10s")

    def run(self, kind, stmts):
        sql = "BEGIN;\n" + "\n".join(stmts) + "\nCOMMIT;\n"
        try:
            p = subprocess.run([self.a.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.a.dsn],
                               input=sql.encode(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=self.env, timeout=120)
            good = p.returncode == 0
        except subprocess.TimeoutExpired:
            good = False
        with self.lock:
            d = self.ok if good else self.failed
            d[kind] = d.get(kind, 0) + 1
        return good

    def worker(self, i, deadline):
        rng = random.Random(self.a.seed * 1000 + i)
        next_trunc = time.time() + self.a.truncate_every if self.a.truncate_every > 0 else None
        while time.time() < deadline:
            if i == 0 and next_trunc and time.time() >= next_trunc:
                next_trunc = time.time() + self.a.truncate_every
                self.run("truncate", ["TRUNCATE items;", ins(500), ins(500)])
                continue
            kind, stmts = one(rng)
            if not self.run(kind, stmts):
                time.sleep(0.2)       # the server may be restarting
            time.sleep(rng.uniform(0, self.a.pause))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pause", type=float, default=0.05, help="max pause between transactions")
    ap.add_argument("--truncate-every", type=float, default=0)
    ap.add_argument("--initial", type=int, default=0)
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--no-pk-toast", action="store_true",
                    help="primary key updates also rewrite big (no unchanged TOAST value under a new key)")
    a = ap.parse_args()
    global PK_TOAST
    PK_TOAST = not a.no_pk_toast
    r = Runner(a)
    if a.initial:
        stmts = [ins(500) for _ in range(a.initial // 500)] + [ins(a.initial % 500)]
        sys.exit(0 if r.run("initial", stmts) else 1)
    deadline = time.time() + a.seconds
    ts = [threading.Thread(target=r.worker, args=(i, deadline)) for i in range(a.workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    json.dump({"committed": r.ok, "failed": r.failed,
               "committed_total": sum(r.ok.values()), "failed_total": sum(r.failed.values())},
              sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
