/*
 * test_pgoutput: the pgoutput decoder, event formatting and type mapping of
 * cdc-capture, on crafted messages (no server).
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "buf.h"
#include "../../cmd/cdc-capture/change.h"
#include "../../cmd/cdc-capture/pgoutput.h"
#include "../../cmd/cdc-capture/types.h"

/* A message under construction. */
static struct buf msg;

static void m_reset(char type) { buf_reset(&msg); buf_addc(&msg, type); }
static void m_u8(unsigned v) { buf_addc(&msg, (char)v); }
static void m_u16(unsigned v) { m_u8(v >> 8 & 255); m_u8(v & 255); }
static void m_u32(uint32_t v) { m_u16(v >> 16); m_u16(v & 0xffff); }
static void m_u64(uint64_t v) { m_u32((uint32_t)(v >> 32)); m_u32((uint32_t)v); }
static void m_str(const char *s) { buf_add(&msg, s, strlen(s) + 1); }
static void m_text(const char *s) { m_u8('t'); m_u32((uint32_t)strlen(s)); buf_adds(&msg, s); }

/* Strip the volatile "ts_ms":NNN at the end of an event for comparison. */
static const char *
stable(struct buf *b)
{
	char *p = strstr(b->data, ",\"ts_ms\":");

	/* The top-level times are the last members: cut them. */
	for (char *q = p; q; q = strstr(q + 1, ",\"ts_ms\":"))
		p = q;
	if (p)
		strcpy(p, "}");
	return b->data;
}

static struct typemap *tm;

static const char *
tv(uint32_t oid, const char *text)
{
	static struct buf out;

	buf_reset(&out);
	typemap_value(tm, &out, oid, text, strlen(text));
	return out.data;
}

static void
test_types(void)
{
	struct typemap *tmn = typemap_new(NULL, true);
	struct buf b = BUF_INIT;

	tm = typemap_new(NULL, false);
	is_str(tv(16, "t"), "true", "bool true");
	is_str(tv(16, "f"), "false", "bool false");
	is_str(tv(20, "9007199254740993"), "9007199254740993", "int8 beyond 2^53 digit for digit");
	is_str(tv(20, "-9223372036854775808"), "-9223372036854775808", "int8 min");
	is_str(tv(26, "4294967295"), "4294967295", "oid");
	is_str(tv(701, "1.5e+300"), "1.5e+300", "float8 exponent");
	is_str(tv(701, "NaN"), "\"NaN\"", "float8 NaN as string");
	is_str(tv(700, "-Infinity"), "\"-Infinity\"", "float4 -Infinity as string");
	is_str(tv(1700, "123.4500"), "\"123.4500\"", "numeric as string by default");
	typemap_value(tmn, &b, 1700, "123.4500", 8);
	is_str(b.data, "123.4500", "numeric as number on request");
	buf_reset(&b);
	typemap_value(tmn, &b, 1700, "NaN", 3);
	is_str(b.data, "\"NaN\"", "numeric NaN stays a string as number");
	is_str(tv(3802, "{\"a\": [1, 2]}"), "{\"a\": [1, 2]}", "jsonb embedded");
	is_str(tv(114, "{\"a\":\n 1}"), "{\"a\":  1}", "json newline outside strings becomes a space");
	is_str(tv(25, "a\"b\nc\\"), "\"a\\\"b\\nc\\\\\"", "text escaped");
	is_str(tv(1042, "ab  "), "\"ab  \"", "char(n) padding kept");
	is_str(tv(17, "\\x00ff10"), "\"AP8Q\"", "bytea as base64");
	is_str(tv(17, "\\x"), "\"\"", "empty bytea");
	is_str(tv(1184, "2024-01-31 13:45:00.123456+00"), "\"2024-01-31T13:45:00.123456Z\"", "timestamptz Z");
	is_str(tv(1184, "2024-01-31 13:45:00.5+00"), "\"2024-01-31T13:45:00.500000Z\"",
	       "timestamptz: six digits of fraction");
	is_str(tv(1184, "2024-01-31 13:45:00+00"), "\"2024-01-31T13:45:00.000000Z\"",
	       "timestamptz: six digits of fraction when there is none");
	is_str(tv(1184, "2024-01-31 13:45:00+05:30"), "\"2024-01-31T13:45:00.000000+05:30\"", "timestamptz offset");
	is_str(tv(1184, "infinity"), "\"infinity\"", "timestamptz infinity");
	is_str(tv(1184, "-infinity"), "\"-infinity\"", "timestamptz -infinity");
	is_str(tv(1184, "0044-03-15 12:00:00.25+00 BC"), "\"-0043-03-15T12:00:00.250000Z\"",
	       "timestamptz BC: astronomical year");
	is_str(tv(1184, "12345-06-07 08:09:10+00"), "\"+12345-06-07T08:09:10.000000Z\"",
	       "timestamptz past 9999: ISO 8601 expanded year");
	is_str(tv(1114, "2024-01-31 13:45:00"), "\"2024-01-31T13:45:00\"", "timestamp without offset");
	is_str(tv(1114, "2024-01-31 13:45:00.5"), "\"2024-01-31T13:45:00.5\"", "timestamp fraction as printed");
	is_str(tv(1114, "0001-01-01 00:00:00 BC"), "\"0000-01-01T00:00:00\"", "timestamp 1 BC is year 0");
	is_str(tv(1114, "4713-01-01 00:00:00 BC"), "\"-4712-01-01T00:00:00\"", "timestamp 4713 BC");
	is_str(tv(1082, "2024-01-31"), "\"2024-01-31\"", "date");
	is_str(tv(1082, "0044-03-15 BC"), "\"-0043-03-15\"", "date BC: astronomical year");
	is_str(tv(1082, "infinity"), "\"infinity\"", "date infinity");
	is_str(tv(1182, "{2024-01-01,\"0044-03-15 BC\"}"), "[\"2024-01-01\",\"-0043-03-15\"]", "date[] with BC");
	is_str(tv(790, "-$1,234.56"), "\"-1234.56\"", "money as a decimal string");
	is_str(tv(790, "$0.01"), "\"0.01\"", "money small");
	is_str(tv(790, "$92,233,720,368,547,758.07"), "\"92233720368547758.07\"", "money max");
	is_str(tv(791, "{\"$1.50\",\"-$2.00\"}"), "[\"1.50\",\"-2.00\"]", "money[]");
	is_str(tv(790, "1,234.56 EUR"), "\"1,234.56 EUR\"", "money in another form stays as it is");
	is_str(tv(1560, "101"), "\"101\"", "bit as a string");
	is_str(tv(1186, "P1Y2M3DT4H5M6.5S"), "\"P1Y2M3DT4H5M6.5S\"", "interval as the server writes it");

	/* --values=debezium */
	{
		struct typemap *plain = tm;

		tm = typemap_new(NULL, false);
		typemap_set_debezium(tm, true);
		is_str(tv(3802, "{\"a\": [1, 2]}"), "\"{\\\"a\\\": [1, 2]}\"", "debezium: jsonb as a string");
		is_str(tv(1082, "2024-01-31"), "\"2024-01-31Z\"", "debezium: date with Z");
		is_str(tv(1082, "infinity"), "\"infinity\"", "debezium: date infinity stays");
		is_str(tv(1083, "13:45:00.5"), "\"13:45:00.5Z\"", "debezium: time with Z");
		is_str(tv(1083, "24:00:00"), "\"00:00:00Z\"", "debezium: time 24:00:00 as 00:00:00Z");
		is_str(tv(1114, "2024-01-31 13:45:00.5"), "\"2024-01-31T13:45:00.5Z\"", "debezium: timestamp with Z");
		is_str(tv(1184, "2024-01-31 13:45:00+00"), "\"2024-01-31T13:45:00.000000Z\"", "debezium: timestamptz");
		is_str(tv(1266, "13:45:00.5+02"), "\"11:45:00.5Z\"", "debezium: timetz in UTC");
		is_str(tv(1266, "00:00:00-03:30"), "\"03:30:00Z\"", "debezium: timetz with minutes");
		is_str(tv(1266, "01:00:00+02"), "\"23:00:00Z\"", "debezium: timetz across midnight");
		is_str(tv(1700, "NaN"), "\"NAN\"", "debezium: numeric NaN");
		is_str(tv(1700, "-Infinity"), "\"NEGATIVE_INFINITY\"", "debezium: numeric -Infinity");
		is_str(tv(1700, "1.50"), "\"1.50\"", "debezium: numeric");
		is_str(tv(1186, "P-1DT2H"), "\"P0Y0M-1DT2H0M0S\"", "debezium: interval, every component");
		is_str(tv(1186, "PT0S"), "\"P0Y0M0DT0H0M0S\"", "debezium: zero interval");
		is_str(tv(1186, "P11M3DT-4H-5M-6.789S"), "\"P0Y11M3DT-4H-5M-6.789S\"", "debezium: negative parts");
		is_str(tv(1560, "1"), "true", "debezium: bit(1) as a boolean");
		is_str(tv(1560, "1000000001"), "\"AQI=\"", "debezium: bit(10) as little-endian bytes");
		is_str(tv(1562, "111111111"), "\"/wE=\"", "debezium: varbit");
		is_str(tv(1560, "0000"), "\"\"", "debezium: zero bits: no bytes");
		is_str(tv(600, "(1,2.5)"), "{\"x\":1,\"y\":2.5,\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAARA\",\"srid\":null}",
		       "debezium: point with its WKB");
		is_str(tv(1182, "{2024-01-01}"), "[\"2024-01-01Z\"]", "debezium: date[]");
		typemap_free(tm);
		tm = plain;
	}
	is_str(tv(1266, "13:45:00+02"), "\"13:45:00+02:00\"", "timetz");
	is_str(tv(1186, "P1DT2H"), "\"P1DT2H\"", "interval");
	is_str(tv(1007, "{1,NULL,3}"), "[1,null,3]", "int4[] with NULL");
	is_str(tv(1007, "{{1,2},{3,4}}"), "[[1,2],[3,4]]", "nested int4[]");
	is_str(tv(1007, "{}"), "[]", "empty array");
	is_str(tv(1007, "[0:1]={5,6}"), "[5,6]", "array with bounds");
	is_str(tv(1009, "{\"a b\",\"c\\\"d\",NULL,\"NULL\"}"), "[\"a b\",\"c\\\"d\",null,\"NULL\"]",
	       "text[] quoting, NULL and the string NULL");
	is_str(tv(1185, "{\"2024-01-31 13:45:00+00\"}"), "[\"2024-01-31T13:45:00.000000Z\"]", "timestamptz[]");
	is_str(tv(3807, "{\"{\\\"a\\\": 1}\"}"), "[{\"a\": 1}]", "jsonb[]");
	is_str(tv(1001, "{\"\\\\x01\"}"), "[\"AQ==\"]", "bytea[]");
	is_str(tv(1007, "{1,2"), "\"{1,2\"", "malformed array becomes a string");
	is_str(tv(99999, "whatever"), "\"whatever\"", "unknown type without lookup: string");
	is_str(tv(23, "12x"), "\"12x\"", "non-numeric int text stays a string");
	buf_release(&b);
	typemap_free(tmn);
}

static void
test_decode(void)
{
	struct pgoutput *d = pgo_new();
	struct pgo_msg m;
	struct event_ctx ctx = { "shop", "s1", false };
	struct change_fmt f;
	struct event_src p = { .lsn = 100, .commit_lsn = 200, .seq = 1, .xid = 758, .ts_us = 1700000000000123,
			       .snapshot = "false", .tx_member = true };
	struct buf out = BUF_INIT;
	const char *err;

	pgo_msg_init(&m);
	change_fmt_init(&f, tm, &ctx);

	/* Begin */
	m_reset('B');
	m_u64(0x16B3748);
	m_u64(0);
	m_u32(758);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Begin decodes");
	is_u64(m.final_lsn, 0x16B3748, "Begin final_lsn");
	is_int(m.xid, 758, "Begin xid");
	is_int(pgo_ts_to_ms(m.ts), 946684800000LL, "PostgreSQL epoch");

	/* A change before its Relation message is an error. */
	m_reset('I');
	m_u32(16384);
	m_u8('N');
	m_u16(1);
	m_text("1");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "Insert without Relation refused");

	/* A truncated Relation that claims 65535 columns is refused at once. */
	m_reset('R');
	m_u32(16385);
	m_str("public");
	m_str("huge");
	m_u8('d');
	m_u16(65535);
	m_u8(1); m_str("id"); m_u32(20); m_u32(0xffffffff);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "Relation with more columns than bytes refused");

	/* Relation: id int8 key, note text, big text */
	m_reset('R');
	m_u32(16384);
	m_str("public");
	m_str("orders");
	m_u8('d');
	m_u16(3);
	m_u8(1); m_str("id"); m_u32(20); m_u32(0xffffffff);
	m_u8(0); m_str("note"); m_u32(25); m_u32(0xffffffff);
	m_u8(0); m_str("big"); m_u32(25); m_u32(0xffffffff);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Relation decodes");
	is_int(m.rel->ncols, 3, "Relation columns");
	ok(m.rel->cols[0].key && !m.rel->cols[1].key, "Relation key flags");

	/* Insert */
	m_reset('I');
	m_u32(16384);
	m_u8('N');
	m_u16(3);
	m_text("9007199254740993");
	m_u8('n');
	m_text("x");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Insert decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	is_str(stable(&out),
	       "{\"op\":\"c\",\"before\":null,\"after\":{\"id\":9007199254740993,\"note\":null,\"big\":\"x\"},"
	       "\"key\":{\"id\":9007199254740993},\"source\":{\"version\":\"" CDC_VERSION "\",\"connector\":"
	       "\"postgresql\",\"name\":\"s1\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"orders\","
	       "\"txId\":758,\"lsn\":100,\"commit_lsn\":200,\"seq\":1,\"ts_ms\":1700000000000,"
	       "\"ts_us\":1700000000000123,\"snapshot\":\"false\",\"sequence\":\"[null,\\\"100\\\"]\","
	       "\"xmin\":null,\"origin\":null,\"origin_lsn\":null},\"transaction\":null}",
	       "Insert event");

	/* Update with unchanged TOAST, no old tuple: left out and listed. */
	m_reset('U');
	m_u32(16384);
	m_u8('N');
	m_u16(3);
	m_text("7");
	m_text("new");
	m_u8('u');
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Update decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strstr(out.data, "\"before\":null,\"after\":{\"id\":7,\"note\":\"new\"},\"key\":{\"id\":7},"
			    "\"unchanged_toast\":[\"big\"]") != NULL, "unchanged TOAST left out and listed");
	ok(!change_new_row_complete(&m), "unchanged TOAST without the old row: the new row is not complete");

	/* Update with the old tuple (REPLICA IDENTITY FULL): value taken from it. */
	m_reset('U');
	m_u32(16384);
	m_u8('O');
	m_u16(3);
	m_text("7");
	m_text("old");
	m_text("bigvalue");
	m_u8('N');
	m_u16(3);
	m_text("7");
	m_text("new");
	m_u8('u');
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Update with old tuple decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strstr(out.data, "\"before\":{\"id\":7,\"note\":\"old\",\"big\":\"bigvalue\"},"
			    "\"after\":{\"id\":7,\"note\":\"new\",\"big\":\"bigvalue\"},\"key\":{\"id\":7},\"source\"")
	   != NULL, "unchanged TOAST filled from the old tuple");

	/* Update changing the key: old key 'K'. */
	m_reset('U');
	m_u32(16384);
	m_u8('K');
	m_u16(3);
	m_text("7");
	m_u8('n');
	m_u8('n');
	m_u8('N');
	m_u16(3);
	m_text("8");
	m_text("n");
	m_text("b");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Update with old key decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strstr(out.data, "\"before\":{\"id\":7},\"after\":{\"id\":8,\"note\":\"n\",\"big\":\"b\"},\"key\":{\"id\":8}")
	   != NULL, "key change, --key-change=update: before has the old key");
	ok(change_key_changed(&m), "key change detected");
	ok(change_new_row_complete(&m), "... with every column of the new row");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_OLD_KEY, &p);
	ok(strncmp(out.data, "{\"op\":\"d\",\"before\":{\"id\":7},\"after\":null,\"key\":{\"id\":7},", 56) == 0,
	   "key change, delete-create: the d of the old key");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_NEW_KEY, &p);
	{
		const char *want = "{\"op\":\"c\",\"before\":null,\"after\":{\"id\":8,\"note\":\"n\",\"big\":\"b\"},"
				   "\"key\":{\"id\":8},";

		ok(strncmp(out.data, want, strlen(want)) == 0, "key change, delete-create: the c of the new key");
	}

	/* Delete by key */
	m_reset('D');
	m_u32(16384);
	m_u8('K');
	m_u16(3);
	m_text("8");
	m_u8('n');
	m_u8('n');
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Delete decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strncmp(out.data, "{\"op\":\"d\",\"before\":{\"id\":8},\"after\":null,\"key\":{\"id\":8},", 56) == 0,
	   "Delete event");

	/* Truncate */
	m_reset('T');
	m_u32(1);
	m_u8(3);
	m_u32(16384);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0 && m.nrels == 1 && m.relids[0] == 16384,
	   "Truncate decodes");
	buf_reset(&out);
	truncate_format(&f, &out, pgo_relation(d, 16384), m.flags, &p);
	ok(strstr(out.data, "\"truncate\":{\"cascade\":true,\"restart_identity\":true}") != NULL, "Truncate options");

	/* Message */
	m_reset('M');
	m_u8(0);
	m_u64(0x1234);
	m_str("pfx");
	m_u32(5);
	buf_add(&msg, "he\0lo", 5);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Message decodes");
	is_int(m.content_len, 5, "Message content with a NUL byte");
	buf_reset(&out);
	message_format(&f, &out, &m, &p);
	ok(strstr(out.data, "\"message\":{\"prefix\":\"pfx\",\"content\":\"aGUAbG8=\",\"transactional\":false}")
	   != NULL, "Message event, content base64");
	{
		struct event_src q = p;
		struct event_tx tx = { 758, 90, 3, 2 };

		q.origin = "node_a";
		q.origin_lsn = 305441741;
		q.has_last_commit = true;
		q.last_commit = 88;
		q.tx = &tx;
		buf_reset(&out);
		message_format(&f, &out, &m, &q);
		ok(strstr(out.data, "\"sequence\":\"[\\\"88\\\",\\\"100\\\"]\",\"xmin\":null,"
				    "\"origin\":\"node_a\",\"origin_lsn\":305441741},\"transaction\":{\"id\":\"758:90\","
				    "\"total_order\":3,\"data_collection_order\":2},\"ts_ms\":") != NULL,
		   "sequence, origin and the transaction block");
		ok(strstr(out.data, "\"ts_ns\"") == NULL, "no ts_ns without --ts-ns");
	}

	/* Commit */
	m_reset('C');
	m_u8(0);
	m_u64(0x16B3748);
	m_u64(0x16B3780);
	m_u64(1000);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0 && m.commit_lsn == 0x16B3748 && m.end_lsn == 0x16B3780,
	   "Commit decodes");

	/* Schema change: the Relation message replaces the cached one. */
	m_reset('R');
	m_u32(16384);
	m_str("public");
	m_str("orders");
	m_u8('f');
	m_u16(1);
	m_u8(1); m_str("id"); m_u32(20); m_u32(0xffffffff);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0 && pgo_relation(d, 16384)->ncols == 1,
	   "Relation replaced after ALTER TABLE");
	m_reset('I');
	m_u32(16384);
	m_u8('N');
	m_u16(3);
	m_text("1");
	m_text("2");
	m_text("3");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "tuple wider than the relation refused");

	/* Malformed input */
	m_reset('B');
	m_u64(1);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "truncated Begin refused");
	m_reset('Z');
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "unknown message refused");
	m_reset('I');
	m_u32(16384);
	m_u8('N');
	m_u16(1);
	m_u8('t');
	m_u32(1000);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "value length past the end refused");
	m_reset('I');
	m_u32(16384);
	m_u8('N');
	m_u16(1);
	m_u8('x');
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "unknown column kind refused");
	m_reset('S');
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "stream start refused (not requested)");
	m_reset('B');
	m_u64(1);
	m_u64(2);
	m_u32(3);
	m_u8(0);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) < 0, "trailing bytes refused");

	buf_release(&out);
	change_fmt_release(&f);
	pgo_msg_release(&m);
	pgo_free(d);
}

/* A Relation message: relid, replica identity, ncols columns "name:flag". */
static void
m_relation(uint32_t relid, char replident, int ncols, const char *const *names, const int *flags)
{
	m_reset('R');
	m_u32(relid);
	m_str("public");
	m_str("k");
	m_u8((unsigned)replident);
	m_u16((unsigned)ncols);
	for (int i = 0; i < ncols; i++) {
		m_u8((unsigned)flags[i]);
		m_str(names[i]);
		m_u32(23);
		m_u32(0xffffffff);
	}
}

/* The event "key": primary key first, then the replica identity (cdc-capture(1) "Keys"). */
static void
test_keys(void)
{
	struct pgoutput *d = pgo_new();
	struct pgo_msg m;
	struct event_ctx ctx = { "shop", "s1", false };
	struct change_fmt f;
	struct event_src p = { .lsn = 100, .commit_lsn = 200, .seq = 1, .xid = 758, .ts_us = 1700000000000123,
			       .snapshot = "false", .tx_member = true };
	struct buf out = BUF_INIT;
	const char *err;
	const char *names[] = { "id", "v", "b" };
	const int all[] = { 1, 1, 1 }, none[] = { 0, 0, 0 }, bonly[] = { 0, 0, 1 }, idb[] = { 1, 0, 1 };
	const char *pk_id[] = { "id" }, *pk_gone[] = { "zz" };

	pgo_msg_init(&m);
	change_fmt_init(&f, tm, &ctx);

	ok(key_use_pk('f', 1, 1, 1), "rule: FULL with a primary key uses it");
	ok(key_use_pk('d', 1, 1, 1), "rule: DEFAULT with a primary key uses it");
	ok(key_use_pk('n', 1, 1, 0), "rule: NOTHING with a primary key uses it");
	ok(!key_use_pk('f', 0, 0, 0), "rule: no primary key: replica identity");
	ok(!key_use_pk('i', 2, 2, 1), "rule: USING INDEX not covering the primary key: the index");
	ok(key_use_pk('i', 2, 2, 2), "rule: USING INDEX covering the primary key: the primary key");
	ok(!key_use_pk('f', 2, 1, 1), "rule: a primary key column not published: replica identity");

	/* FULL with primary key id: the server flags every column. */
	m_relation(1, 'f', 3, names, all);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "FULL Relation decodes");
	pgo_rel_set_key(m.rel, pk_id, 1);
	ok(m.rel->cols[0].key && !m.rel->cols[1].key && !m.rel->cols[2].key && m.rel->has_key,
	   "FULL with primary key: key = id only");
	ok(m.rel->cols[1].ri && m.rel->cols[2].ri, "... the replica identity flags stay");
	/* Update with the old row: key is the new row's id, before the whole old row. */
	m_reset('U');
	m_u32(1);
	m_u8('O');
	m_u16(3);
	m_text("1");
	m_text("old");
	m_text("5");
	m_u8('N');
	m_u16(3);
	m_text("2");
	m_text("new");
	m_text("5");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "FULL update decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strstr(out.data, "\"before\":{\"id\":1,\"v\":\"old\",\"b\":5},\"after\":{\"id\":2,\"v\":\"new\",\"b\":5},"
			    "\"key\":{\"id\":2},") != NULL, "FULL update: key = the new primary key, before = old row");
	/* Delete with the old row: key from it. */
	m_reset('D');
	m_u32(1);
	m_u8('O');
	m_u16(3);
	m_text("2");
	m_text("new");
	m_text("5");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "FULL delete decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strstr(out.data, "\"after\":null,\"key\":{\"id\":2},") != NULL, "FULL delete: key = old primary key");

	/* FULL without a primary key (or one that is gone): every column. */
	m_relation(1, 'f', 3, names, all);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "Relation again decodes");
	pgo_rel_set_key(m.rel, pk_gone, 1);
	ok(m.rel->cols[0].key && m.rel->cols[1].key && m.rel->cols[2].key, "FULL, primary key not published: all");
	pgo_rel_set_key(m.rel, NULL, 0);
	ok(m.rel->cols[0].key && m.rel->cols[1].key && m.rel->cols[2].key, "FULL without primary key: all");

	/* USING INDEX (b) with primary key id: the index, as deletes carry only it. */
	m_relation(2, 'i', 3, names, bonly);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "INDEX Relation decodes");
	pgo_rel_set_key(m.rel, pk_id, 1);
	ok(!m.rel->cols[0].key && m.rel->cols[2].key, "USING INDEX not covering the primary key: key = index");
	m_reset('D');
	m_u32(2);
	m_u8('K');
	m_u16(3);
	m_u8('n');
	m_u8('n');
	m_text("5");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "INDEX delete decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strstr(out.data, "\"before\":{\"b\":5},\"after\":null,\"key\":{\"b\":5},") != NULL,
	   "INDEX delete: before and key = the old index key");
	/* USING INDEX (id, b): covers the primary key. */
	m_relation(2, 'i', 3, names, idb);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "covering INDEX Relation decodes");
	pgo_rel_set_key(m.rel, pk_id, 1);
	ok(m.rel->cols[0].key && !m.rel->cols[2].key, "USING INDEX covering the primary key: key = primary key");
	m_reset('D');
	m_u32(2);
	m_u8('K');
	m_u16(3);
	m_text("3");
	m_u8('n');
	m_text("5");
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "covering INDEX delete decodes");
	buf_reset(&out);
	change_format(&f, &out, &m, CHANGE_WHOLE, &p);
	ok(strstr(out.data, "\"before\":{\"id\":3,\"b\":5},\"after\":null,\"key\":{\"id\":3},") != NULL,
	   "covering INDEX delete: before = old index key, key = primary key");

	/* NOTHING: with a primary key it is the key; without, null. */
	m_relation(3, 'n', 3, names, none);
	ok(pgo_decode(d, msg.data, msg.len, &m, &err) == 0, "NOTHING Relation decodes");
	pgo_rel_set_key(m.rel, pk_id, 1);
	ok(m.rel->has_key && m.rel->cols[0].key, "NOTHING with primary key: key = primary key");
	pgo_rel_set_key(m.rel, NULL, 0);
	ok(!m.rel->has_key, "NOTHING without primary key: no key");

	buf_release(&out);
	change_fmt_release(&f);
	pgo_msg_release(&m);
	pgo_free(d);
}

int
main(void)
{
	test_types();
	test_decode();
	test_keys();
	typemap_free(tm);
	buf_release(&msg);
	return tap_done();
}
