static const int damage_table[8] = {1, 2, 3, 5, 8, 13, 21, 34};

int damage_for_level(int level) { return damage_table[level]; }

int main(int argc, char **argv) { (void)argv; return damage_for_level(argc + 7); }
