# tests/cases/cases.sh: runs the data-driven case files tests/cases/*.test
# (sourced by tests/cdc-filter-cases.t and tests/cdc-map-cases.t, after
# tests/lib.sh).
#
# A case file holds cases separated by blank lines; lines starting with '#'
# are comments.  A case, in the spirit of jq's tests/*.test:
#
#   cdc-map --doc                  the program and its options (split on
#                                  spaces; $CASES is this directory)
#   .status |= ascii_upcase        the jq program ("-" for none)
#   @6                             one input line: an event, or @N for line
#                                  N of tests/cases/events.ndjson
#   {"op":"c",...}                 the expected output lines, each as text or
#   @7                             @N (none: the event gives no output)
#
# An expected failure starts with a line "%%FAIL", then the command, program
# and input lines, then one line: the exit status and a bash regular
# expression the messages on stderr must match:
#
#   %%FAIL
#   cdc-map
#   .a + 1
#   {"op":"c","a":"x"}
#   65 line 1: jq: string and number cannot be added
#
# Every case is one TAP test.

CASES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EVENTS=$CASES/events.ndjson

# _case_expand LINE: @N -> line N of events.ndjson
_case_expand() {
	case $1 in
	@[0-9]*) sed -n "${1#@}p" "$EVENTS" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# _case_run FILE FIRSTLINE LINES...
_case_run() {
	local file=$1 at=$2
	shift 2
	local lines=("$@") fail=0 cmd prog input out err rc want name
	if [ "${lines[0]}" = "%%FAIL" ]; then
		fail=1
		lines=("${lines[@]:1}")
	fi
	if [ "${#lines[@]}" -lt 3 ] || { [ "$fail" = 1 ] && [ "${#lines[@]}" -ne 4 ]; }; then
		_tap_result 0 "$(basename "$file"):$at: malformed case" || :
		return
	fi
	cmd=${lines[0]//\$CASES/$CASES}
	local words
	read -r -a words <<<"$cmd"
	prog=${lines[1]}
	input=$(_case_expand "${lines[2]}")
	name="$(basename "$file"):$at: $cmd ${prog:0:60}"
	local args=("${words[@]:1}")
	[ "$prog" = - ] || args+=("$prog")
	out=$(printf '%s\n' "$input" | "$CDC_BIN/${words[0]}" "${args[@]}" 2>"$TEST_TMP/case.err")
	rc=$?
	err=$(cat "$TEST_TMP/case.err")
	if [ "$fail" = 1 ]; then
		local wantrc=${lines[3]%% *} re=${lines[3]#* }
		if [ "$rc" = "$wantrc" ] && [[ $err =~ $re ]]; then
			_tap_result 1 "$name"
		else
			_tap_result 0 "$name" || :
			diag "  exit status $rc (want $wantrc); stderr: $err"
			diag "  want stderr to match: $re"
		fi
		return
	fi
	want=""
	local i
	for ((i = 3; i < ${#lines[@]}; i++)); do
		want+=$(_case_expand "${lines[$i]}")$'\n'
	done
	want=${want%$'\n'}
	if [ "$rc" != 0 ]; then
		_tap_result 0 "$name" || :
		diag "  exit status $rc; stderr: $err"
		return
	fi
	is "$out" "$want" "$name" || :
}

# run_case_file FILE: one TAP test per case.
run_case_file() {
	local file=$1 n=0 start=0 line
	local block=()
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		if [ -z "$line" ]; then
			if [ "${#block[@]}" -gt 0 ]; then
				_case_run "$file" "$start" "${block[@]}"
				block=()
			fi
			continue
		fi
		case $line in '#'*) continue ;; esac
		[ "${#block[@]}" -gt 0 ] || start=$n
		block+=("$line")
	done <"$file"
	if [ "${#block[@]}" -gt 0 ]; then
		_case_run "$file" "$start" "${block[@]}"
	fi
}
