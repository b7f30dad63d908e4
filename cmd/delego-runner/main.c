#include <stdio.h>
int main(void) { puts("delego-runner " DR_VERSION); return 0; }
