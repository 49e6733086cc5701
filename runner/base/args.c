#include "base/args.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* "berth NAME: <message>" (made printable: it may quote the user's input), then the usage. */
static void vfail(const struct args *a, const char *fmt, va_list ap)
{
	char msg[1024], line[1200];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_printable(line, sizeof(line), msg);
	if (!a->cmd) {
		fprintf(stderr, "berth: %s\n", line);
		return;
	}
	fprintf(stderr, "berth %s: %s\n", a->cmd->name, line);
	fputs("usage: ", stderr);
	args_usage_line(a->cmd, stderr);
}

static int fail(const struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const struct args *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(a, fmt, ap);
	va_end(ap);
	return -1;
}

enum berth_result args_error(const struct args *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(a, fmt, ap);
	va_end(ap);
	return BERTH_USAGE_ERROR;
}

/* The option `arg` names: its first `len` bytes are the name (or an alias), the rest "=VALUE". */
static const struct command_option *find(const struct command *c, const char *arg, size_t len)
{
	const struct command_option *o;

	for (o = c->options; o->name; o++)
		if ((strlen(o->name) == len && !strncmp(o->name, arg, len)) ||
		    (o->alias && !strcmp(o->alias, arg)))
			return o;
	return NULL;
}

/* The option at argv[*i], with its value from "=VALUE" or the next argument. */
static int take_option(struct args *a, int argc, char **argv, int *i)
{
	const char *arg = argv[*i], *eq = strncmp(arg, "--", 2) ? NULL : strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct command_option *o = find(a->cmd, arg, len);
	const char *value = eq ? eq + 1 : "";

	if (!o)
		return fail(a, "unknown option '%.*s'", (int)len, arg);
	if (!o->value && eq)
		return fail(a, "option '%s' takes no value", o->name);
	if (o->value && !eq) {
		/* "--" is never a value: `lock K --timeout -- CMD` forgot the seconds */
		if (*i + 1 >= argc || !strcmp(argv[*i + 1], "--"))
			return fail(a, "option '%s' needs a value (%s)", o->name, o->value);
		value = argv[++*i];
	}
	a->opt[a->nr_opt].opt = o;
	a->opt[a->nr_opt++].value = value;
	return 0;
}

/* The n-th word of the operands' synopsis, "..." and brackets dropped: what is missing. */
static void operand_name(const struct command *c, int n, char *out, size_t size)
{
	const char *p = c->operands ? c->operands : "";
	size_t len;

	while (n-- > 0 && strchr(p, ' '))
		p = strchr(p, ' ') + 1;
	len = strcspn(p, " .[]");
	snprintf(out, size, "%.*s", (int)len, p);
}

static int check_operands(const struct args *a)
{
	const struct command *c = a->cmd;
	char name[64];

	if (a->nr_operand < c->min) {
		operand_name(c, a->nr_operand, name, sizeof(name));
		return fail(a, "missing argument %s", name);
	}
	if (c->max >= 0 && a->nr_operand > c->max)
		return fail(a, "unexpected argument '%s'", a->operand[c->max]);
	if ((c->flags & ARGS_COMMAND) && (!a->command || !a->command[0]))
		return fail(a, "missing argument CMD after '--'");
	return 0;
}

int args_parse(struct args *a, const struct command *c, int argc, char **argv)
{
	int i, options_end = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = c;
	a->opt = calloc((size_t)argc, sizeof(*a->opt));
	a->operand = calloc((size_t)argc + 1, sizeof(*a->operand));
	if (!a->opt || !a->operand)
		return error("out of memory");
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!options_end && !strcmp(arg, "--")) {
			if (c->flags & ARGS_COMMAND) {
				a->command = argv + i + 1;
				break;
			}
			options_end = 1;
		} else if (options_end || arg[0] != '-' || !arg[1]) {
			a->operand[a->nr_operand++] = argv[i];
			if (c->flags & ARGS_STOP_AT_OPERAND)
				options_end = 1;
		} else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			return 1;
		} else if (take_option(a, argc, argv, &i) < 0) {
			return -1;
		}
	}
	return check_operands(a);
}

void args_release(struct args *a)
{
	free(a->opt);
	free(a->operand);
	a->opt = NULL;
	a->operand = NULL;
}

const char *args_next(const struct args *a, const char *name, size_t *pos)
{
	if (a->cmd && !find(a->cmd, name, strlen(name))) {
		/* a typo in berth's own code: no test may pass with it */
		fprintf(stderr, "berth: BUG: berth %s has no option '%s'\n", a->cmd->name, name);
		abort();
	}
	for (; *pos < a->nr_opt; (*pos)++)
		if (!strcmp(a->opt[*pos].opt->name, name))
			return a->opt[(*pos)++].value;
	return NULL;
}

const char *args_value(const struct args *a, const char *name)
{
	const char *v, *last = NULL;
	size_t pos = 0;

	while ((v = args_next(a, name, &pos)))
		last = v;
	return last;
}

int args_flag(const struct args *a, const char *name)
{
	size_t pos = 0;

	return args_next(a, name, &pos) != NULL;
}

void args_usage_line(const struct command *c, FILE *out)
{
	const struct command_option *o;

	fprintf(out, "berth %s", c->name);
	for (o = c->options; o->name; o++)
		fprintf(out, " [%s%s%s%s%s]%s", o->alias ? o->alias : "", o->alias ? "|" : "",
			o->name, o->value ? " " : "", o->value ? o->value : "",
			o->repeat ? "..." : "");
	fprintf(out, "%s%s\n", c->operands ? " " : "", c->operands ? c->operands : "");
}

void args_help(const struct command *c, FILE *out)
{
	const struct command_option *o;
	char left[64];

	fputs("usage: ", out);
	args_usage_line(c, out);
	fprintf(out, "%s\n\noptions:\n", c->summary);
	for (o = c->options; o->name; o++) {
		snprintf(left, sizeof(left), "%s%s%s%s%s", o->alias ? o->alias : "",
			 o->alias ? ", " : "", o->name, o->value ? " " : "",
			 o->value ? o->value : "");
		fprintf(out, "  %-24s %s%s\n", left, o->help, o->repeat ? " (repeatable)" : "");
	}
	fprintf(out, "  %-24s %s\n", "-h, --help", "print this help and exit");
	if (c->note)
		fprintf(out, "\n%s\n", c->note);
}
