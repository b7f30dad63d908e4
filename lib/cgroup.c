/*
 * cgroup: a cgroup v2 per agent (cgroup.kill on cancel, optional
 * memory.max and pids.max), chosen once per process; process groups
 * where there is no cgroup to have. See include/delego/cgroup.h.
 */
#include "delego/cgroup.h"
#include "delego/log.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, for a short stable name from the state directory. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

void dr_cgroup_opts_init(struct dr_cgroup_opts *o, char name[DR_CGROUP_NAME_SIZE], const char *profile,
			 const char *state_dir, uint64_t memory_max, uint64_t pids_max, bool process_groups)
{
	snprintf(name, DR_CGROUP_NAME_SIZE, "%.40s.%08x", profile, (unsigned)fnv1a(state_dir ? state_dir : ""));
	*o = (struct dr_cgroup_opts){
		.name = name,
		.memory_max = memory_max,
		.pids_max = pids_max,
		.process_groups = process_groups,
	};
}

#ifdef __linux__

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cgroup-int.h"

#define NAME_MAX_LEN 64
#define JOB_ID_MAX_LEN 128
#define TREE_DEPTH_MAX 16

struct dr_cgroup {
	char *path;     /* the job's directory */
	char *procs;    /* path/cgroup.procs */
	char *shim;     /* the cgroup shim at creation, or NULL: not known */
};

static struct {
	bool ready;
	enum dr_cgroup_mode mode;
	char note[1024];
	char limits[768];      /* "" when every limit asked for applies */
	char own_dir[PATH_MAX]; /* the runner's cgroup at start */
	char jobs_dir[PATH_MAX]; /* where job-<id> directories go */
	bool jobs_dir_ours;     /* made with the first job, removed after the last */
	uint64_t memory_max, pids_max;
	bool memory_ok, pids_ok; /* the controller is (or will be) enabled for jobs */
	char shim[PATH_MAX];
	char journal_dir[PATH_MAX];
	int jobs;               /* job directories we made and have not removed */
	bool stale;             /* a stale job cgroup could not be removed yet */
} g;

int dr__cgroup_write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	int r = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
	close(fd);
	return r;
}

/* Reads at most len-1 bytes; NUL-terminated. */
static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	while (got + 1 < len) {
		ssize_t n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return 0;
}

static bool has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += wl) {
		bool start = p == list || p[-1] == ' ' || p[-1] == '\n';
		bool end = p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n';
		if (start && end)
			return true;
	}
	return false;
}

static bool name_chars_ok(const char *s, size_t max, bool dots)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || s[0] == '-' || s[0] == '.')
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			  *p == '-' || *p == '_' || (dots && *p == '.');
		if (!ok)
			return false;
	}
	return true;
}

bool dr_cgroup_name_valid(const char *job_id)
{
	return job_id && name_chars_ok(job_id, JOB_ID_MAX_LEN, false);
}

int dr_cgroup_find_mount(char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char line[4096];
	int r = -ENOENT;
	while (r < 0 && fgets(line, sizeof line, f)) {
		/* id parent maj:min root mountpoint options [optional...] - fstype source superoptions */
		char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		char root[PATH_MAX], point[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2)
			continue;
		/* A bind of a sub-tree or an escaped name would break the path arithmetic. */
		if (strcmp(root, "/") != 0 || strchr(point, '\\'))
			continue;
		if (fmt(out, outlen, "%s", point) == 0)
			r = 0;
	}
	fclose(f);
	return r;
}

/* Our cgroup v2 path ("0::<path>") from /proc/self/cgroup. */
int dr__cgroup_find_own(char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	char line[PATH_MAX + 8];
	int r = -ENOENT;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (fmt(out, outlen, "%s", line + 3) == 0)
			r = 0;
	}
	fclose(f);
	return r;
}

static bool delegated(const char *dir)
{
	char v[8];
	return getxattr(dir, "trusted.delegate", v, sizeof v) > 0 || getxattr(dir, "user.delegate", v, sizeof v) > 0;
}

/* A cgroup systemd made for a unit: the last part names a service, scope or slice. */
bool dr__cgroup_systemd_unit(const char *own)
{
	const char *last = strrchr(own, '/');
	last = last ? last + 1 : own;
	size_t n = strlen(last);
	static const char *const kinds[] = { ".service", ".scope", ".slice" };
	for (size_t i = 0; i < 3; i++) {
		size_t k = strlen(kinds[i]);
		if (n > k && strcmp(last + n - k, kinds[i]) == 0)
			return true;
	}
	return false;
}

struct where {
	char mount[PATH_MAX];
	char own[PATH_MAX];
	char dir[PATH_MAX];
	bool at_root;
};

/* The decision, without changing anything. */
static enum dr_cgroup_mode decide(const struct dr_cgroup_opts *o, struct where *w, char *note, size_t len)
{
	if (o->process_groups) {
		fmt(note, len, "process groups, as configured (--containment process-group): an agent's "
				    "process that leaves its process group (setsid, a daemon) survives a cancel");
		return DR_CGROUP_PROCESS_GROUP;
	}
	if (o->mount)
		fmt(w->mount, sizeof w->mount, "%s", o->mount);
	else if (dr_cgroup_find_mount(w->mount, sizeof w->mount) < 0) {
		fmt(note, len, "process groups: no cgroup v2 is mounted, so an agent's process that leaves "
				    "its process group (setsid, a daemon) survives a cancel");
		return DR_CGROUP_PROCESS_GROUP;
	}
	if (o->own)
		fmt(w->own, sizeof w->own, "%s", o->own);
	else if (dr__cgroup_find_own(w->own, sizeof w->own) < 0) {
		fmt(note, len, "process groups: cgroup v2 is mounted at %s but this process is in no cgroup "
				    "v2 (/proc/self/cgroup has no 0:: line)", w->mount);
		return DR_CGROUP_PROCESS_GROUP;
	}
	if (w->own[0] != '/' || strstr(w->own, "/..")) {
		fmt(note, len, "process groups: this process's cgroup %s lies outside its cgroup namespace",
			 w->own);
		return DR_CGROUP_PROCESS_GROUP;
	}
	w->at_root = strcmp(w->own, "/") == 0;
	/* Room for "/delego-runner.<name>/job-<id>/cgroup.subtree_control" below it. */
	if (fmt(w->dir, sizeof w->dir - 300, "%s%s", w->mount, w->at_root ? "" : w->own) < 0) {
		fmt(note, len, "process groups: the path of this process's cgroup %s is too long", w->own);
		return DR_CGROUP_PROCESS_GROUP;
	}
	char procs[PATH_MAX + 16];
	fmt(procs, sizeof procs, "%s/cgroup.procs", w->dir);
	if (access(w->dir, W_OK) != 0 || access(procs, W_OK) != 0) {
		fmt(note, len, "process groups: cgroup v2 is mounted at %s but this process's cgroup %s is not "
				    "writable by this user; for cgroups run the runner under systemd with Delegate=yes, "
				    "or through systemd-run --user --scope -p Delegate=yes", w->mount, w->own);
		return DR_CGROUP_PROCESS_GROUP;
	}
	if (!w->at_root && dr__cgroup_systemd_unit(w->own) && !delegated(w->dir)) {
		fmt(note, len, "process groups: this process's cgroup %s belongs to systemd and is not "
				    "delegated; add Delegate=yes to the unit (or run through systemd-run --user --scope -p "
				    "Delegate=yes) for cgroups", w->own);
		return DR_CGROUP_PROCESS_GROUP;
	}
	if (w->at_root)
		fmt(note, len, "cgroup v2: each agent runs in its own cgroup under %s/delego-runner.%s; cancel "
				    "and timeout kill every process in it (cgroup.kill)", w->dir, o->name ? o->name : "?");
	else
		fmt(note, len, "cgroup v2 (delegated %s): each agent runs in its own cgroup beside the runner's "
				    "%s/runner; cancel and timeout kill every process in it (cgroup.kill)", w->own, w->dir);
	return DR_CGROUP_V2;
}

/* Can the controller be given to job cgroups made under dir? */
static bool controller_available(const char *dir, const char *ctrl)
{
	char path[PATH_MAX + 32], text[512];
	fmt(path, sizeof path, "%s/cgroup.controllers", dir);
	return read_text(path, text, sizeof text) == 0 && has_word(text, ctrl);
}

static void limits_note(const struct where *w, uint64_t memory_max, uint64_t pids_max, bool memory_ok, bool pids_ok,
			const char *why, char *out, size_t len)
{
	out[0] = '\0';
	if ((!memory_max || memory_ok) && (!pids_max || pids_ok))
		return;
	char text[512] = "";
	char path[PATH_MAX + 32];
	fmt(path, sizeof path, "%s/cgroup.controllers", w->dir);
	if (!why && read_text(path, text, sizeof text) == 0)
		text[strcspn(text, "\n")] = '\0';
	const char *both = memory_max && !memory_ok && pids_max && !pids_ok ? "memory.max and pids.max" :
			   memory_max && !memory_ok			  ? "memory.max"
									  : "pids.max";
	if (why)
		fmt(out, len, "%s cannot apply: %s; agents run without %s", both, why,
			 strchr(both, ' ') ? "these limits" : "this limit");
	else
		fmt(out, len, "%s cannot apply: the %s controller is not available in cgroup %s (cgroup.controllers: "
				   "%s); agents run without %s",
			 both, strchr(both, ' ') ? "memory and pids" : memory_max && !memory_ok ? "memory" : "pids",
			 w->own, text[0] ? text : "none", strchr(both, ' ') ? "these limits" : "this limit");
}

enum dr_cgroup_mode dr_cgroup_probe(const struct dr_cgroup_opts *o, char *note, size_t notelen)
{
	struct where w = { 0 };
	char base[768];
	enum dr_cgroup_mode m = decide(o, &w, base, sizeof base);
	char lim[768] = "";
	if (o->memory_max || o->pids_max) {
		if (m == DR_CGROUP_V2)
			limits_note(&w, o->memory_max, o->pids_max, controller_available(w.dir, "memory"),
				    controller_available(w.dir, "pids"), NULL, lim, sizeof lim);
		else
			fmt(lim, sizeof lim, "%s%s%s cannot apply without cgroups",
				 o->memory_max ? "--agent-memory-max" : "", o->memory_max && o->pids_max ? " and " : "",
				 o->pids_max ? "--agent-pids-max" : "");
	}
	fmt(note, notelen, "%s%s%s", base, lim[0] ? "; " : "", lim);
	return m;
}

/* Kills everything in dir and below, then removes the directories, deepest first. */
int dr__cgroup_kill_and_remove(const char *dir, int depth)
{
	char path[PATH_MAX + 32];
	fmt(path, sizeof path, "%s/cgroup.kill", dir);
	if (depth == 0)
		(void)dr__cgroup_write_text(path, "1");
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.' || depth >= TREE_DEPTH_MAX)
				continue;
			fmt(path, sizeof path, "%s/%s", dir, de->d_name);
			(void)dr__cgroup_kill_and_remove(path, depth + 1);
		}
		closedir(d);
	}
	return rmdir(dir) == 0 || errno == ENOENT ? 0 : -errno;
}

/* Removes job-* directories in the jobs directory (killing what is in them). */
static void sweep_stale_jobs(void)
{
	DIR *d = opendir(g.jobs_dir);
	if (!d)
		return;
	g.stale = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || strncmp(de->d_name, "job-", 4) != 0)
			continue;
		char path[PATH_MAX + 300];
		/* A job still in the journal may go on under this run (supervise.h): the journal decides. */
		if (g.journal_dir[0] && fmt(path, sizeof path, "%s/%s.json", g.journal_dir, de->d_name + 4) == 0 &&
		    access(path, F_OK) == 0)
			continue;
		fmt(path, sizeof path, "%s/%s", g.jobs_dir, de->d_name);
		int r = dr__cgroup_kill_and_remove(path, 0);
		if (r == -EBUSY)
			g.stale = true; /* its processes are still dying: removed before the next job starts */
		else if (r < 0)
			dr_log_debug("cgroup: cannot remove the stale %s: %s", path, strerror(-r));
		else
			dr_log_warn("killed the processes left in %s by a previous run and removed it", path);
	}
	closedir(d);
}

/* +memory/+pids in dir's cgroup.subtree_control, where they are asked for and available. */
static void enable_controllers(const char *dir)
{
	char path[PATH_MAX + 32];
	fmt(path, sizeof path, "%s/cgroup.subtree_control", dir);
	if (g.memory_ok && dr__cgroup_write_text(path, "+memory") < 0)
		g.memory_ok = false;
	if (g.pids_ok && dr__cgroup_write_text(path, "+pids") < 0)
		g.pids_ok = false;
}

int dr_cgroup_setup(const struct dr_cgroup_opts *o)
{
	if (g.ready)
		return 0;
	if (!o || !o->name || !name_chars_ok(o->name, NAME_MAX_LEN, true))
		return -EINVAL;
	memset(&g, 0, sizeof g);
	struct where w = { 0 };
	g.mode = decide(o, &w, g.note, sizeof g.note);
	if (o->journal_dir)
		fmt(g.journal_dir, sizeof g.journal_dir, "%s", o->journal_dir);
	g.memory_max = o->memory_max;
	g.pids_max = o->pids_max;
	g.ready = true;
	if (g.mode != DR_CGROUP_V2) {
		if (o->memory_max || o->pids_max)
			fmt(g.limits, sizeof g.limits, "%s%s%s cannot apply without cgroups",
				 o->memory_max ? "--agent-memory-max" : "", o->memory_max && o->pids_max ? " and " : "",
				 o->pids_max ? "--agent-pids-max" : "");
		return 0;
	}

	ssize_t len;
	if (o->shim)
		fmt(g.shim, sizeof g.shim, "%s", o->shim);
	/* What uv_exepath reads on Linux, without libuv: delego-runner-exec links this file and stays small. */
	else if ((len = readlink("/proc/self/exe", g.shim, sizeof g.shim - 1)) > 0)
		g.shim[len] = '\0';
	else
		g.shim[0] = '\0';
	if (!g.shim[0] || access(g.shim, X_OK) != 0) {
		g.mode = DR_CGROUP_PROCESS_GROUP;
		fmt(g.note, sizeof g.note, "process groups: cannot find this program's own executable (%s) to "
						"start agents inside their cgroups", g.shim[0] ? g.shim : "unknown");
		return 0;
	}

	fmt(g.own_dir, sizeof g.own_dir, "%s", w.dir);
	if (w.at_root) {
		/* The namespace root may hold processes and still enable controllers for its children. */
		fmt(g.jobs_dir, sizeof g.jobs_dir, "%s/delego-runner.%s", w.dir, o->name);
		g.jobs_dir_ours = true;
	} else {
		/* No process may stay in a cgroup that enables controllers: we go to a leaf of our own. */
		char leaf[PATH_MAX + 16], procs[PATH_MAX + 32], pid[32];
		fmt(leaf, sizeof leaf, "%s/runner", w.dir);
		fmt(procs, sizeof procs, "%s/cgroup.procs", leaf);
		fmt(pid, sizeof pid, "%d", (int)getpid());
		int r = mkdir(leaf, 0755) == 0 || errno == EEXIST ? 0 : -errno;
		if (r == 0)
			r = dr__cgroup_write_text(procs, pid);
		if (r < 0) {
			g.mode = DR_CGROUP_PROCESS_GROUP;
			fmt(g.note, sizeof g.note, "process groups: cannot move the runner into %s (%s), which cgroups "
							"for its jobs need", leaf, strerror(-r));
			return 0;
		}
		fmt(g.jobs_dir, sizeof g.jobs_dir, "%s", w.dir);
	}
	g.memory_ok = o->memory_max && controller_available(w.dir, "memory");
	g.pids_ok = o->pids_max && controller_available(w.dir, "pids");
	if (g.memory_ok || g.pids_ok)
		enable_controllers(w.dir);
	sweep_stale_jobs();
	if (g.jobs_dir_ours)
		(void)rmdir(g.jobs_dir); /* made again with the next job; busy with a stale one still dying */
	limits_note(&w, g.memory_max, g.pids_max, g.memory_ok, g.pids_ok,
		    (o->memory_max && !g.memory_ok && controller_available(w.dir, "memory")) ||
				    (o->pids_max && !g.pids_ok && controller_available(w.dir, "pids")) ?
			    "the controller could not be enabled in cgroup.subtree_control (another process is "
			    "in the runner's cgroup)" :
			    NULL,
		    g.limits, sizeof g.limits);
	return 0;
}

void dr_cgroup_shutdown(void)
{
	if (g.ready && g.mode == DR_CGROUP_V2 && g.jobs_dir_ours)
		(void)rmdir(g.jobs_dir);
	memset(&g, 0, sizeof g);
}

enum dr_cgroup_mode dr_cgroup_mode(void)
{
	return g.ready ? g.mode : DR_CGROUP_PROCESS_GROUP;
}

const char *dr_cgroup_mode_name(void)
{
	return dr_cgroup_mode() == DR_CGROUP_V2 ? "cgroup" : "process-group";
}

const char *dr_cgroup_note(void)
{
	return g.ready ? g.note : "process groups: containment was not set up";
}

const char *dr_cgroup_limits_note(void)
{
	return g.ready && g.limits[0] ? g.limits : NULL;
}

static void set_limit(struct dr_cgroup *cg, const char *file, uint64_t value)
{
	char path[PATH_MAX + 32], text[32];
	fmt(path, sizeof path, "%s/%s", cg->path, file);
	fmt(text, sizeof text, "%llu", (unsigned long long)value);
	int r = dr__cgroup_write_text(path, text);
	if (r < 0)
		dr_log_debug("cgroup: cannot write %s to %s: %s", text, path, strerror(-r));
}

int dr_cgroup_create(const char *job_id, struct dr_cgroup **out)
{
	if (dr_cgroup_mode() != DR_CGROUP_V2)
		return -EOPNOTSUPP;
	if (!dr_cgroup_name_valid(job_id))
		return -EINVAL;
	if (g.stale)
		sweep_stale_jobs();
	if (g.jobs_dir_ours) {
		if (mkdir(g.jobs_dir, 0755) == 0) {
			if (g.memory_ok || g.pids_ok)
				enable_controllers(g.jobs_dir);
		} else if (errno != EEXIST) {
			return -errno;
		}
	}
	struct dr_cgroup *cg = dr_xcalloc(1, sizeof *cg);
	cg->path = dr_xasprintf("%s/job-%s", g.jobs_dir, job_id);
	cg->procs = dr_xasprintf("%s/cgroup.procs", cg->path);
	cg->shim = g.shim[0] ? dr_xstrdup(g.shim) : NULL;
	if (mkdir(cg->path, 0755) < 0) {
		int r = -errno;
		if (r != -EEXIST) {
			if (g.jobs_dir_ours && g.jobs == 0)
				(void)rmdir(g.jobs_dir);
			dr_cgroup_free(cg);
			return r;
		}
		/* A resumed job whose last run was not cleaned up: what is left of it goes. */
		(void)dr_cgroup_signal(cg, SIGKILL);
	}
	g.jobs++;
	if (g.memory_ok) {
		set_limit(cg, "memory.max", g.memory_max);
		set_limit(cg, "memory.oom.group", 1); /* an OOM kill ends the whole job, not one random process */
	}
	if (g.pids_ok)
		set_limit(cg, "pids.max", g.pids_max);
	*out = cg;
	return 0;
}

char *dr_cgroup_job_path(const char *job_id)
{
	if (dr_cgroup_mode() != DR_CGROUP_V2 || !dr_cgroup_name_valid(job_id))
		return NULL;
	return dr_xasprintf("%s/job-%s", g.jobs_dir, job_id);
}

int dr_cgroup_open(const char *job_id, const char *recorded, struct dr_cgroup **out)
{
	if (dr_cgroup_mode() != DR_CGROUP_V2)
		return -EOPNOTSUPP;
	if (!dr_cgroup_name_valid(job_id))
		return -EINVAL;
	char *path = dr_cgroup_job_path(job_id);
	/* The journal's copy names where it was; only this runner's job-<id> of that job is taken. */
	if (recorded && strcmp(recorded, path) != 0) {
		free(path);
		return -EXDEV;
	}
	struct stat st;
	int r = lstat(path, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0) {
		free(path);
		return r;
	}
	struct dr_cgroup *cg = dr_xcalloc(1, sizeof *cg);
	cg->path = path;
	cg->procs = dr_xasprintf("%s/cgroup.procs", cg->path);
	cg->shim = g.shim[0] ? dr_xstrdup(g.shim) : NULL;
	g.jobs++;
	*out = cg;
	return 0;
}

const char *dr_cgroup_path(const struct dr_cgroup *cg)
{
	return cg->path;
}

int dr_cgroup_signal(struct dr_cgroup *cg, int sig)
{
	FILE *f = fopen(cg->procs, "re");
	if (!f)
		return -errno;
	/* The members first: after cgroup.kill they leave the list as they die, and the count would come up short. */
	long *pids = NULL;
	size_t n = 0, cap = 0;
	for (long pid; fscanf(f, "%ld", &pid) == 1;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			pids = dr_xrealloc(pids, cap * sizeof *pids);
		}
		pids[n++] = pid;
	}
	fclose(f);
	bool via_kill_file = false;
	if (sig == SIGKILL && n) {
		char path[PATH_MAX + 32];
		fmt(path, sizeof path, "%s/cgroup.kill", cg->path);
		via_kill_file = dr__cgroup_write_text(path, "1") == 0; /* no cgroup.kill before Linux 5.14: one by one */
	}
	for (size_t i = 0; i < n && !via_kill_file; i++)
		if (pids[i] > 0 && kill((pid_t)pids[i], sig) < 0 && errno != ESRCH)
			dr_log_debug("cgroup: kill(%ld, %d): %s", pids[i], sig, strerror(errno));
	free(pids);
	return (int)n;
}

int dr_cgroup_populated(const struct dr_cgroup *cg)
{
	char path[PATH_MAX + 32], text[256];
	fmt(path, sizeof path, "%s/cgroup.events", cg->path);
	int r = read_text(path, text, sizeof text);
	if (r < 0)
		return r;
	const char *p = strstr(text, "populated ");
	if (!p)
		return -EIO;
	return p[10] == '1';
}

int dr_cgroup_remove(struct dr_cgroup *cg)
{
	int r = dr__cgroup_kill_and_remove(cg->path, 1); /* depth 1: remove without killing */
	if (r < 0)
		return r;
	if (g.jobs > 0)
		g.jobs--;
	if (g.jobs == 0 && g.jobs_dir_ours)
		(void)rmdir(g.jobs_dir);
	return 0;
}

struct dr_cgroup *dr_cgroup_free(struct dr_cgroup *cg)
{
	if (!cg)
		return NULL;
	free(cg->path);
	free(cg->procs);
	free(cg->shim);
	free(cg);
	return NULL;
}

struct dr_cgroup *dr_cgroup_make(const char *job_id)
{
	struct dr_cgroup *cg = NULL;
	int r = job_id ? dr_cgroup_create(job_id, &cg) : -EOPNOTSUPP;
	if (r < 0 && r != -EOPNOTSUPP)
		dr_log_warn("cannot create a cgroup for %s (%s): it runs in its process group only", job_id,
			    strerror(-r));
	return r < 0 ? NULL : cg;
}

struct dr_cgroup *dr_cgroup_close(struct dr_cgroup *cg)
{
	if (!cg)
		return NULL;
	int r = dr_cgroup_remove(cg);
	if (r < 0)
		dr_log_debug("cannot remove cgroup %s (%s); the next start removes it", cg->path, strerror(-r));
	return dr_cgroup_free(cg);
}

char **dr_cgroup_shim_argv(const struct dr_cgroup *cg, const char *file, char *const *argv)
{
	if (!cg->shim)
		return NULL;
	struct dr_strv v = DR_STRV_INIT;
	dr_strv_push(&v, cg->shim);
	dr_strv_push(&v, DR_CGROUP_SHIM_WORD);
	dr_strv_push(&v, cg->procs);
	dr_strv_push(&v, file);
	for (char *const *a = argv; *a; a++)
		dr_strv_push(&v, *a);
	return dr_strv_take(&v);
}


#else /* !__linux__: no cgroups; every agent is contained by its process group. */

struct dr_cgroup {
	int unused;
};

static char note[256] = "process groups: cgroups are Linux-only; an agent's process that leaves its process "
			"group survives a cancel";

bool dr_cgroup_name_valid(const char *job_id)
{
	return job_id && *job_id;
}

int dr_cgroup_setup(const struct dr_cgroup_opts *o)
{
	return o && o->name ? 0 : -EINVAL;
}

void dr_cgroup_shutdown(void)
{
}

enum dr_cgroup_mode dr_cgroup_mode(void)
{
	return DR_CGROUP_PROCESS_GROUP;
}

const char *dr_cgroup_mode_name(void)
{
	return "process-group";
}

const char *dr_cgroup_note(void)
{
	return note;
}

const char *dr_cgroup_limits_note(void)
{
	return NULL;
}

enum dr_cgroup_mode dr_cgroup_probe(const struct dr_cgroup_opts *o, char *out, size_t len)
{
	snprintf(out, len, "%s%s", note,
		 o && (o->memory_max || o->pids_max) ? "; --agent-memory-max and --agent-pids-max cannot apply" : "");
	return DR_CGROUP_PROCESS_GROUP;
}

int dr_cgroup_find_mount(char *out, size_t outlen)
{
	return -ENOENT;
}

int dr_cgroup_create(const char *job_id, struct dr_cgroup **out)
{
	return -EOPNOTSUPP;
}

char *dr_cgroup_job_path(const char *job_id)
{
	return NULL;
}

int dr_cgroup_open(const char *job_id, const char *recorded, struct dr_cgroup **out)
{
	return -EOPNOTSUPP;
}

const char *dr_cgroup_path(const struct dr_cgroup *cg)
{
	return "";
}

int dr_cgroup_signal(struct dr_cgroup *cg, int sig)
{
	return -EOPNOTSUPP;
}

int dr_cgroup_populated(const struct dr_cgroup *cg)
{
	return 0;
}

int dr_cgroup_remove(struct dr_cgroup *cg)
{
	return 0;
}

struct dr_cgroup *dr_cgroup_free(struct dr_cgroup *cg)
{
	free(cg);
	return NULL;
}

struct dr_cgroup *dr_cgroup_make(const char *job_id)
{
	return NULL;
}

struct dr_cgroup *dr_cgroup_close(struct dr_cgroup *cg)
{
	return dr_cgroup_free(cg);
}

char **dr_cgroup_shim_argv(const struct dr_cgroup *cg, const char *file, char *const *argv)
{
	return NULL;
}


#endif
