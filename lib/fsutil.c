/* fsutil: small synchronous file helpers (atomic replace, bounded read). */
#include "delego/fsutil.h"
#include "delego/random.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
