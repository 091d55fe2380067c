#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET...: run libFuzzer harnesses built by
# tests/fuzz/fuzz.mk, each for SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus/TARGET/), and print one line per target:
#
#   fuzz json: 1234567 executions in 61 s, corpus 678 inputs, 0 crashes
#
# New inputs go to the scratch directory only; nothing is written into the
# tree.  A crash, leak or timeout leaves its reproducer in
# $FUZZ_BUILD/artifacts/TARGET/ and makes the script exit 1 (after running
# the other targets).  One target at a time, one process each.
set -u

secs=${1:?usage: run.sh SECONDS TARGET...}
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FUZZ_BUILD:-build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cdc-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=0
total_execs=0
for t in "$@"; do
	bin=$build/fuzz_$t
	if [ ! -x "$bin" ]; then
		echo "fuzz $t: not built ($bin missing)"
		failed=1
		continue
	fi
	corpus=$scratch/$t/corpus
	art=$build/artifacts/$t
	mkdir -p "$corpus" "$art"
	if [ -d "$root/tests/fuzz/corpus/$t" ]; then
		cp -R "$root/tests/fuzz/corpus/$t/." "$corpus/"
	fi
	before=$(ls "$art" | wc -l)
	opts=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
	      -artifact_prefix="$art/")
	if [ -f "$root/tests/fuzz/$t.dict" ]; then
		opts+=(-dict="$root/tests/fuzz/$t.dict")
	fi
	if [ -f "$root/tests/fuzz/$t.options" ]; then
		# One libFuzzer flag per line (e.g. -max_len=65536).
		while read -r o; do
			case $o in ''|'#'*) ;; *) opts+=("$o") ;; esac
		done <"$root/tests/fuzz/$t.options"
	fi
	log=$scratch/$t.log
	start=$(date +%s)
	"$bin" "${opts[@]}" "$corpus" >"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	execs=${execs:-0}
	total_execs=$((total_execs + execs))
	after=$(ls "$art" | wc -l)
	crashes=$((after - before))
	if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
		crashes=1	# died without an artifact (e.g. out of memory in the harness)
	fi
	units=$(ls "$corpus" | wc -l)
	echo "fuzz $t: $execs executions in $took s, corpus $units inputs, $crashes crashes"
	if [ "$crashes" -ne 0 ]; then
		failed=1
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 | sed 's/^/    /'
		ls -t "$art" | head -n "$crashes" | sed "s|^|    reproducer: $art/|"
		cp "$log" "$art/last-run.log"
		echo "    log: $art/last-run.log"
	fi
done
echo "fuzz: $# targets, $total_execs executions in all"
exit "$failed"
