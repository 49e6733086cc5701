#include "base/strvec.h"

#include "base/array.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for one more string and the NULL after it. */
static int grow(struct strvec *sv)
{
	return ALLOC_GROW(sv->v, sv->nr + 2, sv->alloc);
}

static int push_owned(struct strvec *sv, char *s)
{
	if (!s || grow(sv) < 0) {
		free(s);
		return error("out of memory");
	}
	sv->v[sv->nr++] = s;
	sv->v[sv->nr] = NULL;
	return 0;
}

int strvec_push(struct strvec *sv, const char *s)
{
	return push_owned(sv, strdup(s));
}

int strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return push_owned(sv, n < 0 ? NULL : s);
}

static int is_entry(const char *entry, const char *name, size_t len)
{
	return !strncmp(entry, name, len) && entry[len] == '=';
}

size_t strvec_unsetenv(struct strvec *sv, const char *name)
{
	size_t len = strlen(name), i, kept = 0, gone;

	for (i = 0; i < sv->nr; i++) {
		if (is_entry(sv->v[i], name, len))
			free(sv->v[i]);
		else
			sv->v[kept++] = sv->v[i];
	}
	gone = sv->nr - kept;
	sv->nr = kept;
	if (sv->v)
		sv->v[kept] = NULL;
	return gone;
}

int strvec_setenv(struct strvec *sv, const char *name, const char *value)
{
	strvec_unsetenv(sv, name);
	return strvec_pushf(sv, "%s=%s", name, value);
}

const char *strvec_getenv(const struct strvec *sv, const char *name)
{
	size_t len = strlen(name), i;

	for (i = 0; i < sv->nr; i++)
		if (is_entry(sv->v[i], name, len))
			return sv->v[i] + len + 1;
	return NULL;
}

int str_listed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

void strvec_clear(struct strvec *sv)
{
	size_t i;

	for (i = 0; i < sv->nr; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->nr = sv->alloc = 0;
}
