#include "delego/credentials.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/json.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[1024];

static void setup(void)
{
	tmpdir_make("creds");
}

static void teardown(void)
{
	tmpdir_remove();
}

/* A file as the Node runner 0.8.0 writes it (JSON.stringify(store, null, 2)), with extra fields. */
static const char node_file[] =
	"{\n  \"version\": 1,\n  \"profiles\": {\n    \"default\": {\n      \"relayUrl\": \"https://relay.example.com\",\n"
	"      \"runnerId\": \"run_1\",\n      \"bearer\": \"drs_bearer_one\",\n      \"pairedAt\": \"2026-01-01T00:00:00.000Z\",\n"
	"      \"futureField\": {\"keep\": true}\n    },\n    \"work\": {\n      \"relayUrl\": \"https://other.example.com\",\n"
	"      \"runnerId\": \"run_2\",\n      \"bearer\": \"drs_bearer_two\",\n      \"pairedAt\": \"2026-01-02T00:00:00.000Z\"\n"
	"    }\n  },\n  \"topLevelExtra\": [1, 2, 3]\n}\n";

START_TEST(reads_a_node_written_file)
{
	char *path = dr_xasprintf("%s/credentials.json", tmpdir);
	write_text(path, node_file, 0600);
	struct dr_credentials *c;
	unsigned insecure = 99;
	ck_assert_int_eq(dr_credentials_load(path, &c, &insecure, err, sizeof err), 0);
	ck_assert_uint_eq(insecure, 0);
	struct dr_profile p;
	ck_assert_int_eq(dr_credentials_get(c, "work", &p), 0);
	ck_assert_str_eq(p.relay_url, "https://other.example.com");
	ck_assert_str_eq(p.runner_id, "run_2");
	ck_assert_str_eq(p.bearer, "drs_bearer_two");
	ck_assert_ptr_null(p.workspace_root);
	dr_credentials_profile_release(&p);
	ck_assert_int_eq(dr_credentials_get(c, "missing", &p), -ENOENT);
	char **names = dr_credentials_names(c);
	ck_assert_str_eq(names[0], "default");
	ck_assert_str_eq(names[1], "work");
	ck_assert_ptr_null(names[2]);
	dr_strv_free(names);
	dr_credentials_free(c);
	free(path);
}
END_TEST

START_TEST(rewrite_keeps_unknown_fields_and_other_profiles)
{
	char *path = dr_xasprintf("%s/credentials.json", tmpdir);
	write_text(path, node_file, 0600);
	struct dr_credentials *c;
	ck_assert_int_eq(dr_credentials_load(path, &c, NULL, err, sizeof err), 0);
	char *ex[] = { "claude", NULL };
	struct dr_profile p = { .relay_url = "https://relay.example.com", .runner_id = "run_3", .bearer = "b3",
				.paired_at = "2026-02-02T00:00:00.000Z", .workspace_root = "/ws", .supported_executors = ex };
	dr_credentials_set(c, "default", &p);
	ck_assert_int_eq(dr_credentials_save(c, path, err, sizeof err), 0);
	dr_credentials_free(c);

	struct dr_buf b = DR_BUF_INIT(0);
	ck_assert_int_eq(dr_fsutil_read_file(path, &b, NULL), 0);
	cJSON *root;
	ck_assert_int_eq(dr_json_parse_object(b.buf, b.len, 1 << 20, &root), 0);
	ck_assert(cJSON_IsArray(cJSON_GetObjectItem(root, "topLevelExtra")));
	const cJSON *def = dr_json_obj(dr_json_obj(root, "profiles"), "default");
	ck_assert_str_eq(dr_json_str(def, "runnerId"), "run_3");
	ck_assert_str_eq(dr_json_str(def, "workspaceRoot"), "/ws");
	ck_assert_str_eq(cJSON_GetArrayItem(dr_json_array(def, "supportedExecutors"), 0)->valuestring, "claude");
	ck_assert(dr_json_true(dr_json_obj(def, "futureField"), "keep"));
	const cJSON *work = dr_json_obj(dr_json_obj(root, "profiles"), "work");
	ck_assert_str_eq(dr_json_str(work, "bearer"), "drs_bearer_two");
	cJSON_Delete(root);
	dr_buf_release(&b);
	free(path);
}
END_TEST

START_TEST(writes_private_modes_atomically)
{
	char *path = dr_xasprintf("%s/new/dir/credentials.json", tmpdir);
	struct dr_credentials *c = dr_credentials_new();
	struct dr_profile p = { .relay_url = "http://127.0.0.1:1", .runner_id = "r", .bearer = "b", .paired_at = "t" };
	dr_credentials_set(c, "default", &p);
	ck_assert_int_eq(dr_credentials_save(c, path, err, sizeof err), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	char *dir = dr_xasprintf("%s/new/dir", tmpdir);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	/* No temporary file is left beside it. */
	char *cmd = dr_xasprintf("test $(ls -A %s | wc -l) -eq 1", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(dir);
	dr_credentials_free(c);
	free(path);
}
END_TEST

START_TEST(loose_modes_are_reported)
{
	char *path = dr_xasprintf("%s/credentials.json", tmpdir);
	write_text(path, node_file, 0644);
	struct dr_credentials *c;
	unsigned insecure = 0;
	ck_assert_int_eq(dr_credentials_load(path, &c, &insecure, err, sizeof err), 0);
	ck_assert_uint_eq(insecure, 0644);
	dr_credentials_free(c);
	free(path);
}
END_TEST

START_TEST(missing_file_is_an_empty_store_and_bad_files_are_errors)
{
	char *path = dr_xasprintf("%s/none.json", tmpdir);
	struct dr_credentials *c;
	ck_assert_int_eq(dr_credentials_load(path, &c, NULL, err, sizeof err), 0);
	char **names = dr_credentials_names(c);
	ck_assert_ptr_null(names[0]);
	dr_strv_free(names);
	dr_credentials_free(c);
	write_text(path, "{\"version\": 2, \"profiles\": {}}", 0600);
	ck_assert_int_eq(dr_credentials_load(path, &c, NULL, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "expected \"version\": 1"));
	write_text(path, "{not json", 0600);
	ck_assert_int_eq(dr_credentials_load(path, &c, NULL, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not valid JSON"));
	/* A profile without a bearer is not usable. */
	write_text(path, "{\"version\": 1, \"profiles\": {\"default\": {\"relayUrl\": \"x\", \"runnerId\": \"y\"}}}", 0600);
	ck_assert_int_eq(dr_credentials_load(path, &c, NULL, err, sizeof err), 0);
	struct dr_profile p;
	ck_assert_int_eq(dr_credentials_get(c, "default", &p), -EINVAL);
	ck_assert_int_eq(dr_credentials_remove(c, "default"), 0);
	ck_assert_int_eq(dr_credentials_remove(c, "default"), -ENOENT);
	dr_credentials_free(c);
	free(path);
}
END_TEST

START_TEST(profile_names)
{
	ck_assert(dr_credentials_profile_name_valid("default"));
	ck_assert(dr_credentials_profile_name_valid("a"));
	ck_assert(dr_credentials_profile_name_valid("0-work-2"));
	ck_assert(!dr_credentials_profile_name_valid(""));
	ck_assert(!dr_credentials_profile_name_valid("-work"));
	ck_assert(!dr_credentials_profile_name_valid("Work"));
	ck_assert(!dr_credentials_profile_name_valid("a_b"));
	ck_assert(!dr_credentials_profile_name_valid("../x"));
	char long_name[66];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	ck_assert(!dr_credentials_profile_name_valid(long_name));
	long_name[64] = '\0';
	ck_assert(dr_credentials_profile_name_valid(long_name));
}
END_TEST

START_TEST(default_path_follows_env)
{
	char *p = dr_credentials_default_path("/x/creds.json", "/cfg", "/home/z");
	ck_assert_str_eq(p, "/x/creds.json");
	free(p);
	p = dr_credentials_default_path("", "/cfg", "/home/z");
	ck_assert_str_eq(p, "/cfg/delego-runner/credentials.json");
	free(p);
	p = dr_credentials_default_path(NULL, "", "/home/z");
	ck_assert_str_eq(p, "/home/z/.config/delego-runner/credentials.json");
	free(p);
	p = dr_credentials_default_path(NULL, NULL, NULL);
	ck_assert_str_eq(p, "./.config/delego-runner/credentials.json");
	free(p);
}
END_TEST

static Suite *credentials_suite(void)
{
	Suite *s = suite_create("credentials");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reads_a_node_written_file);
	tcase_add_test(tc, rewrite_keeps_unknown_fields_and_other_profiles);
	tcase_add_test(tc, writes_private_modes_atomically);
	tcase_add_test(tc, loose_modes_are_reported);
	tcase_add_test(tc, missing_file_is_an_empty_store_and_bad_files_are_errors);
	tcase_add_test(tc, profile_names);
	tcase_add_test(tc, default_path_follows_env);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(credentials_suite)
