/*
 * select.h: the fast selection flags shared by cdc-filter and cdc-replay
 * (--table, --schema, --op), evaluated on event_scan() results without jq.
 *
 * --table NAME matches the table in any schema; SCHEMA.NAME matches one
 * table.  Lists are comma-separated; repeated flags add to the list.
 * Within a flag the entries are alternatives; different flags must all
 * match.  Control events are not data: sel_match() leaves them to the
 * caller (they normally pass).  The selector owns copies of its strings;
 * sel_free() releases them.
 *
 * Options: a program lists SEL_OPTIONS in its option table and passes
 * every option value to sel_option() before its own switch.
 */
#ifndef CDC_SELECT_H
#define CDC_SELECT_H

#include <getopt.h>
#include <stdbool.h>

#include "event.h"
#include "json.h"

struct sel_table {
	char *schema;		/* NULL: any schema */
	char *table;
};

struct selector {
	struct sel_table *tables;
	int ntables;
	char **schemas;
	int nschemas;
	char ops[8];		/* op letters, "" for any */
	bool active;		/* any flag given */
};

enum {
	SEL_OPT_TABLE = 0x4200,
	SEL_OPT_SCHEMA,
	SEL_OPT_OP,
};

#define SEL_OPTIONS \
	{ "table", required_argument, NULL, SEL_OPT_TABLE }, \
	{ "schema", required_argument, NULL, SEL_OPT_SCHEMA }, \
	{ "op", required_argument, NULL, SEL_OPT_OP }

void sel_init(struct selector *s);
/*
 * Take option c with argument arg if it is one of SEL_OPTIONS: returns
 * true (dies with exit 2 on a malformed list), false for any other option.
 */
bool sel_option(struct selector *s, int c, const char *arg);
/* Add from a --table/--schema/--op argument.  Return 0, or -1 if malformed. */
int sel_add_tables(struct selector *s, const char *arg);
int sel_add_schemas(struct selector *s, const char *arg);
int sel_add_ops(struct selector *s, const char *arg);
/* True when a data event matches every flag given (true if none given). */
bool sel_match(const struct selector *s, const struct event_info *ev);
void sel_free(struct selector *s);

#endif
