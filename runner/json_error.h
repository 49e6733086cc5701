/*
 * jansson's error text quotes the input near the error ("invalid token near 'abc'"), and the
 * JSON berth reads holds job tokens and registry credentials. Messages use this instead: a
 * fixed reason for each error code.
 */
#ifndef JSON_ERROR_H
#define JSON_ERROR_H

#include <jansson.h>

const char *json_error_reason(const json_error_t *e);

#endif
