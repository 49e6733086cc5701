#include "kube/kubeconfig.h"

#include "base/base64.h"
#include "base/http.h"
#include "base/log.h"
#include "base/ydoc.h"
#include "kube/kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *const sources[] = {"WERF_KUBE_CONFIG_BASE64", "WERF_KUBECONFIG_BASE64",
				      "KUBECONFIG_BASE64"};

/* Inflates a gzip stream into a new secret, at most `max` bytes. */
static int gunzip(const struct secret *in, size_t max, struct secret *out, char *why,
		  size_t why_size)
{
	size_t cap = in->len * 4 + 1024 < max + 1 ? in->len * 4 + 1024 : max + 1;
	const char *reason = "";
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		snprintf(why, why_size, "cannot start zlib");
		return -1;
	}
	out->data = malloc(cap + 1);
	z.next_in = in->data;
	z.avail_in = (uInt)in->len;
	do {
		if (!out->data) {
			reason = "out of memory";
			break;
		}
		if (out->len == cap) {
			unsigned char *grown = cap < max + 1 ? malloc(cap * 2 + 1) : NULL;

			if (!grown) {
				reason = "larger than allowed once inflated";
				break;
			}
			memcpy(grown, out->data, out->len);
			secret_adopt(out, grown, out->len);
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
		}
		z.next_out = out->data + out->len;
		z.avail_out = (uInt)(cap - out->len);
		rc = inflate(&z, Z_NO_FLUSH);
		out->len = cap - z.avail_out;
		if (out->len > max) {
			reason = "larger than allowed once inflated";
			break;
		}
		if (rc == Z_STREAM_END) {
			inflateEnd(&z);
			out->data[out->len] = '\0';
			return 0;
		}
		if (rc != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
			reason = "a truncated or corrupt gzip stream";
			break;
		}
	} while (1);
	inflateEnd(&z);
	secret_release(out);
	snprintf(why, why_size, "%s", reason);
	return -1;
}

static enum berth_result decode(struct kubeconfig *k, const char *text, size_t max)
{
	struct secret decoded = SECRET_INIT;
	char why[128];
	size_t len = 0;
	unsigned char *bytes = base64_decode(text, strlen(text), max, &len, why, sizeof(why));

	if (!bytes && !strcmp(why, base64_too_large))
		error("kubeconfig in %s is larger than kubeconfig_max_bytes (%zu) once decoded",
		      k->variable, max);
	else if (!bytes)
		error("kubeconfig in %s is not valid base64: %s", k->variable, why);
	if (!bytes)
		return BERTH_BUILD_FAILURE;
	secret_adopt(&decoded, bytes, len);
	if (len >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
		if (gunzip(&decoded, max, &k->raw, why, sizeof(why)) < 0) {
			error("kubeconfig in %s: %s", k->variable, why);
			secret_release(&decoded);
			return BERTH_BUILD_FAILURE;
		}
		secret_release(&decoded);
	} else {
		k->raw = decoded;
	}
	if (memchr(k->raw.data, '\0', k->raw.len)) {
		error("kubeconfig in %s is binary data, not YAML", k->variable);
		return BERTH_BUILD_FAILURE;
	}
	return BERTH_OK;
}

/* Validation walks the tree with this: where we are, for "field (line N)" messages. */
struct walk {
	struct ydoc *d;
	const char *source;
};

static int bad(const struct walk *w, const yaml_node_t *n, const char *field, const char *what)
{
	return error("%s:%zu: %s %s", w->source, ydoc_line(n), field, what);
}

static const char *need_string(const struct walk *w, yaml_node_t *map, const char *key,
			       const char *field)
{
	yaml_node_t *n = ydoc_get(w->d, map, key);
	const char *v = ydoc_scalar(n);

	if (!v || !*v) {
		bad(w, n ? n : map, field, n ? "must be a non-empty string" : "is missing");
		return NULL;
	}
	return v;
}

/* Every "*-data" field of `map` must be base64. */
static int check_data_fields(const struct walk *w, yaml_node_t *map, const char *field)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return bad(w, map, field, "must be a mapping");
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(&w->d->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(&w->d->doc, p->value);
		const char *k = ydoc_scalar(key), *v = ydoc_scalar(val);
		char why[128];
		size_t klen = k ? strlen(k) : 0, len;
		unsigned char *bytes;

		if (klen < 5 || strcmp(k + klen - 5, "-data") != 0)
			continue;
		if (!v)
			return bad(w, val, k, "must be a base64 string");
		bytes = base64_decode(v, strlen(v), strlen(v), &len, why, sizeof(why));
		if (!bytes)
			return bad(w, val, k, "is not valid base64");
		explicit_bzero(bytes, len);
		free(bytes);
	}
	return 0;
}

/* The entry of `list` (clusters, users, contexts) whose name is `name`, or NULL. */
static yaml_node_t *find_named(const struct walk *w, yaml_node_t *list, const char *name)
{
	size_t i;

	for (i = 0; i < ydoc_len(list); i++) {
		yaml_node_t *e = ydoc_item(w->d, list, i);
		const char *n = ydoc_scalar(ydoc_get(w->d, e, "name"));

		if (n && !strcmp(n, name))
			return e;
	}
	return NULL;
}

/* clusters/users/contexts: a list of {name, <inner>: {...}} with unique names. */
static int check_list(const struct walk *w, yaml_node_t *root, const char *list_name,
		      const char *inner)
{
	yaml_node_t *list = ydoc_get(w->d, root, list_name);
	char field[96];
	size_t i;

	if (!list)
		return 0;
	if (list->type != YAML_SEQUENCE_NODE)
		return bad(w, list, list_name, "must be a list");
	for (i = 0; i < ydoc_len(list); i++) {
		yaml_node_t *e = ydoc_item(w->d, list, i);
		const char *name;

		snprintf(field, sizeof(field), "%s[%zu].name", list_name, i);
		name = need_string(w, e, "name", field);
		if (!name)
			return -1;
		if (find_named(w, list, name) != e)
			return bad(w, e, field, "is used by an earlier entry too");
		snprintf(field, sizeof(field), "%s[%zu].%s", list_name, i, inner);
		if (!ydoc_get(w->d, e, inner))
			return bad(w, e, field, "is missing");
		if (check_data_fields(w, ydoc_get(w->d, e, inner), field) < 0)
			return -1;
	}
	return 0;
}

static int check_clusters(const struct walk *w, yaml_node_t *root)
{
	yaml_node_t *list = ydoc_get(w->d, root, "clusters");
	char field[96];
	size_t i;

	for (i = 0; i < ydoc_len(list); i++) {
		yaml_node_t *cluster = ydoc_get(w->d, ydoc_item(w->d, list, i), "cluster");
		const char *server;

		snprintf(field, sizeof(field), "clusters[%zu].cluster.server", i);
		server = need_string(w, cluster, "server", field);
		if (!server)
			return -1;
		if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
			return bad(w, ydoc_get(w->d, cluster, "server"), field,
				   "must start with https:// or http://");
	}
	return 0;
}

static int check_contexts(const struct walk *w, yaml_node_t *root)
{
	yaml_node_t *list = ydoc_get(w->d, root, "contexts");
	char field[96];
	size_t i;

	for (i = 0; i < ydoc_len(list); i++) {
		yaml_node_t *ctx = ydoc_get(w->d, ydoc_item(w->d, list, i), "context");
		const char *cluster, *user;

		snprintf(field, sizeof(field), "contexts[%zu].context.cluster", i);
		if (!(cluster = need_string(w, ctx, "cluster", field)))
			return -1;
		if (!find_named(w, ydoc_get(w->d, root, "clusters"), cluster))
			return bad(w, ydoc_get(w->d, ctx, "cluster"), field,
				   "names no cluster in 'clusters'");
		snprintf(field, sizeof(field), "contexts[%zu].context.user", i);
		if (!(user = need_string(w, ctx, "user", field)))
			return -1;
		if (!find_named(w, ydoc_get(w->d, root, "users"), user))
			return bad(w, ydoc_get(w->d, ctx, "user"), field,
				   "names no user in 'users'");
	}
	return 0;
}

static int copy_string(char **out, const char *v)
{
	*out = strdup(v);
	return *out ? 0 : error("out of memory");
}

/* A "*-data" field decoded into a secret; absent is fine. */
static int take_data(const struct walk *w, yaml_node_t *map, const char *key, struct secret *out)
{
	const char *v = ydoc_scalar(ydoc_get(w->d, map, key));
	char why[128];
	size_t len = 0;
	unsigned char *bytes;

	if (!v)
		return 0;
	bytes = base64_decode(v, strlen(v), strlen(v), &len, why, sizeof(why));
	if (!bytes)
		return error("out of memory");
	secret_adopt(out, bytes, len);
	return 0;
}

/* Fills what the preflight check needs from the current context. */
static int take_current(struct kubeconfig *k, const struct walk *w, yaml_node_t *root,
			yaml_node_t *ctx_entry)
{
	yaml_node_t *ctx = ydoc_get(w->d, ctx_entry, "context");
	const char *cluster_name = ydoc_scalar(ydoc_get(w->d, ctx, "cluster"));
	const char *user_name = ydoc_scalar(ydoc_get(w->d, ctx, "user"));
	yaml_node_t *cluster = ydoc_get(
		w->d, find_named(w, ydoc_get(w->d, root, "clusters"), cluster_name), "cluster");
	yaml_node_t *user =
		ydoc_get(w->d, find_named(w, ydoc_get(w->d, root, "users"), user_name), "user");
	const char *token = ydoc_scalar(ydoc_get(w->d, user, "token"));
	const char *insecure = ydoc_scalar(ydoc_get(w->d, cluster, "insecure-skip-tls-verify"));

	if (copy_string(&k->cluster, cluster_name) < 0 ||
	    copy_string(&k->server, ydoc_scalar(ydoc_get(w->d, cluster, "server"))) < 0 ||
	    take_data(w, cluster, "certificate-authority-data", &k->ca) < 0 ||
	    take_data(w, user, "client-certificate-data", &k->client_cert) < 0 ||
	    take_data(w, user, "client-key-data", &k->client_key) < 0 ||
	    (token && secret_set(&k->token, token) < 0))
		return -1;
	k->insecure = insecure && !strcmp(insecure, "true");
	if (ydoc_get(w->d, user, "exec") || ydoc_get(w->d, user, "auth-provider"))
		k->no_preflight = "its user authenticates through an exec or auth-provider plugin";
	else if (ydoc_get(w->d, user, "tokenFile") || ydoc_get(w->d, user, "client-certificate") ||
		 ydoc_get(w->d, user, "client-key") ||
		 ydoc_get(w->d, cluster, "certificate-authority"))
		k->no_preflight = "it refers to files on the runner host";
	return 0;
}

static int check_root(const struct walk *w, yaml_node_t *root)
{
	const char *api, *kind;

	if (!root)
		return error("%s: the file is empty", w->source);
	if (root->type != YAML_MAPPING_NODE)
		return bad(w, root, "the document", "must be a mapping (a kubeconfig file)");
	api = ydoc_scalar(ydoc_get(w->d, root, "apiVersion"));
	kind = ydoc_scalar(ydoc_get(w->d, root, "kind"));
	if (!api || strcmp(api, "v1") != 0)
		return bad(w, root, "apiVersion", "must be v1");
	if (!kind || strcmp(kind, "Config") != 0)
		return bad(w, root, "kind", "must be Config");
	if (check_list(w, root, "clusters", "cluster") < 0 ||
	    check_list(w, root, "users", "user") < 0 ||
	    check_list(w, root, "contexts", "context") < 0 || check_clusters(w, root) < 0 ||
	    check_contexts(w, root) < 0)
		return -1;
	return 0;
}

enum berth_result kubeconfig_parse(struct kubeconfig *k, const char *name, const char *context)
{
	struct ydoc d;
	struct walk w = {&d, name};
	yaml_node_t *root, *entry;
	const char *current;
	int ret = -1;

	if (ydoc_load(&d, name, (const char *)k->raw.data, k->raw.len) < 0)
		return BERTH_BUILD_FAILURE;
	root = ydoc_root(&d);
	if (check_root(&w, root) < 0)
		goto out;
	current = context ? context : ydoc_scalar(ydoc_get(&d, root, "current-context"));
	if (!current || !*current) {
		bad(&w, root, "current-context", "is missing (or set WERF_KUBE_CONTEXT)");
		goto out;
	}
	entry = find_named(&w, ydoc_get(&d, root, "contexts"), current);
	if (!entry) {
		bad(&w, context ? root : ydoc_get(&d, root, "current-context"),
		    context ? "WERF_KUBE_CONTEXT" : "current-context",
		    "names no context in 'contexts'");
		goto out;
	}
	ret = copy_string(&k->context, current) < 0 ? -1 : take_current(k, &w, root, entry);
out:
	ydoc_release(&d);
	return ret < 0 ? BERTH_BUILD_FAILURE : BERTH_OK;
}

enum berth_result kubeconfig_load(struct kubeconfig *k, const struct vars *v,
				  const struct settings *s)
{
	char name[128];
	const char *text = NULL;
	enum berth_result r;
	size_t i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < sizeof(sources) / sizeof(sources[0]) && !text; i++)
		if ((text = vars_get(v, sources[i])))
			k->variable = sources[i];
	if (!text) {
		if (!s->kubeconfig_required)
			return BERTH_OK;
		error("this runner requires a kubeconfig: set WERF_KUBECONFIG_BASE64 (base64 of "
		      "the cluster's kubeconfig) in the project's CI/CD variables");
		return BERTH_BUILD_FAILURE;
	}
	r = decode(k, text, s->kubeconfig_max_bytes);
	snprintf(name, sizeof(name), "kubeconfig from %s", k->variable);
	if (r == BERTH_OK)
		r = kubeconfig_parse(k, name, vars_get(v, "WERF_KUBE_CONTEXT"));
	if (r != BERTH_OK)
		kubeconfig_release(k);
	return r;
}

int kubeconfig_write(const struct kubeconfig *k, const char *path)
{
	return secret_write_file(path, k->raw.data, k->raw.len);
}

enum berth_result kubeconfig_preflight(const struct kubeconfig *k, unsigned timeout)
{
	const char *source = k->variable ? k->variable : "the kubeconfig";
	struct kube api;
	struct kube_reply r;
	enum berth_result result = BERTH_SYSTEM_FAILURE;
	int got;

	if (k->no_preflight) {
		info("not checking cluster '%s' before the job: %s", k->cluster, k->no_preflight);
		return BERTH_OK;
	}
	if (kube_init(&api, k, source, timeout) < 0)
		return BERTH_SYSTEM_FAILURE;
	got = kube_call(&api, "GET", "/version", NULL, 0, &r);
	if (got == HTTP_TLS_REJECTED) {
		error("cluster '%s' at %s: TLS failed with the kubeconfig's own certificates: %s; "
		      "check certificate-authority-data, client-certificate-data and "
		      "client-key-data of context '%s' in %s",
		      k->cluster, k->server, r.message, k->context, source);
		result = BERTH_BUILD_FAILURE;
	} else if (got < 0) {
		error("cannot reach cluster '%s' at %s: %s; check the server address in %s and "
		      "that this runner can reach it",
		      k->cluster, k->server, r.message, source);
	} else if (http_status_result(r.status) == BERTH_BUILD_FAILURE) {
		error("cluster '%s' at %s rejected the kubeconfig's credentials (HTTP %ld): check "
		      "the token or client certificate of context '%s' in %s",
		      k->cluster, k->server, r.status, k->context, source);
		result = BERTH_BUILD_FAILURE;
	} else if (r.status != 200) {
		error("cluster '%s' at %s answered HTTP %ld to GET /version", k->cluster, k->server,
		      r.status);
	} else {
		result = BERTH_OK;
	}
	if (got == 0)
		kube_reply_release(&r);
	kube_close(&api);
	return result;
}

void kubeconfig_release(struct kubeconfig *k)
{
	secret_release(&k->raw);
	secret_release(&k->ca);
	secret_release(&k->client_cert);
	secret_release(&k->client_key);
	secret_release(&k->token);
	free(k->context);
	free(k->cluster);
	free(k->server);
	memset(k, 0, sizeof(*k));
}
