/*
 * The bwrap sandbox's network (settings `bwrap_network`, docs/bwrap.md, "The network"). With
 * `private`, the sandbox gets a network namespace of its own, and slirp4netns, a user-mode
 * network stack, connects it to the outside: outbound connections leave from the host's
 * sockets, but the host's loopback and its abstract Unix sockets (both scoped by network
 * namespace) are not there to be reached. `host` shares the host's namespace; `none` leaves
 * a loopback only.
 */
#ifndef BWRAP_NET_H
#define BWRAP_NET_H

#include "base/strvec.h"

struct job_user;
struct proc;
struct settings;

/*
 * bwrap's options for a private network: --unshare-net, the descriptors bwrap_net_start hands
 * bwrap, the resolver the sandbox asks. After the system's binds (they may replace one);
 * nothing for the others. 0, or -1 after reporting.
 */
int bwrap_net_args(struct strvec *argv, const struct settings *s);

/*
 * prepare: 0 when the network `s` asks for can be set up here for user `u` (NULL: berth's
 * own), else -1 after saying what to install or fix.
 */
int bwrap_net_check(const struct settings *s, const struct job_user *u);

/*
 * Starts bwrap (`p`, from a command line with bwrap_net_args) and, for a private network,
 * slirp4netns as `u` attached to the sandbox's namespace; the script starts only once that is
 * up. slirp4netns ends with the stage (proc_supervise ends it with what the stage left) or with
 * berth. 0, or -1 after reporting, with neither left running.
 */
int bwrap_net_start(struct proc *p, const struct settings *s, const struct job_user *u);

#endif
