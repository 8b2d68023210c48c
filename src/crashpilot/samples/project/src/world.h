// The world: creatures and players by GUID, and the clock that decays corpses and auras.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "loot.h"

namespace minirealm {

class Player;

class Creature
{
public:
    Creature(uint64_t guid, std::string name, uint32_t lootTableId);

    uint64_t GetGUID() const { return m_guid; }
    const std::string& GetName() const { return m_name; }
    bool IsAlive() const { return m_alive; }
    uint32_t GetDeathTime() const { return m_deathTime; }

    // Kills the creature at time `now` and fills its loot; false if it was already dead.
    bool Kill(uint32_t now);
    // The loot of a dead creature (nullptr while alive).
    Loot* GetLoot();

private:
    uint64_t m_guid;
    std::string m_name;
    uint32_t m_lootTableId;
    bool m_alive = true;
    uint32_t m_deathTime = 0;
    std::unique_ptr<Loot> m_loot;
};

class World
{
public:
    static constexpr uint32_t kCorpseDecaySeconds = 300;

    World();
    ~World();

    Creature* SpawnCreature(uint64_t guid, const std::string& name, uint32_t lootTableId);
    Player* AddPlayer(uint64_t guid, const std::string& name);
    Creature* FindCreature(uint64_t guid);
    Player* FindPlayer(uint64_t guid);

    // Advances the clock: ticks player auras and removes corpses older than kCorpseDecaySeconds.
    // Returns how many corpses were removed.
    std::size_t Update(uint32_t diffSeconds);
    uint32_t Now() const { return m_now; }
    std::size_t CreatureCount() const { return m_creatures.size(); }

private:
    uint32_t m_now = 0;
    std::map<uint64_t, std::unique_ptr<Creature>> m_creatures;
    std::map<uint64_t, std::unique_ptr<Player>> m_players;
};

} // namespace minirealm
