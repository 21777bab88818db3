/* fuzz_meta_topics.c: the topic record half of fuzz_meta. topics.c's decoder and encoder are
 * static, so this file compiles topics.c itself and hands them out (the archive's copy is then
 * never linked), as fuzz_jsapi_deliver.c does for js_deliver.c. */
#include "../../broker/core/topics.c"

#include "fuzz_meta.h"

bool fuzz_topic_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out) {
    struct topic *tp = topic_new("t", 1);
    bool ok = topic_decode(tp, v, (uint32_t)len);
    if (ok) {
        struct kvlog_tlv_writer w = {0};
        topic_encode(tp, &w);
        fz_bytes_set(out, w.p, w.len);
        kvlog_tlv_free(&w);
    }
    tp->partition_count = 0; /* decoded, never opened: no partition to close */
    topic_free(tp);
    return ok;
}
