/* Image references as a container runtime normalizes them, and finding them again. */
#include "unit.h"

#include "prune/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST	  "sha256:" HEX
#define OTHER_HEX "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define OTHER	  "sha256:" OTHER_HEX
#define REJECTED  NULL, NULL, NULL, NULL

static void test_parse(void **state)
{
	static const struct {
		const char *in, *host, *path, *tag, *digest; /* host NULL: refused */
	} cases[] = {
		/* Docker Hub: no host, official images, its other names */
		{"nginx", "docker.io", "library/nginx", "latest", ""},
		{"nginx:1.25", "docker.io", "library/nginx", "1.25", ""},
		{"nginx@" DIGEST, "docker.io", "library/nginx", "", DIGEST},
		{"user/app:1", "docker.io", "user/app", "1", ""},
		{"user/sub/app", "docker.io", "user/sub/app", "latest", ""},
		{"docker.io/nginx", "docker.io", "library/nginx", "latest", ""},
		{"docker.io/library/nginx:x", "docker.io", "library/nginx", "x", ""},
		{"index.docker.io/x/y", "docker.io", "x/y", "latest", ""},
		{"registry-1.docker.io/x/y:2", "docker.io", "x/y", "2", ""},
		{"index.docker.io/busybox", "docker.io", "library/busybox", "latest", ""},
		{"Docker.IO/x/y", "docker.io", "x/y", "latest", ""},
		/* hosts: a dot, a port, or localhost; lowercased */
		{"host:5000/a/b", "host:5000", "a/b", "latest", ""},
		{"localhost/app", "localhost", "app", "latest", ""},
		{"localhost:5000/app:v1", "localhost:5000", "app", "v1", ""},
		{"127.0.0.1:5000/group/app:t1", "127.0.0.1:5000", "group/app", "t1", ""},
		{"Registry.Example.COM/g/a", "registry.example.com", "g/a", "latest", ""},
		{"reg.io/a__b/c.d/e-f--g:Tag_1.x", "reg.io", "a__b/c.d/e-f--g", "Tag_1.x", ""},
		{"cr.selcloud.ru/reg/group/app:main-17", "cr.selcloud.ru", "reg/group/app",
		 "main-17", ""},
		/* a first component without a dot, port or localhost is a Docker Hub user */
		{"myhost/app", "docker.io", "myhost/app", "latest", ""},
		/* digests */
		{"host.io/a@" DIGEST, "host.io", "a", "", DIGEST},
		{"host.io/a:t@" DIGEST, "host.io", "a", "t", DIGEST},
		{"host.io:443/g/a:t@" OTHER, "host.io:443", "g/a", "t", OTHER},
		/* imageIDs from Pod status */
		{"docker-pullable://host.io/a@" DIGEST, "host.io", "a", "", DIGEST},
		{"docker-pullable://nginx@" DIGEST, "docker.io", "library/nginx", "", DIGEST},
		{"docker://host.io/a@" DIGEST, "host.io", "a", "", DIGEST},
		{"docker.io/library/nginx@" DIGEST, "docker.io", "library/nginx", "", DIGEST},
		/* refused */
		{"docker://" DIGEST, REJECTED},
		{DIGEST, REJECTED},
		{HEX, REJECTED},
		{"docker-pullable://", REJECTED},
		{"", REJECTED},
		{" nginx", REJECTED},
		{"nginx ", REJECTED},
		{"ng inx", REJECTED},
		{"Nginx", REJECTED},
		{"host.io/Group/app", REJECTED},
		{"user/App:1", REJECTED},
		{"host.io//a", REJECTED},
		{"host.io/a/", REJECTED},
		{"host.io/", REJECTED},
		{"/a", REJECTED},
		{"host.io/a:", REJECTED},
		{"host.io/a:-t", REJECTED},
		{"host.io/a:b:c", REJECTED},
		{"host.io/a@sha256:abc", REJECTED},
		{"host.io/a@sha512:" HEX HEX, REJECTED},
		{"host.io/a@sha256:" HEX "0", REJECTED},
		{"host.io/a@", REJECTED},
		{"host.io:99999/a", REJECTED},
		{"-host.io/a", REJECTED},
		{"host.io/a\n", REJECTED},
		{"http://host.io/a", REJECTED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct image_ref ref;
		int got = image_ref_parse(cases[i].in, &ref);

		if (!cases[i].host) {
			if (got == 0)
				fail_msg("accepted '%s' as %s/%s:%s@%s", cases[i].in, ref.host,
					 ref.path, ref.tag, ref.digest);
			continue;
		}
		if (got != 0)
			fail_msg("refused '%s'", cases[i].in);
		assert_string_equal(ref.host, cases[i].host);
		assert_string_equal(ref.path, cases[i].path);
		assert_string_equal(ref.tag, cases[i].tag);
		assert_string_equal(ref.digest, cases[i].digest);
		assert_string_equal(ref.where, "");
	}
}

static void test_parse_lengths(void **state)
{
	char in[700];
	struct image_ref ref;
	size_t n;

	(void)state;
	/* "host.io/" is 8 characters: a name of 255 parses, 256 does not. */
	memcpy(in, "host.io/", 8);
	for (n = 8; n < 255; n++)
		in[n] = 'a';
	in[n] = '\0';
	assert_int_equal(image_ref_parse(in, &ref), 0);
	assert_int_equal(strlen(ref.path), 255 - 8);
	strcat(in, "a");
	assert_int_equal(image_ref_parse(in, &ref), -1);

	/* A tag of 128 characters parses, 129 does not. */
	snprintf(in, sizeof(in), "host.io/a:");
	for (n = strlen(in); n < 10 + 128; n++)
		in[n] = 't';
	in[n] = '\0';
	assert_int_equal(image_ref_parse(in, &ref), 0);
	assert_int_equal(strlen(ref.tag), 128);
	strcat(in, "t");
	assert_int_equal(image_ref_parse(in, &ref), -1);

	/* Nothing over 512 characters is looked at. */
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(image_ref_parse(in, &ref), -1);
}

static void add(struct image_refs *refs, const char *s, const char *where)
{
	struct image_ref *v = refs->v;

	if (refs->nr == refs->alloc) {
		refs->alloc = refs->alloc ? 2 * refs->alloc : 8;
		v = realloc(refs->v, refs->alloc * sizeof(*v));
		assert_non_null(v);
		refs->v = v;
	}
	assert_int_equal(image_ref_parse(s, &refs->v[refs->nr]), 0);
	snprintf(refs->v[refs->nr].where, sizeof(refs->v[refs->nr].where), "%s", where);
	refs->nr++;
}

static void test_find(void **state)
{
	static const struct {
		const char *host, *path, *tag, *digest, *where; /* where NULL: not found */
	} cases[] = {
		{"reg.io", "group/app", "t1", NULL, "ns-a/Pod/web"},
		{"reg.io", "group/app", "t1", "", "ns-a/Pod/web"},
		{"REG.IO", "group/app", "t1", NULL, "ns-a/Pod/web"},
		{"reg.io", "group/app", "t2", NULL, "ns-b/Deployment/api"},
		{"reg.io", "group/app", "t3", NULL, NULL},
		{"reg.io", "group/app", NULL, DIGEST, "ns-c/ReplicaSet/rs"},
		{"reg.io", "group/app", "t3", DIGEST, "ns-c/ReplicaSet/rs"},
		{"reg.io", "group/app", "", OTHER, "ns-d/Pod/by-id"},
		{"reg.io", "group/app", "t9", "sha256:" HEX "0", NULL},
		{"reg.io", "group/app", NULL, NULL, NULL},
		{"reg.io", "group/app", "", "", NULL},
		{"reg.io", "group/other", "t1", NULL, NULL},
		{"reg.io", "group", "t1", NULL, NULL},
		{"reg.io:5000", "group/app", "t1", NULL, NULL},
		{"other.io", "group/app", "t1", NULL, NULL},
		{"reg.io", "group/app", "latest", NULL, "ns-e/Job/bare"},
		/* Docker Hub under any of its names; digest-only refs have no tag to match */
		{"docker.io", "library/nginx", "latest", NULL, "ns-f/Pod/nginx"},
		{"index.docker.io", "library/nginx", "latest", NULL, "ns-f/Pod/nginx"},
		{"registry-1.docker.io", "library/nginx", "latest", NULL, "ns-f/Pod/nginx"},
		{"docker.io", "library/nginx", "", NULL, NULL},
	};
	struct image_refs refs = {0};
	size_t i;

	(void)state;
	add(&refs, "reg.io/group/app:t1", "ns-a/Pod/web");
	add(&refs, "reg.io/group/app:t2", "ns-b/Deployment/api");
	add(&refs, "reg.io/group/app@" DIGEST, "ns-c/ReplicaSet/rs");
	add(&refs, "docker-pullable://reg.io/group/app@" OTHER, "ns-d/Pod/by-id");
	add(&refs, "reg.io/group/app", "ns-e/Job/bare");
	add(&refs, "nginx", "ns-f/Pod/nginx");
	add(&refs, "reg.io/group/app:t1", "ns-g/Pod/second");
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct image_ref *r = image_refs_find(&refs, cases[i].host, cases[i].path,
							    cases[i].tag, cases[i].digest);

		if (!cases[i].where && r)
			fail_msg("case %zu: found %s", i, r->where);
		if (cases[i].where && !r)
			fail_msg("case %zu: %s/%s:%s@%s not found", i, cases[i].host, cases[i].path,
				 cases[i].tag ? cases[i].tag : "(null)",
				 cases[i].digest ? cases[i].digest : "(null)");
		if (cases[i].where)
			assert_string_equal(r->where, cases[i].where);
	}
	image_refs_release(&refs);
	assert_null(refs.v);
	assert_int_equal(refs.nr, 0);
	assert_null(image_refs_find(&refs, "reg.io", "group/app", "t1", NULL));
	image_refs_release(&refs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
