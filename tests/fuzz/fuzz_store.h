/* fuzz_store.h: what the targets that can open a whole store share (fuzz_kvlog,
 * fuzz_recovery): the loop the store runs on, made once, and the switch between their two
 * modes. By default they feed the bytes from memory through the same parsing the store uses
 * (tens of thousands of inputs a second); with FUZZ_WHOLE_STORE=1 in the environment they
 * write the files and open a store on them (directories, fsyncs, io_uring: a few hundred a
 * second), which also covers the file handling around the parsing. */
#ifndef SL_FUZZ_STORE_H
#define SL_FUZZ_STORE_H

#include <stdbool.h>
#include <stdlib.h>

#include "base/loop.h"

static struct loop fz_loop;
static bool fz_whole_store;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *w = getenv("FUZZ_WHOLE_STORE");
    fz_whole_store = w && w[0] == '1';
    if (fz_whole_store && loop_init(&fz_loop, 64) != 0) abort();
    return 0;
}

#endif
