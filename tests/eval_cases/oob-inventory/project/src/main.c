#include <stdio.h>

#include "inventory.h"

/* Reads lines "<slot> <item id> <count>" and puts them into one bag. */
int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bags FILE\n");
        return 2;
    }
    FILE* in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    struct bag bag;
    bag_init(&bag);
    int slot, id, count;
    while (fscanf(in, "%d %d %d", &slot, &id, &count) == 3) {
        if (bag_put(&bag, slot, id, count) < 0)
            printf("slot %d refused\n", slot);
    }
    fclose(in);
    printf("%d items\n", bag_total(&bag));
    return 0;
}
