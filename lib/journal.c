/* journal: running jobs on disk, for crash recovery. */
#include "delego/journal.h"
#include "delego/buf.h"
#include "delego/cgroup.h"
#include "delego/fsutil.h"
#include "delego/job.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __APPLE__
#include <libproc.h>
#endif

#define ENTRY_MAX (256 * 1024)
#define JOB_COPY_MAX (192 * 1024) /* a job bigger than this is not kept: it cannot be taken over */

struct dr_journal {
	char *dir;
	uv_loop_t *loop; /* for fsyncs on the threadpool; NULL: none */
};

void dr_journal_sync_on(struct dr_journal *j, uv_loop_t *loop)
{
	if (j)
		j->loop = loop;
}

int dr_journal_open(const char *dir, struct dr_journal **out, char *err, size_t errlen)
{
	int r = dr_fsutil_mkdir_private(dir, err, errlen);
	if (r < 0)
		return r;
	struct dr_journal *j = dr_xcalloc(1, sizeof *j);
	j->dir = dr_xstrdup(dir);
	*out = j;
	return 0;
}

void dr_journal_free(struct dr_journal *j)
{
	if (!j)
		return;
	free(j->dir);
	free(j);
}

static char *entry_path(const struct dr_journal *j, const char *job_id)
{
	/* Ids become file names: only the ones the job parser accepts. */
	if (!job_id || !dr_job_id_valid(job_id))
		return NULL;
	return dr_xasprintf("%s/%s.json", j->dir, job_id);
}

static cJSON *load_entry(const char *path)
{
	struct dr_buf b = DR_BUF_INIT(ENTRY_MAX);
	cJSON *o = NULL;
	if (dr_fsutil_read_file(path, &b, NULL) == 0 && dr_json_parse_object(b.buf, b.len, ENTRY_MAX, &o) < 0)
		o = NULL;
	dr_buf_release(&b);
	return o;
}

struct sync_req {
	uv_work_t work;
	char *path;
};

static void fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fsync(fd) < 0)
		dr_log_debug("cannot fsync %s: %s", path, strerror(errno));
	close(fd);
}

/* On a threadpool thread: the file, then the directory that holds its new name. */
static void sync_work(uv_work_t *w)
{
	struct sync_req *s = w->data;
	fsync_path(s->path, O_RDONLY);
	char *slash = strrchr(s->path, '/');
	if (slash && slash != s->path) {
		*slash = '\0';
		fsync_path(s->path, O_RDONLY | O_DIRECTORY);
	}
}

static void sync_done(uv_work_t *w, int status)
{
	(void)status;
	struct sync_req *s = w->data;
	free(s->path);
	free(s);
}

/*
 * Atomic (rename) at once, which survives the runner's death; durable:
 * also fsynced off the loop, so that a power cut cannot lose a running
 * job either (an fsync on the loop would stall it at every claim).
 */
static void save_entry(const struct dr_journal *j, const char *path, const cJSON *o, bool durable)
{
	char *text = dr_json_print(o);
	int r = dr_fsutil_write_replace(path, text, strlen(text), 0600);
	if (r < 0)
		dr_log_warn("cannot write job journal %s: %s", path, strerror(-r));
	free(text);
	if (r < 0 || !durable || !j->loop)
		return;
	struct sync_req *s = dr_xcalloc(1, sizeof *s);
	s->path = dr_xstrdup(path);
	s->work.data = s;
	if (uv_queue_work(j->loop, &s->work, sync_work, sync_done) < 0)
		sync_done(&s->work, 0);
}

void dr_journal_begin(struct dr_journal *j, const cJSON *job)
{
	if (!j)
		return;
	char *path = entry_path(j, dr_json_str(job, "id"));
	if (!path)
		return;
	cJSON *o = cJSON_CreateObject();
	static const char *keys[] = { "id", "organizationId", "agentSessionId", "attemptId", "repositorySlug" };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		const char *v = dr_json_str(job, keys[i]);
		if (v && strlen(v) <= 1024)
			cJSON_AddStringToObject(o, keys[i], v);
	}
	/* The whole job, for a runner that takes it over after a crash. */
	char *text = dr_json_print(job);
	if (strlen(text) <= JOB_COPY_MAX)
		cJSON_AddItemToObject(o, "job", cJSON_Duplicate(job, true));
	free(text);
	save_entry(j, path, o, true);
	cJSON_Delete(o);
	free(path);
}

void dr_journal_note(struct dr_journal *j, const char *job_id, const char *key, const char *value)
{
	if (!j)
		return;
	char *path = entry_path(j, job_id);
	if (!path)
		return;
	cJSON *o = load_entry(path);
	if (o) {
		bool had = cJSON_HasObjectItem(o, key);
		cJSON_DeleteItemFromObjectCaseSensitive(o, key);
		if (value)
			cJSON_AddStringToObject(o, key, value);
		if (value || had)
			save_entry(j, path, o, false);
		cJSON_Delete(o);
	}
	free(path);
}

/* The start time of a process (clock ticks since boot), or 0 when unknown. */
static unsigned long long start_time_of(int pid)
{
#ifdef __linux__
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Field 22; the command (field 2) may contain spaces: count after its ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	int field = 2;
	for (; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return strtoull(p, NULL, 10);
#elif defined(__APPLE__)
	/* The kernel's record of the process: its start as microseconds since the epoch. */
	struct proc_bsdinfo info;
	if (proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &info, (int)sizeof info) != (int)sizeof info)
		return 0;
	return (unsigned long long)info.pbi_start_tvsec * 1000000ull + (unsigned long long)info.pbi_start_tvusec;
#else
	(void)pid;
	return 0;
#endif
}

char *dr_journal_job_dir(struct dr_journal *j, const char *job_id)
{
	if (!j || !job_id || !dr_job_id_valid(job_id))
		return NULL;
	char *dir = dr_xasprintf("%s/%s.d", j->dir, job_id);
	if (dr_fsutil_mkdir_p(dir, 0700) < 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

static void remove_job_dir(const char *dir)
{
	static const char *const files[] = { "stdout", "stderr", "exit", "exit.tmp" };
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char *f = dr_xasprintf("%s/%s", dir, files[i]);
		(void)unlink(f);
		free(f);
	}
	(void)rmdir(dir);
}

static void set_str(cJSON *o, const char *key, const char *value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (value)
		cJSON_AddStringToObject(o, key, value);
}

void dr_journal_note_agent(struct dr_journal *j, const char *job_id, int pid, const char *worktree,
			   const char *cgroup, const cJSON *tree)
{
	if (!j || pid <= 0)
		return;
	char *path = entry_path(j, job_id);
	if (!path)
		return;
	char value[64], started[32];
	snprintf(value, sizeof value, "%d:%llu", pid, start_time_of(pid));
	/* The clock proc's timeout runs on (uv_now's, monotonic: the same for the next run until a reboot). */
	snprintf(started, sizeof started, "%llu", (unsigned long long)(uv_hrtime() / 1000000));
	cJSON *o = load_entry(path);
	if (o) {
		set_str(o, "agent", value);
		set_str(o, "agentStartedMs", started);
		set_str(o, "cgroup", cgroup);
		if (worktree)
			set_str(o, "worktreePath", worktree);
		if (tree) {
			cJSON_DeleteItemFromObjectCaseSensitive(o, "tree");
			cJSON_AddItemToObject(o, "tree", cJSON_Duplicate(tree, true));
		}
		save_entry(j, path, o, true);
		cJSON_Delete(o);
	}
	free(path);
}

void dr_journal_end(struct dr_journal *j, const char *job_id)
{
	if (!j)
		return;
	char *path = entry_path(j, job_id);
	if (path && unlink(path) < 0 && errno != ENOENT)
		dr_log_warn("cannot remove job journal %s: %s", path, strerror(errno));
	free(path);
	if (job_id && dr_job_id_valid(job_id)) {
		char *dir = dr_xasprintf("%s/%s.d", j->dir, job_id);
		remove_job_dir(dir);
		free(dir);
	}
}

/* The recorded leader's pid when it is still that process, else 0. */
static int live_leader(const char *agent)
{
	int pid = 0;
	unsigned long long started = 0;
	if (!agent || sscanf(agent, "%d:%llu", &pid, &started) < 1 || pid <= 1)
		return 0;
	unsigned long long now_started = start_time_of(pid);
	/* The leader alive with another start time: the pid was reused, leave it. */
	if (now_started && started && now_started != started)
		return 0;
	return kill(pid, 0) == 0 || errno == EPERM ? pid : 0;
}

/* Kills the agent's group if it is still the one recorded, and what is in its cgroup (the journal's to clear). */
static void kill_orphans(const char *job_id, const char *agent, const char *cgroup)
{
	int pid = live_leader(agent);
	if (pid && kill(-pid, SIGKILL) == 0)
		dr_log_warn("job %s: killed the agent processes (group %d) left by the previous run", job_id, pid);
	struct dr_cgroup *cg;
	if (dr_cgroup_open(job_id, cgroup, &cg) == 0) {
		int n = dr_cgroup_signal(cg, SIGKILL);
		if (n > 0)
			dr_log_warn("job %s: killed %d process(es) left in %s by the previous run", job_id, n,
				    dr_cgroup_path(cg));
		(void)dr_cgroup_remove(cg); /* busy while they die: the next start's sweep removes it */
		dr_cgroup_free(cg);
	}
}

/* Hands a job to adopt when its supervisor still runs or left the agent's exit status. */
static bool try_adopt(struct dr_journal *j, const cJSON *e, const char *id, dr_journal_adopt_fn adopt, void *data)
{
	if (!adopt || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "job")) ||
	    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "tree")))
		return false;
	int pid = live_leader(dr_json_str(e, "agent"));
	char *dir = dr_xasprintf("%s/%s.d", j->dir, id);
	char *exit_path = dr_xasprintf("%s/exit", dir);
	bool ok = (pid || access(exit_path, F_OK) == 0) && adopt(e, dir, pid, data) == 0;
	free(exit_path);
	free(dir);
	return ok;
}

int dr_journal_recover(struct dr_journal *j, struct dr_outbox *o, dr_journal_adopt_fn adopt, void *data)
{
	DIR *d = opendir(j->dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		char *path = dr_xasprintf("%s/%s", j->dir, de->d_name);
		cJSON *e = load_entry(path);
		const char *id = e ? dr_json_str(e, "id") : NULL;
		const char *org = e ? dr_json_str(e, "organizationId") : NULL;
		if (id && org && try_adopt(j, e, id, adopt, data)) {
			/* The job goes on: its entry stays until its report is in the outbox. */
			cJSON_Delete(e);
			free(path);
			continue;
		}
		if (id && org) {
			kill_orphans(id, dr_json_str(e, "agent"), dr_json_str(e, "cgroup"));
			const char *seq = dr_json_str(e, "seq");
			if (seq) /* the report continues the job's sequence */
				dr_outbox_note_seq(o, id, strtoll(seq, NULL, 10));
			cJSON *body = cJSON_CreateObject();
			cJSON_AddStringToObject(body, "jobId", id);
			cJSON_AddStringToObject(body, "organizationId", org);
			dr_json_add_str_or_null(body, "agentSessionId", dr_json_str(e, "agentSessionId"));
			cJSON_AddStringToObject(body, "summary",
						"The runner stopped while the job was running (crash, kill or power loss); "
						"its worktree was kept for inspection.");
			cJSON_AddBoolToObject(body, "cancelled", false);
			cJSON *meta = cJSON_AddObjectToObject(body, "metadata");
			dr_json_add_str_or_null(meta, "attemptId", dr_json_str(e, "attemptId"));
			dr_json_add_str_or_null(meta, "repositorySlug", dr_json_str(e, "repositorySlug"));
			dr_json_add_str_or_null(meta, "worktreePath", dr_json_str(e, "worktreePath"));
			dr_json_add_str_or_null(meta, "branchName", dr_json_str(e, "branchName"));
			cJSON_AddBoolToObject(meta, "runnerRestarted", true);
			dr_outbox_post(o, id, "/api/runner/jobs/fail", body);
			dr_log_warn("job %s was running when the runner stopped; reporting it as failed", id);
			n++;
		} else {
			dr_log_warn("ignoring unreadable job journal entry %s", path);
		}
		/* The report is in the outbox (on disk) now: the entry can go. */
		unlink(path);
		if (id && dr_job_id_valid(id)) {
			char *dir = dr_xasprintf("%s/%s.d", j->dir, id);
			remove_job_dir(dir);
			free(dir);
		}
		cJSON_Delete(e);
		free(path);
	}
	closedir(d);
	return n;
}
