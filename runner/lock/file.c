/*
 * The file backend (docs/locks.md): a ticket queue under <state_dir>/locks/<key>/. Every
 * contender holds an exclusive flock on its own ticket while it waits or holds the lock, and
 * waits by blocking in flock on the live ticket just ahead of it, so a release or a death wakes
 * the next one at once, and a waiter killed in the queue blocks nobody.
 */
#include "lock/lock.h"

#include "base/clock.h"
#include "base/array.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATUS_EVERY	15 /* seconds between "still waiting" lines */
#define TICKET_NAME_LEN 20
#define NO_TICKET	"~" /* for a look at the queue before joining it */

/* The key as a name in the store, '/' as %2F: the key stays readable in `ls`. */
static int key_name(const char *key, char *buf, size_t size)
{
	size_t n = 0;

	for (; *key && n + 4 < size; key++)
		n += (size_t)(*key == '/' ? snprintf(buf + n, size - n, "%%2F")
					  : snprintf(buf + n, size - n, "%c", *key));
	return *key ? error("lock key too long for a path") : 0;
}

static void decode_key(const char *name, char *key, size_t size)
{
	size_t n = 0;

	for (; *name && n + 1 < size; name++) {
		if (!strncmp(name, "%2F", 3)) {
			key[n++] = '/';
			name += 2;
		} else {
			key[n++] = *name;
		}
	}
	key[n] = '\0';
}

/*
 * The store, <state_dir>/locks, and everything in it are berth's alone (0700 directories, 0600
 * files): jobs never write here, their scripts take locks through their stage's broker
 * (job/lock_broker.c). So an entry that is a link, a FIFO, or someone else's can only be a leftover
 * of an older berth, whose store was world-writable: it is removed, never followed or trusted.
 */
static int is_ours(int fd, mode_t type)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type && st.st_uid == geteuid() &&
	       (type == S_IFDIR || st.st_nlink == 1);
}

/* A directory of the store, open; one that is not ours is removed first (see is_ours). */
static int open_store_dir(int parent, const char *name, const char *path)
{
	int fd, tries;

	for (tries = 0; tries < 2; tries++) {
		if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
			return error_errno("cannot create lock directory '%s'", path);
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && is_ours(fd, S_IFDIR)) {
			if (fchmod(fd, 0700) == 0)
				return fd;
			error_errno("cannot make lock directory '%s' private", path);
			close(fd);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		else if (errno != ELOOP && errno != ENOTDIR)
			return error_errno("cannot open lock directory '%s'%s", path,
					   errno == EACCES ? ": it is root's; a job's scripts take "
							     "locks through their stage (berth run)"
							   : "");
		warning("removing '%s', which an older berth let a job put in its lock store",
			path);
		if (remove_tree(path, 0) < 0)
			return -1;
	}
	return error("cannot make lock directory '%s' berth's own", path);
}

/* The store's path, state_dir's "locks"; 0, or -1 after reporting. */
static int store_path(const struct settings *s, char *path, size_t size)
{
	return path_join(path, size, "%s/locks", s->state_dir);
}

/* The store's directory, created (and state_dir) when missing; -1 after reporting. */
static int open_store(const struct settings *s)
{
	char path[PATH_MAX];

	if (store_path(s, path, sizeof(path)) < 0 || make_dirs(s->state_dir, 0711) < 0)
		return -1;
	return open_store_dir(AT_FDCWD, path, path);
}

/* A file of the store: ours, regular, with no other name; -1 when not. */
static int open_file_at(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

	if (fd >= 0 && !is_ours(fd, S_IFREG)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The owner as a ticket file holds it: "name value" lines. */
static int write_owner(int fd, const struct lock_owner *o)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf),
			 "ticket %llu\njob %s\nproject %s\npipeline_url %s\nhost %s\npid %d\n"
			 "queued %lld\nsince %lld\n",
			 o->ticket, o->job, o->project, o->pipeline_url, o->host, (int)o->pid,
			 o->queued, o->since);

	/* Written whole, then trimmed: a reader sees the old or the new, never an empty file. */
	if (n < 0 || pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		return error_errno("cannot write a lock ticket");
	return 0;
}

static void read_owner(int fd, struct lock_owner *o)
{
	char buf[2048], *line, *save = NULL;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	memset(o, 0, sizeof(*o));
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, ' ');

		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "ticket"))
			o->ticket = strtoull(v, NULL, 10);
		else if (!strcmp(line, "job"))
			snprintf(o->job, sizeof(o->job), "%s", v);
		else if (!strcmp(line, "project"))
			snprintf(o->project, sizeof(o->project), "%s", v);
		else if (!strcmp(line, "pipeline_url"))
			snprintf(o->pipeline_url, sizeof(o->pipeline_url), "%s", v);
		else if (!strcmp(line, "host"))
			snprintf(o->host, sizeof(o->host), "%s", v);
		else if (!strcmp(line, "pid"))
			o->pid = (pid_t)strtol(v, NULL, 10);
		else if (!strcmp(line, "queued"))
			o->queued = strtoll(v, NULL, 10);
		else if (!strcmp(line, "since"))
			o->since = strtoll(v, NULL, 10);
	}
}

static int is_ticket(const char *name)
{
	return strlen(name) == TICKET_NAME_LEN && strspn(name, "0123456789") == TICKET_NAME_LEN;
}

/* 1 when someone holds the ticket (its owner is queued or holding); 0 when nobody does. */
static int ticket_live(int dirfd, const char *name, int *fd_out)
{
	int fd = open_file_at(dirfd, name, O_RDONLY);

	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return 0;
	}
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Sorted ticket names of a lock directory. */
static int tickets(int dirfd, char (**names)[TICKET_NAME_LEN + 1], size_t *nr)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	size_t alloc = 0;

	*names = NULL;
	*nr = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return error_errno("cannot read a lock directory");
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		if (!is_ticket(e->d_name))
			continue;
		if (ALLOC_GROW(*names, *nr + 1, alloc) < 0) {
			closedir(d);
			free(*names);
			*names = NULL;
			return -1;
		}
		memcpy((*names)[(*nr)++], e->d_name, TICKET_NAME_LEN + 1);
	}
	closedir(d);
	if (*nr)
		qsort(*names, *nr, sizeof(**names), by_name);
	return 0;
}

struct scan {
	char ahead[TICKET_NAME_LEN + 1]; /* the live ticket just ahead of ours, "" when none */
	char first[TICKET_NAME_LEN + 1]; /* the first live ticket: the holder */
	size_t nr_ahead;
};

/* Under the meta lock: removes dead tickets, finds who is ahead of `mine`. */
static int scan(int dirfd, const char *mine, struct scan *sc)
{
	char(*names)[TICKET_NAME_LEN + 1];
	size_t nr, i;

	memset(sc, 0, sizeof(*sc));
	if (tickets(dirfd, &names, &nr) < 0)
		return -1;
	for (i = 0; i < nr; i++) {
		if (!strcmp(names[i], mine))
			continue;
		if (!ticket_live(dirfd, names[i], NULL)) {
			unlinkat(dirfd, names[i], 0); /* released, or its owner died */
			continue;
		}
		if (strcmp(names[i], mine) > 0)
			continue;
		if (!sc->first[0])
			memcpy(sc->first, names[i], sizeof(sc->first));
		memcpy(sc->ahead, names[i], sizeof(sc->ahead));
		sc->nr_ahead++;
	}
	free(names);
	return 0;
}

struct file_lock {
	int dirfd;
	int meta;
	int rw; /* our ticket, to write; the lock itself is on l->fd, which is read-only */
	char name[TICKET_NAME_LEN + 1];
};

/* The directory's meta lock; a stop or the deadline ends the wait (the tick interrupts it). */
static int meta_lock(struct lock *l, int meta, long long deadline)
{
	while (flock(meta, LOCK_EX) < 0) {
		if (errno != EINTR)
			return error_errno("cannot lock the queue of lock '%s'", l->key);
		if (proc_stop_requested())
			return error("stopped while waiting for lock '%s'", l->key);
		if (deadline && clock_now_ms() >= deadline)
			return error("cannot take lock '%s' within the timeout: its queue is busy",
				     l->key);
	}
	return 0;
}

/* Takes the next ticket number and creates our ticket, locked, under the meta lock. */
static int enqueue(struct lock *l, struct file_lock *f, long long deadline)
{
	char counter[32] = "";
	ssize_t n;
	int fd, ret = -1;

	if (meta_lock(l, f->meta, deadline) < 0)
		return -1;
	n = pread(f->meta, counter, sizeof(counter) - 1, 0);
	l->me.ticket = (n > 0 ? strtoull(counter, NULL, 10) : 0) + 1;
	n = snprintf(counter, sizeof(counter), "%llu\n", l->me.ticket);
	if (pwrite(f->meta, counter, (size_t)n, 0) != n || ftruncate(f->meta, n) < 0) {
		error_errno("cannot count lock tickets");
		goto out;
	}
	snprintf(f->name, sizeof(f->name), "%0*llu", TICKET_NAME_LEN, l->me.ticket);
	/* The command inherits the lock, so the descriptor that holds it is not O_CLOEXEC, and
	 * read-only: a job's command must not write root's ticket. A blocking flock: `berth
	 * locks` may be probing the new file for a moment. */
	f->rw = openat(f->dirfd, f->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	fd = f->rw < 0 ? -1 : openat(f->dirfd, f->name, O_RDONLY | O_NOFOLLOW);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		error_errno("cannot create a lock ticket for '%s'", l->key);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	l->fd = fd;
	ret = write_owner(f->rw, &l->me);
	if (ret < 0) {
		unlinkat(f->dirfd, f->name, 0);
		close(fd);
		l->fd = -1;
	}
out:
	flock(f->meta, LOCK_UN);
	return ret;
}

/*
 * 1 when process `pid` (this one, or a job's that asked the broker) already holds the ticket
 * `name` through a descriptor it inherited: a `berth werf converge` or `berth lock` inside a
 * script that holds the same lock must not wait for itself, whatever its environment says.
 */
static int held_by(int queue, const char *name, pid_t pid)
{
	struct stat ticket, st;
	struct dirent *e;
	char path[64];
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (fstatat(queue, name, &ticket, AT_SYMLINK_NOFOLLOW) < 0 || !(d = opendir(path)))
		return 0;
	while (!found && (e = readdir(d)))
		found = e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
			st.st_dev == ticket.st_dev && st.st_ino == ticket.st_ino;
	closedir(d);
	return found;
}

static void describe_ticket(int dirfd, const char *name, char *buf, size_t size)
{
	struct lock_owner o;
	int fd = open_file_at(dirfd, name, O_RDONLY);

	if (fd < 0) {
		snprintf(buf, size, "a job that just left");
		return;
	}
	read_owner(fd, &o);
	close(fd);
	lock_owner_describe(&o, buf, size);
}

/* Blocks until the ticket `ahead` is released (or its owner dies), a stop, or the deadline. */
static int wait_behind(struct lock *l, struct file_lock *f, const struct scan *sc,
		       long long deadline, long long *next_status)
{
	char holder[1024];
	int fd = open_file_at(f->dirfd, sc->ahead, O_RDONLY);

	if (fd < 0)
		return 0; /* gone already: look again */
	for (;;) {
		long long now = clock_now_ms();

		if (flock(fd, LOCK_SH) == 0)
			break;
		if (errno != EINTR) {
			close(fd);
			return error_errno("cannot wait for lock '%s'", l->key);
		}
		if (proc_stop_requested() || (deadline && now >= deadline)) {
			describe_ticket(f->dirfd, sc->first, holder, sizeof(holder));
			close(fd);
			if (proc_stop_requested())
				return error("stopped while waiting for lock '%s', held by %s",
					     l->key, holder);
			return error("cannot take lock '%s' within the timeout: it is held by %s; "
				     "%zu job(s) were ahead of this one",
				     l->key, holder, sc->nr_ahead);
		}
		if (now >= *next_status) {
			describe_ticket(f->dirfd, sc->first, holder, sizeof(holder));
			info("waiting for lock '%s': held by %s; %zu ahead of this job", l->key,
			     holder, sc->nr_ahead);
			*next_status = now + STATUS_EVERY * 1000LL;
			if (l->waiting)
				l->waiting(l);
		}
	}
	close(fd); /* our shared lock on it goes with the fd */
	return 0;
}

/* The key's directory and its meta file, the queue's lock and ticket counter. */
static int open_queue(struct lock *l, struct file_lock *f)
{
	char name[NAME_MAX + 1], path[PATH_MAX];
	int store = open_store(l->settings), tries;

	if (store < 0 || key_name(l->key, name, sizeof(name)) < 0) {
		if (store >= 0)
			close(store);
		return -1;
	}
	if (path_join(path, sizeof(path), "%s/locks/%s", l->settings->state_dir, name) < 0) {
		close(store);
		return -1;
	}
	f->dirfd = open_store_dir(store, name, path);
	close(store);
	for (tries = 0; f->dirfd >= 0 && f->meta < 0 && tries < 2; tries++) {
		f->meta = open_file_at(f->dirfd, ".meta", O_RDWR | O_CREAT);
		if (f->meta < 0)
			unlinkat(f->dirfd, ".meta", 0); /* see is_ours */
	}
	if (f->dirfd >= 0 && f->meta < 0)
		return error_errno("cannot open the queue of lock '%s' in '%s'", l->key, path);
	return f->dirfd < 0 ? -1 : 0;
}

/* Under the meta lock, looks at the queue; 1 when the holder is this process already. */
static int look(struct lock *l, struct file_lock *f, const char *mine, struct scan *sc,
		long long deadline)
{
	int ret;

	if (meta_lock(l, f->meta, deadline) < 0)
		return -1;
	ret = scan(f->dirfd, mine, sc);
	if (ret == 0 && sc->first[0] && held_by(f->dirfd, sc->first, l->me.pid))
		ret = 1;
	flock(f->meta, LOCK_UN);
	return ret;
}

static enum berth_result acquire(struct lock *l, unsigned timeout)
{
	struct file_lock f = {-1, -1, -1, ""};
	/* Monotonic milliseconds: a wall-clock second would end a 1 s timeout up to 1 s early.
	 * next_status: the first wait says at once who holds the lock. */
	long long start = clock_now_ms(), next_status = start;
	long long deadline = timeout ? start + timeout * 1000LL : 0;
	struct scan sc;
	int ret = -1;

	l->fd = -1;
	if (open_queue(l, &f) < 0 || lock_wait_begin() < 0)
		goto out;
	/* Nested: a script that holds this lock runs berth again. Nothing to take or release.
	 * NO_TICKET sorts after every ticket name, so the whole queue counts as ahead. */
	ret = look(l, &f, NO_TICKET, &sc, deadline);
	if (ret == 1) {
		info("lock '%s' is held by this job already", l->key);
		ret = 0;
		goto done;
	}
	ret = ret < 0 ? -1 : enqueue(l, &f, deadline);
	while (ret == 0) {
		ret = look(l, &f, f.name, &sc, deadline);
		if (ret != 0 || !sc.ahead[0])
			break;
		ret = wait_behind(l, &f, &sc, deadline, &next_status);
	}
	if (ret == 0 && proc_stop_requested())
		ret = error("stopped while taking lock '%s'", l->key);
	if (ret == 0 && l->fd >= 0) {
		l->me.since = (long long)time(NULL);
		ret = write_owner(f.rw, &l->me);
	}
done:
	lock_wait_end();
	if (ret < 0 && l->fd >= 0) {
		unlinkat(f.dirfd, f.name, 0); /* leave the queue at once */
		close(l->fd);
		l->fd = -1;
	}
out:
	if (f.rw >= 0)
		close(f.rw);
	if (f.meta >= 0)
		close(f.meta);
	if (f.dirfd >= 0)
		close(f.dirfd);
	return ret < 0 ? BERTH_SYSTEM_FAILURE : BERTH_OK;
}

/*
 * Our descriptor goes; the lock goes with the last process holding the ticket (a command
 * still running keeps it). The ticket file stays for the next contender to sweep: removing it
 * here could hide a live holder from a newcomer.
 */
static int release(struct lock *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return 0;
}

static int list_one(int locks, const char *name, int (*each)(const struct lock_entry *, void *),
		    void *data)
{
	char(*names)[TICKET_NAME_LEN + 1];
	struct lock_entry e;
	size_t nr, i;
	int dirfd = openat(locks, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret = 0;

	if (dirfd < 0)
		return 0;
	memset(&e, 0, sizeof(e));
	decode_key(name, e.key, sizeof(e.key));
	if (tickets(dirfd, &names, &nr) < 0) {
		close(dirfd);
		return -1;
	}
	e.owners = calloc(nr ? nr : 1, sizeof(*e.owners));
	if (!e.owners) {
		free(names);
		close(dirfd);
		return error("out of memory");
	}
	for (i = 0; i < nr; i++) {
		int fd = -1;

		if (ticket_live(dirfd, names[i], &fd)) {
			read_owner(fd, &e.owners[e.nr++]);
			close(fd);
		}
	}
	e.held = e.nr > 0 && e.owners[0].since > 0;
	if (e.nr)
		ret = each(&e, data);
	free(e.owners);
	free(names);
	close(dirfd);
	return ret;
}

static int list(const struct settings *s, int (*each)(const struct lock_entry *, void *),
		void *data)
{
	char path[PATH_MAX];
	struct stat st;
	struct dirent *e;
	DIR *d;
	int store, ret = 0;

	if (store_path(s, path, sizeof(path)) < 0)
		return -1;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0; /* nothing was ever locked here */
	store = open_store_dir(AT_FDCWD, path, path);
	if (store < 0)
		return -1;
	d = fdopendir(store);
	if (!d) {
		close(store);
		return error_errno("cannot read the lock store of '%s'", s->state_dir);
	}
	while (ret == 0 && (e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			ret = list_one(dirfd(d), e->d_name, each, data);
	closedir(d);
	return ret;
}

const struct lock_backend lock_file = {
	.name = "file",
	.acquire = acquire,
	.release = release,
	.list = list,
};
