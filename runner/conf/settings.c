#include "conf/settings.h"

#include "conf/lock_key.h"
#include "base/array.h"
#include "base/fs.h"
#include "base/log.h"
#include "conf/reference.h"
#include "base/secret.h"
#include "base/suggest.h"
#include "base/ydoc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SETTINGS_MAX_SIZE (1 << 20)

enum kind {
	K_PATH,
	K_BOOL,
	K_SECONDS,
	K_BYTES,
	K_MEMORY,
	K_EXECUTOR,
	K_NETWORK,
	K_HOSTS,
	K_REGISTRIES,
	K_STRING,
	K_LOCK_KEY,
	K_LOCK_BACKEND,
	K_NAMESPACE,
	K_SHA256,
	K_STAGE_LOG,
	K_USERS,
	K_GROUPS,
	K_PATTERNS,
	K_COUNT,
	K_AGE,
	K_URL
};

struct key {
	const char *name;
	enum kind kind;
	size_t offset;
};

static const struct key keys[] = {
	{"state_dir", K_PATH, offsetof(struct settings, state_dir)},
	{"builds_dir", K_PATH, offsetof(struct settings, builds_dir)},
	{"cache_dir", K_PATH, offsetof(struct settings, cache_dir)},
	{"builds_per_job", K_BOOL, offsetof(struct settings, builds_per_job)},
	{"executor", K_EXECUTOR, offsetof(struct settings, executor)},
	{"bwrap_network", K_NETWORK, offsetof(struct settings, bwrap_network)},
	{"kill_grace", K_SECONDS, offsetof(struct settings, kill_grace)},
	{"kubeconfig_max_bytes", K_BYTES, offsetof(struct settings, kubeconfig_max_bytes)},
	{"kubeconfig_required", K_BOOL, offsetof(struct settings, kubeconfig_required)},
	{"kube_preflight", K_BOOL, offsetof(struct settings, kube_preflight)},
	{"kube_timeout", K_SECONDS, offsetof(struct settings, kube_timeout)},
	{"registry_timeout", K_SECONDS, offsetof(struct settings, registry_timeout)},
	{"registry_max_wait", K_SECONDS, offsetof(struct settings, registry_max_wait)},
	{"craas_hosts", K_HOSTS, offsetof(struct settings, craas_hosts)},
	{"registries", K_REGISTRIES, offsetof(struct settings, registries)},
	{"werf_path", K_STRING, offsetof(struct settings, werf_path)},
	{"werf_synchronization", K_STRING, offsetof(struct settings, werf_synchronization)},
	{"rate_limited_hosts", K_HOSTS, offsetof(struct settings, rate_limited_hosts)},
	{"cleanup_lock", K_LOCK_KEY, offsetof(struct settings, cleanup_lock)},
	{"lock_deploys", K_BOOL, offsetof(struct settings, lock_deploys)},
	{"lock_timeout", K_SECONDS, offsetof(struct settings, lock_timeout)},
	{"lock_backend", K_LOCK_BACKEND, offsetof(struct settings, lock_backend)},
	{"lock_namespace", K_NAMESPACE, offsetof(struct settings, lock_namespace)},
	{"lock_lease_seconds", K_SECONDS, offsetof(struct settings, lock_lease_seconds)},
	{"lock_kubeconfig", K_PATH, offsetof(struct settings, lock_kubeconfig)},
	{"lock_create_namespace", K_BOOL, offsetof(struct settings, lock_create_namespace)},
	{"tools_bundle", K_SHA256, offsetof(struct settings, tools_bundle)},
	{"gc_age", K_SECONDS, offsetof(struct settings, gc_age)},
	{"metrics_dir", K_PATH, offsetof(struct settings, metrics_dir)},
	{"stage_log", K_STAGE_LOG, offsetof(struct settings, stage_log)},
	{"job_users", K_USERS, offsetof(struct settings, job_users)},
	{"job_groups", K_GROUPS, offsetof(struct settings, job_groups)},
	{"allow_root_scripts", K_BOOL, offsetof(struct settings, allow_root_scripts)},
	{"cgroup", K_BOOL, offsetof(struct settings, cgroup)},
	{"job_pids_max", K_COUNT, offsetof(struct settings, job_pids_max)},
	{"job_memory_max", K_MEMORY, offsetof(struct settings, job_memory_max)},
	{"job_cpu_max", K_COUNT, offsetof(struct settings, job_cpu_max)},
	{"parked_clones", K_COUNT, offsetof(struct settings, parked_clones)},
	{"prune_keep_tags", K_PATTERNS, offsetof(struct settings, prune_keep_tags)},
	{"prune_keep_newest", K_COUNT, offsetof(struct settings, prune_keep_newest)},
	{"prune_keep_younger", K_AGE, offsetof(struct settings, prune_keep_younger)},
	{"prune_parallel", K_COUNT, offsetof(struct settings, prune_parallel)},
	{"prune_max_rps", K_COUNT, offsetof(struct settings, prune_max_rps)},
	{"craas_api", K_URL, offsetof(struct settings, craas_api)},
	{"craas_identity_url", K_URL, offsetof(struct settings, craas_identity_url)},
};

#define NR_KEYS		  ARRAY_SIZE(keys)
#define FIELD(s, k, type) ((type *)((char *)(s) + (k)->offset))

static const struct key *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < NR_KEYS; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static int parse_bool(const char *v, int *out)
{
	static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!strcmp(v, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* A whole number with an optional unit from `units`; at most `max` once scaled. */
static int parse_scaled(const char *v, const char *const *units, const unsigned long *scale,
			unsigned long max, unsigned long *out)
{
	unsigned long n;
	char *end;
	size_t i;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno)
		return -1;
	for (i = 0; units[i]; i++) {
		if (strcmp(end, units[i]) != 0)
			continue;
		if (n > max / scale[i])
			return -1;
		*out = n * scale[i];
		return 0;
	}
	return -1;
}

/* "30", "30s", "2m", "1h" -> seconds; at most a day, which no wait here needs to exceed. */
static int parse_seconds(const char *v, unsigned *out)
{
	static const char *const units[] = {"", "s", "m", "h", NULL};
	static const unsigned long scale[] = {1, 1, 60, 3600};
	unsigned long n;

	if (parse_scaled(v, units, scale, 86400, &n) < 0)
		return -1;
	*out = (unsigned)n;
	return 0;
}

int settings_parse_age(const char *v, long *out)
{
	static const char *const units[] = {"", "s", "m", "h", "d", "w", NULL};
	static const unsigned long scale[] = {1, 1, 60, 3600, 86400, 7ul * 86400};
	unsigned long n;

	if (!v || parse_scaled(v, units, scale, 36500ul * 86400, &n) < 0)
		return -1;
	*out = (long)n;
	return 0;
}

/* A count from 0 to a million: tags, workers, requests per second. */
static int parse_count(const char *v, long *out)
{
	static const char *const units[] = {"", NULL};
	static const unsigned long scale[] = {1};
	unsigned long n;

	if (parse_scaled(v, units, scale, 1000000, &n) < 0)
		return -1;
	*out = (long)n;
	return 0;
}

/* "1048576", "512KiB", "1MiB" -> bytes; at most 64 MiB. */
static int parse_bytes(const char *v, unsigned long *out)
{
	static const char *const units[] = {"", "KiB", "MiB", NULL};
	static const unsigned long scale[] = {1, 1024, 1024ul * 1024};

	return parse_scaled(v, units, scale, 64ul << 20, out);
}

/* A job's memory limit: "512MiB", "4GiB"; 0 means none. */
static int parse_memory(const char *v, unsigned long *out)
{
	static const char *const units[] = {"", "KiB", "MiB", "GiB", "TiB", NULL};
	static const unsigned long scale[] = {1, 1024, 1024ul * 1024, 1024ul * 1024 * 1024,
					      1024ul * 1024 * 1024 * 1024};

	return parse_scaled(v, units, scale, 1ul << 50, out);
}

static int set_string(char **field, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return error("out of memory");
	free(*field);
	*field = copy;
	return 0;
}

static int valid_variable_name(const char *v)
{
	size_t i;

	if (!((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || *v == '_'))
		return -1;
	for (i = 1; v[i]; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
			return -1;
	return 0;
}

/* Where a value sits, for messages: "FILE:LINE". */
struct spot {
	struct ydoc *doc;
	yaml_node_t *node;
};

#define AT(sp) (sp)->doc->name, ydoc_line((sp)->node)

/* "a, b, c": every one of `names`, however many; NULL when out of memory. */
static char *join_names(const char *const *names, size_t n)
{
	size_t len = 1, i, k;
	char *list, *p;

	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 2;
	list = malloc(len);
	if (!list)
		return NULL;
	for (i = 0, p = list; i < n; i++) {
		if (i)
			*p++ = ',', *p++ = ' ';
		k = strlen(names[i]);
		memcpy(p, names[i], k);
		p += k;
	}
	*p = '\0';
	return list;
}

/*
 * Refuses the key at `sp`, which is none of `names` (`what` they are: "setting"): the known
 * one nearest to it when one is close, as a typo usually is, then all of them.
 */
static int unknown_key(const struct spot *sp, const char *what, const char *const *names, size_t n)
{
	const char *name = ydoc_scalar(sp->node);
	const char *near = name ? suggest_closest(name, names, n) : NULL;
	char *list;
	int ret;

	if (!name)
		return error("%s:%zu: the name of a %s must be a plain word", AT(sp), what);
	list = join_names(names, n);
	if (!list)
		return error("out of memory");
	if (near)
		ret = error("unknown %s '%s' in %s:%zu: did you mean '%s'? (%ss: %s)", what, name,
			    AT(sp), near, what, list);
	else
		ret = error("unknown %s '%s' in %s:%zu (%ss: %s)", what, name, AT(sp), what, list);
	free(list);
	return ret;
}

static const char *scalar_or_error(const struct spot *sp, const char *what)
{
	const char *v = ydoc_scalar(sp->node);

	if (!v) {
		error("%s:%zu: '%s' must be a single value", AT(sp), what);
	} else if (!*v && sp->node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		error("%s:%zu: '%s' needs a value", AT(sp), what);
		return NULL;
	}
	return v;
}

static int set_path(char **field, const struct spot *sp, const char *what)
{
	const char *v = scalar_or_error(sp, what);

	if (!v)
		return -1;
	if (v[0] != '/' || strlen(v) >= PATH_MAX / 2)
		return error("%s:%zu: '%s' must be an absolute path", AT(sp), what);
	return set_string(field, v);
}

static int set_bool(int *field, const struct spot *sp, const char *what)
{
	const char *v = scalar_or_error(sp, what);

	if (!v)
		return -1;
	if (parse_bool(v, field) < 0)
		return error("%s:%zu: '%s' must be true or false, not '%s'", AT(sp), what, v);
	return 0;
}

static const char *const network_names[] = {"none", "private", "host"};

/*
 * "private", "host" or "none"; true and false from before there were three: true (a network)
 * is a private one now, which reaches what it did but for the host's loopback and abstract
 * sockets, and false is none.
 */
static int set_network(int *field, const char *v, const struct spot *sp)
{
	int yes;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(network_names); i++)
		if (!strcmp(v, network_names[i])) {
			*field = (int)i;
			return 0;
		}
	if (parse_bool(v, &yes) < 0)
		return error("%s:%zu: 'bwrap_network' is private, host or none, not '%s'", AT(sp),
			     v);
	*field = yes ? BWRAP_NETWORK_PRIVATE : BWRAP_NETWORK_NONE;
	return 0;
}

static int set_hosts(struct strvec *hosts, const struct spot *sp, const char *what)
{
	size_t i;

	if (sp->node->type != YAML_SEQUENCE_NODE)
		return error("%s:%zu: '%s' must be a list of hosts", AT(sp), what);
	strvec_clear(hosts);
	for (i = 0; i < ydoc_len(sp->node); i++) {
		struct spot item = {sp->doc, ydoc_item(sp->doc, sp->node, i)};
		const char *v = scalar_or_error(&item, what);

		if (!v)
			return -1;
		if (reference_valid_host(v) < 0)
			return error("%s:%zu: '%s' is not a host name with an optional port",
				     AT(&item), v);
		if (strvec_push(hosts, v) < 0)
			return -1;
	}
	return 0;
}

static int listed(const struct strvec *hosts, const char *host)
{
	size_t i;

	for (i = 0; i < hosts->nr; i++)
		if (!strcmp(hosts->v[i], host))
			return 1;
	return 0;
}

/*
 * job_users and job_groups: lists of names that must exist here, so a missing account fails
 * the settings check (and the Ansible role) rather than a job. root is refused.
 */
static int set_accounts(struct strvec *names, const struct spot *sp, const char *what)
{
	size_t i;

	if (sp->node->type != YAML_SEQUENCE_NODE)
		return error("%s:%zu: '%s' must be a list of names", AT(sp), what);
	strvec_clear(names);
	for (i = 0; i < ydoc_len(sp->node); i++) {
		struct spot item = {sp->doc, ydoc_item(sp->doc, sp->node, i)};
		const char *v = scalar_or_error(&item, what);
		int users = !strcmp(what, "job_users");
		struct passwd *pw = v && users ? getpwnam(v) : NULL;
		struct group *gr = v && !users ? getgrnam(v) : NULL;

		if (!v)
			return -1;
		if (users ? !pw : !gr)
			return error(
				"%s:%zu: no %s '%s' on this machine: create it, or take it out "
				"of '%s'",
				AT(&item), users ? "user" : "group", v, what);
		if (users ? pw->pw_uid == 0 || pw->pw_gid == 0 : gr->gr_gid == 0)
			return error("%s:%zu: '%s' is root's: scripts must not run as root",
				     AT(&item), v);
		if (listed(names, v))
			return error("%s:%zu: '%s' is listed twice in '%s'", AT(&item), v, what);
		if (strvec_push(names, v) < 0)
			return -1;
	}
	return 0;
}

/* A list of non-empty strings (regexes: compiled where they are used, with their errors). */
static int set_patterns(struct strvec *list, const struct spot *sp, const char *what)
{
	size_t i;

	if (sp->node->type != YAML_SEQUENCE_NODE)
		return error("%s:%zu: '%s' must be a list", AT(sp), what);
	strvec_clear(list);
	for (i = 0; i < ydoc_len(sp->node); i++) {
		struct spot item = {sp->doc, ydoc_item(sp->doc, sp->node, i)};
		const char *v = scalar_or_error(&item, what);

		if (!v || strvec_push(list, v) < 0)
			return -1;
	}
	return 0;
}

static int set_variable(char **field, const struct spot *sp, const char *what)
{
	const char *v = scalar_or_error(sp, what);

	if (!v)
		return -1;
	if (valid_variable_name(v) < 0)
		return error("%s:%zu: '%s' must be a CI/CD variable name, not '%s'", AT(sp), what,
			     v);
	return set_string(field, v);
}

static int set_registry(struct registry_setting *r, const struct spot *sp)
{
	static const char *const names[] = {"host", "username_variable", "password_variable",
					    "ca_file", "plain_http"};
	yaml_node_pair_t *p;

	if (sp->node->type != YAML_MAPPING_NODE)
		return error("%s:%zu: each of 'registries' must be a mapping with 'host'", AT(sp));
	for (p = sp->node->data.mapping.pairs.start; p < sp->node->data.mapping.pairs.top; p++) {
		struct spot key = {sp->doc, yaml_document_get_node(&sp->doc->doc, p->key)};
		struct spot val = {sp->doc, yaml_document_get_node(&sp->doc->doc, p->value)};
		const char *k = ydoc_scalar(key.node);
		int ret;

		if (!k)
			return unknown_key(&key, "registry setting", names, ARRAY_SIZE(names));
		if (!strcmp(k, "host")) {
			const char *v = scalar_or_error(&val, k);

			if (!v)
				return -1;
			if (reference_valid_host(v) < 0)
				return error(
					"%s:%zu: registry host '%s' is not a host name with an "
					"optional port",
					AT(&val), v);
			ret = set_string(&r->host, v);
		} else if (!strcmp(k, "username_variable")) {
			ret = set_variable(&r->username_variable, &val, k);
		} else if (!strcmp(k, "password_variable")) {
			ret = set_variable(&r->password_variable, &val, k);
		} else if (!strcmp(k, "ca_file")) {
			ret = set_path(&r->ca_file, &val, k);
		} else if (!strcmp(k, "plain_http")) {
			ret = set_bool(&r->plain_http, &val, k);
		} else {
			return unknown_key(&key, "registry setting", names, ARRAY_SIZE(names));
		}
		if (ret < 0)
			return -1;
	}
	if (!r->host)
		return error("%s:%zu: a registry needs 'host'", AT(sp));
	if (!r->username_variable != !r->password_variable)
		return error("%s:%zu: registry '%s' needs both 'username_variable' and "
			     "'password_variable', or neither",
			     AT(sp), r->host);
	return 0;
}

static void release_registries(struct settings *s)
{
	size_t i;

	for (i = 0; i < s->nr_registries; i++) {
		free(s->registries[i].host);
		free(s->registries[i].username_variable);
		free(s->registries[i].password_variable);
		free(s->registries[i].ca_file);
	}
	free(s->registries);
	s->registries = NULL;
	s->nr_registries = 0;
}

static int set_registries(struct settings *s, const struct spot *sp)
{
	size_t i, n = ydoc_len(sp->node);

	if (sp->node->type != YAML_SEQUENCE_NODE)
		return error("%s:%zu: 'registries' must be a list", AT(sp));
	release_registries(s);
	s->registries = calloc(n ? n : 1, sizeof(*s->registries));
	if (!s->registries)
		return error("out of memory");
	for (i = 0; i < n; i++) {
		struct spot item = {sp->doc, ydoc_item(sp->doc, sp->node, i)};

		s->nr_registries++;
		if (set_registry(&s->registries[i], &item) < 0)
			return -1;
		if (settings_registry(s, s->registries[i].host) != &s->registries[i])
			return error("%s:%zu: registry '%s' is declared twice", AT(&item),
				     s->registries[i].host);
	}
	return 0;
}

static int set_value(struct settings *s, const struct key *k, const struct spot *sp)
{
	const char *v = NULL;

	switch (k->kind) {
	case K_PATH:
		return set_path(FIELD(s, k, char *), sp, k->name);
	case K_BOOL:
		return set_bool(FIELD(s, k, int), sp, k->name);
	case K_HOSTS:
		return set_hosts(FIELD(s, k, struct strvec), sp, k->name);
	case K_REGISTRIES:
		return set_registries(s, sp);
	case K_USERS:
	case K_GROUPS:
		return set_accounts(FIELD(s, k, struct strvec), sp, k->name);
	case K_PATTERNS:
		return set_patterns(FIELD(s, k, struct strvec), sp, k->name);
	case K_COUNT:
	case K_AGE:
	case K_URL:
	case K_SECONDS:
	case K_BYTES:
	case K_MEMORY:
	case K_EXECUTOR:
	case K_NETWORK:
	case K_STRING:
	case K_LOCK_KEY:
	case K_LOCK_BACKEND:
	case K_NAMESPACE:
	case K_SHA256:
	case K_STAGE_LOG:
		v = scalar_or_error(sp, k->name);
		break;
	}
	if (!v)
		return -1;
	if (k->kind == K_SECONDS && parse_seconds(v, FIELD(s, k, unsigned)) < 0)
		return error("%s:%zu: '%s' must be a duration such as 10, 10s or 2m (at most 24h), "
			     "not '%s'",
			     AT(sp), k->name, v);
	if (k->kind == K_BYTES && parse_bytes(v, FIELD(s, k, unsigned long)) < 0)
		return error("%s:%zu: '%s' must be a size such as 65536, 512KiB or 1MiB (at most "
			     "64MiB), not '%s'",
			     AT(sp), k->name, v);
	if (k->kind == K_MEMORY && parse_memory(v, FIELD(s, k, unsigned long)) < 0)
		return error("%s:%zu: '%s' must be a size such as 512MiB or 4GiB (0: no limit), "
			     "not '%s'",
			     AT(sp), k->name, v);
	if (k->kind == K_COUNT && parse_count(v, FIELD(s, k, long)) < 0)
		return error("%s:%zu: '%s' must be a whole number from 0 to 1000000, not '%s'",
			     AT(sp), k->name, v);
	if (k->kind == K_AGE && settings_parse_age(v, FIELD(s, k, long)) < 0)
		return error("%s:%zu: '%s' must be an age such as 90m, 36h, 14d or 2w, not '%s'",
			     AT(sp), k->name, v);
	if (k->kind == K_URL) {
		if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
			return error("%s:%zu: '%s' must be an http(s):// URL", AT(sp), k->name);
		return set_string(FIELD(s, k, char *), v);
	}
	if (k->kind == K_STRING)
		return *v ? set_string(FIELD(s, k, char *), v)
			  : error("%s:%zu: '%s' needs a value", AT(sp), k->name);
	if (k->kind == K_LOCK_KEY) {
		char why[128];

		if (lock_valid_key(v, why, sizeof(why)) < 0)
			return error("%s:%zu: '%s' is not a lock key: %s", AT(sp), k->name, why);
		return set_string(FIELD(s, k, char *), v);
	}
	if (k->kind == K_LOCK_BACKEND) {
		if (strcmp(v, "file") != 0 && strcmp(v, "kubernetes") != 0)
			return error("%s:%zu: unknown lock backend '%s' (known: file, kubernetes)",
				     AT(sp), v);
		return set_string(FIELD(s, k, char *), v);
	}
	if (k->kind == K_STAGE_LOG) {
		if (strcmp(v, "file") != 0 && strcmp(v, "syslog") != 0 && strcmp(v, "off") != 0)
			return error("%s:%zu: 'stage_log' is file, syslog or off, not '%s'", AT(sp),
				     v);
		return set_string(FIELD(s, k, char *), v);
	}
	if (k->kind == K_SHA256) {
		if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64)
			return error("%s:%zu: '%s' is a bundle's sha256: 64 lowercase hex digits",
				     AT(sp), k->name);
		return set_string(FIELD(s, k, char *), v);
	}
	if (k->kind == K_NAMESPACE) {
		if (strlen(v) > 63 || v[0] == '-' || v[strlen(v) - 1] == '-' ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v))
			return error("%s:%zu: '%s' is not a Kubernetes namespace name ([a-z0-9-], "
				     "at most 63, no '-' at an end)",
				     AT(sp), v);
		return set_string(FIELD(s, k, char *), v);
	}
	if (k->kind == K_NETWORK)
		return set_network(FIELD(s, k, int), v, sp);
	/*
	 * The executors are executors/, a layer above the settings: their names are written here
	 * as the lock backends' are, and tests/unit/test_settings.c checks they are the table's.
	 */
	if (k->kind == K_EXECUTOR) {
		if (strcmp(v, "shell") != 0 && strcmp(v, "bwrap") != 0)
			return error("%s:%zu: unknown executor '%s' (known: shell, bwrap)", AT(sp),
				     v);
		return set_string(FIELD(s, k, char *), v);
	}
	return 0;
}

/* Three quarters of the machine's memory: one runaway job leaves the rest of it to the others. */
static unsigned long default_memory_max(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return 0;
	return (unsigned long)pages / 4 * 3 * (unsigned long)size;
}

static int defaults(struct settings *s)
{
	const char *base = NULL, *home;
	char buf[PATH_MAX];

	/* root keeps state under /var/lib; a developer's own runs under their state home. */
	if (geteuid() == 0)
		base = "/var/lib/berth";
	else if ((base = getenv("XDG_STATE_HOME")) && *base == '/')
		base = path_join(buf, sizeof(buf), "%s/berth", base) < 0 ? NULL : buf;
	else if ((home = getenv("HOME")) && *home == '/')
		base = path_join(buf, sizeof(buf), "%s/.local/state/berth", home) < 0 ? NULL : buf;
	else
		return error("no state directory: set 'state_dir' in the settings, or HOME");
	if (!base)
		return -1;
	s->kill_grace = 10;
	s->bwrap_network = BWRAP_NETWORK_PRIVATE;
	s->kubeconfig_max_bytes = 1ul << 20;
	s->kube_preflight = 1;
	s->kube_timeout = 10;
	s->registry_timeout = 30;
	s->registry_max_wait = 60;
	s->lock_deploys = 1;
	s->lock_lease_seconds = 15;
	s->lock_create_namespace = 1;
	s->gc_age = 6 * 3600;
	s->prune_keep_newest = -1;
	s->prune_keep_younger = -1;
	s->prune_parallel = 16;
	s->parked_clones = 4;
	s->cgroup = 1;
	s->job_pids_max = 8192;
	s->job_memory_max = default_memory_max();
	if (set_string(&s->state_dir, base) < 0 || set_string(&s->executor, "shell") < 0 ||
	    set_string(&s->werf_path, "werf") < 0 || set_string(&s->lock_backend, "file") < 0 ||
	    set_string(&s->lock_namespace, "berth-locks") < 0 ||
	    set_string(&s->stage_log, "file") < 0 ||
	    set_string(&s->craas_api, "https://cr.selcloud.ru/api/v1") < 0 ||
	    set_string(&s->craas_identity_url, "https://cloud.api.selcloud.ru/identity/v3") < 0 ||
	    strvec_push(&s->craas_hosts, "cr.selcloud.ru") < 0 ||
	    strvec_push(&s->rate_limited_hosts, "cr.selcloud.ru") < 0)
		return -1;
	return 0;
}

/*
 * builds_dir and cache_dir follow state_dir unless the file set them; werf synchronizes
 * where berth's locks live (one lock service for both) unless the file says otherwise.
 */
static int derive(struct settings *s, const char *name)
{
	char buf[PATH_MAX];

	if (s->prune_parallel < 1)
		return error("%s: 'prune_parallel' must be at least 1", name);
	if (s->lock_lease_seconds < 3 || s->lock_lease_seconds > 3600)
		return error("%s: 'lock_lease_seconds' must be from 3s to 1h, not %us", name,
			     s->lock_lease_seconds);
	if (!s->werf_synchronization) {
		if (!strcmp(s->lock_backend, "kubernetes"))
			snprintf(buf, sizeof(buf), "kubernetes://%s", s->lock_namespace);
		else
			snprintf(buf, sizeof(buf), ":local");
		if (set_string(&s->werf_synchronization, buf) < 0)
			return -1;
	}

	if (!s->builds_dir) {
		if (path_join(buf, sizeof(buf), "%s/builds", s->state_dir) < 0 ||
		    set_string(&s->builds_dir, buf) < 0)
			return -1;
	}
	if (!s->cache_dir) {
		if (path_join(buf, sizeof(buf), "%s/cache", s->state_dir) < 0 ||
		    set_string(&s->cache_dir, buf) < 0)
			return -1;
	}
	return 0;
}

static int apply(struct settings *s, struct ydoc *d)
{
	yaml_node_t *root = ydoc_root(d);
	const char *names[NR_KEYS];
	yaml_node_pair_t *p;
	size_t i;

	if (!root || (root->type == YAML_SCALAR_NODE && !*ydoc_scalar(root)))
		return 0; /* an empty file: defaults only */
	if (root->type != YAML_MAPPING_NODE)
		return error("%s:%zu: settings must be a mapping of keys to values", d->name,
			     ydoc_line(root));
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		struct spot key = {d, yaml_document_get_node(&d->doc, p->key)};
		struct spot val = {d, yaml_document_get_node(&d->doc, p->value)};
		const char *name = ydoc_scalar(key.node);
		const struct key *k = name ? find_key(name) : NULL;

		if (!k) {
			for (i = 0; i < NR_KEYS; i++)
				names[i] = keys[i].name;
			return unknown_key(&key, "setting", names, NR_KEYS);
		}
		if (set_value(s, k, &val) < 0)
			return -1;
	}
	return 0;
}

int settings_parse(struct settings *s, const char *name, const char *buf, size_t len)
{
	struct ydoc d;
	int ret;

	if (defaults(s) < 0 || ydoc_load(&d, name, buf, len) < 0) {
		settings_release(s);
		return -1;
	}
	ret = apply(s, &d);
	ydoc_release(&d);
	if (ret < 0 || derive(s, name) < 0) {
		settings_release(s); /* callers need not release what failed */
		return -1;
	}
	return 0;
}

/*
 * Who besides berth's own user and root may write what `st` describes, for messages ("uid
 * 1001", "group 4", "every user"), or NULL. A sticky directory's other writers cannot rename or
 * remove a file they do not own, so they do not count there.
 */
/*
 * Root as this process sees file owners. In a user namespace (bwrap's, for a job user) the
 * host's root is unmapped and shows as the overflow uid, as does every other unmapped owner:
 * inside the sandbox they cannot be told apart, and the settings there are the job's copy in
 * its workspace, which root wrote.
 */
/* Up to `max` numbers from the first line of `path` into `n`; how many were read. */
static int read_numbers(const char *path, unsigned long *n, int max)
{
	char line[128], *p = line, *end;
	FILE *f = fopen(path, "re");
	int got = 0;

	while (f && got < max && (got > 0 || fgets(line, sizeof(line), f))) {
		n[got] = strtoul(p, &end, 10);
		if (end == p)
			break;
		got++;
		p = end;
	}
	if (f)
		fclose(f);
	return got;
}

static uid_t root_uid(void)
{
	unsigned long map[3], overflow = 65534;

	if (read_numbers("/proc/self/uid_map", map, 3) == 3 && map[0] == 0 && map[1] == 0 &&
	    map[2] == 4294967295UL)
		return 0;
	if (read_numbers("/proc/sys/kernel/overflowuid", &overflow, 1) != 1)
		overflow = 65534;
	return (uid_t)overflow;
}

static const char *other_writer(const struct stat *st, char *buf, size_t size)
{
	if (st->st_uid != 0 && st->st_uid != geteuid() && st->st_uid != root_uid()) {
		snprintf(buf, size, "uid %u", (unsigned)st->st_uid);
		return buf;
	}
	if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return NULL;
	if (st->st_mode & S_IWOTH)
		return "every user";
	if (st->st_mode & S_IWGRP) {
		snprintf(buf, size, "group %u", (unsigned)st->st_gid);
		return buf;
	}
	return NULL;
}

static const char *owners(void)
{
	return geteuid() == 0 ? "root's" : "yours or root's";
}

/* The directory holding `path` (a copy of its part before the last '/'). */
static void parent_of(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, size, ".");
	else if (slash == path)
		snprintf(out, size, "/");
	else
		snprintf(out, size, "%.*s", (int)(slash - path), path);
}

/* Refuses the settings file `file` when someone else may write it (`dir` NULL), or the
 * directory `dir` it is in; `st` describes the one checked. */
static int refuse_writers(const char *file, const char *dir, const struct stat *st)
{
	char who[32];
	const char *writer = other_writer(st, who, sizeof(who));
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (!writer)
		return 0;
	if (!dir)
		return error("settings file '%s' is writable by %s (mode %04o): make it %s and not "
			     "writable by others (chmod 0640)",
			     file, writer, mode, owners());
	return error("settings file '%s' is in '%s', which is writable by %s (mode %04o): make "
		     "that directory %s and not writable by others (chmod 0755)",
		     file, dir, writer, mode, owners());
}

static int check_dir(const char *file, const char *of)
{
	char dir[PATH_MAX];
	struct stat st;

	parent_of(of, dir, sizeof(dir));
	if (stat(dir, &st) < 0)
		return error_errno("cannot inspect the directory of settings file '%s'", file);
	return refuse_writers(file, dir, &st);
}

/*
 * The settings decide what berth runs, as root on a runner (werf_path, job_users, the state
 * dir): whoever may change them, or swap the file, is root. So the file opened (`fd`) must be
 * berth's own user's or root's (just root's for root) and writable by no one else, and so must
 * the directory its name is in and, for a symlink (admins link files into /etc), the directory
 * of the file it leads to. 0, or -1 after reporting.
 */
static int check_writers(const char *file, int fd)
{
	struct stat st;
	char *real;
	int ret;

	if (fstat(fd, &st) < 0)
		return error_errno("cannot inspect settings file '%s'", file);
	if (refuse_writers(file, NULL, &st) < 0 || check_dir(file, file) < 0)
		return -1;
	real = realpath(file, NULL);
	if (!real)
		return error_errno("cannot resolve settings file '%s'", file);
	ret = check_dir(file, real);
	free(real);
	return ret;
}

int settings_load(struct settings *s, const char *file)
{
	struct secret buf = SECRET_INIT;
	int ret, fd;

	if (!file)
		file = getenv("BERTH_CONFIG");
	if (!file || !*file) {
		if (access(SETTINGS_DEFAULT_FILE, F_OK) < 0)
			return settings_parse(s, "(defaults)", "", 0);
		file = SETTINGS_DEFAULT_FILE;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return error_errno("cannot read settings '%s'", file);
	if (check_writers(file, fd) < 0) {
		close(fd);
		return -1;
	}
	ret = secret_read_fd(fd, file, SETTINGS_MAX_SIZE, "settings", &buf);
	if (ret < 0)
		return -1;
	ret = settings_parse(s, file, (const char *)buf.data, buf.len);
	secret_release(&buf);
	if (ret == 0 && set_string(&s->file, file) < 0)
		ret = -1;
	return ret;
}

const struct registry_setting *settings_registry(const struct settings *s, const char *host)
{
	size_t i;

	for (i = 0; i < s->nr_registries; i++)
		if (s->registries[i].host && !strcmp(s->registries[i].host, host))
			return &s->registries[i];
	return NULL;
}

int settings_is_craas(const struct settings *s, const char *host)
{
	return listed(&s->craas_hosts, host);
}

int settings_is_rate_limited(const struct settings *s, const char *host)
{
	return listed(&s->rate_limited_hosts, host);
}

/* A double-quoted YAML scalar: paths and patterns may hold '#', ': ' or quotes. */
static void print_string(FILE *out, const char *v)
{
	fputc('"', out);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fprintf(out, "\\%c", *v);
		else if ((unsigned char)*v < 0x20)
			fprintf(out, "\\x%02x", (unsigned char)*v);
		else
			fputc(*v, out);
	}
	fputc('"', out);
}

static void print_quoted(FILE *out, const char *indent, const char *key, const char *v)
{
	fprintf(out, "%s%s: ", indent, key);
	print_string(out, v);
	fputc('\n', out);
}

static void print_hosts(FILE *out, const char *key, const struct strvec *hosts)
{
	size_t i;

	fprintf(out, "%s: [", key);
	for (i = 0; i < hosts->nr; i++)
		fprintf(out, "%s%s", i ? ", " : "", hosts->v[i]);
	fputs("]\n", out);
}

static const char *yes_no(int b)
{
	return b ? "true" : "false";
}

void settings_print(const struct settings *s, FILE *out)
{
	size_t i;

	fprintf(out, "# effective settings, from %s\n", s->file ? s->file : "embedded defaults");
	print_quoted(out, "", "state_dir", s->state_dir);
	print_quoted(out, "", "builds_dir", s->builds_dir);
	print_quoted(out, "", "cache_dir", s->cache_dir);
	fprintf(out, "builds_per_job: %s\n", yes_no(s->builds_per_job));
	fprintf(out, "executor: %s\n", s->executor);
	fprintf(out, "bwrap_network: %s\n", network_names[s->bwrap_network]);
	fprintf(out, "kill_grace: %us\n", s->kill_grace);
	fprintf(out, "cgroup: %s\n", yes_no(s->cgroup));
	fprintf(out, "job_pids_max: %ld\n", s->job_pids_max);
	fprintf(out, "job_memory_max: %lu\n", s->job_memory_max);
	fprintf(out, "job_cpu_max: %ld\n", s->job_cpu_max);
	fprintf(out, "kubeconfig_max_bytes: %lu\n", s->kubeconfig_max_bytes);
	fprintf(out, "kubeconfig_required: %s\n", yes_no(s->kubeconfig_required));
	fprintf(out, "kube_preflight: %s\n", yes_no(s->kube_preflight));
	fprintf(out, "kube_timeout: %us\n", s->kube_timeout);
	fprintf(out, "registry_timeout: %us\n", s->registry_timeout);
	fprintf(out, "registry_max_wait: %us\n", s->registry_max_wait);
	print_hosts(out, "craas_hosts", &s->craas_hosts);
	print_quoted(out, "", "werf_path", s->werf_path);
	print_quoted(out, "", "werf_synchronization", s->werf_synchronization);
	print_hosts(out, "rate_limited_hosts", &s->rate_limited_hosts);
	if (s->cleanup_lock)
		fprintf(out, "cleanup_lock: %s\n", s->cleanup_lock);
	fprintf(out, "lock_deploys: %s\n", yes_no(s->lock_deploys));
	fprintf(out, "lock_timeout: %us\n", s->lock_timeout);
	fprintf(out, "lock_backend: %s\n", s->lock_backend);
	fprintf(out, "lock_namespace: %s\n", s->lock_namespace);
	fprintf(out, "lock_lease_seconds: %us\n", s->lock_lease_seconds);
	if (s->lock_kubeconfig)
		print_quoted(out, "", "lock_kubeconfig", s->lock_kubeconfig);
	fprintf(out, "lock_create_namespace: %s\n", yes_no(s->lock_create_namespace));
	if (s->tools_bundle)
		fprintf(out, "tools_bundle: %s\n", s->tools_bundle);
	fprintf(out, "gc_age: %us\n", s->gc_age);
	if (s->metrics_dir)
		print_quoted(out, "", "metrics_dir", s->metrics_dir);
	fprintf(out, "stage_log: %s\n", s->stage_log);
	print_hosts(out, "job_users", &s->job_users);
	print_hosts(out, "job_groups", &s->job_groups);
	fprintf(out, "allow_root_scripts: %s\n", yes_no(s->allow_root_scripts));
	fprintf(out, "parked_clones: %ld\n", s->parked_clones);
	fprintf(out, "prune_keep_tags:%s\n", s->prune_keep_tags.nr ? "" : " []");
	for (i = 0; i < s->prune_keep_tags.nr; i++) {
		fputs("  - ", out);
		print_string(out, s->prune_keep_tags.v[i]);
		fputc('\n', out);
	}
	if (s->prune_keep_newest >= 0)
		fprintf(out, "prune_keep_newest: %ld\n", s->prune_keep_newest);
	if (s->prune_keep_younger >= 0)
		fprintf(out, "prune_keep_younger: %lds\n", s->prune_keep_younger);
	fprintf(out, "prune_parallel: %ld\n", s->prune_parallel);
	fprintf(out, "prune_max_rps: %ld\n", s->prune_max_rps);
	print_quoted(out, "", "craas_api", s->craas_api);
	print_quoted(out, "", "craas_identity_url", s->craas_identity_url);
	fprintf(out, "registries:%s\n", s->nr_registries ? "" : " []");
	for (i = 0; i < s->nr_registries; i++) {
		const struct registry_setting *r = &s->registries[i];

		fprintf(out, "  - host: %s\n", r->host);
		if (r->username_variable)
			fprintf(out, "    username_variable: %s\n    password_variable: %s\n",
				r->username_variable, r->password_variable);
		if (r->ca_file)
			print_quoted(out, "    ", "ca_file", r->ca_file);
		fprintf(out, "    plain_http: %s\n", yes_no(r->plain_http));
	}
}

int settings_write_for_job(const struct settings *s, const char *path, int job_user)
{
	struct settings copy = *s;
	char tmp[PATH_MAX];
	FILE *f = NULL;
	int fd;

	/* The admin's cluster credentials are root's: a job user's berth uses the job's own. */
	if (job_user)
		copy.lock_kubeconfig = NULL;
	if (path_join(tmp, sizeof(tmp), "%s.tmp", path) < 0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return error_errno("cannot write the job's settings '%s'", tmp);
	}
	settings_print(&copy, f);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return error_errno("cannot write the job's settings '%s'", path);
	}
	return 0;
}

void settings_release(struct settings *s)
{
	free(s->file);
	free(s->state_dir);
	free(s->builds_dir);
	free(s->cache_dir);
	free(s->executor);
	strvec_clear(&s->craas_hosts);
	strvec_clear(&s->rate_limited_hosts);
	strvec_clear(&s->job_users);
	strvec_clear(&s->job_groups);
	strvec_clear(&s->prune_keep_tags);
	free(s->craas_api);
	free(s->craas_identity_url);
	free(s->werf_path);
	free(s->werf_synchronization);
	free(s->cleanup_lock);
	free(s->lock_backend);
	free(s->lock_namespace);
	free(s->lock_kubeconfig);
	free(s->tools_bundle);
	free(s->metrics_dir);
	free(s->stage_log);
	release_registries(s);
	memset(s, 0, sizeof(*s));
}
