/*
 * progress.c: the snapshot's progress line (see progress.h).
 */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

void
progress_init(struct progress *pg, bool on, uint64_t total)
{
	pg->on = on;
	pg->tty = isatty(STDERR_FILENO) == 1;
	pg->start = mono_ms();
	pg->last = pg->start;
	pg->interval = pg->tty ? 250 : 1000;
	pg->total = total;
	pg->drawn = false;
}

static void
print(struct progress *pg, uint64_t done, int tables_done, int tables, int64_t now, bool final)
{
	double secs = (double)(now - pg->start) / 1000.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	uint64_t total = pg->total > done ? pg->total : done;
	char eta[32] = "";

	if (!final && pg->total > done && rate > 0) {
		long s = (long)((double)(pg->total - done) / rate + 0.5);

		snprintf(eta, sizeof(eta), ", ETA %ld:%02ld", s / 60, s % 60);
	}
	if (pg->total > 0)
		fprintf(stderr, "%s%s: snapshot: %llu of ~%llu rows (%d%%), %d/%d tables, %.0f rows/s%s%s%s",
			pg->tty ? "\r" : "", cdc_progname, (unsigned long long)done,
			(unsigned long long)total, (int)(100.0 * (double)done / (double)total),
			tables_done, tables, rate, eta, final ? ", done" : "",
			pg->tty ? "\033[K" : "\n");
	else
		fprintf(stderr, "%s%s: snapshot: %llu rows, %d/%d tables, %.0f rows/s%s%s",
			pg->tty ? "\r" : "", cdc_progname, (unsigned long long)done,
			tables_done, tables, rate, final ? ", done" : "", pg->tty ? "\033[K" : "\n");
	pg->drawn = pg->tty;
	fflush(stderr);
}

void
progress_update(struct progress *pg, uint64_t done, int tables_done, int tables)
{
	int64_t now;

	if (!pg->on)
		return;
	now = mono_ms();
	if (now - pg->last < pg->interval)
		return;
	pg->last = now;
	print(pg, done, tables_done, tables, now, false);
}

void
progress_finish(struct progress *pg, uint64_t done, int tables_done, int tables)
{
	if (!pg->on)
		return;
	print(pg, done, tables_done, tables, mono_ms(), true);
	if (pg->drawn)
		fputc('\n', stderr);
	pg->drawn = false;
}
