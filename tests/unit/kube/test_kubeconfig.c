/*
 * Kubeconfigs: what a valid file yields for the preflight check, every way a file is refused
 * (with messages that name the field and line but never a value), and loading from the job's
 * variables: precedence, gzip, the size cap, and a required kubeconfig.
 */
#include "unit.h"

#include "base/base64.h"
#include "kube/kubeconfig.h"
#include "base/secret.h"
#include "conf/settings.h"
#include "conf/vars.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Appears in every file below; no message may ever contain it. */
#define CANARY "canary-tok-5d1e8b0a93c7"

/* "ca-data", "cert", "key" */
#define CA_B64	 "Y2EtZGF0YQ=="
#define CERT_B64 "Y2VydA=="
#define KEY_B64	 "a2V5"

/* A minimal valid file, line by line: the line numbers matter for the messages below. */
#define HEAD "apiVersion: v1\nkind: Config\n" /* 1-2 */
#define CLUSTERS                                                                                   \
	"clusters:\n"                                                                              \
	"- name: dev\n"                                                                            \
	"  cluster:\n"                                                                             \
	"    server: https://dev.example.com:6443\n" /* 3-6 */
#define USERS                                                                                      \
	"users:\n"                                                                                 \
	"- name: deployer\n"                                                                       \
	"  user:\n"                                                                                \
	"    token: " CANARY "\n" /* 7-10 */
#define CONTEXTS                                                                                   \
	"contexts:\n"                                                                              \
	"- name: dev\n"                                                                            \
	"  context:\n"                                                                             \
	"    cluster: dev\n"                                                                       \
	"    user: deployer\n"		 /* 11-15 */
#define CURRENT "current-context: dev\n" /* 16 */

#define OPEN8	"[[[[[[[["
#define CLOSE8	"]]]]]]]]"
#define OPEN64	OPEN8 OPEN8 OPEN8 OPEN8 OPEN8 OPEN8 OPEN8 OPEN8
#define CLOSE64 CLOSE8 CLOSE8 CLOSE8 CLOSE8 CLOSE8 CLOSE8 CLOSE8 CLOSE8

static const char good_token[] = HEAD CLUSTERS USERS CONTEXTS CURRENT;

static const char good_certs[] = HEAD "clusters:\n"
				      "- name: prod\n"
				      "  cluster:\n"
				      "    server: https://10.0.0.1\n"
				      "    certificate-authority-data: " CA_B64 "\n"
				      "users:\n"
				      "- name: admin\n"
				      "  user:\n"
				      "    client-certificate-data: " CERT_B64 "\n"
				      "    client-key-data: " KEY_B64 "\n"
				      "contexts:\n"
				      "- name: prod\n"
				      "  context:\n"
				      "    cluster: prod\n"
				      "    user: admin\n"
				      "    namespace: apps\n"
				      "current-context: prod\n"
				      "preferences: {}\n";

static const char good_many[] = HEAD "clusters:\n"
				     "- name: ca\n"
				     "  cluster:\n"
				     "    server: https://a.example.com\n"
				     "- name: cb\n"
				     "  cluster:\n"
				     "    server: http://b.example.com:8080/\n"
				     "    insecure-skip-tls-verify: true\n"
				     "- name: cc\n"
				     "  cluster:\n"
				     "    server: https://c.example.com\n"
				     "    certificate-authority-data: " CA_B64 "\n"
				     "users:\n"
				     "- name: ua\n"
				     "  user:\n"
				     "    token: " CANARY "-a\n"
				     "- name: ub\n"
				     "  user:\n"
				     "    token: " CANARY "-b\n"
				     "- name: uc\n"
				     "  user:\n"
				     "    exec:\n"
				     "      apiVersion: client.authentication.k8s.io/v1\n"
				     "      command: aws\n"
				     "      args: [eks, get-token]\n"
				     "- name: ud\n"
				     "  user:\n"
				     "    tokenFile: /var/run/token\n"
				     "contexts:\n"
				     "- name: a\n"
				     "  context: {cluster: ca, user: ua}\n"
				     "- name: b\n"
				     "  context: {cluster: cb, user: ub}\n"
				     "- name: c\n"
				     "  context: {cluster: cc, user: uc}\n"
				     "- name: d\n"
				     "  context: {cluster: ca, user: ud}\n"
				     "current-context: b\n";

static int teardown(void **state)
{
	(void)state;
	unsetenv("WERF_KUBE_CONFIG_BASE64");
	unsetenv("WERF_KUBECONFIG_BASE64");
	unsetenv("KUBECONFIG_BASE64");
	unsetenv("WERF_KUBE_CONTEXT");
	return 0;
}

static int setup(void **state)
{
	return teardown(state);
}

/* What a call wrote to stderr, NUL-terminated. */
struct captured {
	char text[8192];
};

static enum berth_result parse(struct kubeconfig *k, const char *yaml, const char *context,
			       struct captured *c)
{
	enum berth_result r;
	int saved;
	FILE *tmp;

	memset(k, 0, sizeof(*k));
	assert_int_equal(secret_set(&k->raw, yaml), 0);
	tmp = capture_begin(&saved);
	r = kubeconfig_parse(k, "kc", context);
	capture_end(tmp, saved, c->text, sizeof(c->text));
	return r;
}

static void test_parse_token_user(void **state)
{
	struct kubeconfig k;
	struct captured err;

	(void)state;
	assert_int_equal(parse(&k, good_token, NULL, &err), BERTH_OK);
	assert_string_equal(err.text, "");
	assert_string_equal(k.context, "dev");
	assert_string_equal(k.cluster, "dev");
	assert_string_equal(k.server, "https://dev.example.com:6443");
	assert_non_null(k.token.data);
	assert_string_equal((const char *)k.token.data, CANARY);
	assert_int_equal(k.token.len, strlen(CANARY));
	assert_null(k.ca.data);
	assert_int_equal(k.ca.len, 0);
	assert_null(k.client_cert.data);
	assert_null(k.client_key.data);
	assert_int_equal(k.insecure, 0);
	assert_null(k.no_preflight);
	/* The raw file is left as it was. */
	assert_int_equal(k.raw.len, strlen(good_token));
	assert_memory_equal(k.raw.data, good_token, k.raw.len);
	kubeconfig_release(&k);
	assert_null(k.raw.data);
	assert_null(k.context);
}

static void test_parse_cert_user(void **state)
{
	struct kubeconfig k;
	struct captured err;

	(void)state;
	assert_int_equal(parse(&k, good_certs, NULL, &err), BERTH_OK);
	assert_string_equal(k.context, "prod");
	assert_string_equal(k.cluster, "prod");
	assert_string_equal(k.server, "https://10.0.0.1");
	assert_int_equal(k.ca.len, 7);
	assert_memory_equal(k.ca.data, "ca-data", 7);
	assert_int_equal(k.client_cert.len, 4);
	assert_memory_equal(k.client_cert.data, "cert", 4);
	assert_int_equal(k.client_key.len, 3);
	assert_memory_equal(k.client_key.data, "key", 3);
	assert_null(k.token.data);
	assert_int_equal(k.insecure, 0);
	assert_null(k.no_preflight);
	kubeconfig_release(&k);
}

static void test_parse_context_choice(void **state)
{
	static const struct {
		const char *context; /* the WERF_KUBE_CONTEXT argument */
		const char *want_context, *cluster, *server, *token;
		size_t ca_len;
		int insecure, no_preflight;
	} cases[] = {
		{NULL, "b", "cb", "http://b.example.com:8080/", CANARY "-b", 0, 1, 0},
		{"a", "a", "ca", "https://a.example.com", CANARY "-a", 0, 0, 0},
		{"b", "b", "cb", "http://b.example.com:8080/", CANARY "-b", 0, 1, 0},
		{"c", "c", "cc", "https://c.example.com", NULL, 7, 0, 1},
		{"d", "d", "ca", "https://a.example.com", NULL, 0, 0, 1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kubeconfig k;
		struct captured err;

		assert_int_equal(parse(&k, good_many, cases[i].context, &err), BERTH_OK);
		assert_string_equal(k.context, cases[i].want_context);
		assert_string_equal(k.cluster, cases[i].cluster);
		assert_string_equal(k.server, cases[i].server);
		if (cases[i].token)
			assert_string_equal((const char *)k.token.data, cases[i].token);
		else
			assert_null(k.token.data);
		assert_int_equal(k.ca.len, cases[i].ca_len);
		assert_int_equal(k.insecure, cases[i].insecure);
		if (cases[i].no_preflight)
			assert_non_null(k.no_preflight);
		else
			assert_null(k.no_preflight);
		kubeconfig_release(&k);
	}
}

static void test_parse_insecure_only_when_true(void **state)
{
	static const struct {
		const char *value;
		int insecure;
	} cases[] = {{"true", 1}, {"false", 0}, {"\"false\"", 0}};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char yaml[1024];
		struct kubeconfig k;
		struct captured err;

		snprintf(yaml, sizeof(yaml),
			 HEAD CLUSTERS "    insecure-skip-tls-verify: %s\n" USERS CONTEXTS CURRENT,
			 cases[i].value);
		assert_int_equal(parse(&k, yaml, NULL, &err), BERTH_OK);
		assert_int_equal(k.insecure, cases[i].insecure);
		kubeconfig_release(&k);
	}
}

static void test_parse_rejected(void **state)
{
	static const struct {
		const char *what, *yaml, *context;
		const char *message; /* a part of the message: where and what */
	} cases[] = {
		{"not YAML", HEAD CLUSTERS USERS "  bad: [\n" CONTEXTS CURRENT, NULL,
		 "kc:13: invalid YAML"},
		{"a list at the top", "- " CANARY "\n- b\n", NULL,
		 "kc:1: the document must be a mapping"},
		{"a scalar", CANARY "\n", NULL, "kc:1: the document must be a mapping"},
		{"only a comment", "# " CANARY "\n", NULL, "kc: the file is empty"},
		{"apiVersion v2", "apiVersion: v2\nkind: Config\n" CLUSTERS USERS CONTEXTS CURRENT,
		 NULL, "kc:1: apiVersion must be v1"},
		{"no apiVersion", "kind: Config\n" CLUSTERS USERS CONTEXTS CURRENT, NULL,
		 "kc:1: apiVersion must be v1"},
		{"kind Pod", "apiVersion: v1\nkind: Pod\n" CLUSTERS USERS CONTEXTS CURRENT, NULL,
		 "kc:1: kind must be Config"},
		{"no current-context", HEAD CLUSTERS USERS CONTEXTS, NULL,
		 "kc:1: current-context is missing"},
		{"empty current-context", HEAD CLUSTERS USERS CONTEXTS "current-context: \"\"\n",
		 NULL, "kc:1: current-context is missing"},
		{"current-context naming no context",
		 HEAD CLUSTERS USERS CONTEXTS "current-context: " CANARY "\n", NULL,
		 "kc:16: current-context names no context in 'contexts'"},
		{"WERF_KUBE_CONTEXT naming no context", HEAD CLUSTERS USERS CONTEXTS CURRENT,
		 CANARY, "kc:1: WERF_KUBE_CONTEXT names no context in 'contexts'"},
		{"a dangling user",
		 HEAD CLUSTERS USERS "contexts:\n- name: dev\n  context:\n    cluster: dev\n"
				     "    user: " CANARY "\n" CURRENT,
		 NULL, "kc:15: contexts[0].context.user names no user in 'users'"},
		{"a dangling cluster",
		 HEAD CLUSTERS USERS "contexts:\n- name: dev\n  context:\n    cluster: " CANARY
				     "\n    user: deployer\n" CURRENT,
		 NULL, "kc:14: contexts[0].context.cluster names no cluster in 'clusters'"},
		{"a context without user",
		 HEAD CLUSTERS USERS
		 "contexts:\n- name: dev\n  context:\n    cluster: dev\n" CURRENT,
		 NULL, "kc:14: contexts[0].context.user is missing"},
		{"a cluster without server",
		 HEAD
		 "clusters:\n- name: dev\n  cluster:\n    insecure-skip-tls-verify: true\n" USERS
			 CONTEXTS CURRENT,
		 NULL, "kc:6: clusters[0].cluster.server is missing"},
		{"a server ftp://",
		 HEAD "clusters:\n- name: dev\n  cluster:\n    server: ftp://" CANARY
		      "\n" USERS CONTEXTS CURRENT,
		 NULL, "kc:6: clusters[0].cluster.server must start with https:// or http://"},
		{"a server as a list",
		 HEAD "clusters:\n- name: dev\n  cluster:\n    server: [https://x]\n" USERS CONTEXTS
			 CURRENT,
		 NULL, "kc:6: clusters[0].cluster.server must be a non-empty string"},
		{"a *-data field that is not base64",
		 HEAD CLUSTERS USERS "    client-key-data: " CANARY "\n" CONTEXTS CURRENT, NULL,
		 "kc:11: client-key-data is not valid base64"},
		{"certificate-authority-data not base64",
		 HEAD CLUSTERS "    certificate-authority-data: " CANARY
			       "==\n" USERS CONTEXTS CURRENT,
		 NULL, "kc:7: certificate-authority-data is not valid base64"},
		{"a *-data field that is a mapping",
		 HEAD CLUSTERS USERS "    client-certificate-data: {a: " CANARY
				     "}\n" CONTEXTS CURRENT,
		 NULL, "kc:11: client-certificate-data must be a base64 string"},
		{"duplicate names in clusters",
		 HEAD CLUSTERS "- name: dev\n  cluster:\n    server: https://" CANARY
			       "\n" USERS CONTEXTS CURRENT,
		 NULL, "kc:7: clusters[1].name is used by an earlier entry too"},
		{"duplicate names in users",
		 HEAD CLUSTERS USERS "- name: deployer\n  user:\n    token: x\n" CONTEXTS CURRENT,
		 NULL, "kc:11: users[1].name is used by an earlier entry too"},
		{"an entry without name",
		 HEAD CLUSTERS USERS "- user:\n    token: " CANARY "\n" CONTEXTS CURRENT, NULL,
		 "kc:11: users[1].name is missing"},
		{"users not a list", HEAD CLUSTERS "users: " CANARY "\n" CONTEXTS CURRENT, NULL,
		 "kc:7: users must be a list"},
		{"a user entry without user",
		 HEAD CLUSTERS "users:\n- name: deployer\n  token: " CANARY "\n" CONTEXTS CURRENT,
		 NULL, "users[0].user is missing"},
		{"a duplicate key in a mapping",
		 HEAD CLUSTERS USERS "    token: " CANARY "\n" CONTEXTS CURRENT, NULL,
		 "kc:11: a key is set twice in one mapping"},
		{"a duplicate top-level key", HEAD CLUSTERS USERS CONTEXTS CURRENT "kind: Config\n",
		 NULL, "kc:17: a key is set twice in one mapping"},
		/* The root mapping is level 1: 64 brackets open level 65. */
		{"a value nested 65 levels",
		 HEAD CLUSTERS USERS CONTEXTS CURRENT "preferences: " OPEN64 CLOSE64 "\n", NULL,
		 "kc:17: nested deeper than 64 levels"},
		{"an alias",
		 HEAD CLUSTERS "users:\n- name: deployer\n  user: &u\n    token: " CANARY
			       "\n- name: other\n  user: *u\n" CONTEXTS CURRENT,
		 NULL, "kc:12: YAML anchors and aliases are not allowed here"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kubeconfig k;
		struct captured err;
		enum berth_result r = parse(&k, cases[i].yaml, cases[i].context, &err);

		/* The canary is there to leak: in the file, or in the context asked for. */
		assert_true(strstr(cases[i].yaml, "canary-tok") ||
			    (cases[i].context && strstr(cases[i].context, "canary-tok")));
		if (r != BERTH_BUILD_FAILURE)
			fail_msg("%s: want a build failure, got %d", cases[i].what, (int)r);
		if (strstr(err.text, "canary-tok"))
			fail_msg("%s: the message shows a value from the file: %s", cases[i].what,
				 err.text);
		if (!strstr(err.text, cases[i].message))
			fail_msg("%s: the message lacks '%s': %s", cases[i].what, cases[i].message,
				 err.text);
		assert_non_null(strstr(err.text, "berth: error: "));
		kubeconfig_release(&k);
	}
}

static void test_parse_alias_bomb_fails_fast(void **state)
{
	char yaml[8192], *p = yaml;
	struct kubeconfig k;
	struct captured err;
	struct timespec t0, t1;
	int i;

	(void)state;
	/* 40 levels: 2^40 leaves once expanded, so only refusing it up front can finish. */
	p += sprintf(p, HEAD "l0: &l0 [" CANARY ", " CANARY "]\n");
	for (i = 1; i < 40; i++)
		p += sprintf(p, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d]\n", i, i, i - 1, i - 1, i - 1,
			     i - 1);
	sprintf(p, CLUSTERS USERS CONTEXTS CURRENT);
	/* CPU time: a bound on the work, whatever else the machine runs. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	assert_int_equal(parse(&k, yaml, NULL, &err), BERTH_BUILD_FAILURE);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_non_null(strstr(err.text, "kc:4: YAML anchors and aliases are not allowed here"));
	assert_null(strstr(err.text, "canary-tok"));
	kubeconfig_release(&k);
}

static void test_parse_missing_inner_mapping_names_its_line(void **state)
{
	/* An entry without its inner mapping: the message points at the entry (line 8). */
	static const struct {
		const char *yaml, *message;
	} cases[] = {
		{HEAD CLUSTERS "users:\n- name: deployer\n  token: " CANARY "\n" CONTEXTS CURRENT,
		 "kc:8: users[0].user is missing"},
		{HEAD "clusters:\n- name: dev\n  server: https://" CANARY
		      "\n" USERS CONTEXTS CURRENT,
		 "kc:4: clusters[0].cluster is missing"},
		{HEAD CLUSTERS USERS "contexts:\n- name: dev\n  cluster: dev\n" CURRENT,
		 "kc:12: contexts[0].context is missing"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kubeconfig k;
		struct captured err;

		enum berth_result r = parse(&k, cases[i].yaml, NULL, &err);

		kubeconfig_release(&k);
		assert_int_equal(r, BERTH_BUILD_FAILURE);
		assert_null(strstr(err.text, "canary-tok"));
		if (!strstr(err.text, cases[i].message))
			fail_msg("want '%s', got: %s", cases[i].message, err.text);
	}
}

/* settings_parse of `yaml`, which must succeed. */
static void settings_from(struct settings *s, const char *yaml)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(settings_parse(s, "t.yaml", yaml, strlen(yaml)), 0);
}

static void setenv_base64(const char *name, const void *data, size_t len)
{
	char *enc = base64_encode(data, len);

	assert_non_null(enc);
	assert_int_equal(setenv(name, enc, 1), 0);
	free(enc);
}

/* gzip of `len` bytes into a malloc'd buffer. */
static unsigned char *gzip(const void *data, size_t len, size_t *out_len)
{
	z_stream z;
	size_t cap = len + len / 2 + 128;
	unsigned char *out = malloc(cap);

	assert_non_null(out);
	memset(&z, 0, sizeof(z));
	assert_int_equal(
		deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY),
		Z_OK);
	z.next_in = (unsigned char *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	assert_int_equal(out[0], 0x1f);
	assert_int_equal(out[1], 0x8b);
	return out;
}

static enum berth_result load(struct kubeconfig *k, const struct settings *s, struct captured *c)
{
	enum berth_result r;
	int saved;
	FILE *tmp = capture_begin(&saved);

	r = kubeconfig_load(k, &vars_script, s);
	capture_end(tmp, saved, c->text, sizeof(c->text));
	return r;
}

static void test_load_base64(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;

	(void)state;
	settings_from(&s, "");
	setenv_base64("WERF_KUBECONFIG_BASE64", good_token, strlen(good_token));
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_string_equal(err.text, "");
	assert_non_null(k.variable);
	assert_string_equal(k.variable, "WERF_KUBECONFIG_BASE64");
	assert_int_equal(k.raw.len, strlen(good_token));
	assert_memory_equal(k.raw.data, good_token, k.raw.len);
	assert_string_equal(k.context, "dev");
	assert_string_equal(k.server, "https://dev.example.com:6443");
	assert_string_equal((const char *)k.token.data, CANARY);
	kubeconfig_release(&k);
	settings_release(&s);
}

static void test_load_base64_with_newlines(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;
	char *enc = base64_encode((const unsigned char *)good_token, strlen(good_token));
	char wrapped[2048];
	size_t i, n = 0;

	(void)state;
	assert_non_null(enc);
	/* `base64` wraps at 76 columns. */
	for (i = 0; enc[i]; i++) {
		wrapped[n++] = enc[i];
		if (i % 76 == 75)
			wrapped[n++] = '\n';
	}
	wrapped[n++] = '\n';
	wrapped[n] = '\0';
	free(enc);
	settings_from(&s, "");
	assert_int_equal(setenv("KUBECONFIG_BASE64", wrapped, 1), 0);
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_string_equal(k.variable, "KUBECONFIG_BASE64");
	assert_string_equal(k.context, "dev");
	kubeconfig_release(&k);
	settings_release(&s);
}

static void test_load_precedence(void **state)
{
	static const char *const names[] = {"WERF_KUBE_CONFIG_BASE64", "WERF_KUBECONFIG_BASE64",
					    "KUBECONFIG_BASE64"};
	static const char *const servers[] = {"https://one.example.com", "https://two.example.com",
					      "https://three.example.com"};
	struct settings s;
	size_t first, i;

	(void)state;
	settings_from(&s, "");
	/* With variables first..2 set, the first of them wins. */
	for (first = 0; first < 3; first++) {
		struct kubeconfig k;
		struct captured err;

		teardown(NULL);
		for (i = first; i < 3; i++) {
			char yaml[1024];

			snprintf(yaml, sizeof(yaml),
				 HEAD "clusters:\n- name: dev\n  cluster:\n    server: %s\n" USERS
					 CONTEXTS CURRENT,
				 servers[i]);
			setenv_base64(names[i], yaml, strlen(yaml));
		}
		assert_int_equal(load(&k, &s, &err), BERTH_OK);
		assert_string_equal(k.variable, names[first]);
		assert_string_equal(k.server, servers[first]);
		kubeconfig_release(&k);
	}
	settings_release(&s);
}

static void test_load_empty_variable_counts_as_unset(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;

	(void)state;
	settings_from(&s, "");
	assert_int_equal(setenv("WERF_KUBE_CONFIG_BASE64", "", 1), 0);
	setenv_base64("KUBECONFIG_BASE64", good_token, strlen(good_token));
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_string_equal(k.variable, "KUBECONFIG_BASE64");
	kubeconfig_release(&k);
	settings_release(&s);
}

static void test_load_context_variable(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;

	(void)state;
	settings_from(&s, "");
	setenv_base64("WERF_KUBECONFIG_BASE64", good_many, strlen(good_many));
	assert_int_equal(setenv("WERF_KUBE_CONTEXT", "a", 1), 0);
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_string_equal(k.context, "a");
	assert_string_equal(k.cluster, "ca");
	kubeconfig_release(&k);

	assert_int_equal(setenv("WERF_KUBE_CONTEXT", "nope", 1), 0);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "WERF_KUBE_CONTEXT names no context"));
	assert_non_null(strstr(err.text, "kubeconfig from WERF_KUBECONFIG_BASE64"));
	assert_null(k.raw.data);
	kubeconfig_release(&k);
	settings_release(&s);
}

static void test_load_gzip(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;
	size_t len;
	unsigned char *gz = gzip(good_many, strlen(good_many), &len);

	(void)state;
	settings_from(&s, "");
	setenv_base64("WERF_KUBE_CONFIG_BASE64", gz, len);
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_string_equal(err.text, "");
	assert_string_equal(k.variable, "WERF_KUBE_CONFIG_BASE64");
	assert_int_equal(k.raw.len, strlen(good_many));
	assert_memory_equal(k.raw.data, good_many, k.raw.len);
	assert_string_equal(k.context, "b");
	kubeconfig_release(&k);

	/* Truncated: the trailer and part of the data gone. */
	setenv_base64("WERF_KUBE_CONFIG_BASE64", gz, len / 2);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "WERF_KUBE_CONFIG_BASE64"));
	assert_non_null(strstr(err.text, "gzip"));
	assert_null(k.variable);
	kubeconfig_release(&k);

	/* Only the 8-byte trailer gone. */
	setenv_base64("WERF_KUBE_CONFIG_BASE64", gz, len - 8);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "gzip"));
	kubeconfig_release(&k);

	/* Corrupt deflate data. */
	memset(gz + 10, 0xff, 16);
	setenv_base64("WERF_KUBE_CONFIG_BASE64", gz, len);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "gzip"));
	assert_null(strstr(err.text, "canary-tok"));
	kubeconfig_release(&k);
	free(gz);
	settings_release(&s);
}

static void test_load_gzip_bomb(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;
	size_t n = 16u << 20, len;
	char *big = malloc(n);
	unsigned char *gz;

	(void)state;
	assert_non_null(big);
	memset(big, '#', n);
	gz = gzip(big, n, &len);
	free(big);
	settings_from(&s, "");
	setenv_base64("WERF_KUBECONFIG_BASE64", gz, len);
	free(gz);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "larger than allowed"));
	kubeconfig_release(&k);
	settings_release(&s);
}

static void test_load_max_bytes(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;
	char yaml[64], padded[8192];
	size_t len, n;
	unsigned char *gz;

	(void)state;
	settings_from(&s, "kubeconfig_max_bytes: 100\n");
	assert_int_equal(s.kubeconfig_max_bytes, 100);
	assert_true(strlen(good_token) > 100);
	setenv_base64("WERF_KUBECONFIG_BASE64", good_token, strlen(good_token));
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "WERF_KUBECONFIG_BASE64"));
	assert_non_null(strstr(err.text, "larger than kubeconfig_max_bytes (100)"));
	assert_null(strstr(err.text, "canary-tok"));
	kubeconfig_release(&k);
	settings_release(&s);

	/* A long comment: small once compressed, too large once inflated. */
	n = (size_t)snprintf(padded, sizeof(padded), "%s#", good_token);
	memset(padded + n, '#', 6000);
	n += 6000;
	padded[n++] = '\n';
	padded[n] = '\0';
	gz = gzip(padded, n, &len);
	settings_from(&s, "kubeconfig_max_bytes: 4KiB\n");
	assert_true(len < 4096);
	setenv_base64("WERF_KUBECONFIG_BASE64", gz, len);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "larger than allowed once inflated"));
	assert_null(strstr(err.text, "canary-tok"));
	kubeconfig_release(&k);
	settings_release(&s);

	/* A cap of exactly the file's size lets it through, gzip'd or not. */
	snprintf(yaml, sizeof(yaml), "kubeconfig_max_bytes: %zu\n", n);
	settings_from(&s, yaml);
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_int_equal(k.raw.len, n);
	assert_memory_equal(k.raw.data, padded, n);
	assert_string_equal(k.context, "dev");
	kubeconfig_release(&k);
	setenv_base64("WERF_KUBECONFIG_BASE64", padded, n);
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_int_equal(k.raw.len, n);
	kubeconfig_release(&k);
	settings_release(&s);

	/* One byte less, and neither fits. */
	snprintf(yaml, sizeof(yaml), "kubeconfig_max_bytes: %zu\n", n - 1);
	settings_from(&s, yaml);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	kubeconfig_release(&k);
	setenv_base64("WERF_KUBECONFIG_BASE64", gz, len);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "larger than allowed once inflated"));
	kubeconfig_release(&k);
	free(gz);
	settings_release(&s);
}

static void test_load_bad_input(void **state)
{
	static const char binary[] = "apiVersion: v1\0kind: Config\n";
	struct settings s;
	struct kubeconfig k;
	struct captured err;

	(void)state;
	settings_from(&s, "");
	assert_int_equal(setenv("WERF_KUBECONFIG_BASE64", CANARY, 1), 0);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "WERF_KUBECONFIG_BASE64 is not valid base64"));
	assert_null(strstr(err.text, "canary-tok"));
	kubeconfig_release(&k);

	setenv_base64("WERF_KUBECONFIG_BASE64", binary, sizeof(binary) - 1);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "binary"));
	kubeconfig_release(&k);

	setenv_base64("WERF_KUBECONFIG_BASE64", "- " CANARY "\n", strlen(CANARY) + 3);
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_non_null(strstr(err.text, "kubeconfig from WERF_KUBECONFIG_BASE64:1:"));
	assert_null(strstr(err.text, "canary-tok"));
	assert_null(k.variable);
	assert_null(k.raw.data);
	kubeconfig_release(&k);
	settings_release(&s);
}

static void test_load_none(void **state)
{
	struct settings s;
	struct kubeconfig k;
	struct captured err;

	(void)state;
	settings_from(&s, "");
	assert_int_equal(s.kubeconfig_required, 0);
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_null(k.variable);
	assert_null(k.raw.data);
	assert_string_equal(err.text, "");
	kubeconfig_release(&k);
	settings_release(&s);

	settings_from(&s, "kubeconfig_required: true\n");
	assert_int_equal(load(&k, &s, &err), BERTH_BUILD_FAILURE);
	assert_null(k.variable);
	assert_non_null(strstr(err.text, "requires a kubeconfig"));
	kubeconfig_release(&k);

	/* A required kubeconfig that is there is fine. */
	setenv_base64("KUBECONFIG_BASE64", good_token, strlen(good_token));
	assert_int_equal(load(&k, &s, &err), BERTH_OK);
	assert_string_equal(k.variable, "KUBECONFIG_BASE64");
	kubeconfig_release(&k);
	settings_release(&s);
}

static void test_load_runner_view(void **state)
{
	struct settings s;
	struct kubeconfig k;
	char *enc = base64_encode((const unsigned char *)good_token, strlen(good_token));
	enum berth_result r;

	(void)state;
	assert_non_null(enc);
	settings_from(&s, "");
	/* vars_runner reads CUSTOM_ENV_<NAME>, never the bare name. */
	assert_int_equal(setenv("WERF_KUBECONFIG_BASE64", enc, 1), 0);
	r = kubeconfig_load(&k, &vars_runner, &s);
	assert_int_equal(r, BERTH_OK);
	assert_null(k.variable);
	kubeconfig_release(&k);
	assert_int_equal(setenv("CUSTOM_ENV_WERF_KUBECONFIG_BASE64", enc, 1), 0);
	r = kubeconfig_load(&k, &vars_runner, &s);
	unsetenv("CUSTOM_ENV_WERF_KUBECONFIG_BASE64");
	assert_int_equal(r, BERTH_OK);
	assert_string_equal(k.variable, "WERF_KUBECONFIG_BASE64");
	kubeconfig_release(&k);
	free(enc);
	settings_release(&s);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_parse_token_user),
		TEST(test_parse_cert_user),
		TEST(test_parse_context_choice),
		TEST(test_parse_insecure_only_when_true),
		TEST(test_parse_rejected),
		TEST(test_parse_alias_bomb_fails_fast),
		TEST(test_parse_missing_inner_mapping_names_its_line),
		TEST(test_load_base64),
		TEST(test_load_base64_with_newlines),
		TEST(test_load_precedence),
		TEST(test_load_empty_variable_counts_as_unset),
		TEST(test_load_context_variable),
		TEST(test_load_gzip),
		TEST(test_load_gzip_bomb),
		TEST(test_load_max_bytes),
		TEST(test_load_bad_input),
		TEST(test_load_none),
		TEST(test_load_runner_view),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
