/*
 * delego-runner-exec: the agent's last step before it execs, and its
 * supervisor, as a program of its own. It links libc alone (no libuv: the
 * supervisor is a plain poll loop), so it starts in well under a
 * millisecond where delego-runner (libcurl and its libraries) takes
 * several: it runs on every agent start, twice under bwrap, and one
 * supervisor stays for each running job (tests/bench/supervisor.sh).
 */
#include "delego/cgroup.h"
#include "delego/sandbox.h"
#include "delego/supervise.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], DR_SANDBOX_SHIM_WORD) == 0)
		return dr_sandbox_exec_main(argc, argv);
	/* The agent's supervisor stays for the agent's whole run: small matters most here. */
	if (argc > 1 && strcmp(argv[1], DR_SUPERVISE_WORD) == 0)
		return dr_supervise_main(argc, argv);
	fprintf(stderr, "delego-runner-exec: run by delego-runner only (%s ...)\n", DR_SANDBOX_SHIM_WORD);
	return 125;
}
