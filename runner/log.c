#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void vreport(const char *prefix, const char *fmt, va_list ap, const char *tail)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One write per message, so lines of concurrent jobs in one log never interleave. */
	if (tail)
		fprintf(stderr, "berth: %s%s: %s\n", prefix, msg, tail);
	else
		fprintf(stderr, "berth: %s%s\n", prefix, msg);
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
