/*
 * GitLab's slugs are defined by Ruby code, which works on characters after a Unicode downcase:
 *
 *   Gitlab::Utils.slugify(str)
 *     str.downcase.gsub(/[^a-z0-9]/, '-')[0..62].gsub(/(\A-+|-+\z)/, '')
 *
 *   Gitlab::Slug::Environment#generate
 *     slugified = name.to_s.downcase.gsub(/[^a-z0-9]/, '-')
 *     slugified = 'env-' + slugified unless slugified.match?(/^[a-z]/)
 *     slugified.squeeze!('-')
 *     if slugified.size > 24 || slugified != name
 *       slugified[0..16], a '-' unless it ends with one, and the suffix
 *     else
 *       slugified.chomp('-')
 *     suffix: Digest::SHA2.hexdigest(name.to_s).to_i(16).to_s(36).last(6)
 *
 * So a UTF-8 character becomes one '-', not one per byte, and the two characters whose
 * Unicode lowercase holds ASCII letters are mapped as Ruby maps them. Invalid UTF-8, which
 * Ruby refuses, counts one character per stray byte.
 */
#include "pipeline/slug.h"

#include "base/sha256.h"

#include <stdint.h>
#include <string.h>

#define REF_SLUG_MAX 63
#define ENV_SLUG_MAX 24
#define ENV_SLUG_CUT 17

static const char base36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char lowercase[] = "abcdefghijklmnopqrstuvwxyz";

/* The length of the UTF-8 character at S, 1 for a byte that does not start a valid one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = 1, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/*
 * Ruby's downcase and gsub(/[^a-z0-9]/, '-') on the character at S: the characters it
 * becomes (one or two) go to OUT and their count to *n; returns the bytes it took.
 */
static size_t slug_char(const char *s, char out[2], size_t *n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = utf8_len(u);

	*n = 1;
	if (len == 1) {
		if (u[0] >= 'A' && u[0] <= 'Z')
			out[0] = lowercase[u[0] - 'A'];
		else if ((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= '0' && u[0] <= '9'))
			out[0] = s[0];
		else
			out[0] = '-';
		return 1;
	}
	out[0] = '-';
	if (len == 2 && u[0] == 0xc4 && u[1] == 0xb0) {
		/* U+0130, capital I with dot above: "i" and a combining dot. */
		out[0] = 'i';
		out[1] = '-';
		*n = 2;
	} else if (len == 3 && u[0] == 0xe2 && u[1] == 0x84 && u[2] == 0xaa) {
		out[0] = 'k'; /* U+212A, the Kelvin sign */
	}
	return len;
}

void slug_ref(const char *ref, char *out, size_t size)
{
	size_t i = 0, len = 0, start = 0, limit;

	if (!size)
		return;
	limit = size - 1 < REF_SLUG_MAX ? size - 1 : REF_SLUG_MAX;
	while (ref && ref[i] && len < limit) {
		char c[2];
		size_t n, k;

		i += slug_char(ref + i, c, &n);
		for (k = 0; k < n && len < limit; k++)
			out[len++] = c[k];
	}
	while (len && out[len - 1] == '-')
		len--;
	while (start < len && out[start] == '-')
		start++;
	memmove(out, out + start, len - start);
	out[len - start] = '\0';
}

/*
 * The environment slug as a stream of characters, squeezed as they come: only its first
 * characters are kept, with its length and whether it is still the name itself.
 */
struct env_slug {
	char head[ENV_SLUG_MAX + 1];
	size_t len;
	char last;
	const char *name;
	size_t matched;
	int same;
};

static void env_put(struct env_slug *s, char c)
{
	if (c == '-' && s->last == '-')
		return; /* squeeze!('-') */
	s->last = c;
	if (s->len < sizeof(s->head))
		s->head[s->len] = c;
	s->len++;
	s->same = s->same && s->name[s->matched] == c;
	if (s->same)
		s->matched++;
}

/*
 * sha256(name) as an integer, in base 36, its last six digits: the value mod 36^6, computed
 * from the hex digits. Ruby does not pad, so a number below 36^6 keeps its own length.
 */
static void env_suffix(const char *name, char out[7])
{
	const uint64_t mod = 36ULL * 36 * 36 * 36 * 36 * 36;
	char hex[SHA256_HEX_SIZE], digits[7];
	uint64_t v = 0;
	int big = 0, i, n = 0;

	sha256_hex(name, strlen(name), hex);
	for (i = 0; hex[i]; i++) {
		int d = hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10;

		v = v * 16 + (uint64_t)d;
		big = big || v >= mod;
		v %= mod;
	}
	do {
		digits[n++] = base36[v % 36];
		v /= 36;
	} while (big ? n < 6 : v > 0);
	for (i = 0; i < n; i++)
		out[i] = digits[n - 1 - i];
	out[n] = '\0';
}

void slug_environment(const char *name, char *out, size_t size)
{
	struct env_slug s = {.name = name ? name : "", .same = 1};
	char c[2], result[ENV_SLUG_MAX + 1], suffix[7];
	size_t i = 0, n, k, len;

	if (!size)
		return;
	/* Must start with a letter: judged on the first character, before squeezing. */
	if (!s.name[0] || (slug_char(s.name, c, &n), c[0] < 'a' || c[0] > 'z'))
		for (k = 0; k < 4; k++)
			env_put(&s, "env-"[k]);
	while (s.name[i]) {
		i += slug_char(s.name + i, c, &n);
		for (k = 0; k < n; k++)
			env_put(&s, c[k]);
	}
	s.same = s.same && !s.name[s.matched];
	if (s.len > ENV_SLUG_MAX || !s.same) {
		len = s.len < ENV_SLUG_CUT ? s.len : ENV_SLUG_CUT;
		memcpy(result, s.head, len);
		if (!len || result[len - 1] != '-')
			result[len++] = '-';
		env_suffix(s.name, suffix);
		memcpy(result + len, suffix, strlen(suffix) + 1);
	} else {
		/* Unchanged but for a last '-', which Kubernetes labels cannot end with. */
		len = s.len;
		memcpy(result, s.head, len);
		if (len && result[len - 1] == '-')
			len--;
		result[len] = '\0';
	}
	len = strlen(result) < size ? strlen(result) : size - 1;
	memcpy(out, result, len);
	out[len] = '\0';
}
