/*
 * test_capture_copy.c: COPY text rows -> snapshot events (cmd/cdc-capture/copy.c),
 * and the snapshot state file (snapshot.c).  No server: built-in types only.
 */
#include <stdlib.h>
#include <unistd.h>

#include "tap.h"

#include "buf.h"
#include "checkpoint.h"
#include "../../cmd/cdc-capture/copy.h"
#include "log.h"
#include "../../cmd/cdc-capture/snapshot.h"

static char *
unesc(const char *s)
{
	struct buf b = BUF_INIT;

	copy_unescape(&b, s, strlen(s));
	buf_addc(&b, '\0');	/* make sure data is allocated */
	return buf_detach(&b, NULL);
}

/* The event without its trailing ,"ts_ms":NOW} (which changes). */
static const char *
strip_now(struct buf *line)
{
	/* The top-level times come last, after the last ,"ts_ms": */
	char *p = NULL;

	for (char *q = strstr(line->data, ",\"ts_ms\":"); q; q = strstr(q + 1, ",\"ts_ms\":"))
		p = q;
	if (p)
		*p = '\0';
	return line->data;
}

int
main(void)
{
	struct event_ctx ctx = { "shop", "slot1", false };
	struct typemap *tm = typemap_new(NULL, false);
	struct row_formatter f;
	struct snap_table t;
	char *s;

	log_init("test_capture_copy");

	/* COPY escapes. */
	s = unesc("plain");
	is_str(s, "plain", "no escapes");
	free(s);
	s = unesc("a\\tb\\nc\\\\d\\re\\bf\\fg\\vh");
	is_str(s, "a\tb\nc\\d\re\bf\fg\vh", "letter escapes");
	free(s);
	s = unesc("\\101\\x42\\x4a\\7x\\q");
	is_str(s, "ABJ\ax" "q", "octal, hex, other character");
	free(s);
	s = unesc("\\x");
	is_str(s, "x", "\\x without digits is x");
	free(s);
	s = unesc("\\\\N");
	is_str(s, "\\N", "an escaped backslash before N is text, not NULL");
	free(s);

	/* Rows. */
	copy_table_init(&t, 16384, "public", "orders");
	copy_table_add_col(&t, "id", 23, true);
	copy_table_add_col(&t, "name", 25, false);
	copy_table_add_col(&t, "ok", 16, false);
	copy_table_add_col(&t, "tags", 1009, false);
	rowfmt_init(&f, tm, &ctx, 0x16B3748, 1700000000000123);
	copy_table_template(&f, &t);
	ok(t.tmpl, "envelope template found in event_source() output");

	ok(copy_row_event(&f, &t, "7\tA\\tb\tt\t{x,\"y z\",NULL}\n", strlen("7\tA\\tb\tt\t{x,\"y z\",NULL}\n"), 3, 1700000000123) == 0, "row formats");
	is_str(strip_now(&f.line),
	       "{\"op\":\"r\",\"before\":null,\"after\":{\"id\":7,\"name\":\"A\\tb\",\"ok\":true,\"tags\":[\"x\",\"y z\",null]},"
	       "\"key\":{\"id\":7},\"source\":{\"version\":\"" CDC_VERSION "\",\"connector\":\"postgresql\",\"name\":\"slot1\","
	       "\"db\":\"shop\",\"schema\":\"public\",\"table\":\"orders\",\"txId\":null,\"lsn\":23803720,"
	       "\"commit_lsn\":23803720,\"seq\":3,\"ts_ms\":1700000000000,\"ts_us\":1700000000000123,"
	       "\"snapshot\":\"true\",\"sequence\":\"[null,\\\"23803720\\\"]\",\"xmin\":null,\"origin\":null,"
	       "\"origin_lsn\":null},\"transaction\":null",
	       "event: after, key, source");
	{
		struct buf b = BUF_INIT;

		ok(copy_row_body(&f, &t, "7\tx\tt\t{}", strlen("7\tx\tt\t{}"), &b) == 0, "row body");
		copy_row_tail(&f, &t, 12, "last_in_data_collection", 1700000000000123456LL, &b);
		ok(strstr(b.data, "\"seq\":12,") && strstr(b.data, "\"snapshot\":\"last_in_data_collection\"") &&
		   strstr(b.data, "},\"transaction\":null,\"ts_ms\":1700000000000,\"ts_us\":1700000000000123}"),
		   "row tail: seq, marker and times through the template");
		buf_release(&b);
	}

	ok(copy_row_event(&f, &t, "8\t\\N\t\\N\t\\N", strlen("8\t\\N\t\\N\t\\N"), 4, 1) == 0, "NULLs");
	ok(strstr(f.line.data, "\"after\":{\"id\":8,\"name\":null,\"ok\":null,\"tags\":null}") != NULL,
	   "\\N becomes null");
	ok(copy_row_event(&f, &t, "9\t\tf\t{}\n", strlen("9\t\tf\t{}\n"), 5, 1) == 0, "empty text field");
	ok(strstr(f.line.data, "\"name\":\"\",\"ok\":false,\"tags\":[]") != NULL, "empty string stays a string");

	/* Same event through the template and through event_source(). */
	{
		struct buf direct = BUF_INIT;
		char *tmpl;

		copy_row_event(&f, &t, "7\tx\tt\t{}", strlen("7\tx\tt\t{}"), 99, 5);
		tmpl = xstrdup(strip_now(&f.line));
		t.tmpl = false;
		copy_row_event(&f, &t, "7\tx\tt\t{}", strlen("7\tx\tt\t{}"), 99, 5);
		buf_add(&direct, f.line.data, f.line.len);
		is_str(tmpl, strip_now(&direct), "template and event_source() give the same bytes");
		t.tmpl = true;
		free(tmpl);
		buf_release(&direct);
	}

	ok(copy_row_event(&f, &t, "1\ta\tt", strlen("1\ta\tt"), 1, 1) < 0, "too few fields is an error");
	ok(copy_row_event(&f, &t, "1\ta\tt\t{}\textra", strlen("1\ta\tt\t{}\textra"), 1, 1) < 0, "too many fields is an error");
	copy_table_free(&t);

	/* A table without a key and with a name that needs escaping. */
	copy_table_init(&t, 1, "s\"x", "t\\y");
	copy_table_add_col(&t, "a\"b", 20, false);
	copy_table_template(&f, &t);
	ok(copy_row_event(&f, &t, "-12\n", strlen("-12\n"), 1, 1) == 0, "keyless row");
	ok(strstr(f.line.data, "\"after\":{\"a\\\"b\":-12},\"key\":null,") != NULL, "key null, column name escaped");
	ok(strstr(f.line.data, "\"schema\":\"s\\\"x\",\"table\":\"t\\\\y\"") != NULL, "escaped names in source");
	copy_table_free(&t);

	/* The key rule (the stream's, key_use_pk()): FULL with a primary key. */
	copy_table_init(&t, 3, "public", "full_pk");
	copy_table_add_col(&t, "id", 23, true);
	copy_table_add_col(&t, "v", 25, true);
	t.cols[0].is_pk = true;
	copy_table_choose_key(&t, 'f', 1);
	ok(t.cols[0].is_key && !t.cols[1].is_key && t.nkeys == 1, "FULL with primary key: key = primary key");
	copy_table_template(&f, &t);
	ok(copy_row_event(&f, &t, "4\tx\n", strlen("4\tx\n"), 1, 1) == 0, "FULL row");
	ok(strstr(f.line.data, "\"after\":{\"id\":4,\"v\":\"x\"},\"key\":{\"id\":4},") != NULL,
	   "FULL row: key is the primary key, not the row");
	copy_table_choose_key(&t, 'f', 2);
	ok(t.cols[0].is_key && t.cols[1].is_key && t.nkeys == 2, "primary key column not published: replica identity");
	t.cols[0].is_pk = false;
	copy_table_choose_key(&t, 'f', 0);
	ok(t.nkeys == 2, "FULL without primary key: every column");
	copy_table_free(&t);
	/* USING INDEX (b) with primary key id: the index; NOTHING with a primary key: it. */
	copy_table_init(&t, 4, "public", "idx");
	copy_table_add_col(&t, "id", 23, false);
	copy_table_add_col(&t, "b", 23, true);
	t.cols[0].is_pk = true;
	copy_table_choose_key(&t, 'i', 1);
	ok(!t.cols[0].is_key && t.cols[1].is_key, "USING INDEX not covering the primary key: the index");
	t.cols[1].is_ri = false;
	copy_table_choose_key(&t, 'n', 1);
	ok(t.cols[0].is_key && !t.cols[1].is_key, "NOTHING with primary key: the primary key");
	t.cols[0].is_pk = false;
	copy_table_choose_key(&t, 'n', 0);
	ok(t.nkeys == 0, "NOTHING without primary key: no key");
	copy_table_free(&t);

	/* Zero columns. */
	copy_table_init(&t, 2, "public", "empty");
	copy_table_template(&f, &t);
	ok(copy_row_event(&f, &t, "\n", strlen("\n"), 1, 1) == 0, "zero-column row");
	ok(strstr(f.line.data, "\"after\":{},\"key\":null") != NULL, "after {}");
	copy_table_free(&t);
	rowfmt_free(&f);
	typemap_free(tm);

	/* State file and the restart verdict. */
	{
		char dir[] = "/tmp/test_capture_copy.XXXXXX", path[64];
		struct snapshot_state st;
		struct checkpoint cp;

		if (!mkdtemp(dir))
			return 1;
		snprintf(path, sizeof(path), "%s/state", dir);
		is_int(snapshot_state_check(path, "s1", false, NULL), SNAPSHOT_OK, "no state file: ok");
		is_int(snapshot_state_begin(path, "s1"), 0, "begin writes");
		is_int(snapshot_state_read(path, &st), 0, "reads back");
		is_int(st.phase, SNAPSTATE_CREATING, "phase creating");
		is_int(snapshot_state_check(path, "s1", false, NULL), SNAPSHOT_REDO, "creating: redo");
		is_int(snapshot_state_check(path, "s2", false, NULL), SNAPSHOT_REFUSE, "other slot: refuse");
		st.phase = SNAPSTATE_RUNNING;
		st.consistent_lsn = 1000;
		snapshot_state_write(path, &st);
		is_int(snapshot_state_check(path, "s1", false, NULL), SNAPSHOT_REDO, "running: redo");
		st.phase = SNAPSTATE_DONE;
		st.rows = 5;
		snapshot_state_write(path, &st);
		is_int(snapshot_state_read(path, &st), 0, "done reads back");
		is_u64(st.consistent_lsn, 1000, "consistent_lsn kept");
		is_u64(st.rows, 5, "rows kept");
		is_int(snapshot_state_check(path, "s1", false, NULL), SNAPSHOT_OK, "done, no ack file: ok");
		is_int(snapshot_state_check(path, "s1", true, NULL), SNAPSHOT_REDO, "done, ack file missing: redo");
		/* Snapshot events sit at S = C - 1 = 999: rows 1..5, snapshot_end 6. */
		memset(&cp, 0, sizeof(cp));
		cp.pos.commit_lsn = snapshot_lsn(1000);
		cp.pos.seq = 3;
		cp.snapshot = true;
		is_int(snapshot_state_check(path, "s1", true, &cp), SNAPSHOT_REDO, "ack inside snapshot: redo");
		cp.pos.seq = 6;
		cp.snapshot = false;
		is_int(snapshot_state_check(path, "s1", true, &cp), SNAPSHOT_OK, "ack at snapshot_end: ok");
		cp.pos.seq = 5;
		is_int(snapshot_state_check(path, "s1", true, &cp), SNAPSHOT_REDO, "ack before snapshot_end: redo");
		cp.pos.commit_lsn = 998;
		cp.pos.seq = 100;
		is_int(snapshot_state_check(path, "s1", true, &cp), SNAPSHOT_REDO, "ack before the snapshot: redo");
		cp.pos.commit_lsn = 5000;
		cp.pos.seq = 0;
		is_int(snapshot_state_check(path, "s1", true, &cp), SNAPSHOT_OK, "ack after C: ok");
		{
			FILE *fp = fopen(path, "w");

			fputs("version=1\nslot=s1\nphase=bogus\n", fp);
			fclose(fp);
		}
		is_int(snapshot_state_check(path, "s1", false, NULL), SNAPSHOT_REFUSE, "bad phase: refuse");
		{
			FILE *fp = fopen(path, "w");

			fputs("hello\n", fp);
			fclose(fp);
		}
		is_int(snapshot_state_read(path, &st), -1, "garbage: error");
		unlink(path);
		rmdir(dir);
	}
	return tap_done();
}
