#include "base/cgroup.h"

#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/procscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define CGROUP_ROOT "/sys/fs/cgroup"
/* The controllers a job's limits use, in the order of struct cgroup_limits. */
static const char *const controllers[CGROUP_V1_MAX] = {"pids", "memory", "cpu"};
/* cpu.max's period: the quota is this many microseconds times percent / 100. */
#define CPU_PERIOD_US 100000L

static int fs_magic(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

/* Opens the file `name` of cgroup `dir`; the descriptor, or -1 with errno set. */
static int open_attr(const char *dir, const char *name, int flags)
{
	char path[PATH_MAX + 64];

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, flags | O_CLOEXEC);
}

/* The file `name` of cgroup `dir` into `buf` (NUL-terminated); 0, or -1 with errno set. */
static int read_attr(const char *dir, const char *name, char *buf, size_t size)
{
	ssize_t n = 0;
	size_t done = 0;
	int fd = open_attr(dir, name, O_RDONLY);

	if (fd < 0)
		return -1;
	/* cgroupfs hands out a page or so a read: read to the end (or a full buffer). */
	while (done < size - 1 && (n = read(fd, buf + done, size - 1 - done)) > 0)
		done += (size_t)n;
	close(fd);
	if (n < 0)
		return -1;
	buf[done] = '\0';
	return 0;
}

/* Writes `value` to the file `name` of cgroup `dir`; 0, or -1 with errno set. */
static int write_attr(const char *dir, const char *name, const char *value)
{
	size_t len = strlen(value);
	int fd = open_attr(dir, name, O_WRONLY), saved;

	if (fd < 0)
		return -1;
	if (write(fd, value, len) != (ssize_t)len) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* The value after "key " in a flat-keyed file (cpu.stat, memory.events ...), or -1. */
static long long read_key(const char *dir, const char *name, const char *key)
{
	char buf[4096], *p = buf;
	size_t n = strlen(key);

	if (!dir[0] || read_attr(dir, name, buf, sizeof(buf)) < 0)
		return -1;
	while (p && *p) {
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

/* A file holding one number (memory.peak, memory.max_usage_in_bytes), or -1. */
static long long read_number(const char *dir, const char *name)
{
	char buf[64];

	if (!dir[0] || read_attr(dir, name, buf, sizeof(buf)) < 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	return strtoll(buf, NULL, 10);
}

/*
 * berth's own cgroup in the hierarchy whose /proc/self/cgroup line names `controller` (NULL:
 * the v2 line, "0::"), into `out`. 0, or -1 when there is no such line.
 */
static int own_path(const char *controller, char *out, size_t size)
{
	char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int found = -1;

	while (f && found < 0 && fgets(line, sizeof(line), f)) {
		char *list = strchr(line, ':'), *path = list ? strchr(list + 1, ':') : NULL;
		char *tok, *save = NULL;

		if (!path)
			continue;
		*list++ = '\0'; /* line: the hierarchy's id; list: its controllers */
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (!controller) {
			if (!strcmp(line, "0") && !*list)
				found = snprintf(out, size, "%s", path) < (int)size ? 0 : -1;
			continue;
		}
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (!strcmp(tok, controller))
				found = snprintf(out, size, "%s", path) < (int)size ? 0 : -1;
	}
	if (f)
		fclose(f);
	return found;
}

/* Where the v2 hierarchy is mounted: /sys/fs/cgroup (unified hosts), else .../unified. */
static const char *v2_mount(void)
{
	if (fs_magic(CGROUP_ROOT, CGROUP2_SUPER_MAGIC))
		return CGROUP_ROOT;
	if (fs_magic(CGROUP_ROOT "/unified", CGROUP2_SUPER_MAGIC))
		return CGROUP_ROOT "/unified";
	return NULL;
}

/*
 * The cgroup the jobs' directory goes in: berth's own, or its parent when berth runs in the
 * leaf it made (CGROUP_LEAF): every berth command of a runner finds the same one.
 */
static int own_dir(const char *mount, const char *controller, char *out, size_t size)
{
	char path[PATH_MAX];
	size_t n;

	if (own_path(controller, path, sizeof(path)) < 0)
		return -1;
	n = strlen(path);
	if (n > strlen("/" CGROUP_LEAF) &&
	    !strcmp(path + n - strlen("/" CGROUP_LEAF), "/" CGROUP_LEAF))
		path[n - strlen("/" CGROUP_LEAF)] = '\0';
	if (!strcmp(path, "/"))
		path[0] = '\0';
	return path_join(out, size, "%s%s", mount, path);
}

/* Moves every process of cgroup `dir` to its leaf CGROUP_LEAF; 0, or -1 with errno set. */
static int move_to_leaf(const char *dir)
{
	char leaf[PATH_MAX], pids[8192], *p, *end;
	int tries;

	if (snprintf(leaf, sizeof(leaf), "%s/%s", dir, CGROUP_LEAF) >= (int)sizeof(leaf) ||
	    (mkdir(leaf, 0755) < 0 && errno != EEXIST))
		return -1;
	/* A process forking meanwhile leaves a child behind: a few rounds catch it. */
	for (tries = 0; tries < 5; tries++) {
		if (read_attr(dir, "cgroup.procs", pids, sizeof(pids)) < 0)
			return -1;
		if (!pids[0])
			return 0;
		for (p = pids; *p; p = end) {
			end = p + strcspn(p, "\n");
			if (*end)
				*end++ = '\0';
			if (write_attr(leaf, "cgroup.procs", p) < 0 && errno != ESRCH)
				return -1;
		}
	}
	errno = EBUSY;
	return -1;
}

/*
 * 1 when berth may move the processes of its cgroup `dir`: no systemd runs here, or systemd
 * delegated `dir` (Delegate=yes marks it with the xattr trusted.delegate, or user.delegate).
 * A cgroup systemd did not hand over (a login session's, a non-delegated service's) is left as
 * it is: berth makes its jobs' cgroups there, without controllers.
 */
static int may_move(const char *dir)
{
	char v[8];

	if (access("/run/systemd/system", F_OK) != 0)
		return 1;
	return getxattr(dir, "trusted.delegate", v, sizeof(v)) > 0 ||
	       getxattr(dir, "user.delegate", v, sizeof(v)) > 0;
}

/*
 * Hands controller `c` down from `dir` to its children. A cgroup with processes cannot (v2's
 * no-internal-processes rule): when `movable`, its processes move to its leaf first. 1 when
 * enabled, 0 when not.
 */
static int hand_down(const char *dir, const char *c, int movable)
{
	char avail[512], plus[32];
	const char *p;
	size_t n = strlen(c);

	if (read_attr(dir, "cgroup.controllers", avail, sizeof(avail)) < 0)
		return 0;
	for (p = avail; (p = strstr(p, c)); p += n)
		if ((p == avail || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			break;
	if (!p)
		return 0;
	snprintf(plus, sizeof(plus), "+%s", c);
	if (write_attr(dir, "cgroup.subtree_control", plus) == 0)
		return 1;
	if (errno != EBUSY || !movable || move_to_leaf(dir) < 0)
		return 0;
	return write_attr(dir, "cgroup.subtree_control", plus) == 0;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* The limit of controller `i` as the v2 file and value, or 0 when `l` sets none. */
static int v2_limit(int i, const struct cgroup_limits *l, const char **file, char *val, size_t size)
{
	if (i == 0 && l->pids_max > 0) {
		*file = "pids.max";
		snprintf(val, size, "%ld", l->pids_max);
	} else if (i == 1 && l->memory_max > 0) {
		*file = "memory.max";
		snprintf(val, size, "%lu", l->memory_max);
	} else if (i == 2 && l->cpu_max > 0) {
		*file = "cpu.max";
		snprintf(val, size, "%ld %ld", l->cpu_max * CPU_PERIOD_US / 100, CPU_PERIOD_US);
	} else {
		return 0;
	}
	return 1;
}

/* The same limit in v1's files, written into `dir`; 0, or -1 with errno set. */
static int v1_limit(int i, const struct cgroup_limits *l, const char *dir)
{
	char val[64];

	if (i == 0 && l->pids_max > 0) {
		snprintf(val, sizeof(val), "%ld", l->pids_max);
		return write_attr(dir, "pids.max", val);
	}
	if (i == 1 && l->memory_max > 0) {
		snprintf(val, sizeof(val), "%lu", l->memory_max);
		return write_attr(dir, "memory.limit_in_bytes", val);
	}
	if (i == 2 && l->cpu_max > 0) {
		snprintf(val, sizeof(val), "%ld", l->cpu_max * CPU_PERIOD_US / 100);
		if (write_attr(dir, "cpu.cfs_period_us", "100000") < 0)
			return -1;
		return write_attr(dir, "cpu.cfs_quota_us", val);
	}
	return 0;
}

/* A v1 directory `name` for controller `i`; 1 when made, 0 when that controller is missing. */
static int v1_dir(struct cgroup *cg, int i, const char *name)
{
	char mount[PATH_MAX], base[PATH_MAX], *dir = cg->v1[cg->nr_v1];

	if (path_join(mount, sizeof(mount), "%s/%s", CGROUP_ROOT, controllers[i]) < 0 ||
	    !fs_magic(mount, CGROUP_SUPER_MAGIC) ||
	    own_dir(mount, controllers[i], base, sizeof(base)) < 0)
		return 0;
	if (path_join(dir, PATH_MAX, "%s/%s", base, CGROUP_JOBS) < 0 || make_dir(dir) < 0 ||
	    path_join(dir, PATH_MAX, "%s/%s/%s", base, CGROUP_JOBS, name) < 0 || make_dir(dir) < 0)
		return 0;
	cg->nr_v1++;
	return 1;
}

/* The v2 cgroup of the job: <berth's own>/berth/<name>. 1 made, 0 no usable hierarchy. */
static int make_v2(struct cgroup *cg, const char *name, int enabled[CGROUP_V1_MAX], char *why,
		   size_t why_size)
{
	const char *mount = v2_mount();
	char base[PATH_MAX], jobs[PATH_MAX];
	int i, movable;

	if (!mount) {
		snprintf(why, why_size, "no cgroup v2 hierarchy is mounted");
		return 0;
	}
	if (own_dir(mount, NULL, base, sizeof(base)) < 0) {
		snprintf(why, why_size, "/proc/self/cgroup names no v2 cgroup");
		return 0;
	}
	if (path_join(jobs, sizeof(jobs), "%s/%s", base, CGROUP_JOBS) < 0 || make_dir(jobs) < 0) {
		snprintf(why, why_size, "cannot create '%s': %s", jobs, strerror(errno));
		return 0;
	}
	movable = may_move(base);
	for (i = 0; i < CGROUP_V1_MAX; i++)
		enabled[i] = hand_down(base, controllers[i], movable) &&
			     hand_down(jobs, controllers[i], 0);
	if (path_join(cg->v2, sizeof(cg->v2), "%s/%s", jobs, name) < 0 || make_dir(cg->v2) < 0) {
		snprintf(why, why_size, "cannot create '%s': %s", cg->v2, strerror(errno));
		cg->v2[0] = '\0';
		return 0;
	}
	return 1;
}

void cgroup_format_bytes(unsigned long long bytes, char *out, size_t size)
{
	if (bytes >= 1ull << 30)
		snprintf(out, size, "%.1f GiB", (double)bytes / (1ull << 30));
	else
		snprintf(out, size, "%llu MiB", bytes >> 20);
}

/* ", processes 4096 (v2)", ", memory 3.0 GiB (v1)" ... for the job log. */
static void describe(char *out, size_t size, int i, const struct cgroup_limits *l, const char *how)
{
	size_t n = strlen(out);
	char mem[32];

	if (i == 0) {
		snprintf(out + n, size - n, ", processes %ld (%s)", l->pids_max, how);
	} else if (i == 1) {
		cgroup_format_bytes(l->memory_max, mem, sizeof(mem));
		snprintf(out + n, size - n, ", memory %s (%s)", mem, how);
	} else {
		snprintf(out + n, size - n, ", cpu %ld%% (%s)", l->cpu_max, how);
	}
}

int cgroup_create(struct cgroup *cg, const char *name, const struct cgroup_limits *l, char *summary,
		  size_t summary_size)
{
	int enabled[CGROUP_V1_MAX] = {0}, i, v2;
	char why[PATH_MAX + 128], val[64];
	const char *file;

	memset(cg, 0, sizeof(*cg));
	v2 = make_v2(cg, name, enabled, why, sizeof(why));
	if (v2)
		snprintf(summary, summary_size, "cgroup v2 at %s", cg->v2);
	else
		snprintf(summary, summary_size, "no usable cgroup (%s): /proc scan", why);
	for (i = 0; i < CGROUP_V1_MAX; i++) {
		int want = v2_limit(i, l, &file, val, sizeof(val));

		if (v2 && enabled[i] && want) {
			if (write_attr(cg->v2, file, val) < 0)
				return error_errno("cannot set %s of cgroup '%s' to %s", file,
						   cg->v2, val);
			describe(summary, summary_size, i, l, "v2");
			continue;
		}
		/* v1's memory dir also measures the peak that v2 cannot without its controller. */
		if ((!want && !(i == 1 && v2 && !enabled[i])) || !v1_dir(cg, i, name))
			continue;
		if (v1_limit(i, l, cg->v1[cg->nr_v1 - 1]) < 0)
			return error_errno("cannot set the %s limit of cgroup '%s'", controllers[i],
					   cg->v1[cg->nr_v1 - 1]);
		if (want)
			describe(summary, summary_size, i, l, "v1");
	}
	return v2;
}

/* Joins one directory: async-signal-safe. */
static int join_dir(const char *dir)
{
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd, ret = -1;

	if (dfd < 0)
		return -1;
	fd = openat(dfd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ret = write(fd, "0", 1) == 1 ? 0 : -1;
		close(fd);
	}
	close(dfd);
	return ret;
}

int cgroup_join(const struct cgroup *cg)
{
	size_t i;

	if (cg->v2[0] && join_dir(cg->v2) < 0)
		return -1;
	for (i = 0; i < cg->nr_v1; i++)
		if (join_dir(cg->v1[i]) < 0)
			return -1;
	return 0;
}

int cgroup_add(struct cgroup *cg, const char *dir)
{
	if (strlen(dir) >= PATH_MAX ||
	    strncmp(dir, CGROUP_ROOT "/", strlen(CGROUP_ROOT "/")) != 0 || strstr(dir, "/.."))
		return error("'%s' is no cgroup directory", dir);
	if (fs_magic(dir, CGROUP2_SUPER_MAGIC)) {
		memcpy(cg->v2, dir, strlen(dir) + 1);
		return 0;
	}
	if (cg->nr_v1 == CGROUP_V1_MAX)
		return error("more than %d v1 cgroup directories recorded", CGROUP_V1_MAX);
	memcpy(cg->v1[cg->nr_v1++], dir, strlen(dir) + 1);
	return 0;
}

int cgroup_populated(const struct cgroup *cg)
{
	long long n = read_key(cg->v2, "cgroup.events", "populated");

	if (n < 0 && errno == ENOENT)
		return 0; /* gone already */
	return n < 0 ? -1 : n > 0;
}

int cgroup_any(const struct cgroup *cg)
{
	return cg->v2[0] || cg->nr_v1;
}

/* The v1 directory of controller `c`, or "". */
static const char *v1_of(const struct cgroup *cg, const char *c)
{
	char mount[64];
	size_t i, n;

	n = (size_t)snprintf(mount, sizeof(mount), "%s/%s/", CGROUP_ROOT, c);
	for (i = 0; i < cg->nr_v1; i++)
		if (!strncmp(cg->v1[i], mount, n))
			return cg->v1[i];
	return "";
}

void cgroup_usage(const struct cgroup *cg, struct cgroup_usage *u)
{
	long long v;

	u->cpu_usec = read_key(cg->v2, "cpu.stat", "usage_usec");
	u->mem_peak = read_number(cg->v2, "memory.peak");
	if (u->mem_peak < 0)
		u->mem_peak = read_number(v1_of(cg, "memory"), "memory.max_usage_in_bytes");
	u->pids_hits = 0;
	if ((v = read_key(cg->v2, "pids.events", "max")) > 0)
		u->pids_hits += v;
	if ((v = read_key(v1_of(cg, "pids"), "pids.events", "max")) > 0)
		u->pids_hits += v;
	u->oom_kills = 0;
	if ((v = read_key(cg->v2, "memory.events", "oom_kill")) > 0)
		u->oom_kills += v;
	if ((v = read_key(v1_of(cg, "memory"), "memory.oom_control", "oom_kill")) > 0)
		u->oom_kills += v;
}

/* Sends `sig` (0: none) to every process listed in `dir`; how many, or -1 with errno set. */
static int signal_listed(const char *dir, int sig)
{
	char pids[65536], *p, *end;
	long pid;
	int n = 0;

	if (read_attr(dir, "cgroup.procs", pids, sizeof(pids)) < 0)
		return -1;
	for (p = pids; *p; p = end) {
		end = p + strcspn(p, "\n");
		if (*end)
			*end++ = '\0';
		pid = strtol(p, NULL, 10);
		if (sig && pid > 0) /* never 0 or -1: this group, every process */
			kill((pid_t)pid, sig);
		n++;
	}
	return n;
}

int cgroup_count(const struct cgroup *cg)
{
	int n = cg->v2[0] ? signal_listed(cg->v2, 0) : -1;

	return n < 0 && cg->v2[0] && errno == ENOENT ? 0 : n;
}

static int kill_listed(const char *dir)
{
	return signal_listed(dir, SIGKILL);
}

/* Without cgroup.kill (before Linux 5.14): frozen, no process can fork while each is killed. */
static int freeze_and_kill(const char *dir)
{
	long long give_up = clock_now_ms() + 1000;
	int n;

	if (write_attr(dir, "cgroup.freeze", "1") == 0)
		while (read_key(dir, "cgroup.events", "frozen") == 0 && clock_now_ms() < give_up)
			clock_sleep_ms(1);
	n = kill_listed(dir);
	write_attr(dir, "cgroup.freeze", "0");
	return n;
}

/* 1 while cgroup.events (open on `fd`) says "populated 1", 0 when not, -1 when unreadable. */
static int populated_at(int fd)
{
	char buf[256], *p;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "populated ");
	return p ? p[10] == '1' : -1;
}

/*
 * Waits for `dir` to hold no process. v2 says so in cgroup.events, and wakes a poll for
 * POLLPRI when that changes (checked again every 100 ms, should a wakeup be missed); v1 only
 * by listing its processes, and cannot kill at once, so forks may race each round's kill.
 */
static int wait_empty(const char *dir, int v2)
{
	long long give_up = clock_now_ms() + PROCSCAN_KILL_TIMEOUT_MS;
	struct pollfd events = {v2 ? open_attr(dir, "cgroup.events", O_RDONLY) : -1, POLLPRI, 0};
	char buf[16];
	int empty;

	if (v2 && events.fd < 0)
		return errno == ENOENT ? 0 : error_errno("cannot watch cgroup '%s'", dir);
	for (;;) {
		empty = v2 ? populated_at(events.fd) == 0
			   : read_attr(dir, "cgroup.procs", buf, sizeof(buf)) == 0 && !buf[0];
		if (empty || clock_now_ms() >= give_up)
			break;
		if (v2) {
			poll(&events, 1, 100);
		} else {
			kill_listed(dir);
			clock_sleep_ms(1);
		}
	}
	if (events.fd >= 0)
		close(events.fd);
	if (!empty)
		return error("processes of cgroup '%s' are still there %d ms after SIGKILL "
			     "(stuck in the kernel?); cleanup and berth gc try again",
			     dir, PROCSCAN_KILL_TIMEOUT_MS);
	return 0;
}

/* Removes `dir` and the cgroups a job made below it, deepest first. */
static int remove_dir(const char *dir, int depth)
{
	char sub[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (depth > 16)
		return error("cgroup '%s' is nested too deep to remove", dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : error_errno("cannot read cgroup '%s'", dir);
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && e->d_name[0] != '.' &&
		    path_join(sub, sizeof(sub), "%s/%s", dir, e->d_name) == 0)
			remove_dir(sub, depth + 1);
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return error_errno("cannot remove cgroup '%s'", dir);
	return 0;
}

static int end_dir(const char *dir, int v2)
{
	struct stat st;
	int n;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? 0 : error_errno("cannot inspect cgroup '%s'", dir);
	if (v2) {
		/* cgroup.procs lists this cgroup's own; a job's sub-cgroups are in "populated" */
		n = signal_listed(dir, 0);
		if (n >= 0 && read_key(dir, "cgroup.events", "populated") == 1 &&
		    write_attr(dir, "cgroup.kill", "1") < 0)
			n = errno == ENOENT ? freeze_and_kill(dir) : -1;
	} else {
		n = kill_listed(dir);
	}
	if (n < 0)
		return error_errno("cannot kill the processes of cgroup '%s'", dir);
	if (wait_empty(dir, v2) < 0 || remove_dir(dir, 0) < 0)
		return -1;
	return n;
}

int cgroup_end(const struct cgroup *cg)
{
	int n = 0, r, failed = 0;
	size_t i;

	if (cg->v2[0]) {
		r = end_dir(cg->v2, 1);
		failed |= r < 0;
		n += r > 0 ? r : 0;
	}
	for (i = 0; i < cg->nr_v1; i++) {
		r = end_dir(cg->v1[i], 0);
		failed |= r < 0;
		if (!cg->v2[0])
			n += r > 0 ? r : 0;
	}
	return failed ? -1 : n;
}
