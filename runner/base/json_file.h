/* JSON files berth reads: the runner's response file, docker's config.json. */
#ifndef JSON_FILE_H
#define JSON_FILE_H

#include <jansson.h>
#include <stddef.h>

/*
 * Reads `path` (at most `max` bytes, `flags` as for secret_read_file) as a JSON object. NULL after
 * reporting "cannot read/parse WHAT 'PATH'"; when the file does not exist and `missing` is given,
 * NULL with *missing = 1, unreported. Messages give the line and column with a fixed reason:
 * jansson's own text quotes the input near the error, and these files hold tokens and credentials.
 */
json_t *json_read_object(const char *path, size_t max, int flags, const char *what, int *missing);

#endif
