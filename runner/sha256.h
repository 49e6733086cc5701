/* SHA-256 (FIPS 180-4), for names derived from keys: Kubernetes Lease names of lock keys. */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>

#define SHA256_HEX_SIZE 65

/* The digest of `len` bytes at `data`, as 64 lowercase hex digits and a NUL, in `hex`. */
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_SIZE]);

#endif
