/* SHA-256 (FIPS 180-4), for names derived from keys: Kubernetes Lease names of lock keys. */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>

#define SHA256_HEX_SIZE 65

#include <stdint.h>

/* Streaming: init, update as data comes, final. */
struct sha256 {
	uint32_t h[8];
	unsigned char buf[64];
	size_t buffered;
	uint64_t total;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, char hex[SHA256_HEX_SIZE]);

/* The digest of `len` bytes at `data`, as 64 lowercase hex digits and a NUL, in `hex`. */
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_SIZE]);

#endif
