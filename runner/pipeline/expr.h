/*
 * GitLab CI/CD variable expressions, the language of rules:if and only/except:variables,
 * evaluated as GitLab's Gitlab::Ci::Pipeline::Expression does: its tokens, its precedence
 * (comparisons, then &&, then ||, each left to right) and its Ruby values. expr.c lists the
 * places where GitLab's behaviour is surprising and where berth differs.
 */
#ifndef EXPR_H
#define EXPR_H

#include <stddef.h>

/*
 * The value of NAME, or NULL when the variable is not defined. expr_eval copies the value
 * at once, so the string need only live until the next call.
 */
typedef const char *(*expr_lookup)(const char *name, void *data);

/*
 * Evaluates a CI/CD variable expression (rules:if, only/except:variables). 1 true, 0 false,
 * -1 when TEXT is not an expression: a message naming the column and what was expected is
 * written to err (err_size bytes). Never prints.
 */
int expr_eval(const char *text, expr_lookup lookup, void *data, char *err, size_t err_size);
/*
 * expr_eval, with a variable on the right of `=~`/`!~` read through PATTERN instead: a regex
 * stored in a variable is used as written, its own `$VAR`s not resolved (GitLab's docs,
 * "Store a regular expression in a variable"), where LOOKUP gives expanded values.
 */
int expr_eval_patterns(const char *text, expr_lookup lookup, expr_lookup pattern, void *data,
		       char *err, size_t err_size);
/*
 * Whether SUBJECT matches REGEX, a whole `/pattern/flags` as GitLab's RubySyntax reads one:
 * everything between the first and the last '/' is the pattern (slashes inside need no
 * escape), as in `only: ['/^release/.*$/']`. 1, 0, or -1 with err when REGEX is not one.
 */
int expr_regex_match(const char *regex, const char *subject, char *err, size_t err_size);

#endif
