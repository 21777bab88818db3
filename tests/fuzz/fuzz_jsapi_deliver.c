/* fuzz_jsapi_deliver.c: the consumer half of fuzz_jsapi. js_deliver.c's request parsers are
 * static and take no broker state, so this file compiles js_deliver.c itself and hands them
 * out; the archive's copy is then never linked. */
#include "../../broker/nats/js_deliver.c"

bool fuzz_jsd_parse_pull(const uint8_t *p, size_t n, struct consumer_pull_req *req);
bool fuzz_jsd_config_types_ok(json_t *cj);

bool fuzz_jsd_parse_pull(const uint8_t *p, size_t n, struct consumer_pull_req *req) {
    return jsd_parse_pull(p, n, req);
}

bool fuzz_jsd_config_types_ok(json_t *cj) { return jsd_config_types_ok(cj); }
