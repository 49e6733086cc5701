/*
 * A .gitlab-ci.yml: node_parse on the bytes (and the tree printed), then pipeline_load on the
 * same bytes as the only file of a repository (includes, extends, !reference, default, stages)
 * and every job's scripts flattened.
 */
#include "fuzz.h"

#include "pipeline/model.h"
#include "pipeline/node.h"
#include "base/strvec.h"

static char file[4200];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(file, sizeof(file), "%s/.gitlab-ci.yml", fuzz_dir());
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const scripts[] = {"before_script", "script", "after_script"};
	struct node *root = NULL;
	struct pipeline p;
	char err[1024];
	size_t i, j;

	if (node_parse("fuzz.yml", (const char *)data, size, &root, err, sizeof(err)) == 0) {
		node_print(root, devnull, 0);
		node_free(root);
	}
	fuzz_write(file, data, size);
	memset(&p, 0, sizeof(p));
	if (pipeline_load(&p, fuzz_dir(), ".gitlab-ci.yml", NULL, NULL, err, sizeof(err)) < 0)
		return 0;
	for (i = 0; i < p.nr_jobs; i++) {
		if (pipeline_job(&p, p.jobs[i].name) == NULL)
			abort();
		for (j = 0; j < sizeof(scripts) / sizeof(scripts[0]); j++) {
			struct strvec lines = STRVEC_INIT;

			job_script(&p.jobs[i], scripts[j], &lines, err, sizeof(err));
			strvec_clear(&lines);
		}
	}
	pipeline_release(&p);
	return 0;
}
