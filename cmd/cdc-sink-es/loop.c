/*
 * Driving the transfers: pump() runs libcurl's multi handle and moves the
 * checkpoint; drain() waits for every lane; finish() is the one way out.
 */
#include "sink.h"
#include "log.h"
#include "sig.h"
#include "timeutil.h"

#include <poll.h>
#include <stdlib.h>

static bool
input_readable(const struct sink *s)
{
	struct pollfd p = { .fd = s->in.fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

void
ring_room(struct sink *s)
{
	while (ackring_full(&s->ack)) {
		s->input_idle = true;
		pump(s, 100, false, NULL);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
	}
}

uint64_t
ring_push(struct sink *s, const struct event_info *ev, uint32_t pending)
{
	ring_room(s);
	return ackring_push(&s->ack, ev, pending);
}

void
checkpoint_maybe(struct sink *s)
{
	/* Coalesced: one durable write per interval; the last one is never held back. */
	if (ackring_checkpoint(&s->ack, s->finishing) < 0)
		s->fatal = CDC_EXIT_FAILURE;
}

void
pump(struct sink *s, int timeout_ms, bool watch_input, bool *input_ready)
{
	const struct config *cfg = s->cfg;
	bool seen = false, look = true;

	lanes_kick(s);
	if (!cfg->dry_run) {
		struct curl_waitfd wfd = { .fd = s->in.fd, .events = CURL_WAIT_POLLIN, .revents = 0 };
		struct CURLMsg *m;
		int running, left;

		/* A transfer just added is driven at once (a wait would only poll with a zero timeout). */
		if (timeout_ms > 0 && !s->started) {
			int t = ackring_wait(&s->ack, lanes_next_wake(s, timeout_ms));

			if (t > 0) {
				int64_t t0 = mono_ms();

				curl_multi_poll(s->multi, watch_input ? &wfd : NULL, watch_input ? 1 : 0,
						t, NULL);
				/*
				 * The wait looked at the input: only a wait that ended
				 * early for no reason seen here needs a second look (a
				 * hang-up without data shows in poll(), not in
				 * libcurl's revents).
				 */
				look = mono_ms() - t0 < t;
			}
		}
		/* With no transfer, there is nothing to drive (the idle input's wakes). */
		if (lanes_in_flight(s)) {
			s->started = false;
			curl_multi_perform(s->multi, &running);
			while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
				struct lane *ln;

				if (m->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&ln);
				lane_done(s, ln, m->data.result);
				look = false;	/* the reason the wait ended */
			}
		}
		seen = (wfd.revents & CURL_WAIT_POLLIN) != 0;
	} else if (timeout_ms > 0 && watch_input) {
		struct pollfd p = { .fd = s->in.fd, .events = POLLIN };

		poll(&p, 1, timeout_ms);
	}
	if (watch_input && input_ready)
		*input_ready = seen || (look && input_readable(s));
	lanes_kick(s);
	checkpoint_maybe(s);
	stats_sync(s);
	metrics_tick(&s->m);
}

void
drain(struct sink *s)
{
	s->input_idle = true;
	while (!lanes_empty(s)) {
		pump(s, 100, false, NULL);
		if (s->fatal && s->fatal != CDC_EXIT_DATAERR)
			return;
	}
	checkpoint_maybe(s);
}

_Noreturn void
finish(struct sink *s, int status)
{
	const struct config *cfg = s->cfg;
	if (s->finishing)
		exit(status ? status : CDC_EXIT_FAILURE);
	s->finishing = true;
	if (status == CDC_EXIT_OK || status == CDC_EXIT_DATAERR) {
		drain(s);
		if (s->fatal && (status == CDC_EXIT_OK || s->fatal != CDC_EXIT_DATAERR))
			status = s->fatal;
	}
	checkpoint_maybe(s);
	if (cfg->dry_run && wr_flush(&s->out) < 0)
		wr_die_on_error(&s->out, "standard output");
	if (status == CDC_EXIT_OK && cfg->alias_tmpl && !cdc_stop && !cfg->dry_run)
		status = switch_aliases(s);
	evin_close(&s->in);
	stats_sync(s);
	metrics_finish(&s->m);
	exit(status);
}

void
loop_idle(void *arg)
{
	struct sink *s = arg;
	bool ready = false;

	s->input_idle = true;
	while (!ready) {
		pump(s, 250, true, &ready);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
	}
	evin_input_ready(&s->in);
}

/*
 * While the loop waits for one lane, no input is read, so other lanes'
 * batches will not grow: let free lanes send theirs now (input_idle).
 * A stopped lane never gets idle: stop first.
 */
static void
wait_step(struct sink *s, struct lane *ln)
{
	if (ln->stopped)
		finish(s, s->fatal ? s->fatal : CDC_EXIT_FAILURE);
	pump(s, 100, false, NULL);
	if (s->fatal)
		finish(s, s->fatal);
	if (cdc_stop)
		finish(s, CDC_EXIT_OK);
}

void
loop_wait_lane(struct sink *s, struct lane *ln)
{
	s->input_idle = true;
	while (!lane_idle(ln))
		wait_step(s, ln);
	lane_flush(s, ln);
}

void
loop_wait_doc(struct sink *s, struct lane *ln, uint64_t dochash)
{
	s->input_idle = true;
	while (lane_holds_doc(ln, dochash))
		wait_step(s, ln);
}
