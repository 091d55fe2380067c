/*
 * fuzz_pgoutput.c: cdc-capture's pgoutput decoder and event formatting
 * (cmd/cdc-capture/pgoutput.c, change.c, event.c, types.c).
 *
 * Input: a stream of messages, each preceded by a two-byte big-endian
 * length (what one XLogData payload would hold), decoded in turn by one
 * decoder so that Relation messages populate the cache the later changes
 * use.  Every message pgo_decode() accepts is turned into the event
 * capture would write (change_format, truncate_format, message_format,
 * control_format), and that event must be what every other program
 * accepts: one line (no LF/CR/NUL), valid UTF-8, and event_scan() must
 * parse it with the right op, a position and, for row changes, the
 * relation's schema and table.
 *
 * json/jsonb columns embed the server's text unchanged; a message whose
 * json column text is not valid JSON (the server never sends that) is
 * decoded but not formatted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "buf.h"
#include "change.h"
#include "event.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "pgoutput.h"
#include "types.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

static struct typemap *tm;
static struct buf out;
static const struct event_ctx ctx = { "shop", "slot_a", false };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_pgoutput");
	cdc_verbosity = -1;
	tm = typemap_new(NULL, false);
	return 0;
}

static bool
json_type(uint32_t oid)
{
	return oid == 114 || oid == 3802 || oid == 199 || oid == 3807;
}

/* Would the server have sent this tuple?  (json text is valid JSON.) */
static bool
plausible(const struct pgo_rel *rel, const struct pgo_tuple *t)
{
	for (int i = 0; i < t->ncols && i < rel->ncols; i++) {
		const struct pgo_val *v = &t->vals[i];
		const char *err, *end;
		size_t bad;

		if (v->kind != 't' || !json_type(rel->cols[i].typoid))
			continue;
		if (rel->cols[i].typoid == 199 || rel->cols[i].typoid == 3807)
			return false;
		if (!utf8_valid(v->data, v->len, &bad) || memchr(v->data, '\0', v->len))
			return false;
		end = json_skip(v->data, v->data + v->len, &err);
		if (!end || json_ws(end, v->data + v->len) != v->data + v->len)
			return false;
	}
	return true;
}

/* The event in out must be one valid event line. */
static void
check_event(const char *op, const struct pgo_rel *rel, const struct event_src *p)
{
	struct event_info ev;
	const char *err = NULL;
	size_t where;

	if (text_check(out.data, out.len, &where) != LINE_OK ||
	    memchr(out.data, '\n', out.len) || memchr(out.data, '\r', out.len)) {
		fprintf(stderr, "event is not one clean line: %.*s\n", (int)(out.len > 400 ? 400 : out.len),
			out.data);
		abort();
	}
	if (event_scan(out.data, out.len, &ev, &err) < 0) {
		fprintf(stderr, "event_scan rejects capture's event (%s): %.*s\n", err,
			(int)(out.len > 400 ? 400 : out.len), out.data);
		abort();
	}
	CHECK(json_span_eq(&ev.op, op));
	CHECK(ev.has_pos && ev.pos.commit_lsn == p->commit_lsn && ev.pos.seq == p->seq);
	if (rel) {
		CHECK(ev.schema.p && ev.table.p);
		/* Names with invalid UTF-8 are repaired, so compare valid ones only. */
		if (utf8_valid(rel->nspname, strlen(rel->nspname), &where))
			CHECK(json_span_eq(&ev.schema, rel->nspname));
		if (utf8_valid(rel->relname, strlen(rel->relname), &where))
			CHECK(json_span_eq(&ev.table, rel->relname));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgoutput *d = pgo_new();
	struct pgo_msg m;
	struct change_fmt f;
	struct event_src p = { .lsn = 0x1000, .commit_lsn = 0x2000, .xid = 7, .ts_us = 1700000000000000LL,
			       .snapshot = "false", .tx_member = true };
	size_t off = 0;

	pgo_msg_init(&m);
	change_fmt_init(&f, tm, &ctx);
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		const char *err = NULL;
		char *msg;

		off += 2;
		if (len > size - off)
			len = size - off;
		/*
		 * decode_relation() walks all ncols (up to 65535) columns of a
		 * truncated Relation message, allocating for each: ~80 ms per
		 * 14-byte message here.  Leave those out (each column takes at
		 * least 10 bytes) so the fuzzer spends its time elsewhere.
		 */
		if (len >= 3 && data[off] == 'R') {
			const uint8_t *z1 = memchr(data + off + 5, 0, len > 5 ? len - 5 : 0);
			const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, (size_t)(data + off + len - z1 - 1)) : NULL;

			if (z2 && z2 + 4 <= data + off + len) {
				size_t ncols = (size_t)z2[2] << 8 | z2[3];

				if (ncols > (size_t)(data + off + len - (z2 + 4)) / 10) {
					off += len;
					continue;
				}
			}
		}
		msg = malloc(len ? len : 1);	/* exact size: overreads are caught */
		CHECK(msg != NULL);
		memcpy(msg, data + off, len);
		off += len;
		if (pgo_decode(d, msg, len, &m, &err) < 0) {
			CHECK(err != NULL);
			free(msg);
			continue;
		}
		p.seq++;
		p.lsn++;
		buf_reset(&out);
		switch (m.type) {
		case 'I': case 'U': case 'D':
			CHECK(m.rel != NULL);
			CHECK(m.newtup.ncols <= m.rel->ncols && m.oldtup.ncols <= m.rel->ncols);
			if (!plausible(m.rel, &m.newtup) || !plausible(m.rel, &m.oldtup))
				break;
			if (change_key_changed(&m) && change_new_row_complete(&m)) {
				change_format(&f, &out, &m, CHANGE_OLD_KEY, &p);
				check_event("d", m.rel, &p);
				buf_reset(&out);
				change_format(&f, &out, &m, CHANGE_NEW_KEY, &p);
				check_event("c", m.rel, &p);
				buf_reset(&out);
			}
			change_format(&f, &out, &m, CHANGE_WHOLE, &p);
			check_event(m.type == 'I' ? "c" : m.type == 'U' ? "u" : "d", m.rel, &p);
			break;
		case 'T':
			for (int i = 0; i < m.nrels; i++) {
				const struct pgo_rel *rel = pgo_relation(d, m.relids[i]);

				if (!rel)
					continue;
				buf_reset(&out);
				truncate_format(&f, &out, rel, m.flags, &p);
				check_event("t", rel, &p);
			}
			break;
		case 'M':
			message_format(&f, &out, &m, &p);
			check_event("m", NULL, &p);
			break;
		case 'B':
			p.xid = m.xid;
			control_format(&f, &out, "begin", -1, NULL, 0, 0x1000, &p);
			check_event("begin", NULL, &p);
			(void)pgo_ts_to_ms(m.ts);
			break;
		case 'C':
			p.commit_lsn = m.commit_lsn;
			p.ts_us = pgo_ts_to_us(m.ts);
			{
				struct change_tally t = { "public", "t", 1 };

				control_format(&f, &out, "commit", (long long)p.seq, &t, 1, 0x1000, &p);
			}
			check_event("commit", NULL, &p);
			break;
		case 'R':
			CHECK(m.rel != NULL && pgo_relation(d, m.rel->relid) == m.rel);
			break;
		default:
			break;
		}
		free(msg);
	}
	change_fmt_release(&f);
	pgo_msg_release(&m);
	pgo_free(d);
	return 0;
}
