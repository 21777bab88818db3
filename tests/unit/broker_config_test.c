/* broker_config_test.c: Check suite for broker/config.c: defaults, every key as a flag and as a
 * file line, spellings, value syntax and its edges, refusals and their messages, precedence. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/logging.h"
#include "broker/config.h"
#include "broker/nats/nats_auth.h"
#include "testutil.h"

static struct sl_config cfg;
static char err[2048];
static const char *scratch_dir; /* one per test, made on first use */

static void setup(void) {
    sl_config_free(&cfg);
    sl_config_defaults(&cfg);
    err[0] = 0;
}

static void teardown(void) {
    if (scratch_dir) t_rmdir(scratch_dir);
    scratch_dir = NULL;
}

static const char *scratch(void) {
    if (!scratch_dir) scratch_dir = t_tmpdir();
    return scratch_dir;
}

/* argv from a NULL-terminated list; argv[0] is the program name. */
static int parse_argv(const char **args) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "sluice-server";
    for (; *args; args++) argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return sl_config_parse_args(&cfg, argc, argv, err, sizeof(err));
}
#define PARSE(...) parse_argv((const char *[]){__VA_ARGS__, NULL})

/* Writes text to the test's config file, replacing what an earlier call wrote. */
static const char *write_conf(const char *text) {
    static char path[512];
    snprintf(path, sizeof(path), "%s/sluice.conf", scratch());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int load_text(const char *text) {
    return sl_config_load_file(&cfg, write_conf(text), err, sizeof(err));
}

static uint64_t field_value(const struct sl_config *c, size_t off, size_t size) {
    const char *p = (const char *)c + off;
    switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: return *(const uint16_t *)(const void *)p;
    case 4: return *(const uint32_t *)(const void *)p;
    case 8: return *(const uint64_t *)(const void *)p;
    }
    ck_abort_msg("field of size %zu", size);
    return 0;
}

/* ---- defaults ------------------------------------------------------------------------------ */

START_TEST(test_defaults) {
    struct log_config lc;
    log_config_defaults(&lc);
    ck_assert_str_eq(cfg.data_dir, "./data");
    ck_assert_str_eq(cfg.config_file, "");
    ck_assert_int_eq(cfg.log_level, SL_LOG_INFO);
    ck_assert_str_eq(cfg.host, "0.0.0.0");
    ck_assert_uint_eq(cfg.kafka_port, 9092);
    ck_assert_uint_eq(cfg.nats_port, 4222);
    ck_assert_uint_eq(cfg.http_port, 8222);
    ck_assert_str_eq(cfg.advertised_host, "");
    ck_assert_uint_eq(cfg.max_payload_bytes, 1u << 20);
    ck_assert_uint_eq(cfg.max_connections, 65536);
    ck_assert_uint_eq(cfg.write_deadline_ms, 10000);
    ck_assert_uint_eq(cfg.max_pending_bytes, 64u << 20);
    ck_assert_uint_eq(cfg.max_request_bytes, 100u << 20);
    ck_assert(!cfg.jetstream);
    ck_assert_str_eq(cfg.jetstream_dlq, "{stream}_DLQ");
    ck_assert_uint_eq(cfg.log.segment_bytes, lc.segment_bytes);
    ck_assert_int_eq(cfg.log.segment_ms, lc.segment_ms);
    ck_assert_int_eq(cfg.log.retention_ms, lc.retention_ms);
    ck_assert_int_eq(cfg.log.retention_bytes, lc.retention_bytes);
    ck_assert_uint_eq(cfg.log.index_interval_bytes, lc.index_interval_bytes);
    ck_assert_uint_eq(cfg.log.batch_bytes_max, lc.batch_bytes_max);
    ck_assert_int_eq(cfg.log.durability, lc.durability);
    ck_assert_uint_eq(cfg.log.group_commit_ms, lc.group_commit_ms);
    ck_assert_uint_eq(cfg.log.preallocate_bytes, lc.preallocate_bytes);
    ck_assert_uint_eq(cfg.open_files_max, 1024);
    ck_assert_uint_eq(cfg.retention_check_ms, 300000);
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

/* ---- every numeric/enum key, through every door ------------------------------------------- */

struct key_row {
    const char *key, *value;
    size_t off, size;
    uint64_t expect;
    int is_switch; /* boolean flags never take the next argument */
};
#define ROW(k, v, field, e, sw)                                                                   \
    {k, v, offsetof(struct sl_config, field), sizeof(((struct sl_config *)0)->field), (uint64_t)(e), sw}

static const struct key_row key_rows[] = {
    ROW("log_level", "debug", log_level, SL_LOG_DEBUG, 0),
    ROW("log_level", "WARN", log_level, SL_LOG_WARN, 0),
    ROW("log_level", "error", log_level, SL_LOG_ERROR, 0),
    ROW("log_level", "trace", log_level, SL_LOG_DEBUG, 0),
    ROW("debug", "true", log_level, SL_LOG_DEBUG, 1),
    ROW("trace", "yes", log_level, SL_LOG_DEBUG, 1),
    ROW("kafka_port", "19092", kafka_port, 19092, 0),
    ROW("port", "14222", nats_port, 14222, 0),
    ROW("nats_port", "0", nats_port, 0, 0),
    ROW("http_port", "65535", http_port, 65535, 0),
    ROW("max_payload", "2MB", max_payload_bytes, 2u << 20, 0),
    ROW("max_payload", "4294967295", max_payload_bytes, 4294967295u, 0),
    ROW("max_connections", "100", max_connections, 100, 0),
    ROW("write_deadline", "5", write_deadline_ms, 5000, 0),
    ROW("write_deadline", "500ms", write_deadline_ms, 500, 0),
    ROW("write_deadline", "10s", write_deadline_ms, 10000, 0),
    ROW("write_deadline", "2m", write_deadline_ms, 120000, 0),
    ROW("write_deadline", "1h", write_deadline_ms, 3600000, 0),
    ROW("max_pending", "128MiB", max_pending_bytes, 128ull << 20, 0),
    ROW("max_pending", "18446744073709551615", max_pending_bytes, UINT64_MAX, 0),
    ROW("max_request_bytes", "50M", max_request_bytes, 50u << 20, 0),
    ROW("jetstream", "true", jetstream, 1, 1),
    ROW("jetstream", "On", jetstream, 1, 1),
    ROW("jetstream", "1", jetstream, 1, 1),
    ROW("segment_bytes", "1GiB", log.segment_bytes, 1ull << 30, 0),
    ROW("segment_bytes", "2t", log.segment_bytes, 2ull << 40, 0),
    ROW("segment_bytes", "4096", log.segment_bytes, 4096, 0),
    ROW("segment_ms", "3600000", log.segment_ms, 3600000, 0),
    ROW("segment_ms", "1h", log.segment_ms, 3600000, 0),
    ROW("retention_ms", "-1", log.retention_ms, -1, 0),
    ROW("retention_ms", "90s", log.retention_ms, 90000, 0),
    ROW("retention_bytes", "-1", log.retention_bytes, -1, 0),
    ROW("retention_bytes", "10G", log.retention_bytes, 10ull << 30, 0),
    ROW("index_interval_bytes", "32KiB", log.index_interval_bytes, 32768, 0),
    ROW("max_message_bytes", "4m", log.batch_bytes_max, 4u << 20, 0),
    ROW("fsync", "group", log.durability, LOG_DURABILITY_GROUP, 0),
    ROW("fsync", "APPEND", log.durability, LOG_DURABILITY_APPEND, 0),
    ROW("fsync", "none", log.durability, LOG_DURABILITY_NONE, 0),
    ROW("group_commit_ms", "5", log.group_commit_ms, 5, 0),
    ROW("preallocate_bytes", "16 MiB", log.preallocate_bytes, 16u << 20, 0),
    ROW("preallocate_bytes", "0", log.preallocate_bytes, 0, 0),
    ROW("open_files_max", "99", open_files_max, 99, 0),
    ROW("retention_check_ms", "30s", retention_check_ms, 30000, 0),
};

static void dashed(const char *key, char *out, size_t len) {
    snprintf(out, len, "%s", key);
    for (char *p = out; *p; p++)
        if (*p == '_') *p = '-';
}

static void check_row(const struct key_row *r, const char *how) {
    ck_assert_msg(field_value(&cfg, r->off, r->size) == r->expect, "%s: %s=%s gave %llu, want %llu", how, r->key,
                  r->value, (unsigned long long)field_value(&cfg, r->off, r->size),
                  (unsigned long long)r->expect);
}

static void key_via_flag(const struct key_row *r) {
    char flag[128], dash[64];
    setup();
    if (!r->is_switch) {
        snprintf(flag, sizeof(flag), "--%s", r->key);
        ck_assert_msg(PARSE(flag, r->value) == 0, "%s", err);
        check_row(r, "--key value");
    }
    setup();
    dashed(r->key, dash, sizeof(dash));
    snprintf(flag, sizeof(flag), "--%s=%s", dash, r->value);
    ck_assert_msg(PARSE(flag) == 0, "%s", err);
    check_row(r, "--key-with-dashes=value");
    setup();
    snprintf(flag, sizeof(flag), "-%s=%s", r->key, r->value);
    ck_assert_msg(PARSE(flag) == 0, "%s", err);
    check_row(r, "-key=value");
}

static void key_via_file(const struct key_row *r) {
    char text[256];
    setup();
    snprintf(text, sizeof(text), "# comment\n\n%s = %s\n", r->key, r->value);
    ck_assert_msg(load_text(text) == 0, "%s", err);
    check_row(r, "key = value");
    setup();
    snprintf(text, sizeof(text), "  %s: \"%s\"   // why\r\n", r->key, r->value);
    ck_assert_msg(load_text(text) == 0, "%s", err);
    check_row(r, "key: \"value\"");
    setup();
    ck_assert_msg(sl_config_set(&cfg, r->key, r->value, err, sizeof(err)) == 0, "%s", err);
    check_row(r, "sl_config_set");
}

/* One test walks the whole table: a forked test per row costs a leak check per row under ASan. */
START_TEST(test_every_key) {
    for (size_t i = 0; i < sizeof(key_rows) / sizeof(key_rows[0]); i++) {
        key_via_flag(&key_rows[i]);
        key_via_file(&key_rows[i]);
    }
}
END_TEST

START_TEST(test_string_keys) {
    ck_assert_msg(PARSE("--data-dir", "/a", "--host", "127.0.0.1", "--advertised_host=broker.example") == 0, "%s", err);
    ck_assert_str_eq(cfg.data_dir, "/a");
    ck_assert_str_eq(cfg.host, "127.0.0.1");
    ck_assert_str_eq(cfg.advertised_host, "broker.example");
    ck_assert_int_eq(PARSE("--store_dir", "/b", "--addr=::1"), 0);
    ck_assert_str_eq(cfg.data_dir, "/b");
    ck_assert_str_eq(cfg.host, "::1");
    ck_assert_int_eq(PARSE("--net", "10.0.0.1"), 0);
    ck_assert_str_eq(cfg.host, "10.0.0.1");
    ck_assert_int_eq(load_text("data_dir = \"/with space/and#hash\"\nhost: a#b\nadvertised_host = \"\"\n"), 0);
    ck_assert_str_eq(cfg.data_dir, "/with space/and#hash");
    ck_assert_str_eq(cfg.host, "a#b");
    ck_assert_str_eq(cfg.advertised_host, "");
    ck_assert_int_eq(load_text("store-dir = /c # trailing comment\n"), 0);
    ck_assert_str_eq(cfg.data_dir, "/c");
}
END_TEST

START_TEST(test_short_flags) {
    const char *path = write_conf("kafka_port = 1111\n");
    ck_assert_msg(PARSE("-sd", "/d", "-a", "1.2.3.4", "-p", "1", "-m", "2", "-js", "-c", path) == 0, "%s", err);
    ck_assert_str_eq(cfg.data_dir, "/d");
    ck_assert_str_eq(cfg.host, "1.2.3.4");
    ck_assert_uint_eq(cfg.nats_port, 1);
    ck_assert_uint_eq(cfg.http_port, 2);
    ck_assert(cfg.jetstream);
    ck_assert_uint_eq(cfg.kafka_port, 1111);
    ck_assert_str_eq(cfg.config_file, path);
    const char *debug_flags[] = {"-D", "-V", "-DV", "--debug", "--trace"};
    for (size_t i = 0; i < sizeof(debug_flags) / sizeof(debug_flags[0]); i++) {
        setup();
        ck_assert_int_eq(PARSE(debug_flags[i]), 0);
        ck_assert_int_eq(cfg.log_level, SL_LOG_DEBUG);
    }
    setup();
    ck_assert_int_eq(PARSE("-js", "--jetstream=false"), 0);
    ck_assert(!cfg.jetstream);
    /* The default dead-letter stream: a template, and "" turns it off. */
    ck_assert_int_eq(PARSE("--jetstream-dlq", "dead.{stream}"), 0);
    ck_assert_str_eq(cfg.jetstream_dlq, "dead.{stream}");
    ck_assert_int_eq(PARSE("--jetstream_dlq="), 0);
    ck_assert_str_eq(cfg.jetstream_dlq, "");
    ck_assert_int_eq(load_text("jetstream_dlq = \"{stream}-DEAD\"\n"), 0);
    ck_assert_str_eq(cfg.jetstream_dlq, "{stream}-DEAD");
    ck_assert_int_eq(PARSE("-d"), -1); /* short flags are case-sensitive */
}
END_TEST

START_TEST(test_spellings) {
    ck_assert_int_eq(PARSE("--kafka-port", "1", "-kafka_port=2", "--Max-Connections", "3"), 0);
    ck_assert_uint_eq(cfg.kafka_port, 2);
    ck_assert_uint_eq(cfg.max_connections, 3);
    ck_assert_int_eq(load_text("kafka-port = 7\nMAX_PAYLOAD=8\n"), 0);
    ck_assert_uint_eq(cfg.kafka_port, 7);
    ck_assert_uint_eq(cfg.max_payload_bytes, 8);
    ck_assert_int_eq(sl_config_set(&cfg, "retention-check-ms", "9", err, sizeof(err)), 0);
    ck_assert_uint_eq(cfg.retention_check_ms, 9);
    /* the value after '=' may itself hold '=' */
    ck_assert_int_eq(PARSE("--data-dir=/x=y"), 0);
    ck_assert_str_eq(cfg.data_dir, "/x=y");
    /* a value that looks like a flag is still the value */
    ck_assert_int_eq(PARSE("--retention-bytes", "-1", "--data-dir", "-weird"), 0);
    ck_assert_int_eq(cfg.log.retention_bytes, -1);
    ck_assert_str_eq(cfg.data_dir, "-weird");
}
END_TEST

/* ---- value syntax edges -------------------------------------------------------------------- */

struct bad_row {
    const char *key, *value, *why; /* why: a fragment the message must hold */
};

static const struct bad_row bad_rows[] = {
    {"segment_bytes", "abc", "is not a size"},
    {"segment_bytes", "12abc", "is not a size"},
    {"segment_bytes", "1.5M", "is not a size"},
    {"segment_bytes", "+5", "is not a size"},
    {"segment_bytes", " 5", "is not a size"},
    {"segment_bytes", "5 ", "is not a size"},
    {"segment_bytes", "0x10", "is not a size"},
    {"segment_bytes", "1MM", "is not a size"},
    {"segment_bytes", "M", "is not a size"},
    {"segment_bytes", "1 2", "is not a size"},
    {"segment_bytes", "-5", "must not be negative"},
    {"segment_bytes", "-1", "must not be negative"},
    {"segment_bytes", "", "empty value"},
    {"max_pending", "18446744073709551616", "too large"},
    {"max_pending", "16777216T", "too large"},
    {"max_payload", "4GiB", "too large (at most 4294967295 bytes)"},
    {"max_request_bytes", "4294967296", "too large"},
    {"retention_bytes", "-2", "the only negative value is -1"},
    {"retention_bytes", "9223372036854775808", "too large"},
    {"retention_ms", "-1s", "the only negative value is -1"},
    {"segment_ms", "10x", "is not a duration"},
    {"segment_ms", "1.5s", "is not a duration"},
    {"segment_ms", "s", "is not a duration"},
    {"segment_ms", "-1", "must not be negative"},
    {"group_commit_ms", "2000h", "too large (at most 4294967295 ms)"},
    {"write_deadline", "4294968s", "too large"},
    {"write_deadline", "10sec", "is not a duration"},
    {"kafka_port", "65536", "is not a port (0-65535)"},
    {"port", "99999999999999999999999", "is not a port"},
    {"http_port", "80a", "is not a port"},
    {"http_port", "-1", "must not be negative"},
    {"max_connections", "1K", "is not a number"},
    {"open_files_max", "4294967296", "too large"},
    {"jetstream", "maybe", "is not a boolean"},
    {"jetstream", "", "empty value"},
    {"log_level", "loud", "is not a log level"},
    {"log_level", "debugging-with-a-long-name", "is not a log level"},
    {"fsync", "sometimes", "is not an fsync policy"},
    {"data_dir", "", "empty value"},
    {"host", "", "empty value"},
    {"help", "1", "command-line flag"},
};

static void bad_value_set(const struct bad_row *r) {
    char want[256];
    setup();
    ck_assert_int_eq(sl_config_set(&cfg, r->key, r->value, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: ", r->key);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not name %s", err, r->key);
    ck_assert_msg(strstr(err, r->why), "'%s' lacks '%s'", err, r->why);
    snprintf(want, sizeof(want), "'%s'", r->value);
    if (r->value[0] && strcmp(r->key, "help")) ck_assert_msg(strstr(err, want), "'%s' lacks the value", err);
}

static void bad_value_flag(const struct bad_row *r) {
    char flag[256], want[256];
    setup();
    if (strcmp(r->key, "help") == 0) return; /* --help=1 is help */
    snprintf(flag, sizeof(flag), "--%s=%s", r->key, r->value);
    ck_assert_int_eq(PARSE(flag), -1);
    snprintf(want, sizeof(want), "--%s: ", r->key);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not name --%s", err, r->key);
    ck_assert_msg(strstr(err, r->why), "'%s' lacks '%s'", err, r->why);
}

static void bad_value_file(const struct bad_row *r) {
    char text[256], want[1024];
    setup();
    snprintf(text, sizeof(text), "# first\nport = 1\n%s = \"%s\"\n", r->key, r->value);
    const char *path = write_conf(text);
    ck_assert_int_eq(sl_config_load_file(&cfg, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3: %s: ", path, r->key);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not start with '%s'", err, want);
    ck_assert_msg(strstr(err, r->why), "'%s' lacks '%s'", err, r->why);
}

START_TEST(test_every_bad_value) {
    for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
        bad_value_set(&bad_rows[i]);
        bad_value_flag(&bad_rows[i]);
        bad_value_file(&bad_rows[i]);
    }
}
END_TEST

START_TEST(test_sizes_and_durations) {
    static const struct {
        const char *v;
        uint64_t bytes;
    } sizes[] = {{"0", 0},         {"1", 1},        {"1b", 1},          {"1k", 1024},
                 {"1K", 1024},     {"1KB", 1024},   {"1kib", 1024},     {"1KiB", 1024},
                 {"3m", 3 << 20},  {"3MB", 3 << 20}, {"3MiB", 3 << 20}, {"2g", 2ull << 30},
                 {"2GB", 2ull << 30}, {"2gib", 2ull << 30}, {"007", 7}, {"64 MiB", 64 << 20}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ck_assert_msg(sl_config_set(&cfg, "preallocate_bytes", sizes[i].v, err, sizeof(err)) == 0, "%s", err);
        ck_assert_msg(cfg.log.preallocate_bytes == sizes[i].bytes, "%s", sizes[i].v);
    }
    static const struct {
        const char *key, *v;
        uint64_t ms;
    } durs[] = {{"segment_ms", "250", 250},   {"segment_ms", "250ms", 250}, {"segment_ms", "3s", 3000},
                {"segment_ms", "3S", 3000},   {"segment_ms", "2m", 120000}, {"segment_ms", "2h", 7200000},
                {"write_deadline", "3", 3000}, {"write_deadline", "3ms", 3},  {"write_deadline", "0", 0}};
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        ck_assert_msg(sl_config_set(&cfg, durs[i].key, durs[i].v, err, sizeof(err)) == 0, "%s", err);
        uint64_t got = strcmp(durs[i].key, "segment_ms") == 0 ? (uint64_t)cfg.log.segment_ms : cfg.write_deadline_ms;
        ck_assert_msg(got == durs[i].ms, "%s=%s gave %llu", durs[i].key, durs[i].v, (unsigned long long)got);
    }
    const char *yes[] = {"true", "TRUE", "yes", "on", "1"}, *no[] = {"false", "No", "off", "0"};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(sl_config_set(&cfg, "jetstream", yes[i], err, sizeof(err)), 0);
        ck_assert(cfg.jetstream);
        if (i < 4) ck_assert_int_eq(sl_config_set(&cfg, "jetstream", no[i], err, sizeof(err)), 0);
        if (i < 4) ck_assert(!cfg.jetstream);
    }
}
END_TEST

START_TEST(test_string_too_long) {
    char *big = malloc(5000);
    memset(big, 'x', 4999);
    big[4999] = 0;
    ck_assert_int_eq(sl_config_set(&cfg, "data_dir", big, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "data_dir: value is too long"), "%s", err);
    big[4095] = 0;
    ck_assert_int_eq(sl_config_set(&cfg, "data_dir", big, err, sizeof(err)), 0);
    big[256] = 0;
    ck_assert_int_eq(sl_config_set(&cfg, "host", big, err, sizeof(err)), -1);
    free(big);
}
END_TEST

/* ---- flags and files: errors --------------------------------------------------------------- */

/* A boolean flag takes the next argument when it is a boolean word, and alone means true. */
START_TEST(test_bool_flag_values) {
    ck_assert_msg(PARSE("--auto-create-topics", "false", "--num-partitions", "3") == 0, "%s", err);
    ck_assert(!cfg.auto_create_topics);
    ck_assert_uint_eq(cfg.num_partitions, 3);
    ck_assert_msg(PARSE("--auto-create-topics", "off", "--auto-create-topics") == 0, "%s", err);
    ck_assert(cfg.auto_create_topics);
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        setup();
        ck_assert_msg(PARSE("--jetstream", words[i]) == 0, "%s", err);
        ck_assert_int_eq(cfg.jetstream, i % 2 == 0);
    }
    setup();
    ck_assert_msg(PARSE("-js", "--port", "1") == 0, "%s", err);
    ck_assert(cfg.jetstream);
    ck_assert_uint_eq(cfg.nats_port, 1);
}
END_TEST

START_TEST(test_bad_flags) {
    ck_assert_int_eq(PARSE("--port", "abc"), -1);
    ck_assert_str_eq(err, "--port: 'abc' is not a port (0-65535)");
    ck_assert_int_eq(PARSE("-p=70000"), -1);
    ck_assert_str_eq(err, "-p: '70000' is not a port (0-65535)");
    ck_assert_int_eq(PARSE("--segment-bytes", "abc"), -1);
    ck_assert_str_eq(err, "--segment-bytes: 'abc' is not a size");
    ck_assert_int_eq(PARSE("--port"), -1);
    ck_assert_str_eq(err, "--port: missing value");
    ck_assert_int_eq(PARSE("--nope", "1"), -1);
    ck_assert_str_eq(err, "--nope: unknown flag (see --help)");
    ck_assert_int_eq(PARSE("stray"), -1);
    ck_assert_str_eq(err, "unexpected argument 'stray' (see --help)");
    ck_assert_int_eq(PARSE("-"), -1);
    ck_assert_int_eq(PARSE("--"), -1);
    ck_assert_int_eq(PARSE("--jetstream", "maybe"), -1); /* not a boolean word: a stray argument */
    ck_assert_str_eq(err, "unexpected argument 'maybe' (see --help)");
    ck_assert_int_eq(PARSE("--config="), -1);
    ck_assert_str_eq(err, "--config: empty value");
    ck_assert_int_eq(PARSE("-c", "/nonexistent/sluice.conf"), -1);
    ck_assert_msg(strstr(err, "/nonexistent/sluice.conf: cannot open"), "%s", err);
}
END_TEST

START_TEST(test_bad_files) {
    const char *path = write_conf("port = 1\n\n  # fine\nsegment_bytes = abc\n");
    char want[1024];
    ck_assert_int_eq(sl_config_load_file(&cfg, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:4: segment_bytes: 'abc' is not a size", path);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(cfg.nats_port, 1); /* lines before the bad one applied */

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"port\n", ":1: expected 'key = value' or 'key: value'"},
        {"= 4\n", ":1: expected"},
        {"}\n", ":1: '}' closes no block"},
        {"jetstream {\n store_dir: /x\n", "block 'jetstream' is not closed"},
        {"jetstream { store_dir: /x } port 1\n", ":1: jetstream: unexpected text after the value"},
        {"data_dir = $HOME\n", ":1: data_dir: variables ($NAME) are not supported"},
        {"include ./other.conf\n", ":1: include is not supported"},
        {"authorization {\n users = [\n {user: a, pass: b} {user: c}\n ]\n}\n", ":3: users: unexpected text after a list item"},
        {"authorization {\n users = [ {user: a} ]\n}\n", ":2: authorization.users[0]: user 'a' needs a password"},
        {"authorization {\n user: x\n password: y\n users = [ {user: a, password: b} ]\n}\n",
         "authorization: users cannot be combined with user or token"},
        {"authorization {\n users = [ {nkey: UABC} ]\n}\n", ":2: authorization.users[0].nkey: 'UABC' is not a user nkey"},
        {"authorization {\n users = [ {user: a, password: b, permissions: {publish: \"a..b\"}} ]\n}\n",
         "users[0].permissions.publish: 'a..b' is not a valid subject"},
        {"authorization {\n users = [ {user: a, password: b, account: A} ]\n}\n", "users[0].account: not supported"},
        {"authorization {\n nkeys = [ ]\n}\n", ":2: authorization.nkeys: not supported by Sluice"},
        {"data_dir = \"/x\n", ":1: data_dir: unterminated quoted value"},
        {"data_dir = \"/x\" y\n", ":1: data_dir: unexpected text after the quoted value"},
        {"port =\n", ":1: port: empty value"},
        {"port = # nothing\n", ":1: port: empty value"},
        {"config = other.conf\n", ":1: config: not allowed in a config file"},
        {"help = true\n", ":1: help: a command-line flag"},
        {"\n\nport = 1\nport = 2x\n", ":4: port: '2x' is not a port"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup();
        ck_assert_msg(load_text(bad[i].text) == -1, "accepted %s", bad[i].text);
        ck_assert_msg(strstr(err, bad[i].msg), "'%s' lacks '%s'", err, bad[i].msg);
    }
}
END_TEST

START_TEST(test_file_format) {
    ck_assert_msg(load_text("// header\n"
                            "# another\n"
                            "\t\n"
                            "port: 1000 # nats\n"
                            "kafka_port=2000// kafka: the comment needs a space before it\n"
                            "data_dir = \"/x\"   # quoted\n"
                            "fsync :\tgroup\r\n"
                            "port = 1001\n") == -1, "comment glued to a value is part of it");
    ck_assert_msg(strstr(err, ":5: kafka_port: '2000// kafka"), "%s", err);
    setup();
    ck_assert_msg(load_text("// header\n# another\n\t\nport: 1000 # nats\nkafka_port=2000 // kafka\n"
                            "data_dir = \"/x\"   # quoted\nfsync :\tgroup\r\nport = 1001") == 0, "%s", err);
    ck_assert_uint_eq(cfg.nats_port, 1001); /* the last one wins; no newline at the end is fine */
    ck_assert_uint_eq(cfg.kafka_port, 2000);
    ck_assert_str_eq(cfg.data_dir, "/x");
    ck_assert_int_eq(cfg.log.durability, LOG_DURABILITY_GROUP);
    ck_assert_int_eq(load_text(""), 0);
}
END_TEST

START_TEST(test_flags_override_file) {
    const char *path = write_conf("port = 1111\nkafka_port = 2222\nhttp_port = 3333\n");
    char path_copy[512];
    snprintf(path_copy, sizeof(path_copy), "%s", path);
    ck_assert_msg(PARSE("--port", "5555", "--config", path_copy, "-m", "6666") == 0, "%s", err);
    ck_assert_uint_eq(cfg.nats_port, 5555);
    ck_assert_uint_eq(cfg.kafka_port, 2222);
    ck_assert_uint_eq(cfg.http_port, 6666);
    ck_assert_str_eq(cfg.config_file, path_copy);
    setup();
    ck_assert_msg(PARSE("--config=" /* glued */ "", "-p", "1") == -1, "empty config accepted");
    setup();
    char glued[600];
    snprintf(glued, sizeof(glued), "--config=%s", path_copy);
    ck_assert_msg(PARSE("-p", "7", glued) == 0, "%s", err);
    ck_assert_uint_eq(cfg.nats_port, 7);
    ck_assert_uint_eq(cfg.kafka_port, 2222);
}
END_TEST

START_TEST(test_help_and_version) {
    ck_assert_int_eq(PARSE("-h"), 1);
    ck_assert_int_eq(PARSE("--help"), 1);
    ck_assert_int_eq(PARSE("-v"), 1);
    ck_assert_int_eq(PARSE("--version"), 1);
    ck_assert_int_eq(PARSE("--port", "1", "-h", "--port", "bad"), 1); /* help before values apply */
    char path[512];
    snprintf(path, sizeof(path), "%s/usage.txt", scratch());
    FILE *f = fopen(path, "w+");
    sl_config_usage(f);
    fclose(f);
    uint8_t *text;
    long n = t_read_file(path, &text);
    ck_assert_int_gt(n, 0);
    text[n - 1] = 0;
    ck_assert_ptr_nonnull(strstr((char *)text, "--data-dir"));
    ck_assert_ptr_nonnull(strstr((char *)text, "--retention-check-ms"));
    free(text);
}
END_TEST

/* ---- validation ---------------------------------------------------------------------------- */

static void expect_invalid(const char *prefix) {
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", err, prefix);
}

START_TEST(test_validate) {
    cfg.nats_port = cfg.kafka_port;
    expect_invalid("port: 9092 is also kafka_port");
    setup();
    cfg.http_port = cfg.nats_port;
    expect_invalid("http_port: 4222 is also port");
    setup();
    cfg.kafka_port = cfg.nats_port = cfg.http_port = 0; /* all "pick a free port" */
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), 0);
    setup();
    ck_assert_int_eq(sl_config_set(&cfg, "max_payload", "2MiB", err, sizeof(err)), 0);
    ck_assert_int_eq(sl_config_set(&cfg, "max_pending", "1MiB", err, sizeof(err)), 0);
    expect_invalid("max_payload: 2097152 bytes exceeds max_pending");
    setup();
    cfg.max_request_bytes = 1;
    expect_invalid("max_message_bytes: ");
    setup();
    cfg.log.segment_bytes = 0;
    expect_invalid("segment_bytes");
    static const char *const zero_keys[] = {"max_connections", "open_files_max", "retention_check_ms",
                                            "write_deadline", "max_payload", "max_pending", "max_request_bytes"};
    for (size_t i = 0; i < sizeof(zero_keys) / sizeof(zero_keys[0]); i++) {
        setup();
        ck_assert_int_eq(sl_config_set(&cfg, zero_keys[i], "0", err, sizeof(err)), 0);
        char want[64];
        snprintf(want, sizeof(want), "%s: ", zero_keys[i]);
        expect_invalid(want);
    }
}
END_TEST

/* Our users' command line and nats-server config file, as they are. */
START_TEST(test_nats_server_spellings) {
    ck_assert_int_eq(PARSE("-js", "-m", "8222", "--maxpayload=10MB", "--writedeadline=2s", "--max_connections=5000"), 0);
    ck_assert(cfg.jetstream);
    ck_assert_uint_eq(cfg.http_port, 8222);
    ck_assert_uint_eq(cfg.max_payload_bytes, 10u << 20);
    ck_assert_uint_eq(cfg.write_deadline_ms, 2000);
    ck_assert_uint_eq(cfg.max_connections, 5000);
    /* The authorizer's keys have names that cover both protocols (JetStream streams too). */
    setup();
    ck_assert_int_eq(PARSE("--authorizer", "--super_users", "User:admin"), 0);
    ck_assert(cfg.kafka_authorizer);
    ck_assert_str_eq(cfg.kafka_super_users, "User:admin");
    setup();
    ck_assert_int_eq(PARSE("-t", "--log-format", "json"), 0);
    ck_assert(cfg.check_config);
    ck_assert_str_eq(cfg.log_format, "json");
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), 0);
    setup();
    ck_assert_int_eq(PARSE("--log-format", "xml"), 0);
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "log_format: 'xml' is not text or json");

    setup();
    ck_assert_int_eq(load_text("# nats-server.conf\n"
                               "port: 4333\n"
                               "http_port 8333\n"
                               "max_payload: 10MB\n"
                               "write_deadline: \"2s\"\n"
                               "max_connections = 5000\n"
                               "server_name: n1   # not ours: a warning\n"
                               "jetstream {\n"
                               "  store_dir: \"/srv/js\"\n"
                               "  max_file_store: 10G\n"
                               "}\n"
                               "authorization {\n"
                               "  user: alice\n"
                               "  password: s3cret\n"
                               "}\n"
                               "cluster {\n"
                               "  port: 6222\n"
                               "  routes {\n"
                               "  }\n"
                               "}\n"),
                     0);
    ck_assert_uint_eq(cfg.nats_port, 4333);
    ck_assert_uint_eq(cfg.http_port, 8333);
    ck_assert_uint_eq(cfg.max_payload_bytes, 10u << 20);
    ck_assert_uint_eq(cfg.write_deadline_ms, 2000);
    ck_assert_uint_eq(cfg.max_connections, 5000);
    ck_assert(cfg.jetstream);
    ck_assert_str_eq(cfg.data_dir, "/srv/js");
    ck_assert_str_eq(cfg.user, "alice");
    ck_assert_str_eq(cfg.pass, "s3cret");
    setup();
    ck_assert_int_eq(load_text("authorization {\n  token: t0k\n}\njetstream: enabled\n"), 0);
    ck_assert_str_eq(cfg.auth_token, "t0k");
    ck_assert(cfg.jetstream);
    setup();
    ck_assert_msg(load_text("jetstream { store_dir: /x }\n") == 0, "%s", err); /* one line, as nats-server reads it */
    ck_assert_str_eq(cfg.data_dir, "/x");
}
END_TEST

/* authorization { users = [...] }: users with plain and bcrypt passwords, an nkey user, and
 * permissions in every spelling nats-server takes. */
START_TEST(test_nats_users) {
    ck_assert_msg(load_text("authorization {\n"
                            "  timeout: 3s\n"
                            "  default_permissions = { publish: \"pub.>\" }\n"
                            "  users = [\n"
                            "    {user: alice, password: \"$2b$04$9RsH3nZfxDR5pybBGTCmp.t9PmaUG0Yt7VdIi59DH1HGDEPbMg3Re\"}\n"
                            "    {user: bob, password: 'pw', permissions: {\n"
                            "        publish: { allow: [\"orders.>\"], deny: [\"orders.secret.>\"] }\n"
                            "        subscribe: [\"orders.*\", \"q.> workers\"]\n"
                            "    }}, # comment\n"
                            "    {nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}\n"
                            "  ]\n"
                            "}\n") == 0, "%s", err);
    ck_assert_ptr_nonnull(cfg.nats_auth);
    ck_assert_uint_eq(cfg.nats_auth->user_count, 3);
    ck_assert_uint_eq(cfg.nats_auth->nkey_count, 1);
    ck_assert_uint_eq(cfg.auth_timeout_ms, 3000);
    const struct nats_user *u = NULL;
    struct nats_creds c = {.user = "alice", .pass = "s3cret"};
    ck_assert(nats_auth_check(&cfg, &c, "", NULL, &u));
    ck_assert_str_eq(u->name, "alice");
    ck_assert(u->perms == &cfg.nats_auth->default_perms); /* no permissions of her own */
    c.pass = "s3cret!";
    ck_assert(!nats_auth_check(&cfg, &c, "", NULL, &u));
    /* The bcrypt comparison a worker makes: named by nats_auth_slow_hash, and its verdict is
     * what the check then uses for that hash (and only for that hash). */
    const char *hash = nats_auth_slow_hash(&cfg, &c);
    ck_assert_ptr_nonnull(hash);
    ck_assert_str_eq(hash, "$2b$04$9RsH3nZfxDR5pybBGTCmp.t9PmaUG0Yt7VdIi59DH1HGDEPbMg3Re");
    ck_assert(!nats_auth_password_ok(hash, "s3cret!"));
    ck_assert(nats_auth_password_ok(hash, "s3cret"));
    struct nats_bcrypt_verdict v = {.ok = true};
    snprintf(v.hash, sizeof(v.hash), "%s", hash);
    ck_assert(nats_auth_check(&cfg, &c, "", &v, &u)); /* the verdict decides, no bcrypt */
    v.ok = false;
    c.pass = "s3cret";
    ck_assert(!nats_auth_check(&cfg, &c, "", &v, &u));
    snprintf(v.hash, sizeof(v.hash), "%s", "$2b$04$someotherhashsomeotherhashsomeotherhashsomeotherhashsom");
    ck_assert(nats_auth_check(&cfg, &c, "", &v, &u)); /* another hash's verdict: checked afresh */
    c = (struct nats_creds){.user = "bob", .pass = "pw"};
    ck_assert_ptr_null(nats_auth_slow_hash(&cfg, &c)); /* a plain password: fast */
    c = (struct nats_creds){.user = "bob", .pass = "pw"};
    ck_assert(nats_auth_check(&cfg, &c, "", NULL, &u));
    ck_assert(nats_perms_pub_ok(u->perms, "orders.new", 10));
    ck_assert(!nats_perms_pub_ok(u->perms, "orders.secret.x", 15)); /* deny wins */
    ck_assert(!nats_perms_pub_ok(u->perms, "pub.x", 5));
    ck_assert(nats_perms_sub_ok(u->perms, "orders.new", 10, NULL, 0));
    ck_assert(!nats_perms_sub_ok(u->perms, "orders.a.b", 10, NULL, 0));
    ck_assert(nats_perms_sub_ok(u->perms, "q.a", 3, "workers", 7));
    ck_assert(!nats_perms_sub_ok(u->perms, "q.a", 3, NULL, 0));
    ck_assert(!nats_perms_sub_ok(u->perms, "q.a", 3, "others", 6));
    c = (struct nats_creds){.user = "carol", .pass = "pw"};
    ck_assert(!nats_auth_check(&cfg, &c, "", NULL, &u));
    c = (struct nats_creds){.nkey = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", .sig = "AAAA"};
    ck_assert(!nats_auth_check(&cfg, &c, "nonce", NULL, &u)); /* a bad signature */
    ck_assert(nats_auth_required(&cfg));
    ck_assert(nats_auth_nonce_required(&cfg));
}
END_TEST

START_TEST(test_nats_subjects_and_nkeys) {
    static const struct {
        const char *pat, *subj;
        bool match;
    } m[] = {
        {"a.b", "a.b", true},   {"a.*", "a.b", true},   {"a.*", "a.b.c", false}, {"a.>", "a.b.c", true},
        {"a.>", "a", false},    {">", "x", true},       {"*", "a.b", false},     {"a.*", "a.*", true},
        {"a.b", "a.*", false},  {"a.>", "a.*", true},   {"*.b", "x.b", true},    {"a.b", "a.bc", false},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        ck_assert_msg(nats_subject_matches(m[i].pat, strlen(m[i].pat), m[i].subj, strlen(m[i].subj)) == m[i].match,
                      "%s ~ %s", m[i].pat, m[i].subj);
    uint8_t key[32];
    const char *good = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";
    ck_assert_int_eq(nats_nkey_decode(good, strlen(good), NATS_NKEY_PREFIX_USER, key), 0);
    char bad[64];
    snprintf(bad, sizeof(bad), "%s", good);
    bad[10] = bad[10] == 'A' ? 'B' : 'A'; /* the CRC catches it */
    ck_assert_int_eq(nats_nkey_decode(bad, strlen(bad), NATS_NKEY_PREFIX_USER, key), -1);
    ck_assert_int_eq(nats_nkey_decode(good, strlen(good), 14u << 3 /* 'O', an operator */, key), -1);
    ck_assert_int_eq(nats_nkey_decode(good, 55, NATS_NKEY_PREFIX_USER, key), -1);
    char nonce[NATS_NONCE_LEN + 1];
    const uint8_t raw[NATS_NONCE_RAW] = {0xfb, 0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    nats_auth_nonce(raw, nonce);
    ck_assert_uint_eq(strlen(nonce), NATS_NONCE_LEN);
    ck_assert_ptr_null(strpbrk(nonce, "+/="));
}
END_TEST

/* TLS as nats-server spells it: flags, the tls { } block, and what validation demands. */
START_TEST(test_tls_keys) {
    ck_assert_int_eq(PARSE("--tls", "--tlscert", "/c.pem", "--tlskey", "/k.pem", "--tlscacert", "/ca.pem",
                           "--tlsverify", "-ms", "8443", "--kafka-tls"), 0);
    ck_assert(cfg.tls && cfg.kafka_tls && cfg.tls_verify);
    ck_assert_str_eq(cfg.tls_cert, "/c.pem");
    ck_assert_str_eq(cfg.tls_key, "/k.pem");
    ck_assert_str_eq(cfg.tls_ca, "/ca.pem");
    ck_assert_uint_eq(cfg.https_port, 8443);
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), 0);

    /* The monitoring port's token: a flag or a file key, off by default. */
    sl_config_defaults(&cfg);
    ck_assert_str_eq(cfg.http_token, "");
    ck_assert_int_eq(PARSE("--http-token", "m0n"), 0);
    ck_assert_str_eq(cfg.http_token, "m0n");
    ck_assert_int_eq(load_text("http_token: \"s3c ret\"\n"), 0);
    ck_assert_str_eq(cfg.http_token, "s3c ret");

    sl_config_defaults(&cfg);
    ck_assert_uint_eq(cfg.tls_timeout_ms, 2000);
    ck_assert_str_eq(cfg.tls_min_version, "1.2");
    ck_assert_int_eq(load_text("tls {\n  cert_file: \"/s.pem\"\n  key_file: /s.key\n  ca_file = /ca.pem\n"
                               "  verify: true\n  timeout: 3\n  min_version: \"1.3\"\n}\n"), 0);
    ck_assert(cfg.tls && cfg.tls_verify && !cfg.kafka_tls);
    ck_assert_str_eq(cfg.tls_cert, "/s.pem");
    ck_assert_str_eq(cfg.tls_key, "/s.key");
    ck_assert_uint_eq(cfg.tls_timeout_ms, 3000);
    ck_assert_str_eq(cfg.tls_min_version, "1.3");
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), 0);

    sl_config_defaults(&cfg);
    ck_assert_int_eq(PARSE("--kafka-tls"), 0);
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "tls_cert"));
    sl_config_defaults(&cfg);
    ck_assert_int_eq(PARSE("--tls", "--tlscert", "/c", "--tlskey", "/k", "--tlsverify"), 0);
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "tls_ca"));
    sl_config_defaults(&cfg);
    ck_assert_int_eq(PARSE("--tls-min-version", "1.1"), 0);
    ck_assert_int_eq(sl_config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "tls_min_version"));

    /* Cipher choice: empty means the defaults in tls.c; a file's lists are joined with ':'
     * (nats-server writes them as lists), a flag takes the joined form. */
    sl_config_defaults(&cfg);
    ck_assert_str_eq(cfg.tls_cipher_suites, "");
    ck_assert_str_eq(cfg.tls_cipher_suites_tls13, "");
    ck_assert_str_eq(cfg.tls_curve_preferences, "");
    ck_assert_int_eq(load_text("tls {\n  cert_file: /s.pem\n  key_file: /s.key\n"
                               "  cipher_suites: [\n    \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\n"
                               "    \"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\"\n  ]\n"
                               "  cipher_suites_tls13: [TLS_AES_128_GCM_SHA256]\n"
                               "  curve_preferences: [X25519, CurveP256]\n}\n"), 0);
    ck_assert_str_eq(cfg.tls_cipher_suites,
                     "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    ck_assert_str_eq(cfg.tls_cipher_suites_tls13, "TLS_AES_128_GCM_SHA256");
    ck_assert_str_eq(cfg.tls_curve_preferences, "X25519:CurveP256");
    ck_assert_int_eq(PARSE("--tls-curve-preferences", "P-256"), 0);
    ck_assert_str_eq(cfg.tls_curve_preferences, "P-256");
    ck_assert_int_eq(load_text("tls_min_version: [\"1.2\"]\n"), -1); /* a list only where a list fits */
}
END_TEST

static Suite *config_suite(void) {
    Suite *s = suite_create("broker_config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_key);
    tcase_add_test(tc, test_tls_keys);
    tcase_add_test(tc, test_string_keys);
    tcase_add_test(tc, test_short_flags);
    tcase_add_test(tc, test_spellings);
    tcase_add_test(tc, test_every_bad_value);
    tcase_add_test(tc, test_sizes_and_durations);
    tcase_add_test(tc, test_string_too_long);
    tcase_add_test(tc, test_bool_flag_values);
    tcase_add_test(tc, test_bad_flags);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_file_format);
    tcase_add_test(tc, test_flags_override_file);
    tcase_add_test(tc, test_help_and_version);
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_nats_server_spellings);
    tcase_add_test(tc, test_nats_users);
    tcase_add_test(tc, test_nats_subjects_and_nkeys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
