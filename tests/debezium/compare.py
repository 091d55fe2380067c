#!/usr/bin/env python3
"""tests/debezium/compare.py: compare cdc-capture's events with Debezium's,
field by field, for tests/debezium-parity.t.

    compare.py [--unwrap] [--names OURS=THEIRS] [--values debezium] TYPES OURS DEBEZIUM

TYPES is a JSON object {"schema.table": {"column": "type", ...}} (the
column types as format_type() writes them); OURS the events cdc-capture
wrote (or, with --unwrap, what the cdc jq module's unwrap made of them),
one per line; DEBEZIUM the record values the Debezium embedded engine
wrote, one per line ("null" for a tombstone).  --names says that
source.name OURS on our side stands for THEIRS on Debezium's (each engine
has its own topic.prefix; by default the names are the same).
--values debezium: OURS was written by cdc-capture --values=debezium, so
the value rules that option removes are differences again.

Events are paired in stream order (snapshot rows per table, in table order;
then the stream); every field of both is compared.  A difference is
accepted only when one of the documented, intentional differences below
(cdc-events(7), "DEBEZIUM COMPATIBILITY") explains it exactly: each rule
checks the precise relation between the two values, not merely that they
differ.  Prints the count of equal fields, the intentional differences
with their counts, and every other difference; exits 1 if there is any.
"""
import base64
import json
import re
import struct
import sys

DATA_OPS = {"c", "u", "d", "r", "t", "m"}
# Types Debezium 3.6.1 does not know: it leaves such columns out.
DBZ_UNKNOWN = {"line", "lseg", "box", "path", "polygon", "circle", "int4multirange", "pair", "tsquery",
               "money[]", "point[]"}

# --------------------------------------------------------------- rules

RULES = {}      # id -> description (printed with the counts)
COUNTS = {}


def rule(rid, text):
    RULES[rid] = text
    COUNTS.setdefault(rid, 0)


rule("version", "source.version: cdc-capture's version, not Debezium's")
rule("ts-ns", "ts_ns (top level and source) only with cdc-capture --ts-ns: 19 digits, more than "
     "libjq (cdc-map, cdc-filter expressions) holds exactly")
rule("emitted", "top-level ts_ms/ts_us/ts_ns: when each program wrote the event")
rule("ours-only", "members Debezium does not have: key, unchanged_toast, truncate, "
     "message.transactional, source.commit_lsn, source.seq, tx, and the op of begin/commit control events")
rule("snapshot-pos", "snapshot rows: source.lsn, sequence, txId and ts_* (each side its own slot, "
     "snapshot transaction and start time; cdc-capture's snapshot sits at the consistent point - 1, "
     "txId null)")
rule("json", "json/jsonb: embedded JSON values; Debezium writes the text as a string")
rule("date-z", "date, time, timestamp: Debezium's isostring mode appends a 'Z' to types without a "
     "time zone; cdc-capture writes the value as it is (RFC 3339 full-date, partial-time, local date-time)")
rule("bc-date", "BC dates: astronomical years (44 BC is -0043); Debezium writes 44 BC as 0044")
rule("infinity", "date/timestamp infinities: the strings \"infinity\", \"-infinity\"; Debezium writes an "
     "arbitrary far date")
rule("time-24", "time 24:00:00 kept; Debezium writes 00:00:00Z")
rule("timetz", "timetz keeps its offset (13:45:00+02:00); Debezium converts to UTC (11:45:00Z)")
rule("name", "name columns: the value; Debezium 3.6.1 writes null")
rule("array-md", "multi-dimensional arrays nested; Debezium writes an array of nulls")
rule("numeric-special", "numeric NaN/Infinity as PostgreSQL writes them (\"NaN\", \"Infinity\"); "
     "Debezium writes NAN, POSITIVE_INFINITY, NEGATIVE_INFINITY")
rule("numeric-array", "a numeric[] holding NaN or an infinity: the array; Debezium writes null")
rule("interval", "interval: ISO 8601 as PostgreSQL writes it (P1DT2H); Debezium writes every "
     "component (P0Y0M1DT2H0M0S)")
rule("bits", "bit and varbit: the bits as a string (\"101\"); Debezium writes bit(1) as a boolean and "
     "others as the little-endian bytes of the number, base64")
rule("point", "point: the text (1,2.5); Debezium writes {x, y, wkb, srid}")
rule("unknown-type", "geometric types but point, multiranges, composite types, tsquery, money[] and "
     "point[]: the text; Debezium leaves the column out")
rule("hstore", "hstore: a JSON object; Debezium writes the object's text as a string "
     "(with hstore.handling.mode=map it writes the object, as the --tx-events comparison shows)")
rule("old-key-nulls", "before of a delete under REPLICA IDENTITY DEFAULT/INDEX: only the key columns; "
     "Debezium adds the other columns as null")
rule("message-src", "m events: no source.schema/table (Debezium: empty strings), and the top-level "
     "ts_us/ts_ns Debezium leaves out of m events")
rule("tx-id", "transaction.id: the transaction's own id, xid:LSN of its begin, on every event; "
     "Debezium 3.6.1 puts the event's own LSN after the xid")
rule("tx-record", "begin/commit control events carry Debezium's transaction record members "
     "(and op, source, ts_us, ts_ns of their own); ts_ms is when capture wrote them (Debezium: the commit time) and the commit's id is the begin's "
     "(Debezium: xid:LSN of the commit's end)")
rule("tx-message-collection", "a transaction's end record counts tables only; Debezium 3.6.1 also lists "
     "a logical decoding message under the name of a Java object")
rule("unwrap-deleted", "unwrap: ExtractNewRecordState's rewrite of a delete fills the columns the "
     "old key lacks with null; unwrap leaves them out")

UNEXPECTED = []
EQUAL = [0]
NAMES = {}
# Rules that cdc-capture --values=debezium makes void (it writes Debezium's form).
DEBEZIUM_VALUES = {"json", "date-z", "time-24", "timetz", "numeric-special", "interval", "bits", "point", "hstore"}
DISABLED = set()


def hit(rid):
    COUNTS[rid] += 1
    return True


# --------------------------------------------------------------- value rules

def dbz_interval(pg):
    """Debezium's interval string from PostgreSQL's iso_8601 one."""
    m = re.fullmatch(r"P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?[\d.]+)S)?)?", pg)
    if not m:
        return None
    y, mo, d, h, mi, s = (g or "0" for g in m.groups())
    months = int(y) * 12 + int(mo)
    years = int(months / 12)
    months -= years * 12
    sec = s.rstrip("0").rstrip(".") if "." in s else s
    return "P%dY%dM%sDT%sH%sM%sS" % (years, months, d, h, mi, sec or "0")


def dbz_bits(bits, typ):
    if typ == "bit(1)":
        return bits == "1"
    v = int(bits, 2) if bits else 0
    return base64.b64encode(v.to_bytes((v.bit_length() + 7) // 8, "little")).decode()


def timetz_utc(v):
    m = re.fullmatch(r"(\d\d):(\d\d):(\d\d)(\.\d+)?(?:([+-])(\d\d):(\d\d)(?::(\d\d))?|Z)", v)
    if not m:
        return None
    h, mi, s, frac, sign, oh, om, osec = m.groups()
    t = int(h) * 3600 + int(mi) * 60 + int(s)
    if sign:
        off = int(oh) * 3600 + int(om) * 60 + int(osec or 0)
        t -= off if sign == "+" else -off
    t %= 86400
    return "%02d:%02d:%02d%sZ" % (t // 3600, t // 60 % 60, t % 60, frac or "")


def elem_type(typ):
    return typ[:-2] if typ.endswith("[]") else None


def scalar_rule(typ, ours, theirs):
    """The rule explaining theirs from ours for one non-array value, or None."""
    if typ == "hstore":
        return hstore_rule(ours, theirs)
    if typ in ("json", "jsonb"):
        if isinstance(theirs, str):
            try:
                if json.loads(theirs) == ours:
                    return "json"
            except ValueError:
                pass
        return None
    if not isinstance(ours, str):
        return None
    if typ in ("date", "timestamp without time zone", "timestamp(0) without time zone",
               "timestamp with time zone"):
        if ours in ("infinity", "-infinity") and isinstance(theirs, str):
            return "infinity"
        m = re.match(r"(-\d{4,}|0000)(-.*?)Z?$", ours)
        if typ == "date" and m and theirs == "%04d%sZ" % (1 - int(m.group(1)), m.group(2)):
            return "bc-date"
        if typ != "timestamp with time zone" and theirs == ours + "Z":
            return "date-z"
        return None
    if typ.startswith("time without") or typ.startswith("time("):
        if ours == "24:00:00" and theirs == "00:00:00Z":
            return "time-24"
        if theirs == ours + "Z":
            return "date-z"
        return None
    if typ == "time with time zone":
        return "timetz" if timetz_utc(ours) == theirs else None
    if typ == "name" and theirs is None:
        return "name"
    if typ.startswith("numeric"):
        special = {"NaN": "NAN", "Infinity": "POSITIVE_INFINITY", "-Infinity": "NEGATIVE_INFINITY"}
        return "numeric-special" if special.get(ours) == theirs else None
    if typ == "interval":
        return "interval" if dbz_interval(ours) == theirs else None
    if typ.startswith("bit(") or typ.startswith("bit varying"):
        return "bits" if re.fullmatch(r"[01]*", ours) and dbz_bits(ours, typ) == theirs else None
    if typ == "point":
        m = re.fullmatch(r"\(([^,]+),([^)]+)\)", ours)
        if m and isinstance(theirs, dict):
            x, y = float(m.group(1)), float(m.group(2))
            wkb = base64.b64encode(struct.pack("<BIdd", 1, 1, x, y)).decode()
            if theirs == {"x": x, "y": y, "wkb": wkb, "srid": None}:
                return "point"
        return None
    return None


def hstore_rule(ours, theirs):
    if isinstance(ours, dict) and isinstance(theirs, str):
        try:
            if json.loads(theirs) == ours:
                return "hstore"
        except ValueError:
            pass
    return None
    return None


def value_rule(typ, ours, theirs):
    """The rule explaining a differing column value, or None."""
    et = elem_type(typ)
    if et is None:
        return scalar_rule(typ, ours, theirs)
    if not isinstance(ours, list):
        return None
    if any(isinstance(e, list) for e in ours) and isinstance(theirs, list) and all(e is None for e in theirs):
        return "array-md"
    if et.startswith("numeric") and theirs is None and \
            any(e in ("NaN", "Infinity", "-Infinity", "NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY") for e in ours):
        return "numeric-array"
    if not isinstance(theirs, list) or len(theirs) != len(ours):
        return None
    found = None
    for o, t in zip(ours, theirs):
        if o == t:
            continue
        r = scalar_rule(et, o, t)
        if r is None:
            return None
        found = found or r
    return found


# --------------------------------------------------------------- pairing

def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def table_of(ev):
    s = ev.get("source") or {}
    if s.get("table"):
        return "%s.%s" % (s.get("schema"), s.get("table"))
    return None


def same_json(a, b):
    # JSON has one number type: 1 and 1.0 are the same value.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


def diff(where, why):
    UNEXPECTED.append("%s: %s" % (where, why))


def compare_row(where, typs, ours, theirs, ev_o, ev_t, image):
    """Compare two row images column by column."""
    if ours is None or theirs is None:
        if same_json(ours, theirs):
            EQUAL[0] += 1
        else:
            diff(where, "ours %s, Debezium %s" % (json.dumps(ours), json.dumps(theirs)))
        return
    for col in list(ours.keys()) + [c for c in theirs if c not in ours]:
        w = "%s.%s" % (where, col)
        typ = typs.get(col, "?")
        if col not in theirs:
            if typ in DBZ_UNKNOWN:
                hit("unknown-type")
            else:
                diff(w, "only in ours: %s" % json.dumps(ours[col]))
            continue
        if col not in ours:
            if theirs[col] is None and image == "before" and ev_o.get("op") == "d":
                hit("old-key-nulls")
            elif theirs[col] is None and image == "unwrap" and ev_o.get("__deleted") == "true":
                hit("unwrap-deleted")
            else:
                diff(w, "only in Debezium: %s" % json.dumps(theirs[col]))
            continue
        o, t = ours[col], theirs[col]
        if same_json(o, t):
            EQUAL[0] += 1
            continue
        r = value_rule(typ, o, t)
        if r and r not in DISABLED:
            hit(r)
        else:
            diff(w, "%s: ours %s, Debezium %s" % (typ, json.dumps(o), json.dumps(t)))


OURS_ONLY = {"key", "unchanged_toast", "truncate", "tx", "source.commit_lsn", "source.seq",
             "message.transactional"}


def compare_envelope(where, types, o, t):
    table = table_of(o)
    typs = types.get(table, {})
    snap = o.get("op") == "r"
    is_msg = o.get("op") == "m"
    tx_record = "status" in t
    keys = list(o.keys()) + [k for k in t if k not in o]
    for k in keys:
        w = "%s %s" % (where, k)
        if k in ("before", "after") and k in o and k in t:
            compare_row(w, typs, o[k], t[k], o, t, k)
            continue
        if k in ("ts_ms", "ts_us", "ts_ns") and k in o and k in t:
            hit("tx-record" if tx_record and k == "ts_ms" else "emitted")
            continue
        if k == "source" and k in o and k in t:
            compare_source(w, o, t, snap, is_msg)
            continue
        if k == "message" and k in o and k in t:
            for mk in set(o[k]) | set(t[k]):
                if mk == "transactional" and mk not in t[k]:
                    hit("ours-only")
                elif same_json(o[k].get(mk), t[k].get(mk)) and mk in o[k] and mk in t[k]:
                    EQUAL[0] += 1
                else:
                    diff("%s.%s" % (w, mk), "ours %s, Debezium %s" % (o[k].get(mk), t[k].get(mk)))
            continue
        if k == "transaction" and k in o and k in t and isinstance(o[k], dict) and isinstance(t[k], dict):
            for tk in set(o[k]) | set(t[k]):
                ov, tv = o[k].get(tk), t[k].get(tk)
                if same_json(ov, tv):
                    EQUAL[0] += 1
                elif tk == "id" and tv == "%s:%s" % (o["source"]["txId"], o["source"]["lsn"]):
                    hit("tx-id")
                else:
                    diff("%s.%s" % (w, tk), "ours %s, Debezium %s" % (ov, tv))
            continue
        if k not in t:
            if k in OURS_ONLY or (tx_record and k in ("op", "source", "ts_us", "ts_ns")):
                hit("ours-only")
            elif is_msg and k in ("ts_us", "ts_ns"):
                hit("message-src")
            else:
                diff(w, "only in ours")
            continue
        if k not in o:
            if k == "ts_ns":
                hit("ts-ns")
            else:
                diff(w, "only in Debezium: %s" % json.dumps(t[k]))
            continue
        if same_json(o[k], t[k]):
            EQUAL[0] += 1
        elif tx_record and k == "id":
            hit("tx-record")
        elif tx_record and k == "data_collections" and isinstance(t[k], list) and \
                [c for c in t[k] if "LogicalDecodingMessage" not in c["data_collection"]] == o[k]:
            hit("tx-message-collection")
        else:
            diff(w, "ours %s, Debezium %s" % (json.dumps(o[k]), json.dumps(t[k])))


def compare_source(where, o, t, snap, is_msg):
    so, st = o["source"], t["source"]
    for k in list(so.keys()) + [k for k in st if k not in so]:
        w = "%s.%s" % (where, k)
        if k == "version":
            hit("version")
            continue
        if "source." + k in OURS_ONLY and k not in st:
            hit("ours-only")
            continue
        if k not in so:
            if is_msg and k in ("schema", "table") and st[k] == "":
                hit("message-src")
            elif k == "ts_ns":
                hit("ts-ns")
            else:
                diff(w, "only in Debezium: %s" % json.dumps(st[k]))
            continue
        if k not in st:
            diff(w, "only in ours: %s" % json.dumps(so[k]))
            continue
        if same_json(so[k], st[k]) or (k == "name" and NAMES.get(so[k]) == st[k]):
            EQUAL[0] += 1
        elif snap and k in ("lsn", "sequence", "txId", "ts_ms", "ts_us", "ts_ns"):
            hit("snapshot-pos")
        else:
            diff(w, "ours %s, Debezium %s" % (json.dumps(so[k]), json.dumps(st[k])))


def compare_unwrapped(where, types, o, t, table):
    typs = types.get(table, {})
    if o is None or t is None:
        if o is None and t is None:
            EQUAL[0] += 1
        else:
            diff(where, "ours %s, Debezium %s" % (json.dumps(o), json.dumps(t)))
        return
    # The added fields (__op, __table, __lsn, __source_ts_ms, ...) compare as they are.
    extra_o = {k: v for k, v in o.items() if k.startswith("__")}
    extra_t = {k: v for k, v in t.items() if k.startswith("__")}
    for k in set(extra_o) | set(extra_t):
        if k in extra_o and k in extra_t and same_json(extra_o[k], extra_t[k]):
            EQUAL[0] += 1
        elif k in ("__ts_ms", "__ts_us"):
            hit("emitted")
        elif k == "__source_ts_ms" and o.get("__op") == "r":
            hit("snapshot-pos")
        elif k == "__lsn" and o.get("__op") == "r":
            hit("snapshot-pos")
        else:
            diff("%s %s" % (where, k), "ours %s, Debezium %s" % (extra_o.get(k), extra_t.get(k)))
    compare_row(where, typs, {k: v for k, v in o.items() if not k.startswith("__")},
                {k: v for k, v in t.items() if not k.startswith("__")}, o, t, "unwrap")


def main(argv):
    unwrap = False
    while argv and argv[0].startswith("--"):
        if argv[0] == "--unwrap":
            unwrap = True
            argv = argv[1:]
        elif argv[0] == "--values" and argv[1] == "debezium":
            DISABLED.update(DEBEZIUM_VALUES)
            argv = argv[2:]
        elif argv[0] == "--names":
            a, b = argv[1].split("=", 1)
            NAMES[a] = b
            argv = argv[2:]
        else:
            sys.exit("compare.py: unknown option " + argv[0])
    types_path, ours_path, dbz_path = argv[0], argv[1], argv[2]
    with open(types_path, encoding="utf-8") as f:
        types = json.load(f)
    ours = load(ours_path)
    theirs = load(dbz_path)

    if unwrap:
        # ours: lines of cdc-map output alongside the events they came from
        # (tests/debezium-parity.t writes [event_op, table, unwrapped]).
        # Control events pass through cdc-map untouched: not records.
        o_list = [(e[0], e[1], e[2]) for e in ours if isinstance(e, list)]
        if len(o_list) != len(theirs):
            diff("records", "ours %d, Debezium %d" % (len(o_list), len(theirs)))
        for i, ((op, table, o), t) in enumerate(zip(o_list, theirs)):
            where = "record %d (%s %s)" % (i + 1, op, table)
            if op == "m" and isinstance(t, dict) and t.get("op") == "m":
                compare_envelope(where, types, o, t)   # messages pass unchanged
            else:
                compare_unwrapped(where, types, o, t, table)
    else:
        o_ev = [e for e in ours if e.get("op") in DATA_OPS or e.get("op") in ("begin", "commit")]
        t_ev = [e for e in theirs if e is not None]
        if len(o_ev) != len(t_ev):
            diff("events", "ours %d, Debezium %d" % (len(o_ev), len(t_ev)))
        for i, (o, t) in enumerate(zip(o_ev, t_ev)):
            where = "event %d (%s %s)" % (i + 1, o.get("op"), table_of(o) or "")
            top = t.get("op", "status:" + str(t.get("status")))
            exp = {"begin": "status:BEGIN", "commit": "status:END"}.get(o.get("op"), o.get("op"))
            if top != exp or table_of(o) != (table_of(t) if "source" in t else None):
                diff(where, "paired with Debezium's %s %s: the streams differ here" % (top, table_of(t)))
                break
            compare_envelope(where, types, o, t)

    print("fields equal: %d" % EQUAL[0])
    total = sum(COUNTS.values())
    print("intentional differences: %d" % total)
    for rid in RULES:
        if COUNTS[rid]:
            print("  %5d  %-16s %s" % (COUNTS[rid], rid, RULES[rid]))
    print("unexpected differences: %d" % len(UNEXPECTED))
    for u in UNEXPECTED[:200]:
        print("  " + u)
    return 1 if UNEXPECTED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
