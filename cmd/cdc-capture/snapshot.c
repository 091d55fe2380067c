/*
 * snapshot.c: the consistent initial snapshot (see snapshot.h).
 *
 * Shape of a run:
 *  1. Connect worker 0, BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY,
 *     SET TRANSACTION SNAPSHOT with the slot's exported snapshot.  Read
 *     the published tables, their row filters and column lists, and the
 *     replica-identity columns from the catalogs inside that snapshot.
 *  2. Cut the work into tasks: one per table, and for big plain tables
 *     (PostgreSQL 14+, which scans TID ranges) page ranges
 *     "ctid >= '(a,0)' AND ctid < '(b,0)'", the last one open-ended so
 *     that pages added after the size was read are still covered.  Tasks
 *     run largest first.
 *  3. Connect the other workers the same way (the exporting session is
 *     idle in main.c, so the snapshot stays importable), then run one
 *     COPY ... TO STDOUT per task.  One thread reads every connection with
 *     libpq's asynchronous calls (PQconsumeInput, PQgetCopyData(async))
 *     and poll(), formats each row as it arrives and hands it to the
 *     writer: positions are assigned in emission order, and memory stays
 *     bounded because a connection is only read after its buffered rows
 *     have been written (TCP flow control holds the server back).
 *  4. snapshot_begin before the first row, snapshot_end after the last,
 *     flush, record "done" in the state file.
 */
#include "snapshot.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "copy.h"
#include "json.h"
#include "log.h"
#include "lsn.h"
#include "opt.h"
#include "progress.h"
#include "sig.h"
#include "timeutil.h"

/* Smallest page range worth a task of its own (1 MiB at 8 kB pages). */
#define MIN_CHUNK_PAGES 128
/* A big table is cut into at most this many tasks per job. */
#define CHUNKS_PER_JOB 4

int
snapshot_mode_parse(const char *s, enum snapshot_mode *out)
{
	if (strcmp(s, "initial") == 0)
		*out = SNAPSHOT_INITIAL;
	else if (strcmp(s, "never") == 0)
		*out = SNAPSHOT_NEVER;
	else if (strcmp(s, "only") == 0)
		*out = SNAPSHOT_ONLY;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------ state file */

static const char *const phase_names[] = { "creating", "running", "done" };

int
snapshot_state_write(const char *path, const struct snapshot_state *st)
{
	struct buf b = BUF_INIT;
	char lsn[LSN_BUFSZ], when[RFC3339_BUFSZ];
	int rc = 0;

	buf_adds(&b, "# cdc-capture snapshot state: marks an unfinished snapshot (see cdc-capture(1))\n");
	buf_addf(&b, "version=1\nslot=%s\nphase=%s\nconsistent_lsn=%s\nrows=%llu\nupdated=%s\n",
		 st->slot, phase_names[st->phase], lsn_format(st->consistent_lsn, lsn),
		 (unsigned long long)st->rows, rfc3339_format(now_ms(), when));
	if (atomic_write_file(path, b.data, b.len, 0600) < 0)
		rc = error_errno("cannot write snapshot state file %s", path);
	buf_release(&b);
	return rc;
}

static int
state_parse(const char *path, char *text, struct snapshot_state *st)
{
	bool have_version = false, have_slot = false, have_phase = false;
	unsigned lineno = 0;
	char *save = NULL;

	memset(st, 0, sizeof(*st));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *v;

		lineno++;
		if (*line == '#' || *line == '\0')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			return error("%s: line %u: expected key=value: not a cdc-capture snapshot state file",
				     path, lineno);
		*eq = '\0';
		v = eq + 1;
		if (strcmp(line, "version") == 0) {
			if (strcmp(v, "1") != 0)
				return error("%s: line %u: unsupported version", path, lineno);
			have_version = true;
		} else if (strcmp(line, "slot") == 0) {
			if (strlen(v) >= sizeof(st->slot))
				return error("%s: line %u: slot name too long", path, lineno);
			strcpy(st->slot, v);
			have_slot = true;
		} else if (strcmp(line, "phase") == 0) {
			int i;

			for (i = 0; i < 3 && strcmp(v, phase_names[i]) != 0; i++)
				;
			if (i == 3)
				return error("%s: line %u: unknown phase", path, lineno);
			st->phase = (enum snapshot_phase)i;
			have_phase = true;
		} else if (strcmp(line, "consistent_lsn") == 0) {
			if (lsn_parse(v, &st->consistent_lsn) < 0)
				return error("%s: line %u: consistent_lsn is not an LSN", path, lineno);
		} else if (strcmp(line, "rows") == 0) {
			if (parse_u64(v, 0, UINT64_MAX, &st->rows) < 0)
				return error("%s: line %u: rows is not a number", path, lineno);
		}
	}
	if (!have_version || !have_slot || !have_phase)
		return error("%s: not a cdc-capture snapshot state file (needs version, slot, phase)", path);
	return 0;
}

int
snapshot_state_read(const char *path, struct snapshot_state *st)
{
	char text[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		if (errno == ENOENT)
			return 1;
		return error_errno("cannot open snapshot state file %s", path);
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	if (ferror(f)) {
		fclose(f);
		return error_errno("cannot read snapshot state file %s", path);
	}
	fclose(f);
	if (n == sizeof(text) - 1 || memchr(text, '\0', n))
		return error("%s: not a cdc-capture snapshot state file", path);
	text[n] = '\0';
	return state_parse(path, text, st);
}

int
snapshot_state_begin(const char *path, const char *slot)
{
	struct snapshot_state st;

	memset(&st, 0, sizeof(st));
	if (strlen(slot) >= sizeof(st.slot))
		return error("slot name too long for the snapshot state file");
	strcpy(st.slot, slot);
	st.phase = SNAPSTATE_CREATING;
	return snapshot_state_write(path, &st);
}

enum snapshot_verdict
snapshot_state_check(const char *path, const char *slot, bool ack_given, const struct checkpoint *ack)
{
	struct snapshot_state st;
	char lsn[LSN_BUFSZ], pos[POS_BUFSZ];
	int r;

	if (!path)
		return SNAPSHOT_OK;
	r = snapshot_state_read(path, &st);
	if (r == 1)
		return SNAPSHOT_OK;
	if (r < 0)
		return SNAPSHOT_REFUSE;
	if (strcmp(st.slot, slot) != 0) {
		error("snapshot state file %s belongs to slot \"%s\", not \"%s\"", path, st.slot, slot);
		return SNAPSHOT_REFUSE;
	}
	if (st.phase == SNAPSTATE_CREATING) {
		warning("the snapshot of slot \"%s\" did not start (interrupted while creating the slot): "
			"starting over", slot);
		return SNAPSHOT_REDO;
	}
	lsn_format(st.consistent_lsn, lsn);
	if (st.phase == SNAPSTATE_RUNNING) {
		warning("the snapshot of slot \"%s\" at %s was interrupted: dropping the slot and starting over",
			slot, lsn);
		return SNAPSHOT_REDO;
	}
	if (!ack_given)
		return SNAPSHOT_OK;
	if (!ack) {
		warning("the snapshot of slot \"%s\" at %s was written but the ack file has no checkpoint: "
			"dropping the slot and starting over", slot, lsn);
		return SNAPSHOT_REDO;
	}
	struct cdc_pos end = { st.consistent_lsn, st.rows + 1 };

	if (ack->snapshot || pos_cmp(&ack->pos, &end) < 0) {
		warning("the snapshot of slot \"%s\" at %s ended at %s but the ack file's checkpoint is at %s%s: "
			"dropping the slot and starting over", slot, lsn, pos_format(&end, pos),
			pos_format(&ack->pos, (char[POS_BUFSZ]){ 0 }), ack->snapshot ? " (inside the snapshot)" : "");
		return SNAPSHOT_REDO;
	}
	return SNAPSHOT_OK;
}
