#include <string.h>
#include <stddef.h>
struct header { unsigned short kind; unsigned int length; };
static unsigned int read_length(const unsigned char *buf) { const struct header *h = (const struct header *)(buf + 1); return h->length; }
static int table[4];
static int lookup(int i) { return table[i]; }
static void copy_name(char *dst, const char *src, size_t n) { memcpy(dst, src, n); }
int main(int argc, char **argv) { (void)argv; unsigned char buf[32] = {0}; char d[4]; copy_name(d, argc > 5 ? "x" : NULL, 0); return (int)read_length(buf) + lookup(argc + 3); }
