#include "conf/reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* host = label ('.' label)* [':' port]; label = alnum ([alnum-]* alnum)? */
int reference_valid_host(const char *host)
{
	const char *p = host, *colon = strchr(host, ':');
	size_t label = 0;

	if (!*host || strlen(host) > 255)
		return -1;
	for (; *p && p != colon; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return -1;
			label = 0;
		} else if (is_alnum(*p) || (*p == '-' && label > 0)) {
			label++;
		} else {
			return -1;
		}
	}
	if (label == 0 || p[-1] == '-')
		return -1;
	if (colon) {
		size_t digits = strspn(colon + 1, "0123456789");

		if (digits == 0 || digits > 5 || colon[1 + digits] != '\0' ||
		    strtol(colon + 1, NULL, 10) > 65535)
			return -1;
	}
	return 0;
}

/* component = [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)* */
static int valid_component(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = 0, sep;

		while (i < n && is_lower_alnum(s[i]))
			i++, run++;
		if (run == 0)
			return -1;
		if (i == n)
			return 0;
		sep = i;
		if (s[i] == '.' || s[i] == '_') {
			i++;
			if (s[sep] == '_' && i < n && s[i] == '_')
				i++;
		} else {
			while (i < n && s[i] == '-')
				i++;
		}
		if (i == sep || i == n)
			return -1;
	}
	return -1;
}

static int looks_like_host(const char *first, size_t n)
{
	return memchr(first, '.', n) || memchr(first, ':', n) ||
	       (n == 9 && !strncmp(first, "localhost", 9));
}

static int copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static int parse_path(const char *path, size_t n, struct reference *ref, char *why, size_t why_size)
{
	const char *part = path, *end = path + n;

	ref->components = 0;
	while (part < end) {
		const char *slash = memchr(part, '/', (size_t)(end - part));
		size_t len = slash ? (size_t)(slash - part) : (size_t)(end - part);

		if (valid_component(part, len) < 0) {
			snprintf(
				why, why_size,
				"path components must be lowercase letters and digits, separated by "
				"'.', '_', '__' or '-'");
			return -1;
		}
		ref->components++;
		part += len + (slash ? 1 : 0);
		if (slash && part == end) {
			snprintf(why, why_size, "the path must not end with '/'");
			return -1;
		}
	}
	if (copy(ref->path, sizeof(ref->path), path, n) < 0) {
		snprintf(why, why_size, "the name is longer than 255 characters");
		return -1;
	}
	return 0;
}

int reference_parse(const char *s, struct reference *ref, char *why, size_t why_size)
{
	const char *slash = strchr(s, '/'), *at, *name_end, *colon;

	memset(ref, 0, sizeof(*ref));
	if (!slash || !looks_like_host(s, (size_t)(slash - s))) {
		snprintf(why, why_size,
			 "it must start with the registry host, such as "
			 "registry.example.com/group/app");
		return -1;
	}
	if (copy(ref->host, sizeof(ref->host), s, (size_t)(slash - s)) < 0 ||
	    reference_valid_host(ref->host) < 0) {
		snprintf(why, why_size,
			 "the registry host is not a valid host name with an optional port");
		return -1;
	}
	at = strchr(slash, '@');
	name_end = at ? at : slash + strlen(slash);
	colon = memchr(slash, ':', (size_t)(name_end - slash));
	if (colon) {
		size_t n = (size_t)(name_end - colon - 1);

		if (n == 0 || n > 128 ||
		    strspn(colon + 1, "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") < n ||
		    colon[1] == '.' || colon[1] == '-') {
			snprintf(why, why_size, "the tag is not valid");
			return -1;
		}
		copy(ref->tag, sizeof(ref->tag), colon + 1, n);
		name_end = colon;
	}
	if (at && (strncmp(at + 1, "sha256:", 7) != 0 || strlen(at + 8) != 64 ||
		   strspn(at + 8, "0123456789abcdef") != 64)) {
		snprintf(why, why_size, "the digest must be sha256: and 64 hex digits");
		return -1;
	}
	if (at)
		copy(ref->digest, sizeof(ref->digest), at + 1, strlen(at + 1));
	if (name_end == slash + 1) {
		snprintf(why, why_size, "it names no repository after the host");
		return -1;
	}
	if ((size_t)(name_end - s) > REFERENCE_NAME_MAX) {
		snprintf(why, why_size, "the name is longer than 255 characters");
		return -1;
	}
	return parse_path(slash + 1, (size_t)(name_end - slash - 1), ref, why, why_size);
}
