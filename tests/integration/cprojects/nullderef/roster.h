#pragma once
#include <string>
#include <vector>

struct Player
{
    std::string name;
    int level;
};

class Roster
{
public:
    explicit Roster(const std::string& path);
    Player* Find(const std::string& name);
    int TotalLevel();

private:
    std::vector<Player> players;
    std::vector<std::string> queries;
    std::vector<int> checks;
};
