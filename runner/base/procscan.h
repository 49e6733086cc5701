/*
 * Reading /proc: every process, one's state and parent, and the processes marked as a job's
 * (an environment entry such as BERTH_JOB_DIR=...), which cleanup and gc
 * look for and end. Starting and supervising children is proc.h's.
 */
#ifndef PROCSCAN_H
#define PROCSCAN_H

#include <sys/types.h>

/* How long SIGKILL may take before berth stops waiting: only a process stuck in the kernel
 * (uninterruptible sleep on a hung mount) outlives it. */
#define PROCSCAN_KILL_TIMEOUT_MS 5000

/* Calls visit(pid, data) for every process but this one; stops at and returns the first
 * non-zero it returns; -1 after reporting when /proc cannot be listed. */
int procscan_each(int (*visit)(pid_t pid, void *data), void *data);
/* The state letter ('R', 'S', 'Z' ...) and parent of `pid`: 0, or -1 when it is gone. */
int procscan_stat(pid_t pid, char *state, pid_t *ppid);
/* When `pid` started, in clock ticks after boot (/proc/PID/stat's starttime): with the pid, it
 * names one process, never a later one given the same number. 0, or -1 when it is gone. */
int procscan_start_time(pid_t pid, unsigned long long *ticks);
/* 1 when `pid` is this process's parent, or its parent's parent, and so on. */
int procscan_is_ancestor(pid_t pid);

/*
 * Ends every process whose environment holds `entry` ("NAME=value") but for this one and its
 * ancestors (a wrapper or a shell that started berth may carry the same entry): SIGTERM, then
 * SIGKILL for those still there after `grace` seconds. Returns how many were found, or -1 after
 * reporting. The fallback for hosts without a usable cgroup (base/cgroup.h); a job user's
 * processes are found by uid without /proc (proc_end_user).
 */
int procscan_kill_marked(const char *entry, unsigned grace);
/* How many live processes carry `entry` in their environment, this one and its ancestors not
 * counted; -1 after reporting. */
int procscan_count_marked(const char *entry);
/* How many processes of real uid `uid` live (zombies not counted); -1 after reporting. Reads
 * every process's status: only when the kernel's count says some (base/proc.h). */
int procscan_count_uid(uid_t uid);
/* SIGKILL, from this process, to every live process of real uid `uid`: how many, or -1 after
 * reporting. For processes that stop or kill every helper sent as their uid (proc.h). */
int procscan_kill_uid(uid_t uid);

#endif
