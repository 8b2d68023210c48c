#include <cstdio>

#include "guild.h"

int main() {
    Guild guild;
    guild.Join("Jaina", 60, true);
    guild.Join("Thrall", 70, true);
    guild.Join("Uther", 80, false);
    if (guild.AverageOnlineLevel() != 65) {
        std::printf("FAIL: average online level %d, expected 65\n", guild.AverageOnlineLevel());
        return 1;
    }
    std::printf("ok\n");
    return 0;
}
