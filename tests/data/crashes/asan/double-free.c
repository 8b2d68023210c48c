#include <stdlib.h>
struct conn { char *buf; };
static void conn_close(struct conn *c) { free(c->buf); }
int main(void)
{
    struct conn c = { malloc(64) };
    conn_close(&c);
    conn_close(&c);
    return 0;
}
