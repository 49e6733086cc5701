/*
 * The images a Kubernetes cluster references, so that `berth prune` never deletes one: every
 * container, init container and ephemeral container image of Pods, Deployments,
 * StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs in all namespaces, and the digests
 * Pods report running (status.*containerStatuses[].imageID). Listed with `limit`/`continue`
 * pages through runner/kube/kube.c.
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include "base/berth.h"

#include <stddef.h>

/* One reference, normalized: docker.io for a name without a registry, library/ for an
 * official image, "latest" for a name with neither tag nor digest. */
struct image_ref {
	char host[256];	 /* "docker.io", "registry.example.com:5000" (lowercase) */
	char path[256];	 /* "library/nginx", "group/app" */
	char tag[129];	 /* "" when the reference is by digest alone */
	char digest[80]; /* "sha256:<64 hex>", or "" */
	char where[160]; /* the first object that uses it: "namespace/Kind/name" */
};

struct image_refs {
	struct image_ref *v;
	size_t nr, alloc;
	size_t objects; /* how many objects were looked at */
};

/*
 * Normalizes a reference as a container runtime reads it ("nginx", "user/app:1",
 * "host:5000/a/b@sha256:...", an imageID such as "docker-pullable://host/a@sha256:..."). 0, or
 * -1 when it is not an image reference.
 */
int image_ref_parse(const char *s, struct image_ref *out);

/*
 * Lists every reference in the cluster of the kubeconfig at `path` into `out` (appended,
 * duplicates dropped). Kinds the server does not serve (batch/v1 CronJobs before 1.21: then
 * batch/v1beta1) are tried in their older version. BERTH_OK, or a failure class after
 * reporting what failed (the server, the kind, the HTTP status) and what to do.
 */
enum berth_result cluster_images(const char *path, unsigned timeout, struct image_refs *out);

/* The reference in `refs` that names `host`/`path` with `tag`, or with `digest`; NULL when
 * none does. Either of tag and digest may be NULL. */
const struct image_ref *image_refs_find(const struct image_refs *refs, const char *host,
					const char *path, const char *tag, const char *digest);

void image_refs_release(struct image_refs *refs);

#endif
