#include "kvfile.h"

#include <string.h>

void
kv_begin(struct kv_iter *it, const char *text, size_t len)
{
	it->p = text;
	it->end = text + len;
	it->lineno = 0;
}

int
kv_next(struct kv_iter *it, const char **key, size_t *klen, const char **val, size_t *vlen)
{
	while (it->p < it->end) {
		const char *p = it->p, *nl = memchr(p, '\n', (size_t)(it->end - p));
		const char *eol = nl ? nl : it->end, *eq;

		it->p = nl ? nl + 1 : it->end;
		it->lineno++;
		if (eol > p && eol[-1] == '\r')
			eol--;
		if (eol == p || *p == '#')
			continue;
		eq = memchr(p, '=', (size_t)(eol - p));
		if (eq == NULL)
			return -1;
		*key = p;
		*klen = (size_t)(eq - p);
		*val = eq + 1;
		*vlen = (size_t)(eol - eq - 1);
		return 1;
	}
	return 0;
}

bool
kv_key_is(const char *key, size_t klen, const char *lit)
{
	return klen == strlen(lit) && memcmp(key, lit, klen) == 0;
}
