/*
 * Unit tests for common/jqpaths.c and the partial build in jqp_parse():
 * which programs may leave parts of the input out (and which must not),
 * the tree they keep, and, with libjq as the oracle, that every program
 * gives the same outputs, errors and number verdicts on the partial input
 * as on the whole one, over the case events and random objects.
 */
#include "jqpaths.h"
#include "jqprog.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kept tree as text, children sorted: a{b,c*,d=} (* full, = full and raw). */
static void
tree_text(const struct jqpaths *t, int i, struct buf *b)
{
	const char *names[JQPATHS_MAX];
	int idx[JQPATHS_MAX], n = 0;

	for (int c = t->node[i].child; c >= 0; c = t->node[c].next) {
		int j = n++;

		while (j > 0 && strcmp(names[j - 1], t->node[c].name) > 0) {
			names[j] = names[j - 1];
			idx[j] = idx[j - 1];
			j--;
		}
		names[j] = t->node[c].name;
		idx[j] = c;
	}
	for (int k = 0; k < n; k++) {
		if (k)
			buf_addc(b, ',');
		buf_adds(b, names[k]);
		if (t->node[idx[k]].full) {
			buf_addc(b, t->node[idx[k]].raw ? '=' : '*');
		} else {
			buf_addc(b, '{');
			tree_text(t, idx[k], b);
			buf_addc(b, '}');
		}
	}
}

static const struct {
	const char *prog;
	bool truthy_only;
	const char *want;	/* the kept tree, NULL: everything */
} verdicts[] = {
	{ ".after.status == \"paid\" and (.after.items > 3)", true, "after{items*,status*}" },
	{ ".op == \"u\" and .after.status == \"paid\"", true, "after{status*},op*" },
	{ "select(.op != \"heartbeat\") | {id: .key.id, op, table: .source.table, doc: .after}",
	  false, "after=,key{id=},op*,source{table=}" },
	/* raw: only copied into the outputs */
	{ ".after", false, "after=" },
	{ ".after", true, "after*" },
	{ ".after, .before", false, "after=,before=" },
	{ ".after, (.before | type)", false, "after=,before*" },
	{ ".after, .before | type", false, "after*,before*" },
	{ "{a: {b: .after, c: .key.id}, after}", false, "after=,key{id=}" },
	{ "{doc: .after, s: .after.status}", false, "after*" },
	{ "{doc: .after.x, n: .after.y}", false, "after{x=,y=}" },
	{ "{doc: .after?}", false, "after*" },
	{ "{doc: .after} | .doc", false, "after*,doc=" },
	{ "{doc: .after} + {a: 1}", false, "after*" },
	{ "{doc: .after} as $d | 1", false, "after*" },
	{ "{doc: .after}, 1 | type", false, "after*" },
	{ "[.after]", false, "after*" },
	{ "{doc: [.after]}", false, "after*" },
	{ "{doc: (.after)}", false, "after*" },
	{ "{doc: .after // 1}", false, "after*" },
	{ "if .op then .after else .before end", false, "after*,before*,op*" },
	{ "try .after", false, "after*" },
	{ ".op as $o | .after", false, "after=,op*" },
	{ "select(.after.x) | .after", false, "after*" },
	{ ".source.table | test(\"^order\")", true, "source{table*}" },
	{ ".after | keys | length > 3", true, "after*" },
	{ ".[\"op\"] == \"u\" and .\"key\".id == 1", true, "key{id*},op*" },
	{ ".a[0].b", false, "a*" },
	{ ".a?.b? // 1", false, "a{b*}" },
	{ ".a?.b?", false, "a{b*}" },
	{ "if .op == \"u\" then .after.x else .before end", false, "after{x*},before*,op*" },
	{ ".op as $o | .after | [$o, .]", false, "after*,op*" },
	{ "{(.k): .v, l: $__loc__}", false, "k*,v=" },
	{ "type, not, $__loc__, env.HOME", false, "" },
	{ "select(.op == \"u\")", true, "op*" },
	{ "{(.k): .v}", false, "k*,v=" },
	/* whole input needed */
	{ "select(.op == \"u\")", false, NULL },
	{ "select(.op == \"u\") == {}", true, NULL },
	{ "(select(.a))", true, NULL },
	{ ".", true, NULL },
	{ "keys", true, NULL },
	{ "length > 2", true, NULL },
	{ "has(\"after\")", true, NULL },
	{ "tojson | length", true, NULL },
	{ ".[]", true, NULL },
	{ ".[\"a\\u0062\"]", true, NULL },
	{ "..", true, NULL },
	{ "\"\\(.after)\"", true, NULL },
	{ "@json", true, NULL },
	{ "def f: .; f.after", true, NULL },
	{ "include \"cdc\"; unwrap", true, NULL },
	{ "(.a | keys), keys", true, NULL },
	{ "{a: .x | length, b: keys}", false, NULL },
	{ ".x = 1", false, NULL },
	{ ".x |= 1", false, NULL },
	{ "reduce .a[] as $x (0; . + $x)", false, NULL },
	{ "try .a catch .", false, NULL },
	{ ". as $e | $e.after", false, NULL },
	{ "to_entries", false, NULL },
	{ "del(.before)", false, NULL },
	{ "getpath([\"after\"])", false, NULL },
	{ "input", false, NULL },
	{ "debug | .a", false, NULL },
	{ ".a // select(.b)", true, NULL },
	{ "[.a, .b] | length", false, NULL },
};

static void
test_verdicts(void)
{
	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
		struct jqpaths t;
		struct buf b = BUF_INIT;
		bool pruned = jqpaths_analyze(&t, verdicts[i].prog, verdicts[i].truthy_only);
		char name[200];

		snprintf(name, sizeof(name), "%s%s: %s", verdicts[i].truthy_only ? "[truth] " : "",
			 verdicts[i].prog, verdicts[i].want ? "pruned" : "whole input");
		if (verdicts[i].want == NULL) {
			ok(!pruned && t.node[0].full, name);
		} else {
			tree_text(&t, 0, &b);
			ok(pruned && !t.node[0].full, name);
			is_str(b.data ? b.data : "", verdicts[i].want, "  keeps the expected members");
		}
		buf_release(&b);
		jqpaths_free(&t);
	}
}

/* --- equivalence with the whole input, libjq as the oracle --- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
next64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static void
random_value(struct buf *b, int depth)
{
	static const char *const keys[] = {
		"op", "after", "before", "key", "source", "status", "items", "a", "b", "c",
		"x", "\\u006fp", "aft\\u0065r", "", "table", "id",
	};
	/* written as jq writes them, and not (for the members copied as written) */
	static const char *const scalars[] = {
		"null", "true", "false", "0", "-1", "3", "1.5", "1e3", "12345678901234567890",
		"0.1000000000000000055511151231257827", "\"paid\"", "\"u\"", "\"x\\ny\"",
		"\"\\u00e9t\\u00e9\"", "\"order\"", "\"\"", "2.50",
		"-0", "0.0001", "0.00001", "-12.5", "1.0", "1E3", "100", "123456789012345",
		"1234567890123456", "0.123456789012345", "0.1234567890123456",
		"\"\\u001f\\u0000\\u007f\"", "\"\\u001F\"", "\"\\u0008\"", "\"a\\/b\"",
		"\"\\b\\f\\t\\r\\\"\\\\\"", "\"\xc3\xa9t\xc3\xa9 \xe2\x9c\x93\"", "\"\x7f\"",
		"\"\xff\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "\"\xf0\x9f\x98\x80\"",
	};
	unsigned r = (unsigned)(next64() % 10);

	if (depth < 3 && r < 3) {
		int n = (int)(next64() % 6);

		buf_addc(b, '{');
		for (int i = 0; i < n; i++) {
			if (i)
				buf_adds(b, next64() % 4 ? "," : " , ");
			buf_addf(b, "\"%s\":%s", keys[next64() % (sizeof(keys) / sizeof(keys[0]))],
				 next64() % 8 ? "" : " ");
			random_value(b, depth + 1);
		}
		buf_addc(b, '}');
	} else if (depth < 3 && r < 5) {
		int n = (int)(next64() % 4);

		buf_addc(b, '[');
		for (int i = 0; i < n; i++) {
			if (i)
				buf_addc(b, ',');
			random_value(b, depth + 1);
		}
		buf_addc(b, ']');
	} else {
		buf_adds(b, scalars[next64() % (sizeof(scalars) / sizeof(scalars[0]))]);
	}
}

/* Programs run both ways; the first ones are pruned, the rest are not. */
static const char *const programs[] = {
	/* members copied into the outputs as written, where they are jq's text */
	".after",
	".after, .before",
	"{a: {b: .after, c: .key}, d: .source.table, after}",
	"{doc: .after, again: .after, x: .a.b}",
	"{doc: .after} | .doc",
	"{after: .x} | {doc: .after}",
	".after, (.before | length)",
	"{doc: .after, n: (.after | length)}",
	"select(.op == \"u\") | {doc: .a, b}",
	".after.status == \"paid\" and (.after.items > 3)",
	".op == \"u\" and .after.status == \"paid\"",
	"select(.op != \"heartbeat\") | {id: .key.id, op, table: .source.table, doc: .after}",
	".source.table | test(\"^order\")",
	".after | keys | length > 3",
	".[\"op\"], .\"key\".id, .after[\"status\"]",
	".a[0].b, .a[1:], .a[]?",
	".a?.b? // 1",
	".a.b.c",
	"if .op == \"u\" then .after.x else .before end",
	".op as $o | .after | [$o, .]",
	"{(.status // \"k\" | tostring): .a, l: $__loc__}",
	"type, not, (.a | type)",
	"select(.op == \"u\") | .after.status",
	"select(.a) | select(.b) | [.a, .b.c]",
	".after.items + 1",
	".a | .. | numbers",
	".after | to_entries | map(.key)",
	".a.b | tostring",
	".a.b.c | @json",
	"try .a.b catch \"err\"",
	"{x: .a.b, y: (.after | length)}",
	".a as [$x, $y] | $y",
	".key | .id = 5",
	/* not pruned */
	"keys",
	".",
	"[.a, .b] | length",
	"del(.before) | length",
};

static const char *const truthy_programs[] = {
	"select(.op == \"u\")",
	"select(.after.status == \"paid\") | select(.a)",
};

struct outcome {
	struct buf text;
};

/* Run prog on text with p; everything it gave as text into out. */
static void
run(struct jqprog *p, const char *text, size_t len, bool first_truth, struct buf *out)
{
	jv in = jqp_parse(p, text, len), v;

	buf_reset(out);
	buf_addf(out, "inexact %llu at %zu\n", (unsigned long long)p->inexact, p->inexact_at);
	if (!jv_is_valid(in)) {
		buf_adds(out, "invalid\n");
		jv_free(in);
		return;
	}
	jqp_start(p, in);
	for (int n = 0; n < 50; n++) {
		enum jqp_status st = jqp_next(p, &v);

		if (st == JQP_VALUE) {
			if (first_truth) {
				buf_adds(out, jqp_truthy(v) ? "true\n" : "false\n");
				jv_free(v);
				return;
			}
			jqp_print(p, out, v);
			buf_addc(out, '\n');
			jv_free(v);
			continue;
		}
		if (st == JQP_ERROR)
			buf_addf(out, "error: %s\n", jqp_error(p));
		else
			buf_addf(out, "status %d\n", (int)st);
		return;
	}
}

static void
equivalence(const char *prog, bool truthy_only, char **events, int nevents)
{
	struct jqprog whole, part;
	struct buf a = BUF_INIT, b = BUF_INIT;
	int same = 0, first_bad = -1;
	bool pruned;

	jqp_init(&whole);
	jqp_init(&part);
	whole.allow_env = part.allow_env = true;
	whole.check_numbers = part.check_numbers = true;
	if (jqp_compile(&whole, prog, NULL) < 0 || jqp_compile(&part, prog, NULL) < 0) {
		ok(0, prog);
		diag("does not compile");
		return;
	}
	pruned = jqp_project(&part, prog, truthy_only);
	for (int i = 0; i < nevents; i++) {
		size_t len = strlen(events[i]);

		run(&whole, events[i], len, truthy_only, &a);
		run(&part, events[i], len, truthy_only, &b);
		if (a.len == b.len && memcmp(a.data, b.data, a.len) == 0)
			same++;
		else if (first_bad < 0)
			first_bad = i;
	}
	{
		char name[240];

		snprintf(name, sizeof(name), "%s%s (%s): same results on %d events",
			 truthy_only ? "[truth] " : "", prog, pruned ? "pruned" : "whole", nevents);
		is_int(same, nevents, name);
	}
	if (first_bad >= 0) {
		size_t len = strlen(events[first_bad]);

		run(&whole, events[first_bad], len, truthy_only, &a);
		run(&part, events[first_bad], len, truthy_only, &b);
		diag("event %s\nwhole: %s\npart: %s", events[first_bad], a.data, b.data);
	}
	buf_release(&a);
	buf_release(&b);
	jqp_free(&whole);
	jqp_free(&part);
}

/*
 * Events whose after and before jq -c would print differently from how
 * they are written, one rule each (and some it prints as written): a
 * member copied into the outputs must come out as jq prints it.
 */
static const char *const raw_cases[] = {
	"{\"after\":{\"a\":1,\"a\":2},\"before\":{\"a\":1,\"b\":2}}",
	"{\"after\":{\"a\":1,\"b\":{\"c\":1,\"c\":[2]}},\"before\":[{\"c\":1,\"d\":1}]}",
	"{\"after\":{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,\"k8\":1,"
	"\"k9\":1,\"k10\":1,\"k11\":1,\"k3\":2},"
	"\"before\":{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,\"k8\":1,"
	"\"k9\":1,\"k10\":1,\"k11\":1,\"k12\":2}}",
	"{\"after\":{\"\\u0061\":1,\"a\":2},\"before\":{\"a\\/b\":1}}",
	"{\"after\":[1.0,1.5,-0,0,-1,10,1e2,1E2,0.0001,0.00001,-0.0005],\"before\":[100.25,0.5]}",
	"{\"after\":[123456789012345,1234567890123456,12345678901234567,9007199254740993]}",
	"{\"after\":\"caf\\u00e9 \\u001F \\u001f \\u0008 \\b \\/ \\u007f\",\"before\":\"\x7f\"}",
	"{\"after\": {\"a\" :1},\"before\":{\"a\": 1}}",
	"{\"after\":[1 ,2],\"before\":[ 1]}",
	"{\"after\" : {\"a\":[{}],\"b\":[]},\"before\":\"\xc3\xa9\xf0\x9f\x98\x80\"}",
	"{\"after\":{\"a\":true,\"b\":false,\"c\":null,\"d\":\"\\\"\\\\\\n\"},\"before\":null}",
	/* a member read further, twice: jq reads the last */
	"{\"a\":{\"b\":{\"c\":1}},\"a\":{\"x\":2},\"op\":\"u\",\"op\":\"c\"}",
	"{\"a\":3,\"a\":1,\"b\":false,\"x\":false,\"c\":true}",
};

/*
 * A member copied as written counts towards JQP_PRINT_DEPTH as a built one
 * does: prog puts after (510 nested arrays) under `wraps` objects.
 */
static void
deep_raw(const char *prog, int wraps)
{
	struct jqprog whole, part;
	struct buf ev = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
	char name[200];
	int ra, rb;
	jv v;

	buf_adds(&ev, "{\"after\":");
	for (int i = 0; i < 510; i++)
		buf_addc(&ev, '[');
	for (int i = 0; i < 510; i++)
		buf_addc(&ev, ']');
	buf_addc(&ev, '}');
	jqp_init(&whole);
	jqp_init(&part);
	if (jqp_compile(&whole, prog, NULL) < 0 || jqp_compile(&part, prog, NULL) < 0) {
		ok(0, prog);
		return;
	}
	snprintf(name, sizeof(name), "%s: after is copied as written", prog);
	ok(jqp_project(&part, prog, false) && part.nraw == 1, name);
	jqp_start(&whole, jqp_parse(&whole, ev.data, ev.len));
	jqp_start(&part, jqp_parse(&part, ev.data, ev.len));
	is_int(jqp_next(&whole, &v), JQP_VALUE, "  an output");
	ra = jqp_print(&whole, &a, v);
	jv_free(v);
	is_int(jqp_next(&part, &v), JQP_VALUE, "  an output (copied)");
	rb = jqp_print(&part, &b, v);
	jv_free(v);
	is_int(rb, ra, "  the same verdict on its depth");
	snprintf(name, sizeof(name), "  %d levels %s", 510 + wraps,
		 510 + wraps > JQP_PRINT_DEPTH ? "refused" : "printed");
	is_int(ra, 510 + wraps > JQP_PRINT_DEPTH ? -1 : 0, name);
	ok(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0), "  the same text");
	buf_release(&ev);
	buf_release(&a);
	buf_release(&b);
	jqp_free(&whole);
	jqp_free(&part);
}

/* --- programs that run on the text (jqp_fast()), libjq as the oracle --- */

static const char *const fast_programs[] = {
	"select(.op != \"heartbeat\") | {id: .key.id, op, table: .source.table, doc: .after, lsn: .source.lsn}",
	".after",
	"{a: .a, b: {c: .b.c, d: .after}, x: .x}",
	"select(.op == \"u\" or .op == \"c\") | {op, after}",
	"select(.a == 3) | .b",
	"select(.a != 1.5 and (.b == null or .c == true)) | {a, \"b c\": .b}",
	"select(.after.status == \"paid\") | select(.items == 3) | .key",
	"select(.x == false) | {x}",
	"select(.a.b) | {v: .a.b.c}",
	"select(\"u\" == .op) | .op",
	"{a: .a, a2: .a.b}",
	"select(.after) | .after.id",
	"select(.a == 1000 or .a == 0.1 or .a == \"paid\") | .a",
	"select(true and .a) | .a",
};

/* ... and programs it leaves to libjq */
static const char *const slow_programs[] = {
	"{a: .a, a: .b}", ".a | .b", "select(.a == .b) | .c", "{a: .x?}", "{(.k): 1}", "{a: 1}", ".",
	"select(.a)", "{a: .x[0]}", ".a, .b", "select(.a | not) | .b", "select(.a > 1) | .b",
	"{$__loc__}", "{a: \"\\u00e9\"}", "select(.a == \"\\u00e9\") | .b", "select(.a == -1) | .b",
	"{a: .[\"b\"]}", "select((.a == 1) == true) | .b", "{a: .b} | .a", "select(.a) | .b, .c",
};

/* libjq's outputs of prog on text, one per line; false on an error or an inexact number */
static bool
libjq_outputs(struct jqprog *p, const char *text, size_t len, struct buf *out)
{
	jv in = jqp_parse(p, text, len), v;
	enum jqp_status st;

	buf_reset(out);
	if (!jv_is_valid(in) || p->inexact) {
		jv_free(in);
		return false;
	}
	jqp_start(p, in);
	while ((st = jqp_next(p, &v)) == JQP_VALUE) {
		if (jqp_print(p, out, v) < 0) {
			jv_free(v);
			return false;
		}
		buf_addc(out, '\n');
		jv_free(v);
	}
	return st == JQP_DONE;
}

static void
fast_equivalence(const char *prog, char **events, int nevents)
{
	struct jqprog lib, fast;
	struct buf a = BUF_INIT, b = BUF_INIT;
	int fast_events = 0, same = 0, first_bad = -1;
	char name[300];

	jqp_init(&lib);
	jqp_init(&fast);
	lib.check_numbers = fast.check_numbers = true;
	if (jqp_compile(&lib, prog, NULL) < 0 || jqp_compile(&fast, prog, NULL) < 0) {
		ok(0, prog);
		return;
	}
	snprintf(name, sizeof(name), "%s: runs without libjq", prog);
	ok(jqp_fast_compile(&fast, prog), name);
	for (int i = 0; i < nevents; i++) {
		size_t len = strlen(events[i]);
		int r;

		buf_reset(&b);
		r = jqp_fast(&fast, events[i], len, &b);
		if (r < 0)
			continue;
		fast_events++;
		if (r > 0)
			buf_addc(&b, '\n');
		if (libjq_outputs(&lib, events[i], len, &a) && a.len == b.len &&
		    (a.len == 0 || memcmp(a.data, b.data, a.len) == 0))
			same++;
		else if (first_bad < 0)
			first_bad = i;
	}
	snprintf(name, sizeof(name), "  libjq's outputs on the %d events it ran on", fast_events);
	is_int(same, fast_events, name);
	if (first_bad >= 0) {
		size_t len = strlen(events[first_bad]);

		buf_reset(&b);
		jqp_fast(&fast, events[first_bad], len, &b);
		libjq_outputs(&lib, events[first_bad], len, &a);
		diag("event %s\nlibjq: %s\nfast: %s", events[first_bad], a.data ? a.data : "",
		     b.data ? b.data : "");
	}
	ok(fast_events >= nevents / 20, "  ... some of them");
	buf_release(&a);
	buf_release(&b);
	jqp_free(&lib);
	jqp_free(&fast);
}

/* One program on one event: what jqp_fast() gives (-1: libjq's turn). */
static const struct {
	const char *prog, *event;
	int want;
	const char *out;
} fast_cases[] = {
	{ ".a.b", "{\"a\":null}", 1, "null" },
	{ ".a.b", "{}", 1, "null" },
	{ ".a.b", "{\"a\":{}}", 1, "null" },
	{ ".a.b", "{\"a\":\"s\"}", -1, "" },		/* jq: cannot index string */
	{ ".a.b", "{\"a\":[1]}", -1, "" },
	{ ".a.b", "{\"a\":{\"b\":2},\"a\":{\"c\":3}}", -1, "" },
	{ ".a", "{\"a\":1.50}", -1, "" },			/* jq writes 1.5 */
	{ ".a", "{\"a\":12345678901234567890}", -1, "" },
	{ ".a", "{\"a\":1,\"z\":12345678901234567890}", -1, "" },	/* rejected as a whole */
	{ ".a", "{ \"a\" : [1,{\"b\":\"\\u001f\"}] , \"z\":2}", 1, "[1,{\"b\":\"\\u001f\"}]" },
	{ ".a", "{\"\\u0061\":1}", -1, "" },
	{ "select(.a) | .b", "{\"a\":false,\"b\":1}", 0, "" },
	{ "select(.a) | .b", "{\"a\":null,\"b\":1}", 0, "" },
	{ "select(.a) | .b", "{\"a\":0,\"b\":1}", 1, "1" },
	{ "select(.a or false) | .b", "{\"a\":false,\"b\":1}", 0, "" },
	{ "select(.a and true) | .b", "{\"a\":\"\",\"b\":1}", 1, "1" },
	{ "select(.a == 1) | .b", "{\"a\":1,\"b\":2}", 1, "2" },
	{ "select(.a == 1.5) | .b", "{\"a\":1.5,\"b\":2}", 1, "2" },
	{ "select(.a == 1) | .b", "{\"a\":\"1\",\"b\":2}", 0, "" },
	{ "select(.a == null) | .b", "{\"b\":2}", 1, "2" },
	{ "select(.a != \"x\") | {b}", "{\"a\":\"x\\n\",\"b\":[]}", 1, "{\"b\":[]}" },
};

static void
fast_verdicts(void)
{
	for (size_t i = 0; i < sizeof(fast_cases) / sizeof(fast_cases[0]); i++) {
		struct jqprog p;
		struct buf b = BUF_INIT;
		char name[300];
		int r;

		jqp_init(&p);
		p.check_numbers = true;
		if (jqp_compile(&p, fast_cases[i].prog, NULL) < 0 ||
		    !jqp_fast_compile(&p, fast_cases[i].prog)) {
			ok(0, fast_cases[i].prog);
			continue;
		}
		r = jqp_fast(&p, fast_cases[i].event, strlen(fast_cases[i].event), &b);
		snprintf(name, sizeof(name), "%s on %s: %d %s", fast_cases[i].prog, fast_cases[i].event,
			 fast_cases[i].want, fast_cases[i].out);
		ok(r == fast_cases[i].want && b.len == strlen(fast_cases[i].out) &&
		   (b.len == 0 || memcmp(b.data, fast_cases[i].out, b.len) == 0), name);
		if (r != fast_cases[i].want)
			diag("got %d %.*s", r, (int)b.len, b.data ? b.data : "");
		buf_release(&b);
		jqp_free(&p);
	}
}

static void
slow_verdicts(void)
{
	for (size_t i = 0; i < sizeof(slow_programs) / sizeof(slow_programs[0]); i++) {
		struct jqfast f;
		char name[200];

		snprintf(name, sizeof(name), "%s: left to libjq", slow_programs[i]);
		ok(!jqfast_compile(&f, slow_programs[i]), name);
	}
}

static int
load_events(const char *argv0, char **ev, int max)
{
	const char *tries[] = { "tests/cases/events.ndjson", NULL };
	char path[4096];
	FILE *f = NULL;
	char line[65536];
	int n = 0;

	for (int i = 0; tries[i] && f == NULL; i++)
		f = fopen(tries[i], "r");
	if (f == NULL) {
		const char *slash = strrchr(argv0, '/');

		snprintf(path, sizeof(path), "%.*s/../../tests/cases/events.ndjson",
			 slash ? (int)(slash - argv0) : 1, slash ? argv0 : ".");
		f = fopen(path, "r");
	}
	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			ev[n++] = xstrdup(line);
	}
	fclose(f);
	return n;
}

int
main(int argc, char **argv)
{
	enum { NRANDOM = 600, NCASES = sizeof(raw_cases) / sizeof(raw_cases[0]) };
	char *events[64 + NCASES + NRANDOM];
	int n;

	(void)argc;
	test_verdicts();
	n = load_events(argv[0], events, 64);
	ok(n >= 20, "the case events are there");
	for (int i = 0; i < NCASES; i++)
		events[n++] = xstrdup(raw_cases[i]);
	for (int i = 0; i < NRANDOM; i++) {
		struct buf b = BUF_INIT;

		/* an object at the top, as every event is */
		do {
			buf_reset(&b);
			random_value(&b, 0);
		} while (b.data[0] != '{');
		events[n++] = buf_detach(&b, NULL);
	}
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		equivalence(programs[i], false, events, n);
		equivalence(programs[i], true, events, n);
	}
	for (size_t i = 0; i < sizeof(truthy_programs) / sizeof(truthy_programs[0]); i++)
		equivalence(truthy_programs[i], true, events, n);
	slow_verdicts();
	fast_verdicts();
	for (size_t i = 0; i < sizeof(fast_programs) / sizeof(fast_programs[0]); i++)
		fast_equivalence(fast_programs[i], events, n);
	for (int i = 0; i < n; i++)
		free(events[i]);
	deep_raw("{a: {b: .after}}", 2);
	deep_raw("{a: {b: {c: .after}}}", 3);
	return tap_done();
}
