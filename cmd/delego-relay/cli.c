/* cli: `delego-relay` argv -> command, over the store (see usage below). */
#include "cli.h"

#include "admin.h"
#include "clock.h"
#include "server.h"
#include "store.h"

#include "delego/buf.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/text.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 64
#define RAW_JOB_MAX (1024 * 1024)

static const char usage_text[] =
	"usage: delego-relay [--db PATH] <command> [options]\n"
	"\n"
	"  serve [--listen HOST:PORT] [--url-file PATH] [--request-log PATH]\n"
	"        [--online-seconds N] [--stale-seconds N] [--public-url URL]\n"
	"        [--no-long-poll] [--no-realtime]\n"
	"                                  run the relay (runner API, admin API, Runners panel)\n"
	"  admin-token                     print the admin token the panel and /api/admin/ need\n"
	"  pair-token [--name NAME] [--executors claude,codex] [--json]\n"
	"                                  mint a single-use pairing token (valid 15 minutes)\n"
	"  runners [--json]                list runners and their status\n"
	"  rotate RUNNER_ID [--json]       kill the runner's credential; print a new pairing token\n"
	"  remove RUNNER_ID                revoke and hide a runner; fail the jobs it held\n"
	"  restart RUNNER_ID               ask an idle runner to restart (delivered once)\n"
	"  job add --repo OWNER/REPO [--executor claude|codex] [--model M]\n"
	"          [--thinking low|medium|high] [--identifier ID] [--title T] [--url U]\n"
	"          [--prompt TEXT] [--auto-push] [--auto-create-pr] [--pr-draft]\n"
	"  job add --raw FILE|-            queue a raw job object as-is (for tests)\n"
	"  job list [--json] | job show ID [--json] | job cancel ID | job answer ID TEXT\n"
	"  settings [--default-executor claude|codex] [--workspace-path PATH] [--json]\n"
	"\n"
	"The database defaults to ${XDG_DATA_HOME:-~/.local/share}/delego-relay/relay.db.\n"
	"DELEGO_RELAY_CLOCK_OFFSET_MS moves the relay's clock (tests).\n";

static const char serve_help[] =
	"usage: delego-relay serve [--db PATH] [--listen HOST:PORT] [--url-file PATH]\n"
	"                          [--request-log PATH] [--online-seconds N] [--stale-seconds N]\n"
	"                          [--public-url URL] [--no-long-poll] [--no-realtime]\n"
	"\n"
	"  --listen HOST:PORT    default 127.0.0.1:8420; port 0 picks a free port\n"
	"  --url-file PATH       write the base URL there (atomically) once listening\n"
	"  --request-log PATH    append one JSON line per runner-API request\n"
	"  --online-seconds N    Online while the last heartbeat is at most N s old\n"
	"                        (default 600: two of the runner's 300 s heartbeat intervals)\n"
	"  --stale-seconds N     Stale up to N s (default 1800: six intervals), Offline beyond\n"
	"  --public-url URL      the relay URL put in pairing commands (default: the listen URL)\n"
	"  --no-long-poll        answer jobs/poll at once, ignoring waitMs (runners then poll\n"
	"                        at intervals, or rely on realtime push)\n"
	"  --no-realtime         no realtime push endpoint: realtime-token points nowhere and\n"
	"                        runners fall back to polling\n"
	"\n"
	"Runner status: Revoked (unregistered or removed), Not registered (token issued,\n"
	"not used yet, or credential rotated), else Online / Stale / Offline by the age of\n"
	"the last heartbeat (or of the pairing, before the first heartbeat).\n"
	"SIGTERM or SIGINT stops the relay cleanly (exit 0).\n";

/* Each subcommand's --help. */
static const struct {
	const char *cmd, *sub, *text;
} sub_help[] = {
	{ "admin-token", NULL,
	  "usage: delego-relay [--db PATH] admin-token\n"
	  "\n"
	  "Prints the admin token the Runners panel and /api/admin/ need.\n" },
	{ "pair-token", NULL,
	  "usage: delego-relay [--db PATH] pair-token [--name NAME] [--executors claude,codex] [--json]\n"
	  "\n"
	  "Mints a single-use pairing token (valid 15 minutes) for a new runner card.\n"
	  "  --name NAME               the card's display name (default: Runner <id>)\n"
	  "  --executors claude,codex  the executors this runner may run (default: any)\n"
	  "  --json                    print the token, runner id, expiry and pairing command\n" },
	{ "runners", NULL,
	  "usage: delego-relay [--db PATH] runners [--json]\n"
	  "\n"
	  "Lists the runners and their status (Online, Stale, Offline, Revoked, Not registered).\n" },
	{ "rotate", NULL,
	  "usage: delego-relay [--db PATH] rotate RUNNER_ID [--json]\n"
	  "\n"
	  "Kills the runner's credential (its push feed closes at once), fails the job it held,\n"
	  "and prints a new pairing token for the same card.\n" },
	{ "remove", NULL,
	  "usage: delego-relay [--db PATH] remove RUNNER_ID\n"
	  "\n"
	  "Revokes and hides a runner (its push feed closes at once); jobs it held fail.\n" },
	{ "restart", NULL,
	  "usage: delego-relay [--db PATH] restart RUNNER_ID\n"
	  "\n"
	  "Asks the runner to restart at its next idle heartbeat (delivered once).\n" },
	{ "job", "add",
	  "usage: delego-relay [--db PATH] job add --repo OWNER/REPO [--executor claude|codex] [--model M]\n"
	  "           [--thinking low|medium|high] [--identifier ID] [--title T] [--url U]\n"
	  "           [--prompt TEXT] [--auto-push] [--auto-create-pr] [--pr-draft]\n"
	  "       delego-relay [--db PATH] job add --raw FILE|-\n"
	  "\n"
	  "Queues a job and prints its id. --raw queues a JSON object as-is (for tests);\n"
	  "it may be nested at most 32 levels deep.\n" },
	{ "job", "list",
	  "usage: delego-relay [--db PATH] job list [--json]\n"
	  "\n"
	  "Lists the jobs, newest first.\n" },
	{ "job", "show",
	  "usage: delego-relay [--db PATH] job show ID [--json]\n"
	  "\n"
	  "Shows one job with its events.\n" },
	{ "job", "cancel",
	  "usage: delego-relay [--db PATH] job cancel ID\n"
	  "\n"
	  "Cancels a queued, running or waiting job.\n" },
	{ "job", "answer",
	  "usage: delego-relay [--db PATH] job answer ID TEXT\n"
	  "\n"
	  "Answers the question of a job awaiting input; it resumes on the same runner.\n" },
	{ "job", NULL,
	  "usage: delego-relay [--db PATH] job add|list|show|cancel|answer ...\n"
	  "\n"
	  "See delego-relay job SUBCOMMAND --help.\n" },
	{ "settings", NULL,
	  "usage: delego-relay [--db PATH] settings [--default-executor claude|codex] [--workspace-path PATH] [--json]\n"
	  "\n"
	  "Shows, or sets, the executor for jobs that name none and the workspace path\n"
	  "put into pairing commands (\"\" clears it).\n" },
};

/* Prints the usage of `cmd [sub] --help`; false when argv asks for no help. */
static bool print_sub_help(const char *cmd, int argc, char **argv)
{
	bool asked = false;
	for (int i = 1; i < argc; i++)
		asked |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
	if (!asked)
		return false;
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	for (size_t i = 0; i < sizeof(sub_help) / sizeof(sub_help[0]); i++) {
		if (strcmp(sub_help[i].cmd, cmd) != 0)
			continue;
		if (!sub_help[i].sub || (sub && !strcmp(sub_help[i].sub, sub))) {
			fputs(sub_help[i].text, stdout);
			return true;
		}
	}
	fputs(usage_text, stdout);
	return true;
}

struct opt {
	const char *name;
	const char **value; /* NULL for a flag */
	bool *flag;
};

/* Parses argv[i..] into opts and positionals; returns 0 or EXIT_USAGE (after printing why). */
static int parse_opts(int argc, char **argv, int i, struct opt *opts, struct dr_strv *pos)
{
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || !a[2]) {
			dr_strv_push(pos, a);
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		struct opt *o = opts;
		for (; o->name; o++)
			if (strlen(o->name) == n && !strncmp(o->name, a, n))
				break;
		if (!o->name) {
			fprintf(stderr, "delego-relay: unknown option '%s'; see delego-relay --help\n", a);
			return EXIT_USAGE;
		}
		if (!o->value) {
			if (eq) {
				fprintf(stderr, "delego-relay: option '%.*s' takes no value\n", (int)n, a);
				return EXIT_USAGE;
			}
			*o->flag = true;
			continue;
		}
		if (eq) {
			*o->value = eq + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			fprintf(stderr, "delego-relay: option '%s' needs a value\n", a);
			return EXIT_USAGE;
		}
	}
	return 0;
}

static char *default_db(void)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	if (xdg && *xdg == '/')
		return dr_xasprintf("%s/delego-relay/relay.db", xdg);
	const char *home = getenv("HOME");
	return dr_xasprintf("%s/.local/share/delego-relay/relay.db", home && *home ? home : ".");
}

static int open_store(const char *db, struct relay_store **st)
{
	char *path = db ? dr_xstrdup(db) : default_db();
	char err[700];
	int r = relay_store_open(path, st, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "delego-relay: %s\n", err);
	free(path);
	return r < 0 ? 1 : 0;
}

static int store_fail(struct relay_store *st)
{
	fprintf(stderr, "delego-relay: %s\n", relay_store_error(st));
	return 1;
}

static void print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);
	puts(s);
	free(s);
}

static int need_args(const struct dr_strv *pos, size_t n, const char *what)
{
	if (pos->n != n) {
		fprintf(stderr, "delego-relay: usage: delego-relay %s\n", what);
		return EXIT_USAGE;
	}
	return 0;
}

static int cmd_serve(const char *db, int argc, char **argv)
{
	const char *listen = "127.0.0.1:8420", *url_file = NULL, *req_log = NULL, *on_s = NULL, *stale_s = NULL,
		   *public_url = NULL;
	bool help = false, no_long_poll = false, no_realtime = false;
	struct dr_strv pos = DR_STRV_INIT;
	struct opt opts[] = { { "--db", &db, NULL },
			      { "--listen", &listen, NULL },
			      { "--url-file", &url_file, NULL },
			      { "--request-log", &req_log, NULL },
			      { "--online-seconds", &on_s, NULL },
			      { "--stale-seconds", &stale_s, NULL },
			      { "--public-url", &public_url, NULL },
			      { "--no-long-poll", NULL, &no_long_poll },
			      { "--no-realtime", NULL, &no_realtime },
			      { "--help", NULL, &help },
			      { NULL, NULL, NULL } };
	int r = parse_opts(argc, argv, 1, opts, &pos);
	if (r || help || pos.n) {
		dr_strv_release(&pos);
		fputs(serve_help, help ? stdout : stderr);
		return help && !r ? 0 : EXIT_USAGE;
	}
	long on = RELAY_ONLINE_SECONDS_DEFAULT, stale = RELAY_STALE_SECONDS_DEFAULT;
	if ((on_s && relay_parse_long(on_s, 1, INT_MAX, &on) < 0) ||
	    (stale_s && relay_parse_long(stale_s, 1, INT_MAX, &stale) < 0)) {
		fprintf(stderr, "delego-relay: --online-seconds and --stale-seconds take a positive number of seconds\n");
		return EXIT_USAGE;
	}
	if (on_s && !stale_s && stale < on)
		stale = on * 3;
	if (stale < on) {
		fprintf(stderr, "delego-relay: --stale-seconds (%ld) must be at least --online-seconds (%ld)\n", stale, on);
		return EXIT_USAGE;
	}
	if (public_url && strncmp(public_url, "http://", 7) && strncmp(public_url, "https://", 8)) {
		fprintf(stderr, "delego-relay: --public-url must start with http:// or https://\n");
		return EXIT_USAGE;
	}
	struct relay_store *st;
	if (open_store(db, &st))
		return 1;
	if (relay_store_set_thresholds(st, on, stale, true) < 0) {
		r = store_fail(st);
		relay_store_close(st);
		return r;
	}
	char *pub = public_url ? dr_xstrdup(public_url) : NULL;
	if (pub)
		for (size_t n = strlen(pub); n > 0 && pub[n - 1] == '/'; n--)
			pub[n - 1] = '\0';
	struct relay_server_config cfg = { .listen = listen, .url_file = url_file, .request_log = req_log, .public_url = pub,
				       .no_realtime = no_realtime, .no_long_poll = no_long_poll };
	r = relay_server_run(st, &cfg);
	free(pub);
	relay_store_close(st);
	return r < 0 ? 1 : 0;
}

static int cmd_pair_token(struct relay_store *st, int argc, char **argv)
{
	const char *name = NULL, *executors = NULL;
	bool json = false;
	struct dr_strv pos = DR_STRV_INIT;
	struct opt opts[] = { { "--name", &name, NULL }, { "--executors", &executors, NULL }, { "--json", NULL, &json },
			      { NULL, NULL, NULL } };
	int r = parse_opts(argc, argv, 1, opts, &pos);
	if (r || (r = need_args(&pos, 0, "pair-token [--name NAME] [--executors claude,codex] [--json]")))
		goto out;
	unsigned mask = 0;
	if (executors && (relay_exec_parse(executors, &mask) < 0 || !mask)) {
		fprintf(stderr, "delego-relay: --executors takes a comma-separated list of claude and codex, got '%s'\n",
			executors);
		r = EXIT_USAGE;
		goto out;
	}
	struct relay_pairing p = { 0 };
	if (relay_store_pair_token(st, name, mask, relay_clock_now_ms(), &p) < 0) {
		r = store_fail(st);
		goto out;
	}
	if (json) {
		cJSON *j = relay_admin_pairing_json(st, &p, mask);
		print_json(j);
		cJSON_Delete(j);
	} else {
		puts(p.token);
	}
	relay_pairing_release(&p);
out:
	dr_strv_release(&pos);
	return r;
}

/*
 * Runner-supplied text (version, job ids, summaries) may carry terminal
 * escapes: C0 controls, DEL, C1 controls (U+0080..U+009F, U+009B is a
 * one-character CSI) and stray bytes come out as \xNN or \u00NN.
 */
static char *terminal_safe(const char *s)
{
	return dr_text_escape(s, 0);
}

/* Makes every string in a tree safe to print on a terminal. */
static void terminal_safe_tree(cJSON *j)
{
	cJSON *it;
	if (cJSON_IsString(j)) {
		char *safe = terminal_safe(j->valuestring);
		if (strcmp(safe, j->valuestring) != 0)
			cJSON_SetValuestring(j, safe);
		free(safe);
	}
	cJSON_ArrayForEach(it, j) terminal_safe_tree(it);
}

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
	const char *s = dr_json_str(o, key);
	return s ? s : dflt;
}

static char *join_array(const cJSON *arr)
{
	struct dr_buf b = DR_BUF_INIT(0);
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it))
			dr_buf_addf(&b, "%s%s", b.len ? "," : "", it->valuestring);
	}
	if (!b.len)
		dr_buf_addstr(&b, "-");
	return dr_buf_detach(&b, NULL);
}

static int cmd_runners(struct relay_store *st, int argc, char **argv)
{
	bool json = false;
	struct dr_strv pos = DR_STRV_INIT;
	struct opt opts[] = { { "--json", NULL, &json }, { NULL, NULL, NULL } };
	int r = parse_opts(argc, argv, 1, opts, &pos);
	if (r || (r = need_args(&pos, 0, "runners [--json]")))
		goto out;
	cJSON *list;
	if (relay_store_runners(st, relay_clock_now_ms(), &list) < 0) {
		r = store_fail(st);
		goto out;
	}
	if (!json)
		terminal_safe_tree(list);
	if (json) {
		print_json(list);
	} else if (!cJSON_GetArraySize(list)) {
		puts("no runners yet; mint a pairing token with `delego-relay pair-token`");
	} else {
		printf("%-36s  %-20s  %-14s  %-24s  %-8s  %-12s  %s\n", "ID", "NAME", "STATUS", "LAST HEARTBEAT",
		       "VERSION", "EXECUTORS", "ACTIVE JOB");
		const cJSON *it;
		cJSON_ArrayForEach(it, list)
		{
			char *ex = join_array(cJSON_GetObjectItemCaseSensitive(it, "executors"));
			printf("%-36s  %-20.60s  %-14s  %-24s  %-8s  %-12s  %s\n", str_or(it, "id", "-"),
			       str_or(it, "name", "-"), str_or(it, "statusLabel", "-"),
			       str_or(it, "lastHeartbeatAt", "\u2014"), str_or(it, "version", "-"), ex,
			       str_or(it, "activeJobId", "-"));
			free(ex);
		}
	}
	cJSON_Delete(list);
out:
	dr_strv_release(&pos);
	return r;
}

static int cmd_runner_op(struct relay_store *st, const char *op, int argc, char **argv)
{
	bool json = false;
	struct dr_strv pos = DR_STRV_INIT;
	struct opt opts[] = { { "--json", NULL, &json }, { NULL, NULL, NULL } };
	char what[64];
	snprintf(what, sizeof(what), "%s RUNNER_ID%s", op, !strcmp(op, "rotate") ? " [--json]" : "");
	int r = parse_opts(argc, argv, 1, opts, &pos);
	if (r || (r = need_args(&pos, 1, what)))
		goto out;
	int64_t now = relay_clock_now_ms();
	if (!strcmp(op, "rotate")) {
		struct relay_pairing p = { 0 };
		if (relay_store_rotate(st, pos.v[0], now, &p) < 0) {
			r = store_fail(st);
			goto out;
		}
		if (json) {
			cJSON *j = relay_admin_pairing_json(st, &p, 0);
			print_json(j);
			cJSON_Delete(j);
		} else {
			puts(p.token);
		}
		relay_pairing_release(&p);
	} else if (!strcmp(op, "remove")) {
		if (relay_store_remove(st, pos.v[0], now) < 0)
			r = store_fail(st);
		else
			fprintf(stderr, "removed runner %s\n", pos.v[0]);
	} else {
		if (relay_store_request_restart(st, pos.v[0], now) < 0)
			r = store_fail(st);
		else
			fprintf(stderr, "restart requested for runner %s; it restarts at its next idle heartbeat\n", pos.v[0]);
	}
out:
	dr_strv_release(&pos);
	return r;
}

static cJSON *read_raw(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		fprintf(stderr, "delego-relay: cannot open '%s': %s\n", path, strerror(errno));
		return NULL;
	}
	struct dr_buf b = DR_BUF_INIT(RAW_JOB_MAX);
	char chunk[8192];
	size_t n;
	bool big = false;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (dr_buf_add(&b, chunk, n) < 0) {
			big = true;
			break;
		}
	if (f != stdin)
		fclose(f);
	cJSON *j = NULL;
	int r = big ? -E2BIG : dr_json_parse_object(b.buf, b.len, RAW_JOB_MAX, &j);
	if (r == -E2BIG)
		fprintf(stderr, "delego-relay: raw job '%s' is larger than 1 MiB or nested more than %d levels deep\n",
			path, RELAY_JOB_DEPTH_MAX);
	else if (r < 0)
		fprintf(stderr, "delego-relay: raw job '%s' is not a JSON object\n", path);
	dr_buf_release(&b);
	return j;
}

static int cmd_job_add(struct relay_store *st, int argc, char **argv)
{
	struct relay_job_spec sp = { 0 };
	const char *raw = NULL;
	struct dr_strv pos = DR_STRV_INIT;
	struct opt opts[] = { { "--repo", &sp.repo, NULL },
			      { "--executor", &sp.executor, NULL },
			      { "--model", &sp.model, NULL },
			      { "--thinking", &sp.thinking, NULL },
			      { "--identifier", &sp.identifier, NULL },
			      { "--title", &sp.title, NULL },
			      { "--url", &sp.url, NULL },
			      { "--prompt", &sp.prompt, NULL },
			      { "--auto-push", NULL, &sp.auto_push },
			      { "--auto-create-pr", NULL, &sp.auto_create_pr },
			      { "--pr-draft", NULL, &sp.pr_draft },
			      { "--raw", &raw, NULL },
			      { NULL, NULL, NULL } };
	int r = parse_opts(argc, argv, 2, opts, &pos);
	if (r || (r = need_args(&pos, 0, "job add --repo OWNER/REPO [options] | job add --raw FILE|-")))
		goto out;
	char *id = NULL;
	int64_t now = relay_clock_now_ms();
	if (raw) {
		cJSON *j = read_raw(raw);
		if (!j) {
			r = 1;
			goto out;
		}
		r = relay_store_job_add_raw(st, j, now, &id);
		cJSON_Delete(j);
	} else {
		if (!sp.repo) {
			fprintf(stderr, "delego-relay: job add needs --repo OWNER/REPO (or --raw FILE)\n");
			r = EXIT_USAGE;
			goto out;
		}
		r = relay_store_job_add(st, &sp, now, &id);
	}
	if (r < 0) {
		r = store_fail(st);
		goto out;
	}
	puts(id);
	free(id);
	r = 0;
out:
	dr_strv_release(&pos);
	return r;
}

static void print_job(const cJSON *j)
{
	printf("job %s\n", str_or(j, "id", "-"));
	printf("  status:   %s%s\n", str_or(j, "status", "-"),
	       dr_json_true(j, "cancellationRequested") ? " (cancellation requested)" : "");
	printf("  repo:     %s\n", str_or(j, "repositorySlug", "-"));
	printf("  issue:    %s %s\n", str_or(j, "identifier", "-"), str_or(j, "title", ""));
	printf("  runner:   %s\n", str_or(j, "runnerId", "-"));
	printf("  attempt:  %s\n", str_or(j, "attemptId", "-"));
	printf("  summary:  %s\n", str_or(j, "summary", "-"));
	const cJSON *aw = dr_json_obj(j, "awaiting");
	if (aw) {
		const cJSON *q = dr_json_obj(aw, "question");
		printf("  question: %s\n", q ? str_or(q, "question", "-") : str_or(aw, "question", "-"));
	}
	const cJSON *ev;
	puts("  events:");
	cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events"))
	{
		printf("    %s  %-8s  %s\n", str_or(ev, "at", "-"), str_or(ev, "kind", "-"), str_or(ev, "summary", ""));
	}
}

static int cmd_job(struct relay_store *st, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (!strcmp(sub, "add"))
		return cmd_job_add(st, argc, argv);
	bool json = false;
	struct dr_strv pos = DR_STRV_INIT;
	struct opt opts[] = { { "--json", NULL, &json }, { NULL, NULL, NULL } };
	int r = parse_opts(argc, argv, 2, opts, &pos);
	if (r)
		goto out;
	int64_t now = relay_clock_now_ms();
	cJSON *out = NULL;
	if (!strcmp(sub, "list")) {
		if ((r = need_args(&pos, 0, "job list [--json]")))
			goto out;
		if (relay_store_jobs(st, 0, false, &out) < 0) {
			r = store_fail(st);
			goto out;
		}
		if (!json)
			terminal_safe_tree(out);
		if (json) {
			print_json(out);
		} else if (!cJSON_GetArraySize(out)) {
			puts("no jobs; queue one with `delego-relay job add --repo OWNER/REPO`");
		} else {
			printf("%-36s  %-15s  %-24s  %-36s  %s\n", "ID", "STATUS", "REPO", "RUNNER", "SUMMARY");
			const cJSON *it;
			cJSON_ArrayForEach(it, out)
			{
				printf("%-36s  %-15s  %-24s  %-36s  %.80s\n", str_or(it, "id", "-"), str_or(it, "status", "-"),
				       str_or(it, "repositorySlug", "-"), str_or(it, "runnerId", "-"),
				       str_or(it, "summary", ""));
			}
		}
	} else if (!strcmp(sub, "show")) {
		if ((r = need_args(&pos, 1, "job show ID [--json]")))
			goto out;
		if (relay_store_job_show(st, pos.v[0], &out) < 0) {
			r = store_fail(st);
			goto out;
		}
		if (json) {
			print_json(out);
		} else {
			terminal_safe_tree(out);
			print_job(out);
		}
	} else if (!strcmp(sub, "cancel")) {
		if ((r = need_args(&pos, 1, "job cancel ID")))
			goto out;
		if (relay_store_job_cancel(st, pos.v[0], now) < 0)
			r = store_fail(st);
	} else if (!strcmp(sub, "answer")) {
		if ((r = need_args(&pos, 2, "job answer ID TEXT")))
			goto out;
		if (relay_store_job_answer(st, pos.v[0], pos.v[1], now) < 0)
			r = store_fail(st);
	} else {
		fprintf(stderr, "delego-relay: unknown job command '%s'; use add, list, show, cancel or answer\n", sub);
		r = EXIT_USAGE;
	}
	cJSON_Delete(out);
out:
	dr_strv_release(&pos);
	return r;
}

static int cmd_settings(struct relay_store *st, int argc, char **argv)
{
	const char *exec = NULL, *ws = NULL;
	bool json = false;
	struct dr_strv pos = DR_STRV_INIT;
	struct opt opts[] = { { "--default-executor", &exec, NULL }, { "--workspace-path", &ws, NULL },
			      { "--json", NULL, &json }, { NULL, NULL, NULL } };
	int r = parse_opts(argc, argv, 1, opts, &pos);
	if (r || (r = need_args(&pos, 0, "settings [--default-executor claude|codex] [--workspace-path PATH] [--json]")))
		goto out;
	if ((exec || ws) && relay_store_settings_set(st, exec, ws) < 0) {
		r = store_fail(st);
		goto out;
	}
	cJSON *s = NULL;
	relay_store_settings(st, &s);
	if (json) {
		print_json(s);
	} else {
		printf("defaultExecutor: %s\n", str_or(s, "defaultExecutor", "-"));
		printf("workspacePath:   %s\n", str_or(s, "workspacePath", "-"));
	}
	cJSON_Delete(s);
out:
	dr_strv_release(&pos);
	return r;
}

int relay_cli_main(int argc, char **argv)
{
	dr_log_init("delego-relay", DR_LOG_INFO, -1);
	const char *db = NULL;
	int i = 1;
	/* Global options come before the command. */
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--db") && i + 1 < argc) {
			db = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--db=", 5)) {
			db = argv[i] + 5;
			i++;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			puts("delego-relay " DR_VERSION);
			return 0;
		} else {
			fprintf(stderr, "delego-relay: unknown option '%s'\n%s", argv[i], usage_text);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[i];
	int cargc = argc - i;
	char **cargv = argv + i;
	if (!strcmp(cmd, "serve"))
		return cmd_serve(db, cargc, cargv);
	if (!strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	static const char *const cmds[] = { "admin-token", "pair-token", "runners", "rotate", "remove",
					    "restart", "job", "settings", NULL };
	size_t k = 0;
	while (cmds[k] && strcmp(cmds[k], cmd))
		k++;
	if (!cmds[k]) {
		fprintf(stderr, "delego-relay: unknown command '%s'\n%s", cmd, usage_text);
		return EXIT_USAGE;
	}
	if (print_sub_help(cmd, cargc, cargv))
		return 0;
	/* --db may also follow the command. */
	struct dr_strv rest = DR_STRV_INIT;
	for (int j = 0; j < cargc; j++) {
		if (!strcmp(cargv[j], "--db") && j + 1 < cargc) {
			db = cargv[++j];
			continue;
		}
		if (!strncmp(cargv[j], "--db=", 5)) {
			db = cargv[j] + 5;
			continue;
		}
		dr_strv_push(&rest, cargv[j]);
	}
	int rargc = (int)rest.n;
	struct relay_store *st;
	if (open_store(db, &st)) {
		dr_strv_release(&rest);
		return 1;
	}
	int r;
	if (!strcmp(cmd, "admin-token")) {
		puts(relay_store_admin_token(st));
		r = 0;
	} else if (!strcmp(cmd, "pair-token")) {
		r = cmd_pair_token(st, rargc, rest.v);
	} else if (!strcmp(cmd, "runners")) {
		r = cmd_runners(st, rargc, rest.v);
	} else if (!strcmp(cmd, "rotate") || !strcmp(cmd, "remove") || !strcmp(cmd, "restart")) {
		r = cmd_runner_op(st, cmd, rargc, rest.v);
	} else if (!strcmp(cmd, "job")) {
		r = cmd_job(st, rargc, rest.v);
	} else {
		r = cmd_settings(st, rargc, rest.v);
	}
	relay_store_close(st);
	dr_strv_release(&rest);
	return r;
}
