#include "base/yload.h"

#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A collection still open: its node, and a mapping's key waiting for its value. */
struct open_node {
	int node;
	int key;
	char *anchor; /* named once complete, so an alias inside it cannot make a cycle */
};

struct anchor {
	char *name;
	int node;
};

struct loader {
	yaml_document_t *doc;
	const struct yload_limits *lim;
	struct yload_error *err;
	struct open_node *open; /* lim->max_depth of them, innermost last */
	int depth;
	size_t nodes;
	void *anchors; /* a tsearch tree (glibc's is balanced): an alias costs log n, not n */
};

static int fail(struct loader *l, const yaml_mark_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loader *l, const yaml_mark_t *at, const char *fmt, ...)
{
	va_list ap;

	l->err->line = at->line + 1;
	va_start(ap, fmt);
	vsnprintf(l->err->what, sizeof(l->err->what), fmt, ap);
	va_end(ap);
	return -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct anchor *)a)->name, ((const struct anchor *)b)->name);
}

static void free_anchor(void *p)
{
	struct anchor *a = p;

	free(a->name);
	free(a);
}

/* Names `node` (takes `name`); a later anchor of the same name wins, as YAML says. */
static int remember(struct loader *l, char *name, int node)
{
	struct anchor *a, **found;

	if (!name)
		return 0;
	a = malloc(sizeof(*a));
	if (!a) {
		free(name);
		return -1;
	}
	a->name = name;
	a->node = node;
	found = tsearch(a, &l->anchors, by_name);
	if (!found) {
		free_anchor(a);
		return -1;
	}
	if (*found != a) {
		(*found)->node = node;
		free_anchor(a);
	}
	return 0;
}

static int copy_anchor(char **out, const yaml_char_t *anchor)
{
	*out = anchor ? strdup((const char *)anchor) : NULL;
	return anchor && !*out ? -1 : 0;
}

/* "!" is YAML's non-specific tag, which yaml_parser_load turns into the default one too. */
static const yaml_char_t *tag_of(const yaml_char_t *tag)
{
	return tag && strcmp((const char *)tag, "!") != 0 ? tag : NULL;
}

static int count(struct loader *l, const yaml_mark_t *at)
{
	if (++l->nodes > l->lim->max_nodes)
		return fail(l, at, "more than %zu values", l->lim->max_nodes);
	return 0;
}

/* Puts node `id` where the parser is: a sequence's item, a mapping's key or value, the root. */
static int attach(struct loader *l, int id, const yaml_mark_t *at)
{
	struct open_node *o;
	int ok;

	if (!l->depth)
		return 0; /* the root, node 1 */
	o = &l->open[l->depth - 1];
	if (yaml_document_get_node(l->doc, o->node)->type == YAML_SEQUENCE_NODE) {
		ok = yaml_document_append_sequence_item(l->doc, o->node, id);
	} else if (!o->key) {
		o->key = id;
		ok = 1;
	} else {
		ok = yaml_document_append_mapping_pair(l->doc, o->node, o->key, id);
		o->key = 0;
	}
	return ok ? 0 : fail(l, at, "out of memory");
}

/* A node just added (`id`, 0 when that failed): its marks, and its place in the tree. */
static int placed(struct loader *l, int id, const yaml_event_t *ev)
{
	yaml_node_t *n;

	if (!id)
		return fail(l, &ev->start_mark, "out of memory");
	n = yaml_document_get_node(l->doc, id);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
	return attach(l, id, &ev->start_mark);
}

static int scalar(struct loader *l, const yaml_event_t *ev)
{
	char *anchor;
	int id;

	if (count(l, &ev->start_mark) < 0)
		return -1;
	id = yaml_document_add_scalar(l->doc, tag_of(ev->data.scalar.tag), ev->data.scalar.value,
				      (int)ev->data.scalar.length, ev->data.scalar.style);
	if (placed(l, id, ev) < 0)
		return -1;
	if (copy_anchor(&anchor, ev->data.scalar.anchor) < 0 || remember(l, anchor, id) < 0)
		return fail(l, &ev->start_mark, "out of memory");
	return 0;
}

static int open_collection(struct loader *l, const yaml_event_t *ev)
{
	int seq = ev->type == YAML_SEQUENCE_START_EVENT, id;
	const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
	struct open_node *o;

	if (l->depth >= l->lim->max_depth)
		return fail(l, &ev->start_mark, "nested deeper than %d levels", l->lim->max_depth);
	if (count(l, &ev->start_mark) < 0)
		return -1;
	id = seq ? yaml_document_add_sequence(l->doc, tag_of(tag), ev->data.sequence_start.style)
		 : yaml_document_add_mapping(l->doc, tag_of(tag), ev->data.mapping_start.style);
	if (placed(l, id, ev) < 0)
		return -1;
	o = &l->open[l->depth++];
	o->node = id;
	o->key = 0;
	if (copy_anchor(&o->anchor,
			seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor) < 0)
		return fail(l, &ev->start_mark, "out of memory");
	return 0;
}

static int close_collection(struct loader *l, const yaml_event_t *ev)
{
	struct open_node *o = &l->open[--l->depth];
	char *anchor = o->anchor;

	o->anchor = NULL;
	yaml_document_get_node(l->doc, o->node)->end_mark = ev->end_mark;
	if (remember(l, anchor, o->node) < 0)
		return fail(l, &ev->start_mark, "out of memory");
	return 0;
}

static int alias(struct loader *l, const yaml_event_t *ev)
{
	struct anchor key = {(char *)ev->data.alias.anchor, 0}, **found;

	if (!l->lim->aliases)
		return fail(l, &ev->start_mark, "YAML anchors and aliases are not allowed here");
	if (count(l, &ev->start_mark) < 0)
		return -1;
	found = tfind(&key, &l->anchors, by_name);
	if (!found)
		return fail(l, &ev->start_mark,
			    "an alias must name an anchor set before it, outside the alias");
	return attach(l, (*found)->node, &ev->start_mark);
}

/* 1 when the document is complete, 0 to go on, -1 after filling in the error. */
static int take(struct loader *l, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return scalar(l, ev);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return open_collection(l, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return close_collection(l, ev);
	case YAML_ALIAS_EVENT:
		return alias(l, ev);
	case YAML_DOCUMENT_END_EVENT:
	case YAML_STREAM_END_EVENT:
		return 1; /* later documents are not read, as with yaml_parser_load */
	default:
		return 0; /* the stream's and the document's start */
	}
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

/* Reads events into the document until it is complete: 0, or -1 with the error. */
static int load_events(struct loader *l, yaml_parser_t *p)
{
	yaml_event_t ev;
	int ret = 0;

	while (ret == 0) {
		if (!yaml_parser_parse(p, &ev)) {
			l->err->line = p->problem_mark.line + 1;
			snprintf(l->err->what, sizeof(l->err->what), "invalid YAML: %s",
				 p->problem ? p->problem : "parse error");
			return -1;
		}
		ret = take(l, &ev);
		if (ev.type == YAML_SCALAR_EVENT)
			explicit_bzero(ev.data.scalar.value, ev.data.scalar.length);
		yaml_event_delete(&ev);
	}
	return ret < 0 ? -1 : 0;
}

int yload(yaml_document_t *doc, const char *buf, size_t len, const struct yload_limits *lim,
	  struct yload_error *err)
{
	static const yaml_mark_t start;
	struct loader l = {doc, lim, err, NULL, 0, 0, NULL};
	yaml_parser_t p;
	int ret;

	memset(err, 0, sizeof(*err));
	if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1))
		return fail(&l, &start, "out of memory");
	l.open = calloc(lim->max_depth > 0 ? (size_t)lim->max_depth : 1, sizeof(*l.open));
	if (!l.open || !yaml_parser_initialize(&p)) {
		free(l.open);
		yaml_document_delete(doc);
		return fail(&l, &start, "out of memory");
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	ret = load_events(&l, &p);
	while (l.depth)
		free(l.open[--l.depth].anchor);
	free(l.open);
	tdestroy(l.anchors, free_anchor);
	parser_delete(&p);
	if (ret < 0)
		yload_release(doc);
	return ret;
}

void yload_release(yaml_document_t *doc)
{
	yaml_node_t *n;

	for (n = doc->nodes.start; n && n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE)
			explicit_bzero(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(doc);
}
