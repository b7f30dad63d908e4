/* fsutil: small synchronous file helpers (atomic replace, bounded read). */
#include "delego/fsutil.h"
#include "delego/random.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int dr_fsutil_read_file(const char *path, struct dr_buf *out, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	if (st)
		*st = sb;
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		r = dr_buf_add(out, chunk, (size_t)n);
		if (r < 0)
			goto out;
	}
out:
	close(fd);
	return r;
}

int dr_fsutil_mkdir_p(const char *path, mode_t mode)
{
	char *p = dr_xstrdup(path);
	int r = 0;
	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = saved;
		if (!saved)
			break;
	}
	free(p);
	return r;
}

int dr_fsutil_open_new(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

int dr_fsutil_open_temp(const char *path, mode_t mode, char **tmp_out)
{
	/* Another user who can write the directory cannot guess the name, and
	 * whatever they planted there is neither followed nor reused. */
	for (int tries = 0; tries < 16; tries++) {
		char rnd[17];
		dr_random_hex(rnd, 8);
		char *tmp = dr_xasprintf("%s" DR_TEMP_INFIX "%s", path, rnd);
		int fd = dr_fsutil_open_new(tmp, mode);
		if (fd >= 0) {
			*tmp_out = tmp;
			return fd;
		}
		free(tmp);
		if (fd != -EEXIST)
			return fd;
	}
	return -EEXIST;
}

int dr_fsutil_check_private_dir(const char *path, bool tighten, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int r = -errno;
		snprintf(err, errlen, "cannot use directory %s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory: move it away", path);
		return -ENOTDIR;
	}
	uid_t me = geteuid();
	/* root's directories are as trusted as root itself. */
	if (st.st_uid != me && st.st_uid != 0) {
		snprintf(err, errlen, "directory %s belongs to uid %ld, not to this user (uid %ld), who could plant "
			 "files there: run chown %ld %s, or use another directory", path, (long)st.st_uid, (long)me,
			 (long)me, path);
		return -EPERM;
	}
	if (st.st_mode & 022) {
		snprintf(err, errlen, "directory %s has mode %04o: other users could plant files there; run chmod 700 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (tighten && st.st_uid == me && (st.st_mode & 077) && chmod(path, st.st_mode & 07700) < 0) {
		int r = -errno;
		snprintf(err, errlen, "cannot make directory %s private (chmod 700 %s): %s", path, path, strerror(-r));
		return r;
	}
	return 0;
}

int dr_fsutil_check_trusted_file(const char *path, unsigned flags, char *err, size_t errlen)
{
	char *dir = dr_xstrdup(path);
	char *slash = strrchr(dir, '/');
	struct stat st;
	int r = 0;
	if (slash) {
		slash[slash == dir ? 1 : 0] = '\0';
		if (stat(dir, &st) == 0)
			r = dr_fsutil_check_private_dir(dir, false, err, errlen);
	}
	free(dir);
	if (r < 0 || lstat(path, &st) < 0)
		return r;
	if (S_ISLNK(st.st_mode) && (flags & DR_TRUST_NOFOLLOW)) {
		snprintf(err, errlen, "%s is a symbolic link: refusing to follow it; put the file itself there", path);
		return -ELOOP;
	}
	if (S_ISLNK(st.st_mode) && stat(path, &st) < 0)
		return 0;
	uid_t me = geteuid();
	if (st.st_uid != me && st.st_uid != 0) {
		snprintf(err, errlen, "%s belongs to uid %ld, not to this user (uid %ld): run chown %ld %s", path,
			 (long)st.st_uid, (long)me, (long)me, path);
		return -EPERM;
	}
	/* Only a regular file: /dev/null (0666) is as good an empty file as any. */
	if ((flags & DR_TRUST_NOWRITE) && S_ISREG(st.st_mode) && (st.st_mode & 022)) {
		snprintf(err, errlen, "%s has mode %04o: other users could change it; run chmod go-w %s", path,
			 (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

int dr_fsutil_mkdir_private(const char *path, char *err, size_t errlen)
{
	int r = dr_fsutil_mkdir_p(path, 0700);
	if (r < 0) {
		snprintf(err, errlen, "cannot create directory %s: %s", path, strerror(-r));
		return r;
	}
	return dr_fsutil_check_private_dir(path, true, err, errlen);
}

static int fsync_dir_of(const char *path)
{
	char *dir = dr_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int dr_fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t file_mode, mode_t dir_mode)
{
	char *dir = dr_xstrdup(path);
	char *slash = strrchr(dir, '/');
	int r = 0;
	if (slash && slash != dir) {
		*slash = '\0';
		r = dr_fsutil_mkdir_p(dir, dir_mode);
	}
	free(dir);
	if (r < 0)
		return r;

	char *tmp = NULL;
	int fd = dr_fsutil_open_temp(path, file_mode, &tmp);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (r == 0 && fchmod(fd, file_mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	else
		r = fsync_dir_of(path);
out:
	free(tmp);
	return r;
}

int dr_fsutil_write_replace(const char *path, const void *data, size_t len, mode_t file_mode)
{
	char *tmp = NULL;
	int r = 0;
	int fd = dr_fsutil_open_temp(path, file_mode, &tmp);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (write(fd, data, len) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
out:
	free(tmp);
	return r;
}

/*
 * One async write. Writes to one path on one loop go one at a time, in
 * the order they were asked for (a later one waits in after), so that an
 * older text never lands last; different paths go in parallel.
 */
struct write_req {
	uv_work_t work;
	uv_loop_t *loop;
	struct write_req *next;  /* in the list of writes asked for and not done */
	struct write_req *after; /* the next write to this path, queued once this one is done */
	char *path;
	char *data;
	size_t len;
	mode_t file_mode, dir_mode;
	bool durable;
	int r;
	dr_fsutil_done_cb cb;
	void *cb_data;
};

static pthread_mutex_t writes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct write_req *writes;

static void write_work(uv_work_t *w)
{
	struct write_req *q = w->data;
	q->r = q->durable ? dr_fsutil_write_atomic(q->path, q->data, q->len, q->file_mode, q->dir_mode)
			  : dr_fsutil_write_replace(q->path, q->data, q->len, q->file_mode);
}

static void write_done(uv_work_t *w, int status);

static int write_queue(struct write_req *q)
{
	return uv_queue_work(q->loop, &q->work, write_work, write_done);
}

static void write_req_free(struct write_req *q)
{
	free(q->path);
	free(q->data);
	free(q);
}

static void unlist(struct write_req *q)
{
	pthread_mutex_lock(&writes_lock);
	for (struct write_req **pp = &writes; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	pthread_mutex_unlock(&writes_lock);
}

static void write_done(uv_work_t *w, int status)
{
	struct write_req *q = w->data;
	unlist(q);
	if (q->cb)
		q->cb(q->cb_data, status < 0 ? status : q->r);
	if (q->after)
		(void)write_queue(q->after); /* uv_queue_work fails only without a work_cb */
	write_req_free(q);
}

int dr_fsutil_write_async(uv_loop_t *loop, const char *path, const void *data, size_t len, mode_t file_mode,
			  mode_t dir_mode, bool durable, dr_fsutil_done_cb cb, void *cb_data)
{
	struct write_req *q = dr_xcalloc(1, sizeof *q);
	q->loop = loop;
	q->path = dr_xstrdup(path);
	q->data = dr_xmalloc(len ? len : 1);
	memcpy(q->data, data, len);
	q->len = len;
	q->file_mode = file_mode;
	q->dir_mode = dir_mode;
	q->durable = durable;
	q->cb = cb;
	q->cb_data = cb_data;
	q->work.data = q;
	pthread_mutex_lock(&writes_lock);
	struct write_req *last = NULL;
	for (struct write_req *o = writes; o; o = o->next)
		if (o->loop == loop && !o->after && !strcmp(o->path, path))
			last = o;
	q->next = writes;
	writes = q;
	if (last)
		last->after = q;
	pthread_mutex_unlock(&writes_lock);
	int r = last ? 0 : write_queue(q);
	if (r < 0) {
		unlist(q);
		write_req_free(q);
	}
	return r;
}

bool dr_fsutil_dir_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	bool empty = true;
	for (struct dirent *e; empty && (e = readdir(d));)
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}
