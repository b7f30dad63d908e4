/*
 * fsutil: small, synchronous file helpers for files we own (credentials,
 * spool entries, state). Each call is one short read or write, fit for the
 * loop only because the files are small.
 */
#ifndef DELEGO_FSUTIL_H
#define DELEGO_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "delego/buf.h"

/* Appends the file's contents to out (bounded by out->max: -E2BIG). *st optional. */
int dr_read_file(const char *path, struct dr_buf *out, struct stat *st);
/*
 * Writes data to a temporary file beside path, fsyncs it, renames it over
 * path and fsyncs the directory. Missing parent directories are created
 * with dir_mode; the file gets file_mode.
 */
int dr_write_file_atomic(const char *path, const void *data, size_t len, mode_t file_mode, mode_t dir_mode);
/*
 * As dr_write_file_atomic, without fsync and without creating directories:
 * for informational files (the status file) that may be lost in a crash.
 */
int dr_write_file_replace(const char *path, const void *data, size_t len, mode_t file_mode);
/* mkdir -p with mode for every directory it creates. */
int dr_mkdir_p(const char *path, mode_t mode);
/* True for a directory with no entry but . and ..; false for anything else or an error. */
bool dr_dir_empty(const char *path);

#endif
