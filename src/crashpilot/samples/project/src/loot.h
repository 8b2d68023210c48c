// What a dead creature drops: a few item stacks filled from a loot table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace minirealm {

struct LootItem
{
    uint32_t itemId = 0;
    uint32_t count = 0;
    bool taken = false;
};

class Loot
{
public:
    // Fills the loot from one of the built-in loot tables; false when the table is unknown.
    bool Fill(uint32_t lootTableId);
    // The item in `slot` marked as taken, or nullptr when the slot is empty or already taken.
    LootItem* TakeItem(uint8_t slot);
    std::size_t Size() const { return m_items.size(); }
    bool IsLooted() const;

    template <typename Fn>
    void ForEachRemaining(Fn&& fn) const
    {
        for (std::size_t slot = 0; slot < m_items.size(); ++slot)
            if (!m_items[slot].taken)
                fn(static_cast<uint8_t>(slot), m_items[slot]);
    }

private:
    std::vector<LootItem> m_items;
};

} // namespace minirealm
