#include "base/json_file.h"

#include "base/log.h"
#include "base/secret.h"

static const char *reason(const json_error_t *e)
{
	switch (json_error_code(e)) {
	case json_error_out_of_memory:
		return "out of memory";
	case json_error_stack_overflow:
		return "nested too deep";
	case json_error_cannot_open_file:
		return "cannot open the file";
	case json_error_premature_end_of_input:
		return "the input ends too early";
	case json_error_end_of_input_expected:
		return "something follows the JSON value";
	case json_error_invalid_syntax:
		return "invalid syntax";
	case json_error_invalid_format:
		return "invalid format";
	case json_error_wrong_type:
		return "a value of the wrong type";
	case json_error_null_character:
		return "a NUL character";
	case json_error_null_value:
		return "a null value";
	case json_error_null_byte_in_key:
		return "a NUL byte in a key";
	case json_error_duplicate_key:
		return "a key that appears twice";
	case json_error_numeric_overflow:
		return "a number out of range";
	case json_error_item_not_found:
		return "a missing item";
	case json_error_index_out_of_range:
		return "an index out of range";
	default:
		return "invalid JSON";
	}
}

json_t *json_read_object(const char *path, size_t max, int flags, const char *what, int *missing)
{
	struct secret buf = SECRET_INIT;
	json_error_t jerr;
	json_t *root;
	int got = secret_read_file(path, max, flags | (missing ? READ_MISSING_OK : 0), what, &buf);

	if (missing)
		*missing = got == 0;
	if (got <= 0)
		return NULL;
	root = json_loadb((const char *)buf.data, buf.len, JSON_REJECT_DUPLICATES, &jerr);
	secret_release(&buf);
	if (!root) {
		error("cannot parse %s '%s': line %d column %d: %s", what, path, jerr.line,
		      jerr.column, reason(&jerr));
	} else if (!json_is_object(root)) {
		error("cannot parse %s '%s': not a JSON object", what, path);
		json_decref(root);
		root = NULL;
	}
	return root;
}
