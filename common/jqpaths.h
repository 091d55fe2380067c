/*
 * jqpaths.h: which parts of its input a jq program can observe, found
 * conservatively from the program text, so that cdc-filter and cdc-map
 * build only those parts of an event into a jv (see jqp_parse()).
 *
 * The result is a tree of member names under the input object.  A node is
 * either "full" (the member's value may be used in any way: build all of
 * it) or "pruned" (the program only ever indexes that object with the
 * names of the node's children: build those members only, and nothing
 * else of it).  The root is pruned when the whole input is only indexed by
 * name.  Members that no node names are never observed: leaving them out
 * gives the same outputs, errors and halts as the full input.
 *
 * The analysis accepts a small, safe subset of jq and gives up (the whole
 * input is needed) on anything else.  Where the input is the program's own
 * input ("the top context"), only these are accepted:
 *  - field paths: .name, ."name", .["name"], then postfix .name,
 *    ["name"], [...], ? (the path's value is full unless it is indexed
 *    further by name);
 *  - literals, $variables (never bound to the input: `. as $x` is refused),
 *    operators, and/or, if/then/elif/else/end, try/catch, `as` bindings,
 *    reduce/foreach (their `.` is refused), (...) and [...];
 *  - object construction with IDENT:, "str":, (expr):, $var and IDENT or
 *    "str" shorthand keys (a shorthand is a full path);
 *  - the functions not, type, empty, true, false, null, env, now, halt;
 *  - select(...) as the whole left side of a `|` (its output, the input,
 *    flows on into the top context), or as the whole program when only the
 *    truth of the first output matters.
 * To the right of `A | ` where A is a single field path, the input is part
 * of a full member: anything goes there (up to the end of the enclosing
 * group) except def, import, include, module-qualified names, input,
 * inputs and string interpolation, refused everywhere.
 *
 * A full node is also "raw" when the program does nothing with the
 * member's value but put it, as it is, into its outputs: every path to it
 * is a whole output of the program (`.after` alone, or one of `A, B` not
 * piped further) or the value of a member of an object that is one
 * (`{doc: .after}`, `{after}`, nested objects too), and nothing reads
 * below it.  The caller may then hand the program any value in its place
 * and print the member's own text where that value comes out (jqprog.h).
 * Never with truthy_only: there the outputs are looked at.
 */
#ifndef CDC_JQPATHS_H
#define CDC_JQPATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define JQPATHS_MAX 128		/* most nodes; a bigger tree gives up */

struct jqpath_node {
	char *name;		/* the member's name (root: NULL) */
	size_t len;
	int child;		/* first child, -1: none */
	int next;		/* next sibling, -1: none */
	bool full;		/* build the whole value */
	bool raw;		/* full, and only copied into outputs (above) */
};

struct jqpaths {
	struct jqpath_node node[JQPATHS_MAX];	/* node[0] is the root */
	int n;
};

/*
 * A program simple enough to run on an event's text without libjq
 * ("fast"): zero or more `select(COND) |` and then one output, a field
 * path or an object construction whose values are field paths or such
 * objects (`{id: .key.id, op, doc: {a: .after}}`).  COND is made of field
 * paths, literals (plain strings, numbers, true, false, null), == and !=,
 * and, or, and parentheses.  Paths are .name and postfix .name only.
 * Every path ends at a node of t (want[] set); the output is out's text
 * with the value of node hole[i].node inserted at hole[i].at.
 */
#define JQFAST_MAX 64

struct jqfast_expr {
	char op;		/* 'p' path, 'l' literal, '=' ==, '!' !=, '&' and, '|' or */
	int a, b;		/* '=' '!' '&' '|': the operands (indexes into e[]) */
	int node;		/* 'p': the path's node */
	char kind;		/* 'l': 's' string, 'n' number, 't' true, 'f' false, 'z' null */
	char *lit;		/* 'l' 's': the string's bytes */
	size_t len;
	double num;		/* 'l' 'n' */
};

struct jqfast {
	struct jqpaths t;	/* the members read; node 0 is the input */
	bool want[JQPATHS_MAX];	/* a path ends at the node: its value is used */
	struct jqfast_expr e[JQFAST_MAX];
	int ne;
	int cond[JQFAST_MAX];	/* the select conditions, in order */
	int ncond;
	struct buf out;		/* the output's text around its holes */
	int depth;		/* how deep its objects nest */
	struct {
		size_t at;
		int node;
	} hole[JQFAST_MAX];
	int nholes;
};

/*
 * Compile program (valid jq text) into *f when it is of the form above;
 * false (nothing to free) when it is not.  Free with jqfast_free().
 */
bool jqfast_compile(struct jqfast *f, const char *program);
void jqfast_free(struct jqfast *f);

/*
 * Analyse program (valid jq text; compile it first).  truthy_only: only
 * the truth of the first output matters (cdc-filter).  Returns true with
 * *t filled when the input can be pruned (t->node[0].full is false), false
 * when the whole input is needed (*t then holds a full root).  Free with
 * jqpaths_free().
 */
bool jqpaths_analyze(struct jqpaths *t, const char *program, bool truthy_only);

/* The child of node i named s (len bytes), or -1. */
int jqpaths_child(const struct jqpaths *t, int i, const char *s, size_t len);

void jqpaths_free(struct jqpaths *t);

#endif
