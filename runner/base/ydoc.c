#include "base/ydoc.h"

#include "base/log.h"
#include "base/yload.h"

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

/* Repeated keys, in every mapping of the document. */
static int check_keys(struct ydoc *d)
{
	yaml_node_t *n;

	for (n = d->doc.nodes.start; n < d->doc.nodes.top; n++)
		if (n->type == YAML_MAPPING_NODE && duplicate_key(d, n) < 0)
			return -1;
	return 0;
}

int ydoc_load(struct ydoc *d, const char *name, const char *buf, size_t len)
{
	/*
	 * A real kubeconfig nests 5 levels and holds a few thousand values at most, settings
	 * fewer: these bounds leave room to spare, cap memory at about 10 MB, and stop a hostile
	 * file before libyaml's cost grows with its depth (yload.h).
	 */
	static const struct yload_limits limits = {64, 100000, 0};
	struct yload_error err = {0};

	memset(d, 0, sizeof(*d));
	d->name = name;
	if (yload(&d->doc, buf, len, &limits, &err) < 0)
		return error("%s:%zu: %s", name, err.line, err.what);
	d->loaded = 1;
	if (check_keys(d) < 0) {
		ydoc_release(d);
		return -1;
	}
	return 0;
}

/* Scalars may be tokens or keys (kubeconfigs): wipe them before libyaml frees them. */
void ydoc_release(struct ydoc *d)
{
	if (!d->loaded)
		return;
	yload_release(&d->doc);
	d->loaded = 0;
}
