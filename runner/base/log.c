#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest line printed: what a message longer than this says past it is cut. */
#define LINE_MAX_BYTES 8192

static void put(char *out, size_t size, size_t *o, const char *s, size_t n)
{
	while (n-- && *o + 1 < size)
		out[(*o)++] = *s++;
}

/* 1 when "://" at `in + i` follows a URL scheme (RFC 3986: a letter, then letters, digits, '+',
 * '-' or '.'), as in "https://"; not in "a ://" nor "1://". */
static int after_scheme(const char *in, size_t i)
{
	size_t start = i;

	while (start > 0 && (isalnum((unsigned char)in[start - 1]) || in[start - 1] == '+' ||
			     in[start - 1] == '-' || in[start - 1] == '.'))
		start--;
	while (start < i && !isalpha((unsigned char)in[start]))
		start++;
	return start < i;
}

/*
 * Where the userinfo of an authority starting at `s` (just past "://") ends: the offset past
 * its last '@' before the authority ends at '/', '?', '#', white space or the text's end; 0
 * when it has none. The last '@', as curl reads a URL: a password with a raw '@' goes whole.
 */
static size_t userinfo_end(const char *s)
{
	size_t i, end = 0;

	for (i = 0; s[i] && !strchr("/?#", s[i]) && !isspace((unsigned char)s[i]); i++)
		if (s[i] == '@')
			end = i + 1;
	return end;
}

/* A control character of C1 (U+0080 to U+009F) in UTF-8: xterm takes U+009B as CSI. */
static int c1_control(const char *s)
{
	return (unsigned char)s[0] == 0xc2 && (unsigned char)s[1] >= 0x80 &&
	       (unsigned char)s[1] <= 0x9f;
}

/* A control byte as text: "\n", "\r", "\t" or "\xNN". */
static void put_escaped(char *out, size_t size, size_t *o, unsigned char c)
{
	char buf[8];

	if (c == '\n' || c == '\r' || c == '\t')
		snprintf(buf, sizeof(buf), "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
	else
		snprintf(buf, sizeof(buf), "\\x%02x", c);
	put(out, size, o, buf, strlen(buf));
}

void log_printable(char *out, size_t size, const char *in)
{
	size_t i = 0, o = 0, at;

	if (!size)
		return;
	while (in[i] && o + 1 < size) {
		unsigned char c = (unsigned char)in[i];

		if (!strncmp(in + i, "://", 3) && after_scheme(in, i) &&
		    (at = userinfo_end(in + i + 3)) > 0) {
			put(out, size, &o, "://***@", 7);
			i += 3 + at;
		} else if (c1_control(in + i)) {
			put_escaped(out, size, &o, c);
			put_escaped(out, size, &o, (unsigned char)in[i + 1]);
			i += 2;
		} else if (c < 0x20 || c == 0x7f) {
			put_escaped(out, size, &o, c);
			i++;
		} else {
			put(out, size, &o, in + i++, 1);
		}
	}
	out[o] = '\0';
}

static void vreport(const char *prefix, const char *fmt, va_list ap, const char *tail)
{
	char buf[4096], *msg = buf, line[LINE_MAX_BYTES];
	va_list again;
	int n;

	/* The whole message first: a URL cut before its '@' would keep its password. */
	va_copy(again, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n >= (int)sizeof(buf) && (msg = malloc((size_t)n + 1)))
		vsnprintf(msg, (size_t)n + 1, fmt, again);
	va_end(again);
	log_printable(line, sizeof(line), msg ? msg : buf);
	if (msg != buf)
		free(msg);
	/* One write per message, so lines of concurrent jobs in one log never interleave. */
	if (tail)
		fprintf(stderr, "berth: %s%s: %s\n", prefix, line, tail);
	else
		fprintf(stderr, "berth: %s%s\n", prefix, line);
}
int error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("error: ", fmt, ap, NULL);
	va_end(ap);
	return -1;
}

int error_errno(const char *fmt, ...)
{
	const char *why = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vreport("error: ", fmt, ap, why);
	va_end(ap);
	return -1;
}

void warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("warning: ", fmt, ap, NULL);
	va_end(ap);
}

void info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, NULL);
	va_end(ap);
}
