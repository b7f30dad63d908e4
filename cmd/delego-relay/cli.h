/*
 * cli: the `delego-relay` command line (serve and the admin commands on the
 * same database). Returns the process exit status: 0, 1 for a failure the
 * message explains, 64 for a usage error.
 */
#ifndef RELAY_CLI_H
#define RELAY_CLI_H

int relay_cli_main(int argc, char **argv);

#endif
