# tests/corpus/lib.sh: the bad-input checks every program shares, for
# tests/badinput-*.t.  Source it after tests/lib.sh.
#
# The corpus (this directory):
#   good.ndjson        six good events (c, u, heartbeat, c, d, c)
#   lines/NAME.line    one bad line each, without its newline (written by
#                      gen-lines.py, which holds the cases)
#   lines/MANIFEST     NAME<TAB>REASON-REGEX<TAB>what it is
#   checkpoints/*      checkpoint files a reader must refuse, one it must
#                      take, one of another source; see checkpoints/MANIFEST
#   gen-long-line.sh N prints one valid event line of N bytes (100 MB lines
#                      are made at test time, never committed)
#   make-lz4.sh DIR    writes good, truncated and corrupt lz4 files
#
# A test file sets
#   BAD_PROG           the program's name, as it prefixes its messages
#   run_prog ARGS...   a function: run the program as $BAD_WRAP PROGRAM
#                      ... ARGS (ARGS: a policy such as --skip-bad or
#                      --dead-letter FILE), input on stdin, events on
#                      stdout; it returns the program's exit status
# and calls the bad_* functions below; each reports TAP results.
# BAD_WRAP puts a time limit on every run: a hang fails as exit 124.
# BAD_ACCEPTS=(NAME...) lists cases the program deliberately takes as
# good lines (e.g. an object without "op" for cdc-record): those are then
# checked to come out like good events instead.
# A program whose work lands elsewhere too (a log, an index) also defines
#   prog_side          print what the last run_prog made durable (e.g. the
#                      log replayed, the index's documents), compared with
#                      the reference like stdout.

CORPUS=$TEST_ROOT/tests/corpus
GOOD=$CORPUS/good.ndjson

# Cases from the manifest: CASE_NAME[i], CASE_RE[i], CASE_WHAT[i].
BAD_ACCEPTS=()
CASE_NAME=()
CASE_RE=()
CASE_WHAT=()
while IFS=$'\t' read -r _n _re _what; do
	case $_n in '' | '#'*) continue ;; esac
	CASE_NAME+=("$_n")
	CASE_RE+=("$_re")
	CASE_WHAT+=("$_what")
done <"$CORPUS/lines/MANIFEST"
unset _n _re _what

BAD_WRAP="timeout 60"

# bad_run IN OUT ERR ARGS...: run_prog ARGS with stdin, stdout and stderr
# in files; the exit status in RC.
bad_run() {
	local in=$1 out=$2 err=$3
	shift 3
	run_prog "$@" <"$in" >"$out" 2>"$err"
	RC=$?
	if declare -F prog_side >/dev/null; then
		prog_side >"$out.side" 2>"$err.side"
	fi
}

# bad_same OUT REF: the same stdout (and side output) as the reference.
bad_same() {
	cmp -s "$1" "$2" || return 1
	if declare -F prog_side >/dev/null; then
		cmp -s "$1.side" "$2.side" || return 1
	fi
	return 0
}

# mk_input CASE FILE: three good events, the bad line (line 4), three good events.
bad_mk_input() {
	{
		head -n 3 "$GOOD"
		cat "$CORPUS/lines/$1.line"
		printf '\n'
		tail -n 3 "$GOOD"
	} >"$2"
}

# What the program writes for the first three good events and for all six:
# the reference every policy is compared with.
bad_reference() {
	head -n 3 "$GOOD" >"$TEST_TMP/good3.in"
	bad_run "$TEST_TMP/good3.in" "$TEST_TMP/ref3.out" "$TEST_TMP/ref3.err"
	ok "$RC" "$BAD_PROG: good events alone (3): exit 0"
	bad_run "$GOOD" "$TEST_TMP/ref6.out" "$TEST_TMP/ref6.err"
	ok "$RC" "$BAD_PROG: good events alone (6): exit 0"
	[ -s "$TEST_TMP/ref3.out" ] || [ "${BAD_EMPTY_OUTPUT:-0}" = 1 ]
	ok $? "$BAD_PROG: good events give output"
	if declare -F prog_side >/dev/null; then
		[ -s "$TEST_TMP/ref3.out.side" ] && [ -s "$TEST_TMP/ref6.out.side" ] &&
			! cmp -s "$TEST_TMP/ref3.out.side" "$TEST_TMP/ref6.out.side"
		ok $? "$BAD_PROG: good events leave their durable trace (prog_side)" ||
			diag "$(head -c 300 "$TEST_TMP/ref3.err.side" "$TEST_TMP/ref6.err.side")"
	fi
}

# Check one dead-letter record (JSON text in $1) against the original line
# file $2, line number $3, reason regex $4.  Prints what is wrong; returns 1 then.
bad_check_record() {
	local rec=$1 orig=$2 lineno=$3 re=$4 got
	if ! got=$(printf '%s' "$rec" | jq -r '[.program, .line, .reason, (.time|type),
			(if has("input") then "input" elif has("input_base64") then "input_base64"
			 else "none" end)] | @tsv' 2>&1); then
		echo "record is not JSON: $rec"
		return 1
	fi
	local prog line reason ttype kind
	IFS=$'\t' read -r prog line reason ttype kind <<<"$got"
	[ "$prog" = "$BAD_PROG" ] || { echo "program \"$prog\", expected $BAD_PROG"; return 1; }
	[ "$line" = "$lineno" ] || { echo "line $line, expected $lineno"; return 1; }
	[ "$ttype" = string ] || { echo "no time"; return 1; }
	shopt -s nocasematch
	if ! [[ $reason =~ $re ]]; then
		shopt -u nocasematch
		echo "reason \"$reason\" does not match /$re/"
		return 1
	fi
	shopt -u nocasematch
	case $kind in
	input) printf '%s' "$rec" | jq -j .input >"$TEST_TMP/rec.bytes" ;;
	input_base64) printf '%s' "$rec" | jq -j .input_base64 | base64 -d >"$TEST_TMP/rec.bytes" ;;
	*) echo "record has neither input nor input_base64"; return 1 ;;
	esac
	cmp -s "$TEST_TMP/rec.bytes" "$orig" || { echo "record input differs from the line"; return 1; }
	# "input" only for valid UTF-8 without NUL; otherwise base64.
	if [ "$kind" = input ] && ! iconv -f UTF-8 -t UTF-8 "$orig" >/dev/null 2>&1; then
		echo "invalid UTF-8 given as \"input\""
		return 1
	fi
	return 0
}

bad_accepted() {
	local a
	for a in "${BAD_ACCEPTS[@]}"; do
		[ "$a" = "$1" ] && return 0
	done
	return 1
}

# Every case under the default policy: exit 65, a message naming line 4
# and the reason, and the three good events before it written.
bad_stop_each() {
	local i n why
	for i in "${!CASE_NAME[@]}"; do
		n=${CASE_NAME[$i]}
		bad_mk_input "$n" "$TEST_TMP/in"
		bad_run "$TEST_TMP/in" "$TEST_TMP/out" "$TEST_TMP/err"
		why=""
		if bad_accepted "$n"; then
			[ "$RC" = 0 ] || why+="exit $RC, expected 0; "
			[ "$(wc -l <"$TEST_TMP/out")" = "$(($(wc -l <"$TEST_TMP/ref6.out") + 1))" ] ||
				why+="not every line written; "
			[ -z "$why" ]
			ok $? "$BAD_PROG takes as good: $n (${CASE_WHAT[$i]})" || diag "$why" "stderr: $(head -c 400 "$TEST_TMP/err")"
			continue
		fi
		[ "$RC" = 65 ] || why+="exit $RC, expected 65; "
		bad_same "$TEST_TMP/out" "$TEST_TMP/ref3.out" || why+="output is not the three good events before it; "
		grep -Eq "^$BAD_PROG: .*line 4\b" "$TEST_TMP/err" || why+="no '$BAD_PROG: ... line 4' message; "
		grep -Eiq -- "${CASE_RE[$i]}" "$TEST_TMP/err" || why+="message does not match /${CASE_RE[$i]}/; "
		[ -z "$why" ]
		ok $? "$BAD_PROG stop: $n (${CASE_WHAT[$i]})" || diag "$why" "stderr: $(head -c 400 "$TEST_TMP/err")"
	done
}

# Every case once in one input, each followed by a good event (cycling
# through good.ndjson); BAD_ALL_IN gets the input, BAD_ALL_GOOD the good
# events alone, BAD_ALL_LINES the line numbers of the bad ones.
bad_mk_all() {
	local i g=0 lineno=0
	local -a goods
	mapfile -t goods <"$GOOD"
	BAD_ALL_IN=$TEST_TMP/all.in
	BAD_ALL_GOOD=$TEST_TMP/allgood.in
	BAD_ALL_LINES=()
	: >"$BAD_ALL_IN"
	: >"$BAD_ALL_GOOD"
	BAD_ALL_N=0
	for i in "${!CASE_NAME[@]}"; do
		cat "$CORPUS/lines/${CASE_NAME[$i]}.line" >>"$BAD_ALL_IN"
		printf '\n' >>"$BAD_ALL_IN"
		lineno=$((lineno + 1))
		BAD_ALL_LINES+=("$lineno")
		if bad_accepted "${CASE_NAME[$i]}"; then
			cat "$CORPUS/lines/${CASE_NAME[$i]}.line" >>"$BAD_ALL_GOOD"
			printf '\n' >>"$BAD_ALL_GOOD"
		else
			BAD_ALL_N=$((BAD_ALL_N + 1))
		fi
		printf '%s\n' "${goods[$g]}" >>"$BAD_ALL_IN"
		printf '%s\n' "${goods[$g]}" >>"$BAD_ALL_GOOD"
		lineno=$((lineno + 1))
		g=$(((g + 1) % ${#goods[@]}))
	done
}

# --skip-bad and --dead-letter on every case at once.
bad_policies_all() {
	local n i why rec dl=$TEST_TMP/dead.ndjson
	bad_mk_all
	n=$BAD_ALL_N
	bad_run "$BAD_ALL_GOOD" "$TEST_TMP/allref.out" "$TEST_TMP/allref.err"
	ok "$RC" "$BAD_PROG: the good events of the mixed input alone: exit 0"

	bad_run "$BAD_ALL_IN" "$TEST_TMP/out" "$TEST_TMP/err" --skip-bad
	is "$RC" 0 "$BAD_PROG --skip-bad: $n bad lines among good ones: exit 0"
	bad_same "$TEST_TMP/out" "$TEST_TMP/allref.out"
	ok $? "$BAD_PROG --skip-bad: every good event written, in order" ||
		diag "$(diff <(cut -c1-100 "$TEST_TMP/allref.out") <(cut -c1-100 "$TEST_TMP/out") | head -n 10)"
	like "$(cat "$TEST_TMP/err")" "(^|[^0-9])$n bad lines? skipped" "$BAD_PROG --skip-bad: the count ($n) is reported"

	rm -f "$dl"
	bad_run "$BAD_ALL_IN" "$TEST_TMP/out" "$TEST_TMP/err" --dead-letter "$dl"
	is "$RC" 0 "$BAD_PROG --dead-letter: exit 0"
	bad_same "$TEST_TMP/out" "$TEST_TMP/allref.out"
	ok $? "$BAD_PROG --dead-letter: every good event written, in order"
	like "$(cat "$TEST_TMP/err")" "(^|[^0-9])$n bad lines? written to" "$BAD_PROG --dead-letter: the count ($n) is reported"
	is "$(stat -c %a "$dl" 2>&1)" 600 "$BAD_PROG --dead-letter: file mode 0600"
	is "$(wc -l <"$dl" 2>&1)" "$n" "$BAD_PROG --dead-letter: one record per bad line"
	for i in "${!CASE_NAME[@]}"; do
		bad_accepted "${CASE_NAME[$i]}" && continue
		rec=$(jq -c --argjson n "${BAD_ALL_LINES[$i]}" 'select(.line == $n)' "$dl" 2>/dev/null)
		if [ -z "$rec" ]; then
			why="no record with \"line\":${BAD_ALL_LINES[$i]}"
			false
		else
			why=$(bad_check_record "$rec" "$CORPUS/lines/${CASE_NAME[$i]}.line" "${BAD_ALL_LINES[$i]}" "${CASE_RE[$i]}")
		fi
		ok $? "$BAD_PROG --dead-letter record: ${CASE_NAME[$i]}" || diag "$why" "record: ${rec:0:400}"
	done

	# The file is appended to, never truncated; its mode stays 0600 under umask 0.
	bad_run "$BAD_ALL_IN" "$TEST_TMP/out" "$TEST_TMP/err" --dead-letter "$dl"
	is "$(wc -l <"$dl" 2>&1)" "$((2 * n))" "$BAD_PROG --dead-letter: a second run appends"
	rm -f "$dl"
	(umask 0 && bad_run "$BAD_ALL_IN" "$TEST_TMP/out" "$TEST_TMP/err" --dead-letter "$dl")
	is "$(stat -c %a "$dl" 2>&1)" 600 "$BAD_PROG --dead-letter: mode 0600 under umask 0"

	# A dead-letter file that cannot be opened is a failure, not a silent loss.
	bad_run "$BAD_ALL_IN" "$TEST_TMP/out" "$TEST_TMP/err" --dead-letter "$TEST_TMP/no/such/dir/dl"
	ok $((RC == 0 || RC >= 128)) "$BAD_PROG --dead-letter in a missing directory: fails, no crash (exit $RC)"
	like "$(cat "$TEST_TMP/err")" "no/such/dir/dl" "$BAD_PROG --dead-letter in a missing directory: the message names the file"
}

# The last good line without its newline is still an event, not lost
# (a program passing bytes through may leave the newline out as well).
bad_no_final_newline() {
	head -c -1 "$GOOD" >"$TEST_TMP/nonl.in"
	bad_run "$TEST_TMP/nonl.in" "$TEST_TMP/out" "$TEST_TMP/err"
	is "$RC" 0 "$BAD_PROG: input without a final newline: exit 0"
	if [ -s "$TEST_TMP/out" ] && [ "$(tail -c 1 "$TEST_TMP/out" | od -An -c | tr -d ' ')" != '\n' ]; then
		printf '\n' >>"$TEST_TMP/out"
	fi
	bad_same "$TEST_TMP/out" "$TEST_TMP/ref6.out"
	ok $? "$BAD_PROG: input without a final newline: the last event is written"
}

# A CR before the newline (a file from Windows) is JSON white space: the
# event is good.  Programs that pass bytes through keep the CR.
bad_crlf() {
	sed 's/$/\r/' "$GOOD" >"$TEST_TMP/crlf.in"
	bad_run "$TEST_TMP/crlf.in" "$TEST_TMP/out" "$TEST_TMP/err"
	is "$RC" 0 "$BAD_PROG: CRLF line ends: exit 0 (white space)"
	is "$(wc -l <"$TEST_TMP/out")" "$(wc -l <"$TEST_TMP/ref6.out")" "$BAD_PROG: CRLF line ends: every event written"
}

# Over-long lines: a valid event of BYTES bytes with --max-line MAX (or the
# default cap when MAX is empty) between good events.  Stop: exit 65 with
# the good events before it; dead letter: input_bytes and a 4096-byte
# prefix; memory stays bounded (max RSS below LIMIT_MB when given).
bad_long_line() {
	local bytes=$1 max=$2 limit_mb=${3:-} args=() rss dl=$TEST_TMP/long.dl
	[ -n "$max" ] && args=(--max-line "$max")
	{
		head -n 3 "$GOOD"
		"$CORPUS/gen-long-line.sh" "$bytes"
		printf '\n'
		tail -n 3 "$GOOD"
	} >"$TEST_TMP/long.in"
	head -c "$bytes" <(tail -n +4 "$TEST_TMP/long.in") >"$TEST_TMP/long.line"
	bad_run "$TEST_TMP/long.in" "$TEST_TMP/out" "$TEST_TMP/err" "${args[@]}"
	is "$RC" 65 "$BAD_PROG: a $bytes-byte line over the cap${max:+ ($max)}: exit 65"
	bad_same "$TEST_TMP/out" "$TEST_TMP/ref3.out"
	ok $? "$BAD_PROG: over-long line: the good events before it written"
	like "$(cat "$TEST_TMP/err")" "line 4.*(long|max)" "$BAD_PROG: over-long line: message names line 4"

	rm -f "$dl"
	if [ -n "$limit_mb" ] && [ -x /usr/bin/time ]; then
		BAD_WRAP="timeout 120 /usr/bin/time -f maxrss=%M -o $TEST_TMP/rss"
		bad_run "$TEST_TMP/long.in" "$TEST_TMP/out" "$TEST_TMP/err" "${args[@]}" --dead-letter "$dl"
		BAD_WRAP="timeout 60"
		rss=$(sed -n 's/^maxrss=//p' "$TEST_TMP/rss")
	else
		bad_run "$TEST_TMP/long.in" "$TEST_TMP/out" "$TEST_TMP/err" "${args[@]}" --dead-letter "$dl"
	fi
	is "$RC" 0 "$BAD_PROG --dead-letter: over-long line: exit 0"
	bad_same "$TEST_TMP/out" "$TEST_TMP/ref6.out"
	ok $? "$BAD_PROG --dead-letter: over-long line: every good event written"
	is "$(jq -r '[.line, .input_bytes, (.input_prefix_base64 | @base64d | length)] | @tsv' "$dl" 2>&1)" \
		"4	$bytes	4096" "$BAD_PROG --dead-letter: over-long line: line, input_bytes, 4096-byte prefix"
	jq -j .input_prefix_base64 "$dl" | base64 -d >"$TEST_TMP/prefix" 2>/dev/null
	cmp -s "$TEST_TMP/prefix" <(head -c 4096 "$TEST_TMP/long.line")
	ok $? "$BAD_PROG --dead-letter: over-long line: the prefix is the line's first 4096 bytes"
	if [ -n "$limit_mb" ] && [ -n "${rss:-}" ]; then
		# AddressSanitizer keeps freed blocks in quarantine: RSS says nothing then.
		# (grep without -q: with pipefail, an early exit would fail ldd on SIGPIPE.)
		if [ "${CDC_TEST_SANITIZED:-0}" = 1 ] ||
		   ldd "$CDC_BIN/$BAD_PROG" 2>/dev/null | grep libasan >/dev/null; then
			skip "max RSS under AddressSanitizer ($((rss / 1024)) MB)"
		else
			ok $((rss / 1024 >= limit_mb)) "$BAD_PROG: over-long line: max RSS $((rss / 1024)) MB < $limit_mb MB"
		fi
	fi
}

# Checkpoint files (checkpoints/MANIFEST) for a program that reads one.
# The test defines
#   ckpt_run FILE      run the program with checkpoint FILE on good.ndjson
#                      (stdout, stderr into $TEST_TMP/ck.out, ck.err; RC)
#   ckpt_accepted NAME check the run of an "accept" or "slot" checkpoint
#                      (all hold position 0/16C5EE8:0, line 3 of
#                      good.ndjson); print what is wrong, return 1 then
# A refused checkpoint: failure exit (not 0, below 128), a message naming
# the file, nothing on stdout, and the file left exactly as it was.
# CKPT_SLOT=refuse|accept: what the program does with a checkpoint of
# another source (name=other; default accept).
bad_checkpoints() {
	local n kind what f why
	mkdir -p "$TEST_TMP/ck"
	# One larger than the 64 KiB readers accept: comments, then good lines.
	{
		for ((n = 0; n < 1200; n++)); do
			printf '# %s\n' "padding padding padding padding padding padding padding"
		done
		cat "$CORPUS/checkpoints/good-crlf-unknown-key"
	} >"$TEST_TMP/ck/huge.src"
	while IFS=$'\t' read -r n kind what; do
		case $n in '' | '#'*) continue ;; esac
		f=$TEST_TMP/ck/$n
		if [ "$n" = huge ]; then
			cp "$TEST_TMP/ck/huge.src" "$f"
		else
			cp "$CORPUS/checkpoints/$n" "$f"
		fi
		chmod 600 "$f"
		cp "$f" "$f.orig"
		ckpt_run "$f"
		why=""
		[ "$kind" = slot ] && kind=${CKPT_SLOT:-accept}
		if [ "$kind" = refuse ]; then
			[ "$RC" != 0 ] && [ "$RC" -lt 128 ] || why+="exit $RC; "
			grep -q "$f" "$TEST_TMP/ck.err" || why+="message does not name the file; "
			[ ! -s "$TEST_TMP/ck.out" ] || why+="wrote events; "
			cmp -s "$f" "$f.orig" || why+="the checkpoint file was changed; "
		else
			[ "$RC" = 0 ] || why+="exit $RC; "
			why+=$(ckpt_accepted "$n")
		fi
		[ -z "$why" ]
		ok $? "$BAD_PROG checkpoint $n: $kind ($what)" || diag "$why" "stderr: $(head -c 300 "$TEST_TMP/ck.err")"
	done < <(cat "$CORPUS/checkpoints/MANIFEST"; printf 'huge\trefuse\tlarger than 64 KiB\n')
}

# Odd but good events (tricky/MANIFEST, and a 300 kB line made here, more
# than the line reader's first buffer): each alone, then all together
# between good events.  The program must take them: exit 0 and one output
# line per event.  BAD_TRICKY_EXACT=1: the output is the input byte for
# byte (programs that pass lines through).  BAD_TRICKY_SKIP=(NAME...):
# cases the program refuses by design (say why in the test).
BAD_TRICKY_EXACT=0
BAD_TRICKY_SKIP=()
bad_tricky() {
	local n what why names=()
	mkdir -p "$TEST_TMP/tricky"
	while IFS=$'\t' read -r n what; do
		case $n in '' | '#'*) continue ;; esac
		cp "$CORPUS/tricky/$n.line" "$TEST_TMP/tricky/$n.line"
		names+=("$n")
	done <"$CORPUS/tricky/MANIFEST"
	"$CORPUS/gen-long-line.sh" 300000 >"$TEST_TMP/tricky/long-300k.line"
	names+=(long-300k)
	: >"$TEST_TMP/tricky-all.in"
	for n in "${names[@]}"; do
		case " ${BAD_TRICKY_SKIP[*]} " in *" $n "*) continue ;; esac
		{ cat "$TEST_TMP/tricky/$n.line"; printf '\n'; } >"$TEST_TMP/tricky.in"
		head -n 1 "$GOOD" >>"$TEST_TMP/tricky-all.in"
		cat "$TEST_TMP/tricky.in" >>"$TEST_TMP/tricky-all.in"
		bad_run "$TEST_TMP/tricky.in" "$TEST_TMP/out" "$TEST_TMP/err"
		why=""
		[ "$RC" = 0 ] || why+="exit $RC; "
		if [ "$BAD_TRICKY_EXACT" = 1 ]; then
			cmp -s "$TEST_TMP/out" "$TEST_TMP/tricky.in" || why+="output differs from the input; "
		elif [ "${BAD_EMPTY_OUTPUT:-0}" != 1 ]; then
			[ "$(wc -l <"$TEST_TMP/out")" = 1 ] || why+="not one output line; "
			# Our own reader must take what the program wrote.
			"$CDC_BIN/cdc-filter" <"$TEST_TMP/out" >/dev/null 2>"$TEST_TMP/err2" ||
				why+="output refused by cdc-filter: $(head -c 200 "$TEST_TMP/err2"); "
		fi
		[ -z "$why" ]
		ok $? "$BAD_PROG takes an odd but good event: $n" || diag "$why" "stderr: $(head -c 300 "$TEST_TMP/err")"
	done
	tail -n 1 "$GOOD" >>"$TEST_TMP/tricky-all.in"
	bad_run "$TEST_TMP/tricky-all.in" "$TEST_TMP/out" "$TEST_TMP/err"
	is "$RC" 0 "$BAD_PROG: all odd but good events among good ones: exit 0"
	if [ "$BAD_TRICKY_EXACT" = 1 ]; then
		cmp -s "$TEST_TMP/out" "$TEST_TMP/tricky-all.in"
		ok $? "$BAD_PROG: all odd but good events among good ones: output is the input"
	fi
}
