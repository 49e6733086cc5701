#include "ydoc.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

size_t ydoc_line(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 0;
}

const char *ydoc_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

yaml_node_t *ydoc_root(struct ydoc *d)
{
	return yaml_document_get_root_node(&d->doc);
}

yaml_node_t *ydoc_get(struct ydoc *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *k = ydoc_scalar(yaml_document_get_node(&d->doc, p->key));

		if (k && !strcmp(k, key))
			return yaml_document_get_node(&d->doc, p->value);
	}
	return NULL;
}

size_t ydoc_len(const yaml_node_t *seq)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

yaml_node_t *ydoc_item(struct ydoc *d, yaml_node_t *seq, size_t i)
{
	if (i >= ydoc_len(seq))
		return NULL;
	return yaml_document_get_node(&d->doc, seq->data.sequence.items.start[i]);
}

struct key_at {
	const char *key;
	size_t line;
};

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct key_at *)a)->key, ((const struct key_at *)b)->key);
}

/* Sorting the keys finds a repeated one in O(n log n): a mapping may have 100,000 keys. */
static int duplicate_key(struct ydoc *d, yaml_node_t *map)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start), i, m = 0;
	struct key_at *keys = calloc(n ? n : 1, sizeof(*keys));
	int ret = 0;

	if (!keys)
		return error("out of memory");
	for (i = 0; i < n; i++) {
		yaml_node_t *k =
			yaml_document_get_node(&d->doc, map->data.mapping.pairs.start[i].key);

		if (ydoc_scalar(k))
			keys[m++] = (struct key_at){ydoc_scalar(k), ydoc_line(k)};
	}
	qsort(keys, m, sizeof(*keys), by_key);
	for (i = 1; i < m && ret == 0; i++)
		if (!strcmp(keys[i - 1].key, keys[i].key))
			ret = error("%s:%zu: a key is set twice in one mapping", d->name,
				    keys[i].line > keys[i - 1].line ? keys[i].line
								    : keys[i - 1].line);
	free(keys);
	return ret;
}

/* Counts up to 2: all the check needs to know is "more than once". */
static void count_ref(unsigned char *refs, int index)
{
	if (refs[index] < 2)
		refs[index]++;
}

/*
 * libyaml resolves an alias to the anchored node itself, so an alias shows as a node referenced
 * twice. Counting references finds every alias before anything walks the tree.
 */
static int check_tree(struct ydoc *d)
{
	size_t n = (size_t)(d->doc.nodes.top - d->doc.nodes.start), i;
	unsigned char *refs = calloc(n + 1, 1);
	int ret = 0;

	if (!refs)
		return error("out of memory");
	refs[1] = 1; /* the root */
	for (i = 0; i < n && ret == 0; i++) {
		yaml_node_t *node = d->doc.nodes.start + i;
		yaml_node_item_t *it;
		yaml_node_pair_t *p;

		if (node->type == YAML_SEQUENCE_NODE)
			for (it = node->data.sequence.items.start;
			     it < node->data.sequence.items.top; it++)
				count_ref(refs, *it);
		if (node->type == YAML_MAPPING_NODE) {
			for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
			     p++) {
				count_ref(refs, p->key);
				count_ref(refs, p->value);
			}
			ret = duplicate_key(d, node);
		}
	}
	for (i = 1; i <= n && ret == 0; i++)
		if (refs[i] > 1)
			ret = error("%s:%zu: YAML anchors and aliases are not allowed here",
				    d->name, ydoc_line(d->doc.nodes.start + i - 1));
	free(refs);
	return ret;
}

/* The parser keeps copies of the input (a kubeconfig, with its keys): wipe them first. */
static void parser_delete(yaml_parser_t *p)
{
	if (p->raw_buffer.start)
		explicit_bzero(p->raw_buffer.start,
			       (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	if (p->buffer.start)
		explicit_bzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	yaml_parser_delete(p);
}

int ydoc_load(struct ydoc *d, const char *name, const char *buf, size_t len)
{
	yaml_parser_t p;
	int ok;

	memset(d, 0, sizeof(*d));
	d->name = name;
	if (!yaml_parser_initialize(&p))
		return error("out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	ok = yaml_parser_load(&p, &d->doc);
	if (!ok) {
		/* libyaml's problem text describes the syntax, never the content. */
		error("%s:%zu: invalid YAML: %s", name, p.problem_mark.line + 1,
		      p.problem ? p.problem : "parse error");
		parser_delete(&p);
		return -1;
	}
	parser_delete(&p);
	d->loaded = 1;
	if (ydoc_root(d) && check_tree(d) < 0) {
		ydoc_release(d);
		return -1;
	}
	return 0;
}

/* Scalars may be tokens or keys (kubeconfigs): wipe them before libyaml frees them. */
void ydoc_release(struct ydoc *d)
{
	yaml_node_t *n;

	if (!d->loaded)
		return;
	for (n = d->doc.nodes.start; n < d->doc.nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE)
			explicit_bzero(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(&d->doc);
	d->loaded = 0;
}
