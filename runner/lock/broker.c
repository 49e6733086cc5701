/*
 * The lock broker's client (lock/broker.h): the `lock_broker` backend, how berth in a job's
 * scripts takes and lists the file backend's locks through the stage's broker
 * (job/lock_broker.c), which holds the store.
 */
#include "lock/broker.h"
#include "lock/lock.h"

#include "base/log.h"
#include "base/proc.h"
#include "conf/vars.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const char lock_broker_result_class[3] = {
	[BERTH_OK] = 'o',
	[BERTH_BUILD_FAILURE] = 'b',
	[BERTH_SYSTEM_FAILURE] = 's',
};

static int broker_connect(const char *request)
{
	const char *job_dir = getenv(JOB_MARKER);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(request);
	int fd;

	if (!job_dir || (size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", job_dir,
					 LOCK_BROKER_SOCKET) >= sizeof(sa.sun_path))
		return error("%s is not a job's workspace", JOB_MARKER);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, request, n, MSG_NOSIGNAL) != (ssize_t)n) {
		error_errno("cannot reach this job's lock broker at '%s': locks are taken while a "
			    "stage of the job runs",
			    sa.sun_path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The descriptor a result record carries, or -1. */
static int received_fd(struct msghdr *m)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	int fd = -1;

	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * Reads the broker's answer until its result: messages go to stderr as they come, JSON
 * records to `on_json`. *fd gets the descriptor the result carries (-1: none).
 */
static enum berth_result receive(int conn, int *fd, int (*on_json)(const char *, void *),
				 void *data)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	char rec[LOCK_BROKER_RECORD_MAX + 1];
	struct iovec iov = {rec, LOCK_BROKER_RECORD_MAX};
	struct msghdr m;
	size_t i;

	*fd = -1;
	for (;;) {
		ssize_t n;

		memset(&m, 0, sizeof(m));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = c.buf;
		m.msg_controllen = sizeof(c.buf);
		n = recvmsg(conn, &m, 0);
		if (n < 0 && errno == EINTR && !proc_stop_requested())
			continue;
		if (n < 0 && errno == EINTR) {
			error("stopped while the lock broker worked");
			return BERTH_SYSTEM_FAILURE;
		}
		if (n <= 0) {
			error("this job's lock broker ended before it answered");
			return BERTH_SYSTEM_FAILURE;
		}
		if (n == 2 && rec[0] == LOCK_BROKER_RESULT_MARK)
			break;
		rec[n] = '\0';
		if (rec[0] == '{' && on_json && on_json(rec, data) < 0)
			return BERTH_SYSTEM_FAILURE;
		if (rec[0] != '{' && write(STDERR_FILENO, rec, (size_t)n) < 0) {
			/* nowhere to say it */
		}
	}
	*fd = received_fd(&m);
	for (i = 0; i < sizeof(lock_broker_result_class); i++)
		if (lock_broker_result_class[i] == rec[1])
			return (enum berth_result)i;
	error("the lock broker answered with an unknown result");
	return BERTH_SYSTEM_FAILURE;
}

static enum berth_result client_acquire(struct lock *l, unsigned timeout)
{
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	char req[LOCK_BROKER_REQUEST_MAX];
	int conn;

	l->fd = -1;
	snprintf(req, sizeof(req), "lock %u %s", timeout, l->key);
	if (lock_wait_begin() < 0)
		return BERTH_SYSTEM_FAILURE;
	conn = broker_connect(req);
	if (conn >= 0) {
		r = receive(conn, &l->fd, NULL, NULL);
		close(conn);
	}
	lock_wait_end();
	return r;
}

static int client_release(struct lock *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return 0;
}

/* Gathers the listing's records into entries, one lock at a time. */
struct listing {
	struct lock_entry e;
	size_t cap;
	int (*each)(const struct lock_entry *, void *);
	void *data;
};

static int flush(struct listing *ls)
{
	int ret = ls->e.nr ? ls->each(&ls->e, ls->data) : 0;

	ls->e.nr = 0;
	return ret;
}

static int add_owner(const char *rec, void *data)
{
	struct listing *ls = data;
	const char *key, *job, *project, *url, *host;
	json_int_t queued, since, ticket;
	struct lock_owner *o;
	int holding, pid;
	json_t *j = json_loads(rec, 0, NULL);

	if (!j || json_unpack(j, "{s:s, s:b, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I}", "key", &key,
			      "holding", &holding, "job", &job, "project", &project, "pipeline_url",
			      &url, "host", &host, "pid", &pid, "queued", &queued, "since", &since,
			      "ticket", &ticket) < 0) {
		json_decref(j);
		return error("the lock broker sent a listing berth cannot read");
	}
	if (strcmp(key, ls->e.key) != 0 && flush(ls) < 0) {
		json_decref(j);
		return -1;
	}
	if (ls->e.nr == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		struct lock_owner *grown = reallocarray(ls->e.owners, cap, sizeof(*grown));

		if (!grown) {
			json_decref(j);
			return error("out of memory");
		}
		ls->e.owners = grown;
		ls->cap = cap;
	}
	if (ls->e.nr == 0) {
		snprintf(ls->e.key, sizeof(ls->e.key), "%s", key);
		ls->e.held = holding;
	}
	o = &ls->e.owners[ls->e.nr++];
	memset(o, 0, sizeof(*o));
	snprintf(o->job, sizeof(o->job), "%s", job);
	snprintf(o->project, sizeof(o->project), "%s", project);
	snprintf(o->pipeline_url, sizeof(o->pipeline_url), "%s", url);
	snprintf(o->host, sizeof(o->host), "%s", host);
	o->pid = (pid_t)pid;
	o->queued = queued;
	o->since = since;
	o->ticket = (unsigned long long)ticket;
	json_decref(j);
	return 0;
}

static int client_list(const struct settings *s, int (*each)(const struct lock_entry *, void *),
		       void *data)
{
	struct listing ls = {.each = each, .data = data};
	int conn = broker_connect("list"), fd, ret = -1;

	(void)s;
	if (conn < 0)
		return -1;
	if (receive(conn, &fd, add_owner, &ls) == BERTH_OK)
		ret = flush(&ls);
	close(conn);
	free(ls.e.owners);
	return ret;
}

const struct lock_backend lock_broker = {
	.name = "file",
	.acquire = client_acquire,
	.release = client_release,
	.list = client_list,
};
