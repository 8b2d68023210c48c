#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "world.h"

// Reads commands: "add <id> <name>" or "gold <id> <amount>".
int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: realm COMMANDS\n");
        return 2;
    }
    std::ifstream in(argv[1]);
    World world;
    std::string cmd;
    while (in >> cmd) {
        if (cmd == "add") {
            int id;
            std::string name;
            in >> id >> name;
            world.AddPlayer(id, name);
        } else if (cmd == "gold") {
            int id, amount;
            in >> id >> amount;
            std::printf("player %d now has %d gold\n", id, world.GiveGold(id, amount));
        }
    }
    return 0;
}
