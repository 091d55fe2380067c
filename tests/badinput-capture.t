#!/usr/bin/env bash
# Bad input for cdc-capture: the checkpoint files of tests/corpus/checkpoints
# given as --ack-file.  A damaged or foreign one is refused with a message
# naming the file, before anything is confirmed to the server; so is the
# checkpoint of another slot (name=other).  A good one is taken.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-capture
need_pg
. "$TEST_ROOT/tests/corpus/lib.sh"

BAD_PROG=cdc-capture
pg_new_db badinput_capture
SLOT=bad_$TEST_ID
PUB=pub_$TEST_ID
psql_t "CREATE TABLE t (id int PRIMARY KEY, v text)"
endpos() { psql_t "SELECT pg_current_wal_lsn()"; }

# Create the slot and publication, streaming nothing (--snapshot never).
END=$(endpos)
timeout 60 "$CDC_BIN/cdc-capture" -d "$PGTEST_DSN" --slot "$SLOT" --publication "$PUB" \
	--create-slot --create-publication --snapshot never --endpos "$END" >"$TEST_TMP/setup.out" 2>"$TEST_TMP/setup.err"
ok $? "cdc-capture: slot and publication created" || diag "$(cat "$TEST_TMP/setup.err")"
confirmed() { psql_t "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT'"; }

ckpt_run() {
	local before
	psql_t "INSERT INTO t VALUES ($RANDOM, 'x') ON CONFLICT DO NOTHING"
	END=$(endpos)
	before=$(confirmed)
	timeout 60 "$CDC_BIN/cdc-capture" -d "$PGTEST_DSN" --slot "$SLOT" --publication "$PUB" \
		--ack-file "$1" --endpos "$END" >"$TEST_TMP/ck.out" 2>"$TEST_TMP/ck.err"
	RC=$?
	CK_MOVED=0
	[ "$(confirmed)" = "$before" ] || CK_MOVED=1
}
ckpt_accepted() {
	grep -q '"op":"c"' "$TEST_TMP/ck.out" || echo "the insert was not streamed; "
}
# The accepted checkpoint must name this slot; other-slot keeps name=other.
CKPT_SLOT=refuse
CORPUS_ORIG=$CORPUS
CORPUS=$TEST_TMP/corpus
mkdir -p "$CORPUS"
cp -R "$CORPUS_ORIG/checkpoints" "$CORPUS/"
sed -i "s/^name=shop\r\$/name=$SLOT\r/" "$CORPUS/checkpoints/good-crlf-unknown-key"
grep -q "^name=$SLOT" "$CORPUS/checkpoints/good-crlf-unknown-key"
ok $? "the good checkpoint names this test's slot"
bad_checkpoints

# A refused checkpoint confirms nothing: the slot's position has not moved.
cp "$CORPUS_ORIG/checkpoints/version2" "$TEST_TMP/v2"
ckpt_run "$TEST_TMP/v2"
is "$CK_MOVED/$RC" 0/1 "cdc-capture --ack-file version=2: exit 1, the slot's confirmed position unchanged"

# A missing ack file is no error: nothing has been made durable yet.
ckpt_run "$TEST_TMP/no-such-checkpoint"
is "$RC" 0 "cdc-capture --ack-file that does not exist yet: exit 0"
like "$(cat "$TEST_TMP/ck.out")" '"op":"c"' "cdc-capture --ack-file that does not exist yet: the insert is streamed"

timeout 60 "$CDC_BIN/cdc-capture" -d "$PGTEST_DSN" --slot "$SLOT" --drop-slot >/dev/null 2>&1
done_testing
