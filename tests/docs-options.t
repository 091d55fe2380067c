#!/usr/bin/env bash
# Every program's --help, man page and bash, zsh and fish completions name
# the same long options; every program has all four.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

PROGS=$(sed -n 's/^PROGS *= *//p' "$TEST_ROOT/Makefile")
[ -n "$PROGS" ] || bail_out "no PROGS in the Makefile"
need_bin $PROGS
for p in $PROGS; do
	for f in "man/$p.1" "completions/bash/$p" "completions/zsh/_$p" "completions/fish/$p.fish"; do
		ok "$([ -s "$TEST_ROOT/$f" ]; echo $?)" "$p: $f exists"
	done
	missing=""
	help=$("$CDC_BIN/$p" --help)
	for o in $(grep -oE -- '^ +(-[A-Za-z?], )?--[a-z][a-z0-9-]*' <<<"$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
		grep -qwF -- "$o" "$TEST_ROOT/completions/bash/$p" 2>/dev/null || missing+=" bash:$o"
		grep -qwF -- "$o" "$TEST_ROOT/completions/zsh/_$p" 2>/dev/null || missing+=" zsh:$o"
		grep -qwF -- "-l ${o#--}" "$TEST_ROOT/completions/fish/$p.fish" 2>/dev/null || missing+=" fish:$o"
		grep -qwF -- "${o//-/\\-}" "$TEST_ROOT/man/$p.1" 2>/dev/null || missing+=" man:$o"
	done
	is "$missing" "" "$p: every option of --help is in the man page and the completions"
done

done_testing
