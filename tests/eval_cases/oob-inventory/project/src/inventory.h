#ifndef INVENTORY_H
#define INVENTORY_H

#define BAG_SLOTS 16

struct item {
    int id;
    int count;
};

struct bag {
    struct item slots[BAG_SLOTS];
};

void bag_init(struct bag* bag);
int bag_put(struct bag* bag, int slot, int id, int count);
int bag_total(const struct bag* bag);

#endif
