/*
 * $VAR and ${VAR} expansion in the values of a .gitlab-ci.yml (variables, environment names,
 * image names): one pass, with $$ for a literal $.
 */
#ifndef EXPAND_H
#define EXPAND_H

#include "pipeline/expr.h"

/*
 * TEXT with $VAR and ${VAR} replaced by their values (undefined: empty) and $$ by one $. A $
 * not followed by a name, '{' or '$' stays as is. One pass: values are not expanded again.
 * malloc'd; NULL only when memory runs out.
 */
char *expand_vars(const char *text, expr_lookup lookup, void *data);
/* 1 when TEXT holds a $VAR or ${VAR} reference (after $$ escapes are skipped). */
int expand_has_refs(const char *text);

#endif
