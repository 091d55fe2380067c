/*
 * Unit tests for common/kafka.c's topic names and for the epoch of
 * common/checkpoint.c: templates expanded and sanitised as Debezium does,
 * the expression that finds one source's topics (and no other source's),
 * template checks; epoch= written only when set, and read back.
 */
#include "buf.h"
#include "checkpoint.h"
#include "event.h"
#include "kafka.h"
#include "tap.h"

#include <regex.h>
#include <string.h>

static const char ev_line[] =
	"{\"op\":\"c\",\"key\":{\"id\":1},\"source\":{\"name\":\"shop\",\"db\":\"my db\","
	"\"schema\":\"public\",\"table\":\"order$s\",\"commit_lsn\":5,\"seq\":1}}";

static bool
matches(const char *re, const char *topic)
{
	regex_t rx;
	bool m;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	m = regexec(&rx, topic, 0, NULL, 0) == 0;
	regfree(&rx);
	return m;
}

static void
test_topics(void)
{
	struct event_info ev;
	const char *err;
	struct buf b = BUF_INIT;

	ok(event_scan(ev_line, strlen(ev_line), &ev, &err) == 0, "the event scans");
	kafka_topic("{name}.{schema}.{table}", &ev, &b);
	is_str(b.data, "shop.public.order_s", "Debezium's naming; '$' becomes '_'");
	kafka_topic("cdc-{db}-{table}", &ev, &b);
	is_str(b.data, "cdc-my_db-order_s", "a space becomes '_'");

	ok(kafka_template_check("{name}.{schema}.{table}", &err) == 0, "the default template is good");
	ok(kafka_template_check("a.{nope}", &err) < 0, "an unknown placeholder is refused");
	ok(kafka_template_check("a b", &err) < 0, "a space is refused");
	ok(kafka_template_check("", &err) < 0, "an empty topic is refused");

	ok(kafka_template_regex("{name}.{schema}.{table}", NULL, NULL, &b) < 0,
	   "no pattern while {name} is unknown");
	ok(kafka_template_regex("{name}.{schema}.{table}", "shop", NULL, &b) == 0, "a pattern for shop");
	ok(matches(b.data, "shop.public.orders"), "it matches shop's topics");
	ok(!matches(b.data, "billing.public.orders"), "not another source's");
	ok(!matches(b.data, "shopX.public.orders"), "not one that only starts the same");
	ok(!matches(b.data, "shop.orders"), "not a topic of another shape");
	ok(kafka_template_regex("cdc.{db}.{table}", NULL, "my db", &b) == 0, "{db} known");
	ok(matches(b.data, "cdc.my_db.order_s"), "the database name sanitised as in the topic");
	ok(!matches(b.data, "cdcXmy_db.order_s"), "'.' in the template is literal");
	buf_release(&b);
}

/* Kafka's own test vectors for Utils.murmur2 (clients/.../UtilsTest.java). */
static void
test_murmur2(void)
{
	static const struct { const char *key; int32_t h; } v[] = {
		{ "21", -973932308 },
		{ "foobar", -790332482 },
		{ "a-little-bit-long-string", -985981536 },
		{ "a-little-bit-longer-string", -1486304829 },
		{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 },
		{ "abc", 479470107 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		is_int(kafka_murmur2(v[i].key, strlen(v[i].key)), v[i].h, v[i].key);
	is_int(kafka_partition("foobar", 6, 3), (int)((uint32_t)-790332482 & 0x7fffffff) % 3,
	       "partition: the sign bit cleared, modulo the count");
}

static void
test_epoch(void)
{
	struct checkpoint cp, back;
	struct buf b = BUF_INIT;
	const char *err;
	unsigned line;

	memset(&cp, 0, sizeof(cp));
	cp.pos.commit_lsn = 0x16B3748;
	cp.pos.seq = 3;
	checkpoint_format(&cp, &b);
	ok(strstr(b.data, "epoch=") == NULL, "no epoch= line while it is 0");
	cp.epoch = 7;
	buf_reset(&b);
	checkpoint_format(&cp, &b);
	ok(strstr(b.data, "\nepoch=7\n") != NULL, "epoch=7 written");
	ok(checkpoint_parse(b.data, b.len, &back, &err, &line) == 0, "and read back");
	is_u64(back.epoch, 7, "the same epoch");
	ok(checkpoint_parse("version=1\ncommit_lsn=0/1\nseq=1\nepoch=x\n", 37, &back, &err, &line) < 0,
	   "a bad epoch is refused");
	buf_release(&b);
}

int
main(void)
{
	test_topics();
	test_murmur2();
	test_epoch();
	return tap_done();
}
