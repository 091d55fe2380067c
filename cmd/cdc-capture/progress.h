/*
 * progress.h: the snapshot's progress line on stderr.
 *
 * On a terminal the line is redrawn in place ("\r" and erase to the end);
 * when forced (--progress) onto something else it is printed as a new line
 * each time.  It names counts and rates only, never values.
 */
#ifndef CDC_CAPTURE_PROGRESS_H
#define CDC_CAPTURE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool on;		/* print at all */
	bool tty;		/* stderr is a terminal: redraw in place */
	int64_t start;		/* mono_ms() at start */
	int64_t last;		/* mono_ms() of the last print */
	int64_t interval;	/* ms between prints */
	uint64_t total;		/* estimated rows; 0: unknown */
	bool drawn;		/* a line is on the terminal, unterminated */
};

/* on: print at all.  total: estimate of rows (0 when unknown). */
void progress_init(struct progress *pg, bool on, uint64_t total);
/* Print if the interval has passed since the last print (cheap otherwise). */
void progress_update(struct progress *pg, uint64_t done, int tables_done, int tables);
/* Print the final line (when on) and end it with a newline. */
void progress_finish(struct progress *pg, uint64_t done, int tables_done, int tables);

#endif
