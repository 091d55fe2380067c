#!/usr/bin/env bash
# alone: it kills and restarts the test Kafka broker (tests/run.sh runs no other test file beside it)
# The Kafka broker of tests/services.sh, through kcat (Debian's, on
# librdkafka like our programs): topics made with kafka_new_topic have
# their partitions, keyed messages come back per key in order, and after a
# kill -9 and a restart every acknowledged message is still there and the
# broker takes new ones.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

need_kafka
# Nothing of ours runs here: a sanitizer build has nothing to add.
[ "${CDC_TEST_SANITIZED:-0}" = 1 ] && skip_all "tests the servers only (ran in the plain build)"
command -v kcat >/dev/null 2>&1 || skip_all "kcat is not installed (scripts/deps.sh test)"
B=$CDC_TEST_KAFKA_BROKERS
P=$(kafka_topic_prefix)
T=${P}orders
cd "$TEST_TMP" || exit 1

# ---- topics
kafka_new_topic "$T" 3
kcat -b "$B" -L -t "$T" -m 10 >meta.txt 2>&1
ok $? "kcat reads the broker's metadata"
is "$(grep -c 'partition [0-9]*, leader 1' meta.txt)" 3 "kafka_new_topic made 3 partitions, each with a leader"
kafka_new_topic "$T" 3
ok $? "creating it again with the same partitions is fine"

# ---- produce and consume
# 300 messages over 30 keys, acks from all in-sync replicas, idempotent.
for ((i = 1; i <= 300; i++)); do
	printf 'k%d\t{"n":%d}\n' $((i % 30)) "$i"
done >sent.txt
kcat -b "$B" -P -t "$T" -K $'\t' -X acks=all -X enable.idempotence=true <sent.txt 2>produce.err
ok $? "kcat -P: 300 keyed messages, acks=all, idempotent" || diag "$(cat produce.err)"

consume() {
	kcat -b "$B" -C -t "$T" -e -q -f '%p\t%o\t%k\t%s\n' 2>consume.err | sort -t $'\t' -k1,1n -k2,2n
}
consume >got.txt
is "$(wc -l <got.txt)" 300 "kcat -C gives all 300 back"
# Every key on one partition, and its messages in the order sent.
is "$(awk -F'\t' '{print $3, $1}' got.txt | sort -u | awk '{print $1}' | uniq -d | wc -l)" 0 \
	"each key lives on one partition"
order_ok() {
	awk -F'\t' '{ n = $4; sub(/.*"n":/, "", n); sub(/}.*/, "", n);
		if (($3 in last) && last[$3] >= n + 0) bad++; last[$3] = n + 0 }
		END { exit bad > 0 }' "$1"
}
order_ok got.txt
ok $? "per key, offsets follow the order sent"
is "$(cut -f3,4 got.txt | sort)" "$(tr -d '\r' <sent.txt | sort)" "keys and values arrive unchanged"

# ---- kill -9 and restart
if [ "${CDC_TEST_KAFKA_MANAGED:-0}" = 1 ]; then
	services kafka-restart kill
	ok $? "services.sh kafka-restart kill: the broker is back"
	consume >after.txt
	is "$(wc -l <after.txt)" 300 "all 300 acknowledged messages survived the kill -9"
	cmp -s got.txt after.txt
	ok $? "at the same partitions and offsets"
	printf 'k1\t{"n":301}\n' | kcat -b "$B" -P -t "$T" -K $'\t' -X acks=all 2>produce.err
	ok $? "the restarted broker takes new messages" || diag "$(cat produce.err)"
	is "$(consume | wc -l)" 301 "and serves them"
else
	skip "Kafka comes from CDC_TEST_KAFKA_BROKERS" 5
fi

done_testing
