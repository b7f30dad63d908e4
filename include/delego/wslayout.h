/*
 * wslayout: where things live under the workspace root, and the locks
 * and markers that say who uses them. Shared by workspace (which makes
 * them) and gc (which judges and removes them); neither reaches into the
 * other.
 *
 *   <root>/sources/<owner>/<repo>.git                 bare source cache
 *   <root>/worktrees/<owner>/<repo>/<jobId>           one worktree per job
 *   <root>/worktrees/<owner>/<repo>/<jobId>.awaiting  its job waits for an answer
 *
 * The cache's lock is a flock LOCK_EX on the bare repository directory;
 * a worktree in use is a flock LOCK_EX on its directory (gc tests it with
 * LOCK_SH). The kernel drops both when the holder dies.
 */
#ifndef DELEGO_WSLAYOUT_H
#define DELEGO_WSLAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#define DR_WSLAYOUT_AWAITING_SUFFIX ".awaiting"
/*
 * After a successful push, refs/delego/pushed/<branch> records what
 * reached the remote (a bare cache has no remote-tracking refspec, and
 * fetch --prune forgets branches deleted upstream after a merge): gc
 * counts a commit as pushed when a remote-tracking ref or one of these
 * reaches it.
 */
#define DR_WSLAYOUT_PUSHED_REFS "refs/delego/pushed/"

/* <root>/sources/<owner>/<repo>.git for slug "owner/repo". Caller frees. */
char *dr_wslayout_source(const char *root, const char *slug);
/* <root>/worktrees/<owner>/<repo>/<job_id>. Caller frees. */
char *dr_wslayout_worktree(const char *root, const char *slug, const char *job_id);

/*
 * Spare worktrees (--warm-worktrees) live beside the jobs' as
 * <root>/worktrees/<owner>/<repo>/spare.<n>, n from 1: a name no job id
 * can have (ids have no '.').
 */
#define DR_WSLAYOUT_SPARE_PREFIX "spare."
#define DR_WSLAYOUT_SPARES_MAX 8
char *dr_wslayout_spare(const char *root, const char *slug, int n);
/* True for the name of a spare's directory. */
bool dr_wslayout_is_spare(const char *name);

/*
 * Tries to flock the directory path (how: LOCK_EX or LOCK_SH) without
 * blocking. The directory is opened O_DIRECTORY|O_NOFOLLOW (never a
 * symlink) and, once locked, must still be the one at path (a directory
 * removed or replaced while we waited gives -ESTALE: try again). On 0 the
 * caller owns *fd (closing it drops the lock). -EWOULDBLOCK: someone else
 * holds it; other negative errno from open.
 */
int dr_wslayout_trylock(const char *path, int how, int *fd);

/*
 * The awaiting marker beside the worktree: written when the job reports
 * jobs/await, removed when a run of that job reports complete or fail.
 * gc keeps a worktree while its marker exists. Returns 0 or a negative
 * errno (removing a marker that is not there is 0).
 */
int dr_wslayout_mark_awaiting(const char *worktree, const char *job_id, bool awaiting);
/* True when the marker exists; *mtime (may be NULL) gets its mtime. */
bool dr_wslayout_awaiting(const char *worktree, long long *mtime);

/*
 * Creates root/<parts...> one component at a time; each must end up a
 * real directory (not a symlink), so nothing can be created outside root.
 * Fills err on failure.
 */
int dr_wslayout_mkdir_under(const char *root, const char *const *parts, char *err, size_t errlen);

/* True for a directory (never through a symlink). */
bool dr_wslayout_is_dir(const char *path);

#endif
