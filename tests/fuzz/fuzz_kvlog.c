/* fuzz_kvlog.c: the replay of a compacted key/value log at open (storage/kvlog.c), with the
 * value decoders behind it: the consumer offsets log (storage/offsets.c) and the TLV values of
 * the metadata logs (kvlog_tlv_*). The values of the broker's own records are fuzz_meta's.
 *
 * Input: a flags byte, then the segment file of the log. Unless flag bit 0 is set the CRC of
 * every whole batch is patched. Bit 1 opens it as __consumer_offsets (offsets_open_kvlog),
 * else as a plain kvlog whose every live value is walked as TLV. Every live entry must be found
 * again by kvlog_get with the same value. By default the segment is replayed from memory
 * (kvlog_open_mem: recovery's scan, then kvlog_open's replay); FUZZ_WHOLE_STORE=1 writes it
 * and opens a store on it (fuzz_store.h). */
#include "fuzz_fs.h"
#include "fuzz_store.h"
#include "storage/kvlog.h"
#include "storage/offsets.h"
#include "storage/store.h"

static struct kvlog *cur;

static void finding(const char *what) {
    fprintf(stderr, "fuzz_kvlog: %s\n", what);
    abort();
}

static void visit(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len) {
    uint32_t *count = arg;
    (*count)++;
    uint32_t got_len;
    const uint8_t *got = kvlog_get(cur, key, key_len, &got_len);
    if (!got || got_len != value_len || memcmp(got, value, value_len) || got[value_len] != 0)
        finding("a live entry is not what kvlog_get returns");
    struct kvlog_tlv_reader r;
    uint16_t tag;
    const uint8_t *p;
    uint32_t n;
    int64_t v;
    if (kvlog_tlv_open(&r, value, value_len))
        while (kvlog_tlv_next(&r, &tag, &p, &n)) {
            if (p < value || p + n > value + value_len) finding("a TLV field outside its value");
            kvlog_tlv_i64(p, n, &v);
        }
}

static void visit_offset(void *arg, const char *topic, int32_t partition, const struct offset_value *v) {
    const struct offsets *o = arg;
    (void)v;
    offsets_min_for_partition(o, topic, (int32_t)strlen(topic), partition, NULL);
}

/* Every committed offset of every group, each looked up again by its own key. */
static void visit_group(void *arg, const char *group) {
    struct offsets *o = arg;
    if (!offsets_group_known(o, group)) finding("a listed group is not known");
    offsets_for_group(o, group, visit_offset, o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t flags = data[0];
    bool offsets = flags & 2;
    const char *topic = offsets ? OFFSETS_TOPIC : "__fuzz_kv";
    uint8_t *f = malloc(size);
    memcpy(f, data + 1, size - 1);
    if (!(flags & 1)) fz_fix_crcs(f, size - 1);
    struct store *st = NULL;
    struct kvlog *kv = NULL;
    if (fz_whole_store) {
        const char *dir = fz_scratch();
        char ldir[300], path[400];
        snprintf(ldir, sizeof(ldir), "%s/%s-0", dir, topic);
        if (mkdir(ldir, 0755) != 0) abort();
        snprintf(path, sizeof(path), "%s/%020d.log", ldir, 0);
        fz_write(path, f, size - 1);
        struct log_config cfg;
        log_config_defaults(&cfg);
        cfg.preallocate_bytes = 0;
        if (store_open(&st, &fz_loop, dir, &cfg, NULL) != SL_OK) st = NULL;
        if (st && kvlog_open(&kv, st, topic, NULL, 1000) != SL_OK) kv = NULL;
    } else {
        sl_log_level_max = SL_LOG_ERROR;
        if (kvlog_open_mem(&kv, f, size - 1) != SL_OK) kv = NULL;
    }
    if (kv && offsets) {
        struct offsets *o = offsets_open_kvlog(kv);
        offsets_groups(o, visit_group, o);
        offsets_close(o);
    } else if (kv) {
        uint32_t count = 0;
        cur = kv;
        kvlog_foreach(kv, visit, &count);
        if (count != kvlog_count(kv)) finding("kvlog_foreach and kvlog_count disagree");
        kvlog_close(kv);
    }
    if (st) store_close(st);
    free(f);
    return 0;
}
