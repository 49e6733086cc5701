/*
 * rules:if: expr_eval on any text against a few variables (set, empty, unset, a regex-looking
 * value). Returns 1, 0, or -1 with a message; anything else is a bug. Needs PCRE2 (dlopen'd).
 */
#include "fuzz.h"

#include "pipeline/expr.h"

static const char *lookup(const char *name, void *data)
{
	static const char *const vars[][2] = {
		{"CI_COMMIT_BRANCH", "main"},
		{"CI_PIPELINE_SOURCE", "merge_request_event"},
		{"CI_COMMIT_TAG", "v1.2.3"},
		{"EMPTY", ""},
		{"A", "a"},
		{"RE", "/^ma.*$/i"},
		{"N", "10"},
	};
	size_t i;

	(void)data;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strcmp(name, vars[i][0]) == 0)
			return vars[i][1];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	char err[256];
	int r;

	err[0] = '\0';
	r = expr_eval(text, lookup, NULL, err, sizeof(err));
	if (r < -1 || r > 1 || (r == -1 && !err[0]))
		abort();
	/* A tiny err buffer must still be NUL-terminated and never overrun. */
	r = expr_eval(text, lookup, NULL, err, 4);
	if (r == -1 && strlen(err) > 3)
		abort();
	free(text);
	return 0;
}
