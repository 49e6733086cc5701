#include "pipeline/expand.h"

#include <stdlib.h>
#include <string.h>

/* A growing string: memory failure is remembered and reported once, at the end. */
struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static int name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/*
 * The reference at S, which starts with '$': 0 when there is none (a lone '$', "$$", or a
 * "${" that is not "${NAME}"), else its length, with the name's offset and length.
 */
static size_t reference(const char *s, size_t *name, size_t *name_len)
{
	size_t n = 0, brace = s[1] == '{' ? 1 : 0;

	if (!name_start(s[1 + brace]))
		return 0;
	while (name_char(s[1 + brace + n]))
		n++;
	if (brace && s[2 + n] != '}')
		return 0;
	*name = 1 + brace;
	*name_len = n;
	return 1 + n + 2 * brace;
}

static void put_value(struct buf *b, const char *name, size_t len, expr_lookup lookup, void *data)
{
	char *copy;
	const char *value;

	if (!lookup)
		return;
	copy = strndup(name, len);
	if (!copy) {
		b->failed = 1;
		return;
	}
	value = lookup(copy, data);
	free(copy);
	if (value)
		put(b, value, strlen(value));
}

char *expand_vars(const char *text, expr_lookup lookup, void *data)
{
	struct buf b = {0};
	size_t i = 0;

	put(&b, "", 0);
	while (text && text[i]) {
		size_t plain = strcspn(text + i, "$"), name = 0, name_len = 0, ref;

		put(&b, text + i, plain);
		i += plain;
		if (!text[i])
			break;
		if (text[i + 1] == '$') {
			put(&b, "$", 1);
			i += 2;
		} else if ((ref = reference(text + i, &name, &name_len))) {
			put_value(&b, text + i + name, name_len, lookup, data);
			i += ref;
		} else {
			put(&b, "$", 1);
			i++;
		}
	}
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int expand_has_refs(const char *text)
{
	size_t i = 0, name, name_len;

	while (text && text[i]) {
		if (text[i] != '$') {
			i++;
		} else if (text[i + 1] == '$') {
			i += 2;
		} else {
			if (reference(text + i, &name, &name_len))
				return 1;
			i++;
		}
	}
	return 0;
}
