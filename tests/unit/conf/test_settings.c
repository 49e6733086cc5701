/* Settings: every key, defaults, and the errors an admin gets for a bad file. */
#include "unit.h"

#include "conf/settings.h"
#include "executors/executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(struct settings *s, const char *yaml)
{
	memset(s, 0, sizeof(*s));
	return settings_parse(s, "t.yaml", yaml, strlen(yaml));
}

static void test_defaults_follow_state_dir(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, "state_dir: /srv/b\n"), 0);
	assert_string_equal(s.state_dir, "/srv/b");
	assert_string_equal(s.builds_dir, "/srv/b/builds");
	assert_string_equal(s.cache_dir, "/srv/b/cache");
	assert_string_equal(s.executor, "shell");
	assert_int_equal(s.kill_grace, 10);
	assert_int_equal(s.builds_per_job, 0);
	settings_release(&s);
}

static void test_empty_file_gives_defaults(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_non_null(s.state_dir);
	assert_int_equal(s.state_dir[0], '/');
	settings_release(&s);
	assert_int_equal(parse(&s, "# only a comment\n"), 0);
	settings_release(&s);
}

static void test_every_key(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, "state_dir: /a\nbuilds_dir: /b\ncache_dir: /c\n"
				   "builds_per_job: yes\nexecutor: shell\nkill_grace: 2m\n"),
			 0);
	assert_string_equal(s.builds_dir, "/b");
	assert_string_equal(s.cache_dir, "/c");
	assert_int_equal(s.builds_per_job, 1);
	assert_int_equal(s.kill_grace, 120);
	settings_release(&s);
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		int ok;
		unsigned seconds;
	} cases[] = {
		{"0", 1, 0},	 {"7", 1, 7},	    {"7s", 1, 7},  {"3m", 1, 180},
		{"1h", 1, 3600}, {"24h", 1, 86400}, {"25h", 0, 0}, {"soon", 0, 0},
		{"-1", 0, 0},	 {"5x", 0, 0},	    {"1.5", 0, 0}, {"99999999999999999999", 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct settings s;
		char yaml[64];

		snprintf(yaml, sizeof(yaml), "kill_grace: %s\n", cases[i].text);
		assert_int_equal(parse(&s, yaml), cases[i].ok ? 0 : -1);
		if (cases[i].ok)
			assert_int_equal(s.kill_grace, cases[i].seconds);
		settings_release(&s);
	}
}

static void test_rejected(void **state)
{
	static const char *bad[] = {
		"stat_dir: /x\n",		      /* unknown key */
		"state_dir: relative/path\n",	      /* not absolute */
		"builds_per_job: maybe\n",	      /* not a bool */
		"executor: docker\n",		      /* no such backend */
		"state_dir: [/a, /b]\n",	      /* a list */
		"state_dir:\n  nested: 1\n",	      /* a mapping */
		"state_dir:\n",			      /* no value */
		"state_dir: &x /y\nbuilds_dir: *x\n", /* an alias */
		"state_dir: /a\nstate_dir: /b\n",     /* twice */
		"- state_dir\n",		      /* not a mapping */
		"state_dir: /a\n  bad indent: [\n",   /* not YAML */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct settings s;

		assert_int_equal(parse(&s, bad[i]), -1);
		settings_release(&s);
	}
}

static void test_print_round_trips(void **state)
{
	struct settings a, b;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(parse(&a, "state_dir: /srv/x\nkill_grace: 90\nbuilds_per_job: true\n"), 0);
	f = open_memstream(&text, &len);
	settings_print(&a, f);
	fclose(f);
	assert_int_equal(parse(&b, text), 0);
	assert_string_equal(b.state_dir, "/srv/x");
	assert_string_equal(b.builds_dir, "/srv/x/builds");
	assert_int_equal(b.kill_grace, 90);
	assert_int_equal(b.builds_per_job, 1);
	free(text);
	settings_release(&a);
	settings_release(&b);
}

static void test_load_missing_named_file_fails(void **state)
{
	struct settings s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(settings_load(&s, "/nonexistent/berth.yaml"), -1);
	settings_release(&s);
}

static void test_craas_hosts(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_int_equal(s.craas_hosts.nr, 1);
	assert_string_equal(s.craas_hosts.v[0], "cr.selcloud.ru");
	assert_int_equal(settings_is_craas(&s, "cr.selcloud.ru"), 1);
	assert_int_equal(settings_is_craas(&s, "registry.example.com"), 0);
	settings_release(&s);

	/* A list replaces the default, not adds to it. */
	assert_int_equal(parse(&s, "craas_hosts: [cr.example.ru, \"cr2.example.ru:5000\"]\n"), 0);
	assert_int_equal(s.craas_hosts.nr, 2);
	assert_string_equal(s.craas_hosts.v[0], "cr.example.ru");
	assert_string_equal(s.craas_hosts.v[1], "cr2.example.ru:5000");
	assert_null(s.craas_hosts.v[2]);
	assert_int_equal(settings_is_craas(&s, "cr.example.ru"), 1);
	assert_int_equal(settings_is_craas(&s, "cr2.example.ru:5000"), 1);
	assert_int_equal(settings_is_craas(&s, "cr2.example.ru"), 0);
	assert_int_equal(settings_is_craas(&s, "cr.selcloud.ru"), 0);
	settings_release(&s);

	assert_int_equal(parse(&s, "craas_hosts:\n  - a.io\n"), 0);
	assert_int_equal(s.craas_hosts.nr, 1);
	assert_int_equal(settings_is_craas(&s, "a.io"), 1);
	settings_release(&s);

	assert_int_equal(parse(&s, "craas_hosts: []\n"), 0);
	assert_int_equal(s.craas_hosts.nr, 0);
	assert_int_equal(settings_is_craas(&s, "cr.selcloud.ru"), 0);
	settings_release(&s);
}

static void test_registries(void **state)
{
	struct settings s;
	const struct registry_setting *r;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_int_equal(s.nr_registries, 0);
	assert_null(settings_registry(&s, "registry.example.com"));
	settings_release(&s);

	assert_int_equal(parse(&s, "registries:\n"
				   "  - host: registry.example.com:5000\n"
				   "    username_variable: REG_USER\n"
				   "    password_variable: _reg_password2\n"
				   "    ca_file: /etc/berth/ca/internal.pem\n"
				   "    plain_http: false\n"
				   "  - host: localhost:5000\n"
				   "    plain_http: true\n"
				   "  - host: cr.selcloud.ru\n"
				   "    username_variable: CRAAS_USER\n"
				   "    password_variable: CRAAS_TOKEN\n"),
			 0);
	assert_int_equal(s.nr_registries, 3);

	r = settings_registry(&s, "registry.example.com:5000");
	assert_ptr_equal(r, &s.registries[0]);
	assert_string_equal(r->host, "registry.example.com:5000");
	assert_string_equal(r->username_variable, "REG_USER");
	assert_string_equal(r->password_variable, "_reg_password2");
	assert_string_equal(r->ca_file, "/etc/berth/ca/internal.pem");
	assert_int_equal(r->plain_http, 0);

	r = settings_registry(&s, "localhost:5000");
	assert_ptr_equal(r, &s.registries[1]);
	assert_null(r->username_variable);
	assert_null(r->password_variable);
	assert_null(r->ca_file);
	assert_int_equal(r->plain_http, 1);

	r = settings_registry(&s, "cr.selcloud.ru");
	assert_ptr_equal(r, &s.registries[2]);
	assert_string_equal(r->password_variable, "CRAAS_TOKEN");

	assert_null(settings_registry(&s, "registry.example.com"));
	assert_null(settings_registry(&s, "localhost"));
	assert_int_equal(settings_is_craas(&s, "cr.selcloud.ru"), 1);
	assert_int_equal(settings_is_craas(&s, "registry.example.com:5000"), 0);
	settings_release(&s);

	assert_int_equal(parse(&s, "registries: []\n"), 0);
	assert_int_equal(s.nr_registries, 0);
	settings_release(&s);
}

static void test_registries_rejected(void **state)
{
	static const char *bad[] = {
		/* a registry without host */
		"registries:\n  - username_variable: U\n    password_variable: P\n",
		"registries:\n  - plain_http: true\n",
		"registries:\n  - {}\n",
		/* only one of the variables */
		"registries:\n  - host: a.io\n    username_variable: U\n",
		"registries:\n  - host: a.io\n    password_variable: P\n",
		/* not variable names */
		"registries:\n  - host: a.io\n    username_variable: 1ABC\n    password_variable: P\n",
		"registries:\n  - host: a.io\n    username_variable: U\n    password_variable: A-B\n",
		"registries:\n  - host: a.io\n    username_variable: \"\"\n    password_variable: P\n",
		"registries:\n  - host: a.io\n    username_variable: $U\n    password_variable: P\n",
		"registries:\n  - host: a.io\n    username_variable: [U]\n    password_variable: P\n",
		/* an unknown key */
		"registries:\n  - host: a.io\n    password: hunter2\n",
		"registries:\n  - host: a.io\n    insecure: true\n",
		/* ca_file not absolute, or empty */
		"registries:\n  - host: a.io\n    ca_file: ca.pem\n",
		"registries:\n  - host: a.io\n    ca_file: ./ca.pem\n",
		"registries:\n  - host: a.io\n    ca_file:\n",
		/* a bad plain_http */
		"registries:\n  - host: a.io\n    plain_http: maybe\n",
		/* the same host twice */
		"registries:\n  - host: a.io\n  - host: b.io\n  - host: a.io\n    plain_http: true\n",
		/* a bad host */
		"registries:\n  - host: a b\n",
		"registries:\n  - host: https://a.io\n",
		"registries:\n  - host: a.io/path\n",
		"registries:\n  - host: \"\"\n",
		"registries:\n  - host: [a.io]\n",
		/* the wrong shapes */
		"registries: a.io\n",
		"registries:\n  host: a.io\n",
		"registries: [a.io]\n",
		"registries:\n",
		"registries:\n  - host: a.io\n    host: b.io\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct settings s;

		if (parse(&s, bad[i]) != -1)
			fail_msg("accepted:\n%s", bad[i]);
		settings_release(&s);
	}
}

static void test_craas_hosts_rejected(void **state)
{
	static const char *bad[] = {
		"craas_hosts: cr.selcloud.ru\n",   /* not a list */
		"craas_hosts:\n  a: b\n",	   /* a mapping */
		"craas_hosts:\n",		   /* nothing */
		"craas_hosts: [a..b]\n",	   /* a bad host */
		"craas_hosts: [ok.io, -bad.io]\n", /* a bad host after a good one */
		"craas_hosts: [\"a b\"]\n",	   /* a space */
		"craas_hosts: [a.io:http]\n",	   /* a bad port */
		"craas_hosts: [[a.io]]\n",	   /* a nested list */
		"craas_hosts: [\"\"]\n",	   /* empty */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct settings s;

		if (parse(&s, bad[i]) != -1)
			fail_msg("accepted: %s", bad[i]);
		settings_release(&s);
	}
}

static void test_kubeconfig_max_bytes(void **state)
{
	static const struct {
		const char *text;
		int ok;
		unsigned long bytes;
	} cases[] = {
		{"100", 1, 100},	{"1", 1, 1},
		{"65536", 1, 65536},	{"512KiB", 1, 524288},
		{"1KiB", 1, 1024},	{"1MiB", 1, 1048576},
		{"64MiB", 1, 67108864}, {"67108864", 1, 67108864},
		{"1GiB", 0, 0},		{"65MiB", 0, 0},
		{"67108865", 0, 0},	{"-1", 0, 0},
		{"1.5MiB", 0, 0},	{"1 MiB", 0, 0},
		{"1mib", 0, 0},		{"1KB", 0, 0},
		{"1M", 0, 0},		{"MiB", 0, 0},
		{"lots", 0, 0},		{"99999999999999999999999", 0, 0},
		{"[1]", 0, 0},
	};
	size_t i;
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_int_equal(s.kubeconfig_max_bytes, 1048576);
	settings_release(&s);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char yaml[64];

		snprintf(yaml, sizeof(yaml), "kubeconfig_max_bytes: %s\n", cases[i].text);
		if (parse(&s, yaml) != (cases[i].ok ? 0 : -1))
			fail_msg("kubeconfig_max_bytes: %s should be %s", cases[i].text,
				 cases[i].ok ? "accepted" : "refused");
		if (cases[i].ok)
			assert_int_equal(s.kubeconfig_max_bytes, cases[i].bytes);
		settings_release(&s);
	}
}

/* The job's cgroup and its limits: on, with a process and a memory limit, by default. */
static void test_cgroup_limits(void **state)
{
	static const struct {
		const char *text;
		int ok;
		unsigned long bytes;
	} memory[] = {
		{"0", 1, 0},
		{"512MiB", 1, 512ul << 20},
		{"4GiB", 1, 4ul << 30},
		{"2TiB", 1, 2ul << 40},
		{"4G", 0, 0},
		{"4.5GiB", 0, 0},
		{"-1", 0, 0},
		{"2000TiB", 0, 0},
		{"lots", 0, 0},
	};
	struct settings s;
	size_t i;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_int_equal(s.cgroup, 1);
	assert_int_equal(s.job_pids_max, 8192);
	assert_true(s.job_memory_max > 0);
	assert_int_equal(s.job_cpu_max, 0);
	settings_release(&s);
	assert_int_equal(parse(&s, "cgroup: off\njob_pids_max: 512\njob_cpu_max: 150\n"), 0);
	assert_int_equal(s.cgroup, 0);
	assert_int_equal(s.job_pids_max, 512);
	assert_int_equal(s.job_cpu_max, 150);
	settings_release(&s);
	for (i = 0; i < ARRAY_SIZE(memory); i++) {
		char yaml[64];

		snprintf(yaml, sizeof(yaml), "job_memory_max: %s\n", memory[i].text);
		if (parse(&s, yaml) != (memory[i].ok ? 0 : -1))
			fail_msg("job_memory_max: %s should be %s", memory[i].text,
				 memory[i].ok ? "accepted" : "refused");
		if (memory[i].ok)
			assert_int_equal(s.job_memory_max, memory[i].bytes);
		settings_release(&s);
	}
}

static void test_kube_bools(void **state)
{
	static const struct {
		const char *yaml;
		int ok, preflight, required;
	} cases[] = {
		{"", 1, 1, 0},
		{"kube_preflight: false\n", 1, 0, 0},
		{"kube_preflight: no\nkubeconfig_required: yes\n", 1, 0, 1},
		{"kube_preflight: on\nkubeconfig_required: true\n", 1, 1, 1},
		{"kubeconfig_required: off\n", 1, 1, 0},
		{"kube_preflight: 0\n", 0, 0, 0},
		{"kubeconfig_required: 1\n", 0, 0, 0},
		{"kubeconfig_required: TRUE!\n", 0, 0, 0},
		{"kube_preflight:\n", 0, 0, 0},
		{"kube_preflight: [true]\n", 0, 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct settings s;

		if (parse(&s, cases[i].yaml) != (cases[i].ok ? 0 : -1))
			fail_msg("'%s' should be %s", cases[i].yaml,
				 cases[i].ok ? "accepted" : "refused");
		if (cases[i].ok) {
			assert_int_equal(s.kube_preflight, cases[i].preflight);
			assert_int_equal(s.kubeconfig_required, cases[i].required);
		}
		settings_release(&s);
	}
}

static void test_kube_and_registry_timeouts(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_int_equal(s.kube_timeout, 10);
	assert_int_equal(s.registry_timeout, 30);
	assert_int_equal(s.registry_max_wait, 60);
	settings_release(&s);
	assert_int_equal(
		parse(&s, "kube_timeout: 3s\nregistry_timeout: 1m\nregistry_max_wait: 0\n"), 0);
	assert_int_equal(s.kube_timeout, 3);
	assert_int_equal(s.registry_timeout, 60);
	assert_int_equal(s.registry_max_wait, 0);
	settings_release(&s);
	assert_int_equal(parse(&s, "registry_max_wait: 25h\n"), -1);
	settings_release(&s);
}

/* settings_print, then settings_parse of what it printed; 0 or -1 (b released then). */
static int print_and_parse(const struct settings *a, struct settings *b)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int ret;

	assert_non_null(f);
	settings_print(a, f);
	fclose(f);
	ret = parse(b, text);
	if (ret < 0) {
		print_message("settings_parse refused what settings_print wrote:\n%s", text);
		settings_release(b);
	}
	free(text);
	return ret;
}

static void reparse(const struct settings *a, struct settings *b)
{
	assert_int_equal(print_and_parse(a, b), 0);
}

static void test_print_round_trips_registries(void **state)
{
	struct settings a, b;
	size_t i;

	(void)state;
	assert_int_equal(parse(&a, "registries:\n"
				   "  - host: registry.example.com:5000\n"
				   "    username_variable: REG_USER\n"
				   "    password_variable: REG_PASSWORD\n"
				   "    ca_file: /etc/berth/ca/internal.pem\n"
				   "  - host: localhost:5000\n"
				   "    plain_http: true\n"
				   "craas_hosts: [cr.example.ru, \"cr2.example.ru:443\"]\n"
				   "kubeconfig_max_bytes: 512KiB\n"
				   "kubeconfig_required: true\n"
				   "kube_preflight: false\n"
				   "kube_timeout: 2m\n"
				   "registry_timeout: 7\n"
				   "registry_max_wait: 1h\n"),
			 0);
	reparse(&a, &b);
	assert_int_equal(b.nr_registries, a.nr_registries);
	for (i = 0; i < a.nr_registries; i++) {
		const struct registry_setting *x = &a.registries[i], *y = &b.registries[i];

		assert_string_equal(y->host, x->host);
		if (x->username_variable) {
			assert_string_equal(y->username_variable, x->username_variable);
			assert_string_equal(y->password_variable, x->password_variable);
		} else {
			assert_null(y->username_variable);
			assert_null(y->password_variable);
		}
		if (x->ca_file)
			assert_string_equal(y->ca_file, x->ca_file);
		else
			assert_null(y->ca_file);
		assert_int_equal(y->plain_http, x->plain_http);
	}
	assert_int_equal(b.craas_hosts.nr, 2);
	assert_string_equal(b.craas_hosts.v[0], "cr.example.ru");
	assert_string_equal(b.craas_hosts.v[1], "cr2.example.ru:443");
	assert_int_equal(b.kubeconfig_max_bytes, 524288);
	assert_int_equal(b.kubeconfig_required, 1);
	assert_int_equal(b.kube_preflight, 0);
	assert_int_equal(b.kube_timeout, 120);
	assert_int_equal(b.registry_timeout, 7);
	assert_int_equal(b.registry_max_wait, 3600);
	settings_release(&a);
	settings_release(&b);

	/* No registries and no CRaaS hosts round-trip too. */
	assert_int_equal(parse(&a, "craas_hosts: []\n"), 0);
	reparse(&a, &b);
	assert_int_equal(b.nr_registries, 0);
	assert_int_equal(b.craas_hosts.nr, 0);
	settings_release(&a);
	settings_release(&b);
}

static void test_print_round_trips_paths_needing_quotes(void **state)
{
	/* Absolute paths settings_parse accepts when quoted; printed bare, they say otherwise. */
	static const char *paths[] = {
		"/etc/berth/ca/internal #2.pem",
		"/etc/berth/ca/a: b.pem",
		"/srv/berth state",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(paths); i++) {
		char yaml[256], state_dir[256] = "", ca_file[256] = "";
		struct settings a, b;
		int reparsed;

		snprintf(yaml, sizeof(yaml),
			 "state_dir: \"%s\"\nregistries:\n  - host: a.io\n    ca_file: \"%s\"\n",
			 paths[i], paths[i]);
		assert_int_equal(parse(&a, yaml), 0);
		assert_string_equal(a.state_dir, paths[i]);
		assert_string_equal(a.registries[0].ca_file, paths[i]);
		reparsed = print_and_parse(&a, &b) == 0;
		/* Compared after the release, so a failure leaks nothing. */
		if (reparsed) {
			snprintf(state_dir, sizeof(state_dir), "%s", b.state_dir);
			if (b.nr_registries == 1 && b.registries[0].ca_file)
				snprintf(ca_file, sizeof(ca_file), "%s", b.registries[0].ca_file);
			settings_release(&b);
		}
		settings_release(&a);
		if (!reparsed)
			fail_msg("'%s': settings_print wrote YAML that settings_parse refuses",
				 paths[i]);
		assert_string_equal(state_dir, paths[i]);
		assert_string_equal(ca_file, paths[i]);
	}
}

static void test_lock_backend(void **state)
{
	struct settings s, again;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_string_equal(s.lock_backend, "file");
	assert_string_equal(s.lock_namespace, "berth-locks");
	assert_int_equal(s.lock_lease_seconds, 15);
	assert_int_equal(s.lock_create_namespace, 1);
	assert_null(s.lock_kubeconfig);
	assert_string_equal(s.werf_synchronization, ":local");
	settings_release(&s);

	/* werf synchronizes where the locks live, unless the file says otherwise */
	assert_int_equal(parse(&s, "lock_backend: kubernetes\nlock_namespace: ci-locks\n"
				   "lock_lease_seconds: 1m\nlock_kubeconfig: /etc/berth/kube\n"
				   "lock_create_namespace: false\n"),
			 0);
	assert_string_equal(s.lock_backend, "kubernetes");
	assert_string_equal(s.werf_synchronization, "kubernetes://ci-locks");
	assert_int_equal(s.lock_lease_seconds, 60);
	assert_string_equal(s.lock_kubeconfig, "/etc/berth/kube");
	assert_int_equal(s.lock_create_namespace, 0);
	out = open_memstream(&text, &len);
	settings_print(&s, out);
	fclose(out);
	assert_int_equal(parse(&again, text), 0);
	assert_string_equal(again.lock_backend, "kubernetes");
	assert_string_equal(again.lock_namespace, "ci-locks");
	assert_int_equal(again.lock_lease_seconds, 60);
	assert_string_equal(again.lock_kubeconfig, "/etc/berth/kube");
	assert_int_equal(again.lock_create_namespace, 0);
	settings_release(&again);
	settings_release(&s);
	free(text);

	assert_int_equal(parse(&s, "lock_backend: kubernetes\nwerf_synchronization: :local\n"), 0);
	assert_string_equal(s.werf_synchronization, ":local");
	settings_release(&s);
}

static void test_lock_backend_rejected(void **state)
{
	static const char *bad[] = {
		"lock_backend: etcd\n",		  "lock_backend: \"\"\n",
		"lock_namespace: Berth\n",	  "lock_namespace: -x\n",
		"lock_namespace: a_b\n",	  "lock_lease_seconds: 2\n",
		"lock_lease_seconds: 2h\n",	  "lock_kubeconfig: relative/path\n",
		"lock_create_namespace: maybe\n",
	};
	struct settings s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(&s, bad[i]) == 0) {
			settings_release(&s);
			fail_msg("accepted: %s", bad[i]);
		}
	}
}

/* bwrap_network: three words, and the booleans it was before them, which print as words. */
static void test_bwrap_network(void **state)
{
	static const struct {
		const char *text;
		int ok;
		int network;
		const char *printed;
	} cases[] = {
		{NULL, 1, BWRAP_NETWORK_PRIVATE, "private"},
		{"private", 1, BWRAP_NETWORK_PRIVATE, "private"},
		{"host", 1, BWRAP_NETWORK_HOST, "host"},
		{"none", 1, BWRAP_NETWORK_NONE, "none"},
		{"true", 1, BWRAP_NETWORK_PRIVATE, "private"},
		{"yes", 1, BWRAP_NETWORK_PRIVATE, "private"},
		{"false", 1, BWRAP_NETWORK_NONE, "none"},
		{"off", 1, BWRAP_NETWORK_NONE, "none"},
		{"shared", 0, 0, NULL},
		{"Host", 0, 0, NULL},
		{"\"\"", 0, 0, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct settings s, again;
		char yaml[64], *text = NULL, want[64];
		size_t len = 0;
		FILE *out;

		snprintf(yaml, sizeof(yaml), "bwrap_network: %s\n",
			 cases[i].text ? cases[i].text : "private");
		if (parse(&s, cases[i].text ? yaml : "") != (cases[i].ok ? 0 : -1)) {
			settings_release(&s);
			fail_msg("bwrap_network: %s: %s", cases[i].text,
				 cases[i].ok ? "refused" : "accepted");
		}
		if (!cases[i].ok) {
			settings_release(&s);
			continue;
		}
		assert_int_equal(s.bwrap_network, cases[i].network);
		out = open_memstream(&text, &len);
		settings_print(&s, out);
		fclose(out);
		snprintf(want, sizeof(want), "\nbwrap_network: %s\n", cases[i].printed);
		assert_non_null(strstr(text, want));
		assert_int_equal(parse(&again, text), 0);
		assert_int_equal(again.bwrap_network, cases[i].network);
		settings_release(&again);
		settings_release(&s);
		free(text);
	}
}

/* Accounts every Debian system has: nobody (65534), daemon (1), nogroup, root. */
static void test_job_users(void **state)
{
	static const char *bad[] = {
		"job_users: nobody\n",		     /* a list, not one name */
		"job_users: [root]\n",		     /* scripts never run as root */
		"job_users: [no-such-user-berth]\n", /* must exist here */
		"job_users: [nobody, nobody]\n",     /* two jobs would share it */
		"job_groups: [root]\n",		     /* gid 0 */
		"job_groups: [no-such-group-berth]\n",
	};
	struct settings s, again;
	char *text = NULL;
	size_t i, len = 0;
	FILE *out;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_int_equal(s.job_users.nr, 0);
	settings_release(&s);
	assert_int_equal(parse(&s, "job_users: [nobody, daemon]\njob_groups: [nogroup]\n"), 0);
	assert_int_equal(s.job_users.nr, 2);
	assert_string_equal(s.job_users.v[1], "daemon");
	assert_string_equal(s.job_groups.v[0], "nogroup");
	out = open_memstream(&text, &len);
	settings_print(&s, out);
	fclose(out);
	assert_non_null(strstr(text, "job_users: [nobody, daemon]\n"));
	assert_int_equal(parse(&again, text), 0);
	assert_int_equal(again.job_users.nr, 2);
	assert_string_equal(again.job_groups.v[0], "nogroup");
	settings_release(&again);
	settings_release(&s);
	free(text);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(&s, bad[i]) == 0) {
			settings_release(&s);
			fail_msg("accepted: %s", bad[i]);
		}
	}
}

/* stderr of settings_parse on `yaml`, which must fail, into `buf`. */
static void parse_error(const char *yaml, char *buf, size_t size)
{
	struct settings s;
	int saved;
	FILE *tmp = capture_begin(&saved);

	assert_int_equal(parse(&s, yaml), -1);
	capture_end(tmp, saved, buf, size);
	settings_release(&s);
}

/* Every setting, in the order the message lists them. */
static const char *const every_key =
	"state_dir, builds_dir, cache_dir, builds_per_job, executor, bwrap_network, kill_grace, "
	"kubeconfig_max_bytes, kubeconfig_required, kube_preflight, kube_timeout, "
	"registry_timeout, registry_max_wait, craas_hosts, registries, werf_path, "
	"werf_synchronization, rate_limited_hosts, cleanup_lock, lock_deploys, lock_timeout, "
	"lock_backend, lock_namespace, lock_lease_seconds, lock_kubeconfig, lock_create_namespace, "
	"tools_bundle, gc_age, metrics_dir, stage_log, job_users, job_groups, allow_root_scripts, "
	"cgroup, job_pids_max, job_memory_max, job_cpu_max, parked_clones, prune_keep_tags, prune_keep_newest, prune_keep_younger, prune_parallel, "
	"prune_max_rps, craas_api, craas_identity_url";

static void test_unknown_key_suggests_the_nearest(void **state)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{"kill_gace: 3\n", "unknown setting 'kill_gace' in t.yaml:1: did you mean "
				   "'kill_grace'? (settings: "},
		{"state_dir: /a\nstat_dir: /x\n", "unknown setting 'stat_dir' in t.yaml:2: did you "
						  "mean 'state_dir'? (settings: "},
		{"exectuor: shell\n", "did you mean 'executor'?"},	   /* two letters swapped */
		{"lock_backends: file\n", "did you mean 'lock_backend'?"}, /* one too many */
		/* nothing close: no guess */
		{"colour: blue\n", "unknown setting 'colour' in t.yaml:1 (settings: "},
		{"x: 1\n", "unknown setting 'x' in t.yaml:1 (settings: "},
		{"registries:\n  - host: a.io\n    plainhttp: true\n",
		 "unknown registry setting 'plainhttp' in t.yaml:3: did you mean 'plain_http'? "
		 "(registry settings: host, username_variable, password_variable, ca_file, "
		 "plain_http)\n"},
		{"registries:\n  - host: a.io\n    insecure: true\n",
		 "unknown registry setting 'insecure' in t.yaml:3 (registry settings: host, "},
	};
	char err[4096];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		parse_error(cases[i].yaml, err, sizeof(err));
		if (!strstr(err, cases[i].want))
			fail_msg("for %s want '%s' in:\n%s", cases[i].yaml, cases[i].want, err);
		if (strstr(cases[i].yaml, "colour") || strstr(cases[i].yaml, "insecure"))
			assert_null(strstr(err, "did you mean"));
	}
}

/* The message lists every setting, however long the list grows, and only settings. */
static void test_unknown_key_lists_every_setting(void **state)
{
	char err[4096], want[2048], yaml[128];
	const char *p, *end;

	(void)state;
	parse_error("colour: blue\n", err, sizeof(err));
	snprintf(want, sizeof(want), "(settings: %s)\n", every_key);
	if (!strstr(err, want))
		fail_msg("want every key, as '%s', in:\n%s", want, err);
	/* Each listed name is one the parser knows. */
	for (p = every_key; *p; p = *end ? end + 2 : end) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		snprintf(yaml, sizeof(yaml), "%.*s: [[bad\n", (int)(end - p), p);
		parse_error(yaml, err, sizeof(err));
		if (strstr(err, "unknown setting"))
			fail_msg("listed but unknown: %s", yaml);
	}
}

/*
 * The settings name the executors themselves (executors/ is a layer above them): the names
 * they accept and list are exactly those of the executors' table.
 */
static void test_executors_are_the_tables(void **state)
{
	char err[1024], want[300], yaml[128];
	const char *p, *end;
	struct settings s;

	(void)state;
	parse_error("executor: docker\n", err, sizeof(err));
	snprintf(want, sizeof(want), "unknown executor 'docker' (known: %s)\n", executor_names());
	if (!strstr(err, want))
		fail_msg("want the table's executors, as '%s', in:\n%s", want, err);
	for (p = executor_names(); *p; p = *end ? end + 2 : end) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		snprintf(yaml, sizeof(yaml), "executor: %.*s\n", (int)(end - p), p);
		assert_int_equal(parse(&s, yaml), 0);
		assert_non_null(executor_find(s.executor));
		settings_release(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_follow_state_dir),
		cmocka_unit_test(test_empty_file_gives_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_print_round_trips),
		cmocka_unit_test(test_load_missing_named_file_fails),
		cmocka_unit_test(test_craas_hosts),
		cmocka_unit_test(test_registries),
		cmocka_unit_test(test_registries_rejected),
		cmocka_unit_test(test_craas_hosts_rejected),
		cmocka_unit_test(test_kubeconfig_max_bytes),
		cmocka_unit_test(test_cgroup_limits),
		cmocka_unit_test(test_kube_bools),
		cmocka_unit_test(test_kube_and_registry_timeouts),
		cmocka_unit_test(test_print_round_trips_registries),
		cmocka_unit_test(test_print_round_trips_paths_needing_quotes),
		cmocka_unit_test(test_lock_backend),
		cmocka_unit_test(test_lock_backend_rejected),
		cmocka_unit_test(test_bwrap_network),
		cmocka_unit_test(test_job_users),
		cmocka_unit_test(test_unknown_key_suggests_the_nearest),
		cmocka_unit_test(test_unknown_key_lists_every_setting),
		cmocka_unit_test(test_executors_are_the_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
