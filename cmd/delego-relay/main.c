/* delego-relay: the reference relay. Everything lives in cli.c and below. */
#include "cli.h"

int main(int argc, char **argv)
{
	return relay_cli_main(argc, argv);
}
