#include "guild.h"

void Guild::Join(const std::string& name, int level, bool online) {
    members_.push_back(Member{name, level, online});
}

int Guild::AverageOnlineLevel() const {
    int total = 0;
    int online = 0;
    for (const Member& m : members_) {
        if (m.online) {
            total += m.level;
            ++online;
        }
    }
    return total / online;
}
