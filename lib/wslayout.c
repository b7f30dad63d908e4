/* wslayout: paths, locks and markers under the workspace root (wslayout.h). */
#include "delego/wslayout.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/job.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *dr_wslayout_source(const char *root, const char *slug)
{
	return dr_xasprintf("%s/sources/%s.git", root, slug);
}

char *dr_wslayout_worktree(const char *root, const char *slug, const char *job_id)
{
	return dr_xasprintf("%s/worktrees/%s/%s", root, slug, job_id);
}

char *dr_wslayout_spare(const char *root, const char *slug, int n)
{
	return dr_xasprintf("%s/worktrees/%s/" DR_WSLAYOUT_SPARE_PREFIX "%d", root, slug, n);
}

bool dr_wslayout_is_spare(const char *name)
{
	return name && !strncmp(name, DR_WSLAYOUT_SPARE_PREFIX, strlen(DR_WSLAYOUT_SPARE_PREFIX));
}

int dr_wslayout_trylock(const char *path, int how, int *fd)
{
	int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (d < 0)
		return -errno;
	if (flock(d, how | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
		close(d);
		return e;
	}
	/* Removed (gc) or replaced while we waited: this lock guards nothing. */
	struct stat a, b;
	if (fstat(d, &a) < 0 || lstat(path, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		close(d);
		return -ESTALE;
	}
	*fd = d;
	return 0;
}

int dr_wslayout_mark_awaiting(const char *worktree, const char *job_id, bool awaiting)
{
	if (!worktree || !job_id || !dr_job_id_valid(job_id))
		return -EINVAL;
	char *path = dr_xasprintf("%s" DR_WSLAYOUT_AWAITING_SUFFIX, worktree);
	int r = 0;
	if (!awaiting) {
		if (unlink(path) < 0 && errno != ENOENT)
			r = -errno;
	} else {
		char *text = dr_xasprintf("job %s is waiting for the user's answer; `delego-runner workspace gc` keeps "
					  "its worktree until the job ends\n",
					  job_id);
		r = dr_fsutil_write_atomic(path, text, strlen(text), 0600, 0700);
		free(text);
	}
	free(path);
	return r;
}

bool dr_wslayout_awaiting(const char *worktree, long long *mtime)
{
	char *marker = dr_xasprintf("%s" DR_WSLAYOUT_AWAITING_SUFFIX, worktree);
	struct stat st;
	bool there = lstat(marker, &st) == 0;
	free(marker);
	if (there && mtime)
		*mtime = (long long)st.st_mtime;
	return there;
}

int dr_wslayout_mkdir_under(const char *root, const char *const *parts, char *err, size_t errlen)
{
	struct dr_buf p = DR_BUF_INIT(PATH_MAX);
	int r = dr_buf_addstr(&p, root);
	for (size_t i = 0; r == 0 && parts[i]; i++) {
		r = dr_buf_addf(&p, "/%s", parts[i]);
		if (r < 0)
			break;
		if (mkdir(p.buf, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(err, errlen, "cannot create %s: %s", p.buf, strerror(errno));
			goto out;
		}
		struct stat st;
		if (lstat(p.buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
			r = -ENOTDIR;
			snprintf(err, errlen, "%s is not a plain directory (a symlink or a file); the runner only "
					      "writes inside the workspace root %s",
				 p.buf, root);
			goto out;
		}
		/* Private repositories stay private: 0700, and no directory others can write. */
		if ((r = dr_fsutil_check_private_dir(p.buf, true, err, errlen)) < 0)
			goto out;
	}
	if (r == -E2BIG)
		snprintf(err, errlen, "path too long under %s", root);
out:
	dr_buf_release(&p);
	return r;
}

bool dr_wslayout_is_dir(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
