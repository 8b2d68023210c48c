#include "inventory.h"

#include <algorithm>

namespace minirealm {

uint32_t Inventory::AddItem(uint32_t itemId, uint32_t count)
{
    if (itemId == 0)
        return count;

    for (ItemStack& stack : m_slots)
    {
        if (count == 0)
            break;
        if (stack.itemId != itemId || stack.Empty() || stack.count >= kMaxStack)
            continue;
        uint32_t room = kMaxStack - stack.count;
        uint32_t moved = std::min(room, count);
        stack.count += moved;
        count -= moved;
    }

    for (ItemStack& stack : m_slots)
    {
        if (count == 0)
            break;
        if (!stack.Empty())
            continue;
        uint32_t moved = std::min(kMaxStack, count);
        stack.itemId = itemId;
        stack.count = moved;
        count -= moved;
    }
    return count;
}

bool Inventory::RemoveItem(uint32_t itemId, uint32_t count)
{
    if (CountItem(itemId) < count)
        return false;

    for (auto it = m_slots.rbegin(); it != m_slots.rend() && count > 0; ++it)
    {
        if (it->itemId != itemId || it->Empty())
            continue;
        uint32_t taken = std::min(it->count, count);
        it->count -= taken;
        count -= taken;
        if (it->Empty())
            it->itemId = 0;
    }
    return true;
}

uint32_t Inventory::CountItem(uint32_t itemId) const
{
    uint32_t total = 0;
    for (const ItemStack& stack : m_slots)
        if (stack.itemId == itemId)
            total += stack.count;
    return total;
}

std::size_t Inventory::FreeSlots() const
{
    return static_cast<std::size_t>(
        std::count_if(m_slots.begin(), m_slots.end(), [](const ItemStack& s) { return s.Empty(); }));
}

} // namespace minirealm
