#include "commands.h"

#include <cstdint>
#include <map>

#include "player.h"

namespace minirealm {

bool CommandProcessor::Execute(const std::string& line)
{
    static const std::map<std::string, Handler> handlers = {
        {"spawn", &CommandProcessor::HandleSpawn},     {"join", &CommandProcessor::HandleJoin},
        {"kill", &CommandProcessor::HandleKill},       {"loot", &CommandProcessor::HandleLoot},
        {"take", &CommandProcessor::HandleTake},       {"release", &CommandProcessor::HandleRelease},
        {"aura", &CommandProcessor::HandleAura},       {"tick", &CommandProcessor::HandleTick},
        {"bags", &CommandProcessor::HandleBags},
    };

    std::istringstream args(line);
    std::string name;
    if (!(args >> name) || name[0] == '#')
        return true; // blank line or comment

    auto found = handlers.find(name);
    if (found == handlers.end())
        return Fail("unknown command '" + name + "'");
    return (this->*(found->second))(args);
}

bool CommandProcessor::Fail(const std::string& message)
{
    m_out << "error: " << message << '\n';
    return false;
}

Player* CommandProcessor::ReadPlayer(std::istringstream& args)
{
    uint64_t guid = 0;
    if (!(args >> guid))
        return nullptr;
    return m_world.FindPlayer(guid);
}

bool CommandProcessor::HandleSpawn(std::istringstream& args)
{
    uint64_t guid = 0;
    std::string name;
    uint32_t lootTable = 0;
    if (!(args >> guid >> name >> lootTable))
        return Fail("usage: spawn <guid> <name> <loot-table>");
    if (!m_world.SpawnCreature(guid, name, lootTable))
        return Fail("creature " + std::to_string(guid) + " exists");
    m_out << "spawned " << name << " (" << guid << ")\n";
    return true;
}

bool CommandProcessor::HandleJoin(std::istringstream& args)
{
    uint64_t guid = 0;
    std::string name;
    if (!(args >> guid >> name))
        return Fail("usage: join <guid> <name>");
    if (!m_world.AddPlayer(guid, name))
        return Fail("player " + std::to_string(guid) + " exists");
    m_out << name << " joined (" << guid << ")\n";
    return true;
}

bool CommandProcessor::HandleKill(std::istringstream& args)
{
    Player* player = ReadPlayer(args);
    uint64_t target = 0;
    if (!player || !(args >> target))
        return Fail("usage: kill <player> <creature>");
    Creature* creature = m_world.FindCreature(target);
    if (!creature || !creature->Kill(m_world.Now()))
        return Fail("nothing alive to kill");
    m_out << player->GetName() << " killed " << creature->GetName() << '\n';
    return true;
}

bool CommandProcessor::HandleLoot(std::istringstream& args)
{
    Player* player = ReadPlayer(args);
    uint64_t target = 0;
    if (!player || !(args >> target))
        return Fail("usage: loot <player> <creature>");
    std::string error;
    if (!player->SendLoot(m_world, target, error))
        return Fail(error);
    m_out << player->GetName() << " opens loot:";
    m_world.FindCreature(target)->GetLoot()->ForEachRemaining([this](uint8_t slot, const LootItem& item) {
        m_out << " [" << int(slot) << "] " << item.count << "x" << item.itemId;
    });
    m_out << '\n';
    return true;
}

bool CommandProcessor::HandleTake(std::istringstream& args)
{
    Player* player = ReadPlayer(args);
    int slot = -1;
    if (!player || !(args >> slot) || slot < 0 || slot > 255)
        return Fail("usage: take <player> <slot>");
    std::string error;
    if (!player->StoreLootItem(m_world, static_cast<uint8_t>(slot), error))
        return Fail(error);
    m_out << player->GetName() << " takes slot " << slot << '\n';
    return true;
}

bool CommandProcessor::HandleRelease(std::istringstream& args)
{
    Player* player = ReadPlayer(args);
    if (!player)
        return Fail("usage: release <player>");
    player->ReleaseLoot();
    m_out << player->GetName() << " closes loot\n";
    return true;
}

bool CommandProcessor::HandleAura(std::istringstream& args)
{
    Player* player = ReadPlayer(args);
    uint32_t spell = 0;
    uint32_t seconds = 0;
    if (!player || !(args >> spell >> seconds) || seconds == 0)
        return Fail("usage: aura <player> <spell> <seconds>");
    player->AddAura(spell, seconds);
    m_out << player->GetName() << " gains aura " << spell << '\n';
    return true;
}

bool CommandProcessor::HandleTick(std::istringstream& args)
{
    uint32_t seconds = 0;
    if (!(args >> seconds))
        return Fail("usage: tick <seconds>");
    std::size_t removed = m_world.Update(seconds);
    m_out << "t=" << m_world.Now() << "s, corpses removed: " << removed << '\n';
    return true;
}

bool CommandProcessor::HandleBags(std::istringstream& args)
{
    Player* player = ReadPlayer(args);
    uint32_t item = 0;
    if (!player || !(args >> item))
        return Fail("usage: bags <player> <item>");
    m_out << player->GetName() << " has " << player->GetInventory().CountItem(item) << "x" << item << '\n';
    return true;
}

} // namespace minirealm
