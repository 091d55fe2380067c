/*
 * sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104).
 *
 * A small self-contained implementation so that no program needs a crypto
 * library: cdc-sink-es hashes over-long document ids, cdc-map's jq module
 * hashes masked columns.  sha256_hex() writes 64 lower-case hex digits and
 * a NUL into out (SHA256_HEX_BUFSZ bytes).  Nothing allocates.
 */
#ifndef CDC_SHA256_H
#define CDC_SHA256_H

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
/* Digest of data into out. */
void sha256(const void *data, size_t len, unsigned char out[32]);
/* HMAC-SHA-256 of data under key into out. */
void hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
		 unsigned char out[32]);

#endif
