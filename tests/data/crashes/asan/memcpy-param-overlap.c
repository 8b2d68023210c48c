#include <string.h>
static void shift_left(char *s, size_t n) { memcpy(s, s + 1, n); }
int main(void) { char msg[32] = "hello world, this is a test"; shift_left(msg, 20); return msg[0]; }
