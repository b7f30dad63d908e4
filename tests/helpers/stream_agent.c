/*
 * stream_agent: a fast stand-in for `claude --output-format stream-json`,
 * for tests/bench/stream.sh. It writes what the Python stand-in's `huge`
 * scenario writes (tests/fixtures/bin/README.md), with plain write(2)
 * calls, so that a benchmark measures the runner that reads the stream
 * and not the writer:
 *   - a system/init event with a fresh session id;
 *   - one 1.5 MiB text event (over the runner's 1 MiB line cap);
 *   - mb=N MiB (default 8) of 64 KiB text events, as fast as the pipe
 *     takes them, or at rate=R MiB/s (paced every 64 KiB);
 *   - "Huge output done." and a success result.
 * Like the stand-ins, it reads `mb=N` and `rate=R` from any of its arguments (the
 * runner passes the prompt last) and ignores every other argument. Its
 * last act is one line on stderr, "stream_agent: session <id>".
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define BIG_LINE (1536 * 1024)

static void write_all(struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(1, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			exit(141); /* the reader went away */
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
}

static void put(const char *s)
{
	struct iovec v = { (void *)s, strlen(s) };
	write_all(&v, 1);
}

static void session_id(char out[37])
{
	unsigned char r[16] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, r, sizeof r) != (ssize_t)sizeof r)
			memset(r, 0x5a, sizeof r);
		close(fd);
	}
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
		 r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* The number after "<name>=" in any argument, or fallback. */
static double param(int argc, char **argv, const char *name, double fallback)
{
	size_t n = strlen(name);
	for (int i = 1; i < argc; i++)
		for (const char *m = strstr(argv[i], name); m; m = strstr(m + 1, name))
			if ((m == argv[i] || !isalnum((unsigned char)m[-1])) && m[n] == '=')
				return strtod(m + n + 1, NULL);
	return fallback;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Sleeps until written bytes are due at rate MiB/s since start. */
static void pace(double start, long long written, double rate)
{
	double due = start + (double)written / (rate * 1024 * 1024) - now_s();
	if (rate <= 0 || due <= 0)
		return;
	struct timespec t = { (time_t)due, (long)((due - (double)(time_t)due) * 1e9) };
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	double mb = param(argc, argv, "mb", 8);
	double rate = param(argc, argv, "rate", 0);
	long long target = (long long)(mb * 1024 * 1024);
	char sid[37], head[256], tail[256], line[1024];
	session_id(sid);

	snprintf(line, sizeof line,
		 "{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"/\",\"session_id\":\"%s\","
		 "\"tools\":[\"Bash\",\"Edit\"],\"model\":\"fake-model\"}\n",
		 sid);
	put(line);

	static char fill[BIG_LINE];
	memset(fill, 'L', sizeof fill);
	const char *pre = "{\"type\":\"assistant\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
			  "\"text\":\"";
	snprintf(tail, sizeof tail, "\"}]},\"session_id\":\"%s\"}\n", sid);
	struct iovec big[3] = { { (void *)pre, strlen(pre) }, { fill, BIG_LINE }, { tail, strlen(tail) } };
	write_all(big, 3);

	memset(fill, 'x', CHUNK);
	double start = now_s();
	for (long long written = 0, i = 0; written < target; written += CHUNK, i++) {
		pace(start, written, rate);
		int hl = snprintf(head, sizeof head, "%schunk %lld ", pre, i);
		struct iovec v[3] = { { head, (size_t)hl }, { fill, CHUNK }, { tail, strlen(tail) } };
		write_all(v, 3);
	}

	snprintf(line, sizeof line, "%sHuge output done.%s", pre, tail);
	put(line);
	snprintf(line, sizeof line,
		 "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":1234,\"num_turns\":2,"
		 "\"result\":\"Huge output done.\",\"session_id\":\"%s\",\"total_cost_usd\":0.0012,"
		 "\"permission_denials\":[]}\n",
		 sid);
	put(line);
	/* For the benchmark's check that the id came through (stderrTail). */
	dprintf(2, "stream_agent: session %s\n", sid);
	return 0;
}
