/* Image references: reference_parse (what berth logs in to) and image_ref_parse (prune). */
#include "fuzz.h"

#include "prune/cluster.h"
#include "conf/reference.h"

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct reference ref;
	struct image_ref img;
	char why[128] = "";

	memset(&ref, 0x5a, sizeof(ref));
	if (reference_parse(text, &ref, why, sizeof(why)) == 0) {
		if (!TERMINATED(ref.host) || !TERMINATED(ref.path) || !TERMINATED(ref.tag) ||
		    !TERMINATED(ref.digest))
			abort();
		if (reference_valid_host(ref.host) != 0 || !ref.path[0])
			abort();
	} else if (!why[0]) {
		abort();
	}
	reference_valid_host(text);
	memset(&img, 0x5a, sizeof(img));
	if (image_ref_parse(text, &img) == 0) {
		if (!TERMINATED(img.host) || !TERMINATED(img.path) || !TERMINATED(img.tag) ||
		    !TERMINATED(img.digest))
			abort();
		if (!img.host[0] || !img.path[0] || (!img.tag[0] && !img.digest[0]))
			abort();
	}
	free(text);
	return 0;
}
