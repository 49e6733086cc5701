/*
 * A docker config.json as found in a config dir: read (docker_config_get), added to
 * (docker_config_set) and removed from (docker_config_remove, one host and all), each on a
 * fresh copy of the input.
 */
#include "fuzz.h"

#include "registry/docker_config.h"
#include "base/secret.h"

static char file[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(file, sizeof(file), "%s/config.json", fuzz_dir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = {"registry.example.com", "docker.io",
					    "https://index.docker.io/v1/", "localhost:5000"};
	struct secret login = SECRET_INIT, auth = SECRET_INIT;
	const char *dir = fuzz_dir();
	size_t i;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		fuzz_write(file, data, size);
		if (docker_config_get(dir, hosts[i], &login) == 1 && !login.data)
			abort();
		secret_release(&login);
	}
	if (secret_set(&auth, "dXNlcjpwYXNzd29yZA==") < 0)
		abort();
	fuzz_write(file, data, size);
	if (docker_config_set(dir, "registry.example.com", &auth) == 0) {
		/* What was stored reads back. */
		if (docker_config_get(dir, "registry.example.com", &login) != 1 || !login.data ||
		    strcmp((const char *)login.data, "user:password") != 0)
			abort();
		secret_release(&login);
	}
	secret_release(&auth);
	fuzz_write(file, data, size);
	docker_config_remove(dir, "registry.example.com");
	fuzz_write(file, data, size);
	docker_config_remove(dir, NULL);
	return 0;
}
