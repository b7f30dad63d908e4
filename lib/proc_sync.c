/* proc_sync: dr_proc_spawn on a private loop, waited for. */
#include "delego/proc_sync.h"
#include "delego/childenv.h"
#include "delego/proc.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <uv.h>

/* The helpers run here answer in a second; a hung one gets little grace. */
#define SYNC_KILL_GRACE_MS 1000

struct sync_run {
	struct dr_buf *out[2]; /* stdout's, stderr's */
	bool full[2];          /* a line did not fit: the rest is dropped */
	int status;
};

static void on_line(void *data, int fd, const char *line, size_t len, bool truncated)
{
	struct sync_run *s = data;
	int i = fd == 2;
	struct dr_buf *out = s->out[i];
	/* One buffer for both streams fills up once for both. */
	bool *full = &s->full[s->out[0] == s->out[1] ? 0 : i];
	if (!out || *full)
		return;
	size_t max = out->max ? out->max : DR_BUF_MAX_DEFAULT;
	if (len + 1 > max - out->len) {
		*full = true;
		return;
	}
	dr_buf_add(out, line, len);
	dr_buf_addch(out, '\n');
}

static void on_exit_cb(void *data, const struct dr_proc_result *r)
{
	struct sync_run *s = data;
	s->status = r->timed_out ? 124 : r->exit_code;
}

int dr_proc_sync_run(char *const argv[], long timeout_ms, struct dr_buf *out, int *status)
{
	return dr_proc_sync_run_split(argv, timeout_ms, out, out, status);
}

int dr_proc_sync_run_split(char *const argv[], long timeout_ms, struct dr_buf *out, struct dr_buf *err,
			   int *status)
{
	uv_loop_t loop;
	int r = uv_loop_init(&loop);
	if (r < 0)
		return r;
	struct sync_run s = { .out = { out, err }, .status = -1 };
	char **env = dr_childenv_build(NULL, DR_CHILDENV_HELPER, NULL);
	struct dr_proc_opts o = {
		.argv = argv,
		.env = env,
		.timeout_ms = timeout_ms > 0 ? (uint64_t)timeout_ms : 0,
		.kill_grace_ms = SYNC_KILL_GRACE_MS,
		.on_line = on_line,
		.on_exit = on_exit_cb,
		.data = &s,
	};
	struct dr_proc *p;
	r = dr_proc_spawn(&loop, &o, &p);
	dr_strv_free(env);
	/* Also after a failed spawn: its half-made handles close on the loop. */
	uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	if (r == 0)
		*status = s.status;
	return r;
}
