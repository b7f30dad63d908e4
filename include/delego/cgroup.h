/*
 * cgroup: one cgroup v2 per agent, where the runner can have one.
 *
 * Containment is process-wide and chosen once, at start
 * (dr_cgroup_setup): cgroup mode when cgroup v2 is mounted and the
 * runner's own cgroup is ours to manage (the root of its cgroup
 * namespace, as in a container; a cgroup systemd delegated with
 * Delegate=yes; or a writable cgroup no service manager claims), else
 * process-group mode, which is what proc always does anyway.
 *
 * Layout in cgroup mode, where OWN is the runner's cgroup at start:
 *   OWN is the namespace root:  OWN/delego-runner.<name>/job-<id>, the
 *                               middle directory created with the first
 *                               job and removed after the last;
 *   otherwise (delegated):      the runner moves itself into OWN/runner
 *                               (no process may stay in an inner cgroup
 *                               that enables controllers) and jobs live
 *                               in OWN/job-<id>.
 * Job cgroups found there at start were left by a runner that died: what
 * is in them is killed and the directories are removed.
 *
 * The caller of proc makes a job's cgroup (dr_cgroup_make), passes it to
 * proc, and removes it once the run ended (dr_cgroup_close); proc itself
 * reads no mode. An agent enters its cgroup before it execs: proc starts
 * it through our own binary's hidden word `__exec-in-cgroup`, which
 * writes its pid to the cgroup's cgroup.procs and then execs the agent
 * (dr_cgroup_exec_main).
 *
 * Linux only; elsewhere every call reports process-group mode.
 */
#ifndef DELEGO_CGROUP_H
#define DELEGO_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dr_cgroup_mode {
	DR_CGROUP_PROCESS_GROUP, /* agents in their own process group only */
	DR_CGROUP_V2,            /* each agent in its own cgroup as well */
};

#define DR_CGROUP_SHIM_WORD "__exec-in-cgroup"
#define DR_CGROUP_STOP_POST_WORD "__stop-post"

struct dr_cgroup_opts {
	const char *name;     /* [A-Za-z0-9._-], at most 64: this runner's directory when OWN is the root */
	uint64_t memory_max;  /* bytes for each job's memory.max; 0: no limit */
	uint64_t pids_max;    /* each job's pids.max; 0: no limit */
	bool process_groups;  /* the user chose process-group mode */
	const char *shim;     /* the program that understands DR_CGROUP_SHIM_WORD; NULL: our own executable */
	const char *journal_dir; /* job cgroups whose job has an entry here are left to the journal (journal.h) */
	/* For tests only: NULL finds them from /proc/self/mountinfo and /proc/self/cgroup. */
	const char *mount;    /* the cgroup2 mount point */
	const char *own;      /* our cgroup, relative to the mount ("/" or "/a/b") */
};

/* Size of the name dr_cgroup_opts_init writes. */
#define DR_CGROUP_NAME_SIZE 65

/*
 * The options of a runner (--agent-memory-max, --agent-pids-max,
 * --containment process-group), its directory named "<profile>.<hash of
 * the state directory>" so that two runners of one profile under two
 * HOMEs never share it. name is the storage o->name points into.
 */
void dr_cgroup_opts_init(struct dr_cgroup_opts *o, char name[DR_CGROUP_NAME_SIZE], const char *profile,
			 const char *state_dir, uint64_t memory_max, uint64_t pids_max, bool process_groups);

/*
 * Chooses the mode, once per process (later calls return 0 and change
 * nothing until dr_cgroup_shutdown). In cgroup mode it may move this
 * process into OWN/runner, enables the controllers the limits need, and
 * kills and removes stale job cgroups. Never fails for want of cgroups:
 * that is process-group mode, with the reason in dr_cgroup_note().
 * Returns 0, or -EINVAL for a bad name.
 */
int dr_cgroup_setup(const struct dr_cgroup_opts *o);
/* Removes this runner's empty directory and forgets the mode (tests, exit). */
void dr_cgroup_shutdown(void);

enum dr_cgroup_mode dr_cgroup_mode(void);
/* "cgroup" or "process-group": the status file's "containment". */
const char *dr_cgroup_mode_name(void);
/* One sentence on the mode in force and why (where jobs go, or why not cgroups). Static. */
const char *dr_cgroup_note(void);
/* NULL when every limit asked for applies; else a sentence naming the ones that cannot. Static. */
const char *dr_cgroup_limits_note(void);

/*
 * Without changing anything, what dr_cgroup_setup would choose for this
 * mount and own cgroup (NULL: found as above): returns the mode and writes
 * a sentence to note. With memory_max/pids_max, says whether they apply.
 */
enum dr_cgroup_mode dr_cgroup_probe(const struct dr_cgroup_opts *o, char *note, size_t notelen);
/* The cgroup2 mount point from /proc/self/mountinfo into out; -ENOENT when there is none. */
int dr_cgroup_find_mount(char *out, size_t outlen);

/* One job's cgroup. */
struct dr_cgroup;

/* cgroup directory names we make for a job: job-<id>, id [A-Za-z0-9_-], at most 128. */
bool dr_cgroup_name_valid(const char *job_id);
/*
 * Creates (or takes over, killing what is in it) the cgroup of a job and
 * applies the limits that can apply. -EOPNOTSUPP in process-group mode,
 * -EINVAL for an id that is not valid, else the mkdir's error.
 */
int dr_cgroup_create(const char *job_id, struct dr_cgroup **out);
/*
 * The cgroup an agent a previous run of this runner started is still in
 * (supervise.h), as it is: nothing is killed. recorded (may be NULL) is
 * the path the journal kept; another one than this runner's job-<id>
 * gives -EXDEV. -ENOENT when there is none, -EOPNOTSUPP in process-group
 * mode, -EINVAL for an id that is not valid.
 */
int dr_cgroup_open(const char *job_id, const char *recorded, struct dr_cgroup **out);
/* Where the job's cgroup is (or would be) in cgroup mode, owned; NULL in process-group mode or for a bad id. */
char *dr_cgroup_job_path(const char *job_id);
const char *dr_cgroup_path(const struct dr_cgroup *cg);
/*
 * SIGKILL: through cgroup.kill, every process at once, however it forked
 * or whatever session it made. Any other signal: to each pid listed in
 * cgroup.procs. Returns how many processes were there, or a negative errno.
 */
int dr_cgroup_signal(struct dr_cgroup *cg, int sig);
/* 1 while any process is in the cgroup (cgroup.events), 0 when empty, negative errno. */
int dr_cgroup_populated(const struct dr_cgroup *cg);
/* rmdir: -EBUSY while populated. Removes this runner's directory after its last job. */
int dr_cgroup_remove(struct dr_cgroup *cg);
/* Frees the memory only (the directory stays unless removed). Accepts NULL; returns NULL. */
struct dr_cgroup *dr_cgroup_free(struct dr_cgroup *cg);
/*
 * For a job's agent (proc.h's opts.cgroup): its cgroup in cgroup mode;
 * NULL in process-group mode, or when it cannot be made (said in the
 * log): the agent then runs in its process group only.
 */
struct dr_cgroup *dr_cgroup_make(const char *job_id);
/* dr_cgroup_remove (a failure is logged: the next start removes it), then dr_cgroup_free. Returns NULL. */
struct dr_cgroup *dr_cgroup_close(struct dr_cgroup *cg);

/*
 * The argv that runs file with argv inside cg: the shim, its word, the
 * cgroup.procs path, file (absolute), then argv. NULL-terminated, for
 * dr_strv_free. NULL when the shim was not known when cg was made.
 */
char **dr_cgroup_shim_argv(const struct dr_cgroup *cg, const char *file, char *const *argv);
/* Moves this process into the cgroup whose cgroup.procs file is procs (the shims, before they exec). */
int dr_cgroup_join(const char *procs);
/*
 * The shim itself: argv = { prog, DR_CGROUP_SHIM_WORD, procs, file, arg0, ... }.
 * Joins the cgroup, then execs file: returns only on failure, with the
 * exit status to use (125 cannot join, 126 cannot exec, 127 not found)
 * after saying why on stderr.
 */
int dr_cgroup_exec_main(int argc, char **argv);

/*
 * The units' ExecStopPost= (KillMode=process leaves the agents to us):
 * unless result (systemd's $SERVICE_RESULT) says the main process died
 * (signal, core-dump, exit-code, watchdog, oom-kill), in which case the
 * next start takes the agents over, kills every cgroup below unit_dir and
 * every process in it other than self. Returns how many cgroups and
 * processes it ended, or a negative errno.
 */
int dr_cgroup_stop_post(const char *unit_dir, const char *result, int self);
/* The hidden word: finds the unit's cgroup, refuses to run outside a systemd unit (64). */
int dr_cgroup_stop_post_main(int argc, char **argv);

#endif
