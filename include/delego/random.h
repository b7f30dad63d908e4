#ifndef DELEGO_RANDOM_H
#define DELEGO_RANDOM_H

#include <stddef.h>

/* A uniform double in [0,1) from the system's random source. */
double dr_random_unit(void);
/* Fills out with 2*n lowercase hex digits of system randomness, NUL-terminated. */
void dr_random_hex(char *out, size_t n);

#endif
