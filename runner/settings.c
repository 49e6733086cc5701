#include "settings.h"

#include "executor.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define SETTINGS_MAX_SIZE (1 << 20)

enum kind { K_PATH, K_BOOL, K_SECONDS, K_EXECUTOR };

struct key {
	const char *name;
	enum kind kind;
	size_t offset;
};

static const struct key keys[] = {
	{"state_dir", K_PATH, offsetof(struct settings, state_dir)},
	{"builds_dir", K_PATH, offsetof(struct settings, builds_dir)},
	{"cache_dir", K_PATH, offsetof(struct settings, cache_dir)},
	{"builds_per_job", K_BOOL, offsetof(struct settings, builds_per_job)},
	{"executor", K_EXECUTOR, offsetof(struct settings, executor)},
	{"kill_grace", K_SECONDS, offsetof(struct settings, kill_grace)},
};

#define FIELD(s, k, type) ((type *)((char *)(s) + (k)->offset))

static const char *key_names(void)
{
	static char names[256];
	size_t i;

	if (names[0])
		return names;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (i)
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, keys[i].name, sizeof(names) - strlen(names) - 1);
	}
	return names;
}

static const struct key *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static int parse_bool(const char *v, int *out)
{
	static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!strcmp(v, yes[i]))
			return *out = 1, 0;
		if (!strcmp(v, no[i]))
			return *out = 0, 0;
	}
	return -1;
}

/* "30", "30s", "2m", "1h" -> seconds; at most a day, which no grace period needs to exceed. */
static int parse_seconds(const char *v, unsigned *out)
{
	unsigned long n, unit = 1;
	char *end;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno)
		return -1;
	if (!strcmp(end, "m"))
		unit = 60;
	else if (!strcmp(end, "h"))
		unit = 3600;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	if (n > 86400 / unit)
		return -1;
	*out = (unsigned)(n * unit);
	return 0;
}

static int set_string(char **field, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return error("out of memory");
	free(*field);
	*field = copy;
	return 0;
}

static int set_value(struct settings *s, const struct key *k, const char *v, const char *where)
{
	switch (k->kind) {
	case K_PATH:
		if (v[0] != '/' || strlen(v) >= PATH_MAX / 2)
			return error("%s: '%s' must be an absolute path", where, k->name);
		return set_string(FIELD(s, k, char *), v);
	case K_BOOL:
		if (parse_bool(v, FIELD(s, k, int)) < 0)
			return error("%s: '%s' must be true or false, not '%s'", where, k->name, v);
		return 0;
	case K_SECONDS:
		if (parse_seconds(v, FIELD(s, k, unsigned)) < 0)
			return error(
				"%s: '%s' must be a duration such as 10, 10s or 2m (at most 24h), "
				"not '%s'",
				where, k->name, v);
		return 0;
	case K_EXECUTOR:
		if (!executor_find(v))
			return error("%s: unknown executor '%s' (known: %s)", where, v,
				     executor_names());
		return set_string(FIELD(s, k, char *), v);
	}
	return -1;
}

static int defaults(struct settings *s)
{
	const char *base = NULL, *home;
	char buf[PATH_MAX];

	/* root keeps state under /var/lib; a developer's own runs under their state home. */
	if (geteuid() == 0)
		base = "/var/lib/berth";
	else if ((base = getenv("XDG_STATE_HOME")) && *base == '/')
		snprintf(buf, sizeof(buf), "%s/berth", base), base = buf;
	else if ((home = getenv("HOME")) && *home == '/')
		snprintf(buf, sizeof(buf), "%s/.local/state/berth", home), base = buf;
	else
		return error("no state directory: set 'state_dir' in the settings, or HOME");
	s->kill_grace = 10;
	s->builds_per_job = 0;
	if (set_string(&s->state_dir, base) < 0 || set_string(&s->executor, "shell") < 0)
		return -1;
	return 0;
}

/* builds_dir and cache_dir follow state_dir unless the file set them. */
static int derive(struct settings *s)
{
	char buf[PATH_MAX];

	if (!s->builds_dir) {
		snprintf(buf, sizeof(buf), "%s/builds", s->state_dir);
		if (set_string(&s->builds_dir, buf) < 0)
			return -1;
	}
	if (!s->cache_dir) {
		snprintf(buf, sizeof(buf), "%s/cache", s->state_dir);
		if (set_string(&s->cache_dir, buf) < 0)
			return -1;
	}
	return 0;
}

static const char *event_what(yaml_event_type_t t)
{
	switch (t) {
	case YAML_ALIAS_EVENT:
		return "an alias";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	default:
		return "something else";
	}
}

/* Settings are one flat mapping of scalars; anything else is refused with its line. */
static int parse_events(struct settings *s, const char *name, yaml_parser_t *p)
{
	enum { TOP, MAP_KEY, MAP_VALUE, END } state = TOP;
	const struct key *k = NULL;
	unsigned seen = 0;
	yaml_event_t ev;
	char where[PATH_MAX + 32];
	int ret = -1, done = 0;

	while (!done) {
		if (!yaml_parser_parse(p, &ev))
			return error("%s:%zu: invalid YAML: %s", name, p->problem_mark.line + 1,
				     p->problem ? p->problem : "parse error");
		snprintf(where, sizeof(where), "%s:%zu", name, ev.start_mark.line + 1);
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_MAPPING_START_EVENT:
			if (state != TOP) {
				error("%s: '%s' must be a single value, not a mapping", where,
				      k ? k->name : "?");
				goto fail;
			}
			state = MAP_KEY;
			break;
		case YAML_MAPPING_END_EVENT:
			state = END;
			break;
		case YAML_SCALAR_EVENT: {
			const char *v = (const char *)ev.data.scalar.value;
			if (state == TOP && !*v)
				break; /* an empty file: defaults only */
			if (state == MAP_KEY) {
				k = find_key(v);
				if (!k) {
					error("%s: unknown key '%s' (known: %s)", where, v,
					      key_names());
					goto fail;
				}
				if (seen & (1u << (k - keys))) {
					error("%s: '%s' is set twice", where, v);
					goto fail;
				}
				seen |= 1u << (k - keys);
				state = MAP_VALUE;
			} else if (state == MAP_VALUE) {
				if (!*v && ev.data.scalar.plain_implicit) {
					error("%s: '%s' needs a value", where, k->name);
					goto fail;
				}
				if (set_value(s, k, v, where) < 0)
					goto fail;
				state = MAP_KEY;
			} else {
				error("%s: settings must be a mapping of keys to values", where);
				goto fail;
			}
			break;
		}
		default:
			error("%s: %s is not allowed here: settings are plain 'key: value' lines",
			      where, event_what(ev.type));
			goto fail;
		}
		yaml_event_delete(&ev);
	}
	return 0;
fail:
	yaml_event_delete(&ev);
	return ret;
}

int settings_parse(struct settings *s, const char *name, const char *buf, size_t len)
{
	yaml_parser_t p;
	int ret;

	if (defaults(s) < 0)
		return -1;
	if (!yaml_parser_initialize(&p))
		return error("out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	ret = parse_events(s, name, &p);
	yaml_parser_delete(&p);
	if (ret < 0 || derive(s) < 0)
		return -1;
	return 0;
}

static int read_file(const char *file, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return error_errno("cannot open settings '%s'", file);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SETTINGS_MAX_SIZE) {
		close(fd);
		return error("cannot read settings '%s': not a regular file under 1 MiB", file);
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n < 0) {
		error_errno("cannot read settings '%s'", file);
		free(buf);
		return -1;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int settings_load(struct settings *s, const char *file)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	if (!file)
		file = getenv("BERTH_CONFIG");
	if (!file || !*file) {
		if (access(SETTINGS_DEFAULT_FILE, F_OK) < 0)
			return settings_parse(s, "(defaults)", "", 0);
		file = SETTINGS_DEFAULT_FILE;
	}
	if (read_file(file, &buf, &len) < 0)
		return -1;
	ret = settings_parse(s, file, buf, len);
	free(buf);
	if (ret == 0 && set_string(&s->file, file) < 0)
		ret = -1;
	return ret;
}

void settings_print(const struct settings *s, FILE *out)
{
	fprintf(out, "# effective settings, from %s\n", s->file ? s->file : "embedded defaults");
	fprintf(out, "state_dir: %s\n", s->state_dir);
	fprintf(out, "builds_dir: %s\n", s->builds_dir);
	fprintf(out, "cache_dir: %s\n", s->cache_dir);
	fprintf(out, "builds_per_job: %s\n", s->builds_per_job ? "true" : "false");
	fprintf(out, "executor: %s\n", s->executor);
	fprintf(out, "kill_grace: %us\n", s->kill_grace);
}

void settings_release(struct settings *s)
{
	free(s->file);
	free(s->state_dir);
	free(s->builds_dir);
	free(s->cache_dir);
	free(s->executor);
	memset(s, 0, sizeof(*s));
}
