# tests/cases/badinput.sh: every kind of bad input line under every policy
# (stop, --skip-bad, --dead-letter), for cdc-filter and cdc-map.  Sourced
# by tests/cdc-filter-badinput.t and tests/cdc-map-badinput.t after
# tests/lib.sh and tests/cases/cases.sh.
#
# bad_input_matrix PROG PROGRAM: for each kind, the input is a good event,
# the bad line, a good event; checks what reaches stdout, the exit status,
# the message naming line 2, the count on exit and the dead-letter record.

GOOD1='{"op":"c","before":null,"after":{"id":1,"s":"x"},"key":{"id":1},"source":{"schema":"public","table":"t","commit_lsn":100,"seq":1,"lsn":90}}'
GOOD2='{"op":"c","before":null,"after":{"id":2,"s":"y"},"key":{"id":2},"source":{"schema":"public","table":"t","commit_lsn":200,"seq":1,"lsn":190}}'

# _bad_line KIND: writes the bad line (without its newline) to stdout
_bad_line() {
	case $1 in
	not-json) printf '{"op":"c",oops}' ;;
	not-object) printf '["op","c"]' ;;
	no-op) printf '{"after":{"id":3}}' ;;
	bad-envelope) printf '{"op":"c","source":{"seq":"one","commit_lsn":1}}' ;;
	bad-utf8) printf '{"op":"c","after":{"s":"\xc3\x28"}}' ;;
	nul) printf '{"op":"c","after":{"s":"a\0b"}}' ;;
	too-long) printf '{"op":"c","after":{"s":"%s"}}' "$(head -c 6000 /dev/zero | tr '\0' x)" ;;
	jq-error) printf '{"op":"c","after":{"id":"three","s":"z"},"source":{"commit_lsn":150,"seq":2}}' ;;
	bigint) printf '{"op":"c","after":{"id":9007199254740993,"s":"z"},"source":{"commit_lsn":150,"seq":2}}' ;;
	esac
}

# _bad_reason KIND: the regex the reason must match
_bad_reason() {
	case $1 in
	not-json) echo 'expected a string key' ;;
	not-object) echo 'not a JSON object' ;;
	no-op) echo 'no "op" field' ;;
	bad-envelope) echo 'source.seq is not an unsigned integer' ;;
	bad-utf8) echo 'invalid UTF-8 at byte 25' ;;
	nul) echo 'NUL byte at byte 26' ;;
	too-long) echo 'line too long \(6027 bytes, --max-line is 4096\)' ;;
	jq-error) echo 'jq: .*cannot be' ;;
	bigint) echo 'number at byte 25 cannot be held exactly' ;;
	esac
}

# _bad_position KIND: the dead-letter record's position
_bad_position() {
	case $1 in
	jq-error | bigint) echo '"0/96:2"' ;;
	*) echo null ;;
	esac
}

# bad_input_matrix PROG PROGRAM KINDS...
bad_input_matrix() {
	local prog=$1 program=$2 kind
	shift 2
	local want_both
	want_both=$(printf '%s\n%s' "$(_bad_out "$prog" "$program" "$GOOD1")" "$(_bad_out "$prog" "$program" "$GOOD2")")
	for kind in "$@"; do
		local in=$TEST_TMP/bad-$kind.ndjson out rc err reason
		{ printf '%s\n' "$GOOD1"; _bad_line "$kind"; printf '\n%s\n' "$GOOD2"; } >"$in"
		reason=$(_bad_reason "$kind")

		# stop: what came before is written, exit 65, the line named
		out=$("$CDC_BIN/$prog" --max-line 4K "$program" <"$in" 2>"$TEST_TMP/err")
		rc=$?
		err=$(cat "$TEST_TMP/err")
		is "$rc" 65 "$prog $kind, stop: exit status 65"
		is "$out" "$(_bad_out "$prog" "$program" "$GOOD1")" "$prog $kind, stop: the line before was written, nothing after"
		like "$err" "^$prog: line 2( \(position [^)]*\))?: $reason" "$prog $kind, stop: the message names line 2 and the reason"

		# --skip-bad: both good lines, the count on exit
		out=$("$CDC_BIN/$prog" --max-line 4K --skip-bad "$program" <"$in" 2>"$TEST_TMP/err")
		rc=$?
		err=$(cat "$TEST_TMP/err")
		is "$rc" 0 "$prog $kind, --skip-bad: exit status 0"
		is "$out" "$want_both" "$prog $kind, --skip-bad: the good lines on either side pass"
		like "$err" "1 bad line skipped" "$prog $kind, --skip-bad: the count on exit"

		# --dead-letter: both good lines, one record
		local dl=$TEST_TMP/dl-$prog-$kind.ndjson rec
		rm -f "$dl"
		out=$("$CDC_BIN/$prog" --max-line 4K --dead-letter "$dl" "$program" <"$in" 2>"$TEST_TMP/err")
		rc=$?
		err=$(cat "$TEST_TMP/err")
		is "$rc" 0 "$prog $kind, --dead-letter: exit status 0"
		is "$out" "$want_both" "$prog $kind, --dead-letter: the good lines on either side pass"
		like "$err" "1 bad line written to $dl" "$prog $kind, --dead-letter: the count on exit"
		is "$(wc -l <"$dl")" 1 "$prog $kind, --dead-letter: one record"
		is "$(stat -c %a "$dl")" 600 "$prog $kind, --dead-letter: file mode 0600"
		rec=$(jq -c --arg p "$prog" '[.program == $p, .line, .position, (.reason | test($ARGS.named.re))]' \
			--arg re "$reason" <"$dl")
		is "$rec" "[true,2,$(_bad_position "$kind"),true]" "$prog $kind, --dead-letter: program, line, position, reason"
		case $kind in
		too-long)
			is "$(jq -r '[.input_bytes, (.input_prefix_base64 | @base64d | length)] | @tsv' <"$dl")" \
				"$(printf '6027\t4096')" "$prog $kind, --dead-letter: input_bytes and a 4096-byte prefix"
			;;
		bad-utf8 | nul)
			is "$(jq -r .input_base64 <"$dl" | base64 -d | od -An -tx1 | tr -d ' \n')" \
				"$(_bad_line "$kind" | od -An -tx1 | tr -d ' \n')" "$prog $kind, --dead-letter: the exact bytes in input_base64"
			;;
		*)
			is "$(jq -r .input <"$dl")" "$(_bad_line "$kind")" "$prog $kind, --dead-letter: the line in input"
			;;
		esac
	done
}

# _bad_out PROG PROGRAM LINE: what PROG makes of a good line
_bad_out() {
	if [ "$1" = cdc-filter ]; then
		printf '%s' "$3"
	else
		printf '%s' "$3" | jq -c "$2"
	fi
}
