// A player: bags, auras, and the loot window of the corpse being looted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inventory.h"

namespace minirealm {

class World;

struct Aura
{
    uint32_t spellId = 0;
    uint32_t remaining = 0; // seconds
};

class Player
{
public:
    Player(uint64_t guid, std::string name);

    uint64_t GetGUID() const { return m_guid; }
    const std::string& GetName() const { return m_name; }
    Inventory& GetInventory() { return m_inventory; }
    uint64_t GetLootGUID() const { return m_lootGuid; }

    // Opens the loot window of a dead creature; on failure `error` says why.
    bool SendLoot(World& world, uint64_t creatureGuid, std::string& error);
    // Moves the item in loot slot `slot` into the bags; on failure `error` says why.
    bool StoreLootItem(World& world, uint8_t slot, std::string& error);
    void ReleaseLoot() { m_lootGuid = 0; }

    void AddAura(uint32_t spellId, uint32_t duration);
    bool HasAura(uint32_t spellId) const;
    void UpdateAuras(uint32_t diffSeconds);
    std::size_t AuraCount() const { return m_auras.size(); }

private:
    uint64_t m_guid;
    std::string m_name;
    Inventory m_inventory;
    std::vector<Aura> m_auras;
    uint64_t m_lootGuid = 0;
};

} // namespace minirealm
