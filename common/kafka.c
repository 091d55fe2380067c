/*
 * Kafka connection options, librdkafka configuration and topic names
 * (kafka.h).
 */
#include "kafka.h"
#include "fileio.h"
#include "json.h"
#include "kvfile.h"
#include "log.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* Properties that hold a secret: never from argv. */
static bool
is_secret(const char *name, size_t len)
{
	static const char *const words[] = { "password", "secret", "oauthbearer.config", "jaas",
					     "key.pem", "token" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t wl = strlen(words[i]);

		for (size_t j = 0; j + wl <= len; j++)
			if (strncasecmp(name + j, words[i], wl) == 0)
				return true;
	}
	return false;
}

bool
kafka_option(struct kafka_opts *o, int c, const char *arg)
{
	const char *eq;

	switch (c) {
	case 'b':
		if (arg[0] == '\0')
			die_usage("--brokers needs host:port");
		o->brokers = arg;
		return true;
	case 'X':
		eq = strchr(arg, '=');
		if (eq == NULL || eq == arg)
			die_usage("-X needs NAME=VALUE");
		if (is_secret(arg, (size_t)(eq - arg)))
			die_usage("-X %.*s: secrets never go on the command line; put it in --kafka-config FILE "
				  "or the environment (CDC_KAFKA_SASL_PASSWORD)", (int)(eq - arg), arg);
		o->props = xrealloc(o->props, (size_t)(o->nprops + 1) * sizeof(*o->props));
		o->props[o->nprops++] = (char *)arg;
		return true;
	case KAFKA_OPT_CONFIG:
		o->config_file = arg;
		return true;
	}
	return false;
}

void
kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char err[256];

	if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die_usage("Kafka property %s: %s", name, err);
}

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
	(void)rk;
	/* Broker trouble is retried by librdkafka: say so, but it is not ours to warn about. */
	info(level <= LOG_ERR ? 0 : level <= LOG_NOTICE ? 1 : 2, "kafka: %s: %s", fac, msg);
}

/* The same trouble again as an error event: only with -v (the log line said it). */
static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		warning("kafka: %s", reason);
	else
		info(1, "kafka: %s", reason);
}

void
kafka_default(rd_kafka_conf_t *conf, const struct kafka_opts *o, const char *name,
	      const char *value)
{
	for (int i = 0; i < o->nset; i++)
		if (strcmp(o->set[i], name) == 0)
			return;
	kafka_set(conf, name, value);
}

static void
set_span(struct kafka_opts *o, rd_kafka_conf_t *conf, const char *k, size_t kl, const char *v,
	 size_t vl, const char *file, unsigned line)
{
	char name[256], err[256];
	char *value = xmalloc(vl + 1);

	if (kl >= sizeof(name))
		die_usage("%s:%u: property name too long", file, line);
	memcpy(name, k, kl);
	name[kl] = '\0';
	memcpy(value, v, vl);
	value[vl] = '\0';
	if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die_usage("%s:%u: %s", file, line, err);
	free(value);
	o->set = xrealloc(o->set, (size_t)(o->nset + 1) * sizeof(*o->set));
	o->set[o->nset++] = xstrdup(name);
}

/*
 * librdkafka allocates and frees several blocks per message (the message
 * and its copy of the value, the header list, each header), from the
 * producing thread and its broker threads.  With glibc's defaults the heap
 * top is given back to the kernel whenever it shrinks past 128 KiB and
 * taken again as the queue fills: measured on cdc-sink-kafka at 300k
 * messages, 8-25k page faults (each a page zeroed by the kernel) against
 * 4-7k with the heap kept, and 15% less CPU.  Keep up to 64 MiB of freed heap, grow it in
 * 16 MiB steps and keep blocks under 4 MiB out of mmap().  A process that
 * once held that much may well need it again.
 */
static void
keep_heap(void)
{
#ifdef __GLIBC__
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

rd_kafka_conf_t *
kafka_conf(struct kafka_opts *o)
{
	rd_kafka_conf_t *conf;
	const char *user = getenv("CDC_KAFKA_SASL_USERNAME");
	const char *pass = getenv("CDC_KAFKA_SASL_PASSWORD");

	keep_heap();
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	kafka_set(conf, "log.connection.close", "false");
	kafka_set(conf, "client.id", cdc_progname);
	if (o->brokers)
		kafka_set(conf, "bootstrap.servers", o->brokers);
	if (o->config_file) {
		struct buf b = BUF_INIT;
		struct kv_iter it;
		const char *k, *v;
		size_t kl, vl;
		int r;

		r = read_file(o->config_file, 1 << 20, false, &b);
		if (r == 1)
			die_usage("--kafka-config %s: no such file", o->config_file);
		if (r < 0)
			die_usage("--kafka-config %s: %s", o->config_file, strerror(errno));
		kv_begin(&it, b.data ? b.data : "", b.len);
		while ((r = kv_next(&it, &k, &kl, &v, &vl)) != 0) {
			if (r < 0)
				die_usage("%s:%u: not NAME=VALUE", o->config_file, it.lineno);
			while (kl > 0 && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
				kl--;
			while (vl > 0 && (*v == ' ' || *v == '\t'))
				v++, vl--;
			set_span(o, conf, k, kl, v, vl, o->config_file, it.lineno);
		}
		buf_release(&b);
	}
	if (user && *user)
		kafka_set(conf, "sasl.username", user);
	if (pass && *pass)
		kafka_set(conf, "sasl.password", pass);
	for (int i = 0; i < o->nprops; i++) {
		const char *eq = strchr(o->props[i], '=');

		set_span(o, conf, o->props[i], (size_t)(eq - o->props[i]), eq + 1, strlen(eq + 1), "-X", 1);
	}
	{
		char v[512];
		size_t vs = sizeof(v);

		if (rd_kafka_conf_get(conf, "bootstrap.servers", v, &vs) != RD_KAFKA_CONF_OK || v[0] == '\0')
			die_usage("no brokers: give --brokers HOST:PORT (or bootstrap.servers in --kafka-config)");
	}
	return conf;
}

int32_t
kafka_murmur2(const void *key, size_t len)
{
	const unsigned char *d = key;
	const uint32_t m = 0x5bd1e995;
	uint32_t h = 0x9747b28c ^ (uint32_t)len;
	size_t i;

	for (i = 0; i + 4 <= len; i += 4) {
		uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2] << 16 |
			     (uint32_t)d[i + 3] << 24;

		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len & 3) {
	case 3: h ^= (uint32_t)d[i + 2] << 16; /* fall through */
	case 2: h ^= (uint32_t)d[i + 1] << 8; /* fall through */
	case 1: h ^= d[i]; h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return (int32_t)h;
}

int32_t
kafka_partition(const void *key, size_t len, int32_t n)
{
	return (int32_t)(((uint32_t)kafka_murmur2(key, len) & 0x7fffffff) % (uint32_t)n);
}

bool
kafka_err_temporary(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
	case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
	case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
		return true;
	default:
		return false;
	}
}

static const char *const placeholders[] = { "name", "db", "schema", "table" };

static const struct json_span *
placeholder(const struct event_info *ev, int i)
{
	switch (i) {
	case 0: return &ev->name;
	case 1: return &ev->db;
	case 2: return &ev->schema;
	default: return &ev->table;
	}
}

/* The placeholder at p ("{...}"): its index and length, or -1. */
static int
match_placeholder(const char *p, size_t *len)
{
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(placeholders[i]);

		if (p[0] == '{' && strncmp(p + 1, placeholders[i], n) == 0 && p[n + 1] == '}') {
			*len = n + 2;
			return i;
		}
	}
	return -1;
}

static bool
topic_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int
kafka_template_check(const char *tmpl, const char **err)
{
	size_t n;

	if (*tmpl == '\0') {
		*err = "empty topic";
		return -1;
	}
	for (const char *p = tmpl; *p; p++) {
		if (*p == '{') {
			if (match_placeholder(p, &n) < 0) {
				*err = "unknown placeholder (known: {name} {db} {schema} {table})";
				return -1;
			}
			p += n - 1;
		} else if (!topic_char((unsigned char)*p)) {
			*err = "a topic name has only letters, digits, '.', '_' and '-'";
			return -1;
		}
	}
	return 0;
}

void
kafka_topic(const char *tmpl, const struct event_info *ev, struct buf *out)
{
	struct buf v = BUF_INIT;
	size_t n;

	buf_reset(out);
	for (const char *p = tmpl; *p; p++) {
		int i = *p == '{' ? match_placeholder(p, &n) : -1;

		if (i < 0) {
			buf_addc(out, *p);
			continue;
		}
		buf_reset(&v);
		if (placeholder(ev, i)->p)
			json_span_decode(placeholder(ev, i), &v);
		if (v.len == 0)
			buf_adds(out, "_");
		for (size_t j = 0; j < v.len; j++)
			buf_addc(out, topic_char((unsigned char)v.data[j]) ? v.data[j] : '_');
		p += n - 1;
	}
	buf_release(&v);
	if (out->len > 249)
		out->len = 249;		/* Kafka's limit */
	buf_addc(out, '\0');
	out->len--;
}

static void
regex_lit(struct buf *out, char c)
{
	if (strchr(".[]()*+?^$|\\{}", c))
		buf_addc(out, '\\');
	buf_addc(out, c);
}

int
kafka_template_regex(const char *tmpl, const char *name, const char *db, struct buf *out)
{
	size_t n;
	int i;

	buf_reset(out);
	buf_addc(out, '^');
	for (const char *p = tmpl; *p; p++) {
		if (*p == '{' && (i = match_placeholder(p, &n)) >= 0) {
			const char *v = i == 0 ? name : i == 1 ? db : "";

			if (v == NULL) {
				buf_reset(out);
				return -1;
			}
			if (i >= 2)
				buf_adds(out, "[A-Za-z0-9._-]+");
			for (; *v; v++)		/* as kafka_topic() writes it */
				regex_lit(out, topic_char((unsigned char)*v) ? *v : '_');
			if (i < 2 && (i == 0 ? name : db)[0] == '\0')
				buf_addc(out, '_');
			p += n - 1;
		} else {
			regex_lit(out, *p);
		}
	}
	buf_addc(out, '$');
	buf_addc(out, '\0');
	out->len--;
	return 0;
}
