#include <pthread.h>
static pthread_mutex_t accounts = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ledger = PTHREAD_MUTEX_INITIALIZER;
static void transfer(void) { pthread_mutex_lock(&accounts); pthread_mutex_lock(&ledger); pthread_mutex_unlock(&ledger); pthread_mutex_unlock(&accounts); }
static void audit(void) { pthread_mutex_lock(&ledger); pthread_mutex_lock(&accounts); pthread_mutex_unlock(&accounts); pthread_mutex_unlock(&ledger); }
int main(void) { transfer(); audit(); return 0; }
