#include "base/http.h"

#include "base/array.h"
#include "base/dl.h"
#include "base/log.h"
#include "base/secret.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sink {
	struct http_response *res;
	size_t max_body;
	size_t header_bytes;
	size_t body_cap;
	int too_big;
	int first_line; /* stop once the body holds a whole line */
	int got_line;
};

/*
 * libcurl comes with 33 shared libraries (TLS, LDAP, Kerberos, RTMP...) that cost about 4 ms to
 * map at every exec. Most berth commands never speak HTTP, and `berth run` is on every stage's
 * path, so libcurl is loaded on first use here, by the only module that calls it.
 */
static struct {
	CURLcode (*global_init_mem)(long, curl_malloc_callback, curl_free_callback,
				    curl_realloc_callback, curl_strdup_callback,
				    curl_calloc_callback);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	time_t (*getdate)(const char *, const time_t *);
} libcurl;

#define CURL_LIBRARY "libcurl.so.4"

static int load_curl(void)
{
	static const struct dl_symbol symbols[] = {
#define SYM(field, name) {name, offsetof(__typeof__(libcurl), field)}
		SYM(global_init_mem, "curl_global_init_mem"),
		SYM(easy_init, "curl_easy_init"),
		SYM(easy_cleanup, "curl_easy_cleanup"),
		SYM(easy_reset, "curl_easy_reset"),
		SYM(easy_setopt, "curl_easy_setopt"),
		SYM(easy_perform, "curl_easy_perform"),
		SYM(easy_getinfo, "curl_easy_getinfo"),
		SYM(easy_strerror, "curl_easy_strerror"),
		SYM(slist_append, "curl_slist_append"),
		SYM(slist_free_all, "curl_slist_free_all"),
		SYM(getdate, "curl_getdate"),
#undef SYM
	};
	static int loaded;
	char why[512];

	if (loaded)
		return loaded > 0 ? 0 : -1;
	loaded = -1;
	if (dl_load(CURL_LIBRARY, symbols, ARRAY_SIZE(symbols), &libcurl,
		    "install libcurl4 (apt-get install libcurl4)",
		    "berth needs libcurl 7.77 or later", why, sizeof(why)) < 0)
		return error("%s", why);
	/* curl's copies of request headers carry credentials: its frees wipe them. */
	if (libcurl.global_init_mem(CURL_GLOBAL_DEFAULT, malloc, secret_free_hook,
				    secret_realloc_hook, strdup, calloc) != CURLE_OK)
		return error("cannot initialize libcurl");
	loaded = 1;
	return 0;
}

int http_client_init(struct http_client *c)
{
	if (load_curl() < 0)
		return -1;
	c->curl = libcurl.easy_init();
	return c->curl ? 0 : error("cannot initialize libcurl");
}

void http_client_release(struct http_client *c)
{
	if (c->curl)
		libcurl.easy_cleanup(c->curl);
	c->curl = NULL;
}

char *http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

long long http_parse_date(const char *s)
{
	if (load_curl() < 0)
		return -1;
	return (long long)libcurl.getdate(s, NULL);
}

enum berth_result http_status_result(long status)
{
	if (status >= 200 && status < 300)
		return BERTH_OK;
	if (status == 401 || status == 403)
		return BERTH_BUILD_FAILURE;
	return BERTH_SYSTEM_FAILURE;
}

void http_response_release(struct http_response *res)
{
	free(res->www_authenticate);
	free(res->retry_after);
	free(res->digest);
	free(res->link);
	secret_release(&res->subject_token);
	secret_release(&res->body);
	memset(res, 0, sizeof(*res));
}

/* "Name: value\r\n" -> a copy of value when the name matches, else NULL. */
static char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name), end = len;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	while (end > n + 1 && (line[end - 1] == '\r' || line[end - 1] == '\n'))
		end--;
	n++;
	while (n < end && (line[n] == ' ' || line[n] == '\t'))
		n++;
	return strndup(line + n, end - n);
}

/* The first `name` header of an answer into *field. */
static void keep_header(char **field, const char *line, size_t len, const char *name)
{
	if (!*field)
		*field = header_value(line, len, name);
}

/* The first `name` header into a secret: the value is a credential. */
static void keep_secret_header(struct secret *field, const char *line, size_t len, const char *name)
{
	char *value;

	if (field->data || !(value = header_value(line, len, name)))
		return;
	secret_adopt(field, (unsigned char *)value, strlen(value));
}

/* Sets `why` and ends the transfer: curl aborts when a callback takes less than it was given. */
static size_t stop_transfer(int *why)
{
	*why = 1;
	return 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *data)
{
	struct sink *s = data;
	size_t len = size * nmemb;

	s->header_bytes += len;
	if (s->header_bytes > HTTP_MAX_HEADERS)
		return stop_transfer(&s->too_big);
	/* A new response (after a redirect or 100-continue) starts with its status line. */
	if (len > 5 && !strncmp(line, "HTTP/", 5)) {
		struct http_response *res = s->res;

		free(res->www_authenticate);
		free(res->retry_after);
		free(res->digest);
		free(res->link);
		res->www_authenticate = res->retry_after = res->digest = res->link = NULL;
		secret_release(&res->subject_token);
	}
	keep_header(&s->res->www_authenticate, line, len, "WWW-Authenticate");
	keep_header(&s->res->retry_after, line, len, "Retry-After");
	keep_header(&s->res->digest, line, len, "Docker-Content-Digest");
	keep_header(&s->res->link, line, len, "Link");
	keep_secret_header(&s->res->subject_token, line, len, "X-Subject-Token");
	return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	struct secret *b = &s->res->body;
	size_t len = size * nmemb;

	if (b->len + len > s->max_body)
		return stop_transfer(&s->too_big);
	if (b->len + len + 1 > s->body_cap) {
		size_t cap = (b->len + len + 1) * 2;
		unsigned char *grown = malloc(cap);

		if (!grown)
			return 0;
		if (b->data)
			memcpy(grown, b->data, b->len);
		/* Never realloc: the old block may hold a token. */
		secret_adopt(b, grown, b->len);
		s->body_cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	if (s->first_line && memchr(data, '\n', len))
		return stop_transfer(&s->got_line); /* http_do calls it a success */
	return len;
}

static int set_blob(CURL *curl, CURLoption opt, const struct secret *s)
{
	/* No copy: the secret outlives the request, and curl's copy would not be wiped. */
	struct curl_blob blob = {s->data, s->len, CURL_BLOB_NOCOPY};

	return libcurl.easy_setopt(curl, opt, &blob) != CURLE_OK;
}

/* The request's TLS material; how many options libcurl refused. */
static int set_tls(CURL *curl, const struct http_tls *tls)
{
	int bad = 0;

	if (tls->ca_file)
		bad |= libcurl.easy_setopt(curl, CURLOPT_CAINFO, tls->ca_file) != CURLE_OK;
	if (tls->ca_pem && tls->ca_pem->data)
		bad |= set_blob(curl, CURLOPT_CAINFO_BLOB, tls->ca_pem);
	if (tls->client_cert && tls->client_cert->data) {
		bad |= set_blob(curl, CURLOPT_SSLCERT_BLOB, tls->client_cert);
		bad |= libcurl.easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK;
	}
	if (tls->client_key && tls->client_key->data) {
		bad |= set_blob(curl, CURLOPT_SSLKEY_BLOB, tls->client_key);
		bad |= libcurl.easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK;
	}
	bad |= libcurl.easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, tls->insecure ? 0L : 1L) !=
	       CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, tls->insecure ? 0L : 2L) !=
	       CURLE_OK;
	return bad;
}

/*
 * Everything a request sets; non-zero when libcurl refused an option (an older or differently
 * built libcurl), which must fail the request rather than drop, say, the protocol limit.
 */
static int set_options(CURL *curl, const struct http_request *req, struct sink *sink,
		       struct curl_slist *headers, char *errbuf)
{
	long timeout_ms = 1000L * (req->timeout ? req->timeout : 30);
	int bad = 0;

	bad |= libcurl.easy_setopt(curl, CURLOPT_URL, req->url) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_CUSTOMREQUEST,
				   req->method ? req->method : "GET") != CURLE_OK;
	if (req->method && !strcmp(req->method, "HEAD"))
		bad |= libcurl.easy_setopt(curl, CURLOPT_NOBODY, 1L) != CURLE_OK;
	if (req->body) {
		bad |= libcurl.easy_setopt(curl, CURLOPT_POSTFIELDS, req->body) != CURLE_OK;
		bad |= libcurl.easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body)) !=
		       CURLE_OK;
	}
	bad |= libcurl.easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_HEADERDATA, sink) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_WRITEDATA, sink) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
	if (req->timeout_ms > 0)
		timeout_ms = req->timeout_ms;
	bad |= libcurl.easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= libcurl.easy_setopt(curl, CURLOPT_USERAGENT, "berth/" BERTH_VERSION) != CURLE_OK;
	/* HTTP/1.1: nghttp2 keeps its own copies of headers (the Authorization one too) and frees
	 * them without the wiping allocator; these few small requests gain nothing from h2. */
	bad |= libcurl.easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) !=
	       CURLE_OK;
	/* Credentials go to the host they were meant for: no redirects are followed. */
	bad |= libcurl.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	return bad | set_tls(curl, &req->tls);
}

/* Headers built from secrets are wiped before curl frees them. */
static void free_headers(struct curl_slist *list)
{
	struct curl_slist *p;

	for (p = list; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	libcurl.slist_free_all(list);
}

/* Appends `header` to *list: 0, or -1 (out of memory) with *list freed. */
static int add_header(struct curl_slist **list, const char *header)
{
	struct curl_slist *grown = libcurl.slist_append(*list, header);

	if (!grown) {
		free_headers(*list);
		*list = NULL;
		return -1;
	}
	*list = grown;
	return 0;
}

/* The request's own headers in *list (NULL when it has none): 0, or -1 when memory ran out. */
static int request_headers(const struct http_request *req, struct curl_slist **list)
{
	struct secret line = SECRET_INIT;
	char buf[512];
	int ret;

	*list = NULL;
	if (req->authorization && req->authorization->data) {
		if (secret_printf(&line, "%s: %s",
				  req->auth_header ? req->auth_header : "Authorization",
				  (const char *)req->authorization->data) < 0)
			return -1;
		ret = add_header(list, (const char *)line.data);
		secret_release(&line);
		if (ret < 0)
			return -1;
	}
	if (req->body && add_header(list, "Content-Type: application/json") < 0)
		return -1;
	if (req->accept) {
		snprintf(buf, sizeof(buf), "Accept: %s", req->accept);
		if (add_header(list, buf) < 0)
			return -1;
	}
	return 0;
}

int http_do(struct http_client *c, const struct http_request *req, struct http_response *res,
	    char *why, size_t why_size)
{
	struct sink sink = {
		res, req->max_body ? req->max_body : (1 << 20), 0, 0, 0, req->first_line, 0};
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	int failed = request_headers(req, &headers) < 0;
	CURL *curl = c->curl;
	CURLcode rc;

	memset(res, 0, sizeof(*res));
	if (failed) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	libcurl.easy_reset(curl);
	if (set_options(curl, req, &sink, headers, errbuf)) {
		free_headers(headers);
		snprintf(why, why_size,
			 "this libcurl refused an option berth needs: berth needs "
			 "libcurl 7.85 or later, built with OpenSSL");
		return -1;
	}
	rc = libcurl.easy_perform(curl);
	free_headers(headers);
	if (rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_PEER_FAILED_VERIFICATION) {
		snprintf(why, why_size, "%s", *errbuf ? errbuf : libcurl.easy_strerror(rc));
		http_response_release(res);
		return HTTP_TLS_REJECTED;
	}
	if (rc == CURLE_WRITE_ERROR && sink.got_line)
		rc = CURLE_OK;
	if (rc != CURLE_OK) {
		const char *what = *errbuf ? errbuf : libcurl.easy_strerror(rc);

		if (sink.too_big) {
			snprintf(why, why_size, "the answer is larger than berth accepts");
			http_response_release(res);
			return HTTP_TOO_LARGE;
		}
		if (rc == CURLE_OUT_OF_MEMORY) /* also a header line over libcurl's limit */
			what = "the answer has a header larger than libcurl accepts, or memory ran out";
		snprintf(why, why_size, "%s", what);
		http_response_release(res);
		return -1;
	}
	libcurl.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	return 0;
}
