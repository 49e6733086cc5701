/*
 * The one Kubernetes REST client, on a kubeconfig's current context: JSON in and out over one
 * reused connection, with the context's token or client certificate, and tried again while
 * the server fails. For the kubeconfig preflight (kube/kubeconfig.c), the kubernetes lock
 * backend (lock/kube.c) and prune's cluster scan (prune/cluster.c). Messages name the
 * kubeconfig and the server, never a credential.
 */
#ifndef KUBE_H
#define KUBE_H

#include "base/berth.h"
#include "base/clock.h"
#include "base/http.h"
#include "kube/kubeconfig.h"

#include <jansson.h>

struct kube {
	const struct kubeconfig *config; /* the context it talks to; shared by clones */
	struct kubeconfig *own;		 /* config, when kube_open read it: freed with the owner */
	struct secret *bearer;		 /* "Bearer <token>" (no data without a token) */
	struct http_client http;
	char source[300]; /* the kubeconfig file, for messages */
	unsigned timeout; /* seconds per request */
	long timeout_ms;  /* or milliseconds, when set: a request must end before a deadline */
	int owner;	  /* frees `own` and `bearer`; clones do not */
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
/* A client on `config`, parsed already (it must outlive the client); `source` names it. */
int kube_init(struct kube *k, const struct kubeconfig *config, const char *source,
	      unsigned timeout);
/* A client with its own connection and `k`'s credentials, for another thread. */
int kube_clone(struct kube *dst, const struct kube *src, unsigned timeout);
void kube_close(struct kube *k);

/*
 * METHOD on PATH (below the server's URL, query included) with BODY (may be NULL). 0 when an
 * answer came, whatever its status; below 0 when none did (r->message says why), as http_do:
 * HTTP_TLS_REJECTED when the kubeconfig's own certificates failed, HTTP_TOO_LARGE when the
 * answer was larger than berth reads. With `watch`, the request is a watch: it returns at its
 * first event, or when the server ends it.
 */
int kube_call(struct kube *k, const char *method, const char *path, json_t *body, int watch,
	      struct kube_reply *r);

/*
 * A request in RBAC's terms, as the API server reads it: the verb a Role must grant, the
 * resource ("leases.coordination.k8s.io", "namespaces") and the namespace ("" when the
 * resource is cluster-wide). For messages that tell the user which permission is missing.
 */
struct kube_rbac {
	char verb[24];
	char resource[128];
	char ns[64];
};

void kube_rbac_of(const char *method, const char *path, struct kube_rbac *out);

/* 1 when an answer is the server failing (5xx) or limiting us (429): worth asking again. */
int kube_status_transient(long status);

/*
 * kube_call (no watch), tried again while the answer is transient or none came, with `b`'s
 * waits between tries; b->tried counts the tries that failed so. No try follows a stop
 * (proc_stop_requested), a TLS failure or an answer too large: asking again cannot help.
 * Returns as kube_call, with the last answer, which may still be transient: the caller judges
 * and reports it.
 */
int kube_call_retry(struct kube *k, struct backoff *b, const char *method, const char *path,
		    json_t *body, struct kube_reply *r);
void kube_reply_release(struct kube_reply *r);

#endif
