/*
 * The bwrap sandbox's own network (bwrap_net.h, docs/bwrap.md, "The network"):
 *
 *   berth run ── bwrap --unshare-net --info-fd 4 --block-fd 5 ...   the sandbox, held
 *            └─ slirp4netns ... /proc/self/fd/5 tap0                 attached to its namespace
 *
 * bwrap creates the namespaces, writes the sandbox's pid to descriptor 4 and waits for a byte on
 * descriptor 5 before it runs anything. berth opens that process's network namespace (and the
 * user namespace that owns it), waits for bwrap to have set up its loopback, starts slirp4netns
 * on them as the user bwrap runs as, waits until slirp4netns says the interface is up
 * (--ready-fd), and only then lets the sandbox go on: the script never runs without its network.
 *
 * slirp4netns runs with --disable-host-loopback (its gateway 10.0.2.2 would otherwise be the
 * host's 127.0.0.1) and --disable-dns (its 10.0.2.3 would forward every port, not only 53, to
 * the host's first resolver, which may listen on 127.0.0.1): the sandbox asks the host's
 * resolvers directly, like any other server.
 */
#include "executors/bwrap_net.h"

#include "executors/executor.h"
#include "base/clock.h"
#include "base/job_user.h"
#include "base/log.h"
#include "base/proc.h"
#include "conf/settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* bwrap gets these two from bwrap_net_start, right after the script's (proc.fds). */
#define INFO_FD (PROC_SCRIPT_FD + 1) /* bwrap writes the sandbox's pid here */
#define GO_FD	(PROC_SCRIPT_FD + 2) /* and waits for a byte here before it runs anything */

/* slirp4netns gets these: where it says it is up, the namespaces it attaches to. */
#define READY_FD  (PROC_SCRIPT_FD + 1)
#define NETNS_FD  (PROC_SCRIPT_FD + 2)
#define USERNS_FD (PROC_SCRIPT_FD + 3)

/* How long bwrap and slirp4netns may take to set up (both take milliseconds). */
#define SETUP_TIMEOUT_MS 10000

#define RESOLV "/etc/resolv.conf"
/* systemd-resolved's list of the servers it asks itself: for who cannot reach its stub. */
#define RESOLVED_SERVERS "/run/systemd/resolve/resolv.conf"

static int is_loopback(const char *addr)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, addr, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, addr, a) == 1)
		return !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) ||
		       (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) && a[12] == 127);
	return 0;
}

/*
 * 1 when `path` names nameservers and all are loopback addresses (systemd-resolved's stub,
 * a local dnsmasq): the sandbox's own loopback has none of them. 0 otherwise.
 */
static int resolvers_on_loopback(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512], addr[64];
	int all = 0, loopback = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "nameserver %63s", addr) == 1) {
			addr[strcspn(addr, "%")] = '\0'; /* fe80::1%eth0 */
			all++;
			loopback += is_loopback(addr);
		}
	if (f)
		fclose(f);
	return all > 0 && loopback == all;
}

int bwrap_net_args(struct strvec *argv, const struct settings *s)
{
	char dest[PATH_MAX];

	if (s->bwrap_network != BWRAP_NETWORK_PRIVATE)
		return 0; /* none: bwrap.c's --unshare-net alone */
	if (strvec_push(argv, "--unshare-net") < 0 || strvec_push(argv, "--info-fd") < 0 ||
	    strvec_pushf(argv, "%d", INFO_FD) < 0 || strvec_push(argv, "--block-fd") < 0 ||
	    strvec_pushf(argv, "%d", GO_FD) < 0)
		return -1;
	/*
	 * The host asks a resolver on its loopback: with systemd-resolved the sandbox asks the
	 * servers resolved asks, in place of its stub (at the path /etc/resolv.conf leads to).
	 */
	if (resolvers_on_loopback(RESOLV) && access(RESOLVED_SERVERS, R_OK) == 0 &&
	    realpath(RESOLV, dest) &&
	    (strvec_push(argv, "--ro-bind") < 0 || strvec_push(argv, RESOLVED_SERVERS) < 0 ||
	     strvec_push(argv, dest) < 0))
		return -1;
	return 0;
}

/* 1 when user `u` (NULL: berth's) may open `path`, whose status is `st`, to read and write. */
static int usable_by(const char *path, const struct stat *st, const struct job_user *u)
{
	size_t i;

	if (!u)
		return access(path, R_OK | W_OK) == 0;
	if (st->st_uid == u->uid)
		return (st->st_mode & 0600) == 0600;
	for (i = 0; i < u->nr_groups; i++)
		if (u->groups[i] == st->st_gid)
			return (st->st_mode & 0060) == 0060;
	if (u->gid == st->st_gid)
		return (st->st_mode & 0060) == 0060;
	return (st->st_mode & 0006) == 0006;
}

int bwrap_net_check(const struct settings *s, const struct job_user *u)
{
	struct stat st;

	if (s->bwrap_network != BWRAP_NETWORK_PRIVATE)
		return 0;
	if (!executor_on_path("slirp4netns"))
		return error("bwrap_network 'private' needs slirp4netns, and there is none on PATH "
			     "'%s': install it (apt-get install slirp4netns), or choose another "
			     "bwrap_network (docs/bwrap.md)",
			     getenv("PATH") ? getenv("PATH") : "");
	if (stat("/dev/net/tun", &st) < 0)
		return error_errno("bwrap_network 'private' needs '/dev/net/tun' (modprobe tun)");
	if (!usable_by("/dev/net/tun", &st, u))
		return error("bwrap_network 'private' needs '/dev/net/tun' usable by %s%s (it is "
			     "%04o): chmod 0666 /dev/net/tun, as Debian's udev rules do",
			     u ? "job user " : "berth's user", u ? u->name : "",
			     (unsigned)(st.st_mode & 07777));
	if (resolvers_on_loopback(RESOLV) && access(RESOLVED_SERVERS, R_OK) != 0)
		warning("the host's resolvers in '%s' are all on its loopback, which the sandbox's "
			"private network does not reach: scripts have no DNS; let the resolver "
			"listen on an address of the host's network too (docs/bwrap.md)",
			RESOLV);
	return 0;
}

/*
 * Reads from `fd` until its end or until `deadline_ms` (clock_now_ms): how many bytes, at most
 * size - 1 and NUL-terminated; -1 with errno ETIMEDOUT when the deadline passed.
 */
static ssize_t read_until_end(int fd, char *buf, size_t size, long long deadline_ms)
{
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long long left = deadline_ms - clock_now_ms();
		char rest[256];
		ssize_t n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue; /* EINTR, or the deadline: checked above */
		/* Past `size`, read on and drop: the writer must not block on a full pipe. */
		if (len < size - 1)
			n = read(fd, buf + len, size - 1 - len);
		else
			n = read(fd, rest, sizeof(rest));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (len < size - 1)
			len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * The sandbox's pid from what bwrap wrote to --info-fd, and the inode of its network namespace
 * (0 when bwrap did not say): 1. 0 when bwrap ended before it made the sandbox (its message and
 * status say why); -1 after reporting.
 */
static int sandbox_pid(int info_fd, pid_t *pid, unsigned long long *netns)
{
	char buf[4096];
	json_error_t err;
	json_t *info, *v;
	ssize_t n = read_until_end(info_fd, buf, sizeof(buf), clock_now_ms() + SETUP_TIMEOUT_MS);

	if (n < 0)
		return error_errno("bwrap did not say where its sandbox is");
	if (n == 0)
		return 0;
	info = json_loadb(buf, (size_t)n, 0, &err);
	v = json_object_get(info, "child-pid");
	if (!json_is_integer(v) || json_integer_value(v) <= 1 || json_integer_value(v) > INT_MAX) {
		json_decref(info);
		return error("bwrap said no sandbox pid on --info-fd: '%.200s'", buf);
	}
	*pid = (pid_t)json_integer_value(v);
	v = json_object_get(info, "net-namespace");
	*netns = json_is_integer(v) ? (unsigned long long)json_integer_value(v) : 0;
	json_decref(info);
	return 1;
}

/*
 * The network namespace of sandbox process `pid` (`netns_id`: its inode as bwrap said, or 0),
 * and in *userns the user namespace that owns it: a job user's bwrap nests the sandbox in a
 * second user namespace, which has no say over the network. Never the host's own namespace.
 */
static int open_namespaces(pid_t pid, unsigned long long netns_id, int *netns, int *userns)
{
	char path[64];
	struct stat st, host;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	*netns = open(path, O_RDONLY | O_CLOEXEC);
	if (*netns < 0)
		return error_errno("cannot open the sandbox's network namespace '%s'", path);
	if (fstat(*netns, &st) < 0 || stat("/proc/self/ns/net", &host) < 0)
		return error_errno("cannot look at the sandbox's network namespace '%s'", path);
	/* The pid is the sandbox's while bwrap waits; if it died, another process may have it. */
	if ((netns_id && st.st_ino != netns_id) || st.st_ino == host.st_ino)
		return error("'%s' is not the sandbox's network namespace (the sandbox ended?)",
			     path);
	*userns = ioctl(*netns, NS_GET_USERNS); /* close-on-exec */
	if (*userns < 0)
		return error_errno("cannot find who owns the sandbox's network namespace '%s'",
				   path);
	return 0;
}

/* 1 when the file at `path` holds `text` in its first 4 KiB. */
static int file_holds(const char *path, const char *text)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while (len < sizeof(buf) - 1 &&
	       ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fd);
	buf[len] = '\0';
	return strstr(buf, text) != NULL;
}

/*
 * Waits until bwrap has given the sandbox's loopback its address. slirp4netns brings `lo` up
 * (--configure), upon which the kernel gives it 127.0.0.1 itself, and bwrap's own request for
 * that address, an exclusive one, would then fail and take the sandbox down with it.
 * /proc/PID/net shows the namespace of PID; its local routes hold 127.0.0.1 from the moment
 * bwrap added the address. -1 after reporting, or without a word when the sandbox ended.
 */
static int wait_for_loopback(pid_t pid)
{
	long long deadline = clock_now_ms() + SETUP_TIMEOUT_MS;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/net/fib_trie", (int)pid);
	while (!file_holds(path, "-- 127.0.0.1\n")) {
		if (!proc_alive(pid))
			return -1;
		if (clock_now_ms() >= deadline)
			return error("bwrap did not set up the sandbox's loopback within %d ms",
				     SETUP_TIMEOUT_MS);
		clock_sleep_ms(1);
	}
	return 0;
}

/*
 * What slirp4netns has said on stderr so far (`fd` does not block), on one line, for a message.
 * It writes before it exits or gives up, so all of it is there once --ready-fd has closed.
 */
static void what_it_said(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	char *p;

	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* its end, or nothing more yet */
		len += (size_t)n;
	}
	buf[len] = '\0';
	for (p = buf; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ';' : '\0';
	if (!buf[0])
		snprintf(buf, size, "nothing");
}

/* Closes each of `fds` that is open. */
static void close_fds(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * slirp4netns attached to the network namespace `netns` (owned by `userns`), as `u`: started,
 * and up when this returns 0.
 */
static int start_slirp(int netns, int userns, const struct job_user *u)
{
	static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	int ready[2] = {-1, -1}, said[2] = {-1, -1}, fds[3], ret = -1;
	struct strvec argv = STRVEC_INIT;
	struct proc h = {.env = env, .user = u, .dir = "/", .script_fd = -1};
	char msg[512], up[8];
	ssize_t n;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(said, O_CLOEXEC | O_NONBLOCK) < 0) {
		error_errno("cannot create a pipe");
		goto out;
	}
	/*
	 * As root with no job user: a mount namespace with little in it and no capabilities.
	 * (As a job user slirp4netns cannot: its sandbox needs a pid to find a user namespace.)
	 */
	if (strvec_push(&argv, "slirp4netns") < 0 || strvec_push(&argv, "--configure") < 0 ||
	    strvec_push(&argv, "--mtu=65520") < 0 ||
	    strvec_push(&argv, "--disable-host-loopback") < 0 ||
	    strvec_push(&argv, "--disable-dns") < 0 || strvec_push(&argv, "--enable-seccomp") < 0 ||
	    (!u && geteuid() == 0 && strvec_push(&argv, "--enable-sandbox") < 0) ||
	    strvec_pushf(&argv, "--ready-fd=%d", READY_FD) < 0 ||
	    strvec_pushf(&argv, "--userns-path=/proc/self/fd/%d", USERNS_FD) < 0 ||
	    strvec_push(&argv, "--netns-type=path") < 0 ||
	    strvec_pushf(&argv, "/proc/self/fd/%d", NETNS_FD) < 0 || strvec_push(&argv, "tap0") < 0)
		goto out;
	fds[READY_FD - PROC_SCRIPT_FD - 1] = ready[1];
	fds[NETNS_FD - PROC_SCRIPT_FD - 1] = netns;
	fds[USERNS_FD - PROC_SCRIPT_FD - 1] = userns;
	h.argv = argv.v;
	h.fds = fds;
	h.nr_fds = 3;
	h.out_fd = h.err_fd = said[1];
	if (proc_start_helper(&h) < 0)
		goto out;
	close(ready[1]);
	ready[1] = -1;
	close(said[1]);
	said[1] = -1;
	n = read_until_end(ready[0], up, sizeof(up), clock_now_ms() + SETUP_TIMEOUT_MS);
	if (n == 1 && up[0] == '1') {
		ret = 0;
		goto out;
	}
	what_it_said(said[0], msg, sizeof(msg));
	if (n < 0)
		error("the sandbox's network is not up after %d ms (slirp4netns said: %s)",
		      SETUP_TIMEOUT_MS, msg);
	else
		error("the sandbox's network did not come up (slirp4netns said: %s)", msg);
out:
	/* slirp4netns ignores SIGPIPE from here: what it says later goes nowhere. */
	close_fds(ready, 2);
	close_fds(said, 2);
	strvec_clear(&argv);
	return ret;
}

/* Everything `p` started, and what it left (slirp4netns), ended and waited for. */
static void end_now(struct proc *p)
{
	int status, stopped;

	kill(-p->pid, SIGKILL);
	proc_supervise(p, 0, &status, &stopped);
}

int bwrap_net_start(struct proc *p, const struct settings *s, const struct job_user *u)
{
	int info[2] = {-1, -1}, go[2] = {-1, -1}, fds[2], ret = -1, found;
	int ns[2] = {-1, -1}; /* the sandbox's network namespace, the user namespace owning it */
	unsigned long long netns_id = 0;
	pid_t sandbox = 0;

	if (s->bwrap_network != BWRAP_NETWORK_PRIVATE)
		return proc_start(p);
	/* A socket, not a pipe: a send to a sandbox that died fails, it does not kill berth. */
	if (pipe2(info, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0) {
		error_errno("cannot create a pipe");
		goto out;
	}
	fds[INFO_FD - PROC_SCRIPT_FD - 1] = info[1];
	fds[GO_FD - PROC_SCRIPT_FD - 1] = go[0];
	p->fds = fds;
	p->nr_fds = 2;
	if (proc_start(p) < 0)
		goto out;
	close(info[1]);
	info[1] = -1;
	close(go[0]);
	go[0] = -1;
	found = sandbox_pid(info[0], &sandbox, &netns_id);
	if (found == 0) {
		ret = 0; /* cmd_run supervises bwrap, which failed, as for any other setup error */
		goto out;
	}
	if (found < 0 || open_namespaces(sandbox, netns_id, &ns[0], &ns[1]) < 0 ||
	    wait_for_loopback(sandbox) < 0 || start_slirp(ns[0], ns[1], u) < 0 ||
	    send(go[1], "g", 1, MSG_NOSIGNAL) != 1) {
		/* The sandbox failed to set itself up meanwhile (a bind whose source vanished):
		 * that is bwrap's failure to report, as without a network. */
		if (found > 0 && !proc_alive(sandbox)) {
			ret = 0;
			goto out;
		}
		end_now(p);
		goto out;
	}
	ret = 0;
out:
	p->fds = NULL;
	p->nr_fds = 0;
	close_fds(ns, 2);
	close_fds(go, 2);
	close_fds(info, 2);
	return ret;
}
