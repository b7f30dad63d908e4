#include <stdio.h>
int main(void) { puts("delego-relay " DR_VERSION); return 0; }
