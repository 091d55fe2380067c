#!/usr/bin/env bash
# tests/chaos/chaos.sh: one crash-and-restart chaos run against real
# PostgreSQL and OpenSearch.
#
#   tests/chaos/chaos.sh [--variant direct|record|kafka|exec|http] [--seconds S] [OPTIONS]
#
# The pipeline runs as a "unit", restarted the way systemd restarts a
# service whose ExecStart is a shell pipeline under pipefail, with
# Restart=on-failure, RestartPreventExitStatus=65 and RestartSec: the unit
# is `bash -o pipefail unit.sh`, which runs the stages as one pipeline and
# ends when every stage has ended, with the pipeline's status; whatever is
# left in its process group is killed; after --restart-sec it starts
# again, unless its status was 65 (bad data: the unit stops for good, and
# the run fails).  cdc-filter and cdc-sink-es run with --dead-letter, the
# other stages with the stop policy: the workload holds no bad data, so a
# dead letter or a 65 (a stage that took a neighbour's kill for bad data)
# is a failure of the run.
#
#   direct:  cdc-capture --ack-file es.ckpt | cdc-filter | cdc-map
#              | cdc-sink-es --checkpoint es.ckpt
#   record:  unit A: cdc-capture --ack-file rec.ckpt | cdc-record --no-output --checkpoint rec.ckpt LOG
#            unit B: cdc-replay --follow --after-checkpoint es.ckpt LOG | cdc-filter
#              | cdc-map | cdc-sink-es --checkpoint es.ckpt
#   kafka:   unit A: cdc-capture --ack-file k.ckpt | cdc-sink-kafka --checkpoint k.ckpt
#            unit B: cdc-source-kafka --ack-file es.ckpt | cdc-filter | cdc-map
#              | cdc-sink-es --checkpoint es.ckpt
#            (a 3-partition topic on CDC_TEST_KAFKA_BROKERS; --kafka-restarts
#            restarts the broker with SIGKILL, like the other servers)
#   exec:    cdc-capture --ack-file es.ckpt | cdc-filter | cdc-map
#              | cdc-sink-exec --parallel 2 --checkpoint es.ckpt -- HANDLER
#            the unit's odd runs run a handler per batch: HANDLER is
#            cdc-sink-es without a checkpoint (idempotent: external versions
#            from the positions), reading the batch on its stdin; its even
#            runs add --keep-running: HANDLER is tests/chaos/fn_worker.py,
#            a long-lived Python worker that answers {} or {"status":N} per
#            batch after piping it into cdc-sink-es; so both modes work on
#            the same checkpoint, and a restart may switch modes.  The
#            handler is a stage the killer kills too (cdc-sink-exec retries
#            the batch; the unit is not restarted); when the unit ends, a
#            handler left over (its own process group) is killed with it, as
#            systemd kills a unit's cgroup.
#   http:    cdc-capture --ack-file es.ckpt | cdc-filter | cdc-map
#              | cdc-sink-http --concurrency 2 --checkpoint es.ckpt
#                --url http://127.0.0.1:PORT/
#            unit B (Restart=always): tests/chaos/receiver.py, a threaded
#            HTTP server, the user's function: it pipes each NDJSON body into
#            cdc-sink-es without a checkpoint and answers 200 when that
#            exited 0, 400 for 65, 503 otherwise.  The killer kills it too
#            (the batch in flight fails with a reset or a refused
#            connection, cdc-sink-http retries it; the receiver comes back
#            after --restart-sec, what it had started dies with its group).
#
# The slot is created by the first run of cdc-capture with an initial
# snapshot (--create-slot --snapshot-state FILE: "initial" is the default
# for a slot this run creates; later runs find the slot and stream) of a
# table that already holds --initial rows.  tests/chaos/workload.py runs
# concurrent transactions for --seconds while a killer sends SIGKILL to a
# random stage (each stage once in a random order, then again: --kill-first
# picks the first) every --kill-min..--kill-max seconds (and waits until the
# pipeline has recovered: a new run of the unit has moved its checkpoint),
# and restarts PostgreSQL (--pg-restarts) and OpenSearch (--os-restarts) at
# evenly spread moments with tests/services.sh (only when the services are
# managed: CDC_TEST_PG_MANAGED / CDC_TEST_ES_MANAGED = 1).  When the
# workload has stopped, the run drains (the sink's checkpoint reaches the
# server's WAL position after the last transaction), then compares every
# row with every document (tests/chaos/compare.py) and prints a report.
# The record variant then re-delivers the whole log (snapshot, truncates and
# all) through a sink without a checkpoint and compares again.
#
# Environment: CDC_TEST_PG (conninfo), CDC_TEST_ES_URL, CDC_BIN, and for
# restarts CDC_TEST_STATE (the services' state dir), CDC_TEST_PG_BINDIR.
# Exit status: 0 when nothing was lost, stale or extra, no stage exited 65
# and no dead letter was written; 1 otherwise (also when the drain timed
# out or a unit stopped for good); 2 for a usage or setup error.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/chaos
prog=chaos.sh

VARIANT=direct
DURATION=60
KILL_MIN=2
KILL_MAX=8
PG_RESTARTS=1
OS_RESTARTS=1
KAFKA_RESTARTS=1
WORKERS=4
SEED=$((RANDOM % 10000))
INITIAL=2000
TRUNCATE_EVERY=60
RESTART_SEC=1
DRAIN_TIMEOUT=240
RECOVERY_TIMEOUT=120
WORK=""
KEEP=0
REPORT=""
WL_EXTRA=()
KILL_FIRST=""

usage() {
	sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	cat <<EOF
Options (defaults in brackets):
  --variant direct|record|kafka|exec|http [$VARIANT]
  --seconds S               workload duration [$DURATION]
  --kill-min S --kill-max S seconds between kills [$KILL_MIN..$KILL_MAX]; --kill-max 0: no kills
  --pg-restarts N           PostgreSQL restarts during the run [$PG_RESTARTS]
  --os-restarts N           OpenSearch restarts during the run [$OS_RESTARTS]
  --kafka-restarts N        Kafka broker restarts (SIGKILL) in the kafka variant [$KAFKA_RESTARTS]
  --workers N               concurrent workload sessions [$WORKERS]
  --initial N               rows before the slot exists (the snapshot) [$INITIAL]
  --truncate-every S        a truncate every S seconds, 0: none [$TRUNCATE_EVERY]
  --restart-sec S           RestartSec of the units [$RESTART_SEC]
  --drain-timeout S         give up draining after S seconds [$DRAIN_TIMEOUT]
  --recovery-timeout S      stop waiting for a recovery after S seconds [$RECOVERY_TIMEOUT]
  --seed N                  workload seed [random]
  --kill-first STAGE        the first kill is of STAGE (e.g. handler, receiver)
  --work-dir DIR            keep files there (default: a temporary dir, removed)
  --report FILE             also write the report block to FILE
  --keep                    keep the database, slot, index and work dir
  --no-pk-toast             primary key updates also rewrite the TOASTed column
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }
say() { echo "$prog: [$(date +%H:%M:%S)] $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--variant) VARIANT=$2; shift ;;
	--seconds) DURATION=$2; shift ;;
	--kill-min) KILL_MIN=$2; shift ;;
	--kill-max) KILL_MAX=$2; shift ;;
	--pg-restarts) PG_RESTARTS=$2; shift ;;
	--os-restarts) OS_RESTARTS=$2; shift ;;
	--kafka-restarts) KAFKA_RESTARTS=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--initial) INITIAL=$2; shift ;;
	--truncate-every) TRUNCATE_EVERY=$2; shift ;;
	--restart-sec) RESTART_SEC=$2; shift ;;
	--drain-timeout) DRAIN_TIMEOUT=$2; shift ;;
	--recovery-timeout) RECOVERY_TIMEOUT=$2; shift ;;
	--seed) SEED=$2; shift ;;
	--kill-first) KILL_FIRST=$2; shift ;;
	--work-dir) WORK=$2; shift ;;
	--report) REPORT=$2; shift ;;
	--keep) KEEP=1 ;;
	--no-pk-toast) WL_EXTRA+=(--no-pk-toast) ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $VARIANT in direct | record | kafka | exec | http) ;; *) die "--variant: direct, record, kafka, exec or http" ;; esac
if [ "$VARIANT" = kafka ]; then
	[ -n "${CDC_TEST_KAFKA_BROKERS:-}" ] || die "CDC_TEST_KAFKA_BROKERS is not set (tests/services.sh kafka-up)"
fi

[ -n "${CDC_TEST_PG:-}" ] || die "CDC_TEST_PG is not set (source tests/services.sh env)"
[ -n "${CDC_TEST_ES_URL:-}" ] || die "CDC_TEST_ES_URL is not set"
case $VARIANT in
direct) UNITS=(direct); STAGES=(capture filter map sink) ;;
record) UNITS=(recorder consumer); STAGES=(capture record replay filter map sink) ;;
kafka) UNITS=(kproducer kconsumer); STAGES=(capture sinkkafka sourcekafka filter map sink) ;;
exec) UNITS=(fn); STAGES=(capture filter map sinkexec handler) ;;
http) UNITS=(receiver fnhttp); STAGES=(capture filter map sinkhttp receiver) ;;
esac
if [ -n "$KILL_FIRST" ]; then
	case " ${STAGES[*]} " in *" $KILL_FIRST "*) ;; *) die "--kill-first: not one of the stages of $VARIANT: ${STAGES[*]}" ;; esac
fi
: "${CDC_BIN:=$ROOT/build/bin}"
NEED=(cdc-capture cdc-filter cdc-map cdc-sink-es cdc-record cdc-replay)
case $VARIANT in exec) NEED+=(cdc-sink-exec) ;; http) NEED+=(cdc-sink-http) ;; esac
for p in "${NEED[@]}"; do
	[ -x "$CDC_BIN/$p" ] || die "$CDC_BIN/$p is not built"
done
PSQL=psql
if [ -n "${CDC_TEST_PG_BINDIR:-}" ] && [ -x "$CDC_TEST_PG_BINDIR/psql" ]; then PSQL=$CDC_TEST_PG_BINDIR/psql; fi
if [ "${CDC_TEST_PG_MANAGED:-0}" != 1 ] && [ "$PG_RESTARTS" -gt 0 ]; then
	say "PostgreSQL is not managed by tests/services.sh: no PostgreSQL restarts"
	PG_RESTARTS=0
fi
if [ "$VARIANT" != kafka ]; then
	KAFKA_RESTARTS=0
elif [ "${CDC_TEST_KAFKA_MANAGED:-0}" != 1 ] && [ "$KAFKA_RESTARTS" -gt 0 ]; then
	say "Kafka is not managed by tests/services.sh: no broker restarts"
	KAFKA_RESTARTS=0
fi
if [ "${CDC_TEST_ES_MANAGED:-0}" != 1 ] && [ "$OS_RESTARTS" -gt 0 ]; then
	say "OpenSearch is not managed by tests/services.sh: no OpenSearch restarts"
	OS_RESTARTS=0
fi

if [ -z "$WORK" ]; then
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/cdc-chaos.XXXXXX") || die "cannot create a work dir"
	own_work=1
else
	mkdir -p "$WORK" || die "cannot create $WORK"
	WORK=$(cd "$WORK" && pwd)
	own_work=0
fi
W=$WORK
ID=${VARIANT}_$$
DB=chaos_$ID
DSN="$CDC_TEST_PG dbname=$DB"
SLOT=chaos_$ID
PUB=chaos_pub
INDEX=cdcchaos-${ID//_/-}-items
TOPIC=cdcchaos-${ID//_/-}.items
ES=${CDC_TEST_ES_URL%/}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
pg() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DSN" "$@"; }
pgadmin() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$CDC_TEST_PG" "$@"; }
lsn2int() {
	local hi=${1%/*} lo=${1#*/}
	echo $(((16#$hi << 32) + 16#$lo))
}
# The commit_lsn of a checkpoint file as a number (0 when there is none).
ckpt_lsn() {
	local v
	v=$(sed -n 's/^commit_lsn=//p' "$1" 2>/dev/null)
	if [ -n "$v" ]; then lsn2int "$v"; else echo 0; fi
}
ckpt_pos() { sed -n 's/^position=//p' "$1" 2>/dev/null; }
alive() {
	local stat rest
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	[ "${rest%% *}" != Z ]
}

# ------------------------------------------------------------------ cleanup

UNIT_SUPERVISORS=()
BG=()
cleanup() {
	local pid i
	touch "$W/stop" 2>/dev/null
	for pid in "${UNIT_SUPERVISORS[@]}" "${BG[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for f in "$W"/unit-*.pgid; do
		[ -f "$f" ] || continue
		kill -TERM -- "-$(cat "$f")" 2>/dev/null
	done
	for ((i = 0; i < 50; i++)); do
		pgrep -f "$W/" >/dev/null 2>&1 || break
		sleep 0.1
	done
	for f in "$W"/unit-*.pgid; do
		[ -f "$f" ] || continue
		kill -KILL -- "-$(cat "$f")" 2>/dev/null
	done
	kill_handlers
	wait 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		say "kept: work dir $W, database $DB, slot $SLOT, index $INDEX"
		return
	fi
	for ((i = 0; i < 30; i++)); do
		pgadmin >/dev/null 2>&1 <<-EOF && break
			SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
			 WHERE slot_name = '$SLOT' AND active_pid IS NOT NULL;
			SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT';
		EOF
		sleep 0.2
	done
	pgadmin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
	curl -s -m 10 -o /dev/null -X DELETE "$ES/$INDEX" 2>/dev/null
	if [ "$own_work" = 1 ]; then rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ setup

say "variant $VARIANT, ${DURATION}s, seed $SEED, work dir $W"
pgadmin -c "DROP DATABASE IF EXISTS \"$DB\"" -c "CREATE DATABASE \"$DB\"" >/dev/null || die "cannot create database $DB"
pg -f "$HERE/schema.sql" >/dev/null || die "cannot create the tables"
if [ "$VARIANT" = kafka ]; then
	/usr/bin/python3 "$ROOT/tests/kafka/topics.py" "$CDC_TEST_KAFKA_BROKERS" create "$TOPIC" 3 ||
		die "cannot create topic $TOPIC"
fi
pg -c "CREATE PUBLICATION $PUB FOR TABLE items, noise" >/dev/null || die "cannot create the publication"
if [ "$INITIAL" -gt 0 ]; then
	python3 "$HERE/workload.py" --psql "$PSQL" --dsn "$DSN" --initial "$INITIAL" ||
		die "cannot insert the initial rows"
fi
curl -s -m 10 -o /dev/null -X DELETE "$ES/$INDEX"

CAP=$CDC_BIN/cdc-capture
CAPTURE_ARGS=(-d "$DSN" --slot "$SLOT" --publication "$PUB" --create-slot
	--snapshot-state "$W/snap.state" --heartbeat 1 --status-interval 1)
FILTER_ARGS=(--table public.items --dead-letter "$W/filter.dl" '.op != "m"')
MAP_ARGS=(--doc -f "$HERE/map.jq")
SINK_ARGS=(--url "$ES" --index "cdcchaos-${ID//_/-}-{table}" --checkpoint "$W/es.ckpt"
	--batch-wait 100ms --batch-docs 500 --create-index "$HERE/index.json" --dead-letter "$W/sink.dl")
# exec and http: the user's function applies a batch with cdc-sink-es
# without a checkpoint; the function sinks keep the checkpoint.
APPLY=("$CDC_BIN/cdc-sink-es" --url "$ES" --index "cdcchaos-${ID//_/-}-{table}" --batch-docs 500
	--create-index "$HERE/index.json")
FN_ARGS=(--checkpoint "$W/es.ckpt" --batch-size 500 --batch-window 200ms --dead-letter "$W/sink.dl")
if [ "$VARIANT" = http ]; then
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
		die "cannot find a free port"
fi
# The handler as cdc-sink-exec runs it: leaves its pid for the killer (and
# for the unit's end) and becomes the command.
cat >"$W/handler.sh" <<EOF
echo \$\$ >$(printf %q "$W/pid.handler")
echo \$\$ >>$(printf %q "$W/handler.pids")
exec "\$@"
EOF

# write_unit NAME: the unit's script, W/unit-NAME.sh.  Each stage leaves its
# pid in W/pid.STAGE and appends its stderr to W/STAGE.err; the exit
# statuses of a run go to W/unit-NAME.exits.
q() { printf '%q ' "$@"; }
write_unit() {
	local name=$1 line pre=""
	case $name in
	direct)
		line="run capture $(q "$CAP" "${CAPTURE_ARGS[@]}" --ack-file "$W/es.ckpt")"
		line+="| run filter $(q "$CDC_BIN/cdc-filter" "${FILTER_ARGS[@]}")"
		line+="| run map $(q "$CDC_BIN/cdc-map" "${MAP_ARGS[@]}")"
		line+="| tee >(exec python3 $(q "$HERE/positions.py") >>$(q "$W/delivered.pos"))"
		line+="| run sink $(q "$CDC_BIN/cdc-sink-es" "${SINK_ARGS[@]}")"
		;;
	recorder)
		line="run capture $(q "$CAP" "${CAPTURE_ARGS[@]}" --ack-file "$W/rec.ckpt")"
		line+="| run record $(q "$CDC_BIN/cdc-record" --no-output --checkpoint "$W/rec.ckpt" "$W/log")"
		;;
	kproducer)
		line="run capture $(q "$CAP" "${CAPTURE_ARGS[@]}" --ack-file "$W/k.ckpt")"
		line+="| run sinkkafka $(q "$CDC_BIN/cdc-sink-kafka" -b "$CDC_TEST_KAFKA_BROKERS" --topic "$TOPIC" --checkpoint "$W/k.ckpt")"
		;;
	kconsumer)
		line="run sourcekafka $(q "$CDC_BIN/cdc-source-kafka" -b "$CDC_TEST_KAFKA_BROKERS" --group "$TOPIC" --topic "$TOPIC" --ack-file "$W/es.ckpt")"
		line+="| run filter $(q "$CDC_BIN/cdc-filter" "${FILTER_ARGS[@]}")"
		line+="| run map $(q "$CDC_BIN/cdc-map" "${MAP_ARGS[@]}")"
		line+="| tee >(exec python3 $(q "$HERE/positions.py") >>$(q "$W/delivered.pos"))"
		line+="| run sink $(q "$CDC_BIN/cdc-sink-es" "${SINK_ARGS[@]}")"
		;;
	fn)
		# Odd runs: a handler per batch; even runs: --keep-running.
		pre="n=\$(wc -l <\"\$W/unit-fn.starts\")
if [ \$((n % 2)) = 1 ]; then
	mode=batch FN=(-- sh $(q "$W/handler.sh" "${APPLY[@]}"))
else
	mode=keep FN=(--keep-running -- sh $(q "$W/handler.sh" python3 "$HERE/fn_worker.py" "${APPLY[@]}"))
fi
echo \"\$n \$mode\" >>\"\$W/fn.modes\""
		line="run capture $(q "$CAP" "${CAPTURE_ARGS[@]}" --ack-file "$W/es.ckpt")"
		line+="| run filter $(q "$CDC_BIN/cdc-filter" "${FILTER_ARGS[@]}")"
		line+="| run map $(q "$CDC_BIN/cdc-map" "${MAP_ARGS[@]}")"
		line+="| tee >(exec python3 $(q "$HERE/positions.py") >>$(q "$W/delivered.pos"))"
		line+="| run sinkexec $(q "$CDC_BIN/cdc-sink-exec" "${FN_ARGS[@]}" --parallel 2) \"\${FN[@]}\""
		;;
	fnhttp)
		line="run capture $(q "$CAP" "${CAPTURE_ARGS[@]}" --ack-file "$W/es.ckpt")"
		line+="| run filter $(q "$CDC_BIN/cdc-filter" "${FILTER_ARGS[@]}")"
		line+="| run map $(q "$CDC_BIN/cdc-map" "${MAP_ARGS[@]}")"
		line+="| tee >(exec python3 $(q "$HERE/positions.py") >>$(q "$W/delivered.pos"))"
		line+="| run sinkhttp $(q "$CDC_BIN/cdc-sink-http" "${FN_ARGS[@]}" --concurrency 2 --url "http://127.0.0.1:$PORT/")"
		;;
	receiver)
		line="run receiver $(q python3 "$HERE/receiver.py" "$PORT" "${APPLY[@]}")"
		;;
	consumer)
		line="run replay $(q "$CDC_BIN/cdc-replay" --follow --poll-interval 100ms --after-checkpoint "$W/es.ckpt" "$W/log")"
		line+="| run filter $(q "$CDC_BIN/cdc-filter" "${FILTER_ARGS[@]}")"
		line+="| run map $(q "$CDC_BIN/cdc-map" "${MAP_ARGS[@]}")"
		line+="| tee >(exec python3 $(q "$HERE/positions.py") >>$(q "$W/delivered.pos"))"
		line+="| run sink $(q "$CDC_BIN/cdc-sink-es" "${SINK_ARGS[@]}")"
		;;
	esac
	cat >"$W/unit-$name.sh" <<EOF
# unit $name of a chaos run: what ExecStart=/bin/sh -c '...' would run.
W=$(q "$W")
run() {
	local stage=\$1
	shift
	echo "\$BASHPID" >"\$W/pid.\$stage"
	exec "\$@" 2>>"\$W/\$stage.err"
}
$pre
set -o pipefail
$line
ps="\${PIPESTATUS[*]}"
echo "\$(date +%s) \$ps" >>"\$W/unit-$name.exits"
rc=0
for st in \$ps; do [ "\$st" = 0 ] || rc=\$st; done
exit \$rc
EOF
}

# kill_handlers: what is left of the exec variant's handlers (each in its
# own process group, as cdc-sink-exec starts them) when its unit has ended,
# as systemd would kill them with the unit's cgroup.
kill_handlers() {
	local pid
	[ -s "$W/handler.pids" ] || return 0
	while read -r pid; do
		alive "$pid" && grep -q -- "--index.cdcchaos-${ID//_/-}-" "/proc/$pid/cmdline" 2>/dev/null &&
			kill -KILL -- "-$pid" 2>/dev/null
	done <"$W/handler.pids"
	: >"$W/handler.pids"
}

# supervise NAME: start the unit, wait for it, kill what is left in its
# process group, sleep RestartSec, again; until W/stop exists, or the
# unit's status is 65 (RestartPreventExitStatus=65: W/unit-NAME.stopped).
supervise() {
	local name=$1 pid rc
	trap 'exit 0' TERM
	while [ ! -e "$W/stop" ]; do
		echo "$(now_ms)" >>"$W/unit-$name.starts"
		setsid bash "$W/unit-$name.sh" </dev/null >/dev/null 2>>"$W/unit-$name.err" &
		pid=$!
		echo "$pid" >"$W/unit-$name.pgid"
		wait "$pid"
		rc=$?
		echo "$rc" >>"$W/unit-$name.status"
		kill -KILL -- "-$pid" 2>/dev/null
		kill_handlers
		[ -e "$W/stop" ] && break
		if [ "$rc" = 65 ]; then
			echo "$(now_ms)" >"$W/unit-$name.stopped"
			say "unit $name ended with status 65: not restarted (RestartPreventExitStatus=65)"
			break
		fi
		sleep "$RESTART_SEC"
	done
}

unit_of() {
	case $VARIANT:$1 in
	direct:*) echo direct ;;
	record:capture | record:record) echo recorder ;;
	kafka:capture | kafka:sinkkafka) echo kproducer ;;
	kafka:*) echo kconsumer ;;
	exec:*) echo fn ;;
	http:receiver) echo receiver ;;
	http:*) echo fnhttp ;;
	*) echo consumer ;;
	esac
}
ckpt_of_unit() {
	case $1 in recorder) echo "$W/rec.ckpt" ;; kproducer) echo "$W/k.ckpt" ;; *) echo "$W/es.ckpt" ;; esac
}
prog_of() {
	case $1 in sink) echo cdc-sink-es ;; sinkkafka) echo cdc-sink-kafka ;;
	sourcekafka) echo cdc-source-kafka ;; sinkexec) echo cdc-sink-exec ;;
	sinkhttp) echo cdc-sink-http ;; receiver) echo receiver.py ;;
	handler) echo 'cdc-sink-es\|fn_worker.py' ;; *) echo "cdc-$1" ;; esac
}
starts() { wc -l <"$W/unit-$1.starts" 2>/dev/null || echo 0; }

for u in "${UNITS[@]}"; do
	write_unit "$u"
	supervise "$u" &
	UNIT_SUPERVISORS+=($!)
done

# ------------------------------------------------------------------ monitors

# Peak WAL retained by the slot: pg_current_wal_lsn() - restart_lsn, every s.
wal_monitor() {
	local v max=0
	trap 'exit 0' TERM
	while [ ! -e "$W/stop" ]; do
		v=$(PGCONNECT_TIMEOUT=2 pg -c "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '$SLOT'" 2>/dev/null)
		if [ -n "$v" ] && [ "$v" -gt "$max" ]; then
			max=$v
			echo "$max" >"$W/wal.peak"
		fi
		sleep 1
	done
}
wal_monitor &
BG+=($!)

# wait_recovery UNIT T0 STARTS0: milliseconds from T0 until a run of UNIT
# started after STARTS0 runs has moved UNIT's checkpoint; "timeout" after
# RECOVERY_TIMEOUT.  STARTS0 empty: any run (a server restart).
wait_recovery() {
	local unit=$1 t0=$2 s0=$3 ck p0="" deadline
	ck=$(ckpt_of_unit "$unit")
	deadline=$((t0 + RECOVERY_TIMEOUT * 1000))
	if [ -n "$s0" ]; then
		while [ "$(starts "$unit")" -le "$s0" ]; do
			[ "$(now_ms)" -lt "$deadline" ] || { echo timeout; return; }
			sleep 0.05
		done
	fi
	p0=$(ckpt_pos "$ck")
	while [ "$(ckpt_pos "$ck")" = "$p0" ]; do
		[ "$(now_ms)" -lt "$deadline" ] || { echo timeout; return; }
		sleep 0.05
	done
	echo $(($(now_ms) - t0))
}

# live_pid STAGE: the pid of the running STAGE, or nothing.  A handler
# per batch lives for a moment: wait for one (up to 5 s).
live_pid() {
	local pid tries=1 i
	[ "$1" = handler ] && tries=500
	for ((i = 0; i < tries; i++)); do
		pid=$(cat "$W/pid.$1" 2>/dev/null)
		if [ -n "$pid" ] && alive "$pid" && grep -q "$(prog_of "$1")" "/proc/$pid/cmdline" 2>/dev/null; then
			echo "$pid"
			return
		fi
		[ "$tries" = 1 ] || sleep 0.01
	done
}

# The killer: SIGKILL to a random stage, then wait for the recovery; the
# server restarts at evenly spread moments.
killer() {
	local end=$1 start t0 s0 stage pid unit r events=() i n bag=()
	trap 'exit 0' TERM
	start=$(now_ms)
	n=$((PG_RESTARTS + OS_RESTARTS))
	# Restart moments: (i+1)/(n+1) of the run, PostgreSQL and OpenSearch alternating.
	local pg_left=$PG_RESTARTS os_left=$OS_RESTARTS
	for ((i = 0; i < n; i++)); do
		if { [ $((i % 2)) = 0 ] && [ "$pg_left" -gt 0 ]; } || [ "$os_left" = 0 ]; then
			events+=("$((start + (end - start) * (i + 1) / (n + 1))) pg")
			pg_left=$((pg_left - 1))
		else
			events+=("$((start + (end - start) * (i + 1) / (n + 1))) os")
			os_left=$((os_left - 1))
		fi
	done
	# Broker restarts in between, at (2k-1)/(2m) of the run.
	for ((i = 1; i <= KAFKA_RESTARTS; i++)); do
		events+=("$((start + (end - start) * (2 * i - 1) / (2 * KAFKA_RESTARTS))) kafka")
	done
	mapfile -t events < <(printf '%s\n' "${events[@]}" | sort -n)
	[ -n "${events[0]:-}" ] || events=()
	# Let the snapshot begin before the first kill.
	sleep 2
	while [ "$(now_ms)" -lt "$end" ]; do
		if [ ${#events[@]} -gt 0 ] && [ "$(now_ms)" -ge "${events[0]% *}" ]; then
			local what=${events[0]#* }
			events=("${events[@]:1}")
			say "restarting $what"
			t0=$(now_ms)
			if [ "$what" = pg ]; then
				"$ROOT/tests/services.sh" pg-restart >>"$W/services.log" 2>&1
			elif [ "$what" = kafka ]; then
				"$ROOT/tests/services.sh" kafka-restart kill >>"$W/services.log" 2>&1
			else
				"$ROOT/tests/services.sh" os-restart >>"$W/services.log" 2>&1
			fi
			echo "$what-restart $(($(now_ms) - t0))" >>"$W/restarts"
			r=$(wait_recovery "$(unit_of sink)" "$t0" "")
			echo "$what $r" >>"$W/recoveries"
			say "$what restarted; pipeline recovered after ${r} ms"
			continue
		fi
		if [ "$KILL_MAX" = 0 ]; then sleep 0.5; continue; fi
		sleep "$(awk -v a="$KILL_MIN" -v b="$KILL_MAX" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", a + rand() * (b - a) }')"
		[ "$(now_ms)" -lt "$end" ] || break
		# Every stage once in a random order, then again (KILL_FIRST first).
		if [ ${#bag[@]} = 0 ]; then
			mapfile -t bag < <(printf '%s\n' "${STAGES[@]}" | shuf)
			if [ -n "$KILL_FIRST" ]; then
				bag=("$KILL_FIRST" "${bag[@]}")
			fi
		fi
		stage=${bag[0]}
		bag=("${bag[@]:1}")
		unit=$(unit_of "$stage")
		pid=$(live_pid "$stage")
		if [ -z "$pid" ]; then
			echo "skip $stage" >>"$W/kills.skipped"
			# KILL_FIRST is tried again until it is killed (a handler
			# run per batch lives only while a batch is handled).
			[ "$stage" != "$KILL_FIRST" ] || bag=("$stage" "${bag[@]}")
			continue
		fi
		[ "$stage" != "$KILL_FIRST" ] || KILL_FIRST=""
		# A handler's death is the sink's to handle: the unit goes on.
		if [ "$stage" = handler ]; then s0=""; else s0=$(starts "$unit"); fi
		t0=$(now_ms)
		kill -KILL "$pid" 2>/dev/null || continue
		echo "$stage $t0" >>"$W/kills"
		r=$(wait_recovery "$unit" "$t0" "$s0")
		echo "$stage $r" >>"$W/recoveries"
		say "killed $stage (pid $pid); recovered after ${r} ms"
	done
}

# ------------------------------------------------------------------ the run

t_start=$(now_ms)
end=$((t_start + DURATION * 1000))
killer "$end" &
KILLER=$!
BG+=("$KILLER")
python3 "$HERE/workload.py" --psql "$PSQL" --dsn "$DSN" --seconds "$DURATION" --workers "$WORKERS" \
	--seed "$SEED" --truncate-every "$TRUNCATE_EVERY" "${WL_EXTRA[@]}" >"$W/workload.json" 2>"$W/workload.err"
say "workload done: $(cat "$W/workload.json")"
wait "$KILLER"

# Drain: the servers are up again (the killer waited for its restarts);
# everything committed is below the WAL position now, and a transaction on
# the noise table (filtered out) makes the WAL move past it, so a heartbeat
# carries the sink's checkpoint there.
target=$(pg -c "SELECT pg_current_wal_lsn()") || { say "PostgreSQL does not answer"; exit 1; }
pg -c "INSERT INTO noise (v) VALUES ('drain')" >/dev/null
say "draining to $target"
target_n=$(lsn2int "$target")
t0=$(now_ms)
drained=0
while [ $(($(now_ms) - t0)) -lt $((DRAIN_TIMEOUT * 1000)) ]; do
	if [ "$(ckpt_lsn "$W/es.ckpt")" -ge "$target_n" ]; then drained=1; break; fi
	sleep 0.2
done
drain_ms=$(($(now_ms) - t0))
if [ "$drained" = 1 ]; then
	say "drained in $drain_ms ms (checkpoint $(ckpt_pos "$W/es.ckpt"))"
else
	say "NOT drained after ${DRAIN_TIMEOUT}s: checkpoint $(ckpt_pos "$W/es.ckpt"), target $target"
fi

python3 "$HERE/compare.py" --psql "$PSQL" --dsn "$DSN" --es-url "$ES" --index "$INDEX" \
	--map "$HERE/map.jq" >"$W/compare.json" 2>"$W/compare.err"
crc=$?

# Stop the units the way systemctl stop would: SIGTERM to the group.
touch "$W/stop"
for f in "$W"/unit-*.pgid; do kill -TERM -- "-$(cat "$f")" 2>/dev/null; done
for pid in "${UNIT_SUPERVISORS[@]}"; do wait "$pid" 2>/dev/null; done
kill -TERM "${BG[@]}" 2>/dev/null
wait 2>/dev/null

# Re-delivery of everything (record variant): the whole log again, from
# the snapshot on and truncates included, through a sink without a
# checkpoint over the index as it is, the way a lost checkpoint or a second
# sink would deliver it.  The index must still be the table.
crc2=0
redeliver=
if [ "$VARIANT" = record ]; then
	say "re-delivering the whole log"
	t0=$(now_ms)
	"$CDC_BIN/cdc-replay" "$W/log" 2>>"$W/redeliver.err" |
		"$CDC_BIN/cdc-filter" "${FILTER_ARGS[@]}" 2>>"$W/redeliver.err" |
		"$CDC_BIN/cdc-map" "${MAP_ARGS[@]}" 2>>"$W/redeliver.err" |
		"$CDC_BIN/cdc-sink-es" --url "$ES" --index "cdcchaos-${ID//_/-}-{table}" --batch-docs 500 \
			--create-index "$HERE/index.json" --stats 2>>"$W/redeliver.err"
	rrc=("${PIPESTATUS[@]}")
	python3 "$HERE/compare.py" --psql "$PSQL" --dsn "$DSN" --es-url "$ES" --index "$INDEX" \
		--map "$HERE/map.jq" >"$W/compare2.json" 2>"$W/compare2.err"
	crc2=$?
	[ "${rrc[*]}" = "0 0 0 0" ] || crc2=1
	redeliver="exits ${rrc[*]}, $(($(now_ms) - t0)) ms, $(grep -o '[0-9]* events' "$W/redeliver.err" | head -n1); lost $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["lost"], "stale", d["stale"], "extra", d["extra"])' "$W/compare2.json" 2>/dev/null || echo '?')"
fi

# ------------------------------------------------------------------ report

jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], ""))' "$@" 2>/dev/null; }
runs=0
for u in "${UNITS[@]}"; do runs=$((runs + $(starts "$u"))); done
fn_modes=
if [ "$VARIANT" = exec ]; then
	fn_modes=$(awk '{ n[$2]++ } END { printf "%d per batch, %d --keep-running", n["batch"], n["keep"] }' "$W/fn.modes" 2>/dev/null)
fi
kills=$(wc -l <"$W/kills" 2>/dev/null || echo 0)
kill_by=$(awk '{ n[$1]++ } END { for (s in n) printf "%s%s %d", (k++ ? ", " : ""), s, n[s] }' "$W/kills" 2>/dev/null)
rec=$(awk '$1 != "pg" && $1 != "os" && $2 != "timeout" { print $2 }' "$W/recoveries" 2>/dev/null | sort -n |
	awk '{ v[NR] = $1 } END { if (NR) printf "min %.1f s, median %.1f s, max %.1f s (%d kills)", v[1]/1000, v[int((NR+1)/2)]/1000, v[NR]/1000, NR; else printf "-" }')
rec_timeouts=$(grep -c ' timeout$' "$W/recoveries" 2>/dev/null)
srv=$(awk '$1 == "pg" || $1 == "os" || $1 == "kafka" { printf "%s%s %s", (k++ ? ", " : ""), ($1 == "pg" ? "postgresql" : $1 == "os" ? "opensearch" : "kafka"), ($2 == "timeout" ? "timeout" : sprintf("%.1f s", $2/1000)) }' "$W/recoveries" 2>/dev/null)
delivered=$(wc -l <"$W/delivered.pos" 2>/dev/null || echo 0)
dups=$(sort "$W/delivered.pos" 2>/dev/null | uniq -c | awk '$1 > 1 { d += $1 - 1 } END { print d + 0 }')
peak=$(cat "$W/wal.peak" 2>/dev/null || echo 0)
exits=$(cat "$W"/unit-*.exits 2>/dev/null | awk '{ for (i = 2; i <= NF; i++) n[$i]++ } END { for (s in n) printf "%s%s x%d", (k++ ? ", " : ""), s, n[s] }')
unit_statuses=$(cat "$W"/unit-*.status 2>/dev/null | sort -n | uniq -c | awk '{ printf "%s%s x%d", (k++ ? ", " : ""), $2, $1 }')
stopped=$(ls "$W"/unit-*.stopped 2>/dev/null | wc -l)
stage65=$(cat "$W"/unit-*.exits 2>/dev/null | awk '{ for (i = 2; i <= NF; i++) if ($i == 65) n++ } END { print n + 0 }')
dead=$(cat "$W"/*.dl 2>/dev/null | wc -l)
lost=$(jget "$W/compare.json" lost)
stale=$(jget "$W/compare.json" stale)
extra=$(jget "$W/compare.json" extra)
report=$(
	cat <<EOF
chaos report: variant $VARIANT, workload ${DURATION} s, seed $SEED, $(jget "$W/workload.json" committed_total) transactions committed ($(jget "$W/workload.json" failed_total) failed)
  runs (unit starts):        $runs${fn_modes:+ ($fn_modes)}
  kills (SIGKILL):           $kills${kill_by:+ ($kill_by)}
  server restarts:           ${srv:--}
  recovery after a kill:     $rec${rec_timeouts:+; $rec_timeouts without recovery in ${RECOVERY_TIMEOUT} s}
  stage exit statuses:       ${exits:--}
  unit (pipeline) statuses:  ${unit_statuses:--}
  stages that exited 65:     $stage65
  units stopped for good:    $stopped
  dead letters written:      $dead
  drain:                     $([ "$drained" = 1 ] && echo "$drain_ms ms" || echo "TIMED OUT after ${DRAIN_TIMEOUT} s")
  rows / documents:          $(jget "$W/compare.json" rows) / $(jget "$W/compare.json" docs)
  lost rows:                 ${lost:-?}
  stale documents:           ${stale:-?}
  extra documents:           ${extra:-?}
  duplicates delivered:      $dups (of $delivered data events given to the sink)
  peak WAL retained by slot: $((peak / 1024)) kB${redeliver:+
  whole log re-delivered:    $redeliver}
EOF
)
echo "$report"
[ -z "$REPORT" ] || echo "$report" >"$REPORT"
if [ "$crc" != 0 ]; then
	echo "compare: $(cat "$W/compare.json" "$W/compare.err" 2>/dev/null)" | cut -c1-2000 >&2
fi
# Messages of the stages that are not the usual ones of a restart.
grep -h -v -e Killed -e "^ *[0-9][0-9]* " -e "unit-[a-z]*.sh: line" "$W"/*.err 2>/dev/null | sort | uniq -c | sort -rn | head -n 15 >"$W/messages.top"
[ -s "$W/messages.top" ] && { echo "most frequent stage messages:" >&2; sed 's/^/  /' "$W/messages.top" >&2; }
if [ "$dead" != 0 ]; then
	echo "dead letters (the workload holds no bad data):" >&2
	cat "$W"/*.dl 2>/dev/null | cut -c1-300 | head -n 5 >&2
fi
if [ "$crc2" != 0 ]; then
	echo "after the re-delivery: $(cat "$W/compare2.json" "$W/compare2.err" 2>/dev/null)" | cut -c1-2000 >&2
	tail -n 5 "$W/redeliver.err" >&2
fi
[ "$drained" = 1 ] && [ "$crc" = 0 ] && [ "$crc2" = 0 ] && [ "$stopped" = 0 ] && [ "$stage65" = 0 ] && [ "$dead" = 0 ]
