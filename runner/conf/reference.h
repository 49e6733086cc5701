/*
 * Image references as the distribution registry defines them: HOST[:PORT]/PATH[:TAG][@DIGEST].
 * berth needs the host to log in, and the path to refuse a repository at a registry's root.
 */
#ifndef REFERENCE_H
#define REFERENCE_H

#include <stddef.h>

#define REFERENCE_NAME_MAX 255

struct reference {
	char host[256]; /* "registry.example.com:5000" */
	char path[256]; /* "group/app": lowercase components */
	char tag[129];	/* "" when absent */
	char digest[80];
	size_t components; /* how many '/'-separated parts the path has */
};

/*
 * Parses `s`, which must name its registry host explicitly (a dot, a port or "localhost" in the
 * first part). 0, or -1 with a reason in `why` (never quoting `s` beyond its shape).
 */
int reference_parse(const char *s, struct reference *ref, char *why, size_t why_size);
/* 0 when `host` is a registry host: DNS labels or an IPv4 address, with an optional port. */
int reference_valid_host(const char *host);

#endif
