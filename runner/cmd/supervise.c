/*
 * `berth supervise GRACE -- CMD...`: the first process of the bwrap sandbox (executors/bwrap.c,
 * docs/bwrap.md). It does inside the sandbox what `berth run` does outside: CMD in its own
 * process group, SIGTERM and SIGINT passed on to it, and what CMD leaves running ended with
 * SIGTERM and, GRACE seconds later, SIGKILL. bwrap cannot do that itself: its processes do not
 * pass signals on, and when CMD exits it kills the rest of the sandbox at once.
 */
#include "cmd/commands.h"
#include "base/log.h"
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

extern char **environ;

static int parse_grace(const char *v, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n > 86400)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/*
 * What bwrap's --new-session is for (TIOCSTI: typing into the terminal of whoever started
 * berth), without leaving the process group through which berth stops the sandbox: detached
 * from its controlling terminal, berth starts CMD with none.
 */
static void drop_terminal(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return; /* none: the runner's service has no terminal */
	if (ioctl(fd, TIOCNOTTY) < 0)
		warning("cannot detach the sandbox from its terminal: %s", strerror(errno));
	close(fd);
}

enum berth_result cmd_supervise(const struct args *a, const char *settings_file, int *exit_status)
{
	struct proc p = {.env = environ, .script_fd = -1};
	int status = 0, stopped = 0;
	unsigned grace = 0;

	(void)settings_file;
	if (parse_grace(a->operand[0], &grace) < 0)
		return args_error(a, "GRACE is whole seconds from 0 to 86400, not '%s'",
				  a->operand[0]);
	if (proc_catch_stops() < 0)
		return BERTH_SYSTEM_FAILURE;
	drop_terminal();
	p.argv = a->command;
	if (proc_start(&p) < 0 || proc_supervise(&p, grace, &status, &stopped) < 0)
		return BERTH_SYSTEM_FAILURE;
	*exit_status = proc_exit_code(status);
	return BERTH_OK;
}
