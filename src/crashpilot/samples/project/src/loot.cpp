#include "loot.h"

#include <algorithm>
#include <map>

namespace minirealm {

namespace {

struct LootTableEntry
{
    uint32_t itemId;
    uint32_t count;
};

// Fixed tables keep the sample deterministic (a real server rolls chances here).
const std::map<uint32_t, std::vector<LootTableEntry>>& LootTables()
{
    static const std::map<uint32_t, std::vector<LootTableEntry>> tables = {
        {1, {{2589, 2}, {4865, 1}}},            // wolf: linen cloth, ruined pelt
        {2, {{2589, 3}, {858, 1}, {4306, 5}}},  // bandit: cloth, healing potion, silk
        {3, {{12037, 1}}},                      // murloc: mystery meat
    };
    return tables;
}

} // namespace

bool Loot::Fill(uint32_t lootTableId)
{
    const auto& tables = LootTables();
    auto found = tables.find(lootTableId);
    if (found == tables.end())
        return false;

    m_items.clear();
    for (const LootTableEntry& entry : found->second)
        m_items.push_back(LootItem{entry.itemId, entry.count, false});
    return true;
}

LootItem* Loot::TakeItem(uint8_t slot)
{
    if (slot >= m_items.size() || m_items[slot].taken)
        return nullptr;
    m_items[slot].taken = true;
    return &m_items[slot];
}

bool Loot::IsLooted() const
{
    return std::all_of(m_items.begin(), m_items.end(), [](const LootItem& item) { return item.taken; });
}

} // namespace minirealm
