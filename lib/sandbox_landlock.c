/*
 * sandbox_landlock: the Landlock half of the sandbox, through the raw
 * syscalls (Debian 12's headers stop at ABI 2; the running kernel's ABI
 * is probed and only what it knows is asked for).
 *
 * Landlock only allows: reads are granted on every directory entry that is
 * neither hidden nor above a hidden path, recursively around each hidden
 * one; writes the same way from each writable path.
 */
#include "delego/cgroup.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "sandbox-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

char **dr__sandbox_shim_argv(const struct dr_sandbox_policy *p, const char *shim, const char *exe,
			     char *const *argv, const char *cgroup_procs)
{
	struct dr_strv v = DR_STRV_INIT;
	dr_strv_push(&v, shim);
	dr_strv_push(&v, DR_SANDBOX_SHIM_WORD);
	if (cgroup_procs) {
		dr_strv_push(&v, "-c");
		dr_strv_push(&v, cgroup_procs);
	}
	if (!p->network)
		dr_strv_push(&v, "-n");
	struct {
		const char *flag;
		char **paths;
	} sets[] = { { "-r", p->readable.v }, { "-w", p->writable.v }, { "-x", p->hidden.v } };
	for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
		for (char **q = sets[s].paths; q && *q; q++) {
			dr_strv_push(&v, sets[s].flag);
			dr_strv_push(&v, *q);
		}
	}
	dr_strv_push(&v, "--");
	dr_strv_push(&v, exe);
	for (char *const *a = argv; *a; a++)
		dr_strv_push(&v, *a);
	return dr_strv_take(&v);
}

#ifdef __linux__

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

/* The uapi, as of ABI 6 (defined here: older headers lack the later fields). */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_ABI1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER (1ULL << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)  /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)   /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)
/* What a rule on a file (not a directory) may carry. */
#define LL_FS_FILE_ONLY (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_READ (LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR)
#define LL_MAX_DEPTH 24

int dr_sandbox_landlock_abi(void)
{
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : (int)abi;
}

static uint64_t fs_rights(int abi)
{
	uint64_t fs = LL_FS_ABI1;
	if (abi >= 2)
		fs |= LL_FS_REFER;
	if (abi >= 3)
		fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LL_FS_IOCTL_DEV;
	return fs;
}

static bool is_hidden(char *const *hidden, const char *path)
{
	for (; hidden && *hidden; hidden++)
		if (!strcmp(*hidden, path))
			return true;
	return false;
}

/* True when a hidden path lies strictly below path. */
static bool hides_below(char *const *hidden, const char *path)
{
	size_t len = strcmp(path, "/") ? strlen(path) : 0;
	for (; hidden && *hidden; hidden++)
		if (!strncmp(*hidden, path, len) && (*hidden)[len] == '/' && (*hidden)[len + 1])
			return true;
	return false;
}

static int add_rule(int rs, int fd, uint64_t access)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		access &= LL_FS_FILE_ONLY;
	struct ll_path_beneath_attr pb = { .allowed_access = access, .parent_fd = fd };
	if (syscall(__NR_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
		return -errno;
	return 0;
}

/*
 * Grants access beneath path, except what is hidden: a directory above a
 * hidden path gets no rule of its own, each of its other entries gets one.
 * Entries are opened without following symbolic links (a link to ~/.ssh
 * must not carry the grant there).
 */
static int grant(int rs, const char *path, bool follow, uint64_t access, char *const *hidden, int depth)
{
	if (is_hidden(hidden, path))
		return 0;
	if (!hides_below(hidden, path) || depth >= LL_MAX_DEPTH) {
		int fd = open(path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
		if (fd < 0)
			return errno == ENOENT || errno == ELOOP || errno == EACCES ? 0 : -errno;
		int r = add_rule(rs, fd, access);
		close(fd);
		return r;
	}
	DIR *d = opendir(path);
	if (!d)
		return 0; /* unreadable already */
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *child = dr_xasprintf("%s/%s", strcmp(path, "/") ? path : "", de->d_name);
		r = grant(rs, child, false, access, hidden, depth + 1);
		free(child);
	}
	closedir(d);
	return r;
}

struct shim_args {
	const char *procs;
	bool no_network;
	bool outer; /* -T: bwrap follows; exec it with SIGTERM ignored, no Landlock */
	bool inner; /* -U: inside bwrap; SIGTERM back to default, no Landlock */
	struct dr_strv ro, rw, hidden;
	char **exec; /* FILE ARG0 ... */
};

static int restrict_self(const struct shim_args *a, char *err, size_t errlen)
{
	int abi = dr_sandbox_landlock_abi();
	if (abi < 1) {
		snprintf(err, errlen, "this kernel has no Landlock");
		return -EOPNOTSUPP;
	}
	uint64_t fs = fs_rights(abi);
	struct ll_ruleset_attr attr = { .handled_access_fs = fs };
	if (a->no_network && abi >= 4)
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
	int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rs < 0) {
		snprintf(err, errlen, "landlock_create_ruleset: %s", strerror(errno));
		return -errno;
	}
	int r = grant(rs, "/", true, LL_READ & fs, a->hidden.v, 0);
	for (char **p = a->ro.v; r == 0 && p && *p; p++)
		r = grant(rs, *p, true, LL_READ & fs, a->hidden.v, 0);
	for (char **p = a->rw.v; r == 0 && p && *p; p++)
		r = grant(rs, *p, true, fs, a->hidden.v, 0);
	if (r < 0) {
		snprintf(err, errlen, "landlock_add_rule: %s", strerror(-r));
		close(rs);
		return r;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(__NR_landlock_restrict_self, rs, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "landlock_restrict_self: %s", strerror(errno));
		close(rs);
		return r;
	}
	close(rs);
	return 0;
}

static int parse_shim(int argc, char **argv, struct shim_args *a)
{
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--")) {
			a->exec = argv + i + 1;
			return argc - i - 1 >= 2 ? 0 : -EINVAL;
		}
		if (!strcmp(o, "-n") || !strcmp(o, "-T") || !strcmp(o, "-U")) {
			a->no_network |= o[1] == 'n';
			a->outer |= o[1] == 'T';
			a->inner |= o[1] == 'U';
			continue;
		}
		if (i + 1 >= argc || o[0] != '-' || !o[1] || o[2])
			return -EINVAL;
		const char *v = argv[++i];
		switch (o[1]) {
		case 'c': a->procs = v; break;
		case 'r': dr_strv_push(&a->ro, v); break;
		case 'w': dr_strv_push(&a->rw, v); break;
		case 'x': dr_strv_push(&a->hidden, v); break;
		default: return -EINVAL;
		}
	}
	return -EINVAL;
}

int dr_sandbox_exec_main(int argc, char **argv)
{
	struct shim_args a = { 0 };
	char err[512];
	int status = 125;
	if (parse_shim(argc, argv, &a) < 0) {
		fprintf(stderr, "delego-runner: %s takes [-c PROCS] [-n] [-r|-w|-x PATH]... -- FILE ARG0 [ARG...]\n",
			DR_SANDBOX_SHIM_WORD);
		goto out;
	}
	int r = a.procs ? dr_cgroup_join(a.procs) : 0;
	if (r < 0) {
		/* Never run the agent outside the cgroup the runner will kill. */
		fprintf(stderr, "delego-runner: cannot move the agent into the cgroup %s: %s\n", a.procs, strerror(-r));
		goto out;
	}
	if (a.outer || a.inner)
		signal(SIGTERM, a.outer ? SIG_IGN : SIG_DFL);
	else if (restrict_self(&a, err, sizeof err) < 0) {
		/* Never run the agent unconfined when a sandbox was asked for. */
		fprintf(stderr, "delego-runner: cannot sandbox the agent with Landlock: %s\n", err);
		goto out;
	}
	execv(a.exec[0], a.exec + 1);
	int e = errno;
	fprintf(stderr, "delego-runner: cannot run %s: %s\n", a.exec[0], strerror(e));
	status = e == ENOENT ? 127 : 126;
out:
	dr_strv_release(&a.ro);
	dr_strv_release(&a.rw);
	dr_strv_release(&a.hidden);
	return status;
}

#else /* !__linux__ */

int dr_sandbox_landlock_abi(void)
{
	return 0;
}

int dr_sandbox_exec_main(int argc, char **argv)
{
	fprintf(stderr, "delego-runner: %s is Linux-only\n", DR_SANDBOX_SHIM_WORD);
	return 125;
}

#endif
