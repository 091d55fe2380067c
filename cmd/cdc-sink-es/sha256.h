/*
 * sha256.h: SHA-256 (FIPS 180-4), for hashing over-long document ids.
 *
 * A small self-contained implementation so that the sink needs no crypto
 * library of its own.  sha256_hex() writes 64 lower-case hex digits and a
 * NUL into out (SHA256_HEX_BUFSZ bytes).
 */
#ifndef CDC_SINK_SHA256_H
#define CDC_SINK_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_BUFSZ 65

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;		/* message length so far */
	unsigned char block[64];
	size_t used;		/* bytes in block */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, unsigned char digest[32]);
/* Digest of data as hex into out; returns out. */
char *sha256_hex(const void *data, size_t len, char *out);

#endif
