# cdc.jq: the `cdc` jq module, helpers for cdc change events (cdc-events(7)).
#
# Installed as $PREFIX/share/cdc/jq/cdc.jq; cdc-map and cdc-filter search
# that directory by default, so a program starts with
#     include "cdc";          (or: import "cdc" as cdc;  then cdc::unwrap)
#
# Written for jq 1.6 (libjq 1.6 is what cdc-map and cdc-filter run on).
# It avoids `index`/`indices` on arrays: libjq 1.6 leaks memory there.
# Functions that take "an event" also work on a bare row image when the
# input has no "op" (cdc-map --doc hands the program row images).
# The sha256/hmac helpers need cdc-map or cdc-filter: they reach C code
# through a private hook; under the jq CLI they fail to compile, naming
# $__cdc_host.

# --- events ---------------------------------------------------------------

# True for data events (op c u d r t m); false for control events
# (heartbeat, begin, commit, snapshot_begin, snapshot_end).
def is_data: (.op | type) == "string" and (.op | IN("c", "u", "d", "r", "t", "m"));
def is_control: is_data | not;

# "schema.table" of a data event (null for messages and control events).
def table_name:
  if .source.table == null then null else "\(.source.schema).\(.source.table)" end;

# An LSN number as PostgreSQL prints it: 23880120 | lsn_text == "0/16C61B8".
def lsn_text:
  def hex: if . < 16 then "0123456789ABCDEF"[.:. + 1]
           else ((. / 16 | floor) | hex) + ("0123456789ABCDEF"[(. % 16):(. % 16) + 1]) end;
  "\(. / 4294967296 | floor | hex)/\(. % 4294967296 | hex)";

# The event's position as text, "X/X:seq" (commit LSN, index in the
# transaction), the form checkpoints and dead-letter records use.
def position: "\(.source.commit_lsn | lsn_text):\(.source.seq)";

# --- unwrap: the row image, as Debezium's ExtractNewRecordState ------------

# unwrap(mode; fields):
#   c, u, r  -> .after
#   d        -> mode "drop": nothing; "none": null;
#               "rewrite": the old row (.before, else .key) with "__deleted": "true"
#               (and "__deleted": "false" on the other rows, as Debezium does)
#   m        -> the event unchanged (ExtractNewRecordState passes messages on)
#   t and control events -> nothing
# fields: names of event fields to add as "__NAME" (e.g. ["op", "table",
# "lsn", "source.ts_ms"] adds __op, __table, __lsn, __source_ts_ms), looked
# up as ExtractNewRecordState's add.fields does: "S.x" in the event's
# member S (source, transaction, ...; added as __S_x), op, ts_ms, ts_us and
# ts_ns at the top level, id, total_order and data_collection_order in
# transaction, any other name in the source.
def unwrap($mode; $fields):
  . as $e
  | if ($mode | IN("drop", "none", "rewrite") | not) then
      error("unwrap: mode must be \"drop\", \"none\" or \"rewrite\", not \($mode | tojson)")
    else . end
  | def extra:
      reduce ($fields[]) as $f ({};
        ("__" + ($f | gsub("\\."; "_"))) as $k
        | ($f | split(".")) as $parts
        | if ($parts | length) == 2 then .[$k] = ($e[$parts[0]] | objects | .[$parts[1]])
          elif ($f | IN("op", "ts_ms", "ts_us", "ts_ns")) then .[$k] = $e[$f]
          elif ($f | IN("id", "total_order", "data_collection_order")) then
            .[$k] = ($e.transaction | objects | .[$f])
          else .[$k] = $e.source[$f] end);
    if (.op | IN("c", "u", "r")) then
      .after + (if $mode == "rewrite" then {"__deleted": "false"} else {} end) + extra
    elif .op == "d" then
      if $mode == "drop" then empty
      elif $mode == "none" then null
      else (.before // .key // {}) + {"__deleted": "true"} + extra end
    elif .op == "m" then .
    else empty end;
def unwrap($mode): unwrap($mode; []);
def unwrap: unwrap("drop"; []);

# --- changes -----------------------------------------------------------------

# changed(f): whether the value at path f (relative to the row, e.g.
# .status) differs between the before and after images.  Inserts, snapshot
# rows and deletes count as changed.  When the before image does not hold
# the column (REPLICA IDENTITY DEFAULT sends no before image, or only the
# old key, unless FULL) the update counts as changed, since nothing says it
# is not; a column left out as an unchanged TOASTed value counts as
# unchanged.
def changed(f):
  if .op == "u" then
    ((try (null | path(f)) catch []) as $p
     | if ($p | length) > 0 and (.unchanged_toast // [] | any(.[]; . == $p[0])) then false
       elif (.before | type) != "object" then true
       elif ($p | length) > 0 and (.before | has($p[0]) | not) then true
       else (.before | f) != (.after | f) end)
  elif (.op | IN("c", "r", "d")) then true
  else false end;

# The columns of the before image whose values the update changed (only
# those the before image holds: all of them with REPLICA IDENTITY FULL);
# null for other events and updates without a before image.
def changed_columns:
  if .op == "u" and (.before | type) == "object" and (.after | type) == "object" then
    . as $e
    | [.before | keys_unsorted[]
       | select(. as $k | $e.unchanged_toast // [] | any(.[]; . == $k) | not)
       | select(. as $k | $e.before[$k] != $e.after[$k])]
  else null end;

# --- other formats ------------------------------------------------------------

def _row: if .op == "d" then (.before // .key) else .after end;

# The old values of the columns an update changed, or null.
def _old:
  if .op == "u" and .before != null then
    . as $e | (changed_columns // []) as $c
    | if ($c | length) == 0 then null
      else reduce $c[] as $k ({}; .[$k] = $e.before[$k]) end
  else null end;

# Canal-JSON (Canal, TiCDC, Flink's canal-json format): values as strings,
# "old" with the changed columns only.  PostgreSQL's schema is Canal's
# "database".  Snapshot rows are INSERTs; truncates are DDL events;
# messages and control events give nothing.  "id" is the event's WAL
# position (source.lsn; Canal's is a batch number).  "sqlType"
# (java.sql.Types) and "mysqlType" map every column of the row, from its
# JSON value, since events carry no column types: integers BIGINT (-5,
# "bigint"), other numbers DOUBLE (8, "double"), booleans BOOLEAN (16,
# "boolean"), strings VARCHAR (12, "varchar"), objects and arrays JSON
# text (12, "json"), null NULL (0, "null").  An update always has "old"
# (Flink's reader rejects one without): the changed columns when the event
# has a before image (REPLICA IDENTITY FULL gives every column; DEFAULT
# gives none for most updates), else [{}].
def to_canal:
  def str: if . == null then null
           elif type == "string" then .
           elif type == "object" or type == "array" then tojson
           else tostring end;
  def strs: if . == null then null else with_entries(.value |= str) end;
  def types:
    if type == "number" then (if . == floor and fabs < 9007199254740992 then [-5, "bigint"] else [8, "double"] end)
    elif type == "boolean" then [16, "boolean"]
    elif type == "string" then [12, "varchar"]
    elif type == "null" then [0, "null"]
    else [12, "json"] end;
  def coltypes(i): if type == "object" then with_entries(.value |= (types | .[i])) else null end;
  if (.op | IN("c", "u", "d", "r")) then
    _row as $row
    | {id: (.source.lsn // .source.commit_lsn // 0), database: .source.schema, table: .source.table,
       pkNames: (if (.key | type) == "object" then (.key | keys_unsorted) else null end),
       isDdl: false,
       type: ({"c": "INSERT", "r": "INSERT", "u": "UPDATE", "d": "DELETE"}[.op]),
       es: .source.ts_ms, ts: .ts_ms, sql: "",
       sqlType: ($row | coltypes(0)), mysqlType: ($row | coltypes(1)),
       data: [$row | strs],
       old: (if .op == "u" then [_old // {} | strs] else null end)}
  elif .op == "t" then
    {id: (.source.lsn // .source.commit_lsn // 0), database: .source.schema, table: .source.table,
     pkNames: null, isDdl: true,
     type: "TRUNCATE", es: .source.ts_ms, ts: .ts_ms,
     sql: "TRUNCATE TABLE \(.source.schema).\(.source.table)",
     sqlType: null, mysqlType: null, data: null, old: null}
  else empty end;

# Maxwell's JSON: "ts" in seconds, "xid", "data" (the row, deleted rows
# too), "old" (old values of the changed columns, updates only: {} when
# the event has no before image, which REPLICA IDENTITY FULL gives; Flink's
# maxwell-json reader needs "old" on every update).  Snapshot rows are
# "insert": Maxwell's own "bootstrap-insert" is refused by Flink's reader.
# "commit" is left out (not known per event).
def to_maxwell:
  if (.op | IN("c", "u", "d", "r")) then
    {database: .source.schema, table: .source.table,
     type: ({"c": "insert", "r": "insert", "u": "update", "d": "delete"}[.op]),
     ts: (.source.ts_ms / 1000 | floor), xid: .source.txId, data: _row}
    + (if .op == "u" then {old: (_old // {})} else {} end)
  else empty end;

# AWS DMS's Kinesis/Kafka record: {"data", "metadata"} with operation
# load (snapshot rows), insert, update or delete; "before-image" holds the
# before image when the event has one.  Truncates, messages and control
# events give nothing.
def to_dms:
  def ts: (. / 1000 | floor | strftime("%Y-%m-%dT%H:%M:%S"))
          + "." + ((. % 1000) + 1000 | tostring | .[1:]) + "000Z";
  if (.op | IN("c", "u", "d", "r")) then
    {data: _row}
    + (if .op == "u" and .before != null then {"before-image": .before} else {} end)
    + {metadata: {timestamp: (.source.ts_ms | ts), "record-type": "data",
                  operation: ({"c": "insert", "r": "load", "u": "update", "d": "delete"}[.op]),
                  "partition-key-type": "schema-table",
                  "schema-name": .source.schema, "table-name": .source.table,
                  "transaction-id": .source.txId}}
  else empty end;

# --- the transactional outbox pattern -------------------------------------------

# outbox(cols): for rows inserted into an outbox table, the event they
# carry: the payload column, parsed when it is JSON text (a jsonb column
# arrives parsed already; other text stays a string).  Updates, deletes
# (outbox rows are usually deleted right after), rows without the payload
# column and other events give nothing: select the outbox table with
# cdc-filter --table or in the program.  cols renames the
# columns; the defaults are Debezium's outbox event router's:
#   {id: "id", aggregate_type: "aggregatetype", aggregate_id: "aggregateid",
#    type: "type", payload: "payload"}
def _outbox_cols($cols):
  {id: "id", aggregate_type: "aggregatetype", aggregate_id: "aggregateid",
   type: "type", payload: "payload"} + $cols;
def _parsed: if type == "string" then (. as $text | try fromjson catch $text) else . end;
def outbox($cols):
  _outbox_cols($cols) as $c
  | select(.op == "c" and (.after | has($c.payload))) | .after[$c.payload] | _parsed;
def outbox: outbox({});

# outbox_event(cols): the same rows as one object with the routing fields:
# {id, aggregate_type, aggregate_id, type, payload, position, ts_ms}.
def outbox_event($cols):
  _outbox_cols($cols) as $c
  | select(.op == "c" and (.after | has($c.payload)))
  | {id: .after[$c.id], aggregate_type: .after[$c.aggregate_type],
     aggregate_id: .after[$c.aggregate_id], type: .after[$c.type],
     payload: (.after[$c.payload] | _parsed), position: position, ts_ms: .source.ts_ms};
def outbox_event: outbox_event({});

# --- masking personal data ---------------------------------------------------------

# Apply f to the listed columns of the row images (after and before) of an
# event, or of a bare row.  Absent columns stay absent and null stays null;
# the key is left alone (sinks build document ids from it).
def _mask_row($cols; f):
  if type == "object" then
    reduce ($cols[]) as $c (.; if .[$c] != null then .[$c] |= f else . end)
  else . end;
def _mask($cols; f):
  if ($cols | type) != "array" then error("the column list must be an array of names")
  elif has("op") and (.op | type) == "string" then
    (if .after != null then .after |= _mask_row($cols; f) else . end)
    | (if .before != null then .before |= _mask_row($cols; f) else . end)
  else _mask_row($cols; f) end;

# redact(cols): replace the values with "[redacted]" (or with $with).
def redact($cols; $with): _mask($cols; $with);
def redact($cols): redact($cols; "[redacted]");

# The C helpers (see jqprog.c): SHA-256 and HMAC-SHA-256 in hex.
def _cdc_call($req): $__cdc_host as $_ | (["\u0000cdc"] + $req | debug | empty), input;
def _text: if type == "string" then . else tojson end;

# sha256: the hex SHA-256 of a string (other values: of their JSON text).
def sha256: ["sha256", _text] as $r | _cdc_call($r);
# hmac_sha256($key): the hex HMAC-SHA-256 under $key (use --rawfile to
# read the key from a file: secrets do not belong on a command line).
def hmac_sha256($key): ["hmac", $key, _text] as $r | _cdc_call($r);

# hash_columns(cols): replace the values with "sha256:HEX" of the value, so
# equal values still join; hash_columns(cols; $key) keys the hash
# ("hmac-sha256:HEX"), which a dictionary attack cannot undo without $key.
def hash_columns($cols): _mask($cols; "sha256:" + sha256);
def hash_columns($cols; $key): _mask($cols; "hmac-sha256:" + hmac_sha256($key));
