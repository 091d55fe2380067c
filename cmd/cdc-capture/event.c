/*
 * event.c: the "source" part of every event capture writes (cdc-events(7)).
 */
#include "event.h"

#include <time.h>

#include "json.h"

int64_t
event_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Floor division: times before 1970 round down, as Debezium's do. */
static int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * ts_ns is off by default: a nanosecond time has 19 digits, more than a
 * double holds exactly, and libjq (cdc-map, cdc-filter expressions) would
 * refuse every event.
 */
void
event_times(struct buf *out, const struct event_ctx *ctx, int64_t ns)
{
	buf_adds(out, "\"ts_ms\":");
	json_add_i64(out, floordiv(ns, 1000000));
	buf_adds(out, ",\"ts_us\":");
	json_add_i64(out, floordiv(ns, 1000));
	if (ctx->ts_ns) {
		buf_adds(out, ",\"ts_ns\":");
		json_add_i64(out, ns);
	}
	buf_addc(out, '}');
}

/* Debezium's "sequence": a JSON array of two LSN strings, as a string. */
static void
add_sequence(struct buf *out, const struct event_src *s)
{
	buf_adds(out, ",\"sequence\":\"[");
	if (s->has_last_commit) {
		buf_adds(out, "\\\"");
		json_add_u64(out, s->last_commit);
		buf_adds(out, "\\\"");
	} else {
		buf_adds(out, "null");
	}
	buf_adds(out, ",\\\"");
	json_add_u64(out, s->lsn);
	buf_adds(out, "\\\"]\"");
}

void
event_source(struct buf *out, const struct event_ctx *ctx, const struct event_src *s, int64_t now_ns)
{
	buf_adds(out, ",\"source\":{\"version\":\"" CDC_VERSION "\",\"connector\":\"postgresql\",\"name\":");
	json_add_cstr(out, ctx->slot ? ctx->slot : "");
	buf_adds(out, ",\"db\":");
	json_add_cstr(out, ctx->db ? ctx->db : "");
	if (s->schema) {
		buf_adds(out, ",\"schema\":");
		json_add_cstr(out, s->schema);
	}
	if (s->table) {
		buf_adds(out, ",\"table\":");
		json_add_cstr(out, s->table);
	}
	buf_adds(out, ",\"txId\":");
	if (s->xid)
		json_add_u64(out, s->xid);
	else
		buf_adds(out, "null");
	buf_adds(out, ",\"lsn\":");
	json_add_u64(out, s->lsn);
	buf_adds(out, ",\"commit_lsn\":");
	json_add_u64(out, s->commit_lsn);
	buf_adds(out, ",\"seq\":");
	json_add_u64(out, s->seq);
	buf_adds(out, ",");
	/* ts_ms, ts_us, ts_ns of the commit: PostgreSQL keeps microseconds. */
	buf_adds(out, "\"ts_ms\":");
	json_add_i64(out, floordiv(s->ts_us, 1000));
	buf_adds(out, ",\"ts_us\":");
	json_add_i64(out, s->ts_us);
	if (ctx->ts_ns) {
		buf_adds(out, ",\"ts_ns\":");
		json_add_i64(out, s->ts_us * 1000);
	}
	buf_adds(out, ",\"snapshot\":\"");
	buf_adds(out, s->snapshot);
	buf_addc(out, '"');
	add_sequence(out, s);
	buf_adds(out, ",\"xmin\":null,\"origin\":");
	if (s->origin) {
		json_add_cstr(out, s->origin);
		buf_adds(out, ",\"origin_lsn\":");
		json_add_u64(out, s->origin_lsn);
	} else {
		buf_adds(out, "null,\"origin_lsn\":null");
	}
	buf_addc(out, '}');
	if (s->tx_member) {
		buf_adds(out, ",\"transaction\":");
		if (s->tx) {
			buf_adds(out, "{\"id\":\"");
			json_add_u64(out, s->tx->xid);
			buf_addc(out, ':');
			json_add_u64(out, s->tx->first_lsn);
			buf_adds(out, "\",\"total_order\":");
			json_add_u64(out, s->tx->total_order);
			buf_adds(out, ",\"data_collection_order\":");
			json_add_u64(out, s->tx->collection_order);
			buf_addc(out, '}');
		} else {
			buf_adds(out, "null");
		}
	}
	buf_addc(out, ',');
	event_times(out, ctx, now_ns);
}

bool
key_use_pk(char replident, int npk, int present, int in_ri)
{
	if (npk <= 0 || present < npk)
		return false;
	/* USING INDEX: a delete's old key holds the index columns only. */
	if (replident == 'i' && in_ri < npk)
		return false;
	return true;
}
