#include "pipeline/expand.h"

#include "base/log.h"
#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

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

/* Appends the value of the variable NAME (LEN bytes); an undefined one adds nothing. */
static int add_value(struct strbuf *sb, const char *name, size_t len, expr_lookup lookup,
		     void *data)
{
	const char *value;
	char *copy;

	if (!lookup)
		return 0;
	copy = strndup(name, len);
	if (!copy)
		return error("out of memory");
	value = lookup(copy, data);
	free(copy);
	return value ? strbuf_addstr(sb, value) : 0;
}

char *expand_vars(const char *text, expr_lookup lookup, void *data)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i = 0;
	int ret = 0;

	while (ret == 0 && text && text[i]) {
		size_t plain = strcspn(text + i, "$"), name = 0, name_len = 0, ref;

		ret = strbuf_add(&sb, text + i, plain);
		i += plain;
		if (ret < 0 || !text[i])
			break;
		if (text[i + 1] == '$') {
			ret = strbuf_addch(&sb, '$');
			i += 2;
		} else if ((ref = reference(text + i, &name, &name_len))) {
			ret = add_value(&sb, text + i + name, name_len, lookup, data);
			i += ref;
		} else {
			ret = strbuf_addch(&sb, '$');
			i++;
		}
	}
	if (ret < 0) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb, NULL);
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
