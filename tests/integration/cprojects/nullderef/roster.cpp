// A tiny "guild roster": reads "name level" lines, then looks players up by name.
// Looking up a name that is not in the roster dereferences a null pointer (the bug under test).
#include "roster.h"

#include <cassert>
#include <fstream>
#include <sstream>

Roster::Roster(const std::string& path)
{
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line))
    {
        std::istringstream fields(line);
        std::string cmd, name;
        int level = 0;
        fields >> cmd >> name >> level;
        if (cmd == "add")
            players.push_back(Player{name, level});
        else if (cmd == "find")
            queries.push_back(name);
        else if (cmd == "check")
            checks.push_back(level);
    }
}

Player* Roster::Find(const std::string& name)
{
    for (Player& p : players)
        if (p.name == name)
            return &p;
    return nullptr;
}

int Roster::TotalLevel()
{
    int total = 0;
    for (const std::string& name : queries)
    {
        Player* p = Find(name);
        total += p->level;
    }
    for (int c : checks)
        assert(c >= 0 && "negative check level");
    return total;
}
