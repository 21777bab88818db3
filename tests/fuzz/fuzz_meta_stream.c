/* fuzz_meta_stream.c: the stream record halves of fuzz_meta: a stream's config record and its
 * persisted deleted set. stream.c's decoders are static, so this file compiles stream.c itself
 * and hands them out (the archive's copy is then never linked). */
#include "../../broker/core/stream.c"

#include "fuzz_meta.h"

bool fuzz_stream_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out) {
    struct stream *s = sl_xcalloc(1, sizeof(*s));
    bool ok = stream_decode(s, "S", v, (uint32_t)len);
    if (ok) {
        struct kvlog_tlv_writer w = {0};
        stream_encode(&s->cfg, s->created_ns, s->placed, &w);
        fz_bytes_set(out, w.p, w.len);
        kvlog_tlv_free(&w);
    }
    free(s);
    return ok;
}

/* The deleted set as stream_persist writes it back: floor, then the sorted runs (which must
 * neither overlap nor touch, and add up to the count kept). */
void fuzz_stream_deleted(const uint8_t *v, size_t len, struct fz_bytes *out) {
    struct stream *s = sl_xcalloc(1, sizeof(*s));
    uint64_t floor = deleted_decode(s, v, (uint32_t)len);
    uint64_t total = 0;
    for (uint32_t i = 0; i < s->deleted_count; i++) {
        if (s->deleted[i].lo > s->deleted[i].hi) fz_finding("fuzz_meta: a deleted run ends before it starts");
        if (i && s->deleted[i - 1].hi + 1 >= s->deleted[i].lo) fz_finding("fuzz_meta: deleted runs overlap or touch");
        total += s->deleted[i].hi - s->deleted[i].lo + 1;
    }
    if (total != s->deleted_total) fz_finding("fuzz_meta: the deleted count differs from its runs");
    struct kvlog_tlv_writer w = {0};
    kvlog_tlv_begin(&w, 1);
    kvlog_tlv_put_i64(&w, STREAM_DTAG_FLOOR, (int64_t)floor);
    if (s->deleted_count) {
        uint8_t *b = sl_xmalloc((size_t)s->deleted_count * 16);
        for (uint32_t i = 0; i < s->deleted_count; i++) {
            sl_store_be64(b + 16 * i, s->deleted[i].lo);
            sl_store_be64(b + 16 * i + 8, s->deleted[i].hi);
        }
        kvlog_tlv_put(&w, STREAM_DTAG_RANGES, b, s->deleted_count * 16);
        free(b);
    }
    fz_bytes_set(out, w.p, w.len);
    kvlog_tlv_free(&w);
    free(s->deleted);
    free(s);
}
