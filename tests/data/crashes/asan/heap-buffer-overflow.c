#include <stdlib.h>
#include <string.h>

struct packet { int len; char *data; };

static int checksum(const struct packet *p)
{
    int sum = 0;
    for (int i = 0; i <= p->len; i++)
        sum += p->data[i];
    return sum;
}

int main(int argc, char **argv)
{
    struct packet p;
    p.len = 16;
    p.data = malloc(16);
    memset(p.data, 1, 16);
    int s = checksum(&p);
    free(p.data);
    return s > 1000 && argc > 5;
}
