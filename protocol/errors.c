/* errors.c: the message tables behind sl_err (see errors.h). */
#include "protocol/errors.h"

#include <stddef.h>

#define SL_ERR_TEXT(name, code, text, nats_text) [SL_##name] = text,
static const char *const sl_err_texts[SL_ERR_COUNT] = {SL_ERRORS(SL_ERR_TEXT)};
#undef SL_ERR_TEXT

#define SL_ERR_CODE(name, code, text, nats_text) [SL_##name] = code,
static const int sl_err_codes[SL_ERR_COUNT] = {SL_ERRORS(SL_ERR_CODE)};
#undef SL_ERR_CODE

#define SL_ERR_NATS(name, code, text, nats_text) [SL_##name] = nats_text,
static const char *const sl_err_nats_texts[SL_ERR_COUNT] = {SL_ERRORS(SL_ERR_NATS)};
#undef SL_ERR_NATS

const char *sl_err_str(sl_err e) {
    if ((unsigned)e >= SL_ERR_COUNT) return "unknown error";
    return sl_err_texts[e];
}

/* UNKNOWN_SERVER_ERROR (-1) is also Kafka's code for errors with no better mapping. */
int sl_err_kafka(sl_err e) {
    if ((unsigned)e >= SL_ERR_COUNT) return -1;
    return sl_err_codes[e];
}

const char *sl_err_nats(sl_err e) {
    if ((unsigned)e >= SL_ERR_COUNT) return NULL;
    return sl_err_nats_texts[e];
}

sl_err sl_err_of_kafka(int code) {
    if (code == 0) return SL_OK;
    if (code == -1) return SL_UNKNOWN_SERVER;
    for (int e = 1; e < SL_ERR_COUNT; e++)
        if (sl_err_codes[e] == code) return (sl_err)e;
    return SL_UNKNOWN_SERVER;
}
