#include "http.h"

#include "log.h"

#include <curl/curl.h>
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
};

int http_client_init(struct http_client *c)
{
	static int global_done;

	if (!global_done && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return error("cannot initialize libcurl");
	global_done = 1;
	c->curl = curl_easy_init();
	return c->curl ? 0 : error("cannot initialize libcurl");
}

void http_client_release(struct http_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

void http_response_release(struct http_response *res)
{
	free(res->www_authenticate);
	free(res->retry_after);
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

static size_t on_header(char *line, size_t size, size_t nmemb, void *data)
{
	struct sink *s = data;
	size_t len = size * nmemb;
	char *v;

	s->header_bytes += len;
	if (s->header_bytes > HTTP_MAX_HEADERS)
		return s->too_big = 1, 0; /* curl aborts the transfer */
	/* A new response (after a redirect or 100-continue) starts with its status line. */
	if (len > 5 && !strncmp(line, "HTTP/", 5)) {
		free(s->res->www_authenticate);
		free(s->res->retry_after);
		s->res->www_authenticate = s->res->retry_after = NULL;
	}
	if (!s->res->www_authenticate && (v = header_value(line, len, "WWW-Authenticate")))
		s->res->www_authenticate = v;
	else if (!s->res->retry_after && (v = header_value(line, len, "Retry-After")))
		s->res->retry_after = v;
	return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	struct secret *b = &s->res->body;
	size_t len = size * nmemb;

	if (b->len + len > s->max_body)
		return s->too_big = 1, 0;
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
	return len;
}

static void set_blob(CURL *curl, CURLoption opt, const struct secret *s)
{
	struct curl_blob blob = {s->data, s->len, CURL_BLOB_COPY};

	curl_easy_setopt(curl, opt, &blob);
}

static void set_tls(CURL *curl, const struct http_tls *tls)
{
	if (tls->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, tls->ca_file);
	if (tls->ca_pem && tls->ca_pem->data)
		set_blob(curl, CURLOPT_CAINFO_BLOB, tls->ca_pem);
	if (tls->client_cert && tls->client_cert->data) {
		set_blob(curl, CURLOPT_SSLCERT_BLOB, tls->client_cert);
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (tls->client_key && tls->client_key->data) {
		set_blob(curl, CURLOPT_SSLKEY_BLOB, tls->client_key);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, tls->insecure ? 0L : 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, tls->insecure ? 0L : 2L);
}

/* Headers built from secrets are wiped before curl frees them. */
static void free_headers(struct curl_slist *list)
{
	struct curl_slist *p;

	for (p = list; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(list);
}

static struct curl_slist *auth_header(const struct secret *authorization)
{
	struct secret line = SECRET_INIT;
	struct curl_slist *list = NULL;
	size_t n;

	if (!authorization || !authorization->data)
		return NULL;
	n = sizeof("Authorization: ") + authorization->len;
	line.data = malloc(n);
	if (!line.data)
		return NULL;
	line.len = (size_t)snprintf((char *)line.data, n, "Authorization: %s",
				    (const char *)authorization->data);
	list = curl_slist_append(NULL, (const char *)line.data);
	secret_release(&line);
	return list;
}

int http_do(struct http_client *c, const struct http_request *req, struct http_response *res,
	    char *why, size_t why_size)
{
	struct sink sink = {res, req->max_body ? req->max_body : (1 << 20), 0, 0, 0};
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = auth_header(req->authorization);
	CURL *curl = c->curl;
	CURLcode rc;

	memset(res, 0, sizeof(*res));
	if (req->authorization && !headers)
		return snprintf(why, why_size, "out of memory"), -1;
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method ? req->method : "GET");
	if (req->method && !strcmp(req->method, "HEAD"))
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)(req->timeout ? req->timeout : 30));
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)(req->timeout ? req->timeout : 30));
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
	/* Credentials go to the host they were meant for: no redirects are followed. */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	set_tls(curl, &req->tls);
	rc = curl_easy_perform(curl);
	free_headers(headers);
	if (rc != CURLE_OK) {
		snprintf(why, why_size, "%s",
			 sink.too_big ? "the answer is larger than berth accepts"
			 : *errbuf    ? errbuf
				      : curl_easy_strerror(rc));
		http_response_release(res);
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	return 0;
}
