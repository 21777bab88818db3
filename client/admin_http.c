/* admin_http.c: one request to the broker's admin HTTP API (admin.h), with libcurl. The token
 * goes only into the Authorization header, which is wiped once the request is done. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

/* A response body, bounded. */
struct admin_buf {
    char *p;
    size_t len;
};

#define ADMIN_RESPONSE_MAX (64u << 20)

static size_t admin_on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct admin_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > ADMIN_RESPONSE_MAX) return 0; /* stops the transfer: an error */
    char *q = realloc(b->p, b->len + n + 1);
    if (!q) return 0;
    b->p = q;
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

int admin_call_at(const struct cli *c, const char *base, const char *method, const char *path, const char *body,
                  long quiet_status, long *status_out, json_t **out)
{
    *out = NULL;
    if (status_out) *status_out = 0;
    if (!base) base = c->admin;
    CURL *h = curl_easy_init();
    if (!h) return cli_fail(EXIT_SERVER, "admin: cannot make an HTTP client");
    char url[4096];
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/') blen--;
    if (snprintf(url, sizeof url, "%.*s%s", (int)blen, base, path) >= (int)sizeof url) {
        curl_easy_cleanup(h);
        return cli_fail(EXIT_USAGE, "admin: URL too long");
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* the body is small: send it at once */
    char auth[1200];
    if (c->admin_token && *c->admin_token) {
        if (strlen(c->admin_token) > 1024) {
            curl_slist_free_all(hdrs);
            curl_easy_cleanup(h);
            return cli_fail(EXIT_USAGE, "--admin-token: longer than 1024 bytes");
        }
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->admin_token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (body) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    struct admin_buf resp = {0};
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, admin_on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (c->admin_cacert) curl_easy_setopt(h, CURLOPT_CAINFO, c->admin_cacert);
    if (c->admin_cert) curl_easy_setopt(h, CURLOPT_SSLCERT, c->admin_cert);
    if (c->admin_key) curl_easy_setopt(h, CURLOPT_SSLKEY, c->admin_key);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs); /* holds the token: gone with it */
    if (c->admin_token) memset(auth, 0, sizeof auth);
    curl_easy_cleanup(h);
    int code = EXIT_OK;
    if (rc != CURLE_OK) {
        code = (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_RESOLVE_HOST)
                   ? EXIT_UNREACHABLE : EXIT_SERVER;
        code = cli_fail(code, "admin: %s %.*s: %s", method, (int)blen, base, err[0] ? err : curl_easy_strerror(rc));
    } else {
        if (status_out) *status_out = status;
        json_error_t jerr;
        json_t *j = resp.p ? json_loadb(resp.p, resp.len, 0, &jerr) : NULL;
        const char *why = j ? json_string_value(json_object_get(j, "error")) : NULL;
        if (quiet_status && status == quiet_status) {
            *out = j;
            code = EXIT_SERVER;
        } else if (status < 200 || status >= 300) {
            code = cli_fail(status == 404 ? EXIT_NOT_FOUND : EXIT_SERVER, "admin: %s %s: HTTP %ld: %s", method, path,
                            status, why ? why : (resp.p ? resp.p : ""));
            json_decref(j);
        } else if (!j) {
            code = cli_fail(EXIT_SERVER, "admin: %s %s: the answer is not JSON", method, path);
        } else {
            *out = j;
        }
    }
    free(resp.p);
    return code;
}

int admin_call(const struct cli *c, const char *method, const char *path, const char *body, json_t **out)
{
    return admin_call_at(c, NULL, method, path, body, 0, NULL, out);
}
