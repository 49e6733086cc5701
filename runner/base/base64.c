#include "base/base64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char base64_too_large[] = "larger than allowed once decoded";

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Decodes one group of four symbols (with `pad` of them '='); bytes written, or -1. */
static int put_group(const int sym[4], int pad, unsigned char *out)
{
	unsigned long v = ((unsigned long)sym[0] << 18) | ((unsigned long)sym[1] << 12) |
			  ((unsigned long)sym[2] << 6) | (unsigned long)sym[3];

	/* Bits below the last byte must be zero: one encoding per byte string. */
	if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
		return -1;
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	return 3 - pad;
}

unsigned char *base64_decode(const char *in, size_t in_len, size_t max, size_t *out_len, char *why,
			     size_t why_size)
{
	unsigned char *out = malloc(in_len / 4 * 3 + 4);
	size_t i, n = 0;
	int sym[4], have = 0, pad = 0;
	const char *reason = "";

	if (!out) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	for (i = 0; i < in_len; i++) {
		unsigned char c = (unsigned char)in[i];
		int got;

		if (is_space(c))
			continue;
		if (pad && c != '=') {
			reason = "data after the '=' padding";
			goto fail;
		}
		if (c == '=') {
			if (have < 2) {
				reason = "misplaced '=' padding";
				goto fail;
			}
			pad++;
			sym[have++] = 0;
		} else if ((sym[have++] = value_of(c)) < 0) {
			reason = "a character outside the base64 alphabet";
			goto fail;
		}
		if (have < 4)
			continue;
		got = put_group(sym, pad, out + n);
		if (got < 0) {
			reason = "non-canonical padding bits";
			goto fail;
		}
		n += (size_t)got;
		have = 0;
		if (n > max) {
			reason = base64_too_large;
			goto fail;
		}
	}
	if (have) {
		reason = "truncated: the length is not a multiple of 4 (missing '=' padding?)";
		goto fail;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
fail:
	snprintf(why, why_size, "%s", reason);
	explicit_bzero(out, in_len / 4 * 3 + 4);
	free(out);
	return NULL;
}

char *base64_encode(const unsigned char *in, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*p++ = alphabet[in[i] >> 2];
		*p++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*p++ = alphabet[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*p++ = alphabet[in[i + 2] & 63];
	}
	if (i < len) {
		*p++ = alphabet[in[i] >> 2];
		if (i + 1 < len) {
			*p++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*p++ = alphabet[(in[i + 1] & 15) << 2];
		} else {
			*p++ = alphabet[(in[i] & 3) << 4];
			*p++ = '=';
		}
		*p++ = '=';
	}
	*p = '\0';
	return out;
}
