#include "select.h"
#include "buf.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

void
sel_init(struct selector *s)
{
	memset(s, 0, sizeof(*s));
}

/* Call fn on each comma-separated item; empty items are errors. */
static int
each_item(const char *arg, int (*fn)(struct selector *, const char *, size_t), struct selector *s)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || fn(s, p, n) < 0)
			return -1;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

static int
add_table(struct selector *s, const char *p, size_t n)
{
	const char *dot = memchr(p, '.', n);
	struct sel_table *t;

	s->tables = xrealloc(s->tables, sizeof(*s->tables) * (size_t)(s->ntables + 1));
	t = &s->tables[s->ntables];
	if (dot) {
		if (dot == p || dot == p + n - 1 || memchr(dot + 1, '.', (size_t)(p + n - dot - 1)))
			return -1;
		t->schema = xstrndup(p, (size_t)(dot - p));
		t->table = xstrndup(dot + 1, (size_t)(p + n - dot - 1));
	} else {
		t->schema = NULL;
		t->table = xstrndup(p, n);
	}
	s->ntables++;
	s->active = true;
	return 0;
}

static int
add_schema(struct selector *s, const char *p, size_t n)
{
	s->schemas = xrealloc(s->schemas, sizeof(*s->schemas) * (size_t)(s->nschemas + 1));
	s->schemas[s->nschemas++] = xstrndup(p, n);
	s->active = true;
	return 0;
}

static int
add_op(struct selector *s, const char *p, size_t n)
{
	size_t have = strlen(s->ops);

	if (n != 1 || strchr("cudrtm", p[0]) == NULL)
		return -1;
	if (strchr(s->ops, p[0]) == NULL && have < sizeof(s->ops) - 1) {
		s->ops[have] = p[0];
		s->ops[have + 1] = '\0';
	}
	s->active = true;
	return 0;
}

int
sel_add_tables(struct selector *s, const char *arg)
{
	return each_item(arg, add_table, s);
}

int
sel_add_schemas(struct selector *s, const char *arg)
{
	return each_item(arg, add_schema, s);
}

int
sel_add_ops(struct selector *s, const char *arg)
{
	return each_item(arg, add_op, s);
}

static bool
span_eq(const struct json_span *sp, const char *s)
{
	return sp->p != NULL && json_span_eq(sp, s);
}

/* Is op letter c in the list (a few letters: no call to strchr per event)? */
static bool
op_listed(const char *ops, char c)
{
	for (; *ops; ops++)
		if (*ops == c)
			return true;
	return false;
}

bool
sel_match(const struct selector *s, const struct event_info *ev)
{
	if (!s->active)
		return true;
	if (s->ops[0] && (ev->op.len != 1 || !op_listed(s->ops, ev->op.p[0])))
		return false;
	if (s->nschemas) {
		int i;

		for (i = 0; i < s->nschemas; i++)
			if (span_eq(&ev->schema, s->schemas[i]))
				break;
		if (i == s->nschemas)
			return false;
	}
	if (s->ntables) {
		int i;

		for (i = 0; i < s->ntables; i++) {
			const struct sel_table *t = &s->tables[i];

			if (span_eq(&ev->table, t->table) &&
			    (t->schema == NULL || span_eq(&ev->schema, t->schema)))
				break;
		}
		if (i == s->ntables)
			return false;
	}
	return true;
}

void
sel_free(struct selector *s)
{
	for (int i = 0; i < s->ntables; i++) {
		free(s->tables[i].schema);
		free(s->tables[i].table);
	}
	free(s->tables);
	for (int i = 0; i < s->nschemas; i++)
		free(s->schemas[i]);
	free(s->schemas);
	memset(s, 0, sizeof(*s));
}

bool
sel_option(struct selector *s, int c, const char *arg)
{
	switch (c) {
	case SEL_OPT_TABLE:
		if (sel_add_tables(s, arg) < 0)
			die_usage("invalid table list for --table: '%s' (NAME or SCHEMA.NAME, comma-separated)",
				  arg);
		return true;
	case SEL_OPT_SCHEMA:
		if (sel_add_schemas(s, arg) < 0)
			die_usage("invalid schema list for --schema: '%s' (comma-separated names)", arg);
		return true;
	case SEL_OPT_OP:
		if (sel_add_ops(s, arg) < 0)
			die_usage("invalid op list for --op: '%s' (letters of c,u,d,r,t,m, comma-separated)",
				  arg);
		return true;
	}
	return false;
}
