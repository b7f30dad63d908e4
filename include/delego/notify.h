/*
 * notify: the service manager's readiness protocol (sd_notify). Sends
 * "READY=1", "STATUS=...", "STOPPING=1", "WATCHDOG=1" datagrams to
 * $NOTIFY_SOCKET when it is set; a no-op elsewhere (and on macOS).
 */
#ifndef DELEGO_NOTIFY_H
#define DELEGO_NOTIFY_H

#include <stdint.h>

/* Sends one state string, e.g. "READY=1\nSTATUS=idle". Returns 0, or a negative errno. */
int dr_notify(const char *state);
int dr_notify_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval from $WATCHDOG_USEC (and $WATCHDOG_PID), in ms, or 0. */
uint64_t dr_notify_watchdog_ms(void);

#endif
