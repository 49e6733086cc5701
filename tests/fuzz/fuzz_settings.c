/* berth.yaml: settings_parse on any bytes, and what parses prints and parses again. */
#include "fuzz.h"

#include "conf/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings s, again;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	memset(&s, 0, sizeof(s));
	if (settings_parse(&s, "fuzz.yaml", (const char *)data, size) < 0)
		return 0;
	out = open_memstream(&text, &len);
	if (!out)
		abort();
	settings_print(&s, out);
	if (fclose(out) != 0)
		abort();
	/* settings_print writes YAML that settings_parse accepts. */
	memset(&again, 0, sizeof(again));
	if (settings_parse(&again, "printed", text, len) < 0)
		abort();
	settings_release(&again);
	settings_release(&s);
	free(text);
	return 0;
}
