/*
 * A docker config directory's config.json, as docker, werf and skopeo read it:
 * {"auths": {"HOST": {"auth": base64("user:password")}}}. Other keys and entries are kept.
 */
#ifndef DOCKER_CONFIG_H
#define DOCKER_CONFIG_H

#include "base/secret.h"

/* Creates `dir` (0700) with an empty {"auths": {}} when it has no config.json yet. */
int docker_config_init(const char *dir);
/* Stores `auth` (already base64) for `host`, written atomically; 0 or -1. */
int docker_config_set(const char *dir, const char *host, const struct secret *auth);
/* Removes the entry for `host` (every entry when NULL); how many went, or -1 on error. */
int docker_config_remove(const char *dir, const char *host);

/*
 * The login stored for `host`: its auth decoded, "user:password", into `login`. 1 when found,
 * 0 when the config has none for the host, -1 after reporting a broken file or entry.
 */
int docker_config_get(const char *dir, const char *host, struct secret *login);

#endif
