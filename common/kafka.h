/*
 * kafka.h: what cdc-sink-kafka and cdc-source-kafka share about Kafka.
 *
 * The connection: -b/--brokers, -X/--property NAME=VALUE (any librdkafka
 * property, as kcat takes them) and --kafka-config FILE (a properties
 * file: NAME=VALUE lines, '#' comments).  Secrets never go on the command
 * line: -X refuses properties that hold one (sasl.password, ssl.key.password,
 * sasl.oauthbearer.config, ...), which belong in the file or in the
 * environment (CDC_KAFKA_SASL_USERNAME, CDC_KAFKA_SASL_PASSWORD).  The
 * file comes first, then -X in order, so the command line wins.  TLS
 * verification is librdkafka's default (on).  librdkafka's log lines go
 * to stderr as "prog: kafka: ..." (debug ones only with -vv).
 *
 * Topic names: kafka_topic() expands a template's {name} (source.name,
 * the slot), {db}, {schema} and {table}, and replaces every character
 * Kafka does not allow in a topic name with '_', as Debezium does.
 * kafka_template_regex() turns a template into the regular expression of
 * the topics it can make for one source (its name and database), to find
 * them on the broker.
 *
 * Messages carry the event line as value, byte for byte, the event's key
 * as key, and the headers "op" and "position" (cdc-events(7)).
 */
#ifndef CDC_KAFKA_H
#define CDC_KAFKA_H

#include <getopt.h>
#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "event.h"

enum {
	KAFKA_OPT_CONFIG = 0x4400,
};

#define KAFKA_OPTIONS \
	{ "brokers", required_argument, NULL, 'b' }, \
	{ "property", required_argument, NULL, 'X' }, \
	{ "kafka-config", required_argument, NULL, KAFKA_OPT_CONFIG }

#define KAFKA_SHORTOPTS "b:X:"

#define KAFKA_HELP \
	"Kafka:\n" \
	"  -b, --brokers LIST           bootstrap brokers, host:port[,host:port...]\n" \
	"  -X, --property NAME=VALUE    a librdkafka property (repeatable; no secrets)\n" \
	"      --kafka-config FILE      librdkafka properties, NAME=VALUE per line (for\n" \
	"                               credentials: sasl.password, ssl.key.password)\n"

struct kafka_opts {
	const char *brokers;
	const char *config_file;
	char **props;			/* NAME=VALUE from -X, in order */
	int nprops;
	char **set;			/* names the file and -X set (kafka_conf()) */
	int nset;
};

/* Take option c if it is one of KAFKA_OPTIONS: true, or false for any other (exit 2 on a bad value). */
bool kafka_option(struct kafka_opts *o, int c, const char *arg);

/*
 * A librdkafka configuration: bootstrap.servers, client.id = the program's
 * name, the config file, the credentials from the environment, then -X.
 * Dies with exit 2 on an unknown property or a bad value.
 */
rd_kafka_conf_t *kafka_conf(struct kafka_opts *o);
/* Set one property or die with exit 2. */
void kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value);
/* A program's default: set unless the file or -X set the property. */
void kafka_default(rd_kafka_conf_t *conf, const struct kafka_opts *o, const char *name,
		   const char *value);

/*
 * The partition of key among n, as the Java clients' default partitioner
 * picks it (murmur2 of the key's bytes, sign bit cleared, modulo n), so
 * that Kafka Streams and Debezium consumers co-partition with us.
 */
int32_t kafka_partition(const void *key, size_t len, int32_t n);
/* Kafka's murmur2 (the Java clients' Utils.murmur2), for tests. */
int32_t kafka_murmur2(const void *key, size_t len);

/* Is err one that a restart may cure (broker down, timeouts)? */
bool kafka_err_temporary(rd_kafka_resp_err_t err);

/* The topic for ev: tmpl expanded into out (reset first). */
void kafka_topic(const char *tmpl, const struct event_info *ev, struct buf *out);
/*
 * The anchored regular expression (POSIX extended) of the topics tmpl
 * makes for source name and database db, into out.  Returns -1 (out
 * empty) when tmpl has {name} or {db} and that value is NULL: without it
 * the expression would match other sources' topics too.
 */
int kafka_template_regex(const char *tmpl, const char *name, const char *db, struct buf *out);
/* Is tmpl a valid template (known placeholders only)?  -1 with *err set if not. */
int kafka_template_check(const char *tmpl, const char **err);

#endif
