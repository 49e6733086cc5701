#include "base/strbuf.h"

#include "base/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What buf points at while nothing is allocated: reading it gives "", nobody writes it. */
char strbuf_empty[1];

int strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need, alloc;
	char *p;

	if (extra > SIZE_MAX - 1 - sb->len)
		return error("out of memory: a string of more than %zu bytes", SIZE_MAX);
	need = sb->len + extra + 1;
	if (need <= sb->alloc)
		return 0;
	alloc = sb->alloc <= (SIZE_MAX - 16) / 3 * 2 ? sb->alloc + sb->alloc / 2 + 16 : SIZE_MAX;
	if (alloc < need)
		alloc = need;
	/* Not realloc: the old block is wiped before it goes back, in case it held a secret. */
	p = malloc(alloc);
	if (!p)
		return error("out of memory");
	memcpy(p, sb->buf, sb->len + 1);
	if (sb->alloc) {
		explicit_bzero(sb->buf, sb->alloc);
		free(sb->buf);
	}
	sb->buf = p;
	sb->alloc = alloc;
	return 0;
}

int strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
	if (strbuf_grow(sb, len) < 0)
		return -1;
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return 0;
}

int strbuf_addstr(struct strbuf *sb, const char *s)
{
	return strbuf_add(sb, s, strlen(s));
}

int strbuf_addch(struct strbuf *sb, char c)
{
	return strbuf_add(sb, &c, 1);
}

int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	size_t room = sb->alloc ? sb->alloc - sb->len : 0;
	int n, failed = 0;
	va_list again;

	/* First into the room there is; when that is too small, grow to the length and again. */
	va_copy(again, ap);
	n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, ap);
	if (n >= 0 && (size_t)n >= room) {
		if (strbuf_grow(sb, (size_t)n) < 0)
			failed = 1;
		else
			n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, again);
	}
	va_end(again);
	if (failed || n < 0) {
		if (sb->alloc)
			sb->buf[sb->len] = '\0'; /* a cut first attempt is not part of the string */
		return failed ? -1 : error("cannot format '%s'", fmt);
	}
	sb->len += (size_t)n;
	return 0;
}

int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
	return ret;
}

void strbuf_reset(struct strbuf *sb)
{
	if (!sb->alloc)
		return;
	explicit_bzero(sb->buf, sb->len);
	sb->len = 0;
}

void strbuf_release(struct strbuf *sb)
{
	if (sb->alloc) {
		explicit_bzero(sb->buf, sb->alloc);
		free(sb->buf);
	}
	sb->buf = strbuf_empty;
	sb->len = sb->alloc = 0;
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
	char *s;

	if (!sb->alloc && strbuf_grow(sb, 0) < 0)
		return NULL;
	s = sb->buf;
	if (len)
		*len = sb->len;
	sb->buf = strbuf_empty;
	sb->len = sb->alloc = 0;
	return s;
}
