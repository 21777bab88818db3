/* testutil.h: helpers shared by the Check suites: scratch directories and file pokes. */
#ifndef SL_TESTUTIL_H
#define SL_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Makes a fresh empty directory under $TMPDIR (or /tmp) and returns its path (static storage
 * per call slot: up to 8 live at once). */
const char *t_tmpdir(void);
/* rm -rf of a directory made by t_tmpdir. */
void t_rmdir(const char *path);
/* Reads a whole file into a malloc'ed buffer; returns its size or -1. */
long t_read_file(const char *path, uint8_t **out);
/* Overwrites len bytes at pos of an existing file. */
void t_poke(const char *path, long pos, const void *bytes, size_t len);
/* Size of a file, or -1. */
long t_file_size(const char *path);
/* Deterministic pseudo-random bytes from a seed. */
void t_fill_random(uint8_t *p, size_t n, uint64_t seed);

#endif
