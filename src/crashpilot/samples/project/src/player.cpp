#include "player.h"

#include <algorithm>
#include <utility>

#include "world.h"

namespace minirealm {

Player::Player(uint64_t guid, std::string name) : m_guid(guid), m_name(std::move(name))
{
}

bool Player::SendLoot(World& world, uint64_t creatureGuid, std::string& error)
{
    Creature* creature = world.FindCreature(creatureGuid);
    if (!creature)
    {
        error = "no such creature";
        return false;
    }
    if (creature->IsAlive())
    {
        error = "creature is alive";
        return false;
    }
    m_lootGuid = creatureGuid;
    return true;
}

bool Player::StoreLootItem(World& world, uint8_t slot, std::string& error)
{
    if (m_lootGuid == 0)
    {
        error = "no loot window open";
        return false;
    }

    Creature* creature = world.FindCreature(m_lootGuid);
    Loot* loot = creature->GetLoot();

    LootItem* item = loot->TakeItem(slot);
    if (!item)
    {
        error = "loot slot is empty";
        return false;
    }

    uint32_t left = m_inventory.AddItem(item->itemId, item->count);
    if (left == item->count)
    {
        item->taken = false; // nothing fit: the item stays in the loot
        error = "bags are full";
        return false;
    }
    item->count = left;
    item->taken = left == 0;
    if (loot->IsLooted())
        ReleaseLoot();
    return true;
}

void Player::AddAura(uint32_t spellId, uint32_t duration)
{
    auto same = [spellId](const Aura& aura) { return aura.spellId == spellId; };
    auto found = std::find_if(m_auras.begin(), m_auras.end(), same);
    if (found != m_auras.end())
        found->remaining = std::max(found->remaining, duration); // refresh, never shorten
    else
        m_auras.push_back(Aura{spellId, duration});
}

bool Player::HasAura(uint32_t spellId) const
{
    return std::any_of(m_auras.begin(), m_auras.end(),
                       [spellId](const Aura& aura) { return aura.spellId == spellId; });
}

void Player::UpdateAuras(uint32_t diffSeconds)
{
    for (Aura& aura : m_auras)
        aura.remaining = aura.remaining > diffSeconds ? aura.remaining - diffSeconds : 0;
    m_auras.erase(std::remove_if(m_auras.begin(), m_auras.end(),
                                 [](const Aura& aura) { return aura.remaining == 0; }),
                  m_auras.end());
}

} // namespace minirealm
