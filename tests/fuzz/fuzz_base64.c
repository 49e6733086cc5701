/* base64_decode on any bytes (not NUL-terminated); what decodes must round-trip. */
#include "fuzz.h"

#include "base/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[128] = "";
	size_t len = 0, len2 = 0;
	unsigned char *out, *again;
	char *enc;

	/* Exactly sized so ASan catches a read past the end. */
	out = base64_decode((const char *)data, size, 1u << 20, &len, why, sizeof(why));
	if (!out) {
		if (!why[0])
			abort();
		return 0;
	}
	if (out[len] != '\0')
		abort();
	enc = base64_encode(out, len);
	if (!enc)
		abort();
	again = base64_decode(enc, strlen(enc), len, &len2, why, sizeof(why));
	if (!again || len2 != len || memcmp(again, out, len) != 0)
		abort();
	/* One byte short of the cap must fail with base64_too_large. */
	if (len) {
		free(again);
		again = base64_decode(enc, strlen(enc), len - 1, &len2, why, sizeof(why));
		if (again || strcmp(why, base64_too_large) != 0)
			abort();
	}
	free(again);
	free(enc);
	free(out);
	return 0;
}
