#include <cstdio>
#include <fstream>
#include <string>

#include "guild.h"

// Reads lines "<name> <level> <online 0|1>" and prints the guild's average online level.
int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: guild MEMBERS\n");
        return 2;
    }
    std::ifstream in(argv[1]);
    Guild guild;
    std::string name;
    int level = 0, online = 0;
    while (in >> name >> level >> online)
        guild.Join(name, level, online != 0);
    std::printf("%zu members, average online level %d\n", guild.Size(), guild.AverageOnlineLevel());
    return 0;
}
