#include "delego/buf.h"
#include "delego/log.h"
#include "delego/redact.h"
#include "delego/xalloc.h"
#include "check_main.h"
#include "redact_reference.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BEARER "drs_live_Q7x9Kp2mZr4TbW8n"
#define PAIRING "drs_pair_h3Jk8LmN0pQ"

/* Bytes search, since redacted text may hold NULs. */
static bool contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static size_t count_masks(const char *s)
{
	size_t k = 0;
	for (const char *p = s; (p = strstr(p, DR_REDACT_MASK)); p += strlen(DR_REDACT_MASK))
		k++;
	return k;
}

START_TEST(oneshot_replaces_every_occurrence)
{
	struct dr_redact *r = dr_redact_new();
	ck_assert_int_eq(dr_redact_add(r, BEARER), 0);
	const char *in = "Authorization: Bearer " BEARER "; again " BEARER ".";
	char *out = dr_redact_dup(r, in, strlen(in), 0, NULL);
	ck_assert_str_eq(out, "Authorization: Bearer [redacted]; again [redacted].");
	free(out);
	/* Two occurrences with nothing between are one run, so one mask. */
	out = dr_redact_dup(r, BEARER BEARER "x", strlen(BEARER BEARER "x"), 0, NULL);
	ck_assert_str_eq(out, "[redacted]x");
	free(out);
	/* Not a secret: unchanged, NULs included. */
	size_t n;
	out = dr_redact_dup(r, "a\0drs_live_Q7", 13, 0, &n);
	ck_assert_uint_eq(n, 13);
	ck_assert_mem_eq(out, "a\0drs_live_Q7", 13);
	free(out);
	/* An empty set passes text through. */
	struct dr_redact *empty = dr_redact_new();
	out = dr_redact_dup(empty, in, strlen(in), 0, NULL);
	ck_assert_str_eq(out, in);
	free(out);
	dr_redact_free(empty);
	dr_redact_free(r);
}
END_TEST

START_TEST(overlapping_secrets_are_hidden_whole)
{
	struct dr_redact *r = dr_redact_new();
	ck_assert_int_eq(dr_redact_add(r, "abcdefgh12"), 0);
	ck_assert_int_eq(dr_redact_add(r, "fgh12345zz"), 0);
	const char *in = "xxabcdefgh12345zzyy";
	char *out = dr_redact_dup(r, in, strlen(in), 0, NULL);
	/* Leftmost-first replacement would leave "345zz" of the second secret. */
	ck_assert_str_eq(out, "xx[redacted]yy");
	free(out);
	dr_redact_free(r);

	/* One secret inside another, registered in either order. */
	for (int order = 0; order < 2; order++) {
		r = dr_redact_new();
		ck_assert_int_eq(dr_redact_add(r, order ? "secretva" : "supersecretvalue"), 0);
		ck_assert_int_eq(dr_redact_add(r, order ? "supersecretvalue" : "secretva"), 0);
		in = "a supersecretvalue b secretva c supersecretva";
		out = dr_redact_dup(r, in, strlen(in), 0, NULL);
		ck_assert_str_eq(out, "a [redacted] b [redacted] c super[redacted]");
		free(out);
		dr_redact_free(r);
	}
}
END_TEST

/* Tiny alphabet so that partial matches, overlaps and nested secrets are the rule. */
START_TEST(random_texts_match_the_reference)
{
	unsigned seed = 12345;
	for (int round = 0; round < 3000; round++) {
		struct dr_redact *r = dr_redact_new();
		char *secrets[4];
		size_t nsecrets = 1 + (size_t)(rand_r(&seed) % 4);
		for (size_t k = 0; k < nsecrets; k++) {
			size_t sl = 4 + (size_t)(rand_r(&seed) % 6);
			secrets[k] = dr_xmalloc(sl + 1);
			for (size_t i = 0; i < sl; i++)
				secrets[k][i] = "ab"[rand_r(&seed) % 2];
			secrets[k][sl] = '\0';
			ck_assert_int_eq(dr_redact_add(r, secrets[k]), 0);
		}
		char text[64];
		size_t len = (size_t)(rand_r(&seed) % sizeof text);
		for (size_t i = 0; i < len; i++)
			text[i] = "ab\n"[rand_r(&seed) % 3];
		char *want = redact_reference(secrets, nsecrets, text, len, NULL);
		size_t n;
		char *got = dr_redact_dup(r, text, len, 0, &n);
		ck_assert_msg(strcmp(got, want) == 0, "round %d: one-shot '%s', reference '%s'", round, got, want);
		for (size_t k = 0; k < nsecrets; k++) {
			ck_assert(!contains(got, n, secrets[k]));
			free(secrets[k]);
		}
		free(got);
		free(want);
		dr_redact_free(r);
	}
}
END_TEST

START_TEST(add_rules)
{
	struct dr_redact *r = dr_redact_new();
	ck_assert_int_eq(dr_redact_add(r, NULL), -EINVAL);
	ck_assert_int_eq(dr_redact_add(r, "abc"), -EINVAL);
	ck_assert_int_eq(dr_redact_add(r, "abcd"), 0);
	ck_assert_int_eq(dr_redact_add(r, "abcd"), 0);
	ck_assert_uint_eq(dr_redact_count(r), 1);
	char *big = dr_xmalloc(DR_REDACT_SECRET_MAX + 2);
	memset(big, 'x', DR_REDACT_SECRET_MAX + 1);
	big[DR_REDACT_SECRET_MAX + 1] = '\0';
	ck_assert_int_eq(dr_redact_add(r, big), -E2BIG);
	big[DR_REDACT_SECRET_MAX] = '\0';
	ck_assert_int_eq(dr_redact_add(r, big), 0);
	ck_assert_uint_eq(dr_redact_longest(r), DR_REDACT_SECRET_MAX);
	free(big);
	char s[32];
	for (int i = 2; i < DR_REDACT_MAX_SECRETS; i++) {
		snprintf(s, sizeof s, "secret-%03d", i);
		ck_assert_int_eq(dr_redact_add(r, s), 0);
	}
	ck_assert_uint_eq(dr_redact_count(r), DR_REDACT_MAX_SECRETS);
	ck_assert_int_eq(dr_redact_add(r, "one-too-many"), -ENOSPC);
	ck_assert_int_eq(dr_redact_add(r, "secret-002"), 0); /* already there */
	dr_redact_clear(r);
	ck_assert_uint_eq(dr_redact_count(r), 0);
	ck_assert_uint_eq(dr_redact_longest(r), 0);
	dr_redact_free(r);
}
END_TEST

START_TEST(env_collection_rules)
{
	ck_assert(dr_redact_env_name_secret("GITHUB_TOKEN", 12));
	ck_assert(dr_redact_env_name_secret("ANTHROPIC_API_KEY", 17));
	ck_assert(dr_redact_env_name_secret("AWS_SECRET_ACCESS_KEY", 21));
	ck_assert(dr_redact_env_name_secret("DB_PASSWORD", 11));
	ck_assert(dr_redact_env_name_secret("slack_bot_token", 15));
	ck_assert(dr_redact_env_name_secret("TOKEN", 5));
	ck_assert(dr_redact_env_name_secret("KEY_FILE", 8));
	ck_assert(!dr_redact_env_name_secret("MAX_TOKENS", 10));
	ck_assert(!dr_redact_env_name_secret("MY_KEYBOARD", 11));
	ck_assert(!dr_redact_env_name_secret("PGPASSWORD", 10));
	ck_assert(!dr_redact_env_name_secret("PATH", 4));
	ck_assert(!dr_redact_env_name_secret("", 0));
	/* Only the name counts, not what follows the length given. */
	ck_assert(!dr_redact_env_name_secret("GITHUB_TOKEN", 6));

	char *env[] = {
		"GITHUB_TOKEN=ghp_0123456789abcdef",
		"ANTHROPIC_API_KEY=sk-ant-api03-xyz",
		"DB_PASSWORD=12345678",        /* exactly 8 bytes: kept */
		"SHORT_TOKEN=1234567",         /* 7 bytes: a word, ignored */
		"EMPTY_SECRET=",
		"PATH=/usr/local/bin:/usr/bin", /* not a secret name */
		"MAX_TOKENS=100000000",
		"HOME=/home/someone",
		"NOEQUALSIGN_TOKEN",
		"DUPLICATE_TOKEN=ghp_0123456789abcdef",
		NULL,
	};
	struct dr_redact *r = dr_redact_new();
	ck_assert_int_eq(dr_redact_add_env(r, env), 3);
	ck_assert_uint_eq(dr_redact_count(r), 3);
	const char *in = "ghp_0123456789abcdef sk-ant-api03-xyz 12345678 1234567 /usr/local/bin:/usr/bin 100000000";
	char *out = dr_redact_dup(r, in, strlen(in), 0, NULL);
	ck_assert_str_eq(out, "[redacted] [redacted] [redacted] 1234567 /usr/local/bin:/usr/bin 100000000");
	free(out);
	ck_assert_int_eq(dr_redact_add_env(r, env), 0); /* nothing new */
	ck_assert_int_eq(dr_redact_add_env(r, NULL), 0);

	/* A value too long to hold is reported, the others are still added. */
	char *big = dr_xmalloc(DR_REDACT_SECRET_MAX + 32);
	strcpy(big, "BIG_KEY=");
	memset(big + 8, 'k', DR_REDACT_SECRET_MAX + 1);
	big[8 + DR_REDACT_SECRET_MAX + 1] = '\0';
	char *env2[] = { big, "OTHER_SECRET=othervalue", NULL };
	ck_assert_int_eq(dr_redact_add_env(r, env2), -E2BIG);
	ck_assert_uint_eq(dr_redact_count(r), 4);
	free(big);

	/* A full set says so. */
	char s[32];
	for (size_t i = dr_redact_count(r); i < DR_REDACT_MAX_SECRETS; i++) {
		snprintf(s, sizeof s, "filler-%03zu", i);
		ck_assert_int_eq(dr_redact_add(r, s), 0);
	}
	char *env3[] = { "LATE_TOKEN=latevalue1", NULL };
	ck_assert_int_eq(dr_redact_add_env(r, env3), -ENOSPC);
	dr_redact_free(r);
}
END_TEST

START_TEST(cut_edges)
{
	struct dr_redact *r = dr_redact_new();
	ck_assert_int_eq(dr_redact_add(r, BEARER), 0);
	/* A line cut inside the secret: its first bytes go. */
	const char *in = "curl -H 'Authorization: Bearer drs_live_Q7x9";
	char *out = dr_redact_dup(r, in, strlen(in), DR_REDACT_CUT_END, NULL);
	ck_assert_str_eq(out, "curl -H 'Authorization: Bearer [redacted]");
	free(out);
	out = dr_redact_dup(r, in, strlen(in), 0, NULL);
	ck_assert_str_eq(out, in); /* without the flag the text is whole: no secret in it */
	free(out);
	/* Pieces shorter than DR_REDACT_FRAGMENT_MIN stay. */
	out = dr_redact_dup(r, "ends in drs", 11, DR_REDACT_CUT_END, NULL);
	ck_assert_str_eq(out, "ends in drs");
	free(out);
	/* A tail that starts inside the secret. */
	in = "4TbW8n' https://relay\nexit 1";
	out = dr_redact_dup(r, in, strlen(in), DR_REDACT_CUT_START, NULL);
	ck_assert_str_eq(out, "[redacted]' https://relay\nexit 1");
	free(out);
	out = dr_redact_dup(r, "W8n rest", 8, DR_REDACT_CUT_START, NULL);
	ck_assert_str_eq(out, "W8n rest");
	free(out);
	/* Both edges, and whole secrets between them. */
	in = "Zr4TbW8n " BEARER " drs_live";
	out = dr_redact_dup(r, in, strlen(in), DR_REDACT_CUT_START | DR_REDACT_CUT_END, NULL);
	ck_assert_str_eq(out, "[redacted] [redacted] [redacted]");
	free(out);
	dr_redact_free(r);
}
END_TEST

START_TEST(copy_and_in_place)
{
	struct dr_redact *r = dr_redact_new();
	ck_assert_int_eq(dr_redact_add(r, "pass"), 0);
	char dst[12];
	ck_assert_uint_eq(dr_redact_copy(r, "a pass b", 8, dst, sizeof dst, 0), 14);
	ck_assert_str_eq(dst, "a [redacted");
	ck_assert_uint_eq(dr_redact_copy(r, "a pass b", 8, dst, 0, 0), 14);
	ck_assert_uint_eq(dr_redact_copy(r, "xy", 2, dst, sizeof dst, 0), 2);
	ck_assert_str_eq(dst, "xy");
	/* In place: a 4-byte secret grows into the 10-byte mask; the end is cut to fit. */
	char s[32] = "user pass ok";
	ck_assert_uint_eq(dr_redact_str(r, s, sizeof s, 0), 18);
	ck_assert_str_eq(s, "user [redacted] ok");
	char t[] = "pass word";
	ck_assert_uint_eq(dr_redact_str(r, t, sizeof t, 0), 15);
	ck_assert_str_eq(t, "[redacted");
	dr_redact_free(r);
}
END_TEST

/* Runs fn with stderr going to a pipe and returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_ge(fcntl(fds[0], F_SETPIPE_SZ, 1 << 20), 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fds[1], STDERR_FILENO), 0);
	close(fds[1]);
	fn();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	struct dr_buf b = DR_BUF_INIT(0);
	char chunk[4096];
	ssize_t n;
	while ((n = read(fds[0], chunk, sizeof chunk)) > 0)
		dr_buf_add(&b, chunk, (size_t)n);
	close(fds[0]);
	return dr_buf_detach(&b, NULL);
}

static void log_secrets(void)
{
	dr_log_init("test", DR_LOG_DEBUG, 0);
	dr_log_add_secret(BEARER);
	char *env[] = { "GITHUB_TOKEN=ghp_envtoken_0123", NULL };
	dr_redact_add_env(dr_redact_default(), env);
	dr_log_info("bearer %s", BEARER);
	dr_log_warn("split %.9s%s over two arguments", BEARER, &BEARER[9]);
	dr_log_err("from the environment: %s", "ghp_envtoken_0123");
	dr_log_add_secret("multi\nline-secret");
	dr_log_debug("a secret with a newline: multi\nline-secret and the whole " BEARER);
	/* Cut at 8 KiB in the middle of the bearer. */
	char *pad = dr_xmalloc(8300);
	memset(pad, '.', 8300);
	for (int shift = 0; shift < 30; shift++) {
		int fill = 8192 - 40 - shift;
		dr_log_info("%.*s %s tail", fill, pad, BEARER);
	}
	free(pad);
	dr_log_add_secret(PAIRING);
	errno = EACCES;
	dr_log_info("pairing with %s", PAIRING);
	ck_assert_int_eq(errno, EACCES);
}

START_TEST(logger_never_prints_a_secret)
{
	char *out = capture_stderr(log_secrets);
	size_t n = strlen(out);
	ck_assert(!contains(out, n, BEARER));
	ck_assert(!contains(out, n, PAIRING));
	ck_assert(!contains(out, n, "ghp_envtoken_0123"));
	/* No piece of the bearer of 4 bytes or more, at any cut. */
	for (size_t i = 0; i + 4 <= strlen(BEARER); i++) {
		char piece[5];
		memcpy(piece, &BEARER[i], 4);
		piece[4] = '\0';
		ck_assert_msg(!contains(out, n, piece), "'%s' of the bearer is in the log", piece);
	}
	ck_assert(strstr(out, " test info: bearer [redacted]\n"));
	ck_assert(strstr(out, "split [redacted] over two arguments\n"));
	ck_assert(strstr(out, "from the environment: [redacted]\n"));
	ck_assert(strstr(out, "pairing with [redacted]\n"));
	/* Redaction runs before newlines are folded: the secret still matches. */
	ck_assert(strstr(out, "a secret with a newline: [redacted] and the whole [redacted]\n"));
	/* 6 in whole lines; the cut lines mask a piece of 4 bytes on, whole where 10 bytes fit (22). */
	ck_assert_uint_eq(count_masks(out), 6 + 22);
	/* Every event is one line of at most 8 KiB. */
	size_t lines = 0;
	for (char *p = out, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++)
		ck_assert_uint_le((size_t)(nl - p) + 1, 8192);
	ck_assert_uint_eq(lines, 35);
	free(out);

	/* dr_log_redact keeps its contract on the default set. */
	char s[] = "x " BEARER " y";
	dr_log_redact(s);
	ck_assert_str_eq(s, "x [redacted] y");
	dr_log_clear_secrets();
	ck_assert_uint_eq(dr_redact_count(NULL), 0);
}
END_TEST

static Suite *redact_suite(void)
{
	Suite *s = suite_create("redact");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, oneshot_replaces_every_occurrence);
	tcase_add_test(tc, overlapping_secrets_are_hidden_whole);
	tcase_add_test(tc, random_texts_match_the_reference);
	tcase_add_test(tc, add_rules);
	tcase_add_test(tc, env_collection_rules);
	tcase_add_test(tc, cut_edges);
	tcase_add_test(tc, copy_and_in_place);
	tcase_add_test(tc, logger_never_prints_a_secret);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(redact_suite)
