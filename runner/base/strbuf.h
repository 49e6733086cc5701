/*
 * A string built in pieces (git's strbuf): `buf` is always a NUL-terminated string, never NULL,
 * `len` bytes long, in a block of `alloc` bytes (0 while nothing was added: then `buf` is a
 * shared empty string that must not be written).
 *
 * Every strbuf is treated as if it held a secret: the blocks it gives up, when it grows and when
 * it is released, are wiped first, so a token built in a strbuf leaves no copy on the heap. That
 * costs a memset per growth, which no string berth builds notices, and spares the caller a
 * second kind of release to remember. strbuf_detach hands the block over: wiping it is then the
 * caller's business.
 */
#ifndef BERTH_STRBUF_H
#define BERTH_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len, alloc;
};

extern char strbuf_empty[];

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		strbuf_empty, 0, 0                                                                 \
	}

/*
 * Each adds to the end: 0, or -1 after error("out of memory") (or a size that would overflow)
 * with the string as it was.
 */
int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_addstr(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, char c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Makes room for `extra` more bytes (and the NUL) without changing the string; 0 or -1. */
int strbuf_grow(struct strbuf *sb, size_t extra);
/* Empties the string, keeping the block (what it held is wiped). */
void strbuf_reset(struct strbuf *sb);
/* Wipes and frees the block; `sb` is STRBUF_INIT again. */
void strbuf_release(struct strbuf *sb);
/*
 * The string as a malloc'd block the caller frees (and wipes, if it is a secret); `sb` is
 * STRBUF_INIT again. NULL after error("out of memory") only when nothing was ever added.
 */
char *strbuf_detach(struct strbuf *sb, size_t *len);

#endif
