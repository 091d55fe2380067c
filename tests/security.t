#!/usr/bin/env bash
# Security checks of the guarantees suite: no password or API key on argv;
# credential files with loose permissions refused; TLS verification on by
# default towards Elasticsearch/OpenSearch (a TLS front with a self-signed
# certificate before the real node); libpq's sslmode honoured, and a TCP
# connection to PostgreSQL without a verified certificate warned about;
# checkpoint, dead-letter, state and log files created 0600 (under umask
# 022); no row values or secrets in diagnostics.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_bin cdc-capture cdc-filter cdc-map cdc-sink-es cdc-record cdc-replay
cd "$TEST_TMP" || exit 1
umask 022
B=$CDC_BIN
SECRET=hunter2-Secr3t-pw
VALUE=Row-Value-7c1e9

mode() { stat -c %a "$1" 2>/dev/null; }
ev() {
	printf '{"op":"c","before":null,"after":{"id":%s,"v":"%s","n":%s},"key":{"id":%s},"source":{"name":"sec","db":"d","schema":"public","table":"t","lsn":%s,"commit_lsn":%s,"seq":1,"ts_ms":1700000000000,"snapshot":"false"}}\n' \
		"$1" "$VALUE" "${3:-1}" "$1" "$2" "$2"
}

# ---- no secrets on argv
# (getopt_long takes unambiguous prefixes: --password would be
# --password-file; the secret must then not be echoed as a file name.)
for opt in --password --api-key --es-password --pass; do
	"$B/cdc-sink-es" --url http://127.0.0.1:1 --index x "$opt" "$SECRET" </dev/null >out 2>err
	isnt "$?" 0 "cdc-sink-es $opt VALUE is refused"
	unlike "$(cat err)" "$SECRET" "... without echoing the value"
done
"$B/cdc-sink-es" --url "http://elastic:$SECRET@127.0.0.1:1" --index x </dev/null >out 2>err
is "$?" 2 "cdc-sink-es refuses credentials inside --url"
unlike "$(cat err)" "$SECRET" "... and does not repeat the password"
"$B/cdc-capture" --password "$SECRET" --slot s --publication p </dev/null >out 2>err
is "$?" 2 "cdc-capture has no password option"
"$B/cdc-capture" -d "host=127.0.0.1 port=1 dbname=x password=$SECRET" --slot s --publication p </dev/null >out 2>err
is "$?" 2 "cdc-capture refuses a conninfo on argv that holds a password (use PGPASSWORD/.pgpass)"
unlike "$(cat err)" "$SECRET" "... and does not repeat it"
"$B/cdc-capture" -d "postgresql://u:$SECRET@127.0.0.1:1/x" --slot s --publication p </dev/null >out 2>err
is "$?" 2 "cdc-capture refuses a URI on argv that holds a password"
unlike "$(cat err)" "$SECRET" "... and does not repeat it"

# ---- credential files: loose permissions refused, 0600 accepted
printf '%s\n' "$SECRET" >pw
printf 'machine 127.0.0.1 login u password %s\n' "$SECRET" >netrc
for kind in password-file api-key-file netrc-file; do
	f=pw
	[ "$kind" = netrc-file ] && f=netrc
	extra=()
	[ "$kind" = password-file ] && extra=(--user u)
	for m in 644 640 604; do
		chmod "$m" "$f"
		"$B/cdc-sink-es" -n --url http://127.0.0.1:1 --index x "${extra[@]}" "--$kind" "$f" </dev/null >out 2>err
		rc=$?
		isnt "$rc" 0 "cdc-sink-es --$kind refuses a file of mode $m"
	done
	like "$(cat err)" "mode|permission|other users" "... saying why"
	unlike "$(cat err)" "$SECRET" "... without printing what is in it"
	chmod 600 "$f"
	"$B/cdc-sink-es" -n --url http://127.0.0.1:1 --index x "${extra[@]}" "--$kind" "$f" </dev/null >out 2>err
	is "$?" 0 "cdc-sink-es --$kind accepts a file of mode 600"
done

# ---- TLS towards Elasticsearch/OpenSearch: a TLS front with a self-signed
# certificate, forwarding to the real node.
if [ -n "${CDC_TEST_ES_URL:-}" ] && command -v openssl >/dev/null && command -v python3 >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 2 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
	cat >front.py <<'PY'
import http.client, ssl, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
up = urllib.parse.urlparse(sys.argv[1])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def fwd(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        h = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        c.request(self.command, self.path, body=body, headers=h)
        r = c.getresponse(); data = r.read()
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = fwd
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(sys.argv[4] + ".tmp", "w").write(str(s.server_address[1])); __import__("os").rename(sys.argv[4] + ".tmp", sys.argv[4])
s.serve_forever()
PY
	spawn python3 front.py "$CDC_TEST_ES_URL" tls.crt tls.key port
	if wait_for "test -s port" 10; then
		TLS=https://127.0.0.1:$(cat port)
		P=$(es_new_index_prefix)
		ev 1 100 | timeout 60 "$B/cdc-sink-es" --url "$TLS" --index "${P}tls" --max-retries 1 --backoff 100ms >out 2>err
		rc=$?
		isnt "$rc" 0 "cdc-sink-es refuses a server whose certificate it cannot verify (by default)"
		like "$(cat err)" "[Cc]ertificate|SSL|TLS|verif" "... and says it is the certificate"
		ev 2 200 | timeout 60 "$B/cdc-sink-es" --url "$TLS" --index "${P}tls" --cacert tls.crt >out 2>err
		is "$?" 0 "with --cacert the same server is accepted"
		ev 3 300 | timeout 60 "$B/cdc-sink-es" --url "$TLS" --index "${P}tls" --insecure >out 2>err
		is "$?" 0 "--insecure turns verification off"
		like "$(cat err)" "insecure|not verified" "... with a warning"
		is "$(es_count "${P}tls")" 2 "only the verified and the --insecure writes arrived"
	else
		skip "the TLS front did not start" 6
	fi
else
	skip "no OpenSearch, openssl or python3 for the TLS checks" 6
fi

# ---- PostgreSQL: sslmode honoured; TCP without a verified certificate warned about
if [ -n "${CDC_TEST_PG:-}" ]; then
	pg_new_db sec
	psql_t "CREATE TABLE t (id int PRIMARY KEY, v text, n int); INSERT INTO t VALUES (1, '$VALUE', 1); CREATE PUBLICATION sp FOR TABLE t" >/dev/null
	ssl_on=$(psql_t "SHOW ssl")
	if [ "$ssl_on" = off ]; then
		"$B/cdc-capture" -d "$PGTEST_DSN sslmode=require" --slot "s1_$TEST_ID" --publication sp --snapshot only >out 2>err
		isnt "$?" 0 "sslmode=require is honoured: a server without SSL is refused"
		like "$(cat err)" "SSL" "... with libpq's reason"
	else
		skip "the test server has ssl=on" 2
	fi
	"$B/cdc-capture" -d "$PGTEST_DSN sslmode=verify-full sslrootcert=$TEST_TMP/none.crt" --slot "s2_$TEST_ID" --publication sp --snapshot only >out 2>err
	isnt "$?" 0 "sslmode=verify-full without a usable root certificate is refused"
	# A TCP connection without sslmode verify-ca/verify-full.  Traffic to a
	# loopback name (localhost, 127.0.0.0/8, ::1) never leaves the machine
	# and gets no warning (cdc-capture(1) SECURITY): the warning is tested
	# with another host name, connected through hostaddr to the server.
	case " $PGTEST_DSN " in
	*" host=/"* | *" host=@"*) skip "the test PostgreSQL is reached over a Unix socket" 4 ;;
	*)
		addr=$(psql_t "SELECT coalesce(host(inet_server_addr()), '127.0.0.1')")
		"$B/cdc-capture" -d "$PGTEST_DSN host=db.example.invalid hostaddr=$addr sslmode=prefer" --slot "s3_$TEST_ID" --publication sp --snapshot only >out 2>err
		is "$?" 0 "capture works over TCP without a verified certificate"
		like "$(cat err)" "(certificate|verif|SSL|TLS|sslmode)" "... and warns that the server is not verified"
		"$B/cdc-capture" -d "$PGTEST_DSN host=127.0.0.1 hostaddr=$addr sslmode=prefer" --slot "s5_$TEST_ID" --publication sp --snapshot only >out 2>err
		is "$?" 0 "capture over TCP to a loopback address"
		unlike "$(cat err)" "(certificate|verif|sslmode)" "... gets no TLS warning (traffic stays on the machine)"
		;;
	esac
	if [ -n "${CDC_TEST_PG_SOCKDIR:-}" ] && [ -d "$CDC_TEST_PG_SOCKDIR" ]; then
		"$B/cdc-capture" -d "$PGTEST_DSN host=$CDC_TEST_PG_SOCKDIR" --slot "s4_$TEST_ID" --publication sp --snapshot only >out 2>err
		is "$?" 0 "capture over the Unix socket"
		unlike "$(cat err)" "(certificate|verif|sslmode)" "... gets no TLS warning (a local socket needs none)"
	else
		skip "no Unix socket directory" 2
	fi
	unlike "$(cat err out 2>/dev/null | grep -v '^{')" "$VALUE" "capture's messages hold no row value"
else
	skip "no test PostgreSQL" 10
fi

# ---- files created 0600 (umask 022)
printf 'not json %s\n' "$VALUE" >bad.ndjson
for p in cdc-filter cdc-map; do
	args=(.)
	"$B/$p" --dead-letter "$p.dl" "${args[@]}" <bad.ndjson >out 2>err
	is "$(mode "$p.dl")" 600 "$p --dead-letter file is created 0600"
	unlike "$(cat err)" "$VALUE" "$p's message about the bad line holds no row value"
done
"$B/cdc-replay" --dead-letter replay.dl bad.ndjson >out 2>err
is "$(mode replay.dl)" 600 "cdc-replay --dead-letter file is created 0600"
unlike "$(cat err)" "$VALUE" "cdc-replay's message holds no row value"
"$B/cdc-record" --no-output --dead-letter record.dl --checkpoint record.ckpt log <bad.ndjson >out 2>err
is "$(mode record.dl)" 600 "cdc-record --dead-letter file is created 0600"
{ ev 1 100; ev 2 200; } | "$B/cdc-record" --no-output --checkpoint record.ckpt log >out 2>err
is "$(mode record.ckpt)" 600 "cdc-record --checkpoint file is created 0600"
seg=$(find log -type f | head -n 1)
is "$(mode "$seg")" 600 "cdc-record segment files are created 0600"
if [ -n "${CDC_TEST_ES_URL:-}" ]; then
	P=$(es_new_index_prefix)
	{ ev 1 100; printf 'not json %s\n' "$VALUE"; ev 2 200; } |
		"$B/cdc-sink-es" --url "$CDC_TEST_ES_URL" --index "${P}files" --checkpoint sink.ckpt \
			--dead-letter sink.dl >out 2>err
	is "$(mode sink.ckpt)" 600 "cdc-sink-es --checkpoint file is created 0600"
	is "$(mode sink.dl)" 600 "cdc-sink-es --dead-letter file is created 0600"
	unlike "$(cat err)" "$VALUE" "cdc-sink-es's message about the bad line holds no row value"
	# A document the index refuses (n is a long; this one is text): the
	# server's reason quotes the value, the sink's message must not.
	printf '{"op":"c","before":null,"after":{"id":9,"v":"x","n":"%s"},"key":{"id":9},"source":{"name":"sec","db":"d","schema":"public","table":"t","lsn":900,"commit_lsn":900,"seq":1,"ts_ms":1700000000000,"snapshot":"false"}}\n' "$VALUE" |
		"$B/cdc-sink-es" --url "$CDC_TEST_ES_URL" --index "${P}files" --checkpoint sink.ckpt \
			--dead-letter sink.dl >out 2>err
	grep -q . sink.dl
	ok $? "the refused document went to the dead-letter file"
	unlike "$(cat err)" "$VALUE" "cdc-sink-es's message about a refused document holds no row value"
	# A password from the environment never shows in messages, verbose or not.
	ev 3 300 | CDC_ES_USER=u CDC_ES_PASSWORD=$SECRET "$B/cdc-sink-es" -vv --url http://127.0.0.1:1 \
		--index "${P}files" --max-retries 1 --backoff 100ms >out 2>err
	unlike "$(cat err)" "$SECRET" "cdc-sink-es -vv never prints the password"
	unlike "$(cat err)" "$VALUE" "cdc-sink-es -vv prints no row value"
else
	skip "no OpenSearch" 7
fi
# cdc-map: a jq error on a value must not quote the value.
ev 1 100 | "$B/cdc-map" '.after.v | tonumber' >out 2>err
isnt "$?" 0 "cdc-map stops on a jq error"
unlike "$(cat err)" "$VALUE" "cdc-map's jq error message holds no row value"
ev 1 100 | "$B/cdc-filter" '.after.v | tonumber > 0' >out 2>err
unlike "$(cat err)" "$VALUE" "cdc-filter's jq error message holds no row value"

done_testing
