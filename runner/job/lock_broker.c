#include "job/lock_broker.h"

#include "lock/broker.h"
#include "base/log.h"
#include "base/proc.h"
#include "conf/vars.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * While the stage runs, berth run's supervise loop calls lock_broker_serve when the socket has
 * a connection: each request is served in a process of its own (a child of the stage, swept
 * with what the stage leaves when it ends), so a wait blocks neither berth run nor another.
 * The conversation is lock/broker.h's; the client is lock/broker.c.
 */
#define IDLE_SECONDS 10 /* a client that sends nothing, or reads nothing, is dropped */

/* ---- the broker, root's (berth run) ------------------------------------------------------- */

static void reply(int conn, enum berth_result r, int fd)
{
	char rec[2] = {LOCK_BROKER_RESULT_MARK, lock_broker_result_class[r]};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = {rec, sizeof(rec)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (r == BERTH_OK && fd >= 0) {
		memset(&c, 0, sizeof(c));
		m.msg_control = c.buf;
		m.msg_controllen = sizeof(c.buf);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &fd, sizeof(int));
	}
	if (sendmsg(conn, &m, MSG_NOSIGNAL) < 0) {
		/* the client left: whatever it asked for goes with this process */
	}
}

/* deploy/<project>/...: the job's own project's alone (its id from the response file). */
static int check_deploy_key(const struct job *job, const char *key)
{
	const char *project = key + 7;
	size_t n = strcspn(project, "/");

	if (strncmp(key, "deploy/", 7) != 0 || (job->project_id && strlen(job->project_id) == n &&
						!strncmp(project, job->project_id, n)))
		return 0;
	return error("lock key '%s' belongs to project %.*s, and this job is of project %s: a "
		     "job takes the deploy locks of its own project only",
		     key, (int)n, project, job->project_id ? job->project_id : "(unknown)");
}

static enum berth_result serve_lock(struct lock_broker *sv, const char *req, int *fd)
{
	char why[128] = "a key and a timeout of 0 to 86400 seconds";
	struct lock l;
	char *key;
	unsigned long timeout = strtoul(req, &key, 10);
	enum berth_result r;

	if (*key != ' ' || timeout > 86400 || lock_valid_key(++key, why, sizeof(why)) < 0) {
		error("invalid lock request '%s': %s", req, why);
		return BERTH_BUILD_FAILURE;
	}
	if (check_deploy_key(&sv->ctx->job, key) < 0)
		return BERTH_BUILD_FAILURE;
	memset(&l, 0, sizeof(l));
	l.settings = &sv->ctx->settings;
	snprintf(l.key, sizeof(l.key), "%s", key);
	lock_owner_init(&l.me, &vars_runner);
	l.me.pid = sv->peer; /* the holder, and whose descriptors count for nesting */
	r = lock_file.acquire(&l, (unsigned)timeout);
	*fd = l.fd;
	return r;
}

/* One listed holder or waiter: a JSON object with its lock's key. */
static int send_owner(const struct lock_entry *e, void *data)
{
	const struct lock_broker *sv = data;
	size_t i;

	for (i = 0; i < e->nr; i++) {
		const struct lock_owner *o = &e->owners[i];
		json_t *j =
			json_pack("{s:s, s:b, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I}", "key",
				  e->key, "holding", i == 0 && e->held, "job", o->job, "project",
				  o->project, "pipeline_url", o->pipeline_url, "host", o->host,
				  "pid", (int)o->pid, "queued", (json_int_t)o->queued, "since",
				  (json_int_t)o->since, "ticket", (json_int_t)o->ticket);
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
		int sent = text && send(sv->conn, text, strlen(text), MSG_NOSIGNAL) >= 0;

		free(text);
		json_decref(j);
		if (!sent)
			return error("cannot list lock '%s' to the job", e->key);
	}
	return 0;
}

/* Serves one request, in a process of its own; its messages go to the client. */
static int handle(void *arg)
{
	struct lock_broker *sv = arg;
	struct timeval idle = {IDLE_SECONDS, 0};
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	char req[LOCK_BROKER_REQUEST_MAX + 1];
	ssize_t n;
	int fd = -1;

	close(sv->listen);
	if (setsockopt(sv->conn, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle)) < 0 ||
	    setsockopt(sv->conn, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof(idle)) < 0 ||
	    dup2(sv->conn, STDERR_FILENO) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	lock_wait_watch(sv->conn);
	n = recv(sv->conn, req, LOCK_BROKER_REQUEST_MAX, 0);
	if (n <= 0)
		return -1;
	req[n] = '\0';
	if (!strcmp(req, "list"))
		r = lock_file.list(&sv->ctx->settings, send_owner, sv) == 0 ? BERTH_OK
									    : BERTH_SYSTEM_FAILURE;
	else if (!strncmp(req, "lock ", 5))
		r = serve_lock(sv, req + 5, &fd);
	else
		error("unknown request to the lock broker");
	reply(sv->conn, r, fd);
	return r == BERTH_OK ? 0 : -1;
}

/* How many of the requests handed to a process of their own are still being served. */
static int busy(struct lock_broker *b)
{
	int i, n = 0;

	for (i = 0; i < LOCK_BROKER_WAITS; i++)
		if (b->waits[i] > 0 && waitpid(b->waits[i], NULL, WNOHANG) == 0)
			n++;
		else
			b->waits[i] = 0;
	return n;
}

/* Only the job's own scripts, and no more than LOCK_BROKER_WAITS requests at once. */
static int admit(struct lock_broker *b)
{
	static const char msg[] = "berth: error: this job has too many lock requests waiting at "
				  "once (16)\n";
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(b->conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    cred.uid != b->peer_uid)
		return -1;
	if (busy(b) >= LOCK_BROKER_WAITS) {
		if (send(b->conn, msg, sizeof(msg) - 1, MSG_NOSIGNAL) >= 0)
			reply(b->conn, BERTH_SYSTEM_FAILURE, -1);
		return -1;
	}
	b->peer = cred.pid;
	return 0;
}

/* A request came: served in a process of its own, a child of the stage's (proc_call). */
void lock_broker_serve(void *arg)
{
	struct lock_broker *b = arg;
	pid_t pid;
	int i;

	b->conn = accept4(b->listen, NULL, NULL, SOCK_CLOEXEC);
	if (b->conn < 0)
		return;
	if (admit(b) == 0 && proc_call(handle, b, &pid) == 0)
		for (i = 0; i < LOCK_BROKER_WAITS; i++)
			if (b->waits[i] == 0) {
				b->waits[i] = pid;
				break;
			}
	close(b->conn);
	b->conn = -1;
}

int lock_broker_start(struct lock_broker *b, const struct context *ctx, uid_t peer)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t mask;
	int bound;

	memset(b, 0, sizeof(*b));
	b->ctx = ctx;
	b->peer_uid = peer;
	b->conn = -1;
	if ((size_t)snprintf(b->path, sizeof(b->path), "%s/%s", ctx->ws.dir, LOCK_BROKER_SOCKET) >=
	    sizeof(b->path)) {
		b->listen = -1;
		return error("the workspace '%s' is too long a path for the lock broker's socket: "
			     "choose a shorter state_dir",
			     ctx->ws.dir);
	}
	memcpy(sa.sun_path, b->path, sizeof(sa.sun_path));
	/* The workspace is root's: only an earlier stage's broker can have left this. */
	if (unlink(b->path) < 0 && errno != ENOENT) {
		b->listen = -1;
		return error_errno("cannot remove '%s'", b->path);
	}
	b->listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	mask = umask(0177); /* the socket is born 0600 */
	bound = b->listen >= 0 && bind(b->listen, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	umask(mask);
	if (!bound || fchownat(AT_FDCWD, b->path, peer, (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0 ||
	    listen(b->listen, LOCK_BROKER_WAITS) < 0) {
		error_errno("cannot set up the lock broker's socket '%s'", b->path);
		lock_broker_stop(b);
		return -1;
	}
	return 0;
}

void lock_broker_stop(struct lock_broker *b)
{
	if (b->listen < 0)
		return;
	close(b->listen);
	b->listen = -1;
	unlink(b->path);
}
