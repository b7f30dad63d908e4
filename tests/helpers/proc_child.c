/*
 * proc_child: a scripted child for tests/unit/test_proc.c. Runs its
 * arguments as a list of actions, left to right:
 *   out TEXT | err TEXT   a line on stdout / stderr
 *   raw TEXT              TEXT on stdout, no newline
 *   big N C               N bytes of the character C on stdout, no newline
 *   sleep MS              sleeps
 *   ignore-term           ignores SIGTERM from now on
 *   fork-sleep MS FILE    forks a grandchild that keeps stdout/stderr open,
 *                         writes its pid to FILE and sleeps MS
 *   fork-quiet MS FILE    the same, but the grandchild closes its stdio and
 *                         ignores SIGTERM
 *   stdin                 reads stdin to EOF, prints "stdin:<bytes>"
 *   env NAME              prints NAME's value or "(unset)"
 *   pgid                  prints "pgid-is-pid" when it leads its group
 *   fds                   prints "fds:<n>", the open descriptors above 2
 *   exit N | kill SIG     ends with a status or a signal
 */
#include <dirent.h>
#include <signal.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0)
		;
}

static void write_pid(const char *file, pid_t pid)
{
	FILE *f = fopen(file, "w");
	if (f) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
}

static void grandchild(long ms, const char *file, int quiet)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		exit(99);
	if (pid > 0) {
		for (int i = 0; i < 200; i++) { /* until the pid file is there */
			if (access(file, F_OK) == 0)
				break;
			nap(5);
		}
		return;
	}
	if (quiet) {
		signal(SIGTERM, SIG_IGN);
		close(0);
		close(1);
		close(2);
	}
	write_pid(file, getpid());
	nap(ms);
	_exit(0);
}

int main(int argc, char **argv)
{
#ifdef __linux__
	/* First of all, like bwrap --die-with-parent: SIGKILL when the thread that spawned us ends. */
	if (argc > 1 && !strcmp(argv[1], "pdeathsig"))
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *x = i + 1 < argc ? argv[i + 1] : "";
		const char *y = i + 2 < argc ? argv[i + 2] : "";
		if (!strcmp(a, "pdeathsig")) {
			/* done above */
		} else if (!strcmp(a, "out")) {
			printf("%s\n", x), i++;
		} else if (!strcmp(a, "err")) {
			fprintf(stderr, "%s\n", x), i++;
		} else if (!strcmp(a, "raw")) {
			fputs(x, stdout), i++;
		} else if (!strcmp(a, "big")) {
			long n = atol(x);
			char buf[4096];
			memset(buf, y[0], sizeof(buf));
			while (n > 0) {
				size_t k = n > (long)sizeof(buf) ? sizeof(buf) : (size_t)n;
				if (fwrite(buf, 1, k, stdout) != k)
					return 98;
				n -= (long)k;
			}
			i += 2;
		} else if (!strcmp(a, "sleep")) {
			nap(atol(x)), i++;
		} else if (!strcmp(a, "ignore-term")) {
			signal(SIGTERM, SIG_IGN);
		} else if (!strcmp(a, "fork-sleep") || !strcmp(a, "fork-quiet")) {
			grandchild(atol(x), y, !strcmp(a, "fork-quiet"));
			i += 2;
		} else if (!strcmp(a, "stdin")) {
			char buf[256];
			long total = 0;
			ssize_t n;
			while ((n = read(0, buf, sizeof(buf))) > 0)
				total += n;
			printf("stdin:%ld\n", total);
		} else if (!strcmp(a, "env")) {
			const char *v = getenv(x);
			printf("%s\n", v ? v : "(unset)"), i++;
		} else if (!strcmp(a, "pgid")) {
			printf("%s\n", getpgrp() == getpid() ? "pgid-is-pid" : "pgid-differs");
		} else if (!strcmp(a, "fds")) {
			DIR *d = opendir("/proc/self/fd");
			int n = 0;
			struct dirent *de;
			while (d && (de = readdir(d)))
				n += atoi(de->d_name) > 2 && dirfd(d) != atoi(de->d_name);
			if (d)
				closedir(d);
			printf("fds:%d\n", n);
		} else if (!strcmp(a, "exit")) {
			return atoi(x);
		} else if (!strcmp(a, "kill")) {
			signal(atoi(x), SIG_DFL);
			raise(atoi(x));
			nap(1000);
		} else {
			fprintf(stderr, "proc_child: unknown action %s\n", a);
			return 97;
		}
	}
	return 0;
}
