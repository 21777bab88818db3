/* fuzz_jsapi.c: the JetStream API's JSON request bodies, the parts that decode without a
 * running broker: a stream config (STREAM.CREATE / STREAM.UPDATE bodies), a pull request
 * (CONSUMER.MSG.NEXT bodies) and the type check of a consumer config (CONSUMER.CREATE).
 * The handlers around them need the broker (streams, subscriptions, the loop), so they are
 * covered by the integration tests, not here.
 *
 * jsapi.c's parsers are static: this file compiles jsapi.c itself (and fuzz_jsapi_deliver.c
 * js_deliver.c). Input: a selector byte, then the request body. A stream config that decodes
 * is answered back as JSON (what STREAM.INFO sends); that answer must decode to the same
 * config. */
#include "../../broker/nats/jsapi.c"

#include "broker/core/consumer.h"

bool fuzz_jsd_parse_pull(const uint8_t *p, size_t n, struct consumer_pull_req *req);
bool fuzz_jsd_config_types_ok(json_t *cj);

static void finding(const char *what) {
    fprintf(stderr, "fuzz_jsapi: %s\n", what);
    abort();
}

static void fuzz_stream_config(const uint8_t *p, size_t n) {
    json_error_t err;
    json_t *o = json_loadb((const char *)p, n, 0, &err);
    if (!o) return;
    struct stream_config c, c2;
    if (jsapi_parse_config(o, &c)) {
        json_t *back = jsapi_config_json(&c);
        char *text = json_dumps(back, JSON_COMPACT);
        if (!text) finding("a decoded stream config cannot be written as JSON");
        json_t *o2 = json_loads(text, 0, &err);
        if (!o2 || !jsapi_parse_config(o2, &c2) || !stream_config_equal(&c, &c2) ||
            strcmp(c.dlq, c2.dlq) != 0 || c.duplicate_window_ns != c2.duplicate_window_ns) {
            fprintf(stderr, "fuzz_jsapi: %s\n", text);
            finding("a stream config does not read back as written");
        }
        json_decref(o2);
        free(text);
        json_decref(back);
    }
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: fuzz_stream_config(p, n); break;
    case 1: {
        struct consumer_pull_req req;
        fuzz_jsd_parse_pull(p, n, &req);
        break;
    }
    default: {
        json_error_t err;
        json_t *o = json_loadb((const char *)p, n, 0, &err);
        if (o) {
            json_t *cj = json_object_get(o, "config");
            if (json_is_object(cj)) fuzz_jsd_config_types_ok(cj);
            json_decref(o);
        }
        break;
    }
    }
    return 0;
}
