#include "conf/lock_key.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>

int lock_deploy_key(const char *project, const char *slug, char *key, size_t size)
{
	if (!slug || !*slug)
		slug = "default";
	if (strlen(slug) > 63 ||
	    strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(slug))
		return error("environment slug '%s' is not [a-z0-9-] of at most 63 characters",
			     slug);
	if ((size_t)snprintf(key, size, "deploy/%s/%s", project, slug) >= size)
		return error("project id '%s' makes too long a lock key", project);
	return 0;
}

int lock_valid_key(const char *key, char *why, size_t why_size)
{
	size_t n = strlen(key), i, part = 0;
	const char *reason = NULL;

	if (n == 0 || n > LOCK_KEY_MAX)
		reason = "a key has 1 to 200 bytes";
	for (i = 0; !reason && i <= n; i++) {
		char c = key[i];

		if (c == '/' || c == '\0') {
			if (part == 0)
				reason = "a key has no empty part ('//', or '/' at an end)";
			else if ((part == 1 && key[i - 1] == '.') ||
				 (part == 2 && key[i - 1] == '.' && key[i - 2] == '.'))
				reason = "a key has no '.' or '..' part";
			part = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':') {
			part++; /* ':' for registry hosts with a port */
		} else {
			reason = "a key is made of letters, digits, '.', '_', '-', ':' and '/'";
		}
	}
	if (!reason)
		return 0;
	snprintf(why, why_size, "%s", reason);
	return -1;
}
