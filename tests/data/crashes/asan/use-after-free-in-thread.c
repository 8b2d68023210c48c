#include <pthread.h>
#include <stdlib.h>
static int *shared;
static void *worker(void *arg) { (void)arg; return (void *)(long)shared[3]; }
int main(void)
{
    pthread_t t;
    shared = calloc(4, sizeof *shared);
    free(shared);
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    return 0;
}
