/*
 * inhibit: keep the machine awake while jobs run.
 *
 * While held, a child process of ours holds a sleep inhibitor: on Linux
 * `systemd-inhibit --what=sleep:idle --mode=block --who=delego-runner
 * --why=...` around our own binary's hidden word `__wait-pid <runner pid>`
 * (which waits, without waking up, until the runner is gone, so that a
 * killed runner never leaves the machine unable to sleep); on macOS
 * `caffeinate -i -w <runner pid>`. Releasing ends that child's process
 * group. Holds are counted: the first takes the inhibitor, the last
 * release drops it.
 *
 * Whether to inhibit at all: DR_INHIBIT_ON always, DR_INHIBIT_OFF never,
 * DR_INHIBIT_AUTO when a battery is present (a laptop), which on macOS is
 * taken as always (idle sleep is what caffeinate -i prevents there).
 */
#ifndef DELEGO_INHIBIT_H
#define DELEGO_INHIBIT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "delego/config.h"

#define DR_INHIBIT_WAIT_WORD "__wait-pid"

struct dr_inhibit;

/* True when dir (NULL: /sys/class/power_supply) has an entry of type "Battery". Linux only; false elsewhere. */
bool dr_inhibit_battery_present(const char *dir);
/* Decides mode for this machine; note (may be NULL) gets a sentence saying why. */
bool dr_inhibit_enabled(enum dr_inhibit_mode mode, const char *power_supply_dir, char *note, size_t notelen);

/*
 * The inhibitor's command line for a holder that should end with pid, or
 * NULL on a platform without one. self is the program that understands
 * DR_INHIBIT_WAIT_WORD. Free with dr_strv_free.
 */
char **dr_inhibit_argv(const char *self, const char *why, int pid);

/* enabled false: holds are counted and nothing is spawned. Never fails. */
struct dr_inhibit *dr_inhibit_new(uv_loop_t *loop, bool enabled);
/* why (copied) is shown by the session manager, e.g. "job ENG-12 is running"; used by the first hold only. */
void dr_inhibit_hold(struct dr_inhibit *in, const char *why);
void dr_inhibit_release(struct dr_inhibit *in);
/* The holder's pid while one runs and is not being ended, else 0. */
int dr_inhibit_holder_pid(const struct dr_inhibit *in);
/*
 * For an upgrade in place (exec of a new image in this process): when a
 * holder runs, writes "PID OUT ERR" to out (its pid, and our ends of its
 * stdout and stderr pipes, which are left open across the exec so that it
 * cannot die of SIGPIPE) and returns true. After a failed exec,
 * dr_inhibit_handover_undo makes them close-on-exec again.
 */
bool dr_inhibit_handover(struct dr_inhibit *in, char *out, size_t len);
void dr_inhibit_handover_undo(struct dr_inhibit *in);
/*
 * Takes over the holder an earlier image of this process started, from
 * what dr_inhibit_handover wrote: it counts as taken, the last release
 * ends it, and it is reaped (its pipes are closed then). Ignored unless
 * the pid is a running child of ours. Ended at once when this one is not
 * enabled or, by dr_inhibit_trim, when nothing holds it once the jobs are
 * taken over.
 */
void dr_inhibit_adopt(struct dr_inhibit *in, const char *handover);
/* Ends a taken-over holder nothing holds. Accepts NULL. */
void dr_inhibit_trim(struct dr_inhibit *in);
/* The number of holds. */
int dr_inhibit_holds(const struct dr_inhibit *in);
/* Drops the inhibitor; the struct goes once its child has exited (the loop must run). Accepts NULL. */
void dr_inhibit_free(struct dr_inhibit *in);

/*
 * For doctor (blocking, a few seconds at most): takes and drops an
 * inhibitor once. Returns 0 when that worked, else a negative errno, with
 * a sentence in note either way.
 */
int dr_inhibit_probe(char *note, size_t notelen);

/* The hidden word: argv = { prog, DR_INHIBIT_WAIT_WORD, pid }. Returns when pid is gone. */
int dr_inhibit_wait_main(int argc, char **argv);

#endif
