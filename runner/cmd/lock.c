/*
 * `berth lock KEY [--timeout S] -- CMD...` and `berth locks [--json]` (docs/locks.md): run a
 * command holding a resource-group lock, and show who holds and waits.
 */
#include "cmd/commands.h"
#include "lock/lock.h"
#include "base/log.h"
#include "base/proc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int parse_timeout(const char *v, unsigned *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (*v < '0' || *v > '9' || *end || n > 86400)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* Runs argv holding the lock `l`; its exit status goes to *exit_status, to become berth's. */
static enum berth_result run_locked(const struct settings *s, const struct lock *l, char **argv,
				    int *exit_status)
{
	struct proc p = {
		.argv = argv, .env = environ, .script_fd = -1, .die_with_berth = l->die_with_berth};
	int status = 0, stopped = 0;

	if (proc_start(&p) < 0) {
		*exit_status = 127; /* as a shell says "command not found" */
		return BERTH_OK;
	}
	if (proc_supervise(&p, s->kill_grace, &status, &stopped) < 0)
		return BERTH_SYSTEM_FAILURE;
	*exit_status = proc_exit_code(status);
	return BERTH_OK;
}

enum berth_result cmd_lock(const struct args *a, const char *settings_file, int *exit_status)
{
	const struct lock_backend *b;
	const char *key = a->operand[0], *t = args_value(a, "--timeout");
	char why[128];
	struct settings s;
	struct lock l;
	enum berth_result r;
	unsigned timeout = 0;

	if (lock_valid_key(key, why, sizeof(why)) < 0)
		return args_error(a, "invalid lock key '%s': %s", key, why);
	if (t && parse_timeout(t, &timeout) < 0)
		return args_error(a, "--timeout takes whole seconds from 0 to 86400, not '%s'", t);
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0)
		return BERTH_SYSTEM_FAILURE;
	memset(&l, 0, sizeof(l));
	l.settings = &s;
	snprintf(l.key, sizeof(l.key), "%s", key);
	lock_owner_init(&l.me, &vars_script);
	b = lock_backend_for(&s);
	r = b->acquire(&l, timeout);
	if (r == BERTH_OK) {
		r = run_locked(&s, &l, a->command, exit_status);
		if (b->release(&l) < 0)
			r = BERTH_SYSTEM_FAILURE;
	}
	settings_release(&s);
	return r;
}

static int add_json(const struct lock_entry *e, void *data)
{
	json_t *entry = lock_entry_json(e);

	return entry ? json_array_append_new(data, entry) : -1;
}

/* Prints one lock; `data` counts them. */
static int print_text(const struct lock_entry *e, void *data)
{
	char buf[1024];
	size_t i;

	++*(size_t *)data;
	printf("%s\n", e->key);
	for (i = 0; i < e->nr; i++)
		printf("  %-8s %s\n", i == 0 && e->held ? "holding" : "waiting",
		       lock_owner_describe(&e->owners[i], buf, sizeof(buf)));
	return 0;
}

enum berth_result cmd_locks(const struct args *a, const char *settings_file, int *exit_status)
{
	int as_json = args_flag(a, "--json"), ret;
	json_t *all = as_json ? json_array() : NULL;
	struct settings s;
	size_t listed = 0;

	(void)exit_status;
	memset(&s, 0, sizeof(s));
	if (settings_load(&s, settings_file) < 0) {
		json_decref(all);
		return BERTH_SYSTEM_FAILURE;
	}
	ret = lock_backend_for(&s)->list(&s, as_json ? add_json : print_text,
					 as_json ? (void *)all : &listed);
	if (ret == 0 && as_json) {
		json_dumpf(all, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (ret == 0 && !listed) {
		printf("no locks held or waited for\n");
	}
	json_decref(all);
	settings_release(&s);
	return ret == 0 ? BERTH_OK : BERTH_SYSTEM_FAILURE;
}
