/*
 * delego-runner: argv -> subcommand. Everything else lives in lib/.
 */
#include "delego/cgroup.h"
#include "commands.h"
#include "delego/config.h"
#include "delego/inhibit.h"
#include "delego/supervise.h"
#include "delego/log.h"
#include "delego/sandbox.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

struct command {
	const char *name;
	const char *usage;
	const char *summary;
	bool owns_config; /* exec frees the configuration itself */
	int (*exec)(struct dr_config *c, const struct dr_cmd_ctx *ctx);
};

static const struct command commands[] = {
	{ "pair", "pair --relay-url URL --pairing-token drs_pair_...|- [--pairing-token-file PATH] [--profile NAME] "
		  "[--workspace-root PATH] [--supported-executors LIST] [--force] [--allow-insecure-relay] [--background]",
	  "trade a one-time pairing token for this machine's runner credential", false, dr_cmd_pair },
	{ "run", "run [--profile NAME] [--once] [--max-jobs N] [options]",
	  "run the daemon: heartbeat, claim jobs, run the agents, report", true, dr_cmd_run },
	{ "config", "config [--profile NAME] [--config PATH]",
	  "print the effective configuration and where each value came from", false, dr_cmd_config },
	{ "service", "service install [--profile NAME] [--force] [--dry-run] [options]",
	  "install, enable and start the per-user systemd service of a profile", false, dr_cmd_service },
	{ "status", "status [--profile NAME] [--json]",
	  "show each profile: runner, relay, service state, last heartbeat, jobs, pending reports", false,
	  dr_cmd_status },
	{ "start", "start [--profile NAME]", "start the service of a profile (every installed one when omitted)",
	  false, dr_cmd_start },
	{ "stop", "stop [--profile NAME]", "stop the service of a profile (every installed one when omitted)", false,
	  dr_cmd_stop },
	{ "restart", "restart [--profile NAME]", "restart the service of a profile (every installed one when omitted)",
	  false, dr_cmd_restart },
	{ "upgrade", "upgrade [--profile NAME]",
	  "restart the services so that they run the installed (upgraded) program", false, dr_cmd_upgrade },
	{ "uninstall", "uninstall --yes [--profile NAME] [--force]",
	  "revoke the runner on the relay, remove its service and delete the profile", false, dr_cmd_uninstall },
	{ "remove", "remove --yes [--profile NAME] [--force]", "the same as uninstall", false, dr_cmd_remove },
	{ "clear", "clear --yes [--force]", "uninstall every profile", false, dr_cmd_clear },
	{ "doctor", "doctor [--profile NAME] [--json]",
	  "check the tools, user, workspace, credentials, relay, clock, containment and sandbox", false, dr_cmd_doctor },
	{ "workspace", "workspace ls|gc [--profile NAME] [--dry-run] [--json] [options]",
	  "list the source caches and worktrees with why each is kept, or remove what the retention rules allow",
	  false, dr_cmd_workspace },
};

static const char options_text[] =
	"Options (each also read from the DELEGO_* variable named, and from the config file):\n"
	"  --relay-url URL                      DELEGO_RELAY_URL\n"
	"  --pairing-token TOKEN|-              DELEGO_PAIRING_TOKEN (- reads standard input)\n"
	"  --pairing-token-file PATH\n"
	"  --profile NAME                       DELEGO_PROFILE (default: default)\n"
	"  --workspace-root PATH                DELEGO_WORKSPACE_ROOT (default: ~/delego-runner/workspace)\n"
	"  --git-clone-base-url URL             DELEGO_GIT_CLONE_BASE_URL (default: git@github.com:)\n"
	"  --claude-command CMD, --claude-args ARGS   DELEGO_CLAUDE_COMMAND, DELEGO_CLAUDE_ARGS\n"
	"  --codex-command CMD, --codex-args ARGS     DELEGO_CODEX_COMMAND, DELEGO_CODEX_ARGS\n"
	"  --supported-executors LIST           DELEGO_SUPPORTED_EXECUTORS (default: codex,claude)\n"
	"  --executor-timeout-ms MS             DELEGO_EXECUTOR_TIMEOUT_MS (default: 1800000, min 1000)\n"
	"  --agent-stall-timeout-ms MS          DELEGO_AGENT_STALL_TIMEOUT_MS: fail an agent that reports only errors\n"
	"                                       this long (default: 300000; 0: never)\n"
	"  --agent-env NAME[=VALUE]             pass our NAME to agents, or set it (repeatable; file: agent-env list)\n"
	"  --heartbeat-interval-ms MS           DELEGO_HEARTBEAT_INTERVAL_MS (default: 300000, min 1000)\n"
	"  --poll-interval-ms MS                DELEGO_POLL_INTERVAL_MS (default: 10000, min 1000)\n"
	"  --cancellation-poll-interval-ms MS   DELEGO_CANCELLATION_POLL_INTERVAL_MS (default: 5000, min 1000)\n"
	"  --safety-sync-interval-ms MS         DELEGO_SAFETY_SYNC_INTERVAL_MS (default: 300000, min 30000)\n"
	"  --fallback-poll-interval-ms MS       DELEGO_FALLBACK_POLL_INTERVAL_MS (default: 30000, min 5000)\n"
	"  --shutdown-grace-ms MS               DELEGO_SHUTDOWN_GRACE_MS (default: 60000)\n"
	"  --max-jobs N                         DELEGO_MAX_JOBS (default: 1, 1 to 64)\n"
	"  --worktree-retention-days N          DELEGO_WORKTREE_RETENTION_DAYS (default: 7)\n"
	"  --cache-retention-days N             DELEGO_CACHE_RETENTION_DAYS (default: 30)\n"
	"  --workspace-budget-bytes SIZE        DELEGO_WORKSPACE_BUDGET_BYTES (default: 0, none; K, M, G, T suffixes)\n"
	"  --min-free-bytes SIZE                DELEGO_MIN_FREE_BYTES (default: 1G)\n"
	"  --warm-worktrees N                   DELEGO_WARM_WORKTREES: spare worktrees per busy repository (default: 1, 0 off)\n"
	"  --auto                               workspace gc: the daemon's quiet sweep\n"
	"  --containment auto|process-group     DELEGO_CONTAINMENT: a cgroup per agent where possible (default: auto)\n"
	"  --agent-memory-max SIZE              DELEGO_AGENT_MEMORY_MAX: memory.max of each agent's cgroup (e.g. 4G)\n"
	"  --agent-pids-max N                   DELEGO_AGENT_PIDS_MAX: pids.max of each agent's cgroup\n"
	"  --sandbox auto|bwrap|landlock|off    DELEGO_SANDBOX: the room each agent runs in (default: auto)\n"
	"  --sandbox-writable PATH              DELEGO_SANDBOX_WRITABLE: also writable for agents (repeatable)\n"
	"  --sandbox-hide PATH                  DELEGO_SANDBOX_HIDE: also hidden from agents (repeatable)\n"
	"  --sandbox-network on|off             DELEGO_SANDBOX_NETWORK: agents reach the network (default: on)\n"
	"  --inhibit-sleep auto|on|off          DELEGO_INHIBIT_SLEEP: hold off sleep while jobs run (default: auto,\n"
	"                                       on when a battery is present)\n"
	"  --no-commit                          DELEGO_CREATE_COMMIT=false\n"
	"  --once                               one poll, run what it got, exit\n"
	"  --force                              do not warn when pairing over a profile\n"
	"  --allow-insecure-relay               DELEGO_ALLOW_INSECURE_RELAY: allow http:// to a non-loopback relay\n"
	"  --log-level LEVEL                    DELEGO_LOG_LEVEL: error, warn, info (default), debug\n"
	"  --config PATH                        DELEGO_CONFIG (default: ~/.config/delego-runner/config.yaml)\n"
	"  -h, --help; -V, --version\n"
	"\n"
	"Exit status: 0 ok; 1 failure; 2 credential or pairing token rejected (pair again); 64 usage;\n"
	"69 relay unreachable; 73 cannot write credentials; 75 temporary failure; 76 unexpected relay answer;\n"
	"78 configuration unusable or profile not paired.\n";

static void usage(FILE *out, const struct command *only)
{
	if (only) {
		fprintf(out, "usage: delego-runner %s\n\n%s.\n\n%s", only->usage, only->summary, options_text);
		return;
	}
	fprintf(out, "usage: delego-runner <command> [options]\n"
		     "       delego-runner --relay-url URL [--pairing-token TOKEN] [options]   (pair if given a token, then run)\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "  %-10s %s\n  %-10s %s\n\n%s", "version", "print the version", "help", "print this help",
		options_text);
}

static void *json_malloc(size_t n)
{
	return dr_xmalloc(n);
}

/*
 * Our files (credentials, state, workspace, and what git makes there for us)
 * are private. And the process holds the bearer, the pairing token and the
 * agents' keys: non-dumpable, its /proc/PID/environ and memory are closed
 * to processes of the same user, agents included (root still sees them).
 */
static void harden_process(void)
{
	umask(077);
#ifdef __linux__
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/*
 * Copies argv for parsing and blanks any pairing token in the process's own
 * argv at once, so that `ps` and /proc/PID/cmdline never show it.
 */
static char **copy_and_scrub(int argc, char **argv)
{
	char **copy = dr_xcalloc((size_t)argc + 1, sizeof *copy);
	for (int i = 0; i < argc; i++)
		copy[i] = dr_xstrdup(argv[i]);
	for (int i = 1; i < argc; i++) {
		char *secret = NULL;
		if (strcmp(argv[i], "--pairing-token") == 0 && i + 1 < argc)
			secret = argv[i + 1];
		else if (strncmp(argv[i], "--pairing-token=", 16) == 0)
			secret = argv[i] + 16;
		if (secret && strcmp(secret, "-") != 0)
			memset(secret, 'x', strlen(secret));
	}
	return copy;
}

/*
 * The daemon chooses how agents are contained once, before its loop and
 * threads start: in cgroup mode it may move itself into a leaf cgroup and
 * clears job cgroups a crashed run left (cgroup.h).
 */
static void contain_agents(const struct dr_config *c)
{
	char name[DR_CGROUP_NAME_SIZE];
	struct dr_cgroup_opts o;
	dr_cgroup_opts_init(&o, name, c->profile, c->state_dir, c->agent_memory_max, (uint64_t)c->agent_pids_max,
			    c->containment == DR_CONTAINMENT_PROCESS_GROUP);
	/* Job cgroups of jobs still in the journal are the journal's: the daemon may take them over. */
	char *journal = c->state_dir ? dr_xasprintf("%s/jobs", c->state_dir) : NULL;
	o.journal_dir = journal;
	int r = dr_cgroup_setup(&o);
	free(journal);
	if (r < 0) {
		dr_log_warn("cannot set up agent containment for profile '%s'; agents run in process groups", c->profile);
		return;
	}
	dr_log_info("containment: %s", dr_cgroup_note());
	if (dr_cgroup_limits_note())
		dr_log_warn("%s", dr_cgroup_limits_note());
}

/*
 * The agents' sandbox, probed once before the loop starts. A mode asked
 * for by name that does not work here stops the runner; auto that finds
 * none says so and runs the agents unsandboxed.
 */
static bool sandbox_agents(const struct dr_config *c)
{
	if (dr_sandbox_setup((enum dr_sandbox_mode)c->sandbox, NULL) < 0) {
		dr_log_err("--sandbox %s does not work here: %s", dr_sandbox_mode_name((enum dr_sandbox_mode)c->sandbox),
		       dr_sandbox_note());
		return false;
	}
	if (dr_sandbox_fell_back())
		dr_log_warn("sandbox: %s", dr_sandbox_note());
	else
		dr_log_info("sandbox: %s", dr_sandbox_note());
	return true;
}

static int dispatch(int argc, char **argv)
{
	const struct command *cmd = NULL;
	int first = 1;
	if (argc > 1 && argv[1][0] != '-') {
		if (strcmp(argv[1], "version") == 0) {
			printf("delego-runner %s\n", DR_VERSION);
			return DR_EXIT_OK;
		}
		if (strcmp(argv[1], "help") == 0) {
			const struct command *about = NULL;
			for (size_t i = 0; argc > 2 && i < sizeof commands / sizeof *commands; i++)
				if (strcmp(argv[2], commands[i].name) == 0)
					about = &commands[i];
			usage(stdout, about);
			return DR_EXIT_OK;
		}
		for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				cmd = &commands[i];
		if (!cmd) {
			fprintf(stderr, "delego-runner: unknown command '%s' (see delego-runner help)\n", argv[1]);
			return DR_EXIT_USAGE;
		}
		first = 2;
	}

	struct dr_cmd_ctx ctx = { .argc = argc - first, .argv = argv + first, .prog = argv[0] };
	struct dr_config *c;
	char err[1024];
	int r = dr_config_load(ctx.argc, ctx.argv, NULL, &c, err, sizeof err);
	if (r < 0) {
		dr_log_err("%s", err);
		return r == -EINVAL ? DR_EXIT_USAGE : DR_EXIT_CONFIG;
	}
	dr_log_set_level(c->log_level);
	if (c->pairing_token)
		dr_log_add_secret(c->pairing_token);
	if (c->help) {
		usage(stdout, cmd);
		dr_config_free(c);
		return DR_EXIT_OK;
	}
	if (c->version) {
		printf("delego-runner %s\n", DR_VERSION);
		dr_config_free(c);
		return DR_EXIT_OK;
	}
	/* `service` and `workspace` read their own word; every other command takes none. */
	if (c->positional[0] && !(cmd && (cmd->exec == dr_cmd_service || cmd->exec == dr_cmd_workspace))) {
		dr_log_err("unexpected argument '%s' (see delego-runner help%s%s)", c->positional[0], cmd ? " " : "",
		       cmd ? cmd->name : "");
		dr_config_free(c);
		return DR_EXIT_USAGE;
	}
	if (!cmd) {
		if (!c->relay_url && !c->pairing_token && argc == 1) {
			usage(stderr, NULL);
			dr_config_free(c);
			return DR_EXIT_USAGE;
		}
		if (!c->background) {
			contain_agents(c);
			if (!sandbox_agents(c)) {
				dr_config_free(c);
				return DR_EXIT_CONFIG;
			}
		}
		return dr_cmd_default(c, &ctx);
	}
	if (cmd->exec == dr_cmd_run) {
		contain_agents(c);
		if (!sandbox_agents(c)) {
			dr_config_free(c);
			return DR_EXIT_CONFIG;
		}
	}
	int status = cmd->exec(c, &ctx);
	if (!cmd->owns_config)
		dr_config_free(c);
	return status;
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
	/* Agents stream large events: without this, glibc gives the heap back
	 * after every one and takes it again (brk churn and page faults cost
	 * more CPU than parsing). 8 MiB stays well inside our memory budget. */
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
#endif
	/* The cgroup shim, first: the agent it execs must inherit no signal disposition of ours. */
	if (argc > 1 && strcmp(argv[1], DR_CGROUP_SHIM_WORD) == 0)
		return dr_cgroup_exec_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], DR_SANDBOX_SHIM_WORD) == 0)
		return dr_sandbox_exec_main(argc, argv);
	/* The agent's supervisor (supervise.h): before anything of the daemon's is set up. */
	if (argc > 1 && strcmp(argv[1], DR_SUPERVISE_WORD) == 0)
		return dr_supervise_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], DR_CGROUP_STOP_POST_WORD) == 0)
		return dr_cgroup_stop_post_main(argc, argv);
	/* The sleep inhibitor's waiter (inhibit.h): it only waits for the runner to be gone. */
	if (argc > 1 && strcmp(argv[1], DR_INHIBIT_WAIT_WORD) == 0)
		return dr_inhibit_wait_main(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	harden_process();
	cJSON_Hooks hooks = { .malloc_fn = json_malloc, .free_fn = free };
	cJSON_InitHooks(&hooks);
	dr_log_init("delego-runner", DR_LOG_INFO, -1);

	char **args = copy_and_scrub(argc, argv);
	int status = dispatch(argc, args);
	dr_strv_free(args);
	dr_log_clear_secrets();
	return status;
}
