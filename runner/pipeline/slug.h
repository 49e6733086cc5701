/*
 * GitLab's slugs: CI_COMMIT_REF_SLUG and CI_PROJECT_PATH_SLUG (Gitlab::Utils.slugify) and
 * CI_ENVIRONMENT_SLUG (Gitlab::Slug::Environment), to the byte.
 */
#ifndef SLUG_H
#define SLUG_H

#include <stddef.h>

/*
 * CI_COMMIT_REF_SLUG / CI_PROJECT_PATH_SLUG: lowercase, every character not [a-z0-9] becomes
 * '-' (a UTF-8 character is one character, as in Ruby), the first 63, leading and trailing
 * '-' removed. Writes into out (at least 64 bytes; a smaller one gets a prefix).
 */
void slug_ref(const char *ref, char *out, size_t size);
/* CI_ENVIRONMENT_SLUG, by GitLab's rule (slug.c). out: at least 25 bytes. */
void slug_environment(const char *name, char *out, size_t size);

#endif
