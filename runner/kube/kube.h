/*
 * A Kubernetes REST client on a kubeconfig's current context: JSON in and out over one reused
 * connection, with the context's token or client certificate. For the kubernetes lock backend
 * (runner/lock/kube.c). Messages name the kubeconfig and the server, never a credential.
 */
#ifndef KUBE_H
#define KUBE_H

#include "base/berth.h"
#include "base/http.h"
#include "kube/kubeconfig.h"

#include <jansson.h>

struct kube {
	struct kubeconfig *config; /* shared by clones; owned when `owner` */
	struct secret *bearer;	   /* "Bearer <token>", or NULL */
	struct http_client http;
	char source[300]; /* the kubeconfig file, for messages */
	unsigned timeout; /* seconds per request */
	long timeout_ms;  /* or milliseconds, when set: a request must end before a deadline */
	int owner;
};

/* An answer: the status and its JSON body (NULL when it had none or it was not JSON). */
struct kube_reply {
	long status;
	json_t *body;
	char message[512]; /* a failed answer's Status message, or what failed: for errors */
};

/*
 * Opens a client on the kubeconfig file at `path`. A file that is not a usable kubeconfig is
 * `bad_input`'s class of failure (the user's when it is the job's own file).
 */
enum berth_result kube_open(struct kube *k, const char *path, unsigned timeout,
			    enum berth_result bad_input);
/* A client with its own connection and `k`'s credentials, for another thread. */
int kube_clone(struct kube *dst, const struct kube *src, unsigned timeout);
void kube_close(struct kube *k);

/*
 * METHOD on PATH (below the server's URL, query included) with BODY (may be NULL). 0 when an
 * answer came, whatever its status; -1 when none did (r->message says why). With `watch`, the
 * request is a watch: it returns at its first event, or when the server ends it.
 */
int kube_call(struct kube *k, const char *method, const char *path, json_t *body, int watch,
	      struct kube_reply *r);
void kube_reply_release(struct kube_reply *r);

#endif
