/* Temporary files and directory checks against another user's plants. */
#include "delego/config.h"
#include "delego/credentials.h"
#include "delego/fsutil.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static const char *bearer = "drr_BEARER_0123456789abcdefghijklmnopqrstuvwxyz";

static bool file_contains(const char *path, const char *needle)
{
	char buf[4096] = { 0 };
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 && strstr(buf, needle);
}

/* A fresh temporary folder with a private "cfg" directory in it. Caller frees. */
static char *make_cfg(void)
{
	tmpdir_make("fsutil");
	char *dir = dr_xasprintf("%s/cfg", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	return dir;
}

static void save_profile(const char *path, int expect)
{
	char err[512];
	struct dr_credentials *c = dr_credentials_new();
	struct dr_profile p = { .relay_url = "https://r.example", .runner_id = "r1", .bearer = (char *)bearer,
				.paired_at = "x" };
	dr_credentials_set(c, "default", &p);
	ck_assert_int_eq(dr_credentials_save(c, path, err, sizeof err), expect);
	dr_credentials_free(c);
}

/* The old name was <path>.tmp-<pid>: a link planted there got the bearer. */
START_TEST(a_planted_link_at_the_temp_name_gets_nothing)
{
	char *dir = make_cfg();
	char *path = dr_xasprintf("%s/credentials.json", dir);
	char *loot = dr_xasprintf("%s/loot", tmpdir);
	char *plant = dr_xasprintf("%s.tmp-%ld", path, (long)getpid());
	ck_assert_int_eq(symlink(loot, plant), 0);
	save_profile(path, 0);
	ck_assert(!file_contains(loot, bearer));
	ck_assert(file_contains(path, bearer));
	/* The status file path too. */
	char *status = dr_xasprintf("%s/status.json", dir);
	char *plant2 = dr_xasprintf("%s.tmp-%ld", status, (long)getpid());
	ck_assert_int_eq(symlink(loot, plant2), 0);
	ck_assert_int_eq(dr_fsutil_write_replace(status, bearer, strlen(bearer), 0600), 0);
	ck_assert(!file_contains(loot, bearer));
	ck_assert_int_eq(access(loot, F_OK), -1);
	/* dr_fsutil_open_new never follows or reuses. */
	ck_assert_int_eq(dr_fsutil_open_new(plant, 0600), -EEXIST);
	free(status);
	free(plant2);
	free(dir);
	free(path);
	free(loot);
	free(plant);
	tmpdir_remove();
}
END_TEST

START_TEST(a_group_writable_directory_is_refused_with_the_fix)
{
	char err[512];
	char *dir = make_cfg();
	ck_assert_int_eq(chmod(dir, 0770), 0);
	char *path = dr_xasprintf("%s/credentials.json", dir);
	struct dr_credentials *c = NULL;
	ck_assert_int_eq(dr_credentials_load(path, &c, NULL, err, sizeof err), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 700"));
	ck_assert_ptr_nonnull(strstr(err, dir));
	save_profile(path, -EPERM);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(dr_fsutil_mkdir_private(dir, err, sizeof err), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 700"));
	/* Readable by others but not writable: ours, so tightened. */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(dr_fsutil_mkdir_private(dir, err, sizeof err), 0);
	struct stat st;
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	/* New directories are 0700 whatever the umask. */
	char *deep = dr_xasprintf("%s/a/b", tmpdir);
	mode_t old = umask(0);
	ck_assert_int_eq(dr_fsutil_mkdir_private(deep, err, sizeof err), 0);
	umask(old);
	ck_assert_int_eq(stat(deep, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	free(deep);
	free(dir);
	free(path);
	tmpdir_remove();
}
END_TEST

START_TEST(a_directory_of_another_user_is_refused)
{
	char err[512];
	if (geteuid() != 0) {
		puts("# SKIP chown to another user needs root");
		return;
	}
	char *dir = make_cfg();
	ck_assert_int_eq(chown(dir, 1, 1), 0); /* not root, not us */
	ck_assert_int_eq(dr_fsutil_check_private_dir(dir, false, err, sizeof err), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chown 0"));
	free(dir);
	tmpdir_remove();
}
END_TEST

START_TEST(a_linked_credentials_file_is_refused)
{
	char err[512];
	char *dir = make_cfg();
	char *real = dr_xasprintf("%s/elsewhere.json", tmpdir);
	write_text(real, "{\"version\":1,\"profiles\":{}}", 0600);
	char *path = dr_xasprintf("%s/credentials.json", dir);
	ck_assert_int_eq(symlink(real, path), 0);
	struct dr_credentials *c = NULL;
	ck_assert_int_eq(dr_credentials_load(path, &c, NULL, err, sizeof err), -ELOOP);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
	free(dir);
	free(real);
	free(path);
	tmpdir_remove();
}
END_TEST

/* The config file names the commands we run (claude-command, ...). */
START_TEST(a_config_file_others_can_write_is_refused)
{
	char err[512];
	char *dir = make_cfg();
	char *path = dr_xasprintf("%s/config.yaml", dir);
	write_text(path, "claude-command: /tmp/evil\n", 0664);
	char *argv[] = { "delego-runner", "run", "--config", path, NULL };
	char *envp[] = { "HOME=/nonexistent", NULL };
	struct dr_config *c = NULL;
	ck_assert_int_eq(dr_config_load(4, argv, envp, &c, err, sizeof err), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod go-w"));
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(dr_config_load(4, argv, envp, &c, err, sizeof err), 0);
	dr_config_free(c);
	free(path);
	free(dir);
	tmpdir_remove();
}
END_TEST

struct landed {
	int calls;
	int order[64];
	char seen[64][16]; /* what the file held when each write's callback ran */
	const char *path;
};

static void landed_cb(void *data, int r)
{
	struct landed *l = data;
	ck_assert_int_eq(r, 0);
	struct dr_buf b = DR_BUF_INIT(0);
	ck_assert_int_eq(dr_fsutil_read_file(l->path, &b, NULL), 0);
	snprintf(l->seen[l->calls], sizeof l->seen[0], "%.*s", (int)b.len, b.buf);
	dr_buf_release(&b);
	l->calls++;
}

/* Off the loop, one path's writes still land in order: the last text asked for is the one left. */
START_TEST(async_writes_to_one_path_land_in_order)
{
	char *dir = make_cfg();
	char *path = dr_xasprintf("%s/status.json", dir);
	char *other = dr_xasprintf("%s/sub/other.json", dir);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct landed l = { .path = path };
	for (int i = 0; i < 40; i++) {
		char text[16];
		snprintf(text, sizeof text, "v%d", i);
		ck_assert_int_eq(dr_fsutil_write_async(&loop, path, text, strlen(text), 0600, 0700, i % 2, landed_cb, &l), 0);
	}
	ck_assert_int_eq(dr_fsutil_write_async(&loop, other, "x", 1, 0600, 0700, true, NULL, NULL), 0);
	ck_assert_int_eq(l.calls, 0); /* nothing on the caller's stack */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(l.calls, 40);
	for (int i = 0; i < 40; i++) {
		char want[16];
		snprintf(want, sizeof want, "v%d", i);
		ck_assert_str_eq(l.seen[i], want);
	}
	ck_assert(file_contains(path, "v39"));
	ck_assert(file_contains(other, "x")); /* durable: its directory made */
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	free(path);
	free(other);
	free(dir);
}
END_TEST

static Suite *fsutil_suite(void)
{
	Suite *s = suite_create("fsutil");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, a_planted_link_at_the_temp_name_gets_nothing);
	tcase_add_test(tc, a_group_writable_directory_is_refused_with_the_fix);
	tcase_add_test(tc, a_directory_of_another_user_is_refused);
	tcase_add_test(tc, a_linked_credentials_file_is_refused);
	tcase_add_test(tc, a_config_file_others_can_write_is_refused);
	tcase_add_test(tc, async_writes_to_one_path_land_in_order);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(fsutil_suite)
