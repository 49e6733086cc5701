#include "pipeline/node.h"

#include "base/yload.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct conv {
	yaml_document_t *doc;
	const char *file;
	size_t count;
	char *err;
	size_t err_size;
};

static int fail(struct conv *c, size_t line, const char *what)
{
	snprintf(c->err, c->err_size, "%s:%zu: %s", c->file, line, what);
	return -1;
}

struct node *node_new(enum node_kind kind, const char *file, size_t line)
{
	struct node *n = calloc(1, sizeof(*n));

	if (n) {
		n->kind = kind;
		n->file = file;
		n->line = line;
	}
	return n;
}

struct node *node_scalar(const char *text, const char *file, size_t line)
{
	struct node *n = node_new(NODE_SCALAR, file, line);

	if (n && !(n->str = strdup(text))) {
		free(n);
		return NULL;
	}
	return n;
}

void node_free(struct node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n; i++) {
		node_free(n->items[i]);
		if (n->keys)
			free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->key_lines);
	free(n->str);
	free(n);
}

/* Room for one more item (and key). The arrays hold pointers: sizeof a pointer is meant. */
static int grow(struct node *n)
{
	struct node **items = realloc(n->items, (n->n + 1) * sizeof(struct node *)); /* NOLINT */

	if (!items)
		return -1;
	n->items = items;
	if (n->kind == NODE_MAP) {
		char **keys = realloc(n->keys, (n->n + 1) * sizeof(char *));
		size_t *lines = keys ? realloc(n->key_lines, (n->n + 1) * sizeof(size_t)) : NULL;

		if (keys)
			n->keys = keys;
		if (!lines)
			return -1;
		n->key_lines = lines;
	}
	return 0;
}

int node_push(struct node *seq, struct node *item)
{
	if (!item || grow(seq) < 0) {
		node_free(item);
		return -1;
	}
	seq->items[seq->n++] = item;
	return 0;
}

static long find(const struct node *map, const char *key)
{
	size_t i;

	if (!map || map->kind != NODE_MAP)
		return -1;
	for (i = 0; i < map->n; i++)
		if (!strcmp(map->keys[i], key))
			return (long)i;
	return -1;
}

struct node *node_get(const struct node *map, const char *key)
{
	long i = find(map, key);

	return i < 0 || !map->items ? NULL : map->items[i];
}

int node_set(struct node *map, const char *key, struct node *value)
{
	long i = find(map, key);
	char *copy;

	if (!value)
		return -1;
	if (i >= 0 && map->items) {
		node_free(map->items[i]);
		map->items[i] = value;
		return 0;
	}
	copy = strdup(key);
	if (!copy || grow(map) < 0) {
		free(copy);
		node_free(value);
		return -1;
	}
	map->keys[map->n] = copy;
	map->key_lines[map->n] = value->line;
	map->items[map->n++] = value;
	return 0;
}

static void set_key_line(struct node *map, const char *key, size_t line)
{
	long i = find(map, key);

	if (i >= 0)
		map->key_lines[i] = line;
}

size_t node_key_line(const struct node *map, size_t i)
{
	return map->key_lines ? map->key_lines[i] : map->items[i]->line;
}

int node_flatten(struct node *seq)
{
	size_t i, k;

	for (i = 0; i < seq->n; i++) {
		struct node *inner = seq->items[i];
		struct node **grown;

		if (inner->kind != NODE_SEQ)
			continue;
		if (node_flatten(inner) < 0)
			return -1;
		grown = realloc(seq->items, /* NOLINT: an array of pointers */
				(seq->n + inner->n) * sizeof(struct node *));
		if (!grown)
			return -1;
		seq->items = grown;
		memmove(seq->items + i + inner->n, seq->items + i + 1,
			(seq->n - i - 1) * sizeof(struct node *)); /* NOLINT */
		for (k = 0; k < inner->n; k++)
			seq->items[i + k] = inner->items[k];
		seq->n += inner->n - 1;
		i += inner->n - 1;
		inner->n = 0;
		node_free(inner);
		if (!seq->n)
			break;
	}
	return 0;
}

void node_del(struct node *map, const char *key)
{
	long i = find(map, key);

	if (i < 0)
		return;
	node_free(map->items[i]);
	free(map->keys[i]);
	memmove(map->items + i, map->items + i + 1,
		(map->n - (size_t)i - 1) * sizeof(struct node *)); /* NOLINT */
	memmove(map->keys + i, map->keys + i + 1, (map->n - (size_t)i - 1) * sizeof(char *));
	memmove(map->key_lines + i, map->key_lines + i + 1,
		(map->n - (size_t)i - 1) * sizeof(size_t));
	map->n--;
}

struct node *node_copy(const struct node *n)
{
	struct node *c;
	size_t i;

	if (!n)
		return NULL;
	c = node_new(n->kind, n->file, n->line);
	if (!c)
		return NULL;
	c->plain = n->plain;
	c->reference = n->reference;
	if (n->str && !(c->str = strdup(n->str)))
		goto fail;
	for (i = 0; i < n->n; i++) {
		if (n->kind == NODE_MAP ? node_set(c, n->keys[i], node_copy(n->items[i])) < 0
					: node_push(c, node_copy(n->items[i])) < 0)
			goto fail;
		if (n->kind == NODE_MAP)
			c->key_lines[c->n - 1] = node_key_line(n, i);
	}
	return c;
fail:
	node_free(c);
	return NULL;
}

int node_is_null(const struct node *n)
{
	return n && n->kind == NODE_SCALAR && n->plain &&
	       (!*n->str || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
		!strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
}

int node_bool(const struct node *n)
{
	static const char *yes[] = {"true", "True", "TRUE"}, *no[] = {"false", "False", "FALSE"};
	size_t i;

	if (!n || n->kind != NODE_SCALAR || !n->plain)
		return -1;
	for (i = 0; i < 3; i++) {
		if (!strcmp(n->str, yes[i]))
			return 1;
		if (!strcmp(n->str, no[i]))
			return 0;
	}
	return -1;
}

struct node *node_merge(const struct node *base, const struct node *over)
{
	struct node *out;
	size_t i;

	if (!base || !over || base->kind != NODE_MAP || over->kind != NODE_MAP)
		return node_copy(over ? over : base);
	out = node_copy(base);
	for (i = 0; out && i < over->n; i++) {
		struct node *mine = node_get(out, over->keys[i]);
		struct node *merged =
			mine ? node_merge(mine, over->items[i]) : node_copy(over->items[i]);

		if (node_set(out, over->keys[i], merged) < 0) {
			node_free(out);
			return NULL;
		}
		set_key_line(out, over->keys[i], node_key_line(over, i));
	}
	return out;
}

/* ---- from libyaml's document --------------------------------------------------------- */

static struct node *convert(struct conv *c, yaml_node_t *y, int depth);

static int is_merge_key(const yaml_node_t *k)
{
	return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       k->data.scalar.length == 2 && !memcmp(k->data.scalar.value, "<<", 2);
}

/* `<<: *a` or `<<: [*a, *b]`: keys the mapping lacks come from the sources, earlier first. */
static int apply_merges(struct conv *c, struct node *map, struct node *src)
{
	size_t i;

	if (src->kind == NODE_SEQ) {
		for (i = 0; i < src->n; i++)
			if (apply_merges(c, map, src->items[i]) < 0)
				return -1;
		return 0;
	}
	if (src->kind != NODE_MAP)
		return fail(c, src->line, "a '<<' merge key takes a mapping or a list of them");
	for (i = 0; i < src->n; i++)
		if (!node_get(map, src->keys[i]) &&
		    node_set(map, src->keys[i], node_copy(src->items[i])) < 0)
			return fail(c, src->line, "out of memory");
	return 0;
}

static struct node *convert_map(struct conv *c, yaml_node_t *y, int depth)
{
	struct node *map = node_new(NODE_MAP, c->file, y->start_mark.line + 1);
	struct node *merges = node_new(NODE_SEQ, c->file, y->start_mark.line + 1);
	yaml_node_pair_t *p;

	if (!map || !merges)
		goto oom;
	for (p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		struct node *v = convert(c, yaml_document_get_node(c->doc, p->value), depth + 1);

		if (!v)
			goto fail;
		if (is_merge_key(k)) {
			if (node_push(merges, v) < 0)
				goto oom;
			continue;
		}
		if (k->type != YAML_SCALAR_NODE) {
			node_free(v);
			fail(c, k->start_mark.line + 1, "a key must be a plain value");
			goto fail;
		}
		/* A key set twice: the last wins, as in GitLab's YAML reader. */
		if (node_set(map, (const char *)k->data.scalar.value, v) < 0)
			goto oom;
		set_key_line(map, (const char *)k->data.scalar.value, k->start_mark.line + 1);
	}
	if (apply_merges(c, map, merges) < 0)
		goto fail;
	node_free(merges);
	return map;
oom:
	fail(c, y->start_mark.line + 1, "out of memory");
fail:
	node_free(map);
	node_free(merges);
	return NULL;
}

static struct node *convert(struct conv *c, yaml_node_t *y, int depth)
{
	struct node *n = NULL;
	const char *tag = y && y->tag ? (const char *)y->tag : "";
	yaml_node_item_t *it;

	if (!y) {
		fail(c, 0, "a broken alias");
		return NULL;
	}
	if (depth > NODE_MAX_DEPTH) {
		fail(c, y->start_mark.line + 1,
		     "nested deeper than " NODE_MAX_DEPTH_TEXT " levels once aliases are expanded");
		return NULL;
	}
	if (++c->count > NODE_MAX_COUNT) {
		fail(c, y->start_mark.line + 1,
		     "too many values once aliases are expanded (an alias bomb?)");
		return NULL;
	}
	if (tag[0] == '!' && strcmp(tag, "!reference") != 0) {
		fail(c, y->start_mark.line + 1, "unknown YAML tag (GitLab knows only !reference)");
		return NULL;
	}
	switch (y->type) {
	case YAML_SCALAR_NODE:
		n = node_new(NODE_SCALAR, c->file, y->start_mark.line + 1);
		if (n &&
		    (n->str = strndup((const char *)y->data.scalar.value, y->data.scalar.length)))
			n->plain = y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		else
			node_free(n), n = NULL, fail(c, y->start_mark.line + 1, "out of memory");
		break;
	case YAML_SEQUENCE_NODE:
		n = node_new(NODE_SEQ, c->file, y->start_mark.line + 1);
		for (it = y->data.sequence.items.start; n && it < y->data.sequence.items.top;
		     it++) {
			struct node *item =
				convert(c, yaml_document_get_node(c->doc, *it), depth + 1);

			if (!item || node_push(n, item) < 0)
				node_free(n), n = NULL;
		}
		if (n)
			n->reference = !strcmp(tag, "!reference");
		break;
	case YAML_MAPPING_NODE:
		n = convert_map(c, y, depth);
		break;
	default:
		fail(c, y->start_mark.line + 1, "an empty YAML node");
	}
	if (n && !strcmp(tag, "!reference") && !n->reference) {
		node_free(n);
		fail(c, y->start_mark.line + 1, "!reference takes a list: [job, key, ...]");
		return NULL;
	}
	return n;
}

int node_parse(const char *file, const char *text, size_t len, struct node **root, char *err,
	       size_t err_size)
{
	/* Bounds on the file as written; convert() bounds it again with aliases expanded. */
	static const struct yload_limits limits = {NODE_MAX_DEPTH, NODE_MAX_COUNT, 1};
	struct conv c = {NULL, file, 0, err, err_size};
	struct yload_error yerr = {0};
	yaml_document_t doc;
	yaml_node_t *top;

	*root = NULL;
	if (yload(&doc, text, len, &limits, &yerr) < 0) {
		snprintf(err, err_size, "%s:%zu: %s", file, yerr.line, yerr.what);
		return -1;
	}
	c.doc = &doc;
	top = yaml_document_get_root_node(&doc);
	if (!top)
		*root = node_new(NODE_MAP, file, 1); /* an empty file */
	else
		*root = convert(&c, top, 0);
	if (*root && (*root)->kind != NODE_MAP) {
		fail(&c, (*root)->line, "a pipeline file is a mapping of keywords and jobs");
		node_free(*root);
		*root = NULL;
	}
	yaml_document_delete(&doc);
	return *root ? 0 : -1;
}

/* ---- printing ------------------------------------------------------------------------ */

/* 1 when `s` reads back as the same string unquoted. */
static int plain_safe(const char *s)
{
	static const char *words[] = {"true", "false", "null", "yes", "no", "on", "off", "~"};
	size_t i, n = strlen(s);

	if (!n || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || s[n - 1] == ' ' || s[n - 1] == ':')
		return 0;
	if (strspn(s, "0123456789.+-eE") == n)
		return 0;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (s[i] == ':' && s[i + 1] == ' ') ||
		    (s[i] == ' ' && s[i + 1] == '#'))
			return 0;
	return 1;
}

static void print_scalar(const struct node *n, FILE *out)
{
	const char *s;

	if (n->plain || plain_safe(n->str)) {
		fputs(n->str, out);
		return;
	}
	fputc('"', out);
	for (s = n->str; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (*s == '\t')
			fputs("\\t", out);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static int empty_collection(const struct node *n)
{
	return n->kind != NODE_SCALAR && n->n == 0;
}

void node_print(const struct node *n, FILE *out, int indent)
{
	size_t i;

	for (i = 0; i < n->n; i++) {
		const struct node *v = n->items[i];

		fprintf(out, "%*s", indent, "");
		if (n->kind == NODE_MAP) {
			struct node key = {.kind = NODE_SCALAR, .str = n->keys[i]};

			print_scalar(&key, out);
			fputc(':', out);
		} else {
			fputc('-', out);
		}
		if (v->kind == NODE_SCALAR || empty_collection(v)) {
			fputc(' ', out);
			if (v->kind == NODE_SCALAR)
				print_scalar(v, out);
			else
				fputs(v->kind == NODE_MAP ? "{}" : "[]", out);
			fputc('\n', out);
		} else {
			fputc('\n', out);
			node_print(v, out, indent + 2);
		}
	}
}
