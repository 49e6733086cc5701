/* Standard base64 (RFC 4648, '+' '/' and '=' padding), as kubeconfigs and docker auths use. */
#ifndef BASE64_H
#define BASE64_H

#include <stddef.h>

/*
 * Decodes `in`, skipping ASCII whitespace. Padding is required for a partial last group and
 * must end the input. At most `max` bytes are produced. Returns a malloc'd buffer (NUL
 * terminated, not counted in *out_len), or NULL with the reason in `why`.
 */
/* The `why` of a decode that went over `max` (compare with strcmp), so callers can word it. */
extern const char base64_too_large[];

unsigned char *base64_decode(const char *in, size_t in_len, size_t max, size_t *out_len, char *why,
			     size_t why_size);
/* Encodes `in`; a malloc'd NUL-terminated string, or NULL when out of memory. */
char *base64_encode(const unsigned char *in, size_t len);

#endif
