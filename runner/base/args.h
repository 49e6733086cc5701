/*
 * Every command's command line, parsed one way from the command table in main.c: options
 * ("--name", "--name VALUE", "--name=VALUE", or an alias such as "-o VALUE") anywhere among the
 * operands, "--" ending the options, and -h/--help asking for the command's usage. The table is
 * the one source of what each command takes: the parser, `berth help`, each command's --help,
 * the usage line after a mistake and packaging/berth.bash-completion (checked by
 * tests/e2e/test_cli.py) all follow it.
 */
#ifndef ARGS_H
#define ARGS_H

#include "base/berth.h"

#include <stddef.h>
#include <stdio.h>

#define COMMAND_OPTIONS_MAX 12

struct command_option {
	const char *name;  /* "--timeout" */
	const char *alias; /* "-o", or NULL */
	const char *value; /* what it takes, as usage shows it ("S"); NULL: a flag */
	int repeat;	   /* may be given more than once, each value counting */
	const char *help;
};

/* Options end at the first operand: the rest goes to another program untouched (werf). */
#define ARGS_STOP_AT_OPERAND 1
/* "-- CMD [ARGS...]" must end the line; CMD and its arguments are never parsed (lock). */
#define ARGS_COMMAND 2

struct args;
/* A command (cmd/commands.h): what it returns, and in *exit_status the exit status of the
 * child it ran for the user, when it ran one. */
typedef enum berth_result (*command_fn)(const struct args *a, const char *settings_file,
					int *exit_status);

struct command {
	const char *name;
	command_fn fn;
	const char *operands; /* as usage shows them: "KEY -- CMD [ARGS...]"; NULL: none */
	int min, max;	      /* operands (before "--" with ARGS_COMMAND); max -1: any number */
	unsigned flags;
	const char *summary;
	const char *note;				    /* a paragraph for --help, or NULL */
	struct command_option options[COMMAND_OPTIONS_MAX]; /* ends at the first without name */
};

struct args_option {
	const struct command_option *opt;
	const char *value; /* "" for a flag */
};

struct args {
	const struct command *cmd; /* NULL when a command calls another one directly */
	struct args_option *opt;   /* in command-line order */
	size_t nr_opt;
	char **operand; /* NULL-terminated */
	int nr_operand;
	char **command; /* ARGS_COMMAND: what follows "--", NULL-terminated */
};

/*
 * Parses argv[1..] (argv[0] is the command's name) for `c`. 0; 1 when -h/--help was asked;
 * -1 after printing "berth NAME: what is wrong" and the usage line to stderr.
 */
int args_parse(struct args *a, const struct command *c, int argc, char **argv);
void args_release(struct args *a);

/* The next value of option `name` from *pos on (start at 0), or NULL; flags give "". */
const char *args_next(const struct args *a, const char *name, size_t *pos);
/* The last value given to `name`, or NULL. */
const char *args_value(const struct args *a, const char *name);
int args_flag(const struct args *a, const char *name);

/* "berth NAME: <message>" and the usage line to stderr; returns BERTH_USAGE_ERROR. */
enum berth_result args_error(const struct args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "berth NAME [OPTIONS] OPERANDS", as every usage message starts. */
void args_usage_line(const struct command *c, FILE *out);
/* The usage line, summary, note and every option with its help: what --help prints. */
void args_help(const struct command *c, FILE *out);

#endif
