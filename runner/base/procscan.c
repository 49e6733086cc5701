#include "base/procscan.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/secret.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A decimal pid at the start of `s`, ended by a space or the string's end. */
static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || (*end && *end != ' ') || n < 0 || n > INT_MAX)
		return -1;
	*pid = (pid_t)n;
	return 0;
}

/* /proc/PID/stat past the command name, which may hold spaces and parentheses, into `buf`:
 * " S PPID ...", or NULL when the process is gone. */
static const char *stat_fields(pid_t pid, char *buf, size_t size)
{
	char path[64], *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	end = strrchr(buf, ')');
	if (!end || end[1] != ' ' || !end[2] || end[3] != ' ')
		return NULL;
	return end + 1;
}

int procscan_stat(pid_t pid, char *state, pid_t *ppid)
{
	char buf[512];
	const char *f = stat_fields(pid, buf, sizeof(buf));

	if (!f)
		return -1;
	*state = f[1];
	return parse_pid(f + 3, ppid);
}

int procscan_start_time(pid_t pid, unsigned long long *ticks)
{
	char buf[1024], *end;
	const char *f = stat_fields(pid, buf, sizeof(buf));
	int field;

	/* starttime is field 22; the fields after the name start at 3 (state). */
	for (field = 2; f && *f && field < 22; f++)
		field += *f == ' ';
	if (!f || field != 22)
		return -1;
	errno = 0;
	*ticks = strtoull(f, &end, 10);
	return errno || end == f ? -1 : 0;
}

int procscan_each(int (*visit)(pid_t pid, void *data), void *data)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid();
	int ret = 0;

	if (!d)
		return error_errno("cannot list processes in '/proc'");
	while (!ret && (e = readdir(d))) {
		pid_t pid;

		if (parse_pid(e->d_name, &pid) < 0)
			continue;
		if (pid != self)
			ret = visit(pid, data);
	}
	closedir(d);
	return ret;
}

/* 1 when the environment of `pid` holds `entry` exactly; 0 otherwise, when unreadable, or for
 * no `entry`. */
static int environ_has(pid_t pid, const char *entry)
{
	char path[64], *buf = NULL, *p;
	size_t len = 0, cap = 0, want;
	ssize_t n;
	int fd, found = 0;

	if (!entry)
		return 0;
	want = strlen(entry) + 1;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	do {
		if (len + 65536 > cap) {
			char *grown =
				cap < (8u << 20) ? secret_realloc_hook(buf, cap + 65536) : NULL;

			if (!grown)
				break;
			buf = grown;
			cap += 65536;
		}
		n = read(fd, buf + len, cap - len);
		if (n > 0)
			len += (size_t)n;
	} while (n > 0);
	close(fd);
	for (p = buf; p && p < buf + len; p += strnlen(p, (size_t)(buf + len - p)) + 1)
		if ((size_t)(buf + len - p) >= want && !memcmp(p, entry, want))
			found = 1;
	/* Another job's environment holds its passwords and token. */
	if (buf)
		explicit_bzero(buf, cap);
	free(buf);
	return found;
}

#define ANCESTORS_MAX 64

struct marked {
	const char *entry;
	int sig;
	int found;
	pid_t ancestors[ANCESTORS_MAX]; /* ours: whoever started us may carry the mark too */
	int nr_ancestors;
};

static void find_ancestors(struct marked *m)
{
	pid_t pid = getppid(), ppid;
	char state;

	while (pid > 1 && m->nr_ancestors < ANCESTORS_MAX) {
		m->ancestors[m->nr_ancestors++] = pid;
		if (procscan_stat(pid, &state, &ppid) < 0)
			break;
		pid = ppid;
	}
}

static int is_ancestor(const struct marked *m, pid_t pid)
{
	int i;

	for (i = 0; i < m->nr_ancestors; i++)
		if (m->ancestors[i] == pid)
			return 1;
	return 0;
}

int procscan_is_ancestor(pid_t pid)
{
	struct marked m;

	memset(&m, 0, sizeof(m));
	find_ancestors(&m);
	return pid > 1 && is_ancestor(&m, pid);
}

static int is_marked(const struct marked *m, pid_t pid)
{
	pid_t ppid;
	char state;

	return !is_ancestor(m, pid) && procscan_stat(pid, &state, &ppid) == 0 && state != 'Z' &&
	       environ_has(pid, m->entry);
}

static int signal_if_marked(pid_t pid, void *data)
{
	struct marked *m = data;

	if (!is_marked(m, pid))
		return 0;
	kill(pid, m->sig);
	kill(pid, SIGCONT);
	m->found++;
	return 0;
}

static int count_if_marked(pid_t pid, void *data)
{
	struct marked *m = data;

	if (is_marked(m, pid))
		m->found++;
	return 0;
}

int procscan_count_marked(const char *entry)
{
	struct marked m = {.entry = entry};

	find_ancestors(&m);
	return procscan_each(count_if_marked, &m) < 0 ? -1 : m.found;
}

int procscan_kill_marked(const char *entry, unsigned grace)
{
	struct marked m = {.entry = entry, .sig = SIGTERM};
	long long kill_at = clock_now_ms() + grace * 1000LL;
	int total;

	find_ancestors(&m);
	if (procscan_each(signal_if_marked, &m) < 0)
		return -1;
	total = m.found;
	/* Poll until they are gone; switch to SIGKILL at the deadline and for late forks. */
	while (m.found) {
		clock_sleep_ms(50);
		if (clock_now_ms() >= kill_at)
			m.sig = SIGKILL;
		if (clock_now_ms() >= kill_at + PROCSCAN_KILL_TIMEOUT_MS)
			return error(
				"%d process(es) of the job are still there %lld ms after SIGKILL "
				"(stuck in the kernel, e.g. on a hung mount): look for processes "
				"with %s in their environment",
				m.found, (long long)PROCSCAN_KILL_TIMEOUT_MS, entry);
		m.found = 0;
		if (procscan_each(signal_if_marked, &m) < 0)
			return -1;
	}
	return total;
}

/* 1 when the real uid of `pid` is `uid` and it has not ended (a zombie has). */
static int live_of_uid(pid_t pid, uid_t uid)
{
	char path[64], line[256], state = 0;
	unsigned long real = (unsigned long)-1;
	pid_t ppid;
	FILE *f;

	if (procscan_stat(pid, &state, &ppid) < 0 || state == 'Z' || state == 'X')
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Uid:", 4)) {
			real = strtoul(line + 4, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return real == (unsigned long)uid;
}

/* procscan_count_uid's walk: the uid looked for, and how many of it were found. */
struct of_uid {
	uid_t uid;
	int found;
};

static int count_if_uid(pid_t pid, void *data)
{
	struct of_uid *u = data;

	if (live_of_uid(pid, u->uid))
		u->found++;
	return 0;
}

int procscan_count_uid(uid_t uid)
{
	struct of_uid u = {uid, 0};

	return procscan_each(count_if_uid, &u) < 0 ? -1 : u.found;
}

static int kill_if_uid(pid_t pid, void *data)
{
	struct of_uid *u = data;

	if (live_of_uid(pid, u->uid) && kill(pid, SIGKILL) == 0)
		u->found++;
	return 0;
}

int procscan_kill_uid(uid_t uid)
{
	struct of_uid u = {uid, 0};

	return procscan_each(kill_if_uid, &u) < 0 ? -1 : u.found;
}
