/* nats_common.c: NATS connections for the CLI, error mapping, header flags, message JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats.h"

int nats_open(const struct cli *c, natsConnection **nc)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, c->server);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, c->timeout_ms);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsOptions_SetName(o, "sluice-cli");
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        return cli_fail(EXIT_USAGE, "NATS options (%s): %s", c->server, natsStatus_GetText(s));
    }
    s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR || s == NATS_SYS_ERROR ||
        s == NATS_CONNECTION_CLOSED)
        return cli_fail(EXIT_UNREACHABLE, "cannot reach the NATS server %s within %d ms (%s)",
                        c->server, c->timeout_ms, natsStatus_GetText(s));
    if (s != NATS_OK) return cli_fail(EXIT_SERVER, "NATS connect %s: %s", c->server, natsStatus_GetText(s));
    return EXIT_OK;
}

void nats_close(natsConnection *nc)
{
    if (!nc) return;
    natsConnection_FlushTimeout(nc, 2000);
    natsConnection_Destroy(nc);
}

int nats_fail(const struct cli *c, natsStatus s, jsErrCode jerr, const char *what)
{
    const char *last = nats_GetLastError(NULL);
    const char *reason = last && *last ? last : natsStatus_GetText(s);
    /* 10059 stream not found, 10014 consumer not found, 10037 no message found. */
    if (jerr == 10059 || jerr == 10014 || jerr == 10037 || s == NATS_NOT_FOUND)
        return cli_fail(EXIT_NOT_FOUND, "%s: %s", what, reason);
    if (s == NATS_TIMEOUT || s == NATS_NO_SERVER || s == NATS_CONNECTION_CLOSED ||
        s == NATS_CONNECTION_DISCONNECTED || s == NATS_STALE_CONNECTION)
        return cli_fail(EXIT_UNREACHABLE, "%s: no answer from %s within %d ms (%s)", what, c->server,
                        c->timeout_ms, natsStatus_GetText(s));
    if (s == NATS_NO_RESPONDERS)
        return cli_fail(EXIT_SERVER, "%s: no responders (is JetStream enabled on %s?)", what, c->server);
    if (jerr) return cli_fail(EXIT_SERVER, "%s: %s (JetStream error %d)", what, reason, (int)jerr);
    return cli_fail(EXIT_SERVER, "%s: %s", what, reason);
}

void nats_js_options(const struct cli *c, jsOptions *o)
{
    jsOptions_Init(o);
    o->Wait = c->timeout_ms;
}

int nats_header_arg(natsMsg *m, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return cli_fail(EXIT_USAGE, "--header wants K=V, got '%s'", arg);
    char *k = strndup(arg, (size_t)(eq - arg));
    natsStatus s = natsMsgHeader_Add(m, k, eq + 1);
    free(k);
    if (s != NATS_OK) return cli_fail(EXIT_USAGE, "--header %s: %s", arg, natsStatus_GetText(s));
    return EXIT_OK;
}

json_t *nats_msg_json(natsMsg *m)
{
    json_t *hs = json_array();
    const char **keys = NULL;
    int nk = 0;
    if (natsMsgHeader_Keys(m, &keys, &nk) == NATS_OK) {
        for (int i = 0; i < nk; i++) {
            const char **vals = NULL;
            int nv = 0;
            if (natsMsgHeader_Values(m, keys[i], &vals, &nv) != NATS_OK) continue;
            for (int j = 0; j < nv; j++) json_array_append_new(hs, json_pack("[s,s]", keys[i], vals[j]));
            free((void *)vals);
        }
        free((void *)keys);
    }
    const char *reply = natsMsg_GetReply(m);
    return json_pack("{s:s,s:o,s:o,s:o}", "subject", natsMsg_GetSubject(m), "reply",
                     reply ? json_string(reply) : json_null(), "data",
                     json_bytes(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)), "headers", hs);
}
