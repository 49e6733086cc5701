/*
 * berth's settings: /etc/berth/berth.yaml, or the file named by --config / $BERTH_CONFIG,
 * over embedded defaults. docs/configuration.md documents every key.
 */
#ifndef SETTINGS_H
#define SETTINGS_H

#include "base/strvec.h"

#include <stdio.h>

#define SETTINGS_DEFAULT_FILE "/etc/berth/berth.yaml"

/* bwrap_network: the network a bwrap sandbox has (docs/bwrap.md, "The network"). */
enum bwrap_network {
	BWRAP_NETWORK_NONE,    /* a loopback of its own only */
	BWRAP_NETWORK_PRIVATE, /* its own, out through slirp4netns; not the host's loopback */
	BWRAP_NETWORK_HOST,    /* the host's, with its loopback services and abstract sockets */
};

/* A registry the admin declares: TLS options for its host, and optionally credentials. */
struct registry_setting {
	char *host;		 /* "registry.example.com:5000" */
	char *username_variable; /* job variable holding the user, or NULL */
	char *password_variable; /* job variable holding the password, or NULL */
	char *ca_file;		 /* PEM bundle to trust for this host, or NULL */
	int plain_http;		 /* talk HTTP, not HTTPS */
};

struct settings {
	char *file;		      /* the file read, or NULL when only defaults apply */
	char *state_dir;	      /* workspaces live in <state_dir>/jobs/<job id> */
	char *builds_dir;	      /* root of the runner's builds dirs */
	char *cache_dir;	      /* root of the runner's cache dirs */
	int builds_per_job;	      /* builds dir inside the workspace, removed at cleanup */
	char *executor;		      /* backend in executors/ that runs stage scripts */
	int bwrap_network;	      /* bwrap: the sandbox's network (enum bwrap_network) */
	unsigned kill_grace;	      /* seconds between SIGTERM and SIGKILL */
	int cgroup;		      /* each job in a cgroup of its own where the host allows it */
	long job_pids_max;	      /* a job's most processes; 0: no limit (docs/cgroups.md) */
	unsigned long job_memory_max; /* a job's most memory in bytes; 0: no limit */
	long job_cpu_max;	      /* a job's CPU in percent of one CPU; 0: no limit */

	unsigned long kubeconfig_max_bytes; /* decoded kubeconfig size cap */
	int kubeconfig_required;	    /* a job without one fails */
	int kube_preflight;		    /* GET /version before the job's scripts */
	unsigned kube_timeout;		    /* seconds for that check */
	unsigned registry_timeout;	    /* seconds for each registry request */
	unsigned registry_max_wait;	    /* seconds of Retry-After waits per login */
	struct strvec craas_hosts;	    /* Selectel CRaaS hosts: no images at the root */
	struct registry_setting *registries;
	size_t nr_registries;

	char *werf_path;		  /* "werf" (looked up on PATH) or a path */
	char *werf_synchronization;	  /* WERF_SYNCHRONIZATION unless the job sets it */
	struct strvec rate_limited_hosts; /* registries where werf runs with WERF_PARALLEL=0 */
	char *cleanup_lock;		  /* the lock `werf cleanup` takes, or NULL: per registry */
	int lock_deploys;		  /* the run stage holds deploy/<project>/<env> */
	unsigned lock_timeout;		  /* seconds a lock may be waited for; 0: no limit */
	char *lock_backend;		  /* "file" or "kubernetes" (runner/lock_*.c) */
	char *lock_namespace;		  /* kubernetes: where the Lease objects live */
	unsigned lock_lease_seconds;	  /* kubernetes: a lease not renewed this long is free */
	char *lock_kubeconfig;		  /* kubernetes: admin credentials, else the job's */
	int lock_create_namespace;	  /* kubernetes: create lock_namespace when missing */
	char *tools_bundle; /* sha256 of the tool bundle whose bin/ stages get on PATH, or NULL */
	unsigned gc_age;    /* seconds a workspace may sit without a stage before gc removes it */
	char *metrics_dir;  /* node_exporter's textfile directory, or NULL: no metrics */
	char *stage_log;    /* "file" (<state_dir>/stages.log), "syslog" or "off" */
	struct strvec job_users;  /* users scripts run as, one per running job; none: berth's */
	struct strvec job_groups; /* supplementary groups of those users in scripts */
	int allow_root_scripts;	  /* berth as root with no job_users may run scripts as root */
	long parked_clones;	  /* other trust domains' clones each job user keeps parked */

	struct strvec prune_keep_tags; /* berth prune: tags these PCRE2 patterns match stay */
	long prune_keep_newest;	       /* the newest N tags of a repository stay; -1: none */
	long prune_keep_younger;       /* seconds: younger tags stay; -1: none */
	long prune_parallel;	       /* most requests in flight */
	long prune_max_rps;	       /* most requests a second; 0: as the registry allows */
	char *craas_api;	       /* the Selectel CRaaS management API */
	char *craas_identity_url;      /* Keystone v3 that issues CRaaS tokens (prune) */
};

/*
 * Loads `file`, or when NULL, $BERTH_CONFIG, or SETTINGS_DEFAULT_FILE when it exists.
 * Returns 0, or -1 after reporting "FILE:LINE: what is wrong". An explicitly named file
 * that does not exist is an error; the default file may be absent.
 */
int settings_load(struct settings *s, const char *file);
/* Parses settings from a buffer; `name` is used in messages. For tests and settings_load. */
int settings_parse(struct settings *s, const char *name, const char *buf, size_t len);
/* Prints the effective settings as YAML that settings_parse accepts. */
void settings_print(const struct settings *s, FILE *out);
/*
 * Writes the settings the job's own berth commands read (0644, no secrets) to `path`: the same
 * values, without lock_kubeconfig when the scripts run as a job user.
 */
int settings_write_for_job(const struct settings *s, const char *path, int job_user);
void settings_release(struct settings *s);

/* "14d", "36h", "90m", "2w", "3600": seconds into *out; 0, or -1 when it is none of these. */
int settings_parse_age(const char *v, long *out);

/* The declared registry for `host`, or NULL. */
const struct registry_setting *settings_registry(const struct settings *s, const char *host);
/* 1 when `host` is a CRaaS host. */
int settings_is_craas(const struct settings *s, const char *host);
/* 1 when werf should talk to `host` one request at a time (WERF_PARALLEL=0). */
int settings_is_rate_limited(const struct settings *s, const char *host);

#endif
