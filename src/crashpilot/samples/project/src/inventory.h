// Bags of a player: a fixed number of slots, items stack up to a limit.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace minirealm {

struct ItemStack
{
    uint32_t itemId = 0;
    uint32_t count = 0;

    bool Empty() const { return count == 0; }
};

class Inventory
{
public:
    static constexpr std::size_t kSlots = 16;
    static constexpr uint32_t kMaxStack = 20;

    // Stores `count` items, topping up existing stacks first; returns how many did not fit.
    uint32_t AddItem(uint32_t itemId, uint32_t count);
    // Removes `count` items (from the last stacks first); false, and nothing removed, if too few.
    bool RemoveItem(uint32_t itemId, uint32_t count);
    uint32_t CountItem(uint32_t itemId) const;
    std::size_t FreeSlots() const;

private:
    std::array<ItemStack, kSlots> m_slots{};
};

} // namespace minirealm
