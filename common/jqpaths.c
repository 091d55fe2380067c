/*
 * jqpaths.c: the members of its input a jq program can observe (see
 * jqpaths.h).  A lexer for jq 1.6 program text, then one pass over the
 * tokens with a stack of groups, tracking for each group whether its input
 * is the program's input (the top context, where only the accepted subset
 * may appear) and whether the current pipe segment is a single field path.
 * Anything not understood gives up: the whole input is then built.
 */
#include "jqpaths.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

enum tk {
	T_END, T_FIELD, T_DOT, T_REC, T_DOTBRACK, T_STR, T_NUM, T_IDENT, T_VAR, T_FORMAT,
	T_LP, T_RP, T_LB, T_RB, T_LC, T_RC, T_PIPE, T_COMMA, T_COLON, T_SEMI, T_QUEST, T_OP,
	T_ASSIGN,
};

struct tok {
	enum tk k;
	const char *s;		/* T_FIELD, T_STR, T_IDENT, T_VAR: the name or text */
	size_t n;
	bool esc;		/* T_FIELD, T_STR: has escapes (not usable as a name) */
};

struct toks {
	struct tok *t;
	size_t n, cap;
};

static void
push_tok(struct toks *v, enum tk k, const char *s, size_t n, bool esc)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 64;
		v->t = xrealloc(v->t, v->cap * sizeof(*v->t));
	}
	v->t[v->n++] = (struct tok){ k, s, n, esc };
}

static bool
ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The end of the string literal whose opening quote is at s, or NULL. */
static const char *
lex_string(const char *s, bool *esc)
{
	const char *q = s + 1;

	*esc = false;
	for (;;) {
		if (*q == '\0')
			return NULL;
		if (*q == '"')
			return q;
		if (*q == '\\') {
			if (q[1] == '(' || q[1] == '\0')
				return NULL;	/* interpolation: not followed */
			*esc = true;
			q += 2;
			continue;
		}
		q++;
	}
}

static const char *
lex_number(const char *p)
{
	while (digit(*p))
		p++;
	if (*p == '.') {
		p++;
		while (digit(*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		const char *e = p + 1;

		if (*e == '+' || *e == '-')
			e++;
		if (digit(*e)) {
			while (digit(*e))
				e++;
			p = e;
		}
	}
	return p;
}

/* Tokens of program; false on anything not followed. */
static bool
lex(const char *p, struct toks *v)
{
	static const char *const ops[] = {
		"?//", "//=", "|=", "+=", "-=", "*=", "/=", "%=", "==", "!=", "<=", ">=", "//",
		"<", ">", "+", "-", "*", "/", "%", "=",
	};

	for (;;) {
		const char *q;
		bool esc;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (*p == '\0') {
			push_tok(v, T_END, p, 0, false);
			return true;
		}
		if (*p == '.') {
			if (p[1] == '.') {
				push_tok(v, T_REC, p, 2, false);
				p += 2;
			} else if (ident_start(p[1])) {
				for (q = p + 1; ident_char(*q); q++)
					;
				push_tok(v, T_FIELD, p + 1, (size_t)(q - p - 1), false);
				p = q;
			} else if (p[1] == '"') {
				q = lex_string(p + 1, &esc);
				if (q == NULL)
					return false;
				push_tok(v, T_FIELD, p + 2, (size_t)(q - p - 2), esc);
				p = q + 1;
			} else if (digit(p[1])) {
				push_tok(v, T_NUM, p, 0, false);
				p = lex_number(p);
			} else if (p[1] == '[') {
				push_tok(v, T_DOTBRACK, p, 2, false);
				p += 2;
			} else {
				push_tok(v, T_DOT, p, 1, false);
				p++;
			}
			continue;
		}
		if (*p == '"') {
			q = lex_string(p, &esc);
			if (q == NULL)
				return false;
			push_tok(v, T_STR, p + 1, (size_t)(q - p - 1), esc);
			p = q + 1;
			continue;
		}
		if (digit(*p)) {
			push_tok(v, T_NUM, p, 0, false);
			p = lex_number(p);
			continue;
		}
		if (ident_start(*p)) {
			for (q = p; ident_char(*q); q++)
				;
			if (q[0] == ':' && q[1] == ':')
				return false;	/* a module's function */
			push_tok(v, T_IDENT, p, (size_t)(q - p), false);
			p = q;
			continue;
		}
		if (*p == '$') {
			q = p + 1;
			while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
				q++;
			if (!ident_start(*q))
				return false;
			p = q;
			while (ident_char(*q))
				q++;
			if (q[0] == ':' && q[1] == ':')
				return false;
			push_tok(v, T_VAR, p, (size_t)(q - p), false);
			p = q;
			continue;
		}
		if (*p == '@') {
			push_tok(v, T_FORMAT, p, 1, false);
			for (p++; ident_char(*p); p++)
				;
			continue;
		}
		switch (*p) {
		case '(': push_tok(v, T_LP, p, 1, false); p++; continue;
		case ')': push_tok(v, T_RP, p, 1, false); p++; continue;
		case '[': push_tok(v, T_LB, p, 1, false); p++; continue;
		case ']': push_tok(v, T_RB, p, 1, false); p++; continue;
		case '{': push_tok(v, T_LC, p, 1, false); p++; continue;
		case '}': push_tok(v, T_RC, p, 1, false); p++; continue;
		case ',': push_tok(v, T_COMMA, p, 1, false); p++; continue;
		case ':': push_tok(v, T_COLON, p, 1, false); p++; continue;
		case ';': push_tok(v, T_SEMI, p, 1, false); p++; continue;
		default: break;
		}
		if (*p == '|' && p[1] != '=') {
			push_tok(v, T_PIPE, p, 1, false);
			p++;
			continue;
		}
		if (*p == '?' && !(p[1] == '/' && p[2] == '/')) {
			push_tok(v, T_QUEST, p, 1, false);
			p++;
			continue;
		}
		{
			size_t i;

			for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
				size_t n = strlen(ops[i]);

				if (strncmp(p, ops[i], n) == 0)
					break;
			}
			if (i == sizeof(ops) / sizeof(ops[0]) || strcmp(ops[i], "?//") == 0)
				return false;
			push_tok(v, ops[i][strlen(ops[i]) - 1] == '=' && strcmp(ops[i], "==") &&
						    strcmp(ops[i], "!=") && strcmp(ops[i], "<=") &&
						    strcmp(ops[i], ">=")
					    ? T_ASSIGN
					    : T_OP,
				 p, strlen(ops[i]), false);
			p += strlen(ops[i]);
		}
	}
}

/* --- the tree --- */

int
jqpaths_child(const struct jqpaths *t, int i, const char *s, size_t len)
{
	for (int c = t->node[i].child; c >= 0; c = t->node[c].next)
		if (t->node[c].len == len && memcmp(t->node[c].name, s, len) == 0)
			return c;
	return -1;
}

/* The child of i named s, added when missing; -1 when the tree is full. */
static int
child_add(struct jqpaths *t, int i, const char *s, size_t len)
{
	int c = jqpaths_child(t, i, s, len);
	struct jqpath_node *nd;

	if (c >= 0)
		return c;
	if (t->n >= JQPATHS_MAX)
		return -1;
	c = t->n++;
	nd = &t->node[c];
	nd->name = xmalloc(len + 1);
	memcpy(nd->name, s, len);
	nd->name[len] = '\0';
	nd->len = len;
	nd->child = -1;
	nd->full = false;
	nd->raw = false;
	nd->next = t->node[i].child;
	t->node[i].child = c;
	return c;
}

void
jqpaths_free(struct jqpaths *t)
{
	for (int i = 1; i < t->n; i++)
		free(t->node[i].name);
	t->n = 0;
}

/* --- the analysis --- */

enum seg {
	SEG_EMPTY,		/* nothing yet since the group start, `|`, `;` ... */
	SEG_PATH,		/* a single field path (of the group's input) */
	SEG_SELECT,		/* select(...), top context */
	SEG_OTHER,
};

struct group {
	char kind;		/* '^' program, '(' , '[', '{', 'i' if */
	bool top_init;		/* the group's input is the program's input */
	bool top;		/* ... for the current pipe segment */
	enum seg seg;
	bool key;		/* '{': a key is next */
	bool call_select;	/* '(': the arguments of select in the top context */
	bool out;		/* '{': the object is a whole output (flows_out()) */
};

#define MAX_DEPTH 64

struct an {
	struct jqpaths *t;
	const struct tok *tok;
	size_t i;
	struct group g[MAX_DEPTH];
	int depth;		/* index of the innermost group */
	int path;		/* node of the path being followed, -1: none */
	size_t path_start;	/* its first token */
	bool path_plain;	/* it is only .name and postfix .name or ["name"] */
	bool looked[JQPATHS_MAX];	/* the node's value is used other than as an output */
	bool prev_term;		/* the previous token ended a term */
	bool truthy_only;
};

static bool
is(const struct tok *k, const char *word)
{
	return k->k == T_IDENT && k->n == strlen(word) && memcmp(k->s, word, k->n) == 0;
}

static bool
is_any(const struct tok *k, const char *const *words)
{
	for (; *words; words++)
		if (is(k, *words))
			return true;
	return false;
}

/*
 * Whether a `|` follows token i in its group (up to the group's end), which
 * would take the outputs of `A, B` further: `as` and `label` bring one too.
 */
static bool
pipe_follows(const struct an *a, size_t i)
{
	int depth = 0;

	for (; a->tok[i].k != T_END && depth >= 0; i++) {
		const struct tok *k = &a->tok[i];

		if (k->k == T_LP || k->k == T_LB || k->k == T_LC || k->k == T_DOTBRACK || is(k, "if"))
			depth++;
		else if (k->k == T_RP || k->k == T_RB || k->k == T_RC || is(k, "end"))
			depth--;
		else if (depth == 0 && k->k == T_PIPE)
			return true;
	}
	return false;
}

/* The index of the token closing the group token i opens, or 0. */
static size_t
group_end(const struct an *a, size_t i)
{
	int depth = 0;

	for (; a->tok[i].k != T_END; i++) {
		enum tk k = a->tok[i].k;

		if (k == T_LP || k == T_LB || k == T_LC || k == T_DOTBRACK)
			depth++;
		else if ((k == T_RP || k == T_RB || k == T_RC) && --depth == 0)
			return i;
	}
	return 0;
}

/*
 * Whether the term of tokens [s, e) of the current group is a whole output
 * of the program: all of a top-level `A, B` (one of its parts) that no `|`
 * takes further, or the value of a member of an object that is one.  Its
 * value then goes to the output untouched.
 */
static bool
flows_out(const struct an *a, size_t s, size_t e)
{
	const struct group *g = &a->g[a->depth];
	enum tk before = s > 0 ? a->tok[s - 1].k : T_PIPE, after = a->tok[e].k;

	if (a->truthy_only)
		return false;
	if (g->kind == '^')
		return g->top && (before == T_PIPE || before == T_COMMA) &&
		       (after == T_END || (after == T_COMMA && !pipe_follows(a, e)));
	if (g->kind == '{')
		return g->out && before == T_COLON && (after == T_COMMA || after == T_RC);
	return false;
}

/*
 * The path followed so far is used as a whole: build all of it.  Unless it
 * is a whole output (flows_out()), the program looks at its value.
 */
static void
end_path(struct an *a)
{
	if (a->path >= 0) {
		a->t->node[a->path].full = true;
		if (!a->path_plain || !flows_out(a, a->path_start, a->i))
			a->looked[a->path] = true;
	}
	a->path = -1;
}

static bool
push_group(struct an *a, char kind, bool top)
{
	struct group *g;

	if (a->depth + 1 >= MAX_DEPTH)
		return false;
	g = &a->g[++a->depth];
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->top_init = g->top = top;
	g->seg = SEG_EMPTY;
	g->key = kind == '{';
	return true;
}

/* A term begins in group g: the segment is no longer a lone path. */
static void
term_starts(struct group *g)
{
	if (g->seg == SEG_EMPTY || g->seg == SEG_PATH)
		g->seg = SEG_OTHER;
}

/* A `{` key at a->i; false when not followed. */
static bool
object_key(struct an *a, struct group *g)
{
	const struct tok *k = &a->tok[a->i], *nx = &a->tok[a->i + 1];

	g->key = false;
	if (k->k == T_IDENT || (k->k == T_STR && !k->esc)) {
		if (nx->k == T_COLON) {
			a->i += 2;	/* a label, then the value */
			g->top = g->top_init;
			g->seg = SEG_EMPTY;
			a->prev_term = false;
			return true;
		}
		if (nx->k == T_COMMA || nx->k == T_RC) {
			/* {name}: the value of .name */
			if (g->top_init) {
				int c = child_add(a->t, 0, k->s, k->n);

				if (c < 0)
					return false;
				a->t->node[c].full = true;
				if (!g->out)
					a->looked[c] = true;
			}
			a->i++;
			a->prev_term = true;
			g->seg = SEG_OTHER;
			return true;
		}
		return false;
	}
	if (k->k == T_VAR && (nx->k == T_COMMA || nx->k == T_RC)) {
		a->i++;
		a->prev_term = true;
		g->seg = SEG_OTHER;
		return true;
	}
	if (k->k == T_LP) {
		/* (expr): the key is computed on the group's input */
		if (!push_group(a, '(', g->top_init))
			return false;
		a->i++;
		a->prev_term = false;
		return true;
	}
	return false;
}

/* One identifier: a keyword that opens, continues or closes a group, or a
 * builtin's name (in the top context only those that read no member). */
static bool
ident(struct an *a, struct group *g, const struct tok *k)
{
	static const char *const refused[] = {
		"def", "import", "include", "module", "input", "inputs", "__loc__", NULL,
	};
	static const char *const top_ok[] = {
		"not", "type", "empty", "true", "false", "null", "env", "now", "halt",
		"and", "or", "try", "catch", "as", "reduce", "foreach", "label", "break", NULL,
	};

	end_path(a);
	if (is_any(k, refused))
		return false;
	if (is(k, "if")) {
		term_starts(g);
		if (!push_group(a, 'i', g->top))
			return false;
		a->prev_term = false;
	} else if (is(k, "then") || is(k, "elif") || is(k, "else")) {
		if (g->kind != 'i')
			return false;
		g->top = g->top_init;
		g->seg = SEG_EMPTY;
		a->prev_term = false;
	} else if (is(k, "end")) {
		if (g->kind != 'i' || a->depth == 0)
			return false;
		a->depth--;
		a->prev_term = true;
	} else if (is(k, "and") || is(k, "or") || is(k, "as") || is(k, "try") ||
		   is(k, "catch") || is(k, "reduce") || is(k, "foreach") ||
		   is(k, "label")) {
		g->seg = SEG_OTHER;
		a->prev_term = false;
	} else if (g->top && is(k, "select")) {
		if (g->seg != SEG_EMPTY || a->tok[a->i + 1].k != T_LP)
			return false;
		g->seg = SEG_SELECT;
		a->prev_term = false;	/* the `(` opens its argument */
	} else {
		if (g->top && !is_any(k, top_ok))
			return false;
		term_starts(g);
		a->prev_term = true;
	}
	return true;
}

/* The closing token of a group of KIND; the group is a term. */
static bool
close_group(struct an *a, int kind)
{
	end_path(a);
	if (a->g[a->depth].kind != kind || a->depth == 0)
		return false;
	a->depth--;
	a->prev_term = true;
	a->i++;
	return true;
}

static bool
analyze(struct an *a)
{
	a->depth = -1;
	if (!push_group(a, '^', true))
		return false;
	a->path = -1;
	a->prev_term = false;
	for (a->i = 0;; ) {
		const struct tok *k = &a->tok[a->i];
		struct group *g = &a->g[a->depth];

		/* select(...) in the top context: only `|` may follow (or the end). */
		if (g->seg == SEG_SELECT && a->prev_term && k->k != T_PIPE &&
		    !(k->k == T_END && a->truthy_only && a->depth == 0))
			return false;
		if (g->kind == '{' && g->key) {
			if (!object_key(a, g))
				return false;
			continue;
		}
		switch (k->k) {
		case T_END:
			end_path(a);
			return a->depth == 0;
		case T_FIELD:
		field:
			if (k->esc)
				return false;
			if (a->prev_term) {
				/* postfix: .a.b */
				if (a->path >= 0) {
					a->looked[a->path] = true;	/* indexed */
					a->path = child_add(a->t, a->path, k->s, k->n);
					if (a->path < 0)
						return false;
				}
			} else {
				if (g->top) {
					a->path = child_add(a->t, 0, k->s, k->n);
					if (a->path < 0)
						return false;
					a->path_start = a->i;
					a->path_plain = k == &a->tok[a->i];	/* not .["name"] */
				}
				g->seg = g->seg == SEG_EMPTY ? SEG_PATH : SEG_OTHER;
			}
			a->prev_term = true;
			a->i++;
			continue;
		case T_DOT:
		case T_REC:
			if (g->top)
				return false;
			end_path(a);
			term_starts(g);
			a->prev_term = true;
			a->i++;
			continue;
		case T_DOTBRACK:
			if (!a->prev_term && g->top) {
				if (a->tok[a->i + 1].k == T_STR && a->tok[a->i + 2].k == T_RB) {
					k = &a->tok[a->i + 1];
					a->i += 2;
					goto field;
				}
				return false;
			}
			/* .a.[...] is postfix [...]; in a part, .[...] is too */
			/* FALLTHROUGH */
		case T_LB:
			if (a->prev_term) {
				/* postfix [...]; ["name"] continues a path */
				if (a->tok[a->i + 1].k == T_STR && a->tok[a->i + 2].k == T_RB) {
					k = &a->tok[a->i + 1];
					a->i += 2;
					goto field;
				}
				end_path(a);
				if (!push_group(a, '[', g->top))
					return false;
				a->g[a->depth].seg = SEG_OTHER;
				/* the segment stays a path: the value is inside it */
				a->i++;
				a->prev_term = false;
				continue;
			}
			end_path(a);
			term_starts(g);
			if (!push_group(a, '[', g->top))
				return false;
			a->i++;
			a->prev_term = false;
			continue;
		case T_RB:
			if (!close_group(a, '['))
				return false;
			continue;
		case T_LP: {
			bool sel = a->i > 0 && is(&a->tok[a->i - 1], "select") && g->seg == SEG_SELECT;

			end_path(a);
			if (!sel)
				term_starts(g);
			if (!push_group(a, '(', g->top))
				return false;
			a->g[a->depth].call_select = sel;
			a->i++;
			a->prev_term = false;
			continue;
		}
		case T_RP:
			if (!close_group(a, '('))
				return false;
			/* (expr): a computed key; the value follows */
			if (a->g[a->depth].kind == '{' && a->tok[a->i].k == T_COLON &&
			    a->g[a->depth].seg == SEG_EMPTY) {
				a->i++;
				a->prev_term = false;
			}
			continue;
		case T_LC: {
			size_t end = group_end(a, a->i);
			bool out = end > 0 && flows_out(a, a->i, end + 1);

			end_path(a);
			term_starts(g);
			if (!push_group(a, '{', g->top))
				return false;
			a->g[a->depth].out = out;
			if (!g->top)
				a->g[a->depth].key = false;	/* in a part: anything goes */
			a->i++;
			a->prev_term = false;
			continue;
		}
		case T_RC:
			if (!close_group(a, '{'))
				return false;
			continue;
		case T_PIPE:
			end_path(a);
			if (g->seg == SEG_PATH)
				g->top = false;	/* the input is now inside a full member */
			else if (!g->top)
				g->top = false;
			/* SEG_SELECT and others: the top context goes on (strict) */
			g->seg = SEG_EMPTY;
			a->prev_term = false;
			a->i++;
			continue;
		case T_COMMA:
			end_path(a);
			if (g->kind == '{' && g->top_init) {
				g->top = g->top_init;
				g->seg = SEG_EMPTY;
				g->key = true;
			} else {
				g->seg = SEG_OTHER;
			}
			a->prev_term = false;
			a->i++;
			continue;
		case T_SEMI:
			end_path(a);
			if (g->kind != '(')
				return false;
			g->top = g->top_init;
			g->seg = SEG_EMPTY;
			a->prev_term = false;
			a->i++;
			continue;
		case T_COLON:
			end_path(a);
			if (g->top && g->kind != '[')
				return false;
			g->seg = SEG_OTHER;
			a->prev_term = false;
			a->i++;
			continue;
		case T_QUEST:
			/* postfix ?: a path goes on (its value may be dropped) */
			a->path_plain = false;
			a->i++;
			continue;
		case T_ASSIGN:
			if (g->top)
				return false;
			/* FALLTHROUGH */
		case T_OP:
			end_path(a);
			g->seg = SEG_OTHER;
			a->prev_term = false;
			a->i++;
			continue;
		case T_STR:
		case T_NUM:
		case T_VAR:
			end_path(a);
			term_starts(g);
			a->prev_term = true;
			a->i++;
			continue;
		case T_FORMAT:
			if (g->top)
				return false;
			end_path(a);
			term_starts(g);
			a->prev_term = true;
			a->i++;
			continue;
		case T_IDENT:
			if (!ident(a, g, k))
				return false;
			a->i++;
			continue;
		}
		return false;
	}
}

bool
jqpaths_analyze(struct jqpaths *t, const char *program, bool truthy_only)
{
	struct toks v = { 0 };
	struct an a;
	bool ok;

	memset(&a, 0, sizeof(a));
	t->n = 1;
	t->node[0] = (struct jqpath_node){ NULL, 0, -1, -1, false, false };
	ok = lex(program, &v);
	if (ok) {
		a.t = t;
		a.tok = v.t;
		a.truthy_only = truthy_only;
		ok = analyze(&a);
	}
	free(v.t);
	for (int i = 1; ok && i < t->n; i++)
		t->node[i].raw = t->node[i].full && !a.looked[i] && !truthy_only;
	if (!ok || t->node[0].full) {
		jqpaths_free(t);
		t->n = 1;
		t->node[0] = (struct jqpath_node){ NULL, 0, -1, -1, true, false };
		return false;
	}
	return true;
}

/* --- programs that run without libjq (jqfast_compile()) --- */

struct fp {
	struct jqfast *f;
	const struct tok *tok;
	size_t i;
	int depth;		/* objects open in the output */
};

static const char *const keywords[] = {
	"and", "or", "not", "if", "then", "elif", "else", "end", "as", "def", "reduce", "foreach",
	"try", "catch", "label", "import", "include", "__loc__", "true", "false", "null", NULL,
};

/* Printable ASCII without a quote or a backslash: jq prints it as it is. */
static bool
plain_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

static int
fp_expr(struct fp *P, char op)
{
	struct jqfast *f = P->f;

	if (f->ne >= JQFAST_MAX)
		return -1;
	memset(&f->e[f->ne], 0, sizeof(f->e[0]));
	f->e[f->ne].op = op;
	return f->ne++;
}

/* A field path at P->i: its node (want set), or -1. */
static int
fp_path(struct fp *P)
{
	int node = 0;

	if (P->tok[P->i].k != T_FIELD)
		return -1;
	while (P->tok[P->i].k == T_FIELD) {
		const struct tok *k = &P->tok[P->i++];

		if (k->esc || (node = child_add(&P->f->t, node, k->s, k->n)) < 0)
			return -1;
	}
	P->f->want[node] = true;
	return node;
}

static int fp_or(struct fp *P);

/* A path, a literal or (COND); an expression index or -1. */
static int
fp_atom(struct fp *P)
{
	const struct tok *k = &P->tok[P->i];
	int e;

	if (k->k == T_FIELD) {
		int node = fp_path(P);

		if (node < 0 || (e = fp_expr(P, 'p')) < 0)
			return -1;
		P->f->e[e].node = node;
		return e;
	}
	if (k->k == T_LP) {
		P->i++;
		e = fp_or(P);
		if (e < 0 || P->tok[P->i].k != T_RP)
			return -1;
		P->i++;
		return e;
	}
	if ((e = fp_expr(P, 'l')) < 0)
		return -1;
	if (k->k == T_STR && !k->esc && plain_text(k->s, k->n)) {
		P->f->e[e].kind = 's';
		P->f->e[e].lit = xstrndup(k->s, k->n);
		P->f->e[e].len = k->n;
	} else if (k->k == T_NUM && digit(k->s[0])) {
		char *end;

		P->f->e[e].kind = 'n';
		P->f->e[e].num = strtod(k->s, &end);
		if (end != lex_number(k->s))
			return -1;
	} else if (is(k, "true") || is(k, "false") || is(k, "null")) {
		P->f->e[e].kind = k->s[0] == 'n' ? 'z' : k->s[0];
	} else {
		return -1;
	}
	P->i++;
	return e;
}

/* atom [== or != atom] */
static int
fp_cmp(struct fp *P)
{
	int a = fp_atom(P), e;
	const struct tok *k = &P->tok[P->i];

	if (a < 0 || k->k != T_OP || !((k->n == 2 && k->s[0] == '=' && k->s[1] == '=') ||
					(k->n == 2 && k->s[0] == '!' && k->s[1] == '=')))
		return a;
	P->i++;
	if ((e = fp_expr(P, k->s[0] == '=' ? '=' : '!')) < 0)
		return -1;
	P->f->e[e].a = a;
	if ((P->f->e[e].b = fp_atom(P)) < 0)
		return -1;
	/* a path against a literal: nothing else is compared here */
	if ((P->f->e[a].op == 'p') == (P->f->e[P->f->e[e].b].op == 'p') ||
	    (P->f->e[a].op != 'l' && P->f->e[P->f->e[e].b].op != 'l'))
		return -1;
	return e;
}

/* next (word next)*, left to right: word is "and" (op '&') or "or" ('|') */
static int
fp_chain(struct fp *P, const char *word, char op, int (*next)(struct fp *))
{
	int a = next(P);

	while (a >= 0 && is(&P->tok[P->i], word)) {
		int e = fp_expr(P, op);

		P->i++;
		if (e < 0)
			return -1;
		P->f->e[e].a = a;
		if ((P->f->e[e].b = next(P)) < 0)
			return -1;
		a = e;
	}
	return a;
}

static int
fp_and(struct fp *P)
{
	return fp_chain(P, "and", '&', fp_cmp);
}

static int
fp_or(struct fp *P)
{
	return fp_chain(P, "or", '|', fp_and);
}

/* The value at P->i goes into the output here: a path, or an object. */
static bool fp_object(struct fp *P);

static bool
fp_hole(struct fp *P, int node)
{
	struct jqfast *f = P->f;

	if (node < 0 || f->nholes >= JQFAST_MAX)
		return false;
	f->hole[f->nholes].at = f->out.len;
	f->hole[f->nholes++].node = node;
	return true;
}

static bool
fp_value(struct fp *P)
{
	if (P->tok[P->i].k == T_LC)
		return fp_object(P);
	return fp_hole(P, fp_path(P));
}

/* {key: value, name, "name", ...} with no key twice */
static bool
fp_object(struct fp *P)
{
	struct jqfast *f = P->f;
	const struct tok *keys[JQFAST_MAX];
	int nkeys = 0;

	P->i++;
	buf_addc(&f->out, '{');
	if (++P->depth > f->depth)
		f->depth = P->depth;
	for (;;) {
		const struct tok *k = &P->tok[P->i];
		bool shorthand = P->tok[P->i + 1].k == T_COMMA || P->tok[P->i + 1].k == T_RC;

		if (!((k->k == T_IDENT && !(shorthand && is_any(k, keywords))) ||
		      (k->k == T_STR && !k->esc && plain_text(k->s, k->n))))
			return false;
		for (int j = 0; j < nkeys; j++)
			if (keys[j]->n == k->n && memcmp(keys[j]->s, k->s, k->n) == 0)
				return false;	/* jq keeps the last value in the first place */
		if (nkeys == JQFAST_MAX)
			return false;
		keys[nkeys++] = k;
		if (nkeys > 1)
			buf_addc(&f->out, ',');
		buf_addc(&f->out, '"');
		buf_add(&f->out, k->s, k->n);
		buf_adds(&f->out, "\":");
		P->i++;
		if (shorthand) {
			int node = child_add(&f->t, 0, k->s, k->n);

			if (node < 0)
				return false;
			f->want[node] = true;
			if (!fp_hole(P, node))
				return false;
		} else {
			if (P->tok[P->i].k != T_COLON)
				return false;
			P->i++;
			if (!fp_value(P))
				return false;
		}
		if (P->tok[P->i].k == T_RC) {
			P->i++;
			buf_addc(&f->out, '}');
			P->depth--;
			return true;
		}
		if (P->tok[P->i].k != T_COMMA)
			return false;
		P->i++;
	}
}

void
jqfast_free(struct jqfast *f)
{
	for (int i = 0; i < f->ne; i++)
		free(f->e[i].lit);
	jqpaths_free(&f->t);
	buf_release(&f->out);
}

bool
jqfast_compile(struct jqfast *f, const char *program)
{
	struct toks v = { 0 };
	struct fp P = { f, NULL, 0, 0 };
	bool ok;

	memset(f, 0, sizeof(*f));
	f->t.n = 1;
	f->t.node[0] = (struct jqpath_node){ NULL, 0, -1, -1, false, false };
	ok = lex(program, &v);
	P.tok = v.t;
	/* select(COND) | ... */
	while (ok && is(&P.tok[P.i], "select") && P.tok[P.i + 1].k == T_LP) {
		int c;

		P.i += 2;
		c = fp_or(&P);
		ok = c >= 0 && P.tok[P.i].k == T_RP && P.tok[P.i + 1].k == T_PIPE &&
		     f->ncond < JQFAST_MAX;
		if (ok)
			f->cond[f->ncond++] = c;
		P.i += 2;
	}
	ok = ok && fp_value(&P) && P.tok[P.i].k == T_END;
	free(v.t);
	if (!ok)
		jqfast_free(f);
	return ok;
}
