/*
 * YAML documents built from libyaml's events, with bounds on nesting and size checked as the
 * events arrive, so a hostile input costs time linear in what berth reads of it.
 *
 * yaml_parser_load reads a whole document before anything can look at it, and libyaml's
 * scanner spends time proportional to the flow nesting depth on every token (it re-checks one
 * possible simple key per open '[' or '{'): 160,000 nested '[' (320 kB, a few hundred bytes
 * gzipped) cost 48 s of CPU. Here the 65th level stops it after a few kilobytes.
 */
#ifndef YLOAD_H
#define YLOAD_H

#include <stddef.h>
#include <yaml.h>

struct yload_limits {
	int max_depth;	  /* collections open at once; the root mapping is level 1 */
	size_t max_nodes; /* scalars, sequences, mappings and aliases */
	int aliases;	  /* 0: an alias is refused; anchors alone are harmless */
};

struct yload_error {
	size_t line; /* 1-based */
	char what[128];
};

/*
 * Loads the first document of `buf` into `doc`, the tree yaml_parser_load would give (node 1
 * the root; no root for an empty input), with every node's marks. An alias may only name an
 * anchor on a node already complete, so the tree has no cycles. 0, or -1 with `err` and `doc`
 * released. Messages describe the problem, never the content.
 */
int yload(yaml_document_t *doc, const char *buf, size_t len, const struct yload_limits *lim,
	  struct yload_error *err);

/* Overwrites every scalar (kubeconfigs hold keys), then frees the document. */
void yload_release(yaml_document_t *doc);

#endif
