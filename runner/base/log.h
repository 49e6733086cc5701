/*
 * Messages for people, one line each. Everything goes to stderr: during `config` stdout carries
 * only JSON, and in the other stages stderr reaches the job log just the same. Messages are
 * lowercase, failure first, subject quoted (git's CodingGuidelines). Never pass a secret.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Prints "berth: error: ..." and returns -1, so `return error(...)` reports and fails. */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* error() with ": strerror(errno)" appended. */
int error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * What every message above prints of `in`, into `out`, cut to `size`: the userinfo of a URL
 * masked, the "user:password@" after a scheme's "://" printed as "***@" (a kubeconfig's server
 * or a WERF_REPO may carry credentials, and messages name them); control characters (below
 * 0x20, 0x7f, and C1's in UTF-8) as "\n", "\r", "\t" or "\xNN", so a job's variable quoted in a
 * message cannot start a forged line or send a terminal escape: one message, one line.
 */
void log_printable(char *out, size_t size, const char *in);

#endif
