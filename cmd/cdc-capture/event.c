/*
 * event.c: the "source" part of every event capture writes (cdc-events(7)).
 */
#include "event.h"

#include "json.h"
#include "timeutil.h"

void
event_source(struct buf *out, const struct event_ctx *ctx, const char *schema, const char *table,
	     uint64_t lsn, uint64_t commit_lsn, uint64_t seq, uint32_t xid, int64_t commit_ts_ms,
	     const char *snapshot)
{
	buf_adds(out, ",\"source\":{\"version\":\"" CDC_VERSION "\",\"connector\":\"postgresql\",\"name\":");
	json_add_cstr(out, ctx->slot ? ctx->slot : "");
	buf_adds(out, ",\"db\":");
	json_add_cstr(out, ctx->db ? ctx->db : "");
	if (schema) {
		buf_adds(out, ",\"schema\":");
		json_add_cstr(out, schema);
	}
	if (table) {
		buf_adds(out, ",\"table\":");
		json_add_cstr(out, table);
	}
	buf_adds(out, ",\"txId\":");
	if (xid)
		json_add_u64(out, xid);
	else
		buf_adds(out, "null");
	buf_adds(out, ",\"lsn\":");
	json_add_u64(out, lsn);
	buf_adds(out, ",\"commit_lsn\":");
	json_add_u64(out, commit_lsn);
	buf_adds(out, ",\"seq\":");
	json_add_u64(out, seq);
	buf_adds(out, ",\"ts_ms\":");
	json_add_i64(out, commit_ts_ms);
	buf_adds(out, ",\"snapshot\":\"");
	buf_adds(out, snapshot);
	buf_adds(out, "\"},\"ts_ms\":");
	json_add_i64(out, now_ms());
	buf_addc(out, '}');
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
