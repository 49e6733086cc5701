#include "job/job.h"

#include "base/array.h"
#include "base/json_file.h"
#include "base/log.h"
#include "conf/vars.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Response files carry the whole job (steps, variables): generous, but not unbounded. */
#define RESPONSE_MAX_SIZE (64 << 20)
#define PROJECT_PATH_MAX  255

int job_valid_id(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	return 0;
}

static int valid_path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/*
 * GitLab paths: namespace/project, so two parts at least, each of [A-Za-z0-9_.-], none empty,
 * none starting with '.' or '-'.
 */
int job_valid_project_path(const char *s)
{
	size_t n = strlen(s), i, part = 0;

	if (n == 0 || n > PROJECT_PATH_MAX || !strchr(s, '/'))
		return -1;
	for (i = 0; i <= n; i++) {
		char c = s[i];

		if (c == '/' || c == '\0') {
			if (part == 0)
				return -1;
			part = 0;
			continue;
		}
		if (!valid_path_char(c) || (part == 0 && (c == '.' || c == '-')))
			return -1;
		part++;
	}
	return 0;
}

/* A field of the response file: its source name for messages, and its value. */
struct field {
	const char *json_path; /* for messages */
	const char *key;       /* in the response file's top level, or in job_info */
	int in_job_info;
	int numeric;	      /* a JSON integer, else a JSON string */
	const char *variable; /* the CI/CD variable standing in, without the runner's prefix */
	int (*valid)(const char *);
	const char *rule;
	char **out;
};

static char *integer_text(json_t *v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return strdup(buf);
}

/* Takes one field from the response file; 1 when found, 0 when absent, -1 when bad. */
static int from_response(const struct field *f, json_t *v, const char *file)
{
	char *text;

	if (!v || json_is_null(v))
		return 0;
	if (f->numeric && json_is_integer(v) && json_integer_value(v) > 0)
		text = integer_text(v);
	else if (!f->numeric && json_is_string(v))
		text = strdup(json_string_value(v));
	else
		return error("invalid %s in JOB_RESPONSE_FILE '%s': %s; the runner sent a job "
			     "berth cannot use",
			     f->json_path, file, f->rule);
	if (!text)
		return error("out of memory");
	if (f->valid(text) < 0) {
		/* Names the bad value: it is an id or a path, never a secret. */
		error("invalid %s '%s' in JOB_RESPONSE_FILE '%s': %s", f->json_path, text, file,
		      f->rule);
		free(text);
		return -1;
	}
	*f->out = text;
	return 1;
}

static int from_env(const struct field *f)
{
	const char *v = getenv(vars_spelling(&vars_runner, f->variable));

	/* Set but empty is a job variable overriding the runner's value: the user's to fix. */
	if (!v)
		return 0;
	if (f->valid(v) < 0)
		return error("invalid %s %s '%s': %s; fix the job's variables", vars_runner.kind,
			     f->variable, v, f->rule);
	*f->out = strdup(v);
	return *f->out ? 1 : error("out of memory");
}

/*
 * The trust domain, "<project id>/protected" or "<project id>/unprotected", from the response
 * file alone: a job whose project or protection the runner did not say has none.
 */
static int set_domain(struct job *job, json_t *root)
{
	json_t *protected = json_object_get(json_object_get(root, "git_info"), "protected");

	if (!json_is_boolean(protected))
		return 0;
	if (asprintf(&job->domain, "%s/%s", job->project_id,
		     json_is_true(protected) ? "protected" : "unprotected") < 0) {
		job->domain = NULL;
		return error("out of memory");
	}
	return 0;
}

enum berth_result job_load(struct job *job)
{
	static const char *id_rule = "must be 1 to 19 decimal digits";
	static const char *path_rule = "must be a GitLab project path such as 'group/project' "
				       "(letters, digits, '_', '-', '.'; no '..', no leading '/')";
	const struct field fields[] = {
		{"id", "id", 0, 1, "CI_JOB_ID", job_valid_id, id_rule, &job->id},
		{"job_info.project_id", "project_id", 1, 1, "CI_PROJECT_ID", job_valid_id, id_rule,
		 &job->project_id},
		{"job_info.project_full_path", "project_full_path", 1, 0, "CI_PROJECT_PATH",
		 job_valid_project_path, path_rule, &job->project_path},
	};
	const char *file = getenv("JOB_RESPONSE_FILE");
	json_t *root = NULL, *info = NULL;
	enum berth_result ret = BERTH_OK;
	size_t i;

	memset(job, 0, sizeof(*job));
	if (file && *file) {
		root = json_read_object(file, RESPONSE_MAX_SIZE, 0, "JOB_RESPONSE_FILE", NULL);
		if (!root)
			return BERTH_SYSTEM_FAILURE;
		info = json_object_get(root, "job_info");
	}
	for (i = 0; i < ARRAY_SIZE(fields) && ret == BERTH_OK; i++) {
		const struct field *f = &fields[i];
		int got = 0;

		if (root)
			got = from_response(
				f, json_object_get(f->in_job_info ? info : root, f->key), file);
		/* The id decides the workspace: never let a job variable stand in for it. */
		if (root && got == 0 && !f->in_job_info)
			got = error("no id in JOB_RESPONSE_FILE '%s': the runner sent a job berth "
				    "cannot use",
				    file);
		/* The domain only with a project id the runner gave. */
		if (got == 1 && f->out == &job->project_id)
			got = set_domain(job, root) < 0 ? -1 : 1;
		if (got < 0)
			ret = BERTH_SYSTEM_FAILURE;
		else if (got == 0 && from_env(f) < 0)
			ret = BERTH_BUILD_FAILURE;
	}
	json_decref(root);
	if (ret == BERTH_OK && !job->id) {
		error("no job id: neither JOB_RESPONSE_FILE nor the %s CI_JOB_ID is set; berth "
		      "stages are run by GitLab Runner's custom executor",
		      vars_runner.kind);
		ret = BERTH_SYSTEM_FAILURE;
	}
	if (ret != BERTH_OK)
		job_release(job);
	return ret;
}

void job_release(struct job *job)
{
	free(job->id);
	free(job->project_id);
	free(job->project_path);
	free(job->domain);
	memset(job, 0, sizeof(*job));
}
