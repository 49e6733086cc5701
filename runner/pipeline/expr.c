/*
 * Reproduced from GitLab's lib/gitlab/ci/pipeline/expression/ (lexer.rb, parser.rb,
 * lexeme/) rather than from its documentation alone, because pipelines depend on the
 * corners:
 *
 * - Values are Ruby's: a variable is its string or nil, a comparison true or false. `&&` and
 *   `||` are Ruby's and yield an operand, where only nil and false are false, "" is not. Only
 *   the final value is tested, with ActiveSupport's present?, false for nil, false, "" and
 *   all-whitespace strings. So `$EMPTY && $X` is true when $X is set (gitlab#321371) and
 *   `$EMPTY || $X == "1"` is false (gitlab#358775).
 * - `=~` and `!~` match the left side's text (nil reads "", true "true") against the right.
 *   A right side of nil or false never matches. A string right side, from a variable or a
 *   literal, is a regex when it reads /pattern/flags and compiles; otherwise String#scan makes
 *   it a substring test, true when the RIGHT side contains the left (gitlab#426313).
 * - A regex literal needs two characters between its slashes (`/a/` does not lex), `\/` is a
 *   slash wherever it appears, and the flags are i, m, s and U with RE2's meanings (m is
 *   multi-line, not Ruby's dot-all).
 * - Strings have no escapes: "a\" is an a and a backslash. `$NAME` takes \w+, digits first too.
 * - `true` and `false` are literals (Lexeme::Boolean, in GitLab's newest lexer); a variable
 *   holding "true" is the string, which equals neither.
 * - The lexer gives up at its 100th token.
 * - A variable on the right of `=~`/`!~` is read as written: `$VAR`s inside a stored regex are
 *   not resolved (GitLab's docs, "Store a regular expression in a variable"). berth's
 *   variables are expanded once they are set, so that variable comes from the `pattern`
 *   lookup, which gives the value before expansion.
 *
 * Where berth differs:
 * - Regexes run on PCRE2, not RE2: UTF mode, $ only at the very end (RE2's default), and a
 *   match limit; a pattern that blows it is rerun on PCRE2's DFA matcher, which like RE2
 *   never backtracks. PCRE2 accepts lookarounds and backreferences, which RE2 rejects, and
 *   never matches a byte of invalid UTF-8 with '.', where RE2 reads it as U+FFFD.
 * - A regex literal anywhere but the right of `=~`/`!~` is an error, where GitLab computes
 *   meaningless values; so are GitLab's accidental postfix forms such as `$A $B ==`.
 */
#include "pipeline/expr.h"

#include "base/array.h"
#include "base/pcre2_lazy.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GitLab's Lexer::MAX_TOKENS is 100, and its loop fails on the 100th token. */
#define MAX_TOKENS 99
/* Bounds on one pcre2_match: backtracking steps and KiB of heap. */
#define MATCH_LIMIT    1000000
#define HEAP_LIMIT_KIB 65536
/* Integers of workspace for the DFA matcher; it fails cleanly when that is too little. */
#define DFA_WORKSPACE 4096

enum tok {
	T_END,
	T_OPEN,
	T_CLOSE,
	T_VAR,
	T_STR,
	T_REGEX,
	T_NULL,
	T_TRUE,
	T_FALSE,
	T_EQ,
	T_NE,
	T_MATCH,
	T_NOMATCH,
	T_AND,
	T_OR,
};

struct token {
	enum tok type;
	size_t at, len;		    /* the whole token, as byte offsets in the text */
	size_t val_at, val_len;	    /* a variable's name, a string's or regex's contents */
	size_t flags_at, flags_len; /* a regex's flags */
};

/* A compiled regex, with what it takes to compile it again for the DFA matcher. */
struct regex {
	pcre2_code *code;
	char *source;
	uint32_t options;
};

/* A value token, or an operator with its two operands. */
struct node {
	enum tok type;
	size_t at;
	size_t str_at, str_len; /* T_STR */
	char *name;		/* T_VAR */
	struct regex re;	/* T_REGEX */
	const struct node *left, *right;
};

struct expr {
	const char *text;
	struct token toks[MAX_TOKENS + 1]; /* and T_END */
	size_t ntok, pos;
	struct node nodes[MAX_TOKENS];
	size_t nnodes;
	expr_lookup lookup;
	expr_lookup pattern; /* a variable on the right of =~ and !~ */
	void *data;
	pcre2_match_context *mctx;
	pcre2_match_data *md;
	char *err;
	size_t err_size;
};

/* Ruby's values, as far as expressions produce them. Strings are owned copies. */
enum kind { V_NIL, V_BOOL, V_STR };

struct value {
	enum kind kind;
	int truth;
	char *str;
	size_t len;
};

static const char *const tok_names[] = {
	[T_END] = "the end",  [T_OPEN] = "'('",	     [T_CLOSE] = "')'", [T_VAR] = "a variable",
	[T_STR] = "a string", [T_REGEX] = "a regex", [T_NULL] = "null", [T_TRUE] = "true",
	[T_FALSE] = "false",  [T_EQ] = "'=='",	     [T_NE] = "'!='",	[T_MATCH] = "'=~'",
	[T_NOMATCH] = "'!~'", [T_AND] = "'&&'",	     [T_OR] = "'||'",
};

static const struct {
	const char *text;
	enum tok type;
} operators[] = {
	{"==", T_EQ}, {"!=", T_NE}, {"=~", T_MATCH}, {"!~", T_NOMATCH}, {"&&", T_AND}, {"||", T_OR},
};

/* Columns count characters, not bytes: what an editor shows. */
static size_t column(const char *text, size_t at)
{
	size_t i, col = 1;

	for (i = 0; i < at && text[i]; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			col++;
	return col;
}

static int fail(struct expr *e, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "column N: " and the message into the caller's buffer; -1, for callers to return. */
static int fail(struct expr *e, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!e->err || !e->err_size)
		return -1;
	n = snprintf(e->err, e->err_size, "column %zu: ", column(e->text, at));
	if (n < 0 || (size_t)n >= e->err_size)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->err + n, e->err_size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Ruby's \s and \w, which GitLab's lexer uses. */
static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static size_t word_len(const char *s)
{
	size_t n = 0;

	while (is_word(s[n]))
		n++;
	return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Tokens                                                                                     */

/*
 * GitLab's Lexeme::Variable, \$(\w+). `${NAME}` is no token there, so GitLab rejects the
 * expression ("invalid expression syntax"); berth says how to write it instead.
 */
static int lex_variable(struct expr *e, struct token *t)
{
	const char *s = e->text + t->at;
	size_t n;

	t->type = T_VAR;
	if (s[1] == '{') {
		n = word_len(s + 2);
		if (n && s[2 + n] == '}')
			return fail(e, t->at,
				    "invalid expression syntax: GitLab takes $%.*s here, not "
				    "${%.*s}",
				    (int)n, s + 2, (int)n, s + 2);
		return fail(e, t->at, "invalid expression syntax: a variable is $NAME, not ${...}");
	}
	n = word_len(s + 1);
	if (!n)
		return fail(e, t->at, "'$' needs a variable name after it");
	t->val_at = t->at + 1;
	t->val_len = n;
	t->len = n + 1;
	return 0;
}

/* GitLab's ("(.*?)")|('(.*?)'): up to the next quote of the same kind, on the same line. */
static int lex_string(struct expr *e, struct token *t)
{
	const char *s = e->text + t->at;
	size_t i = 1;

	while (s[i] && s[i] != '\n' && s[i] != s[0])
		i++;
	if (s[i] != s[0])
		return fail(e, t->at, "unterminated string: no closing %c on its line", s[0]);
	t->type = T_STR;
	t->val_at = t->at + 1;
	t->val_len = i - 1;
	t->len = i + 1;
	return 0;
}

/*
 * GitLab's %r{^/([^/]|\\/)+[^\\]/[ismU]*}: the pattern ends at the first '/' without a
 * backslash before it, and has at least two characters. A newline cannot be in it: GitLab
 * lexes one but then fails to read the pattern.
 */
static int lex_regex(struct expr *e, struct token *t)
{
	const char *s = e->text + t->at;
	size_t i = 1, j;

	while (s[i] != '/') {
		if (!s[i] || s[i] == '\n')
			return fail(e, t->at, "unterminated regex: no closing / on its line");
		i += s[i] == '\\' && s[i + 1] == '/' ? 2 : 1;
	}
	if (i == 1)
		return fail(e, t->at, "empty regex");
	if (i == 2)
		return fail(e, t->at,
			    "a regex needs at least two characters between its slashes "
			    "in GitLab");
	for (j = i + 1; s[j] && strchr("ismU", s[j]); j++)
		;
	if (is_word(s[j]))
		return fail(e, t->at + j, "unknown regex flag '%c' (GitLab takes i, m, s and U)",
			    s[j]);
	t->type = T_REGEX;
	t->val_at = t->at + 1;
	t->val_len = i - 1;
	t->flags_at = t->at + i + 1;
	t->flags_len = j - i - 1;
	t->len = j;
	return 0;
}

static int lex_word(struct expr *e, struct token *t)
{
	const char *s = e->text + t->at;
	size_t n = word_len(s);

	t->len = n;
	if (n == 4 && !strncmp(s, "null", 4))
		t->type = T_NULL;
	else if (n == 4 && !strncmp(s, "true", 4))
		t->type = T_TRUE;
	else if (n == 5 && !strncmp(s, "false", 5))
		t->type = T_FALSE;
	else
		return fail(e, t->at, "unexpected '%.*s': a string needs quotes, a variable a '$'",
			    n > 40 ? 40 : (int)n, s);
	return 0;
}

/* The operators, and what a lone '=', '!', '&' or '|' was probably meant to be. */
static int lex_operator(struct expr *e, struct token *t)
{
	const char *s = e->text + t->at;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(operators); i++) {
		if (!strncmp(s, operators[i].text, 2)) {
			t->type = operators[i].type;
			t->len = 2;
			return 0;
		}
	}
	switch (s[0]) {
	case '=':
		return fail(e, t->at, "unexpected '=': compare with '==' or '=~'");
	case '!':
		return fail(e, t->at,
			    "unexpected '!': GitLab has no '!' operator, only '!=' and '!~'");
	case '&':
		return fail(e, t->at, "unexpected '&': 'and' is '&&'");
	case '|':
		return fail(e, t->at, "unexpected '|': 'or' is '||'");
	default:
		break;
	}
	if (s[0] > ' ' && s[0] < 0x7f)
		return fail(e, t->at, "unexpected '%c'", s[0]);
	return fail(e, t->at, "unexpected byte 0x%02x", (unsigned char)s[0]);
}

static int lex_one(struct expr *e, struct token *t)
{
	char c = e->text[t->at];

	switch (c) {
	case '(':
	case ')':
		t->type = c == '(' ? T_OPEN : T_CLOSE;
		t->len = 1;
		return 0;
	case '$':
		return lex_variable(e, t);
	case '"':
	case '\'':
		return lex_string(e, t);
	case '/':
		return lex_regex(e, t);
	default:
		return is_word(c) ? lex_word(e, t) : lex_operator(e, t);
	}
}

static int lex(struct expr *e)
{
	size_t i = 0;

	for (;;) {
		struct token *t = &e->toks[e->ntok];

		while (is_space(e->text[i]))
			i++;
		if (!e->text[i])
			break;
		if (e->ntok == MAX_TOKENS)
			return fail(e, i, "GitLab reads at most %d tokens in an expression",
				    MAX_TOKENS);
		memset(t, 0, sizeof(*t));
		t->at = i;
		if (lex_one(e, t) < 0)
			return -1;
		i += t->len;
		e->ntok++;
	}
	memset(&e->toks[e->ntok], 0, sizeof(e->toks[0]));
	e->toks[e->ntok].type = T_END;
	e->toks[e->ntok].at = i;
	if (!e->ntok)
		return fail(e, i, "empty expression");
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Regexes                                                                                    */

/* RE2's defaults as far as PCRE2 has them: UTF-8, and $ only at the very end. */
static uint32_t regex_options(const char *flags, size_t len)
{
	uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
	size_t i;

	for (i = 0; i < len; i++) {
		if (flags[i] == 'i')
			opts |= PCRE2_CASELESS;
		else if (flags[i] == 'm')
			opts |= PCRE2_MULTILINE;
		else if (flags[i] == 's')
			opts |= PCRE2_DOTALL;
		else if (flags[i] == 'U')
			opts |= PCRE2_UNGREEDY;
	}
	return opts;
}

/* SRC with every "\/" made "/", as GitLab's Pattern does before compiling. malloc'd. */
static char *unescape_slashes(const char *src, size_t len)
{
	char *out = malloc(len + 1), *p = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (src[i] == '\\' && i + 1 < len && src[i + 1] == '/')
			continue;
		*p++ = src[i];
	}
	*p = '\0';
	return out;
}

/*
 * Compiles SOURCE (taken over: freed on failure) into RE. Invalid subjects are allowed, as
 * RE2 allows them. 0, or a PCRE2 error code with the offset in *offset.
 */
static int regex_compile(struct regex *re, char *source, uint32_t options, PCRE2_SIZE *offset)
{
	int code = 0;

	re->source = source;
	re->options = options;
	re->code = pcre2_compile((PCRE2_SPTR)source, PCRE2_ZERO_TERMINATED,
				 options | PCRE2_MATCH_INVALID_UTF, &code, offset, NULL);
	if (!re->code) {
		free(source);
		re->source = NULL;
		return code ? code : PCRE2_ERROR_NOMEMORY;
	}
	return 0;
}

static void regex_free(struct regex *re)
{
	if (re->code)
		pcre2_code_free(re->code);
	free(re->source);
	re->code = NULL;
	re->source = NULL;
}

static int pcre2_fail(struct expr *e, size_t at, const char *what, int code)
{
	PCRE2_UCHAR msg[256];

	if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
		snprintf((char *)msg, sizeof(msg), "PCRE2 error %d", code);
	return fail(e, at, "%s: %s", what, (const char *)msg);
}

/*
 * The DFA matcher for a pattern that blew the backtracking limit: it walks all paths at
 * once, as RE2 does. It takes no PCRE2_MATCH_INVALID_UTF, hence its own compile.
 */
static int regex_dfa(struct expr *e, const struct regex *re, const char *subject, size_t len)
{
	PCRE2_SIZE offset;
	int code, rc;
	int *workspace = malloc(DFA_WORKSPACE * sizeof(int));
	pcre2_code *dfa = pcre2_compile((PCRE2_SPTR)re->source, PCRE2_ZERO_TERMINATED, re->options,
					&code, &offset, NULL);

	if (!workspace || !dfa)
		rc = PCRE2_ERROR_NOMEMORY;
	else
		rc = pcre2_dfa_match(dfa, (PCRE2_SPTR)subject, len, 0, PCRE2_DFA_SHORTEST, e->md,
				     e->mctx, workspace, DFA_WORKSPACE);
	if (dfa)
		pcre2_code_free(dfa);
	free(workspace);
	return rc;
}

/* 1 when RE matches somewhere in SUBJECT, 0 when not, -1 on an error reported at AT. */
static int regex_search(struct expr *e, const struct regex *re, const char *subject, size_t len,
			size_t at)
{
	int rc;

	if (!e->mctx) {
		e->mctx = pcre2_match_context_create(NULL);
		if (!e->mctx)
			return fail(e, at, "out of memory");
		pcre2_set_match_limit(e->mctx, MATCH_LIMIT);
		pcre2_set_heap_limit(e->mctx, HEAP_LIMIT_KIB);
	}
	if (!e->md) {
		e->md = pcre2_match_data_create(1, NULL);
		if (!e->md)
			return fail(e, at, "out of memory");
	}
	rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, e->md, e->mctx);
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
	    rc == PCRE2_ERROR_DEPTHLIMIT)
		rc = regex_dfa(e, re, subject, len);
	/* 0 is a match whose groups did not fit in the match data. */
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	return pcre2_fail(e, at, "the regex could not run", rc);
}

/*
 * Whether LINE (LEN bytes, no newline) is all of GitLab's RubySyntax, /(.*)/([ismU]*): a '/',
 * and a last '/' that is not the first and is followed by flags only. The pattern and the
 * flags go to *pat and *flags as offsets into LINE, with their lengths.
 */
static int line_is_regex(const char *line, size_t len, size_t *pat, size_t *pat_len, size_t *flags,
			 size_t *flags_len)
{
	size_t last = len, i;

	while (last > 1 && line[last - 1] != '/')
		last--;
	if (len < 2 || line[0] != '/' || last < 2)
		return 0;
	for (i = last; i < len; i++)
		if (!strchr("ismU", line[i]))
			return 0;
	*pat = 1;
	*pat_len = last - 2;
	*flags = last;
	*flags_len = len - last;
	return 1;
}

/*
 * Whether S reads as a regex to RubySyntax's %r{^/(.*)/([ismU]*)$}, where ^ and $ are Ruby's
 * line anchors and . stops at a newline: the first line that does. Offsets are into S.
 */
static int reads_as_regex(const char *s, size_t len, size_t *pat, size_t *pat_len, size_t *flags,
			  size_t *flags_len)
{
	size_t start = 0;

	for (;;) {
		const char *nl = memchr(s + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - s) : len;

		if (line_is_regex(s + start, end - start, pat, pat_len, flags, flags_len)) {
			*pat += start;
			*flags += start;
			return 1;
		}
		if (!nl)
			return 0;
		start = end + 1;
	}
}

/*
 * `SUBJECT =~ RIGHT` for a string RIGHT, as Lexeme::Pattern.build_and_evaluate and
 * String#scan do it: a regex when RIGHT reads as one and compiles, else a substring test.
 */
static int match_string(struct expr *e, const struct value *right, const char *subject, size_t len,
			size_t at)
{
	size_t pat, pat_len, flags, flags_len;
	char *plain = unescape_slashes(right->str, right->len), *source = NULL;
	struct regex re = {0};
	uint32_t options = 0;
	PCRE2_SIZE offset;
	int hit;

	if (!plain)
		return fail(e, at, "out of memory");
	if (reads_as_regex(plain, strlen(plain), &pat, &pat_len, &flags, &flags_len)) {
		source = strndup(plain + pat, pat_len);
		options = regex_options(plain + flags, flags_len);
		if (!source) {
			free(plain);
			return fail(e, at, "out of memory");
		}
	}
	free(plain);
	/* Not a regex to GitLab either way: the value itself, searched for the text. */
	if (!source || regex_compile(&re, source, options, &offset))
		return !len || memmem(right->str, right->len, subject, len) != NULL;
	hit = regex_search(e, &re, subject, len, at);
	regex_free(&re);
	return hit;
}

/* ------------------------------------------------------------------------------------------ */
/* The parse tree                                                                             */

static const struct token *peek(const struct expr *e)
{
	return &e->toks[e->pos];
}

static struct node *new_node(struct expr *e, const struct token *t)
{
	struct node *n;

	/* Each node takes a token of its own, so this cannot run out. */
	if (e->nnodes == MAX_TOKENS) {
		fail(e, t->at, "too many nodes");
		return NULL;
	}
	n = &e->nodes[e->nnodes++];
	memset(n, 0, sizeof(*n));
	n->type = t->type;
	n->at = t->at;
	return n;
}

static struct node *leaf(struct expr *e, const struct token *t)
{
	struct node *n = new_node(e, t);
	PCRE2_SIZE offset = 0;
	int code;

	if (!n)
		return NULL;
	if (t->type == T_STR) {
		n->str_at = t->val_at;
		n->str_len = t->val_len;
	} else if (t->type == T_VAR) {
		n->name = strndup(e->text + t->val_at, t->val_len);
		if (!n->name) {
			fail(e, t->at, "out of memory");
			return NULL;
		}
	} else if (t->type == T_REGEX) {
		char *source = unescape_slashes(e->text + t->val_at, t->val_len);

		if (!source) {
			fail(e, t->at, "out of memory");
			return NULL;
		}
		code = regex_compile(&n->re, source,
				     regex_options(e->text + t->flags_at, t->flags_len), &offset);
		if (code) {
			pcre2_fail(e, t->at, "invalid regex", code);
			return NULL;
		}
	}
	return n;
}

static struct node *parse_or(struct expr *e, const struct token *after);

static struct node *expected_operand(struct expr *e, const struct token *after,
				     const struct token *found)
{
	if (!after)
		fail(e, found->at, "expected a variable, string, null or '(', found %s",
		     tok_names[found->type]);
	else if (after->type == T_MATCH || after->type == T_NOMATCH)
		fail(e, found->at,
		     "expected a regex, variable, string, null or '(' after %s, found %s",
		     tok_names[after->type], tok_names[found->type]);
	else
		fail(e, found->at, "expected a variable, string, null or '(' after %s, found %s",
		     tok_names[after->type], tok_names[found->type]);
	return NULL;
}

/* A value or a parenthesised expression; AFTER is the token before it, for messages. */
static struct node *parse_operand(struct expr *e, const struct token *after)
{
	const struct token *t = peek(e);
	struct node *n;

	switch (t->type) {
	case T_VAR:
	case T_STR:
	case T_REGEX:
	case T_NULL:
	case T_TRUE:
	case T_FALSE:
		e->pos++;
		return leaf(e, t);
	case T_OPEN:
		e->pos++;
		n = parse_or(e, t);
		if (!n)
			return NULL;
		if (peek(e)->type == T_END) {
			fail(e, t->at, "'(' without a matching ')'");
			return NULL;
		}
		if (peek(e)->type != T_CLOSE) {
			fail(e, peek(e)->at, "expected an operator or ')', found %s",
			     tok_names[peek(e)->type]);
			return NULL;
		}
		e->pos++;
		return n;
	default:
		return expected_operand(e, after, t);
	}
}

static int is_comparison(enum tok type)
{
	return type == T_EQ || type == T_NE || type == T_MATCH || type == T_NOMATCH;
}

/*
 * One level of left-associative binary operators: comparisons over operands, && over
 * comparisons, || over &&, the precedences of GitLab's shunting-yard parser.
 */
static struct node *parse_level(struct expr *e, const struct token *after, int level)
{
	struct node *left, *right, *n;

	left = level == 0 ? parse_operand(e, after) : parse_level(e, after, level - 1);
	while (left) {
		const struct token *op = peek(e);

		if (level == 0 ? !is_comparison(op->type) : op->type != (level == 1 ? T_AND : T_OR))
			break;
		e->pos++;
		right = level == 0 ? parse_operand(e, op) : parse_level(e, op, level - 1);
		if (!right)
			return NULL;
		n = new_node(e, op);
		if (!n)
			return NULL;
		n->left = left;
		n->right = right;
		left = n;
	}
	return left;
}

static struct node *parse_or(struct expr *e, const struct token *after)
{
	return parse_level(e, after, 2);
}

/* A regex means something only as the pattern of '=~' and '!~'. */
static int check_regexes(struct expr *e, const struct node *n, int regex_ok)
{
	if (n->type == T_REGEX && !regex_ok)
		return fail(e, n->at, "a regex goes only on the right of '=~' or '!~'");
	if (!n->left)
		return 0;
	if (check_regexes(e, n->left, 0))
		return -1;
	return check_regexes(e, n->right, n->type == T_MATCH || n->type == T_NOMATCH);
}

static const struct node *parse(struct expr *e)
{
	const struct node *root = parse_or(e, NULL);
	const struct token *t = peek(e);

	if (!root)
		return NULL;
	if (t->type == T_CLOSE) {
		fail(e, t->at, "')' without a matching '('");
		return NULL;
	}
	if (t->type != T_END) {
		fail(e, t->at, "expected an operator, found %s", tok_names[t->type]);
		return NULL;
	}
	return check_regexes(e, root, 0) ? NULL : root;
}

/* ------------------------------------------------------------------------------------------ */
/* Evaluation                                                                                 */

static void value_free(struct value *v)
{
	free(v->str);
	v->str = NULL;
}

static int value_string(struct expr *e, struct value *v, const char *s, size_t len, size_t at)
{
	v->kind = V_STR;
	v->len = len;
	v->str = malloc(len + 1);
	if (!v->str)
		return fail(e, at, "out of memory");
	memcpy(v->str, s, len);
	v->str[len] = '\0';
	return 0;
}

/* Ruby's truth, used by && and ||: everything but nil and false. */
static int ruby_truthy(const struct value *v)
{
	return v->kind == V_STR || (v->kind == V_BOOL && v->truth);
}

/* One UTF-8 character's code point, its length in *len; a stray byte is U+FFFD. */
static unsigned long utf8_char(const unsigned char *s, size_t left, size_t *len)
{
	unsigned long cp;
	size_t n, i;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
	*len = 1;
	if (!n || n > left)
		return 0xfffd;
	cp = s[0] & (0x3f >> (n - 1));
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0xfffd;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*len = n;
	return cp;
}

/* Unicode's White_Space, Ruby's [[:space:]] on UTF-8 strings. */
static int is_unicode_space(unsigned long cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 ||
	       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* ActiveSupport's present?, GitLab's final test: blank strings are false. */
static int present(const struct value *v)
{
	size_t i, n;

	if (v->kind != V_STR)
		return v->kind == V_BOOL && v->truth;
	for (i = 0; i < v->len; i += n)
		if (!is_unicode_space(utf8_char((const unsigned char *)v->str + i, v->len - i, &n)))
			return 1;
	return 0;
}

/* Ruby's ==: same class and same contents. */
static int values_equal(const struct value *a, const struct value *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == V_BOOL)
		return !a->truth == !b->truth;
	if (a->kind == V_STR)
		return a->len == b->len && !memcmp(a->str, b->str, a->len);
	return 1;
}

static int eval(struct expr *e, const struct node *n, struct value *v);

static int eval_compare(struct expr *e, const struct node *n, struct value *v)
{
	struct value l = {0}, r = {0};
	int equal;

	if (eval(e, n->left, &l))
		return -1;
	if (eval(e, n->right, &r)) {
		value_free(&l);
		return -1;
	}
	equal = values_equal(&l, &r);
	value_free(&l);
	value_free(&r);
	v->kind = V_BOOL;
	v->truth = n->type == T_EQ ? equal : !equal;
	return 0;
}

/* A variable's value, copied; nil when it is not defined. */
static int eval_variable(struct expr *e, const struct node *n, expr_lookup lookup, struct value *v)
{
	const char *s = lookup ? lookup(n->name, e->data) : NULL;

	memset(v, 0, sizeof(*v));
	return s ? value_string(e, v, s, strlen(s), n->at) : 0;
}

/* Whether the left side's text matches the right side: 1, 0, or -1 on an error. */
static int match(struct expr *e, const struct node *n, const char *subject, size_t len)
{
	struct value r = {0};
	int hit;

	if (n->right->type == T_REGEX)
		return regex_search(e, &n->right->re, subject, len, n->at);
	if (n->right->type == T_VAR ? eval_variable(e, n->right, e->pattern, &r)
				    : eval(e, n->right, &r))
		return -1;
	if (r.kind == V_STR)
		hit = match_string(e, &r, subject, len, n->at);
	else if (r.kind == V_BOOL && r.truth)
		/* GitLab fails here too: true has no scan method. */
		hit = fail(e, n->at, "the right side of %s is true, not a regex or a string",
			   tok_names[n->type]);
	else
		hit = 0;
	value_free(&r);
	return hit;
}

static int eval_match(struct expr *e, const struct node *n, struct value *v)
{
	struct value l = {0};
	const char *subject = "";
	size_t len = 0;
	int hit;

	if (eval(e, n->left, &l))
		return -1;
	if (l.kind == V_STR) {
		subject = l.str;
		len = l.len;
	} else if (l.kind == V_BOOL) {
		subject = l.truth ? "true" : "false";
		len = strlen(subject);
	}
	hit = match(e, n, subject, len);
	value_free(&l);
	if (hit < 0)
		return -1;
	v->kind = V_BOOL;
	v->truth = n->type == T_MATCH ? hit : !hit;
	return 0;
}

/* Ruby's && and ||: the left operand when it decides, else the right one. */
static int eval_logic(struct expr *e, const struct node *n, struct value *v)
{
	if (eval(e, n->left, v))
		return -1;
	if (ruby_truthy(v) == (n->type == T_OR))
		return 0;
	value_free(v);
	return eval(e, n->right, v);
}

static int eval(struct expr *e, const struct node *n, struct value *v)
{
	memset(v, 0, sizeof(*v));
	switch (n->type) {
	case T_VAR:
		return eval_variable(e, n, e->lookup, v);
	case T_STR:
		return value_string(e, v, e->text + n->str_at, n->str_len, n->at);
	case T_TRUE:
	case T_FALSE:
		v->kind = V_BOOL;
		v->truth = n->type == T_TRUE;
		return 0;
	case T_EQ:
	case T_NE:
		return eval_compare(e, n, v);
	case T_MATCH:
	case T_NOMATCH:
		return eval_match(e, n, v);
	case T_AND:
	case T_OR:
		return eval_logic(e, n, v);
	case T_NULL:
		return 0;
	default:
		return fail(e, n->at, "cannot evaluate %s here", tok_names[n->type]);
	}
}

static void expr_free(struct expr *e)
{
	size_t i;

	for (i = 0; i < e->nnodes; i++) {
		free(e->nodes[i].name);
		regex_free(&e->nodes[i].re);
	}
	if (e->md) /* PCRE2 may not be loaded: its frees are only called with something to free */
		pcre2_match_data_free(e->md);
	if (e->mctx)
		pcre2_match_context_free(e->mctx);
}

int expr_eval_patterns(const char *text, expr_lookup lookup, expr_lookup pattern, void *data,
		       char *err, size_t err_size)
{
	struct expr *e = calloc(1, sizeof(*e));
	const struct node *root;
	struct value v;
	int result = -1;

	if (err && err_size)
		err[0] = '\0';
	if (!e) {
		if (err && err_size)
			snprintf(err, err_size, "out of memory");
		return -1;
	}
	e->text = text ? text : "";
	/* A regex (`/.../`, or a pattern behind =~) needs PCRE2: loaded the first time one may. */
	if (strpbrk(e->text, "~/") && pcre2_lazy_load(err, err_size) < 0) {
		free(e);
		return -1;
	}
	e->lookup = lookup;
	e->pattern = pattern;
	e->data = data;
	e->err = err;
	e->err_size = err_size;
	if (!lex(e) && (root = parse(e)) && !eval(e, root, &v)) {
		result = present(&v);
		value_free(&v);
	}
	expr_free(e);
	free(e);
	return result;
}

int expr_eval(const char *text, expr_lookup lookup, void *data, char *err, size_t err_size)
{
	return expr_eval_patterns(text, lookup, lookup, data, err, err_size);
}

int expr_regex_match(const char *regex, const char *subject, char *err, size_t err_size)
{
	struct expr *e = calloc(1, sizeof(*e));
	size_t pat, pat_len, flags, flags_len;
	struct regex re = {0};
	PCRE2_SIZE offset;
	char *source;
	int code, hit = -1;

	if (!e) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	e->text = regex;
	e->err = err;
	e->err_size = err_size;
	if (pcre2_lazy_load(err, err_size) < 0)
		goto out;
	if (!line_is_regex(regex, strlen(regex), &pat, &pat_len, &flags, &flags_len)) {
		fail(e, 0, "not a /regex/flags");
		goto out;
	}
	source = unescape_slashes(regex + pat, pat_len);
	if (!source) {
		fail(e, 0, "out of memory");
		goto out;
	}
	code = regex_compile(&re, source, regex_options(regex + flags, flags_len), &offset);
	if (code) {
		pcre2_fail(e, 0, "invalid regex", code);
		goto out;
	}
	hit = regex_search(e, &re, subject, strlen(subject), 0);
	regex_free(&re);
out:
	expr_free(e);
	free(e);
	return hit;
}
