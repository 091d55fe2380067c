#!/usr/bin/env bash
# Bad input for cdc-sink-kafka and cdc-source-kafka, on a real broker.
#
# cdc-sink-kafka: every case of tests/corpus/lines under each policy; what
# lands on the topic (kcat reads it back) and the checkpoint must be what
# the good events alone make.  Command-line mistakes and secrets on argv.
# cdc-source-kafka: bad messages on a topic (not JSON, a newline inside, no
# position) stop it with 65 without committing past them, or are skipped or
# dead-lettered with their topic, partition and offset; its command line.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_bin cdc-sink-kafka cdc-source-kafka
need_kafka
command -v kcat >/dev/null 2>&1 || skip_all "kcat is not installed (scripts/deps.sh test)"
. "$TEST_ROOT/tests/corpus/lib.sh"

SK=$CDC_BIN/cdc-sink-kafka
SRC=$CDC_BIN/cdc-source-kafka
B=$CDC_TEST_KAFKA_BROKERS
KP=$(kafka_topic_prefix)
cd "$TEST_TMP" || exit 1

# ---- cdc-sink-kafka against the corpus
BAD_PROG=cdc-sink-kafka
BAD_EMPTY_OUTPUT=1
RUN_N=0
run_prog() {
	RUN_N=$((RUN_N + 1))
	RUN_TOPIC=${KP}r$RUN_N-orders
	RUN_CK=$TEST_TMP/sk.$RUN_N.ckpt
	kafka_new_topic "$RUN_TOPIC" 1 >/dev/null
	$BAD_WRAP "$SK" -b "$B" --topic "${KP}r$RUN_N-{table}" --checkpoint "$RUN_CK" "$@"
}
# What the brokers hold (marks aside: they carry the time) and the checkpoint.
prog_side() {
	kcat -b "$B" -C -t "$RUN_TOPIC" -e -q -f '%k\t%s\n' 2>/dev/null | grep -v '"op":"mark"'
	sed -n 's/^position=/checkpoint /p' "$RUN_CK" 2>/dev/null
}

bad_reference
like "$(cat ref6.out.side)" 'checkpoint 0/16C6140:1' "cdc-sink-kafka: the checkpoint is at the last good event"
is "$(grep -c '^{"id":' ref6.out.side)" 5 "cdc-sink-kafka: the five data events are on the topic, keyed"
bad_stop_each
bad_policies_all
bad_no_final_newline

# ---- its command line
"$SK" --topic x </dev/null >/dev/null 2>err.txt
is $? 2 "no brokers: exit 2"
like "$(cat err.txt)" "no brokers" "... and says so"
"$SK" -b "$B" --topic 'a.{nope}' </dev/null >/dev/null 2>err.txt
is $? 2 "an unknown placeholder in --topic: exit 2"
"$SK" -b "$B" --topic 'a b' </dev/null >/dev/null 2>err.txt
is $? 2 "a character Kafka refuses in --topic: exit 2"
"$SK" -b "$B" -X sasl.password=hunter2 </dev/null >/dev/null 2>err.txt
is $? 2 "-X sasl.password: exit 2"
like "$(cat err.txt)" "secrets never go on the command line" "... secrets belong in a file or the environment"
unlike "$(cat err.txt)" "hunter2" "... and the value is never printed"
"$SK" -b "$B" -X no.such.property=1 </dev/null >/dev/null 2>err.txt
is $? 2 "an unknown librdkafka property: exit 2"
printf 'bootstrap.servers=%s\n# a comment\nsasl.password = from-the-file\n' "$B" >k.conf
chmod 600 k.conf
head -n 1 "$GOOD" | "$SK" --kafka-config k.conf --topic "${KP}conf-{table}" -X message.timeout.ms=10000 >/dev/null 2>err.txt
is $? 0 "--kafka-config gives the brokers (and may hold secrets)"
"$SK" -b "$B" --kafka-config nonexistent.conf </dev/null >/dev/null 2>err.txt
is $? 2 "a missing --kafka-config file: exit 2"

# Brokers that never answer: temporary (75), and nothing checkpointed.
head -n 2 "$GOOD" | timeout 60 "$SK" -b 127.0.0.1:1 --topic "${KP}down-{table}" --checkpoint down.ckpt \
	-X message.timeout.ms=3000 -X socket.connection.setup.timeout.ms=1000 >/dev/null 2>err.txt
is $? 75 "brokers that never answer: exit 75 (restart me)"
ok "$([ ! -e down.ckpt ]; echo $?)" "... and no checkpoint was written"

# A message over the topic's limit is bad data: dead-lettered, not retried for ever.
T=${KP}small
kafka_new_topic "$T" 1
{ head -n 1 "$GOOD"; "$CORPUS/gen-long-line.sh" 2000000; echo; tail -n 1 "$GOOD"; } >big.in
"$SK" -b "$B" --topic "$T" --checkpoint big.ckpt --dead-letter big.dl -X message.max.bytes=1000000 <big.in >/dev/null 2>err.txt
rc=$?
if [ "$rc" = 0 ]; then
	is "$(wc -l <big.dl)" 1 "an event over message.max.bytes goes to the dead-letter file"
	like "$(cut -c1-300 big.dl)" '"reason":"[^"]*(message.max.bytes|too large)' "... with the reason"
else
	is "$rc" 65 "an event over message.max.bytes is bad data"
	diag "$(cut -c1-300 err.txt | head -5)"
fi

# ---- cdc-source-kafka: bad messages on a topic
T=${KP}badsrc
kafka_new_topic "$T" 1
{
	head -n 3 "$GOOD"
	echo 'this is not json'
	printf '%s\n' '{"op":"c","after":{"id":9},"key":{"id":9},"source":{"table":"orders"}}'
	tail -n 3 "$GOOD"
} >bad.in
# kcat splits on newlines; one message with a newline inside is sent apart.
kcat -b "$B" -P -t "$T" <bad.in 2>/dev/null
ok $? "kcat writes 8 messages, two of them bad"
printf '{"op":"c",\n"key":{"id":7}}' | kcat -b "$B" -P -t "$T" -D '\0' 2>/dev/null
"$SRC" -b "$B" -g stop-$TEST_ID -t "$T" -e >out.txt 2>err.txt
is $? 65 "cdc-source-kafka stops at a bad message: exit 65"
is "$(cat out.txt)" "$(head -n 3 "$GOOD")" "... after printing the three good events before it"
like "$(cat err.txt)" "^cdc-source-kafka: $T \\[0\\] at offset 3: " "... naming topic, partition and offset"
"$SRC" -b "$B" -g stop-$TEST_ID -t "$T" -e >out2.txt 2>err2.txt
is $? 65 "run again in the same group: it stops there again (no offset was committed past it)"
is "$(cat out2.txt)" "" "... and prints nothing again (the good ones before it were committed)"
"$SRC" -b "$B" -g skip-$TEST_ID -t "$T" -e --skip-bad >out.txt 2>err.txt
is $? 0 "--skip-bad: exit 0"
is "$(cat out.txt)" "$(head -n 3 "$GOOD"; tail -n 3 "$GOOD")" "... the six good events, in order"
"$SRC" -b "$B" -g dl-$TEST_ID -t "$T" -e --dead-letter dl.ndjson >out.txt 2>err.txt
is $? 0 "--dead-letter: exit 0"
is "$(wc -l <dl.ndjson)" 3 "... three records: not JSON, no position, a newline inside"
like "$(sed -n 2p dl.ndjson)" '"file":"[^"]* at offset 4".*no source.commit_lsn' "... each with its reason, topic, partition and offset"
like "$(sed -n 3p dl.ndjson)" 'a newline inside' "... a newline inside a message is bad"

# ---- its command line
"$SRC" -b "$B" -t x </dev/null >/dev/null 2>err.txt
is $? 2 "no --group: exit 2"
"$SRC" -b "$B" -g g </dev/null >/dev/null 2>err.txt
is $? 2 "no --topic: exit 2"
"$SRC" -b "$B" -g g -t 'a(' </dev/null >/dev/null 2>err.txt
is $? 2 "a --topic that is not a regular expression: exit 2"
"$SRC" -b "$B" -g g -t x extra </dev/null >/dev/null 2>err.txt
is $? 2 "an operand: exit 2"
"$SRC" -b "$B" -g g -t x -X sasl.password=hunter2 >/dev/null 2>err.txt
is $? 2 "-X sasl.password: exit 2"
for v in 5 10000001 x -1; do
	"$SRC" -b "$B" -g g -t x --max-queued "$v" </dev/null >/dev/null 2>err.txt
	is $? 2 "--max-queued $v: exit 2"
done
like "$(cat err.txt)" "bad --max-queued: -1 \\(10 to 10000000\\)" "... saying what is allowed"
printf 'version=1\ncommit_lsn=zz\n' >bad.ckpt
"$SRC" -b "$B" -g g -t x --ack-file bad.ckpt </dev/null >/dev/null 2>err.txt
is $? 1 "a damaged --ack-file: exit 1"
like "$(cat err.txt)" "bad.ckpt" "... naming the file"

done_testing
