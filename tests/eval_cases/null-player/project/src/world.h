#pragma once
#include <map>
#include <string>

struct Player {
    int id;
    std::string name;
    int gold;
};

class World {
public:
    void AddPlayer(int id, const std::string& name);
    Player* FindPlayer(int id);
    int GiveGold(int id, int amount);

private:
    std::map<int, Player> players_;
};
