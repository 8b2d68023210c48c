/* A tiny program that crashes with a null dereference; the tests build it, run it under gdb
 * and let gdb write a core file (generate-core-file). LOGIN_HANDLER names the middle frame so
 * that two "revisions" of the program can be told apart by their stacks. */
#include <stdio.h>

#ifndef LOGIN_HANDLER
#define LOGIN_HANDLER handle_login
#endif

struct Player {
    int level;
};

static int read_level(struct Player *p) {
    return p->level; /* p is null: SIGSEGV */
}

int LOGIN_HANDLER(struct Player *p) {
    return read_level(p) + 1;
}

int main(void) {
    printf("%d\n", LOGIN_HANDLER((struct Player *)0));
    return 0;
}
