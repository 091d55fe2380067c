#!/usr/bin/env bash
# The cdc module's converters read back by their real readers (issue 15):
# Flink's canal-json, maxwell-json and debezium-json formats (flink-json
# 1.17.2 from Maven Central, tests/flink/pom.xml) deserialize what
# cdc-map writes, through tests/flink/FlinkRead.java.  No services; needs
# maven and a JDK (scripts/deps.sh test), and fetches the jars once into
# ~/.cache/cdc/flink-1.17.2.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-map

DIR=$(cd "$(dirname "$0")/flink" && pwd)
CACHE=${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/cdc/flink-1.17.2
command -v mvn >/dev/null 2>&1 || skip_all "no mvn (scripts/deps.sh test)"
JAVA=${CDC_TEST_JAVA:-$(command -v java)} || skip_all "no java (scripts/deps.sh test)"
JAVAC=$(dirname "$(readlink -f "$JAVA")")/javac
[ -x "$JAVAC" ] || skip_all "no javac next to $JAVA"

mkdir -p "$CACHE" || bail_out "cannot create $CACHE"
if [ ! -f "$CACHE/lib/.complete" ]; then
	tmp=$CACHE/lib.tmp.$$
	rm -rf "$tmp"
	if ! mvn -q -B -Dstyle.color=never -f "$DIR/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$tmp" </dev/null >"$CACHE/mvn.log" 2>&1; then
		rm -rf "$tmp"
		skip_all "could not fetch flink-json from Maven Central (see $CACHE/mvn.log)"
	fi
	touch "$tmp/.complete"
	mv -T "$tmp" "$CACHE/lib" 2>/dev/null || rm -rf "$tmp"
fi
hash=$(cat "$DIR/FlinkRead.java" "$DIR/pom.xml" | sha256sum | cut -c1-16)
CLASSES=$CACHE/classes-$hash
if [ ! -f "$CLASSES/.complete" ]; then
	mkdir -p "$CLASSES.tmp.$$"
	"$JAVAC" -nowarn -d "$CLASSES.tmp.$$" -cp "$CACHE/lib/*" "$DIR/FlinkRead.java" ||
		bail_out "cannot compile tests/flink/FlinkRead.java"
	touch "$CLASSES.tmp.$$/.complete"
	mv -T "$CLASSES.tmp.$$" "$CLASSES" 2>/dev/null || rm -rf "$CLASSES.tmp.$$"
fi

EVENTS=$(dirname "$0")/cases/events.ndjson
COLS=(id:BIGINT status:STRING amount:STRING email:STRING)
# flink FORMAT: Flink's rows for the lines on stdin ("." ends a line's rows)
flink() { "$JAVA" -cp "$CACHE/lib/*:$CLASSES" FlinkRead "$1" "${COLS[@]}" 2>/dev/null; }
# the orders events: a snapshot row, an insert, an update with and one
# without a before image, a delete, a truncate
orders() { sed -n '2p;6p;7p;8p;9p;14p' "$EVENTS"; }

both_updates=$'-U(1,new,10.50,ann@example.com)\n+U(1,paid,10.50,ann@example.com)\n.'
rows=$'+I(1,new,10.50,ann@example.com)\n.\n+I(2,new,20.00,bob@example.com)\n.\n'"$both_updates"$'\n-U(5,paid,5.00,cy@example.com)\n+U(5,paid,5.00,cy@example.com)\n.\n-D(2,null,null,null)\n.'

got=$(orders | "$CDC_BIN/cdc-map" 'include "cdc"; to_canal' | flink canal)
re=$(printf '%s' "$rows" | sed 's/[][()+.*^$|?{}\\]/\\&/g')
like "$got" "^$re
ERROR: Corrupt Canal JSON message .*\"type\":\"TRUNCATE\".*\$" \
	"canal-json: every row read back (an update without a before image: the new values twice); Flink refuses DDL but CREATE, so the truncate too (documented)"
got=$(orders | "$CDC_BIN/cdc-map" 'include "cdc"; to_maxwell' | flink maxwell)
is "$got" "$rows" "maxwell-json: every row read back (snapshot rows as inserts)"
got=$(orders | "$CDC_BIN/cdc-map" --drop-control 'select(.op | IN("c", "u", "d", "r"))' | flink debezium)
like "$got" "^\\+I\\(1,new,10.50,ann@example.com\\)
\\.
\\+I\\(2,new,20.00,bob@example.com\\)
\\.
-U\\(1,new,10.50,ann@example.com\\)
\\+U\\(1,paid,10.50,ann@example.com\\)
\\.
ERROR: Corrupt Debezium JSON message .*
-D\\(2,null,null,null\\)
\\.$" "debezium-json: the events themselves read back; an update without a before image needs REPLICA IDENTITY FULL (Flink's rule)"

# what the readers rejected before (issue 15): kept as a check on the readers
got=$(printf '%s\n' '{"data":[{"id":"1"}],"old":null,"type":"UPDATE","database":"d","table":"t","es":1,"ts":1,"isDdl":false,"pkNames":["id"],"id":0,"sql":"","sqlType":null,"mysqlType":null}' | flink canal)
like "$got" "^ERROR: Corrupt Canal JSON" "canal-json rejects an update with \"old\": null (why to_canal writes [{}])"
got=$(printf '%s\n' '{"database":"d","table":"t","type":"update","ts":1,"data":{"id":1}}' | flink maxwell)
like "$got" "^ERROR: Corrupt Maxwell JSON" "maxwell-json rejects an update without \"old\" (why to_maxwell writes {})"

# a row of every JSON kind, through canal-json's strings
ev='{"op":"c","before":null,"after":{"id":3,"status":"é\"\\n😀","amount":null,"email":""},"key":{"id":3},"source":{"name":"s","db":"s","schema":"public","table":"orders","lsn":1,"commit_lsn":1,"seq":1,"ts_ms":1},"ts_ms":2}'
got=$(printf '%s\n' "$ev" | "$CDC_BIN/cdc-map" 'include "cdc"; to_canal' | flink canal)
is "$got" '+I(3,é"\n😀,null,)'$'\n.' "canal-json: escapes, non-ASCII, null and empty values"

done_testing
