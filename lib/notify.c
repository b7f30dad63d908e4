/* notify: sd_notify over $NOTIFY_SOCKET, without linking libsystemd. */
#include "delego/notify.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int dr_notify(const char *state)
{
#ifdef __linux__
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@') /* abstract namespace */
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	int r = n < 0 ? -errno : 0;
	close(fd);
	return r;
#else
	(void)state;
	return 0;
#endif
}

int dr_notify_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = dr_xvasprintf(fmt, ap);
	va_end(ap);
	int r = dr_notify(s);
	free(s);
	return r;
}

uint64_t dr_notify_watchdog_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	if (!usec || !*usec)
		return 0;
	const char *pid = getenv("WATCHDOG_PID");
	if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	unsigned long long v = strtoull(usec, NULL, 10);
	return v / 1000;
}
