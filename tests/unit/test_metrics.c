/* Unit tests for common/metrics.c: lag samples and the held clock. */
#include "metrics.h"
#include "tap.h"
#include "timeutil.h"

#include <string.h>
#include <time.h>

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
test_held_clock(void)
{
	struct metrics m;
	int64_t held;

	memset(&m, 0, sizeof(m));
	metrics_init(&m, "test");
	is_int((int)metrics_lag_quantile(&m, 0.5), -1, "no samples: no quantile");

	/* Samples taken while the clock is held use the held reading. */
	metrics_clock_hold(&m);
	held = m.held_ms;
	ok(held > 0, "hold reads the clock");
	sleep_ms(40);
	metrics_lag_since(&m, held - 5);
	metrics_lag_since(&m, held - 5);
	is_int((int)metrics_lag_quantile(&m, 0.99), 5, "a held sample is the held time minus the commit time");
	metrics_clock_release(&m);
	is_int((int)m.held_ms, 0, "release forgets the reading");

	/* Released: the clock is read again (40 ms have passed since the hold). */
	memset(m.lag, 0, sizeof(m.lag));
	metrics_lag_since(&m, held - 5);
	ok(metrics_lag_quantile(&m, 0.5) >= 40, "after release a sample reads the clock");
	is_int((int)m.lag_count, 3, "three samples counted");
}

int
main(void)
{
	test_held_clock();
	return tap_done();
}
