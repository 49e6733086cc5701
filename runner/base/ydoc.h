/*
 * A YAML document for berth's own inputs (settings, kubeconfigs): libyaml's loaded tree, with
 * aliases, duplicate keys, nesting deeper than 64 levels and more than 100,000 values refused at
 * load (yload.h), so a reader can walk it without guarding against alias bombs, a key that means
 * two things, or a file built to eat CPU.
 */
#ifndef YDOC_H
#define YDOC_H

#include <stddef.h>
#include <yaml.h>

struct ydoc {
	yaml_document_t doc;
	int loaded;
	const char *name; /* for messages: a file name or "kubeconfig from VAR" */
};

/* 0, or -1 after reporting "NAME:LINE: ..." (never quoting the input). */
int ydoc_load(struct ydoc *d, const char *name, const char *buf, size_t len);
void ydoc_release(struct ydoc *d);

yaml_node_t *ydoc_root(struct ydoc *d);
/* The value under `key` in mapping `map`, or NULL (also when `map` is not a mapping). */
yaml_node_t *ydoc_get(struct ydoc *d, yaml_node_t *map, const char *key);
/* A scalar's text, or NULL when the node is absent or not a scalar. */
const char *ydoc_scalar(const yaml_node_t *n);
/* 1-based line of a node, for messages. */
size_t ydoc_line(const yaml_node_t *n);
/* The i-th item of a sequence, or NULL. */
yaml_node_t *ydoc_item(struct ydoc *d, yaml_node_t *seq, size_t i);
size_t ydoc_len(const yaml_node_t *seq);

#endif
