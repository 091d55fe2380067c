/* Unit tests for common/select.c: --table, --schema and --op matching. */
#include "select.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static struct event_info
ev_of(const char *line)
{
	struct event_info ev;
	const char *err = NULL;

	if (event_scan(line, strlen(line), &ev, &err) < 0) {
		printf("Bail out! test event does not scan: %s: %s\n", line, err);
		exit(1);
	}
	return ev;
}

#define EV(op, schema, table) \
	"{\"op\":\"" op "\",\"source\":{\"schema\":\"" schema "\",\"table\":\"" table "\",\"commit_lsn\":1,\"seq\":1}}"

static void
test_parse(void)
{
	struct selector s;

	sel_init(&s);
	ok(!s.active, "a fresh selector is inactive");
	is_int(sel_add_tables(&s, "orders"), 0, "--table NAME");
	is_int(sel_add_tables(&s, "public.items,audit.log"), 0, "--table list with schemas");
	is_int(s.ntables, 3, "three tables");
	ok(s.tables[0].schema == NULL && strcmp(s.tables[0].table, "orders") == 0, "bare name: any schema");
	ok(strcmp(s.tables[1].schema, "public") == 0 && strcmp(s.tables[1].table, "items") == 0,
	   "SCHEMA.NAME split");
	ok(strcmp(s.tables[2].schema, "audit") == 0 && strcmp(s.tables[2].table, "log") == 0,
	   "second list item");
	ok(s.active, "active after a flag");
	is_int(sel_add_tables(&s, ""), -1, "empty --table rejected");
	is_int(sel_add_tables(&s, "a,,b"), -1, "empty list item rejected");
	is_int(sel_add_tables(&s, "a,"), -1, "trailing comma rejected");
	is_int(sel_add_tables(&s, ",a"), -1, "leading comma rejected");
	is_int(sel_add_tables(&s, ".t"), -1, "empty schema rejected");
	is_int(sel_add_tables(&s, "s."), -1, "empty table rejected");
	is_int(sel_add_tables(&s, "a.b.c"), -1, "two dots rejected");
	is_int(sel_add_schemas(&s, "public,audit"), 0, "--schema list");
	is_int(s.nschemas, 2, "two schemas");
	is_int(sel_add_schemas(&s, ""), -1, "empty --schema rejected");
	is_int(sel_add_schemas(&s, "x,"), -1, "--schema trailing comma rejected");
	is_int(sel_add_ops(&s, "c,u"), 0, "--op c,u");
	is_int(sel_add_ops(&s, "u,d"), 0, "--op u,d (repeats fold)");
	is_str(s.ops, "cud", "ops collected once each");
	is_int(sel_add_ops(&s, "x"), -1, "--op x rejected");
	is_int(sel_add_ops(&s, "cu"), -1, "--op cu (not comma-separated) rejected");
	is_int(sel_add_ops(&s, "heartbeat"), -1, "--op heartbeat rejected (control events are not ops)");
	is_int(sel_add_ops(&s, ""), -1, "empty --op rejected");
	is_int(sel_add_ops(&s, "c,u,d,r,t,m,c,u,d"), 0, "all six ops, with repeats");
	is_str(s.ops, "cudrtm", "all six ops fit");
	sel_free(&s);
	ok(s.tables == NULL && s.ntables == 0 && s.schemas == NULL && !s.active, "sel_free resets");
}

static void
test_match(void)
{
	struct selector s;
	struct event_info orders = ev_of(EV("c", "public", "orders"));
	struct event_info orders2 = ev_of(EV("u", "archive", "orders"));
	struct event_info items = ev_of(EV("d", "public", "items"));
	struct event_info noschema = ev_of("{\"op\":\"c\",\"source\":{\"table\":\"orders\"}}");
	struct event_info nothing = ev_of("{\"op\":\"m\",\"source\":{\"commit_lsn\":1,\"seq\":0}}");
	struct event_info esc = ev_of("{\"op\":\"c\",\"source\":{\"schema\":\"p\\u0075blic\","
				      "\"table\":\"my\\\"t\\u00e4ble\"}}");
	struct event_info dotted = ev_of(EV("c", "public", "a.b"));

	sel_init(&s);
	ok(sel_match(&s, &orders) && sel_match(&s, &nothing), "no flags: everything matches");

	sel_add_tables(&s, "orders");
	ok(sel_match(&s, &orders), "--table orders: public.orders");
	ok(sel_match(&s, &orders2), "--table orders: archive.orders (any schema)");
	ok(sel_match(&s, &noschema), "--table orders: event without schema");
	ok(!sel_match(&s, &items), "--table orders: not items");
	ok(!sel_match(&s, &nothing), "--table orders: not an event without a table");
	sel_free(&s);

	sel_init(&s);
	sel_add_tables(&s, "public.orders");
	ok(sel_match(&s, &orders), "--table public.orders: public.orders");
	ok(!sel_match(&s, &orders2), "--table public.orders: not archive.orders");
	ok(!sel_match(&s, &noschema), "--table public.orders: not an event without a schema");
	sel_add_tables(&s, "items");
	ok(sel_match(&s, &items) && sel_match(&s, &orders), "two --table flags: alternatives");
	sel_free(&s);

	sel_init(&s);
	sel_add_schemas(&s, "archive");
	ok(sel_match(&s, &orders2) && !sel_match(&s, &orders) && !sel_match(&s, &noschema),
	   "--schema archive");
	sel_add_tables(&s, "items");
	ok(!sel_match(&s, &orders2), "--schema archive --table items: both must match");
	ok(!sel_match(&s, &items), "--schema archive --table items: public.items fails the schema");
	sel_free(&s);

	sel_init(&s);
	sel_add_ops(&s, "c,d");
	ok(sel_match(&s, &orders) && sel_match(&s, &items) && !sel_match(&s, &orders2),
	   "--op c,d");
	sel_add_tables(&s, "orders");
	ok(sel_match(&s, &orders) && !sel_match(&s, &items), "--op c,d --table orders");
	sel_free(&s);

	sel_init(&s);
	sel_add_tables(&s, "public.my\"t\xC3\xA4" "ble");
	ok(sel_match(&s, &esc), "escaped schema and table names match their decoded text");
	sel_free(&s);
	sel_init(&s);
	sel_add_tables(&s, "my\\\"t\\u00e4ble");
	ok(!sel_match(&s, &esc), "the escaped spelling itself does not match");
	sel_free(&s);

	sel_init(&s);
	sel_add_schemas(&s, "public");
	ok(sel_match(&s, &dotted), "table name with a dot matched by --schema");
	sel_free(&s);

	/* Escaped op letter (see event_scan): --op c matches it. */
	{
		struct event_info e = ev_of("{\"op\":\"\\u0063\",\"source\":{}}");

		sel_init(&s);
		sel_add_ops(&s, "c");
		ok(sel_match(&s, &e), "--op c matches an op written as \"\\u0063\"");
		sel_free(&s);
	}
}

int
main(void)
{
	test_parse();
	test_match();
	return tap_done();
}
