#!/usr/bin/env bash
# The shipped systemd units (systemd/, cdc-systemd(7)): systemd-analyze
# verify finds nothing, `security --offline=true` rates each at 2.0 or
# less, make install puts them where systemd looks and make uninstall takes
# them away.  No systemd runs on the test machines, so the pipeline files
# are then run the way cdc@.service runs them (bash -o pipefail -o nounset,
# the state directory as working directory, a notify socket) against the
# real PostgreSQL and OpenSearch: READY=1 once capture streams; a kill -9
# of any stage ends the whole pipeline within 2 s with a status the unit
# restarts on; bad data ends it with 65, which the unit does not restart;
# and after every restart the index still equals the table.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null 2>&1 ||
	skip_all "systemd-analyze is not installed (scripts/deps.sh test)"
U=$TEST_TMP/units
mkdir -p "$U"
cp "$TEST_ROOT"/systemd/*.service "$TEST_ROOT"/systemd/*.timer "$U/"
# Templates are verified through an instance of each.
ln -s cdc@.service "$U/cdc@shop.service"
ln -s cdc-job@.service "$U/cdc-job@nightly.service"
ln -s cdc-job@.timer "$U/cdc-job@nightly.timer"

# ---- systemd-analyze verify
out=$(cd "$U" && systemd-analyze verify --man=no ./cdc@shop.service ./cdc-job@nightly.service \
	./cdc-job@nightly.timer 2>&1)
rc=$?
is "$rc:$out" "0:" "systemd-analyze verify: no complaint about any unit"
# The check can fail: a unit with a mistake in it is reported.
sed 's/^RestartPreventExitStatus=.*/RestartPreventExitStatus=sixty-five/' "$U/cdc@.service" >"$U/bad@.service"
ln -s bad@.service "$U/bad@x.service"
out=$(cd "$U" && systemd-analyze verify --man=no ./bad@x.service 2>&1)
like "$out" "RestartPreventExitStatus|sixty-five" "and it does complain about a broken copy"

# ---- systemd-analyze security
for unit in cdc@.service cdc-job@.service; do
	score=$(cd "$U" && systemd-analyze security --offline=true --no-pager "./$unit" 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
		ok 0 "$unit: exposure $score (at most 2.0)"
	else
		ok 1 "$unit: exposure ${score:-unknown} (at most 2.0)"
	fi
done

# ---- make install / uninstall
if [ "${CDC_TEST_SANITIZED:-0}" = 1 ]; then
	skip "install: checked in the plain build" 3
else
	D=$TEST_TMP/dest
	make -s -C "$TEST_ROOT" --no-print-directory BUILD="${CDC_BUILD:-build}" PREFIX=/usr DESTDIR="$D" \
		install >"$TEST_TMP/install.out" 2>&1
	ok $? "make install DESTDIR=... PREFIX=/usr" || diag "$(tail -5 "$TEST_TMP/install.out")"
	missing=
	for f in lib/systemd/system/cdc@.service lib/systemd/system/cdc-job@.service \
		lib/systemd/system/cdc-job@.timer lib/sysusers.d/cdc.conf share/man/man7/cdc-systemd.7; do
		[ -f "$D/usr/$f" ] || missing="$missing $f"
	done
	is "$missing" "" "the units, the sysusers.d file and cdc-systemd(7) are installed"
	make -s -C "$TEST_ROOT" --no-print-directory BUILD="${CDC_BUILD:-build}" PREFIX=/usr DESTDIR="$D" \
		uninstall >/dev/null 2>&1
	is "$(find "$D" -type f | wc -l)" 0 "make uninstall removes every file it installed"
fi

# ---- the pipeline file, run as cdc@.service runs it
need_bin cdc-capture cdc-filter cdc-map cdc-sink-es cdc-record
need_pg
need_es
pg_new_db units
psql_t <<'SQL' || bail_out "cannot set up the table"
CREATE TABLE items (id int PRIMARY KEY, v text);
INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 50) g;
SQL
P=$(es_new_index_prefix)
STATE=$TEST_TMP/state
mkdir -p "$STATE"
export PATH="$CDC_BIN:$PATH" PGTEST_DSN SLOT=s_$TEST_ID PUB=p_$TEST_ID ES_URL=$CDC_TEST_ES_URL INDEX="${P}{table}"
cat >"$TEST_TMP/shop.pipeline" <<'EOF'
cdc-capture -q -d "$PGTEST_DSN" --slot "$SLOT" --publication "$PUB" --create-slot \
        --create-publication --tables items --ack-file es.ckpt --heartbeat 1 --status-interval 1 \
  | cdc-filter -q --table items \
  | cdc-map -q . \
  | cdc-sink-es -q --url "$ES_URL" --index "$INDEX" --checkpoint es.ckpt
EOF

# A notify socket, as systemd gives a Type=notify service: what the
# pipeline sends goes to $TEST_TMP/notify.log.
export NOTIFY_SOCKET=$TEST_TMP/notify.sock
spawn python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as log:
    while True:
        log.write(s.recv(4096).decode() + "\n")
        log.flush()
' "$NOTIFY_SOCKET" "$TEST_TMP/notify.log"
wait_for "[ -S '$NOTIFY_SOCKET' ]" 10 || bail_out "the notify socket did not appear"

# unit FILE: start FILE as the unit would; UNIT_PID is the pipeline's shell.
unit() {
	: >"$TEST_TMP/notify.log"
	spawn bash -c 'cd "$1" && exec bash -o pipefail -o nounset "$2"' unit "$STATE" "$1" \
		2>>"$TEST_TMP/unit.err"
	UNIT_PID=$SPAWNED_PID
}
# unit_end: wait for the unit's shell; UNIT_RC its status, UNIT_MS since KILL_AT.
unit_end() {
	if ! wait_for "! _tap_alive $UNIT_PID" 10; then
		diag "the pipeline did not end within 10 s: killing it"
		kill -KILL -- "-$UNIT_PID" 2>/dev/null
	fi
	UNIT_MS=$(($(date +%s%3N) - KILL_AT))
	wait "$UNIT_PID"
	UNIT_RC=$?
}
# stage_pid NAME: the pid of the unit's stage NAME (ps and pgrep know the stages by name).
stage_pid() { pgrep -P "$UNIT_PID" -x "$1" | head -1; }
restarts() { case $1 in 0 | 1 | 2 | 65) return 1 ;; *) return 0 ;; esac; }
index_ids() {
	es_curl POST "/${P}items/_refresh" >/dev/null 2>&1
	es_curl GET "/${P}items/_search?size=10000&_source=false" | jq -r '.hits.hits[]._id' | sort -n | tr '\n' ' '
}
table_ids() { psql_t "SELECT id FROM items ORDER BY id" | tr '\n' ' '; }

unit "$TEST_TMP/shop.pipeline"
wait_for "grep -q '^READY=1' '$TEST_TMP/notify.log'" 60
ok $? "READY=1 reaches the notify socket once capture streams"
like "$(cat "$TEST_TMP/notify.log")" "STATUS=streaming slot $SLOT" "with a STATUS line naming the slot"

next=100
times=
for stage in cdc-filter cdc-map cdc-sink-es cdc-capture; do
	if [ "$stage" != cdc-filter ]; then
		unit "$TEST_TMP/shop.pipeline"
		wait_for "grep -q '^READY=1' '$TEST_TMP/notify.log'" 60
	fi
	psql_t "INSERT INTO items SELECT g, 'n' || g FROM generate_series($next, $((next + 9))) g" >/dev/null
	next=$((next + 10))
	wait_for "[ \"\$(index_ids)\" = \"\$(table_ids)\" ]" 30
	ok $? "$stage run: the index has every row"
	pid=$(stage_pid "$stage")
	isnt "$pid" "" "the $stage stage is a process named $stage"
	KILL_AT=$(date +%s%3N)
	kill -KILL "${pid:-0}" 2>/dev/null
	unit_end
	restarts "$UNIT_RC"
	ok $? "kill -9 of $stage: the pipeline ends with $UNIT_RC, which cdc@ restarts on"
	[ "$UNIT_MS" -lt 2000 ]
	ok $? "and it ends ${UNIT_MS} ms after the kill (within 2 s)"
	times="$times $stage:${UNIT_MS}ms"
done
diag "kill -9 to pipeline end:$times"

# A last restart applies what the kills left unconfirmed: nothing lost.
psql_t "UPDATE items SET v = 'last' WHERE id % 7 = 0; DELETE FROM items WHERE id % 11 = 0" >/dev/null
unit "$TEST_TMP/shop.pipeline"
wait_for "[ \"\$(index_ids)\" = \"\$(table_ids)\" ]" 30
ok $? "after four kills and restarts the index equals the table"
KILL_AT=$(date +%s%3N)
kill -TERM "$(stage_pid cdc-capture)"
unit_end
is "$UNIT_RC" 0 "systemctl stop (SIGTERM to capture): the pipeline ends with 0, not restarted"

# ---- bad data: 65, which the unit does not restart
cat >"$TEST_TMP/bad.pipeline" <<'EOF'
printf '%s\n' '{"op":"c","after":{"id":1},"key":{"id":1},"source":{"table":"items","commit_lsn":1,"seq":1}}' \
        'not an event' \
  | cdc-filter -q . \
  | cdc-sink-es -q --url "$ES_URL" --index "${INDEX}-bad" --checkpoint bad.ckpt
EOF
KILL_AT=$(date +%s%3N)
unit "$TEST_TMP/bad.pipeline"
unit_end
is "$UNIT_RC" 65 "a bad line in the middle: the pipeline ends with 65"
! restarts "$UNIT_RC"
ok $? "which RestartPreventExitStatus keeps stopped"

# ---- capture | record
cat >"$TEST_TMP/record.pipeline" <<'EOF'
cdc-capture -q -d "$PGTEST_DSN" --slot "${SLOT}_r" --publication "$PUB" --create-slot \
        --ack-file log.ckpt --heartbeat 1 --status-interval 1 \
  | cdc-record -q --no-output --checkpoint log.ckpt log
EOF
for stage in cdc-record cdc-capture; do
	unit "$TEST_TMP/record.pipeline"
	wait_for "grep -q '^READY=1' '$TEST_TMP/notify.log'" 60
	wait_for "pgrep -P $UNIT_PID -x $stage" 10
	pid=$(stage_pid "$stage")
	KILL_AT=$(date +%s%3N)
	kill -KILL "${pid:-0}" 2>/dev/null
	unit_end
	restarts "$UNIT_RC"
	ok $? "capture | record, kill -9 of $stage: ends with $UNIT_RC, restarted"
	[ "$UNIT_MS" -lt 2000 ]
	ok $? "within 2 s (${UNIT_MS} ms)"
done

done_testing
