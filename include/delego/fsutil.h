/*
 * fsutil: small file helpers for files we own (credentials, spool
 * entries, state). Each call is one short read or write, fit for the loop
 * only because the files are small; what fsyncs, or renames over a file
 * on the loop, goes through dr_fsutil_write_async.
 */
#ifndef DELEGO_FSUTIL_H
#define DELEGO_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "delego/buf.h"

#include <uv.h>

/* Appends the file's contents to out (bounded by out->max: -E2BIG). *st optional. */
int dr_fsutil_read_file(const char *path, struct dr_buf *out, struct stat *st);
/*
 * Writes data to a temporary file beside path, fsyncs it, renames it over
 * path and fsyncs the directory. Missing parent directories are created
 * with dir_mode; the file gets file_mode.
 */
int dr_fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t file_mode, mode_t dir_mode);
/*
 * As dr_fsutil_write_atomic, without fsync and without creating directories:
 * for informational files (the status file) that may be lost in a crash.
 */
int dr_fsutil_write_replace(const char *path, const void *data, size_t len, mode_t file_mode);
/*
 * dr_fsutil_write_atomic (durable) or dr_fsutil_write_replace on the
 * loop's threadpool, so that neither the fsyncs nor the rename over an
 * old file (freeing it can wait for a discard on the disk) stall the
 * loop. data is copied. Writes to one path on one loop land in the order
 * they were asked for, one at a time. cb (may be NULL) runs on the loop
 * once the file is in place (durable: on disk), with the write's 0 or
 * negative errno. The loop runs until every write is done. Returns 0, or a negative errno
 * after which cb never runs.
 */
typedef void (*dr_fsutil_done_cb)(void *data, int r);
int dr_fsutil_write_async(uv_loop_t *loop, const char *path, const void *data, size_t len, mode_t file_mode,
			  mode_t dir_mode, bool durable, dr_fsutil_done_cb cb, void *cb_data);
/* What a temporary file's name carries between its target's name and a random part. */
#define DR_TEMP_INFIX ".tmp-"
/* Creates path, which must not exist (O_CREAT|O_EXCL|O_NOFOLLOW): an fd or -errno. */
int dr_fsutil_open_new(const char *path, mode_t mode);
/*
 * Creates a new file beside path named path DR_TEMP_INFIX <16 random hex>,
 * as dr_fsutil_open_new. Returns the fd and *tmp_out (caller frees), or -errno.
 */
int dr_fsutil_open_temp(const char *path, mode_t mode, char **tmp_out);
/*
 * Refuses a directory other users could plant files in: it must be a
 * directory owned by us (or root) and not writable by group or others.
 * With tighten, a directory of ours that others may read or enter is
 * made 0700. err gets the sentence with the chmod/chown fix.
 */
int dr_fsutil_check_private_dir(const char *path, bool tighten, char *err, size_t errlen);
#define DR_TRUST_NOFOLLOW 0x1u /* refuse a symbolic link (else its target is checked) */
#define DR_TRUST_NOWRITE 0x2u  /* refuse a file group or others may write */
/*
 * Refuses a file another user could have planted or changed: it must
 * belong to us (or root), and its directory, when it exists, must pass
 * dr_fsutil_check_private_dir (not tightened). A file that does not exist passes:
 * its reader says so. err gets the sentence with the fix.
 */
int dr_fsutil_check_trusted_file(const char *path, unsigned flags, char *err, size_t errlen);
/* mkdir -p (new directories 0700), then dr_fsutil_check_private_dir(path, true). */
int dr_fsutil_mkdir_private(const char *path, char *err, size_t errlen);
/* mkdir -p with mode for every directory it creates. */
int dr_fsutil_mkdir_p(const char *path, mode_t mode);
/* True for a directory with no entry but . and ..; false for anything else or an error. */
bool dr_fsutil_dir_empty(const char *path);

#endif
