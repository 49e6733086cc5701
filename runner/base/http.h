/*
 * One HTTP client on libcurl for registries and Kubernetes: a reused connection, capped
 * headers and bodies, TLS material from files or memory, and the few response headers berth
 * acts on. Requests carry credentials only in headers, never in URLs.
 */
#ifndef HTTP_H
#define HTTP_H

#include "base/berth.h"
#include "base/secret.h"

#include <stddef.h>

#define HTTP_MAX_HEADERS (64 << 10) /* all response headers of one answer together */
#define HTTP_ERROR_SIZE	 320	    /* room for curl's reason (CURL_ERROR_SIZE is 256) */

struct http_client {
	void *curl; /* CURL *, kept opaque so callers need not include curl */
};

struct http_tls {
	const char *ca_file;		  /* PEM bundle to trust instead of the system's */
	const struct secret *ca_pem;	  /* or the bundle itself */
	const struct secret *client_cert; /* PEM client certificate */
	const struct secret *client_key;  /* PEM client key */
	int insecure;			  /* skip verification (the user asked for it) */
};

struct http_request {
	const char *method; /* "GET" when NULL */
	const char *url;
	const struct secret *authorization; /* the whole header value, e.g. "Basic ..." */
	const char *auth_header;	    /* its header: "Authorization" when NULL */
	struct http_tls tls;
	unsigned timeout; /* seconds for the whole request */
	long timeout_ms;  /* milliseconds instead, when set */
	size_t max_body;  /* a longer body fails the request */
	const char *body; /* sent as application/json, or NULL */
	const char *accept;
	int first_line; /* a stream (a Kubernetes watch): the answer ends with its first line */
};

struct http_response {
	long status;
	char *www_authenticate;	     /* the first WWW-Authenticate header, or NULL */
	char *retry_after;	     /* Retry-After, or NULL */
	char *digest;		     /* Docker-Content-Digest, or NULL */
	char *link;		     /* Link (a registry's next page), or NULL */
	struct secret subject_token; /* X-Subject-Token (Keystone's new token): wiped */
	struct secret body;	     /* may carry tokens: wiped on release */
};

int http_client_init(struct http_client *c);
void http_client_release(struct http_client *c);

/* http_do's results besides 0 and -1 (see below); both are below 0, like -1. */
#define HTTP_TLS_REJECTED (-2)
#define HTTP_TOO_LARGE	  (-3)

/*
 * Performs the request. 0 when an answer came (any status), -1 when none did: the reason,
 * from curl, is copied to `why` (size `why_size`) for the caller's message. HTTP_TLS_REJECTED
 * when the request's TLS material is unusable or the server is not trusted by it: a bad
 * certificate, key or CA, which is the input's fault, not the network's. HTTP_TOO_LARGE when
 * the body was longer than `max_body`: asking again gets the same answer.
 */
int http_do(struct http_client *c, const struct http_request *req, struct http_response *res,
	    char *why, size_t why_size);
void http_response_release(struct http_response *res);

/*
 * The class of an answer's status, the one rule for every client of this module:
 * - 2xx is BERTH_OK;
 * - 401 and 403 are BERTH_BUILD_FAILURE: the credentials berth was given are wrong or lack a
 *   permission, and they are the job's to fix;
 * - every other status is BERTH_SYSTEM_FAILURE: the server fails (5xx), limits us (429), or
 *   does not answer as the API says it must.
 * A caller that knows more decides before it asks: a 404 for a name the user wrote (a
 * registry's repository, a cluster's kind, a host that is no registry) is the user's fault;
 * a 401 with the runner admin's credentials (lock_kubeconfig) is the infrastructure's. Whether
 * to try again is the caller's too: a registry's 503 may carry a Retry-After.
 */
enum berth_result http_status_result(long status);

/* `s` percent-encoded for a URL query (RFC 3986 unreserved kept); malloc'd, or NULL. */
char *http_escape(const char *s);
/* An HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT" and the other forms) as time_t, or -1. */
long long http_parse_date(const char *s);

#endif
