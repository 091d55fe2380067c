#!/bin/sh
# gen-long-line.sh BYTES: print one valid change event of exactly BYTES
# bytes, without a newline (its "after" holds a long string).  For
# over-long-line tests: generate at test time, never commit the output.
set -eu
n=${1:?usage: gen-long-line.sh BYTES}
head='{"op":"c","before":null,"after":{"id":99,"blob":"'
tail='"},"key":{"id":99},"source":{"version":"0.1.0","connector":"postgresql","name":"shop","db":"shop","schema":"public","table":"orders","txId":799,"lsn":23880050,"commit_lsn":23880060,"seq":1,"ts_ms":1763700005500,"snapshot":"false"},"ts_ms":1763700005600}'
fill=$((n - ${#head} - ${#tail}))
if [ "$fill" -lt 0 ]; then
	echo "gen-long-line.sh: $n bytes is too short for an event" >&2
	exit 2
fi
printf '%s' "$head"
head -c "$fill" /dev/zero | tr '\0' x
printf '%s' "$tail"
