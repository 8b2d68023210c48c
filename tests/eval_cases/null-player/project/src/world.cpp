#include "world.h"

void World::AddPlayer(int id, const std::string& name) {
    players_[id] = Player{id, name, 0};
}

Player* World::FindPlayer(int id) {
    auto it = players_.find(id);
    if (it == players_.end())
        return nullptr;
    return &it->second;
}

int World::GiveGold(int id, int amount) {
    Player* player = FindPlayer(id);
    player->gold += amount;
    return player->gold;
}
