/*
 * hash.h: FNV-1a, the 64-bit hash the programs spread keys with (lanes of
 * the function sinks, documents over cdc-sink-es's lanes, rows of an
 * incremental snapshot's held chunk).  Not for anything an attacker could
 * choose to collide with a cost that matters; the values are not stored.
 *
 * h = fnv1a(FNV1A_INIT, p, n) hashes p; feeding the result back in hashes a
 * concatenation.
 */
#ifndef CDC_HASH_H
#define CDC_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 0xcbf29ce484222325ULL

static inline uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

#endif
