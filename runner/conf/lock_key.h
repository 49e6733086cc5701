/*
 * Lock keys (docs/locks.md): what a key may be, and the key that serializes deploys. Below the
 * settings, which check the keys they name (cleanup_lock); the locks themselves are lock/.
 */
#ifndef LOCK_KEY_H
#define LOCK_KEY_H

#include <stddef.h>

#define LOCK_KEY_MAX 200

/*
 * deploy/<project>/<environment slug> (an empty slug: "default"), the key that serializes
 * deploys. 0, or -1 after reporting a slug that is not [a-z0-9-].
 */
int lock_deploy_key(const char *project, const char *slug, char *key, size_t size);
/* 0 when `key` is a valid lock key (docs/locks.md), else -1 with a reason in `why`. */
int lock_valid_key(const char *key, char *why, size_t why_size);

#endif
