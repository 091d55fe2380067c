/* Unit tests for common/batcher.c: the item-failure report, the table set. */
#include "batcher.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* A batch of n events at commit_lsn 0x100, 0x101, ... (seq 1), table t[i]. */
static void
make_batch(struct bt_batch *b, size_t n, const char *const *tables)
{
	memset(b, 0, sizeof(*b));
	b->data = (struct buf)BUF_INIT;
	b->tables = (struct buf)BUF_INIT;
	b->extra = (struct buf)BUF_INIT;
	b->it = calloc(n, sizeof(*b->it));
	b->n = b->cap = n;
	for (size_t i = 0; i < n; i++) {
		b->it[i].pos = (struct cdc_pos){ .commit_lsn = 0x100 + i, .seq = 1 };
		b->it[i].toff = b->tables.len;
		b->it[i].tlen = tables ? strlen(tables[i]) : 0;
		if (tables)
			buf_adds(&b->tables, tables[i]);
	}
}

static void
free_batch(struct bt_batch *b)
{
	buf_release(&b->data);
	buf_release(&b->tables);
	buf_release(&b->extra);
	free(b->it);
}

/* The report's result and the failed items as a string of 0/1. */
static int
report(const struct bt_batch *b, const char *text, const char *prefix, char *flags, char *why)
{
	bool failed[8] = { false };
	int r = batcher_report(b, text, strlen(text), prefix, failed, why, 200);

	for (size_t i = 0; i < b->n; i++)
		flags[i] = failed[i] ? '1' : '0';
	flags[b->n] = '\0';
	return r;
}

int
main(void)
{
	struct bt_batch b;
	struct buf out = BUF_INIT;
	char flags[9], why[200];
	const char *const t[] = { "public.a", "public.b", "public.a", "", "public.c" };

	make_batch(&b, 5, NULL);
	is_int(report(&b, "", NULL, flags, why), 0, "no output: no report");
	is_int(report(&b, "done\nall fine\n", NULL, flags, why), 0, "text without a report: none");
	is_int(report(&b, "{\"ok\":true}\n", NULL, flags, why), 0, "an object without batchItemFailures: none");
	is_int(report(&b, "{\"batchItemFailures\":[]}\n", NULL, flags, why), 1, "an empty report");
	is_str(flags, "00000", "... names nothing");
	is_int(report(&b, "{\"batchItemFailures\":[{\"itemIdentifier\":\"0/101:1\"},"
			  "{\"itemIdentifier\":\"0/104:1\"}]}", NULL, flags, why), 1,
	       "a report naming two events");
	is_str(flags, "01001", "... those two failed");
	is_int(report(&b, "working\n{\"batchItemFailures\":[{\"itemIdentifier\":\"0/100:1\"}]}\n"
			  "{\"batchItemFailures\":[{\"itemIdentifier\":\"0/102:1\"}]}\nbye\n",
		      NULL, flags, why), 1, "two report lines among others");
	is_str(flags, "00100", "... the last one counts");
	is_int(report(&b, "{\n  \"batchItemFailures\": [\n    {\"itemIdentifier\": \"0/103:1\"}\n  ]\n}\n",
		      NULL, flags, why), 1, "a pretty-printed report (an HTTP body)");
	is_str(flags, "00010", "... is read whole");
	is_int(report(&b, "{\"batchItemFailures\":[{\"itemIdentifier\":\"shop:0/100:1\"}]}", "shop",
		      flags, why), 1, "a CloudEvents id SLOT:POSITION");
	is_str(flags, "10000", "... names the event");
	is_int(report(&b, "{\"batchItemFailures\":[{\"itemIdentifier\":\"other:0/100:1\"}]}", "shop",
		      flags, why), -1, "another slot's id");
	ok(strstr(why, "not a position") != NULL, "... is not a position");
	is_int(report(&b, "{\"batchItemFailures\":[{\"itemIdentifier\":\"0/1FF:1\"}]}", NULL, flags,
		      why), -1, "a position not in the batch");
	ok(strstr(why, "not in the batch") != NULL, "... says so");
	is_int(report(&b, "{\"batchItemFailures\":{\"itemIdentifier\":\"0/100:1\"}}", NULL, flags, why),
	       -1, "batchItemFailures not an array");
	is_int(report(&b, "{\"batchItemFailures\":[{\"id\":\"0/100:1\"}]}", NULL, flags, why), -1,
	       "an item without itemIdentifier");
	is_int(report(&b, "{\"batchItemFailures\":[{\"itemIdentifier\":256}]}", NULL, flags, why), -1,
	       "a numeric itemIdentifier");
	free_batch(&b);

	make_batch(&b, 5, t);
	batcher_tables(&b, &out);
	is_str(out.data, "public.a,public.b,public.c", "the table set: in order, once each, none skipped");
	free_batch(&b);
	make_batch(&b, 1, (const char *const[]){ "" });
	batcher_tables(&b, &out);
	is_str(out.data, "", "an event without a table: an empty set");
	free_batch(&b);
	buf_release(&out);
	return tap_done();
}
