/*
 * A `.gitlab-ci.yml` as a tree: mappings, sequences and scalars, each with the file and line it
 * came from, after YAML's own anchors, aliases and `<<` merge keys are applied. `!reference`
 * sequences are kept marked for the model to resolve (pipeline/model.c).
 */
#ifndef NODE_H
#define NODE_H

#include <stddef.h>
#include <stdio.h>

enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP };

struct node {
	enum node_kind kind;
	char *str;	     /* a scalar's text */
	int plain;	     /* an unquoted scalar: `null`, `~`, `true`, numbers are not strings */
	int reference;	     /* a `!reference [job, key, ...]` sequence */
	char **keys;	     /* a mapping's keys, in file order */
	size_t *key_lines;   /* and the line of each key */
	struct node **items; /* a sequence's items, or a mapping's values */
	size_t n;	     /* how many */
	const char *file;    /* where it came from (owned by the loader's file list) */
	size_t line;	     /* 1-based */
	/* ALLOC_GROW's capacities of items, keys and key_lines */
	size_t items_alloc, keys_alloc, lines_alloc;
};

/*
 * The limits that keep a hostile file (an alias bomb, deep nesting) from eating the machine,
 * on the file as written and again once aliases are expanded. Depth: GitLab refuses a file
 * nested deeper than its max_yaml_depth, 100 by default. Values: a file is at most 4 MB, and a
 * value takes at least two bytes of it (`1,`), so a million is room for any file GitLab takes.
 */
#define NODE_MAX_COUNT	    1000000
#define NODE_MAX_DEPTH	    100
#define NODE_MAX_DEPTH_TEXT "100"

/*
 * Parses YAML text into *root. `file` names it in messages and in every node (it must outlive
 * the tree). 0, or -1 with "FILE:LINE: what" in err.
 */
int node_parse(const char *file, const char *text, size_t len, struct node **root, char *err,
	       size_t err_size);

struct node *node_new(enum node_kind kind, const char *file, size_t line);
struct node *node_scalar(const char *text, const char *file, size_t line);
struct node *node_copy(const struct node *n);
void node_free(struct node *n);

/* A mapping's value for `key`, or NULL. */
struct node *node_get(const struct node *map, const char *key);
/* The line of a mapping's i-th key (its value may start lines later). */
size_t node_key_line(const struct node *map, size_t i);
/* Sets (replacing) a mapping's value; takes `value`. 0, or -1 when memory runs out. */
int node_set(struct node *map, const char *key, struct node *value);
/*
 * Flattens nested sequences into `seq` itself (a script line list with `*alias` or `!reference`
 * items, a `rules` list with spliced-in rules). 0, or -1 when memory runs out.
 */
int node_flatten(struct node *seq);
/* Appends to a sequence; takes `item`. */
int node_push(struct node *seq, struct node *item);
/* Removes a mapping's key (freeing its value); nothing when absent. */
void node_del(struct node *map, const char *key);

/* 1 for a plain `null`, `~` or empty scalar (YAML's null). */
int node_is_null(const struct node *n);
/* A scalar's boolean: 1, 0, or -1 when it is not `true`/`false`. */
int node_bool(const struct node *n);

/*
 * `over` deep-merged onto `base` (GitLab's rule for extends, include and default): mappings merge
 * key by key, anything else in `over` replaces. Returns a new tree.
 */
struct node *node_merge(const struct node *base, const struct node *over);

/* Writes the tree as block YAML at `indent` spaces. */
void node_print(const struct node *n, FILE *out, int indent);

#endif
