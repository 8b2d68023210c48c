#include <stddef.h>
struct player { int level; struct player *target; };
static int target_level(const struct player *p) { return p->target->level; }
int main(void) { struct player p = { 10, NULL }; return target_level(&p); }
