/*
 * A kubeconfig: the first byte picks the path. Even: the rest is the decoded file, validated by
 * kubeconfig_parse. Odd: the rest, base64-encoded, is KUBECONFIG_BASE64 for kubeconfig_load
 * (base64, gzip inflation when it starts like gzip, the size cap, then the same validation).
 */
#include "fuzz.h"

#include "base/base64.h"
#include "kube/kubeconfig.h"
#include "base/secret.h"
#include "conf/settings.h"
#include "conf/vars.h"

static struct settings settings;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (settings_parse(&settings, "defaults", "", 0) < 0)
		abort();
	settings.kubeconfig_max_bytes = 1u << 20;
	unsetenv("WERF_KUBE_CONFIG_BASE64");
	unsetenv("WERF_KUBECONFIG_BASE64");
	unsetenv("WERF_KUBE_CONTEXT");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kubeconfig k;
	char *enc;

	if (size < 1)
		return 0;
	memset(&k, 0, sizeof(k));
	if (!(data[0] & 1)) {
		secret_adopt(&k.raw, (unsigned char *)fuzz_string(data + 1, size - 1), size - 1);
		kubeconfig_parse(&k, "fuzz", NULL);
		kubeconfig_release(&k);
		return 0;
	}
	enc = base64_encode(data + 1, size - 1);
	if (!enc)
		abort();
	setenv("KUBECONFIG_BASE64", enc, 1);
	free(enc);
	if (kubeconfig_load(&k, &vars_script, &settings) == BERTH_OK)
		kubeconfig_release(&k);
	unsetenv("KUBECONFIG_BASE64");
	return 0;
}
