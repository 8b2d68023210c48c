#include <limits.h>
#include <stdio.h>

struct node { int value; struct node *next; };

static int add_score(int a, int b) { return a + b; }
static unsigned mask_for(int bits) { return 1u << bits; }
static int first_value(struct node *n) { return n->value; }

int main(int argc, char **argv)
{
    (void)argv;
    int s = add_score(INT_MAX, argc);
    unsigned m = mask_for(31 + argc);
    struct node *n = argc > 5 ? (struct node *)&s : NULL;
    printf("%d %u\n", s, m);
    return first_value(n);
}
