/*
 * docid.h: what an event's document is called: its index and its _id.
 *
 * Index: a template with {db}, {schema}, {table} replaced by the event's
 * source fields, lower-cased (Elasticsearch index names must be lower case).
 *
 * Id, from the event's "key" object (the row's replica-identity columns):
 *   - one column: its value as text: a string as is (decoded), a number,
 *     true or false as its JSON literal, an object or array as its JSON text;
 *   - several columns: each value as above with '%' written as "%25" and
 *     ',' as "%2C", joined with ',' in the key's column order; a comma in
 *     the id therefore always separates columns;
 *   - an id longer than 512 bytes (the _id limit) becomes "sha256:" and the
 *     64 hex digits of the SHA-256 of the id text.
 * A null or empty key, a null key column, a key naming a column twice
 * (decoded: "a" and "\u0061" are one name), or a single key column holding
 * the empty string (Elasticsearch refuses an empty _id) has no id.
 *
 * All functions append to a caller-owned buf and allocate nothing else.
 */
#ifndef CDC_SINK_DOCID_H
#define CDC_SINK_DOCID_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "json.h"

#define DOCID_MAX 512

/*
 * Append the id for the raw "key" value (key/klen as event_scan() found it;
 * key may be NULL when absent).  Returns 0, or -1 with *err set to a static
 * reason ("no key", ...) and out unchanged.
 */
int docid_from_key(const char *key, size_t klen, struct buf *out, const char **err);

/*
 * The id the row had in an old image (the event's "before"): the key's
 * column names looked up in image.  Returns 1 with the id appended, 0 when
 * the image lacks one of the columns (nothing appended), -1 on malformed
 * input (*err set).
 */
int docid_from_image(const char *key, size_t klen, const char *image, size_t ilen,
		     struct buf *out, const char **err);

/* Append the index name for the template and the event's source fields. */
void index_name(const char *tmpl, const struct event_info *ev, struct buf *out);

/* True when the template names the table ({table} appears). */
int index_has_table(const char *tmpl);
/*
 * Check an --index or --alias template before any event: its placeholders
 * are {db}, {schema} and {table}, its fixed text has what Elasticsearch
 * takes in a name (lower case, none of \ / * ? " < > | space , # :, no
 * leading - _ +).  Returns 0, or -1 with the reason in why.
 */
int index_template_check(const char *tmpl, char *why, size_t size);

/* FNV-1a over the index name and id: the lane a document travels on. */
uint64_t doc_hash(const char *index, size_t ilen, const char *id, size_t idlen);

#endif
