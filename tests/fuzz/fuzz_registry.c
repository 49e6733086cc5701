/* Registry response headers: WWW-Authenticate challenges and Retry-After values. */
#include "fuzz.h"

#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct challenge ch;
	long wait;

	memset(&ch, 0x5a, sizeof(ch));
	if (registry_parse_challenge(text, &ch) == 0) {
		/* Every field a C string within its array. */
		if (!memchr(ch.scheme, '\0', sizeof(ch.scheme)) ||
		    !memchr(ch.realm, '\0', sizeof(ch.realm)) ||
		    !memchr(ch.service, '\0', sizeof(ch.service)) ||
		    !memchr(ch.scope, '\0', sizeof(ch.scope)))
			abort();
		if (strcmp(ch.scheme, "basic") != 0 && strcmp(ch.scheme, "bearer") != 0)
			abort();
		if (strcmp(ch.scheme, "bearer") == 0 && !ch.realm[0])
			abort();
	}
	wait = registry_retry_after(text, (time_t)1700000000);
	if (wait < -1)
		abort();
	wait = registry_retry_after(text, (time_t)0);
	if (wait < -1)
		abort();
	free(text);
	return 0;
}
