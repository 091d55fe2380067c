/* Unit tests for common/metrics.c: lag samples and the held clock. */
#include "buf.h"
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

static void
test_sizes(void)
{
	struct metrics_sizes h;
	struct buf b = BUF_INIT;

	memset(&h, 0, sizeof(h));
	metrics_sizes_add(&h, 1);
	metrics_sizes_add(&h, 3);
	metrics_sizes_add(&h, 5);
	metrics_sizes_add(&h, 1000);
	metrics_sizes_add(&h, 20000);
	metrics_sizes_write(&b, "program=\"p\"", "x_sizes", "Sizes.", &h);
	ok(strstr(b.data, "# TYPE x_sizes histogram\n") != NULL, "a histogram");
	ok(strstr(b.data, "x_sizes_bucket{program=\"p\",le=\"1\"} 1\n") != NULL, "le=1 holds 1");
	ok(strstr(b.data, "x_sizes_bucket{program=\"p\",le=\"2\"} 1\n") != NULL, "le=2: still 1");
	ok(strstr(b.data, "x_sizes_bucket{program=\"p\",le=\"5\"} 3\n") != NULL, "le=5 holds 3 and 5 (cumulative 3)");
	ok(strstr(b.data, "x_sizes_bucket{program=\"p\",le=\"1000\"} 4\n") != NULL, "le=1000: 4");
	ok(strstr(b.data, "x_sizes_bucket{program=\"p\",le=\"10000\"} 4\n") != NULL, "le=10000: 4");
	ok(strstr(b.data, "x_sizes_bucket{program=\"p\",le=\"+Inf\"} 5\n") != NULL, "+Inf: all 5");
	ok(strstr(b.data, "x_sizes_sum{program=\"p\"} 21009\n") != NULL, "the sum");
	ok(strstr(b.data, "x_sizes_count{program=\"p\"} 5\n") != NULL, "the count");
	buf_reset(&b);
	metrics_sizes_write(&b, "", "y", "Y.", &h);
	ok(strstr(b.data, "y_bucket{le=\"1\"} 1\n") != NULL, "no labels: le alone");
	if (!strstr(b.data, "y_bucket{le=\"1\"} 1\n"))
		diag("%s", b.data);
	buf_release(&b);
}

int
main(void)
{
	test_held_clock();
	test_sizes();
	return tap_done();
}
