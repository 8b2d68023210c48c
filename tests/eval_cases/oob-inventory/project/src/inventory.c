#include "inventory.h"

#include <string.h>

void bag_init(struct bag* bag) {
    memset(bag, 0, sizeof *bag);
}

/* Puts `count` items `id` into `slot`; returns the new count in that slot. */
int bag_put(struct bag* bag, int slot, int id, int count) {
    struct item* it = &bag->slots[slot];
    it->id = id;
    it->count += count;
    return it->count;
}

int bag_total(const struct bag* bag) {
    int total = 0;
    for (int i = 0; i < BAG_SLOTS; i++)
        total += bag->slots[i].count;
    return total;
}
