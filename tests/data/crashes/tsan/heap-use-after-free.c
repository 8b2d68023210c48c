#include <pthread.h>
#include <stdlib.h>
struct job { int state; };
static void *runner(void *arg) { struct job *j = arg; j->state = 2; return NULL; }
int main(void)
{
    pthread_t t;
    struct job *j = malloc(sizeof *j);
    j->state = 1;
    pthread_create(&t, NULL, runner, j);
    pthread_join(t, NULL);
    free(j);
    pthread_create(&t, NULL, runner, j);
    pthread_join(t, NULL);
    return 0;
}
