#include <stdlib.h>
static char pool[128];
static void release(char *p) { free(p); }
int main(void) { release(pool + 16); return 0; }
