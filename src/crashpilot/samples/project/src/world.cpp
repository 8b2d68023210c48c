#include "world.h"

#include <utility>

#include "player.h"

namespace minirealm {

Creature::Creature(uint64_t guid, std::string name, uint32_t lootTableId)
    : m_guid(guid), m_name(std::move(name)), m_lootTableId(lootTableId)
{
}

bool Creature::Kill(uint32_t now)
{
    if (!m_alive)
        return false;
    m_alive = false;
    m_deathTime = now;
    m_loot = std::make_unique<Loot>();
    m_loot->Fill(m_lootTableId);
    return true;
}

Loot* Creature::GetLoot()
{
    return m_loot.get();
}

World::World() = default;
World::~World() = default;

Creature* World::SpawnCreature(uint64_t guid, const std::string& name, uint32_t lootTableId)
{
    if (guid == 0 || m_creatures.count(guid))
        return nullptr;
    auto creature = std::make_unique<Creature>(guid, name, lootTableId);
    Creature* raw = creature.get();
    m_creatures.emplace(guid, std::move(creature));
    return raw;
}

Player* World::AddPlayer(uint64_t guid, const std::string& name)
{
    if (guid == 0 || m_players.count(guid))
        return nullptr;
    auto player = std::make_unique<Player>(guid, name);
    Player* raw = player.get();
    m_players.emplace(guid, std::move(player));
    return raw;
}

Creature* World::FindCreature(uint64_t guid)
{
    auto found = m_creatures.find(guid);
    return found == m_creatures.end() ? nullptr : found->second.get();
}

Player* World::FindPlayer(uint64_t guid)
{
    auto found = m_players.find(guid);
    return found == m_players.end() ? nullptr : found->second.get();
}

std::size_t World::Update(uint32_t diffSeconds)
{
    m_now += diffSeconds;

    for (auto& entry : m_players)
        entry.second->UpdateAuras(diffSeconds);

    std::size_t removed = 0;
    for (auto it = m_creatures.begin(); it != m_creatures.end();)
    {
        const Creature& creature = *it->second;
        if (!creature.IsAlive() && m_now - creature.GetDeathTime() >= kCorpseDecaySeconds)
        {
            it = m_creatures.erase(it);
            ++removed;
        }
        else
            ++it;
    }
    return removed;
}

} // namespace minirealm
