/*
 * platform: which operating system's backends a build selects. The core
 * uses libuv, libcurl, cJSON, libyaml and POSIX only; what differs per
 * system (the service manager, sd_notify, /proc, cgroups) lives in one
 * module each, chosen by these macros.
 *
 * DR_PLATFORM_DARWIN: the macOS backends (launchd). Set by the compiler's
 * __APPLE__, or on the command line by `make check-portable`, which
 * compiles the tree on Linux with the macOS selection to catch Linux-only
 * calls in portable code.
 */
#ifndef DELEGO_PLATFORM_H
#define DELEGO_PLATFORM_H

#if defined(__APPLE__) && !defined(DR_PLATFORM_DARWIN)
#define DR_PLATFORM_DARWIN 1
#endif

#if defined(DR_PORTABLE_CHECK)
/*
 * check-portable compiles against glibc with POSIX, XSI and the BSD/SVID
 * extensions visible but not the GNU ones. macOS's libc also has these BSD
 * functions, which glibc declares only under _GNU_SOURCE: declare them so
 * that using them is not reported as a GNU-only call.
 */
#include <stddef.h>
#include <stdarg.h>
char *strcasestr(const char *haystack, const char *needle);
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
int asprintf(char **strp, const char *fmt, ...);
int vasprintf(char **strp, const char *fmt, va_list ap);
#include <spawn.h>
int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path); /* macOS 10.15 */
#endif

#endif
