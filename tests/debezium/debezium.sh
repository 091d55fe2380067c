# tests/debezium/debezium.sh: the real Debezium embedded engine as a reference
# and a peer, for tests/debezium-parity.t and tests/bench/debezium.sh.
# Source it from bash; it defines
#
#   dbz_fetch            fetch Debezium 3.6.1.Final (embedded engine and
#                        PostgreSQL connector, tests/debezium/pom.xml) from
#                        Maven Central into ${XDG_CACHE_HOME:-~/.cache}/cdc/
#                        debezium-3.6.1.Final/lib once, and compile
#                        DebeziumDump.java into .../classes-HASH (again only
#                        when the source changes); sets DBZ_CP.  Returns 1
#                        with a message when that cannot be done.
#   dbz_java             the java binary (JDK 17, as for OpenSearch)
#   dbz_props FILE NAME SLOT PUB DSN [KEY=VALUE...]
#                        write the engine properties of one engine: the
#                        settings every comparison uses, the connection taken
#                        from a libpq key=value DSN (host, port, user, dbname),
#                        and the extra KEY=VALUE pairs.
#   dbz_cmd              set the array DBZ_CMD to the command that runs
#                        DebeziumDump (append STATUS [--exit-after N]
#                        NAME PROPS OUT..., see its header); JVM flags from
#                        DBZ_JVM_FLAGS (default: quick start-up)
#
# Debezium connects over TCP with the DSN's user and no password (the test
# cluster trusts local connections), so it works when the tests run as root
# and PostgreSQL as the unprivileged test user.

DBZ_VERSION=3.6.1.Final
DBZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DBZ_CACHE=${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/cdc/debezium-$DBZ_VERSION

dbz_java() {
	local j
	if [ -n "${CDC_TEST_JAVA:-}" ]; then
		echo "$CDC_TEST_JAVA"
		return 0
	fi
	for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-21-openjdk-*/bin/java; do
		if [ -x "$j" ]; then echo "$j"; return 0; fi
	done
	command -v java
}

dbz_fetch() {
	local tmp=$DBZ_CACHE/lib.tmp.$$ java javac hash classes
	mkdir -p "$DBZ_CACHE" || return 1
	if [ ! -f "$DBZ_CACHE/lib/.complete" ]; then
		command -v mvn >/dev/null 2>&1 || { echo "mvn not found: run scripts/deps.sh test" >&2; return 1; }
		echo "fetching Debezium $DBZ_VERSION from Maven Central into $DBZ_CACHE (once)" >&2
		rm -rf "$tmp"
		if ! mvn -q -B -Dstyle.color=never -f "$DBZ_DIR/pom.xml" dependency:copy-dependencies \
			-DoutputDirectory="$tmp" </dev/null >"$DBZ_CACHE/mvn.log" 2>&1; then
			tail -n 20 "$DBZ_CACHE/mvn.log" >&2
			rm -rf "$tmp"
			echo "could not fetch Debezium with maven (see $DBZ_CACHE/mvn.log)" >&2
			return 1
		fi
		touch "$tmp/.complete"
		[ -f "$DBZ_CACHE/lib/.complete" ] || rm -rf "${DBZ_CACHE:?}/lib"
		mv -T "$tmp" "$DBZ_CACHE/lib" 2>/dev/null || rm -rf "$tmp"
	fi
	java=$(dbz_java) || { echo "no java: run scripts/deps.sh test" >&2; return 1; }
	javac=$(dirname "$(readlink -f "$java")")/javac
	[ -x "$javac" ] || javac=$(command -v javac) || { echo "no javac: run scripts/deps.sh test" >&2; return 1; }
	hash=$(cat "$DBZ_DIR/DebeziumDump.java" "$DBZ_DIR/pom.xml" | sha256sum | cut -c1-16)
	classes=$DBZ_CACHE/classes-$hash
	if [ ! -f "$classes/.complete" ]; then
		rm -rf "$classes.tmp.$$"
		mkdir -p "$classes.tmp.$$"
		if ! "$javac" -nowarn -d "$classes.tmp.$$" -cp "$DBZ_CACHE/lib/*" "$DBZ_DIR/DebeziumDump.java" >&2; then
			rm -rf "$classes.tmp.$$"
			echo "could not compile tests/debezium/DebeziumDump.java" >&2
			return 1
		fi
		touch "$classes.tmp.$$/.complete"
		mv -T "$classes.tmp.$$" "$classes" 2>/dev/null || rm -rf "$classes.tmp.$$"
	fi
	DBZ_CP="$DBZ_CACHE/lib/*:$classes"
}

# The value of KEY in a libpq key=value string (the last one wins).
_dbz_dsn_get() {
	local key=$1 dsn=$2 v="" w
	for w in $dsn; do
		case $w in "$key="*) v=${w#*=} ;; esac
	done
	echo "$v"
}

dbz_props() {
	local file=$1 name=$2 slot=$3 pub=$4 dsn=$5 host port user db kv
	shift 5
	host=$(_dbz_dsn_get host "$dsn")
	port=$(_dbz_dsn_get port "$dsn")
	user=$(_dbz_dsn_get user "$dsn")
	db=$(_dbz_dsn_get dbname "$dsn")
	{
		echo "# written by tests/debezium/debezium.sh"
		echo "connector.class=io.debezium.connector.postgresql.PostgresConnector"
		echo "offset.storage=org.apache.kafka.connect.storage.MemoryOffsetBackingStore"
		echo "offset.flush.interval.ms=60000"
		echo "database.hostname=${host:-127.0.0.1}"
		echo "database.port=${port:-5432}"
		echo "database.user=${user:-postgres}"
		echo "database.password="
		echo "database.dbname=$db"
		# source.name: the same string as cdc-capture's (its slot name).
		echo "topic.prefix=$name"
		echo "plugin.name=pgoutput"
		echo "slot.name=$slot"
		echo "slot.drop.on.stop=true"
		echo "publication.name=$pub"
		echo "publication.autocreate.mode=disabled"
		echo "snapshot.mode=initial"
		echo "decimal.handling.mode=string"
		echo "binary.handling.mode=base64"
		echo "time.precision.mode=isostring"
		echo "interval.handling.mode=string"
		echo "converter.schemas.enable=false"
		# Truncates are events in cdc-capture; Debezium skips them unless told.
		echo "skipped.operations=none"
		# cdc-capture writes no tombstones: one JSON event per line.
		echo "tombstones.on.delete=false"
		for kv in "$@"; do echo "$kv"; done
	} >"$file"
}

dbz_cmd() {
	local flags=${DBZ_JVM_FLAGS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xms64m -Xmx768m}
	# shellcheck disable=SC2206 # the flags are words
	DBZ_CMD=("$(dbz_java)" $flags -Duser.timezone=UTC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn
		-cp "$DBZ_CP" DebeziumDump)
}
