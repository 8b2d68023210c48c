#include <pthread.h>
#include <stdio.h>

struct stats { long requests; long errors; };
static struct stats g_stats;

static void record_request(struct stats *s) { s->requests++; }

static void *serve(void *arg)
{
    for (int i = 0; i < 1000; i++)
        record_request(arg);
    return NULL;
}

int main(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, serve, &g_stats);
    pthread_create(&b, NULL, serve, &g_stats);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%ld\n", g_stats.requests);
    return 0;
}
